import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, disposeIntermediate, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';
import { filterGradChunks } from './simd/reduction-chunks.js';

/**
 * dW[fh, fw, c, q] = sum over (n, oh, ow) of x[n, oh*sh - top + fh, ow*sw - left + fw, c] * dy[n, oh, ow, c*m + q],
 * any stride, padding and depth multiplier, as one SIMD pass over dy (kernels.c: `depthwise_filter_grad`) in
 * fixed chunks of rows whose partial gradients (scratch here) are then added in order.
 */
function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: tf.DepthwiseConv2dNativeBackpropFilterInputs;
  backend: BackendWasm;
  attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
  const info = convGeometry(x.shape, filterShape, strides, dilations, pad, dimRoundingMode, true);
  const out = backend.makeOutput([...filterShape], 'float32');
  const m = info.outChannels / info.inChannels;
  const geometry = [info.batchSize, info.inHeight, info.inWidth, info.inChannels, m, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left] as const;
  const { count } = filterGradChunks(info.batchSize, info.outHeight, info.outWidth, info.inChannels, m, info.filterHeight, info.filterWidth);
  const parts = backend.makeOutput([count > 1 ? count * tf.util.sizeFromShape(filterShape) : 1], 'float32');
  simdKernels(backend).depthwiseFilterGrad(heapOffset(backend, x), heapOffset(backend, dy), heapOffset(backend, out), ...geometry, heapOffset(backend, parts));
  disposeIntermediate(backend, parts);
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
