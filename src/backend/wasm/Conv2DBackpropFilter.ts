import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, disposeIntermediate, heapOffset } from './heap.js';
import { patchMatrix } from './patches.js';
import { simdKernels } from './simd/index.js';
import { weightGradChunks } from './simd/reduction-chunks.js';

/**
 * dW = patches^T · dY over the N*OH*OW output pixels (kernels.c: `gemm`, reading the patches transposed in place,
 * in fixed chunks of pixels whose partial gradients are then added in order: ./simd/reduction-chunks.ts), the
 * patch matrix from ./patches.ts (taps in HWI order, so the product is already an HWIO filter).
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
  const patches = patchMatrix(backend, x, info);
  const out = backend.makeOutput([...filterShape], 'float32');
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
