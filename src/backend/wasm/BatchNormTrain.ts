import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, disposeIntermediate, heapF32, heapOffset, uploadF32 } from './heap.js';
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
 * the backward reads dy and x twice (two sums, then dx); per-channel arithmetic on [C] vectors stays in JS.
 */
export const BATCH_NORM_TRAIN = 'MnextBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'MnextBatchNormTrainGrad';

export interface BatchNormTrainAttrs {
  readonly eps: number;
  readonly relu6: boolean;
}

interface KernelArgs {
  readonly inputs: Record<string, TensorInfo>;
  readonly backend: BackendWasm;
  readonly attrs: BatchNormTrainAttrs;
}

/** A new heap vector holding `values`. */
function upload(backend: BackendWasm, values: ArrayLike<number>): TensorInfo {
  return uploadF32(backend, [values.length], values);
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
 * The forward's y = x·scale + shift per channel, as heap vectors: scale = γ/√(σ² + ε), shift = β − μ·scale.
 * The backward computes them again from the same inputs, with the same float32 roundings.
 */
function uploadAffine(backend: BackendWasm, gamma: TensorInfo, beta: TensorInfo, mean: TensorInfo, variance: TensorInfo, eps: number): [TensorInfo, TensorInfo] {
  const [g, b, m, v] = [gamma, beta, mean, variance].map((info) => heapF32(backend, info));
  const scale = new Float32Array(g.length);
  const shift = new Float32Array(g.length);
  for (let c = 0; c < g.length; c++) {
    scale[c] = g[c] / Math.sqrt(v[c] + eps);
    shift[c] = b[c] - m[c] * scale[c];
  }
  return [upload(backend, scale), upload(backend, shift)];
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
  const [scaleInfo, shiftInfo] = uploadAffine(backend, gamma, beta, mean, variance, attrs.eps);
  const y = backend.makeOutput([...x.shape], 'float32');
  kernels.channelAffine(heapOffset(backend, x), heapOffset(backend, y), rows, channels, heapOffset(backend, scaleInfo), heapOffset(backend, shiftInfo), attrs.relu6 ? 1 : 0);
  disposeAll(backend, [acc, scaleInfo, shiftInfo]);
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
  const [scaleInfo, shiftInfo] = uploadAffine(backend, gamma, beta, mean, variance, attrs.eps);
  const [scale, shift] = [heapOffset(backend, scaleInfo), heapOffset(backend, shiftInfo)];
  kernels.bnGradSums(heapOffset(backend, dy), heapOffset(backend, x), scale, shift, relu6, rows, channels,
    heapOffset(backend, mean), heapOffset(backend, acc), heapOffset(backend, sumG), heapOffset(backend, sumGc));
  const m = heapF32(backend, mean);
  const v = heapF32(backend, variance);
  const gam = heapF32(backend, gamma);
  const sg = heapF32(backend, sumG);
  const sgc = heapF32(backend, sumGc);
  const kg = new Float32Array(channels);
  const kx = new Float32Array(channels);
  const k0 = new Float32Array(channels);
  const dGamma = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const invStd = 1 / Math.sqrt(v[c] + attrs.eps);
    const factor = (gam[c] * invStd) / rows;
    kg[c] = gam[c] * invStd;
    kx[c] = -factor * invStd * invStd * sgc[c];
    k0[c] = -factor * sg[c] - kx[c] * m[c];
    dGamma[c] = invStd * sgc[c];
  }
  const coefficients = [upload(backend, kg), upload(backend, kx), upload(backend, k0)];
  const dGammaInfo = upload(backend, dGamma);
  const dx = backend.makeOutput([...x.shape], 'float32');
  const [kgInfo, kxInfo, k0Info] = coefficients;
  kernels.bnGradApply(heapOffset(backend, dy), heapOffset(backend, x), scale, shift, relu6, rows, channels,
    heapOffset(backend, kgInfo), heapOffset(backend, kxInfo), heapOffset(backend, k0Info), heapOffset(backend, dx));
  disposeAll(backend, [acc, sumGc, scaleInfo, shiftInfo, ...coefficients]);
  return [dx, dGammaInfo, sumG];
}

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
