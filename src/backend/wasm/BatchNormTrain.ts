import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { F32_BYTES, type TensorInfo, disposeIntermediate, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';
import { statScratchDoubles } from './simd/reduction-chunks.js';

/**
 * Training-mode batch norm over the leading axes of a channels-last tensor, optionally followed by ReLU6, as
 * two kernels any backend may register (mnext registers them for wasm; elsewhere the executor composes tf
 * ops). Inputs x [N, H, W, C], gamma [C], beta [C]; attrs { eps, relu6 }.
 *   forward  -> [y, mean, variance]  (biased variance, as PyTorch normalises with)
 *   backward (dy, x, mean, variance, gamma, beta) -> [dx, dgamma, dbeta]
 * With relu6 the backward passes dy only where 0 < y < 6 (PyTorch's hardtanh gradient; tfjs's Relu6 gradient
 * also passes a pre-activation of exactly 6). It recomputes that mask from x with the forward's per-channel
 * affine (the same float operations, so the same mask) rather than reading y.
 *
 * Both are SIMD passes over the heap (kernels.c): the forward reads x three times (mean, variance, affine),
 * the backward reads dy and x twice (two sums, then dx); the per-channel arithmetic on [C] vectors is kernels too
 * (it was JavaScript: typed arrays and uploads, about 30 µs per BN unit).
 */
export const BATCH_NORM_TRAIN = 'MnextBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'MnextBatchNormTrainGrad';

export interface BatchNormTrainAttrs {
  readonly eps: number;
  readonly relu6: boolean;
}

/** Whether the current backend registers both training-BN kernels (wasm does once mnext set it up). */
export function hasBatchNormTrainKernels(): boolean {
  const backend = tf.getBackend();
  return Boolean(tf.getKernel(BATCH_NORM_TRAIN, backend) && tf.getKernel(BATCH_NORM_TRAIN_GRAD, backend));
}

/** The forward kernel on tensors: [y, mean, variance]. */
export function runBatchNormTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, attrs: BatchNormTrainAttrs): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  return tf.engine().runKernel(BATCH_NORM_TRAIN, { x, gamma, beta }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/** The backward kernel on tensors: [dx, dgamma, dbeta]. */
export function runBatchNormTrainGrad(
  inputs: { dy: tf.Tensor; x: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor; gamma: tf.Tensor; beta: tf.Tensor }, attrs: BatchNormTrainAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, inputs, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/**
 * BN's running statistics after a training step (not a tfjs op; the executor runs it when the backend registers
 * it, else composes tf ops): inputs runningMean, runningVar, mean, variance [C]; attrs { momentum, unbiased }
 * (the batch variance's n / (n − 1)) -> [runningMean', runningVar'], as PyTorch updates them. One kernel where
 * the composed form is six ops and four scalar uploads per BN layer (MobileNetV2's 52 layers: 1.7 ms of serial
 * time per step, 0.3 with the kernel).
 */
export const BATCH_NORM_RUNNING_STATS = 'MnextBatchNormRunningStats';

export interface RunningStatsAttrs {
  readonly momentum: number;
  readonly unbiased: number;
}

/** The running-statistics kernel on tensors, when the current backend registers it; else undefined. */
export function runBatchNormRunningStats(
  inputs: { runningMean: tf.Tensor; runningVar: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor }, attrs: RunningStatsAttrs,
): [tf.Tensor, tf.Tensor] | undefined {
  if (!tf.getKernel(BATCH_NORM_RUNNING_STATS, tf.getBackend())) return undefined;
  return tf.engine().runKernel(BATCH_NORM_RUNNING_STATS, inputs, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor];
}

interface KernelArgs {
  readonly inputs: Record<string, TensorInfo>;
  readonly backend: BackendWasm;
  readonly attrs: BatchNormTrainAttrs;
}

/** Scratch for the kernels' double partial sums over x [rows, channels] (two float32 slots per double). */
function doubleScratch(backend: BackendWasm, rows: number, channels: number): TensorInfo {
  return backend.makeOutput([2 * statScratchDoubles(rows, channels)], 'float32');
}

function disposeAll(backend: BackendWasm, infos: TensorInfo[]): void {
  for (const info of infos) disposeIntermediate(backend, info);
}

function rowsOf(x: TensorInfo): number {
  return tf.util.sizeFromShape(x.shape) / x.shape[x.shape.length - 1];
}

/**
 * The forward's y = x·scale + shift per channel, as one heap vector [scale, shift] (2c floats) with the offsets
 * of its halves. The backward computes it again from the same inputs, with the same float roundings.
 */
function affineOf(backend: BackendWasm, gamma: TensorInfo, beta: TensorInfo, mean: TensorInfo, variance: TensorInfo, eps: number): { info: TensorInfo; scale: number; shift: number } {
  const channels = gamma.shape[0];
  const info = backend.makeOutput([2 * channels], 'float32');
  const scale = heapOffset(backend, info);
  const shift = scale + channels * F32_BYTES;
  simdKernels(backend).bnAffine(heapOffset(backend, gamma), heapOffset(backend, beta), heapOffset(backend, mean), heapOffset(backend, variance), channels, eps, scale, shift);
  return { info, scale, shift };
}

/** Two-pass statistics (mean, then the mean of squared deviations), then y = affine(x) in one pass. */
function batchNormTrain({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const channels = x.shape[x.shape.length - 1];
  const rows = rowsOf(x);
  const kernels = simdKernels(backend);
  const mean = backend.makeOutput([channels], 'float32');
  const variance = backend.makeOutput([channels], 'float32');
  const acc = doubleScratch(backend, rows, channels);
  kernels.channelMoments(heapOffset(backend, x), rows, channels, heapOffset(backend, acc), heapOffset(backend, mean), heapOffset(backend, variance));
  const affine = affineOf(backend, gamma, beta, mean, variance, attrs.eps);
  const y = backend.makeOutput([...x.shape], 'float32');
  kernels.channelAffine(heapOffset(backend, x), heapOffset(backend, y), rows, channels, affine.scale, affine.shift, attrs.relu6 ? 1 : 0);
  disposeAll(backend, [acc, affine.info]);
  return [y, mean, variance];
}

/**
 * dx = γσ⁻¹/n · (n·g − Σg − x̂·Σ(g·x̂)), dγ = Σ(g·x̂), dβ = Σg, with g = dy (masked by ReLU6's gradient when
 * fused). With S = Σ g·(x − μ) (so Σ(g·x̂) = σ⁻¹S) this is dx = kg·g + kx·x + k0 per channel: one pass for
 * the two sums, one for dx.
 */
function batchNormTrainGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { dy, x, mean, variance, gamma, beta } = inputs;
  const channels = x.shape[x.shape.length - 1];
  const rows = rowsOf(x);
  const relu6 = attrs.relu6 ? 1 : 0;
  const kernels = simdKernels(backend);
  const sumG = backend.makeOutput([channels], 'float32');
  const sumGc = backend.makeOutput([channels], 'float32');
  const acc = doubleScratch(backend, rows, channels);
  const { info: affine, scale, shift } = affineOf(backend, gamma, beta, mean, variance, attrs.eps);
  kernels.bnGradSums(heapOffset(backend, dy), heapOffset(backend, x), scale, shift, relu6, rows, channels,
    heapOffset(backend, mean), heapOffset(backend, acc), heapOffset(backend, sumG), heapOffset(backend, sumGc));
  const coefficients = backend.makeOutput([3 * channels], 'float32');
  const dGamma = backend.makeOutput([channels], 'float32');
  const kg = heapOffset(backend, coefficients);
  const [kx, k0] = [kg + channels * F32_BYTES, kg + 2 * channels * F32_BYTES];
  kernels.bnGradCoefficients(heapOffset(backend, gamma), heapOffset(backend, mean), heapOffset(backend, variance), heapOffset(backend, sumG),
    heapOffset(backend, sumGc), channels, attrs.eps, rows, kg, kx, k0, heapOffset(backend, dGamma));
  const dx = backend.makeOutput([...x.shape], 'float32');
  kernels.bnGradApply(heapOffset(backend, dy), heapOffset(backend, x), scale, shift, relu6, rows, channels, kg, kx, k0, heapOffset(backend, dx));
  disposeAll(backend, [acc, sumGc, affine, coefficients]);
  return [dx, dGamma, sumG];
}

function batchNormRunningStats({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: RunningStatsAttrs }): TensorInfo[] {
  const { runningMean, runningVar, mean, variance } = inputs;
  const channels = runningMean.shape[0];
  const meanOut = backend.makeOutput([channels], 'float32');
  const varOut = backend.makeOutput([channels], 'float32');
  simdKernels(backend).bnRunningStats(heapOffset(backend, runningMean), heapOffset(backend, runningVar), heapOffset(backend, mean),
    heapOffset(backend, variance), channels, 1 - attrs.momentum, attrs.momentum, attrs.momentum * attrs.unbiased,
    heapOffset(backend, meanOut), heapOffset(backend, varOut));
  return [meanOut, varOut];
}

export const batchNormRunningStatsConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_RUNNING_STATS,
  backendName: 'wasm',
  kernelFunc: batchNormRunningStats as unknown as tf.KernelFunc,
};

export const batchNormTrainConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN,
  backendName: 'wasm',
  kernelFunc: batchNormTrain as unknown as tf.KernelFunc,
};

export const batchNormTrainGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormTrainGrad as unknown as tf.KernelFunc,
};
