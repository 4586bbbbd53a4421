import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { TfjsModel } from '../../../src/models/executor.js';
import { createModelGraph } from '../../../src/models/registry.js';
import { initStateDict } from '../../../src/models/weights.js';
import { createOptimizer } from '../../../src/train/optim.js';
import { randomTrainingBatch } from '../../../src/train/arrangement.js';
import { ownedRange, partitionParams, totalFloats } from '../../../src/train/parallel/shared.js';
import { ParallelTrainer, shardRows, shardSeed } from '../../../src/train/parallel/trainer.js';
import type { StateDict } from '../../../src/models/state-dict.js';
import { computeGradients, disposeGradientResult } from '../../../src/train/step.js';

const OPTIMIZER = { opt: 'momentum', momentum: 0.9, weightDecay: 4e-5, eps: 1e-8 } as const;
/**
 * 64x64 leaves the last BNs 2x2 maps, so a shard of 2–3 images normalises over 8–12 values: at 32x32 (1x1 maps,
 * 2–3 values) gradient norms reach 1e5 and the losses leave float range within three steps on any engine.
 */
const SIZE = 64;
const BATCH = 5;
const STEPS = 3;
const LR = 0.01;

/** The same DDP step in one engine: per-shard gradients, weighted average, one optimiser. */
function referenceRun(images: Float32Array, targets: Float32Array, classes: number, workers: number): { losses: number[]; optimizerState: StateDict } {
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
    optimizer.apply(sums, LR);
    tf.dispose([...sums.values()]);
    losses.push(loss);
  }
  const optimizerState = optimizer.stateDict();
  optimizer.dispose();
  model.dispose();
  return { losses, optimizerState };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

test('two data-parallel wasm workers give the losses of the same DDP step run in one engine', async () => {
  const classes = 10;
  const backend = await initBackend('wasm');
  const { images, targets } = randomTrainingBatch(BATCH, SIZE, classes, 9);
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: classes, inputSize: SIZE });
  const trainer = await ParallelTrainer.start({ workers: 2, backend, graph, weights: initStateDict(graph, 3), optimizer: OPTIMIZER, smoothing: 0.1 });
  const parallel: number[] = [];
  const alive: number[][] = [];
  let replicas: StateDict[] = [];
  let gathered: StateDict = new Map();
  let copied: StateDict = new Map();
  try {
    for (let step = 0; step < STEPS; step++) {
      const result = await trainer.step(images, [BATCH, SIZE, SIZE, 3], targets, LR, step);
      parallel.push(result.loss);
      alive.push(result.numTensors);
    }
    replicas = [await trainer.stateDict(0), await trainer.stateDict(1)];
    gathered = await trainer.optimizerStateDict();
    const copy = new TfjsModel(graph, initStateDict(graph, 0));
    trainer.copyRank0Into(copy);
    copied = copy.stateDict();
    copy.dispose();
  } finally {
    await trainer.close();
  }
  // The main thread's copy read from the shared buffers is rank 0's whole state, running statistics included.
  for (const p of graph.params) assert.ok(sameBits(copied.get(p.name)!.data, replicas[0].get(p.name)!.data), `${p.name}: shared copy differs from rank 0`);
  const { losses: reference, optimizerState } = referenceRun(images, targets, classes, 2);
  // The slots gathered from the owners are those of one optimiser over every parameter.
  assert.deepEqual([...gathered.keys()].sort(), [...optimizerState.keys()].sort());
  for (const [key, value] of optimizerState) {
    const got = gathered.get(key)!.data;
    const scale = value.data.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    assert.ok(value.data.every((v, i) => Math.abs(v - got[i]) <= 1e-3 * scale), `${key} differs from the one-engine optimiser`);
  }
  parallel.forEach((loss, i) => assert.ok(Math.abs(loss - reference[i]) <= 1e-4 * Math.abs(reference[i]), `step ${i}: ${loss} vs ${reference[i]}`));
  assert.ok(reference[STEPS - 1] < reference[0], 'the steps train (loss falls on a repeated batch)');
  assert.deepEqual(alive[1], alive[2], 'replica tensor counts stay flat');
  // DDP: every trainable parameter has the same bits in both replicas; BN running statistics are per replica
  // (the shards differ, so their statistics do).
  const differs = (name: string) => !sameBits(replicas[0].get(name)!.data, replicas[1].get(name)!.data);
  for (const p of graph.params.filter((q) => q.trainable)) assert.ok(!differs(p.name), `${p.name} differs between replicas`);
  assert.ok(graph.params.some((p) => p.name.endsWith('running_mean') && differs(p.name)), 'running statistics are each replica\'s own');
  const initial = initStateDict(graph, 3);
  assert.ok(graph.params.filter((p) => p.trainable).every((p) => !sameBits(replicas[0].get(p.name)!.data, initial.get(p.name)!.data)), 'every parameter was updated');
});

