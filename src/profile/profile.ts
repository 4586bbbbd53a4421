import { ensureBackend, setThreads } from '../backend/index.js';
import { UsageError } from '../errors.js';
import type { StateDict } from '../models/state-dict.js';
import type { ModelGraph } from '../models/graph.js';
import { PAPER_WIDTHS, buildGraph, resolveModelSpec } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { type BlockStats, countModel } from '../models/count.js';
import { type Model, modelSourceOf } from '../runtimes/model.js';
import { measureTfjsLatency } from './latency.js';
import { LATENCY_RUNTIMES, type LatencyRuntime, type RuntimeLatency, measureRuntimeLatency } from './runtimes.js';

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
  /** Intra-op threads: onnxruntime's and the tfjs wasm backend's (when it starts with this call). */
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

/** profile()'s options: ProfileRequest's fields, each with the paper table's default. */
export interface ProfileOptions extends Partial<Omit<ProfileRequest, 'runtimes'>> {
  /** Also time the converted model in these runtimes: tfjs, onnx, tflite. */
  readonly runtimes?: readonly string[];
  /** One row for this model (path, name or loaded Model) at its own input size, instead of the table. */
  readonly model?: string | Model;
  /** With `model`: a checkpoint's EMA weights. */
  readonly useEma?: boolean;
  readonly backend?: string;
  /** Called as each row of the table is done (progress). */
  readonly onRow?: (row: ProfileRow) => void;
}

function checkRuntimes(names: readonly string[]): LatencyRuntime[] {
  const unknown = names.filter((n) => !LATENCY_RUNTIMES.includes(n as LatencyRuntime));
  if (unknown.length) throw new UsageError(`--runtime: expected a list of ${LATENCY_RUNTIMES.join(', ')}, got '${unknown.join(',')}'`);
  return names as LatencyRuntime[];
}

/** The request with the paper table's defaults: both families at the five widths, 224 px, 1000 classes, batch 1. */
function requestOf(options: ProfileOptions): ProfileRequest {
  return {
    models: options.models ?? ['mobilenext', 'mobilenetv2'], widths: options.widths ?? [...PAPER_WIDTHS], tensorMultipliers: options.tensorMultipliers ?? [1],
    inputSize: options.inputSize ?? 224, numClasses: options.numClasses ?? 1000, batch: options.batch ?? 1, runs: options.runs ?? 20,
    warmup: options.warmup ?? 5, latency: options.latency ?? true, runtimes: checkRuntimes(options.runtimes ?? []), threads: options.threads, seed: options.seed,
  };
}

/** One model's row with its own weights, at its own input size unless `inputSize` says otherwise. */
async function profileOne(model: string | Model, options: ProfileOptions, request: ProfileRequest, backend: string): Promise<ProfileRow> {
  if ((options.widths?.length ?? 0) > 1 || (options.tensorMultipliers?.length ?? 0) > 1) {
    throw new UsageError('--model profiles one model: give at most one --width and one --tensor-multiplier');
  }
  const source = await modelSourceOf(model, {
    useEma: options.useEma, width: options.widths?.[0], numClasses: options.numClasses, tensorMultiplier: options.tensorMultipliers?.[0], inputSize: options.inputSize,
  }, 'profile');
  return profileGraph(buildGraph(source.spec), source.weights, { ...request, inputSize: source.spec.inputSize }, backend);
}

/**
 * `mnext profile`: params, MAdds and latency of the paper's width table (or of one model), on the tfjs
 * backend and, with `runtimes`, of the converted file in each runtime.
 */
export async function profile(options: ProfileOptions = {}): Promise<ProfileRow[]> {
  const request = requestOf(options);
  setThreads(options.threads);
  const backend = await ensureBackend(options.backend);
  if (options.model !== undefined) return [await profileOne(options.model, options, request, backend)];
  return profileModels(request, backend, options.onRow);
}
