import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, disposeIntermediate, heapF32, runWasmKernel, viewAs } from './heap.js';

/**
 * Training-mode batch norm over the leading axes of a channels-last tensor, optionally followed by ReLU6, as
 * two kernels any backend may register (mnext registers them for wasm; elsewhere the executor composes tf
 * ops). Inputs x [N, H, W, C], gamma [C], beta [C]; attrs { eps, relu6 }.
 *   forward  -> [y, mean, variance]  (biased variance, as PyTorch normalises with)
 *   backward (dy, x, y, mean, variance, gamma) -> [dx, dgamma, dbeta]
 * With relu6 the backward passes dy only where 0 < y < 6 (PyTorch's hardtanh gradient; tfjs's Relu6 gradient
 * also passes a pre-activation of exactly 6).
 *
 * Both run as a handful of full-tensor passes through the backend's own XNNPACK kernels: per-channel sums are a
 * average pooling, per-channel affine maps (+ clamp) are a 1x1 depthwise conv with bias and fused ReLU6. Plain
 * JS loops that index per channel run at about a tenth of those kernels' speed.
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
function upload(backend: BackendWasm, values: ArrayLike<number>, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  heapF32(backend, out).set(values);
  return out;
}

/**
 * Per-channel means of an [..., C] tensor: XNNPACK average pooling of the tensor viewed as one [rows x 1] image
 * (a ones-vector GEMM would be the same arithmetic, but XNNPACK packs its right operand anew for every call).
 */
function channelMeans(backend: BackendWasm, x: TensorInfo): Float32Array {
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const column = viewAs(backend, x, [1, rows, 1, channels]);
  const pooled = runWasmKernel(backend, tf.AvgPool, { x: column }, { filterSize: [rows, 1], strides: [1, 1], pad: 'valid' });
  const means = heapF32(backend, pooled).slice();
  disposeIntermediate(backend, column);
  disposeIntermediate(backend, pooled);
  return means;
}

/** x·scale + shift per channel, clamped to [0, 6] with relu6: a 1x1 depthwise conv with bias (one pass). */
function channelAffine(backend: BackendWasm, x: TensorInfo, scale: ArrayLike<number>, shift: ArrayLike<number>, relu6: boolean): TensorInfo {
  const channels = x.shape[x.shape.length - 1];
  const filter = upload(backend, scale, [1, 1, channels, 1]);
  const bias = upload(backend, shift, [channels]);
  const out = runWasmKernel(backend, tf.FusedDepthwiseConv2D, { x, filter, bias }, {
    strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC', activation: relu6 ? 'relu6' : 'linear',
  });
  disposeIntermediate(backend, filter);
  disposeIntermediate(backend, bias);
  return out;
}

function countPerChannel(x: TensorInfo): number {
  return tf.util.sizeFromShape(x.shape) / x.shape[x.shape.length - 1];
}

/** Two-pass statistics (mean, then the mean of squared deviations), then y = affine(x) in one pass. */
function batchNormTrain({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x, gamma, beta } = inputs;
  const channels = x.shape[x.shape.length - 1];
  const mean = channelMeans(backend, x);
  const centred = channelAffine(backend, x, new Float32Array(channels).fill(1), mean.map((m) => -m), false);
  const squares = runWasmKernel(backend, tf.Multiply, { a: centred, b: centred }, {});
  const variance = channelMeans(backend, squares);
  disposeIntermediate(backend, centred);
  disposeIntermediate(backend, squares);
  const g = heapF32(backend, gamma).slice();
  const b = heapF32(backend, beta).slice();
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = g[c] / Math.sqrt(variance[c] + attrs.eps);
    shift[c] = b[c] - mean[c] * scale[c];
  }
  const y = channelAffine(backend, x, scale, shift, attrs.relu6);
  return [y, upload(backend, mean, [channels]), upload(backend, variance, [channels])];
}

/**
 * dy where 0 < y < 6, else 0: ReLU6's gradient read off the saved output, as dy · step(y·(6 − y)) in four
 * backend passes (y lies in [0, 6], so the product is positive exactly inside). A JS loop over the heap, and
 * the backend's Sign, Greater and Cast kernels, are each about ten times slower than Sub/Multiply/Step.
 */
function relu6Masked(backend: BackendWasm, dy: TensorInfo, y: TensorInfo): TensorInfo {
  const six = upload(backend, [6], []);
  const headroom = runWasmKernel(backend, tf.Sub, { a: six, b: y }, {});
  const product = runWasmKernel(backend, tf.Multiply, { a: y, b: headroom }, {});
  const inside = runWasmKernel(backend, tf.Step, { x: product }, { alpha: 0 });
  const out = runWasmKernel(backend, tf.Multiply, { a: dy, b: inside }, {});
  for (const t of [six, headroom, product, inside]) disposeIntermediate(backend, t);
  return out;
}

/**
 * dx = γσ⁻¹/n · (n·g − Σg − x̂·Σ(g·x̂)), dγ = Σ(g·x̂), dβ = Σg, with g = dy (masked by ReLU6's gradient when
 * fused), written as dx = A·g + C + B·x̂ per channel.
 */
function batchNormTrainGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { dy, x, y, mean: meanIn, variance: varIn, gamma: gammaIn } = inputs;
  const channels = x.shape[x.shape.length - 1];
  const count = countPerChannel(x);
  const mean = heapF32(backend, meanIn).slice();
  const gamma = heapF32(backend, gammaIn).slice();
  const invStd = heapF32(backend, varIn).map((v) => 1 / Math.sqrt(v + attrs.eps));
  const g = attrs.relu6 ? relu6Masked(backend, dy, y) : dy;
  const xHat = channelAffine(backend, x, invStd, mean.map((m, c) => -m * invStd[c]), false);
  const gxHat = runWasmKernel(backend, tf.Multiply, { a: g, b: xHat }, {});
  const sumG = channelMeans(backend, g).map((m) => m * count);
  const sumGXHat = channelMeans(backend, gxHat).map((m) => m * count);
  disposeIntermediate(backend, gxHat);
  const a = new Float32Array(channels);
  const b = new Float32Array(channels);
  const c0 = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const factor = (gamma[c] * invStd[c]) / count;
    a[c] = factor * count;
    b[c] = -factor * sumGXHat[c];
    c0[c] = -factor * sumG[c];
  }
  const gPart = channelAffine(backend, g, a, c0, false);
  if (g !== dy) disposeIntermediate(backend, g);
  const bVec = upload(backend, b, [channels]);
  const xPart = runWasmKernel(backend, tf.Multiply, { a: xHat, b: bVec }, {});
  const dx = runWasmKernel(backend, tf.Add, { a: gPart, b: xPart }, {});
  for (const t of [xHat, bVec, xPart, gPart]) disposeIntermediate(backend, t);
  return [dx, upload(backend, sumGXHat, [channels]), upload(backend, sumG, [channels])];
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
