import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// Registers tfjs's own gradients (the reference this one is checked against).
import '@tensorflow/tfjs-layers';
import { initBackend } from '../../src/backend/index.js';
import { batchNormGradConfig } from '../../src/backend/wasm/batchnorm-grad.js';
import { Rng } from '../../src/util/random.js';

test('broadcast FusedBatchNorm gradient equals tfjs\'s tiled one for every input', async () => {
  await initBackend('cpu');
  const reference = tf.getGradient(tf.FusedBatchNorm);
  assert.ok(reference, 'tfjs-layers registers the FusedBatchNorm gradient');
  const mine = batchNormGradConfig(reference);
  const rng = new Rng(5);
  const rand = (shape: number[], low = -1, high = 1) => tf.tensor(Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => rng.uniform(low, high)), shape);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const x = rand([3, 5, 4, 6]);
    const saved = [x, rand([6]), rand([6], 0.2, 2), rand([6])];
    const dy = rand([3, 5, 4, 6]);
    const attrs = { varianceEpsilon: 1e-5 } as unknown as tf.NamedAttrMap;
    const expected = reference.gradFunc(dy, saved, attrs);
    const actual = mine.gradFunc(dy, saved, attrs);
    for (const input of ['x', 'mean', 'variance', 'scale', 'offset']) {
      const e = expected[input]().dataSync();
      const a = actual[input]().dataSync();
      const scale = Math.max(...Array.from(e, Math.abs));
      e.forEach((v, i) => assert.ok(Math.abs(v - a[i]) <= 1e-4 * scale, `${input}[${i}]: ${a[i]} vs ${v}`));
    }
  });
  assert.equal(tf.memory().numTensors, before);
});
