import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { TfjsModel, batchNormActTrain, bnFollowedByRelu6 } from '../../src/models/executor.js';
import { createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { computeGradients, disposeGradientResult } from '../../src/train/step.js';
import { Rng } from '../../src/util/random.js';

type Host = { data: Float32Array; shape: number[] };

function host(rng: Rng, shape: number[], scale: number, offset = 0): Host {
  const size = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: size }, () => rng.normal() * scale + offset), shape };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= tolerance * Math.max(scale, 1e-6), `${label}: element ${i} is ${actual[i]}, expected ${expected[i]} (scale ${scale})`);
  }
}

/** y, mean, variance and the gradients of Σ(y·weight) w.r.t. x, gamma, beta, as host arrays. */
function bnValuesAndGrads(x: Host, gamma: Host, beta: Host, weight: Host, relu6: boolean, reference: boolean): Float32Array[] {
  return tf.tidy(() => {
    const [xt, gt, bt, wt] = [x, gamma, beta, weight].map((h) => tf.tensor(h.data, h.shape, 'float32'));
    const unit = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      if (!reference) return batchNormActTrain(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, relu6);
      // Plain autodiff: what tfjs computes without mnext's fused unit.
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      const y = tf.batchNorm(a, mean, variance, b, g, 1e-5);
      return { y: relu6 ? tf.relu6(y) : y, mean, variance };
    };
    const forward = unit(xt, gt, bt);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(unit(a, g, b).y, wt)))([xt, gt, bt]);
    return [forward.y, forward.mean, forward.variance, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

const BN_CASES = [
  { shape: [3, 5, 4, 6], relu6: true },
  { shape: [2, 7, 3, 5], relu6: false },
  { shape: [4, 2, 2, 9], relu6: true },
] as const;

test('fused training BN (+ ReLU6) on wasm equals autodiff through moments + batchNorm (+ relu6) on cpu', async () => {
  const rng = new Rng(21);
  for (const { shape, relu6 } of BN_CASES) {
    const channels = shape[3];
    // Offset and spread so the clamp saturates at both 0 and 6 in every channel.
    const x = host(rng, [...shape], 3, 1.5);
    const gamma = host(rng, [channels], 0.5, 1.5);
    const beta = host(rng, [channels], 1, 2);
    const weight = host(rng, [...shape], 1);
    await initBackend('cpu');
    const expected = bnValuesAndGrads(x, gamma, beta, weight, relu6, true);
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const actual = bnValuesAndGrads(x, gamma, beta, weight, relu6, false);
    assert.equal(tf.memory().numTensors, before, 'fused BN leaked tensors');
    ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((name, i) => {
      assertClose(actual[i], expected[i], 1e-4, `${name} ${JSON.stringify(shape)} relu6=${relu6}`);
    });
  }
});

test('BN nodes fused with the ReLU6 after them: only sole-consumer pairs', () => {
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 4, inputSize: 32 });
  const fused = bnFollowedByRelu6(graph);
  assert.ok(fused.size > 0);
  for (const node of graph.nodes) {
    const users = graph.nodes.filter((n) => n.inputs.includes(node.id));
    const pair = node.op === 'batchnorm' && users.length === 1 && users[0].op === 'relu6';
    assert.equal(fused.has(node.id), pair, node.id);
  }
});

/**
 * Whole-model check at 64x64, where the last stages normalise over batch x 2 x 2 values. (At 32x32 they see
 * batch x 1 x 1 = 4 values and float rounding is amplified: any change of rounding — the unfused ops, a fused
 * multiply-add in the GEMM — moves some layers' gradients by ~5% relative L2 there.) It compares the loss and
 * the direction and norm of the whole gradient; the units themselves are checked to 1e-4 above.
 */
test('a MobileNeXt training step on wasm (fused units, shared-data Identity) follows cpu autodiff', async () => {
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 5, inputSize: 64 });
  const weights = initStateDict(graph, 3);
  const rng = new Rng(5);
  const images = host(rng, [4, 64, 64, 3], 1);
  const labels = Float32Array.from({ length: 20 }, (_, i) => (i % 6 === 0 ? 1 : 0));
  const run = async (backend: 'cpu' | 'wasm') => {
    await initBackend(backend);
    const model = new TfjsModel(graph, weights);
    const x = tf.tensor4d(images.data, images.shape as [number, number, number, number]);
    const t = tf.tensor2d(labels, [4, 5]);
    const before = tf.memory().numTensors;
    const result = computeGradients(model, x, t, { smoothing: 0.1, seed: 1 });
    const grads = new Map([...result.grads].map(([k, g]) => [k, g.dataSync().slice() as Float32Array]));
    const loss = result.loss;
    disposeGradientResult(result);
    assert.equal(tf.memory().numTensors, before, `${backend} step leaked tensors`);
    tf.dispose([x, t]);
    model.dispose();
    return { loss, grads };
  };
  const expected = await run('cpu');
  const actual = await run('wasm');
  assert.ok(Math.abs(actual.loss - expected.loss) <= 1e-3 * Math.abs(expected.loss), `loss ${actual.loss} vs ${expected.loss}`);
  assert.deepEqual([...actual.grads.keys()], [...expected.grads.keys()]);
  let dot = 0;
  let normA = 0;
  let normE = 0;
  for (const [name, e] of expected.grads) {
    const a = actual.grads.get(name)!;
    e.forEach((v, i) => {
      dot += v * a[i];
      normA += a[i] * a[i];
      normE += v * v;
    });
  }
  const cosine = dot / Math.sqrt(normA * normE);
  assert.ok(cosine >= 0.99, `gradient direction differs: cosine ${cosine}`);
  assert.ok(Math.abs(Math.sqrt(normA / normE) - 1) <= 0.02, `gradient norm ratio ${Math.sqrt(normA / normE)}`);
});
