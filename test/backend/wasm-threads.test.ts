import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, initBackend, setThreads } from '../../src/backend/index.js';
import { type SimdKernels, instantiateSimdKernels } from '../../src/backend/wasm/simd/index.js';
import { filterGradChunks, statScratchDoubles, weightGradChunks } from '../../src/backend/wasm/simd/reduction-chunks.js';
import { splitRange } from '../../src/backend/wasm/threads/pool.js';
import { threadsSupported } from '../../src/backend/wasm/threads/pthread-node.js';
import { Rng } from '../../src/util/random.js';

const skip = threadsSupported() ? false : 'this Node has no shared WebAssembly memory';

/** A shared heap with one- and two-thread kernels on it, and a bump allocator of float buffers. */
function sharedHeap(pages: number) {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const heap = new Float32Array(memory.buffer);
  const rng = new Rng(7);
  let next = 16;
  const alloc = (floats: number, random = true): number => {
    const at = next;
    next += Math.ceil(floats / 4) * 4 + 4;
    if (random) for (let i = 0; i < floats; i++) heap[at + i] = rng.next() * 2 - 1;
    return at * 4;
  };
  const view = (pointer: number, floats: number) => heap.slice(pointer / 4, pointer / 4 + floats);
  return { memory, heap, alloc, view, one: instantiateSimdKernels(memory, undefined, 1), two: instantiateSimdKernels(memory, undefined, 2) };
}

/** Runs `call` with one- and with two-thread kernels into separate outputs and asserts they are bitwise equal. */
function sameOnOneAndTwo(h: ReturnType<typeof sharedHeap>, floats: number, call: (k: SimdKernels, out: number) => void, label: string): Float32Array {
  const out1 = h.alloc(floats, false);
  const out2 = h.alloc(floats, false);
  call(h.one, out1);
  call(h.two, out2);
  const a = h.view(out1, floats);
  assert.deepEqual(h.view(out2, floats), a, `${label}: 2 threads differ from 1`);
  assert.ok(a.some((v) => v !== 0), `${label}: computed nothing`);
  return a;
}

