import type { StateDict } from '../models/state-dict.js';
import type { ModelGraph } from '../models/graph.js';
import { buildGraph, resolveModelSpec } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { type BlockStats, countModel } from '../models/count.js';
import { measureTfjsLatency } from './latency.js';
import { type LatencyRuntime, type RuntimeLatency, measureRuntimeLatency } from './runtimes.js';

/**
 * Published params (M) and MAdds (M) from the MobileNeXt paper's width table; spec/mobilenext.md §2 shows
 * where the official code disagrees with them, and the profile table flags those rows.
 */
export const PAPER_NUMBERS: Record<string, Record<number, { params: number; madds: number }>> = {
  mobilenext: {
    1.4: { params: 6.1, madds: 590 },
    1.0: { params: 3.5, madds: 300 },
    0.75: { params: 2.5, madds: 210 },
    0.5: { params: 2.1, madds: 110 },
    0.35: { params: 1.8, madds: 80 },
  },
};

export interface ProfileRequest {
  readonly models: readonly string[];
  readonly widths: readonly number[];
  readonly tensorMultipliers: readonly number[];
  readonly inputSize: number;
  readonly numClasses: number;
  readonly batch: number;
  readonly runs: number;
  readonly warmup: number;
  readonly latency: boolean;
  /** Deployment runtimes to time besides the tfjs executor (profile --runtime). */
  readonly runtimes?: readonly LatencyRuntime[];
  /** onnxruntime intra-op threads. */
  readonly threads?: number;
  readonly seed?: number;
}

export interface ProfileRow {
  readonly model: string;
  readonly width: number;
  readonly tensorMultiplier: number;
  readonly inputSize: number;
  readonly numClasses: number;
  readonly params: number;
  readonly madds: number;
  /** BN / activation / pool / add / mul element ops, not part of `madds`. */
  readonly elementOps: number;
  readonly latencyMs: number | null;
  readonly latencyP90Ms: number | null;
  readonly backend: string;
  /** Published numbers (M) when the paper has this row (ImageNet setting only). */
  readonly paper: { params: number; madds: number } | null;
  readonly blocks: readonly BlockStats[];
  /** Latency of the converted model per runtime (profile --runtime). */
  readonly runtimes: readonly RuntimeLatency[];
}

export function paperNumbers(arch: string, width: number, inputSize: number, numClasses: number): ProfileRow['paper'] {
  if (inputSize !== 224 || numClasses !== 1000) return null;
  return PAPER_NUMBERS[arch]?.[width] ?? null;
}

/** Rows differ from the paper by more than 5% in params or MAdds. */
export function differsFromPaper(row: ProfileRow): boolean {
  if (!row.paper) return false;
  const off = (ours: number, paper: number) => Math.abs(ours / 1e6 - paper) / paper > 0.05;
  return off(row.params, row.paper.params) || off(row.madds, row.paper.madds);
}

const isWidthFamily = (name: string): boolean => !/_(\d{3})$/.test(name) && ['mobilenext', 'mobilenetv2'].includes(resolveModelSpec(name).arch);

/**
 * Every (width, model, tensor multiplier) combination, width-major so each width's models sit side by side;
 * named widths (`mobilenext_075`) and fixed-width models (mnext_s) appear once, after the width rows.
 */
export function expandRequest(request: ProfileRequest): ModelGraph[] {
  const build = (name: string, width?: number) => request.tensorMultipliers.map((tensorMultiplier) =>
    buildGraph(resolveModelSpec(name, { width, tensorMultiplier, inputSize: request.inputSize, numClasses: request.numClasses })));
  const families = request.models.filter(isWidthFamily);
  const fixed = request.models.filter((name) => !isWidthFamily(name));
  return [
    ...request.widths.flatMap((width) => families.flatMap((name) => build(name, width))),
    ...fixed.flatMap((name) => build(name)),
  ];
}

/** Counts and latencies of one model (given weights: latency does not depend on their values, numerics do). */
export async function profileGraph(graph: ModelGraph, weights: StateDict, request: ProfileRequest, backend: string): Promise<ProfileRow> {
  const { spec } = graph;
  const stats = countModel(graph);
  const latency = request.latency ? await measureTfjsLatency(graph, weights, request) : undefined;
  const runtimes: RuntimeLatency[] = [];
  for (const runtime of request.runtimes ?? []) runtimes.push(await measureRuntimeLatency(runtime, graph, weights, request));
  return {
    model: spec.arch,
    width: spec.width,
    tensorMultiplier: spec.tensorMultiplier,
    inputSize: spec.inputSize,
    numClasses: spec.numClasses,
    params: stats.params,
    madds: stats.madds,
    elementOps: stats.elementOps,
    latencyMs: latency?.medianMs ?? null,
    latencyP90Ms: latency?.p90Ms ?? null,
    backend,
    paper: paperNumbers(spec.arch, spec.width, spec.inputSize, spec.numClasses),
    blocks: stats.blocks,
    runtimes,
  };
}

/** The requested table: every (width, model, tensor multiplier) with fresh seeded weights. */
export async function profileModels(request: ProfileRequest, backend: string, onRow?: (row: ProfileRow) => void): Promise<ProfileRow[]> {
  const rows: ProfileRow[] = [];
  for (const graph of expandRequest(request)) {
    const row = await profileGraph(graph, initStateDict(graph, request.seed ?? 0), request, backend);
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}
