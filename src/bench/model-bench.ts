/**
 * `mnext bench train|infer`: timm benchmark.py-style throughput of one model on the current tfjs backend —
 * warm-up steps, then timed steps, with peak RSS and the tensors alive before and after the timed loop (equal
 * when nothing leaks). Training steps are the real engine's: computeGradients + optimiser + BN running stats.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, computeThreads, currentBackend, initBackend, setThreads, useComputeThreads } from '../backend/index.js';
import { InferenceModel } from '../models/executor.js';
import type { ModelGraph } from '../models/graph.js';
import { createModelGraph } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { UsageError } from '../errors.js';
import { type Arrangement, type ArrangedSteps, type PickedArrangement, type ProbedArrangement, type TrainingWorkload, PROBE_LIMITS, fastestArrangement, fastestOf, randomTrainingBatch, startArrangedSteps, timeSteps } from '../train/arrangement.js';
import { timeAlternating } from '../util/alternating.js';

export type BenchMode = 'train' | 'infer';

export interface ModelBenchOptions {
  readonly mode: BenchMode;
  readonly model: string;
  readonly width: number;
  readonly inputSize: number;
  readonly batch: number;
  readonly backend?: string;
  /** Data-parallel replicas; with neither this nor `threads` the bench picks the fastest arrangement. */
  readonly workers?: number;
  /** Intra-op threads of each engine (default: the machine's cores for one engine). */
  readonly threads?: number;
  readonly steps: number;
  readonly warmup: number;
  readonly numClasses: number;
  /** Called once the arrangement is picked, with the probes' times (when it was picked). */
  readonly onArrangement?: (best: Arrangement, probed: readonly ProbedArrangement[]) => void;
  /** Called after every warm-up and timed step (progress bars). */
  readonly onStep?: (done: number, total: number) => void;
}

export interface ModelBenchResult {
  readonly mode: BenchMode;
  readonly model: string;
  readonly width: number;
  readonly inputSize: number;
  readonly batch: number;
  readonly backend: string;
  readonly workers: number;
  /** Intra-op threads of each engine (for inference: those its convs ran on, which the probe may lower). */
  readonly threads: number;
  readonly imgPerSec: number;
  readonly msPerStep: number;
  readonly peakRssMb: number;
  readonly tensorsBefore: number;
  readonly tensorsAfter: number;
  readonly tensorsLeaked: number;
  /**
   * Resident set size after the 50th step (warm-up included) and after the last, and the growth between them
   * in percent: the memory check of a long run (`--steps 500`). Absent when fewer than 50 steps ran.
   */
  readonly rssAtStep50Mb?: number;
  readonly rssFinalMb?: number;
  readonly rssGrowthPct?: number;
  /** How the arrangement (workers × threads) was chosen, and the probes' times, when it was picked. */
  readonly arrangement?: string;
  readonly probed?: readonly ProbedArrangement[];
}

const SEED = 42;

/**
 * One inference per step on a random batch (the ArrangedSteps shape, so training and inference share the
 * timing), on the threads the engine's convs run on now (computeThreads).
 */
function inferSteps(graph: ModelGraph, batch: number): ArrangedSteps {
  const model = new InferenceModel(graph, initStateDict(graph, SEED));
  const size = graph.spec.inputSize;
  const images = tf.tensor4d(randomTrainingBatch(batch, size, graph.spec.numClasses, SEED).images, [batch, size, size, 3]);
  return {
    replicas: 1,
    threads: computeThreads(),
    step: async () => {
      const logits = model.predict(images);
      logits.dataSync();
      logits.dispose();
      return tf.memory().numTensors;
    },
    close: async () => {
      images.dispose();
      model.dispose();
    },
  };
}

/** The bench's training workload: SGD momentum 0.9, weight decay 4e-5, label smoothing 0.1. */
function benchWorkload(graph: ModelGraph, batch: number, backend: string): TrainingWorkload {
  return { graph, batch, backend, optimizer: { opt: 'momentum', momentum: 0.9, weightDecay: 4e-5, eps: 1e-8 }, smoothing: 0.1 };
}

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

const RSS_REFERENCE_STEP = 50;

