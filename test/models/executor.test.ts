import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { type BatchStats, InferenceModel, TfjsModel, batchNormTrain } from '../../src/models/executor.js';
import { createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import type { StateDict } from '../../src/models/state-dict.js';
import { Rng } from '../../src/util/random.js';

before(async () => {
  await initBackend('wasm');
});

/** Fresh weights with random BN statistics and affine params, so folding has something to fold. */
function randomisedWeights(name: string, request: Parameters<typeof createModelGraph>[1]): { graph: ReturnType<typeof createModelGraph>; weights: StateDict } {
  const graph = createModelGraph(name, request);
  const weights = initStateDict(graph, 7);
  const rng = new Rng(3);
  for (const [key, array] of weights) {
    if (key.endsWith('running_var')) array.data.forEach((_, i) => { array.data[i] = rng.uniform(0.5, 1.5); });
    if (key.endsWith('running_mean') || key.endsWith('.bias')) array.data.forEach((_, i) => { array.data[i] = rng.normal() * 0.1; });
  }
  return { graph, weights };
}

test('folded-BN inference equals the eval-mode forward pass to 1e-4', () => {
  for (const [name, k] of [['mobilenext', 2], ['mobilenetv2', 1]] as const) {
    const { graph, weights } = randomisedWeights(name, { width: 0.5, numClasses: 10, inputSize: 40, tensorMultiplier: k });
    const model = new TfjsModel(graph, weights);
    const fast = new InferenceModel(graph, weights);
    const x = tf.randomNormal([2, 40, 40, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const a = tf.tidy(() => model.forward(x, { training: false }).logits.dataSync());
    const y = fast.predict(x);
    const b = y.dataSync();
    const diff = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    assert.ok(diff <= 1e-4, `${name}: folded differs by ${diff}`);
    tf.dispose([x, y]);
    model.dispose();
    fast.dispose();
  }
});

test('stateDict round-trips every weight through the TF layouts', () => {
  const { graph, weights } = randomisedWeights('mobilenext', { width: 0.35, numClasses: 3, inputSize: 32 });
  const model = new TfjsModel(graph, weights);
  const back = model.stateDict();
  for (const [key, array] of weights) assert.deepEqual(back.get(key)!.data, array.data, key);
  model.dispose();
});

test('train-mode forward updates running statistics as PyTorch does and leaks nothing', () => {
  const { graph, weights } = randomisedWeights('mobilenext', { width: 0.35, numClasses: 3, inputSize: 32 });
  const model = new TfjsModel(graph, weights);
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  for (let step = 0; step < 3; step += 1) {
    let counts = new Map<string, number>();
    const kept = tf.tidy(() => {
      const result = model.forward(x, { training: true, seed: step });
      counts = new Map([...result.batchStats].map(([k, v]) => [k, v.count]));
      return Object.fromEntries([...result.batchStats].map(([k, v]) => [k, [v.mean, v.variance]])) as Record<string, tf.Tensor1D[]>;
    });
    const stats: Map<string, BatchStats> = new Map(Object.entries(kept).map(([k, [mean, variance]]) => [k, { mean, variance, count: counts.get(k)! }]));
    if (step === 0) {
      // Stem BN: r = 0.9 r + 0.1 * batch statistic (unbiased variance).
      const { mean, variance, count } = stats.get('features.0.1')!;
      const expectedMean = Array.from(mean.dataSync(), (m, i) => 0.9 * weights.get('features.0.1.running_mean')!.data[i] + 0.1 * m);
      const expectedVar = Array.from(variance.dataSync(), (v, i) => 0.9 * weights.get('features.0.1.running_var')!.data[i] + 0.1 * v * count / (count - 1));
      model.updateRunningStats(stats);
      const sd = model.stateDict();
      sd.get('features.0.1.running_mean')!.data.forEach((v, i) => assert.ok(Math.abs(v - expectedMean[i]) < 1e-5));
      sd.get('features.0.1.running_var')!.data.forEach((v, i) => assert.ok(Math.abs(v - expectedVar[i]) < 1e-4));
    } else {
      model.updateRunningStats(stats);
    }
    for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
    assert.equal(tf.memory().numTensors, before, `step ${step} leaked tensors`);
  }
  x.dispose();
  model.dispose();
});

test('dropout is active only in training and reproducible from the seed', () => {
  const { graph, weights } = randomisedWeights('mobilenext', { width: 0.35, numClasses: 5, inputSize: 32 });
  const model = new TfjsModel(graph, weights);
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const run = (training: boolean, seed: number) => tf.tidy(() => Array.from(model.forward(x, { training, seed }).logits.dataSync()));
  assert.deepEqual(run(false, 1), run(false, 2));
  assert.deepEqual(run(true, 1), run(true, 1));
  assert.notDeepEqual(run(true, 1), run(true, 2));
  x.dispose();
  model.dispose();
});

test('training BN backward (closed form) equals autodiff through moments + batchNorm', async () => {
  for (const backend of ['cpu', 'wasm']) {
    await initBackend(backend);
    const x = tf.randomNormal([3, 5, 4, 6], 0.5, 2, 'float32', 11) as tf.Tensor4D;
    const gamma = tf.randomUniform([6], 0.5, 1.5, 'float32', 12) as tf.Tensor1D;
    const beta = tf.randomNormal([6], 0, 1, 'float32', 13) as tf.Tensor1D;
    const weight = tf.randomNormal([3, 5, 4, 6], 0, 1, 'float32', 14);
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(tf.relu6(y), weight));
    const closed = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => loss(batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y))([x, gamma, beta]);
    const auto = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return loss(tf.batchNorm(a, mean, variance, b, g, 1e-5));
    })([x, gamma, beta]);
    closed.forEach((grad, i) => {
      const scale = Math.max(...Array.from(auto[i].dataSync(), Math.abs));
      const diff = Math.max(...Array.from(grad.dataSync(), (v, j) => Math.abs(v - auto[i].dataSync()[j])));
      assert.ok(diff <= 1e-4 * Math.max(1, scale), `${backend} input ${i}: ${diff}`);
    });
    tf.dispose([x, gamma, beta, weight, ...closed, ...auto]);
  }
  await initBackend('wasm');
});
