import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { runBatchNormRunningStats } from '../../src/backend/wasm/BatchNormTrain.js';
import { type FastPath, setFastPaths } from '../../src/backend/wasm/fast-paths.js';
import { TfjsModel } from '../../src/models/executor.js';
import { createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { createOptimizer } from '../../src/train/optim.js';
import { Rng } from '../../src/util/random.js';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  readonly n: number; readonly h: number; readonly w: number; readonly c: number;
  readonly k: number; readonly stride: number; readonly pad: Pad; readonly out: number;
}

// batch > 1, odd and even sizes, 1x1 / 3x3 / 5x5, strides 1 and 2, explicit padding as the model writes it.
const CASES: readonly Case[] = [
  { n: 2, h: 8, w: 8, c: 16, k: 1, stride: 1, pad: 'valid', out: 24 },
  { n: 3, h: 7, w: 9, c: 5, k: 1, stride: 2, pad: [[0, 0], [0, 0], [0, 0], [0, 0]], out: 6 },
  { n: 2, h: 9, w: 9, c: 3, k: 3, stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], out: 8 },
  { n: 2, h: 10, w: 6, c: 8, k: 3, stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], out: 4 },
  { n: 2, h: 8, w: 8, c: 6, k: 3, stride: 2, pad: 'same', out: 5 },
  { n: 2, h: 11, w: 7, c: 4, k: 5, stride: 1, pad: [[0, 0], [2, 2], [2, 2], [0, 0]], out: 3 },
  { n: 2, h: 12, w: 12, c: 7, k: 5, stride: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]], out: 5 },
  { n: 4, h: 5, w: 5, c: 9, k: 3, stride: 1, pad: 'valid', out: 2 },
  { n: 2, h: 7, w: 10, c: 6, k: 3, stride: 1, pad: 'same', out: 4 },
  // 32,768 pixels: the filter gradient sums them in 16 chunks (reduction-chunks.ts: weightGradChunks).
  { n: 8, h: 64, w: 64, c: 8, k: 1, stride: 1, pad: 'valid', out: 8 },
];

function randomArray(rng: Rng, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => rng.next() * 2 - 1);
}

/** Runs one kernel on a backend with host arrays in and out, disposing everything it made. */
async function runKernelOn(
  backend: 'cpu' | 'wasm', kernel: string, inputs: Record<string, { data: Float32Array; shape: number[] }>, attrs: object,
): Promise<Float32Array> {
  await initBackend(backend);
  const before = tf.memory().numTensors;
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.data, v.shape, 'float32')]));
  const result = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const data = (await result.data()) as Float32Array;
  tf.dispose([result, ...Object.values(tensors)]);
  assert.equal(tf.memory().numTensors, before, `${kernel} on ${backend} leaked tensors`);
  return data;
}

function assertClose(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= 1e-4 * Math.max(scale, 1e-6), `${label}: element ${i} is ${actual[i]}, cpu says ${expected[i]} (scale ${scale})`);
  }
}

function outSize(size: number, k: number, stride: number, pad: Pad, axis: 1 | 2): number {
  if (pad === 'same') return Math.ceil(size / stride);
  const [before, after] = pad === 'valid' ? [0, 0] : pad[axis];
  return Math.floor((size + before + after - k) / stride) + 1;
}

async function withFastPathsOff(off: FastPath[], body: () => Promise<void>): Promise<void> {
  await initBackend('wasm');
  setFastPaths(off);
  try {
    await body();
  } finally {
    setFastPaths([]);
  }
}

async function compareOnBackends(kernel: string, inputs: Record<string, { data: Float32Array; shape: number[] }>, attrs: object, label: string): Promise<void> {
  const expected = await runKernelOn('cpu', kernel, inputs, attrs);
  const actual = await runKernelOn('wasm', kernel, inputs, attrs);
  assertClose(actual, expected, label);
}