test('splitRange: aligned starts, no slice under the minimum, the whole range covered once', () => {
  assert.deepEqual(splitRange(64, 2, 4), [[0, 32], [32, 64]]);
  assert.deepEqual(splitRange(13, 2, 4), [[0, 8], [8, 13]]);
  assert.deepEqual(splitRange(10, 4, 4, 8), [[0, 10]]);
  assert.deepEqual(splitRange(5, 8, 1), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
});

test('mnext kernels on 2 threads give bitwise the results of 1 thread (GEMM also checked against a reference)', { skip }, () => {
  const h = sharedHeap(1024);
  // Sizes above parallel-kernels.ts's thresholds, so that every kernel below runs as several slices.
  const [rows, red, n] = [150, 67, 40]; // 150 rows: 4-row tiles and a tail row band
  const a = h.alloc(rows * red);
  const b = h.alloc(red * n);
  const c = sameOnOneAndTwo(h, rows * n, (k, out) => k.gemm(a, b, out, rows, red, n, red, 1), 'gemm');
  for (const [i, j] of [[0, 0], [149, 39], [97, 17]]) {
    let expected = 0;
    for (let k = 0; k < red; k++) expected += h.heap[a / 4 + i * red + k] * h.heap[b / 4 + k * n + j];
    assert.ok(Math.abs(c[i * n + j] - expected) < 1e-4, `gemm c[${i}, ${j}]`);
  }
  // aᵀ·b (a conv's weight gradient): a stored [red, rows], read through strides.
  sameOnOneAndTwo(h, rows * n, (k, out) => k.gemm(a, b, out, rows, red, n, 1, rows), 'gemm aᵀ');
  // A weight gradient's long reduction, summed in fixed chunks: each chunk a slice, the partials added in order.
  const [gradRows, gradRed, gradN] = [12, 5000, 20];
  assert.ok(weightGradChunks(gradRows, gradRed, gradN).count > 1, 'the weight gradient case must be chunked');
  const ga = h.alloc(gradRed * gradRows);
  const gb = h.alloc(gradRed * gradN);
  const gParts = h.alloc(weightGradChunks(gradRows, gradRed, gradN).count * gradRows * gradN, false);
  const gc = sameOnOneAndTwo(h, gradRows * gradN, (k, out) => k.weightGrad(ga, gb, out, gradRows, gradRed, gradN, gParts), 'weight gradient');
  for (const [i, j] of [[0, 0], [11, 19], [5, 8]]) {
    let expected = 0;
    for (let p = 0; p < gradRed; p++) expected += h.heap[ga / 4 + p * gradRows + i] * h.heap[gb / 4 + p * gradN + j];
    assert.ok(Math.abs(gc[i * gradN + j] - expected) < 1e-3, `weight gradient c[${i}, ${j}]`);
  }
  // Fewer rows than columns (a classifier's batch) splits the columns: 6 rows (a 4-row tile and 2 more), 1003
  // columns (8-column tiles, then a 4-column and a scalar tail).
  const [fewRows, wideRed, wide] = [6, 300, 1003];
  const fa = h.alloc(fewRows * wideRed);
  const fb = h.alloc(wideRed * wide);
  const fc = sameOnOneAndTwo(h, fewRows * wide, (k, out) => k.gemm(fa, fb, out, fewRows, wideRed, wide, wideRed, 1), 'gemm, few rows');
  for (const [i, j] of [[0, 0], [5, 1002], [4, 999], [1, 517]]) {
    let expected = 0;
    for (let k = 0; k < wideRed; k++) expected += h.heap[fa / 4 + i * wideRed + k] * h.heap[fb / 4 + k * wide + j];
    assert.ok(Math.abs(fc[i * wide + j] - expected) < 1e-4, `gemm, few rows: c[${i}, ${j}]`);
  }
  const [tr, tc] = [300, 121]; // 300 rows: 32-row cache tiles and a tail
  const m = h.alloc(2 * tr * tc);
  const mT = sameOnOneAndTwo(h, 2 * tr * tc, (k, out) => k.transpose(m, out, 2, tr, tc), 'transpose');
  for (const [bi, i, j] of [[0, 0, 0], [1, 299, 120], [1, 37, 64]]) {
    assert.equal(mT[bi * tr * tc + j * tr + i], h.heap[m / 4 + bi * tr * tc + i * tc + j], `transpose [${bi}, ${i}, ${j}]`);
  }

  const [bn, hh, ww, ch, kk, s, oh, ow] = [4, 40, 40, 70, 3, 2, 20, 20]; // 70 channels: 16-channel splits and a tail
  const x = h.alloc(bn * hh * ww * ch);
  const dy = h.alloc(bn * oh * ow * ch);
  const filter = h.alloc(kk * kk * ch);
  const conv = [bn, hh, ww, ch, 1, oh, ow, kk, kk, s, s, 0, 1] as const;
  sameOnOneAndTwo(h, bn * oh * ow * ch, (k, out) => k.depthwiseConv(x, filter, out, bn, hh, ww, ch, oh, ow, kk, kk, s, s, 0, 1), 'depthwise forward');
  const parts = h.alloc(filterGradChunks(bn, oh, ow, ch, 1, kk, kk).count * kk * kk * ch, false);
  sameOnOneAndTwo(h, kk * kk * ch, (k, out) => k.depthwiseFilterGrad(x, dy, out, ...conv, parts), 'depthwise filter grad');
  sameOnOneAndTwo(h, bn * hh * ww * ch, (k, out) => k.depthwiseInputGrad(dy, filter, out, ...conv), 'depthwise input grad');
  sameOnOneAndTwo(h, bn * oh * ow * kk * kk * ch, (k, out) => k.im2col(x, out, bn, hh, ww, ch, oh, ow, kk, kk, s, s, 0, 1), 'im2col');

  const pixels = bn * hh * ww;
  const [scale, shift] = [h.alloc(ch), h.alloc(ch)];
  sameOnOneAndTwo(h, pixels * ch, (k, out) => k.channelAffine(x, out, pixels, ch, scale, shift, 1), 'BN + ReLU6');
  const y = h.alloc(pixels * ch);
  const acc = h.alloc(2 * statScratchDoubles(pixels, ch), false);
  const mean = h.alloc(ch);
  const moments = sameOnOneAndTwo(h, 2 * ch, (k, out) => k.channelMoments(x, pixels, ch, acc, out, out + 4 * ch), 'BN moments');
  for (const channel of [0, 37, 69]) { // several chunks of rows (reduction-chunks.ts): the totals still right
    const values = Array.from({ length: pixels }, (_, r) => h.heap[x / 4 + r * ch + channel]);
    const m = values.reduce((a, b) => a + b, 0) / pixels;
    const v = values.reduce((a, b) => a + (b - m) ** 2, 0) / pixels;
    assert.ok(Math.abs(moments[channel] - m) < 1e-6 && Math.abs(moments[ch + channel] - v) < 1e-6 * v, `BN moments of channel ${channel}`);
  }
  sameOnOneAndTwo(h, 2 * ch, (k, out) => k.bnGradSums(x, y, scale, shift, 1, pixels, ch, mean, acc, out, out + 4 * ch), 'BN gradient sums');
  sameOnOneAndTwo(h, pixels * ch, (k, out) => k.bnGradApply(x, y, scale, shift, 1, pixels, ch, scale, shift, filter, out), 'BN grad apply');
  const count = 40_003;
  const [p, g, buf] = [h.alloc(count), h.alloc(count), h.alloc(count)];
  const bOut1 = h.alloc(count, false);
  const bOut2 = h.alloc(count, false);
  let second = false;
  sameOnOneAndTwo(h, count, (k, out) => {
    k.sgdMomentum(p, g, buf, out, second ? bOut2 : bOut1, count, 0.1, 0.9, 4e-5, 0);
    second = true;
  }, 'SGD');
  assert.deepEqual(h.view(bOut2, count), h.view(bOut1, count), 'SGD momentum buffer');
});

/** Threads in XNNPACK's pool (tfjs's own count). */
const xnnpackThreads = (): number => (tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } }).wasm.tfjs.getThreadsCount();

