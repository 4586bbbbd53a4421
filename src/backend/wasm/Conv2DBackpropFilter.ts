import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type Conv2DInfo, type TensorInfo, convGeometry, disposeIntermediate, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';
import { weightGradChunks } from './simd/reduction-chunks.js';

/** True when x itself is the patch matrix: a 1x1, stride-1, unpadded conv (the bulk of MobileNeXt). */
export function isPointwise(info: Conv2DInfo): boolean {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return filterHeight === 1 && filterWidth === 1 && strideHeight === 1 && strideWidth === 1 &&
    padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0;
}

/**
 * dW = patches^T · dY over the N*OH*OW output pixels (kernels.c: `gemm`, reading the patches transposed in place,
 * in fixed chunks of pixels whose partial gradients are then added in order: ./simd/reduction-chunks.ts); the patch
 * matrix [N*OH*OW, KH*KW*Cin] (taps in HWI order, so the product is already an HWIO filter) is built by
 * `im2col`, and a 1x1 stride-1 conv needs none: x itself is the patch matrix.
 */
function conv2DBackpropFilter(args: {
  inputs: tf.Conv2DBackpropFilterInputs;
  backend: BackendWasm;
  attrs: tf.Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
  const info = convGeometry(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false);
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const patch = info.filterHeight * info.filterWidth * info.inChannels;
  const kernels = simdKernels(backend);
  const patches = isPointwise(info) ? x : backend.makeOutput([rows, patch], 'float32');
  const out = backend.makeOutput([...filterShape], 'float32');
  if (patches !== x) {
    kernels.im2col(
      heapOffset(backend, x), heapOffset(backend, patches), info.batchSize, info.inHeight, info.inWidth, info.inChannels,
      info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
      info.padInfo.top, info.padInfo.left,
    );
  }
  // patches^T · dY: the patch matrix [rows, patch] read transposed through strides, in chunks of rows.
  const { count } = weightGradChunks(patch, rows, info.outChannels);
  const parts = backend.makeOutput([count > 1 ? count * patch * info.outChannels : 1], 'float32');
  kernels.weightGrad(heapOffset(backend, patches), heapOffset(backend, dy), heapOffset(backend, out), patch, rows, info.outChannels, heapOffset(backend, parts));
  disposeIntermediate(backend, parts);
  if (patches !== x) disposeIntermediate(backend, patches);
  return out;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