// mnext's SIMD kernels, and the shipped forward and plain loops the training-parity harness switches to when their
// fast path is off.
for (const kernels of ['SIMD', 'plain-loop'] as const) {
  const off: FastPath[] = kernels === 'SIMD' ? [] : ['depthwise', 'filter-grad'];

  test(`Conv2DBackpropFilter on wasm (${kernels}) matches the cpu backend`, async () => {
    const rng = new Rng(7);
    await withFastPathsOff(off, async () => {
      for (const cs of CASES) {
        const oh = outSize(cs.h, cs.k, cs.stride, cs.pad, 1);
        const ow = outSize(cs.w, cs.k, cs.stride, cs.pad, 2);
        const x = { data: randomArray(rng, cs.n * cs.h * cs.w * cs.c), shape: [cs.n, cs.h, cs.w, cs.c] };
        const dy = { data: randomArray(rng, cs.n * oh * ow * cs.out), shape: [cs.n, oh, ow, cs.out] };
        const attrs = { strides: [cs.stride, cs.stride], pad: cs.pad, dataFormat: 'NHWC', filterShape: [cs.k, cs.k, cs.c, cs.out] };
        await compareOnBackends('Conv2DBackpropFilter', { x, dy }, attrs, `conv filter grad ${JSON.stringify(cs)}`);
      }
    });
  });

  for (const multiplier of [1, 2]) {
    test(`DepthwiseConv2dNative and its filter and input gradients on wasm (${kernels}) match the cpu backend (multiplier ${multiplier})`, async () => {
      const rng = new Rng(11 + multiplier);
      await withFastPathsOff(off, async () => {
        // The last case is large enough for the filter gradient to be summed in several chunks of rows.
        for (const cs of [...CASES, { n: 4, h: 24, w: 24, c: 20, k: 3, stride: 1, pad: 'same', out: 0 } as const]) {
          const oh = outSize(cs.h, cs.k, cs.stride, cs.pad, 1);
          const ow = outSize(cs.w, cs.k, cs.stride, cs.pad, 2);
          const outChannels = cs.c * multiplier;
          const x = { data: randomArray(rng, cs.n * cs.h * cs.w * cs.c), shape: [cs.n, cs.h, cs.w, cs.c] };
          const filter = { data: randomArray(rng, cs.k * cs.k * outChannels), shape: [cs.k, cs.k, cs.c, multiplier] };
          const dy = { data: randomArray(rng, cs.n * oh * ow * outChannels), shape: [cs.n, oh, ow, outChannels] };
          const common = { strides: [cs.stride, cs.stride], dilations: [1, 1], pad: cs.pad };
          await compareOnBackends('DepthwiseConv2dNative', { x, filter }, { ...common, dataFormat: 'NHWC' },
            `depthwise forward ${JSON.stringify(cs)}`);
          await compareOnBackends('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...common, filterShape: filter.shape },
            `depthwise filter grad ${JSON.stringify(cs)}`);
          await compareOnBackends('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...common, inputShape: x.shape },
            `depthwise input grad ${JSON.stringify(cs)}`);
        }
      });
    });
  }
}

test('Conv2D (im2col + GEMM) and FusedConv2D (bias, ReLU6) of every kernel size and padding on wasm match the cpu backend', async () => {
  const rng = new Rng(5);
  for (const cs of CASES) {
    const x = { data: randomArray(rng, cs.n * cs.h * cs.w * cs.c), shape: [cs.n, cs.h, cs.w, cs.c] };
    const filter = { data: randomArray(rng, cs.k * cs.k * cs.c * cs.out), shape: [cs.k, cs.k, cs.c, cs.out] };
    const bias = { data: randomArray(rng, cs.out), shape: [cs.out] };
    const attrs = { strides: [cs.stride, cs.stride], pad: cs.pad, dataFormat: 'NHWC', dilations: [1, 1] };
    await compareOnBackends('Conv2D', { x, filter }, attrs, `conv forward ${JSON.stringify(cs)}`);
    await compareOnBackends('FusedConv2D', { x, filter, bias }, { ...attrs, activation: 'relu6' }, `fused conv forward ${JSON.stringify(cs)}`);
  }
});

test("BN's running-statistics kernel gives bitwise the composed tf ops' statistics", async () => {
  await initBackend('wasm');
  const rng = new Rng(23);
  const [runningMean, runningVar, mean, variance] = [0, 1, 2, 3].map(() => tf.tensor1d(randomArray(rng, 37).map((v) => v * 3 + 1)));
  const [momentum, unbiased] = [0.1, 16 / 15];
  const fused = runBatchNormRunningStats({ runningMean, runningVar, mean, variance }, { momentum, unbiased });
  assert.ok(fused, 'the wasm backend registers the running-statistics kernel');
  const composed = [tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean, momentum)), tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(variance, momentum * unbiased))];
  for (const [i, label] of ['running mean', 'running variance'].entries()) assert.deepEqual(fused[i].dataSync(), composed[i].dataSync(), label);
  tf.dispose([runningMean, runningVar, mean, variance, ...fused, ...composed]);
});

