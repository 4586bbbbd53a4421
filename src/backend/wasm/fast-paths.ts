import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_RUNNING_STATS, BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from './BatchNormTrain.js';
import { SGD_MOMENTUM } from './SgdMomentum.js';
import { REFERENCE_KERNELS } from './reference-kernels.js';
import { shippedWasmKernel } from './register.js';
import { useGemmTile } from './simd/index.js';

/**
 * mnext's wasm fast paths that have a slower reference beside them, each switchable at run time so the
 * training-parity harness can turn one off at a time and see whether the drift from PyTorch goes with it:
 * - fused-bn: the fused training BN (+ ReLU6) kernels and the running-statistics kernel; off, the executor runs
 *   tfjs's moments/batchNorm/relu6 with autodiff and updates the statistics with tf ops.
 * - sgd: the fused SGD momentum kernel; off, the optimiser's tfjs ops.
 * - gemm: the SIMD GEMM under BatchMatMul, Conv2D (im2col first unless 1x1) and 1x1 Conv2DBackpropInput; off, the shipped kernels
 *   (XNNPACK, the scalar loop).
 * - reductions: the row-walk Sum/Mean over leading axes; off, the shipped reductions.
 * - relaxed-simd: the GEMM tile's fused multiply-add; off, baseline SIMD's mul + add (as MNEXT_RELAXED_SIMD=0).
 * - depthwise: mnext's depthwise forward and its SIMD input and filter gradients; off, the shipped forward
 *   (XNNPACK) and plain loops for the gradients (reference-kernels.ts), since tfjs-backend-wasm has neither.
 * - filter-grad: the conv filter gradient on im2col + GEMM; off, a plain loop (tfjs-backend-wasm has none either).
 */
export const FAST_PATHS = ['fused-bn', 'sgd', 'gemm', 'reductions', 'relaxed-simd', 'depthwise', 'filter-grad'] as const;
export type FastPath = (typeof FAST_PATHS)[number];

/** Kernels mnext adds (off = not registered). */
const ADDED: Partial<Record<FastPath, readonly string[]>> = {
  'fused-bn': [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, BATCH_NORM_RUNNING_STATS],
  sgd: [SGD_MOMENTUM],
};
/** Kernels with a slower version beside mnext's (off = the plain loops of reference-kernels.ts, else the shipped one). */
const REPLACED: Partial<Record<FastPath, readonly string[]>> = {
  gemm: [tf.BatchMatMul, tf.Conv2D, tf.Conv2DBackpropInput],
  reductions: [tf.Sum, tf.Mean],
  depthwise: [tf.DepthwiseConv2dNative, tf.DepthwiseConv2dNativeBackpropFilter, tf.DepthwiseConv2dNativeBackpropInput],
  'filter-grad': [tf.Conv2DBackpropFilter],
};

/** mnext's own config of each switched kernel, captured the first time it is switched. */
const own = new Map<string, tf.KernelConfig>();

function select(name: string, config: tf.KernelConfig | undefined): void {
  const current = tf.getKernel(name, 'wasm');
  if (!own.has(name)) {
    if (current === undefined) throw new Error(`kernel ${name} is not registered for wasm (register the training kernels first)`);
    own.set(name, current);
  }
  if (current === config) return;
  if (current !== undefined) tf.unregisterKernel(name, 'wasm');
  if (config !== undefined) tf.registerKernel(config);
}

const ownKernel = (name: string) => own.get(name) ?? tf.getKernel(name, 'wasm');
const slowerKernel = (name: string) => REFERENCE_KERNELS.get(name) ?? shippedWasmKernel(name);

/** Turns the listed fast paths off and every other one on (the wasm backend's training kernels registered). */
export function setFastPaths(off: readonly FastPath[]): void {
  for (const path of FAST_PATHS) {
    const enabled = !off.includes(path);
    for (const name of ADDED[path] ?? []) select(name, enabled ? ownKernel(name) : undefined);
    for (const name of REPLACED[path] ?? []) select(name, enabled ? ownKernel(name) : slowerKernel(name));
    if (path === 'relaxed-simd') useGemmTile(enabled ? undefined : 'baseline');
  }
}
