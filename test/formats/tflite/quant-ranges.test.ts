import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { type Range, activationQuant, channelFairStride, observeActivations, selectRanges } from '../../../src/formats/tflite/quantize.js';
import { SortedSample, decisionRange, mseRange } from '../../../src/formats/tflite/ranges.js';
import { randomInputBatch } from '../../../src/runtimes/compare.js';
import { InferenceModel } from '../../../src/models/executor.js';
import { INPUT_ID } from '../../../src/models/graph.js';
import { createModelGraph } from '../../../src/models/registry.js';
import { Rng } from '../../../src/util/random.js';
import { livelyWeights } from '../../eval/helpers.js';
import { runCli } from '../../helpers.js';

/** What int8 actually does to the values: quantise with the range's parameters, clamp, dequantise. */
function int8Error(values: Float64Array, range: Range): number {
  const q = activationQuant(range);
  const [scale, zero] = [q.scale[0], q.zeroPoint[0]];
  let sum = 0;
  for (const v of values) {
    const level = Math.max(-128, Math.min(127, Math.round(v / scale) + zero));
    sum += ((level - zero) * scale - v) ** 2;
  }
  return sum / values.length;
}

function gaussian(rng: Rng, n: number, mean = 0, std = 1): number[] {
  return Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
}

describe('int8 activation range selection', () => {
  test('the error model matches brute force: squared clipping distance plus step^2/12 inside the range', () => {
    const rng = new Rng(1);
    const sample = new SortedSample(gaussian(rng, 2000));
    for (const [lo, hi] of [[-1, 1], [-3, 0.5], [-0.2, 4]]) {
      const step = (hi - lo) / 255;
      let expected = 0;
      for (const v of sample.values) expected += v < lo ? (v - lo) ** 2 : v > hi ? (v - hi) ** 2 : step * step / 12;
      assert.ok(Math.abs(sample.quantizationError(lo, hi) - expected / sample.size) < 1e-12, `[${lo}, ${hi}]`);
    }
    // and step^2/12 is what rounding really costs on values spread over the range
    const dense = new SortedSample(Array.from({ length: 20000 }, () => -2 + 5 * rng.next()));
    const real = int8Error(dense.values, { min: -2, max: 3 });
    assert.ok(Math.abs(dense.quantizationError(-2, 3) / real - 1) < 0.1, `model ${dense.quantizationError(-2, 3)} vs real ${real}`);
  });

  test('mse trims a thin tail (less real int8 error than min/max) and keeps a range that is all used', () => {
    const rng = new Rng(2);
    // 8 bits are fine-grained: trimming pays only where a tail is thinner than about 1 value in 10^5
    const sample = new SortedSample([...gaussian(rng, 200000), 6.5]);
    const chosen = mseRange(sample);
    const full = { min: sample.values[0], max: 6.5 };
    assert.ok(chosen.max < 5.5 && chosen.min > full.min - 1e-9, JSON.stringify(chosen));
    assert.ok(int8Error(sample.values, chosen) < 0.8 * int8Error(sample.values, full), `${int8Error(sample.values, chosen)} vs ${int8Error(sample.values, full)}`);
    // with no tail to trim nothing is lost: a uniform sample keeps (nearly) its whole range
    const uniform = mseRange(new SortedSample(Array.from({ length: 20000 }, () => -1 + 4 * rng.next())));
    assert.ok(uniform.min <= -0.95 && uniform.max >= 2.85, JSON.stringify(uniform));
    // a ReLU6 output keeps 0 as its low end (zero point -128: all 256 levels for [0, max])
    const relu6 = mseRange(new SortedSample(Array.from({ length: 5000 }, () => Math.min(6, Math.max(0, 3 * rng.next() - 0.5)))));
    assert.equal(relu6.min, 0);
    assert.equal(activationQuant(relu6).zeroPoint[0], -128);
  });

  test('the class-score range keeps every row\'s top-1 and its top-5 order, and is finer than min/max', () => {
    const rng = new Rng(3);
    const classes = 10;
    const rows = 200;
    const scores = new Float32Array(rows * classes);
    for (let r = 0; r < rows; r += 1) {
      const winner = Math.floor(rng.next() * classes);
      for (let c = 0; c < classes; c += 1) scores[r * classes + c] = 2 * gaussian(rng, 1)[0] + (c === winner ? 8 * rng.next() : 0);
      scores[r * classes + winner] += r === 0 ? 40 : 0; // one very confident row
    }
    const range = decisionRange(scores, classes);
    const clip = (v: number) => Math.min(range.max, Math.max(range.min, v));
    for (let r = 0; r < rows; r += 1) {
      const row = Array.from(scores.subarray(r * classes, (r + 1) * classes));
      const order = [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, 5);
      const clipped = row.map(clip);
      // strictly decreasing after clipping: no ties among the first five, top-1 unchanged
      for (let k = 1; k < 5; k += 1) assert.ok(clipped[order[k - 1]] > clipped[order[k]], `row ${r} rank ${k}`);
      assert.ok(clipped.every((v, c) => order.includes(c) || v <= clipped[order[4]]));
    }
    const [min, max] = [Math.min(...scores), Math.max(...scores)];
    assert.ok(range.max - range.min < 0.5 * (max - min), `${JSON.stringify(range)} vs [${min}, ${max}]`);
    // top-1 only: the low end may rise to the smallest winning score
    assert.ok(decisionRange(scores, classes, { ranked: 1 }).min > range.min);
    assert.throws(() => decisionRange(new Float32Array(7), 3), /rows of 3/);
  });

  test('the sampling stride visits every channel of an NHWC tensor', () => {
    for (const [size, channels] of [[50 * 4 * 4 * 96, 96], [50 * 16 * 16 * 32, 32], [7 * 10, 10], [100, 3]]) {
      const stride = channelFairStride(size, channels, 8192);
      assert.ok(Math.ceil(size / stride) <= 8192 || stride === 1);
      const seen = new Set<number>();
      for (let i = 0; i < size; i += stride) seen.add(i % channels);
      assert.equal(seen.size, channels, `size ${size}, ${channels} channels, stride ${stride}`);
    }
  });
});

