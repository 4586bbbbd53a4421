import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { TfjsModel } from '../../../src/models/executor.js';
import { createModelGraph } from '../../../src/models/registry.js';
import { initStateDict } from '../../../src/models/weights.js';
import { createOptimizer } from '../../../src/train/optim.js';
import { randomTrainingBatch } from '../../../src/train/parallel/bench.js';
import { ParallelTrainer, shardRows, shardSeed } from '../../../src/train/parallel/trainer.js';
import { computeGradients, disposeGradientResult } from '../../../src/train/step.js';

const OPTIMIZER = { opt: 'momentum', momentum: 0.9, weightDecay: 4e-5, eps: 1e-8 } as const;
const SIZE = 32;
const BATCH = 5;
const STEPS = 3;

/** The same DDP step in one engine: per-shard gradients, weighted average, one optimiser. */
function referenceLosses(images: Float32Array, targets: Float32Array, classes: number, workers: number): number[] {
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: classes, inputSize: SIZE });
  const model = new TfjsModel(graph, initStateDict(graph, 3));
  const optimizer = createOptimizer(model, OPTIMIZER);
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    let loss = 0;
    const sums = new Map<string, tf.Tensor>();
    shardRows(BATCH, workers).forEach(([start, end], rank) => {
      const weight = (end - start) / BATCH;
      const x = tf.tensor4d(images.slice(start * SIZE * SIZE * 3, end * SIZE * SIZE * 3), [end - start, SIZE, SIZE, 3]);
      const y = tf.tensor2d(targets.slice(start * classes, end * classes), [end - start, classes]);
      const result = computeGradients(model, x, y, { smoothing: 0.1, seed: shardSeed(step, rank, workers) });
      loss += weight * result.loss;
      for (const [name, g] of result.grads) {
        const previous = sums.get(name);
        sums.set(name, tf.tidy(() => (previous ? tf.add(previous, tf.mul(g, weight)) : tf.mul(g, weight))));
        previous?.dispose();
      }
      disposeGradientResult(result);
      tf.dispose([x, y]);
    });
    optimizer.apply(sums, 0.1);
    tf.dispose([...sums.values()]);
    losses.push(loss);
  }
  optimizer.dispose();
  model.dispose();
  return losses;
}

test('two data-parallel wasm workers give the losses of the same DDP step run in one engine', async () => {
  const classes = 10;
  const backend = await initBackend('wasm');
  const { images, targets } = randomTrainingBatch(BATCH, SIZE, classes, 9);
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: classes, inputSize: SIZE });
  const trainer = await ParallelTrainer.start({ workers: 2, backend, graph, weights: initStateDict(graph, 3), optimizer: OPTIMIZER, smoothing: 0.1 });
  const parallel: number[] = [];
  const alive: number[][] = [];
  try {
    for (let step = 0; step < STEPS; step++) {
      const result = await trainer.step(images, [BATCH, SIZE, SIZE, 3], targets, 0.1, step);
      parallel.push(result.loss);
      alive.push(result.numTensors);
    }
  } finally {
    await trainer.close();
  }
  const reference = referenceLosses(images, targets, classes, 2);
  parallel.forEach((loss, i) => assert.ok(Math.abs(loss - reference[i]) <= 1e-4 * Math.abs(reference[i]), `step ${i}: ${loss} vs ${reference[i]}`));
  assert.ok(reference[STEPS - 1] < reference[0], 'the steps train (loss falls on a repeated batch)');
  assert.deepEqual(alive[1], alive[2], 'replica tensor counts stay flat');
});