test('wrapped BatchMatMul (transpose flags), 1x1 Conv2D and Conv2DBackpropInput and leading-axis Sum/Mean match the cpu backend', async () => {
  const rng = new Rng(3);
  const a = { data: randomArray(rng, 2 * 37 * 19), shape: [2, 37, 19] };
  const b = { data: randomArray(rng, 2 * 37 * 23), shape: [2, 37, 23] };
  await compareOnBackends('BatchMatMul', { a, b }, { transposeA: true, transposeB: false }, 'matmul transposeA');
  const bt = { data: randomArray(rng, 2 * 23 * 19), shape: [2, 23, 19] };
  await compareOnBackends('BatchMatMul', { a, b: bt }, { transposeA: false, transposeB: true }, 'matmul transposeB');
  const plainA = { data: randomArray(rng, 2 * 19 * 37), shape: [2, 19, 37] };
  await compareOnBackends('BatchMatMul', { a: plainA, b }, { transposeA: false, transposeB: false }, 'matmul plain');
  await compareOnBackends('BatchMatMul', { a, b: { data: bt.data.slice(0, 23 * 37), shape: [2, 23, 37].map((d, i) => (i === 0 ? 1 : d)) } },
    { transposeA: true, transposeB: true }, 'matmul both flags, b broadcast over the batch');
  const dy = { data: randomArray(rng, 3 * 5 * 7 * 11), shape: [3, 5, 7, 11] };
  const filter = { data: randomArray(rng, 6 * 11), shape: [1, 1, 6, 11] };
  await compareOnBackends('Conv2DBackpropInput', { dy, filter },
    { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', inputShape: [3, 5, 7, 6] }, 'pointwise conv input grad');
  const x = { data: randomArray(rng, 3 * 5 * 7 * 6), shape: [3, 5, 7, 6] };
  await compareOnBackends('Conv2D', { x, filter: { data: filter.data, shape: [1, 1, 6, 11] } },
    { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] }, 'pointwise conv forward');
  for (const kernel of ['Sum', 'Mean']) {
    for (const [axis, keepDims] of [[[0, 1, 2], false], [[0, 1], true], [[2, 0, 1], false], [[1, 2], false]] as const) {
      await compareOnBackends(kernel, { x: dy }, { axis: [...axis], keepDims }, `${kernel} over ${axis}`);
    }
  }
});

/** Three optimiser steps with seeded random gradients on a backend; the weights afterwards. */
async function sgdSteps(backend: 'cpu' | 'wasm', nesterov: boolean): Promise<Map<string, Float32Array>> {
  await initBackend(backend);
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 5, inputSize: 32 });
  const model = new TfjsModel(graph, initStateDict(graph, 5));
  const optimizer = createOptimizer(model, { opt: nesterov ? 'nesterov' : 'momentum', momentum: 0.9, weightDecay: 0.01, eps: 1e-8 });
  const rng = new Rng(17);
  for (const lr of [0.1, 0.05, 0.2]) {
    const grads = new Map([...model.trainableByName()].map(([name, v]) => [name, tf.tensor(randomArray(rng, v.size), v.shape)]));
    optimizer.apply(grads, lr);
    tf.dispose([...grads.values()]);
  }
  const weights = new Map([...model.stateDict()].map(([name, t]) => [name, t.data]));
  optimizer.dispose();
  model.dispose();
  return weights;
}

for (const nesterov of [false, true]) {
  test(`the fused SGD-momentum kernel (wasm) gives the composed optimiser's weights (cpu)${nesterov ? ', Nesterov' : ''}`, async () => {
    const expected = await sgdSteps('cpu', nesterov);
    const actual = await sgdSteps('wasm', nesterov);
    for (const [name, data] of expected) assertClose(actual.get(name)!, data, name);
  });
}

test('the inference graph\'s FusedConv2D (1x1) and FusedDepthwiseConv2D on mnext\'s kernels match the cpu backend (bias, ReLU6, linear, no bias)', async () => {
  const rng = new Rng(17);
  // Spread so that ReLU6 clamps at both ends.
  const scaled = (size: number, spread: number) => Float32Array.from(randomArray(rng, size), (v) => v * spread);
  const x = { data: scaled(2 * 9 * 7 * 13, 4), shape: [2, 9, 7, 13] };
  const pointwise = { data: randomArray(rng, 13 * 10), shape: [1, 1, 13, 10] };
  const depthwise = { data: randomArray(rng, 3 * 3 * 13), shape: [3, 3, 13, 1] };
  const common = { dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };
  for (const activation of ['relu6', 'linear'] as const) {
    for (const withBias of [true, false]) {
      const label = `${activation}${withBias ? ' + bias' : ''}`;
      const bias = (channels: number): Record<string, { data: Float32Array; shape: number[] }> => (withBias ? { bias: { data: scaled(channels, 3), shape: [channels] } } : {});
      await compareOnBackends('FusedConv2D', { x, filter: pointwise, ...bias(10) }, { ...common, strides: [1, 1], pad: 'valid', activation }, `fused 1x1 conv ${label}`);
      for (const [stride, pad] of [[1, 'same'], [2, 'valid']] as const) {
        await compareOnBackends('FusedDepthwiseConv2D', { x, filter: depthwise, ...bias(13) }, { ...common, strides: [stride, stride], pad, activation },
          `fused depthwise conv ${label} stride ${stride}`);
      }
    }
  }
});