describe('calibration observations', () => {
  before(async () => {
    await initBackend();
  });

  test('samples, extremes and class scores of every node; mse ranges sit inside min/max; tensors freed', async () => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: 32, tensorMultiplier: 1 });
    const model = new InferenceModel(graph, livelyWeights(graph));
    const before = tf.memory().numTensors;
    const observed = await observeActivations(model, [3, 4].map((seed) => ({ data: randomInputBatch(4, 32, seed), batch: 4 })));
    assert.equal(tf.memory().numTensors, before);
    assert.equal(observed.scores.length, 8 * 10);
    assert.equal(observed.output, model.graph.output);
    assert.equal(observed.nodes.size, model.graph.nodes.length + 1);
    for (const [id, node] of observed.nodes) {
      assert.equal(node.samples.length, 2, id);
      for (const part of node.samples) assert.ok(part.every((v) => v >= node.min && v <= node.max), id);
    }
    const minmax = selectRanges(observed, 'minmax');
    const mse = selectRanges(observed, 'mse');
    assert.deepEqual(minmax.get(INPUT_ID), { min: observed.nodes.get(INPUT_ID)!.min, max: observed.nodes.get(INPUT_ID)!.max });
    for (const [id, range] of mse) {
      if (id === observed.output) continue;
      assert.ok(range.min >= Math.min(minmax.get(id)!.min, 0) - 1e-9 && range.max <= Math.max(minmax.get(id)!.max, 0) + 1e-9, id);
    }
    assert.deepEqual(mse.get(observed.output), decisionRange(observed.scores, 10));
    model.dispose();
  });
});

test('convert --calibration-ranges rejects an unknown method in one sentence (exit 2)', async () => {
  const result = await runCli('convert', '--model', 'mobilenext', '--to', 'tflite', '--quantize', 'int8', '--calibration', 'images', '--calibration-ranges', 'kl');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--calibration-ranges: expected one of minmax, mse, got 'kl'/);
});