test('parameters are split between owners by size, each owner holding one contiguous range', () => {
  const params: [string, number][] = [['a', 10], ['classifier', 100], ['b', 30], ['c', 60], ['d', 5]];
  const layout = partitionParams(params, 2);
  assert.deepEqual(layout.map((p) => p.name), params.map(([name]) => name), 'parameter order is kept');
  assert.equal(totalFloats(layout), 205);
  const owned = [0, 1].map((rank) => layout.filter((p) => p.owner === rank).reduce((sum, p) => sum + p.size, 0));
  assert.deepEqual(owned, [105, 100], 'largest first to the lighter owner');
  const ranges = [0, 1].map((rank) => ownedRange(layout, rank));
  assert.deepEqual(ranges, [[0, 105], [105, 205]]);
  const covered = new Array<number>(205).fill(0);
  for (const p of layout) for (let i = p.offset; i < p.offset + p.size; i++) covered[i] += 1;
  assert.ok(covered.every((n) => n === 1), 'every float has exactly one place');
  assert.deepEqual(ownedRange(partitionParams([['x', 4]], 2), 1), [0, 0], 'a replica may own nothing');
});

test('with fewer images than workers a replica gets an empty shard and contributes nothing', async () => {
  const classes = 10;
  const backend = await initBackend('wasm');
  const { images, targets } = randomTrainingBatch(1, SIZE, classes, 4);
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: classes, inputSize: SIZE });
  const trainer = await ParallelTrainer.start({ workers: 2, backend, graph, weights: initStateDict(graph, 3), optimizer: OPTIMIZER, smoothing: 0.1 });
  let loss = 0;
  let replicas: StateDict[] = [];
  try {
    loss = (await trainer.step(images, [1, SIZE, SIZE, 3], targets, LR, 0)).loss;
    replicas = [await trainer.stateDict(0), await trainer.stateDict(1)];
  } finally {
    await trainer.close();
  }
  // shardRows(1, 2) gives rank 0 no rows, so the step is rank 1's: one engine on the image with rank 1's seed.
  const model = new TfjsModel(graph, initStateDict(graph, 3));
  const x = tf.tensor4d(images, [1, SIZE, SIZE, 3]);
  const y = tf.tensor2d(targets, [1, classes]);
  const reference = computeGradients(model, x, y, { smoothing: 0.1, seed: shardSeed(0, 1, 2) });
  disposeGradientResult(reference);
  tf.dispose([x, y]);
  model.dispose();
  assert.ok(Math.abs(loss - reference.loss) <= 1e-4 * reference.loss, `${loss} vs ${reference.loss}`);
  for (const p of graph.params.filter((q) => q.trainable)) assert.ok(sameBits(replicas[0].get(p.name)!.data, replicas[1].get(p.name)!.data), p.name);
});

test('a replica that fails releases the one waiting at the barrier: the step rejects instead of hanging', { timeout: 60_000 }, async () => {
  const backend = await initBackend('wasm');
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: SIZE });
  const trainer = await ParallelTrainer.start({ workers: 2, backend, graph, weights: initStateDict(graph, 3), optimizer: OPTIMIZER, smoothing: 0.1 });
  try {
    // One image: rank 0's shard is empty, so it goes straight to the barrier; rank 1's targets have 7 classes for
    // 10 logits, so its loss throws.
    const { images } = randomTrainingBatch(1, SIZE, 10, 4);
    // The step settles only once both replicas have stopped, and reports the cause, not rank 0's release.
    await assert.rejects(trainer.step(images, [1, SIZE, SIZE, 3], new Float32Array(7).fill(1 / 7), LR, 0), (error: Error) => {
      assert.match(error.message, /^training worker: /);
      assert.doesNotMatch(error.message, /another training worker failed/);
      return true;
    });
  } finally {
    await trainer.close();
  }
});

test('optimiser state given at start is scattered to the owners and gathered back unchanged (resume)', async () => {
  const backend = await initBackend('wasm');
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: SIZE });
  const model = new TfjsModel(graph, initStateDict(graph, 3));
  const optimizer = createOptimizer(model, OPTIMIZER);
  const saved: StateDict = new Map([...optimizer.stateDict()].map(([key, t], k) => [key, { shape: t.shape, data: t.data.map((_, i) => Math.sin(k + i)) }]));
  saved.set('step', { shape: [1], data: Float32Array.of(7) });
  optimizer.dispose();
  model.dispose();
  const trainer = await ParallelTrainer.start({ workers: 2, backend, graph, weights: initStateDict(graph, 3), optimizer: OPTIMIZER, optimizerState: saved, smoothing: 0.1 });
  let gathered: StateDict = new Map();
  try {
    gathered = await trainer.optimizerStateDict();
  } finally {
    await trainer.close();
  }
  assert.deepEqual([...gathered.keys()].sort(), [...saved.keys()].sort());
  for (const [key, value] of saved) assert.ok(sameBits(gathered.get(key)!.data, value.data), key);
});