function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/** RSS at the reference step vs now, when the run got that far. */
function rssGrowth(atReference: number | undefined): Pick<ModelBenchResult, 'rssAtStep50Mb' | 'rssFinalMb' | 'rssGrowthPct'> {
  if (atReference === undefined) return {};
  const final = rssMb();
  return { rssAtStep50Mb: Math.round(atReference), rssFinalMb: Math.round(final), rssGrowthPct: Number((100 * (final / atReference - 1)).toFixed(2)) };
}

/**
 * Runs warm-up then timed steps: inference or training in the main thread's engine, or training on `workers`
 * data-parallel replicas.
 */
export async function benchModel(options: ModelBenchOptions): Promise<ModelBenchResult> {
  setThreads(options.threads);
  await initBackend(options.backend);
  const graph = createModelGraph(options.model, { width: options.width, numClasses: options.numClasses, inputSize: options.inputSize });
  const steps = options.mode === 'train'
    ? await startArrangedSteps(benchWorkload(graph, options.batch, currentBackend()), options.workers ?? 1, options.threads)
    : inferSteps(graph, options.batch);
  let rssAtReference: number | undefined;
  const afterStep = (done: number, total: number): void => {
    if (done === RSS_REFERENCE_STEP) rssAtReference = rssMb();
    options.onStep?.(done, total);
  };
  try {
    const { msPerStep, tensorsBefore, tensorsAfter } = await timeSteps(steps, options.warmup, options.steps, afterStep);
    return {
      mode: options.mode, model: options.model, width: options.width, inputSize: options.inputSize, batch: options.batch,
      backend: currentBackend(), workers: steps.replicas, threads: steps.threads, imgPerSec: (options.batch * 1000) / msPerStep, msPerStep, peakRssMb: peakRssMb(),
      tensorsBefore, tensorsAfter, tensorsLeaked: tensorsAfter - tensorsBefore, ...rssGrowth(rssAtReference),
    };
  } finally {
    await steps.close();
  }
}

/**
 * The faster thread count for inference in this engine, left in place: the convs on every thread the engine
 * started with, or on one (on a busy machine one can win: a call's threads wait for the slowest, which waits
 * for a core), timed in alternating turns on one model (the training probe's PROBE_LIMITS) and ranked by
 * median. One candidate off the wasm engine or when it started on one thread.
 */
async function fastestInferenceThreads(graph: ModelGraph, batch: number): Promise<PickedArrangement> {
  const started = backendThreads();
  if (currentBackend() !== 'wasm' || started === 1) return { replicas: 1, threads: computeThreads(), probed: [] };
  const counts = [started, 1];
  const steps = inferSteps(graph, batch);
  try {
    const timings = await timeAlternating(counts.map((threads) => ({ enter: () => useComputeThreads(threads), step: steps.step })), PROBE_LIMITS);
    const probed = counts.map((threads, i) => ({ replicas: 1, threads, ...timings[i] }));
    const best = fastestOf(probed);
    useComputeThreads(best.threads);
    return { ...best, probed };
  } finally {
    await steps.close();
  }
}

/**
 * `mnext bench train|infer`: one engine on the main thread, or data-parallel replicas for training. With neither
 * `workers` (replicas) nor `threads` given, the bench first picks the fastest arrangement: for training among
 * one engine and replicas (train/arrangement.ts), for inference among thread counts.
 */
export async function benchmarkModel(options: ModelBenchOptions): Promise<ModelBenchResult> {
  if (options.mode === 'infer' && (options.workers ?? 1) !== 1) throw new UsageError('--replicas: inference benchmarks run in one engine; drop --replicas');
  if (options.workers !== undefined || options.threads !== undefined) return benchModel(options);
  // One engine on every core is a candidate: the main engine starts on the default (all cores) before the probe.
  setThreads(undefined);
  await initBackend(options.backend);
  const graph = createModelGraph(options.model, { width: options.width, numClasses: options.numClasses, inputSize: options.inputSize });
  const { probed, ...best } = options.mode === 'train'
    ? await fastestArrangement(benchWorkload(graph, options.batch, currentBackend()))
    : await fastestInferenceThreads(graph, options.batch);
  options.onArrangement?.(best, probed);
  // Inference runs on the pool the probe left; training's engines start as picked.
  const result = await benchModel(options.mode === 'train' ? { ...options, workers: best.replicas, threads: best.threads } : options);
  return { ...result, arrangement: 'fastest of probed', probed };
}
