import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from './BatchNormTrain.js';
import { SGD_MOMENTUM } from './SgdMomentum.js';
import { shippedWasmKernel } from './register.js';
import { useGemmTile } from './simd/index.js';

/**
 * mnext's wasm fast paths that have a slower reference beside them, each switchable at run time so the
 * training-parity harness can turn one off at a time and see whether the drift from PyTorch goes with it:
 * - fused-bn: the fused training BN (+ ReLU6) kernels; off, the executor runs tfjs's moments/batchNorm/relu6
 *   with autodiff.
 * - sgd: the fused SGD momentum kernel; off, the optimiser's tfjs ops.
 * - gemm: the SIMD GEMM under BatchMatMul and 1x1 Conv2D / Conv2DBackpropInput; off, the shipped kernels
 *   (XNNPACK, the scalar loop).
 * - reductions: the row-walk Sum/Mean over leading axes; off, the shipped reductions.
 * - relaxed-simd: the GEMM tile's fused multiply-add; off, baseline SIMD's mul + add (as MNEXT_RELAXED_SIMD=0).
 * The depthwise backward and conv filter-gradient kernels have no reference on wasm (tfjs-backend-wasm lacks
 * them), and the depthwise forward is not a switch (the shipped one runs on XNNPACK's pool, which a training
 * process leaves on one thread); the cpu backend, which runs none of mnext's kernels, is their reference.
 */
export const FAST_PATHS = ['fused-bn', 'sgd', 'gemm', 'reductions', 'relaxed-simd'] as const;
export type FastPath = (typeof FAST_PATHS)[number];

/** Kernels mnext adds (off = not registered) and kernels mnext wraps (off = the shipped one). */
const ADDED: Partial<Record<FastPath, readonly string[]>> = {
  'fused-bn': [BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD],
  sgd: [SGD_MOMENTUM],
};
const WRAPPED: Partial<Record<FastPath, readonly string[]>> = {
  gemm: [tf.BatchMatMul, tf.Conv2D, tf.Conv2DBackpropInput],
  reductions: [tf.Sum, tf.Mean],
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

/** Turns the listed fast paths off and every other one on (the wasm backend's training kernels registered). */
export function setFastPaths(off: readonly FastPath[]): void {
  for (const path of FAST_PATHS) {
    const enabled = !off.includes(path);
    for (const name of ADDED[path] ?? []) select(name, enabled ? own.get(name) ?? tf.getKernel(name, 'wasm') : undefined);
    for (const name of WRAPPED[path] ?? []) {
      const shipped = shippedWasmKernel(name);
      select(name, enabled ? own.get(name) ?? tf.getKernel(name, 'wasm') : shipped);
    }
    if (path === 'relaxed-simd') useGemmTile(enabled ? undefined : 'baseline');
  }
}
