/** `mnext bench train --workers N`: the model-bench workload through the data-parallel trainer. */

import { defaultThreads } from '../backend/index.js';
import { UsageError } from '../errors.js';
import { type ModelBenchOptions, type ModelBenchResult, benchModel, peakRssMb } from './model-bench.js';
import { createModelGraph } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { Rng } from '../util/random.js';
import { ParallelTrainer } from '../train/parallel/trainer.js';

const SEED = 42;

/** Random normal images and one-hot targets for one batch, from the project's seedable generator. */
export function randomTrainingBatch(batch: number, size: number, classes: number, seed: number): { images: Float32Array; targets: Float32Array } {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: batch * size * size * 3 }, () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
  const targets = new Float32Array(batch * classes);
  for (let i = 0; i < batch; i++) targets[i * classes + rng.int(0, classes - 1)] = 1;
  return { images, targets };
}

export async function benchParallelTraining(options: ModelBenchOptions): Promise<ModelBenchResult> {
  if (options.mode !== 'train') throw new Error('parallel benchmarking is for training');
  const graph = createModelGraph(options.model, { width: options.width, numClasses: options.numClasses, inputSize: options.inputSize });
  const trainer = await ParallelTrainer.start({
    workers: options.workers ?? 1, backend: options.backend, threads: options.threads, graph, weights: initStateDict(graph, SEED),
    optimizer: { opt: 'momentum', momentum: 0.9, weightDecay: 4e-5, eps: 1e-8 }, smoothing: 0.1,
  });
  try {
    const { images, targets } = randomTrainingBatch(options.batch, options.inputSize, options.numClasses, SEED);
    const shape = [options.batch, options.inputSize, options.inputSize, 3] as const;
    const total = options.warmup + options.steps;
    let tensorsBefore = 0;
    let tensorsAfter = 0;
    let start = performance.now();
    for (let i = 0; i < total; i++) {
      if (i === options.warmup) start = performance.now();
      const result = await trainer.step(images, shape, targets, 0.05, SEED + i);
      const alive = result.numTensors.reduce((a, b) => a + b, 0);
      if (i === options.warmup - 1 || (options.warmup === 0 && i === 0)) tensorsBefore = alive;
      tensorsAfter = alive;
      options.onStep?.(i + 1, total);
    }
    const msPerStep = (performance.now() - start) / (options.warmup === 0 ? total : options.steps);
    return {
      mode: 'train', model: options.model, width: options.width, inputSize: options.inputSize, batch: options.batch,
      backend: trainer.backend, workers: trainer.workers, threads: trainer.threads, imgPerSec: (options.batch * 1000) / msPerStep, msPerStep,
      peakRssMb: peakRssMb(), tensorsBefore, tensorsAfter, tensorsLeaked: tensorsAfter - tensorsBefore,
    };
  } finally {
    await trainer.close();
  }
}


/** An arrangement of the machine's cores: data-parallel replicas, each an engine on `threads` threads. */
export interface Arrangement {
  readonly replicas: number;
  readonly threads: number;
}

/** Probe steps per arrangement (after one warm-up): enough to rank arrangements that differ by 10 % or more. */
const PROBE_STEPS = 3;

/**
 * The fastest arrangement for this training workload: one engine on every core, or one single-threaded
 * replica per core, each timed for a few steps (threads win at small batches, where a replica's shard is too
 * small to keep its core busy; replicas can win at large batches, where the exchange is cheap next to a step).
 * Returns the candidates' times too, for the report.
 */
export async function fastestArrangement(options: ModelBenchOptions): Promise<{ best: Arrangement; probed: (Arrangement & { msPerStep: number })[] }> {
  const cores = defaultThreads();
  const candidates: Arrangement[] = cores > 1 && options.batch >= cores
    ? [{ replicas: 1, threads: cores }, { replicas: cores, threads: 1 }]
    : [{ replicas: 1, threads: cores }];
  if (candidates.length === 1) return { best: candidates[0], probed: [] };
  const probed: (Arrangement & { msPerStep: number })[] = [];
  for (const arrangement of candidates) {
    const probe = { ...options, workers: arrangement.replicas, threads: arrangement.threads, warmup: 1, steps: PROBE_STEPS, onStep: undefined };
    const result = arrangement.replicas > 1 ? await benchParallelTraining(probe) : await benchModel(probe);
    probed.push({ ...arrangement, msPerStep: result.msPerStep });
  }
  const best = probed.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
  return { best: { replicas: best.replicas, threads: best.threads }, probed };
}

/**
 * `mnext bench train|infer`: one engine on the main thread, or data-parallel replicas for training. Training
 * with neither `workers` (replicas) nor `threads` given first picks the fastest arrangement (`fastestArrangement`).
 */
export async function benchmarkModel(options: ModelBenchOptions): Promise<ModelBenchResult> {
  if (options.mode === 'infer' && (options.workers ?? 1) !== 1) throw new UsageError('--replicas: inference benchmarks run in one engine; drop --replicas');
  if (options.mode === 'train' && options.workers === undefined && options.threads === undefined) {
    const { best, probed } = await fastestArrangement(options);
    options.onArrangement?.(best, probed);
    const result = await benchmarkModel({ ...options, workers: best.replicas, threads: best.threads });
    return { ...result, arrangement: 'fastest of probed', probed };
  }
  return (options.workers ?? 1) > 1 ? benchParallelTraining(options) : benchModel(options);
}
