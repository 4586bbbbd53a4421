import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/data/constants.js';
import { mixupBatch, normalizeBatch, randomErasing, sampleBeta } from '../../src/data/batch-ops.js';
import { Rng } from '../../src/util/random.js';

describe('batch ops', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('normalises uint8 NHWC to (x/255 - mean)/std', () => {
    const before = tf.memory().numTensors;
    const images = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => (i * 37) % 256);
    const x = normalizeBatch({ images, labels: Int32Array.from([0, 1]), size: 2, paths: ['a', 'b'] }, IMAGENET_MEAN, IMAGENET_STD);
    assert.deepEqual(x.shape, [2, 2, 2, 3]);
    const values = x.dataSync();
    images.forEach((v, i) => assert.ok(Math.abs(values[i] - (v / 255 - IMAGENET_MEAN[i % 3]) / IMAGENET_STD[i % 3]) < 1e-5));
    x.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('erases one box per chosen image with the mode fill, and none at probability 0', () => {
    const before = tf.memory().numTensors;
    const x = tf.ones([4, 16, 16, 3]) as tf.Tensor4D;
    const untouched = randomErasing(x, { probability: 0, mode: 'const' }, new Rng(1));
    assert.deepEqual(untouched.dataSync(), x.dataSync());
    for (const mode of ['const', 'rand', 'pixel'] as const) {
      const erased = randomErasing(x, { probability: 1, mode }, new Rng(7));
      const data = erased.dataSync();
      for (let n = 0; n < 4; n += 1) {
        const image = data.subarray(n * 768, (n + 1) * 768);
        const changed = image.filter((v) => v !== 1).length / 3;
        assert.ok(changed >= 0.02 * 256 * 0.5 && changed <= 256 / 3 + 16, `${mode}: image ${n} has ${changed} erased pixels`);
        if (mode === 'const') assert.ok(image.every((v) => v === 0 || v === 1));
      }
      erased.dispose();
    }
    const again = [randomErasing(x, { probability: 0.5, mode: 'pixel' }, new Rng(3)), randomErasing(x, { probability: 0.5, mode: 'pixel' }, new Rng(3))];
    assert.deepEqual(again[0].dataSync(), again[1].dataSync(), 'same rng, same boxes and noise');
    tf.dispose([x, untouched, ...again]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('mixes the batch with its reverse and builds smoothed soft targets', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor4d([1, 2, 3, 4], [2, 1, 1, 2]);
    const { x: mixed, targets, lambda } = mixupBatch(x, Int32Array.from([0, 2]), 3, 0.4, 0.1, new Rng(5));
    assert.ok(lambda > 0 && lambda < 1);
    const m = mixed.dataSync();
    assert.ok(Math.abs(m[0] - (lambda * 1 + (1 - lambda) * 3)) < 1e-5);
    const t = targets.arraySync();
    const off = 0.1 / 3;
    const on = 1 - 0.1 + off;
    assert.ok(Math.abs(t[0][0] - (on * lambda + off * (1 - lambda))) < 1e-6);
    assert.ok(Math.abs(t[0][2] - (off * lambda + on * (1 - lambda))) < 1e-6);
    for (const row of t) assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-6);
    tf.dispose([x, mixed, targets]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('samples Beta(a, a) with mean 1/2 and the right variance', () => {
    const rng = new Rng(11);
    const draws = Array.from({ length: 4000 }, () => sampleBeta(0.4, 0.4, rng));
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    const variance = draws.reduce((s, v) => s + (v - mean) ** 2, 0) / draws.length;
    assert.ok(Math.abs(mean - 0.5) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(variance - 0.25 / 1.8) < 0.02, `variance ${variance}`);
  });
});
