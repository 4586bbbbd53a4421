import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';

/**
 * dW[fh, fw, c, q] = sum over (n, oh, ow) of x[n, oh*sh - top + fh, ow*sw - left + fw, c] * dy[n, oh, ow, c*m + q],
 * any stride, padding and depth multiplier, as one SIMD pass over dy (kernels.c: `depthwise_filter_grad`).
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
  simdKernels(backend).depthwiseFilterGrad(
    heapOffset(backend, x), heapOffset(backend, dy), heapOffset(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outChannels / info.inChannels,
    info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.padInfo.top, info.padInfo.left,
  );
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