test('the threaded wasm backend starts in Node, its convs match the cpu backend, and mnext\'s kernels take over XNNPACK\'s threads', { skip }, async () => {
  const rng = new Rng(3);
  const shapes: [number, number, number, number][] = [[2, 17, 17, 8], [3, 3, 8, 12], [3, 3, 8, 1]];
  const data = shapes.map((shape) => Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.next() * 2 - 1));
  const run = () => tf.tidy(() => {
    const [x, filter, depthwise] = data.map((d, i) => tf.tensor4d(d, shapes[i]));
    return [tf.conv2d(x, filter, 2, 'same'), tf.depthwiseConv2d(x, depthwise, 1, 'same')].map((t) => t.dataSync());
  });
  await initBackend('cpu');
  const expected = run();
  setThreads(2);
  await initBackend('wasm');
  assert.equal(backendThreads(), 2);
  assert.equal(xnnpackThreads(), 2, 'XNNPACK starts on every thread');
  const actual = run();
  assert.equal(xnnpackThreads(), 1, 'after mnext\'s first kernel (the depthwise conv) XNNPACK runs on one thread');
  for (const [i, e] of expected.entries()) {
    for (let j = 0; j < e.length; j++) assert.ok(Math.abs(actual[i][j] - e[j]) < 1e-4, `output ${i} element ${j}`);
  }
});
