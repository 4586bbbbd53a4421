/**
 * mnext's SIMD GEMM (src/backend/wasm/simd/kernels.c) against XNNPACK's (the shipped wasm BatchMatMul) at the
 * shapes a MobileNeXt training step runs, fastest of N calls each (steady on a busy machine):
 *   npx tsx scripts/bench-gemm.ts [--repeat 15] [--json]
 * XNNPACK is timed with a weight tensor it has already packed ('cached') and with a new one each call
 * ('fresh', what training does every step).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../src/backend/index.js';
import { heapOffset } from '../src/backend/wasm/heap.js';
import { shippedWasmKernel } from '../src/backend/wasm/register.js';
import { simdKernels } from '../src/backend/wasm/simd/index.js';
import { fastestMs } from './fastest.js';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '15' }, json: { type: 'boolean' } } });
const SHAPES: readonly [number, number, number][] = [
  [16384, 16, 96], [16384, 96, 16], [4096, 32, 192], [4096, 192, 32], [256, 384, 64], [64, 960, 160], [64, 208, 1280], [16, 1280, 1000],
];

const fastest = (fn: () => void): number => fastestMs(fn, Number(values.repeat));

await initBackend('wasm');
// The shipped kernel, not mnext's wrapper (which routes float products to the SIMD GEMM).
tf.unregisterKernel(tf.BatchMatMul, 'wasm');
tf.registerKernel(shippedWasmKernel(tf.BatchMatMul)!);
const backend = tf.backend() as BackendWasm;
const kernels = simdKernels(backend);
const rows = SHAPES.map(([m, k, n]) => {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const c = tf.zeros([m, n]);
  const mnextMs = fastest(() => kernels.gemm(heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, c), m, k, n, k, 1));
  const cachedMs = fastest(() => tf.matMul(a, b).dispose());
  const fresh = (): void => tf.tidy(() => { tf.matMul(a, tf.add(b, 0)); });
  const addMs = fastest(() => tf.tidy(() => { tf.add(b, 0); }));
  const freshMs = fastest(fresh) - addMs;
  tf.dispose([a, b, c]);
  const gmacs = (m * k * n) / 1e6;
  return { m, k, n, mnextMs, xnnpackCachedMs: cachedMs, xnnpackFreshMs: freshMs, mnextGmacPerSec: gmacs / mnextMs, xnnpackGmacPerSec: gmacs / cachedMs };
});
if (values.json) console.log(JSON.stringify(rows, null, 2));
else for (const r of rows) console.log(`${r.m}x${r.k}x${r.n}: mnext ${r.mnextMs.toFixed(2)} ms (${r.mnextGmacPerSec.toFixed(1)} GMAC/s), XNNPACK cached ${r.xnnpackCachedMs.toFixed(2)} ms (${r.xnnpackGmacPerSec.toFixed(1)}), fresh weights ${r.xnnpackFreshMs.toFixed(2)} ms`);
