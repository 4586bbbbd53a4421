/**
 * `mnext bench train|infer`: timm benchmark.py-style throughput of one model on the current tfjs backend —
 * warm-up steps, then timed steps, with peak RSS and the tensors alive before and after the timed loop (equal
 * when nothing leaks). Training steps are the real engine's: computeGradients + optimiser + BN running stats.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, currentBackend, initBackend, setThreads } from '../backend/index.js';
import { InferenceModel, TfjsModel } from '../models/executor.js';
import type { ModelGraph } from '../models/graph.js';
import { createModelGraph } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { createOptimizer } from '../train/optim.js';
import { computeGradients, disposeGradientResult } from '../train/step.js';

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
  readonly onArrangement?: (best: { replicas: number; threads: number }, probed: readonly { replicas: number; threads: number; msPerStep: number }[]) => void;
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
  readonly probed?: readonly { replicas: number; threads: number; msPerStep: number }[];
}

/** One benchmarked step; `run` must leave no tensors behind. */
interface BenchStep {
  run(step: number): void;
  dispose(): void;
}

const SEED = 42;

function randomBatch(graph: ModelGraph, batch: number, size: number): { images: tf.Tensor4D; targets: tf.Tensor2D } {
  return tf.tidy(() => {
    const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', SEED) as tf.Tensor4D;
    const labels = tf.randomUniform([batch], 0, graph.spec.numClasses, 'int32', SEED + 1) as tf.Tensor1D;
    return { images, targets: tf.cast(tf.oneHot(labels, graph.spec.numClasses), 'float32') as tf.Tensor2D };
  });
}

function trainStep(graph: ModelGraph, options: ModelBenchOptions): BenchStep {
  const model = new TfjsModel(graph, initStateDict(graph, SEED));
  const optimizer = createOptimizer(model, { opt: 'momentum', momentum: 0.9, weightDecay: 4e-5, eps: 1e-8 });
  const { images, targets } = randomBatch(graph, options.batch, options.inputSize);
  return {
    run(step) {
      const result = computeGradients(model, images, targets, { smoothing: 0.1, seed: SEED + step });
      optimizer.apply(result.grads, 0.05);
      model.updateRunningStats(result.batchStats);
      disposeGradientResult(result);
    },
    dispose() {
      tf.dispose([images, targets]);
      optimizer.dispose();
      model.dispose();
    },
  };
}

function inferStep(graph: ModelGraph, options: ModelBenchOptions): BenchStep {
  const model = new InferenceModel(graph, initStateDict(graph, SEED));
  const { images, targets } = randomBatch(graph, options.batch, options.inputSize);
  targets.dispose();
  return {
    run() {
      const logits = model.predict(images);
      logits.dataSync();
      logits.dispose();
    },
    dispose() {
      images.dispose();
      model.dispose();
    },
  };
}

export function peakRssMb(): number {
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

/** Runs warm-up then timed steps in this process (one engine; `workers` > 1 goes through the parallel trainer). */
export async function benchModel(options: ModelBenchOptions): Promise<ModelBenchResult> {
  setThreads(options.threads);
  await initBackend(options.backend);
  const graph = createModelGraph(options.model, { width: options.width, numClasses: options.numClasses, inputSize: options.inputSize });
  const step = options.mode === 'train' ? trainStep(graph, options) : inferStep(graph, options);
  const total = options.warmup + options.steps;
  let rssAtReference: number | undefined;
  const afterStep = (done: number): void => {
    if (done === RSS_REFERENCE_STEP) rssAtReference = rssMb();
    options.onStep?.(done, total);
  };
  try {
    for (let i = 0; i < options.warmup; i++) {
      step.run(i);
      afterStep(i + 1);
    }
    const tensorsBefore = tf.memory().numTensors;
    const start = performance.now();
    for (let i = 0; i < options.steps; i++) {
      step.run(options.warmup + i);
      afterStep(options.warmup + i + 1);
    }
    const elapsed = performance.now() - start;
    const tensorsAfter = tf.memory().numTensors;
    const msPerStep = elapsed / options.steps;
    return {
      mode: options.mode, model: options.model, width: options.width, inputSize: options.inputSize, batch: options.batch,
      backend: currentBackend(), workers: 1, threads: backendThreads(), imgPerSec: (options.batch * 1000) / msPerStep, msPerStep, peakRssMb: peakRssMb(),
      tensorsBefore, tensorsAfter, tensorsLeaked: tensorsAfter - tensorsBefore, ...rssGrowth(rssAtReference),
    };
  } finally {
    step.dispose();
  }
}
