/** `mnext bench train --workers N`: the model-bench workload through the data-parallel trainer. */

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
    workers: options.workers, backend: options.backend, threads: options.threads, graph, weights: initStateDict(graph, SEED),
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


/** `mnext bench train|infer`: one engine on the main thread, or `workers` data-parallel replicas for training. */
export function benchmarkModel(options: ModelBenchOptions): Promise<ModelBenchResult> {
  if (options.mode === 'infer' && options.workers !== 1) throw new UsageError('--replicas: inference benchmarks run in one engine; drop --replicas');
  return options.workers > 1 ? benchParallelTraining(options) : benchModel(options);
}
