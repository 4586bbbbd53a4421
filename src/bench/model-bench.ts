/**
 * `mnext bench train|infer`: timm benchmark.py-style throughput of one model on the current tfjs backend —
 * warm-up steps, then timed steps, with peak RSS and the tensors alive before and after the timed loop (equal
 * when nothing leaks). Training steps are the real engine's: computeGradients + optimiser + BN running stats.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, currentBackend, initBackend, setThreads } from '../backend/index.js';
import { InferenceModel } from '../models/executor.js';
import type { ModelGraph } from '../models/graph.js';
import { createModelGraph } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { UsageError } from '../errors.js';
import { type Arrangement, type ArrangedSteps, type ProbedArrangement, type TrainingWorkload, fastestArrangement, randomTrainingBatch, startArrangedSteps, timeSteps } from '../train/arrangement.js';

export type BenchMode = 'train' | 'infer';

export interface ModelBenchOptions {
  readonly mode: BenchMode;
  readonly model: string;
  readonly width: number;
  readonly inputSize: number;
  readonly batch: number;
  readonly backend?: string;
  /** Data-parallel replicas; training with neither this nor `threads` picks the fastest arrangement. */
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
  /** Intra-op threads of each engine. */
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

/** One inference per step on a random batch (the ArrangedSteps shape, so training and inference share the timing). */
function inferSteps(graph: ModelGraph, batch: number): ArrangedSteps {
  const model = new InferenceModel(graph, initStateDict(graph, SEED));
  const size = graph.spec.inputSize;
  const images = tf.tensor4d(randomTrainingBatch(batch, size, graph.spec.numClasses, SEED).images, [batch, size, size, 3]);
  return {
    replicas: 1,
    threads: backendThreads(),
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
 * `mnext bench train|infer`: one engine on the main thread, or data-parallel replicas for training. Training
 * with neither `workers` (replicas) nor `threads` given first picks the fastest arrangement (train/arrangement.ts).
 */
export async function benchmarkModel(options: ModelBenchOptions): Promise<ModelBenchResult> {
  if (options.mode === 'infer' && (options.workers ?? 1) !== 1) throw new UsageError('--replicas: inference benchmarks run in one engine; drop --replicas');
  if (options.mode === 'train' && options.workers === undefined && options.threads === undefined) {
    // One engine on every core is a candidate: the main engine starts on the default (all cores) before the probe.
    setThreads(undefined);
    await initBackend(options.backend);
    const graph = createModelGraph(options.model, { width: options.width, numClasses: options.numClasses, inputSize: options.inputSize });
    const { probed, ...best } = await fastestArrangement(benchWorkload(graph, options.batch, currentBackend()));
    options.onArrangement?.(best, probed);
    const result = await benchModel({ ...options, workers: best.replicas, threads: best.threads });
    return { ...result, arrangement: 'fastest of probed', probed };
  }
  return benchModel(options);
}
