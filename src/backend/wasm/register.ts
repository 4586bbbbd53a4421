import * as tf from '@tensorflow/tfjs-core';
import { wrapBatchMatMul } from './BatchMatMul.js';
import { batchNormRunningStatsConfig, batchNormTrainConfig, batchNormTrainGradConfig } from './BatchNormTrain.js';
import { wrapConv2D } from './Conv2D.js';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.js';
import { wrapConv2DBackpropInput } from './Conv2DBackpropInput.js';
import { wrapDepthwiseConv2dNative } from './DepthwiseConv2dNative.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput.js';
import { wrapFusedConv2D, wrapFusedDepthwiseConv2D } from './FusedConv.js';
import { wrapIdentity } from './Identity.js';
import { sgdMomentumConfig } from './SgdMomentum.js';
import { wrapMean, wrapSum } from './Reduce.js';

/** Training kernels tfjs-backend-wasm 4.22 lacks (tensorflow/tfjs#8474), written against its heap. */
export const WASM_TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  // Not tfjs ops: the executor's fused training BN (+ ReLU6), its running statistics and the SGD optimiser run
  // them when the backend registers them.
  batchNormTrainConfig,
  batchNormTrainGradConfig,
  batchNormRunningStatsConfig,
  sgdMomentumConfig,
];

/** Shipped wasm kernels whose slow paths training (and inference) hits, each wrapped to route those cases to a fast one. */
const WRAPPERS: readonly [string, (shipped: tf.KernelConfig) => tf.KernelConfig][] = [
  [tf.BatchMatMul, wrapBatchMatMul],
  [tf.Conv2D, wrapConv2D],
  [tf.FusedConv2D, wrapFusedConv2D],
  [tf.FusedDepthwiseConv2D, wrapFusedDepthwiseConv2D],
  [tf.Conv2DBackpropInput, wrapConv2DBackpropInput],
  [tf.DepthwiseConv2dNative, wrapDepthwiseConv2dNative],
  [tf.Sum, wrapSum],
  [tf.Mean, wrapMean],
  [tf.Identity, wrapIdentity],
];

const wrapped = new WeakSet<tf.KernelConfig>();
const shipped = new Map<string, tf.KernelConfig>();

/** The kernel tfjs-backend-wasm ships under `name`, before mnext wrapped it (benchmarks compare the two). */
export function shippedWasmKernel(name: string): tf.KernelConfig | undefined {
  return shipped.get(name) ?? tf.getKernel(name, 'wasm');
}

/**
 * Registers the missing kernels and wraps the slow ones for the wasm backend. Idempotent; runs before the
 * backend initialises (the wrappers keep the shipped setupFunc, so the shipped kernels still bind their wasm
 * functions).
 */
export function registerWasmTrainingKernels(): void {
  for (const config of WASM_TRAINING_KERNELS) {
    if (tf.getKernel(config.kernelName, 'wasm') === undefined) tf.registerKernel(config);
  }
  for (const [name, wrap] of WRAPPERS) {
    const original = tf.getKernel(name, 'wasm');
    if (original === undefined || wrapped.has(original)) continue;
    shipped.set(name, original);
    const replacement = wrap(original);
    wrapped.add(replacement);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(replacement);
  }
}
