import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, heapF32 } from './heap.js';

/**
 * dx[n, ih, iw, c] = sum over taps (fh, fw) and multipliers q of dy[n, oh, ow, c*m + q] * w[fh, fw, c, q], with
 * ih = oh*sh - top + fh. Written as a scatter from each dy pixel (at most kh*kw terms reach one dx element),
 * channels innermost so every inner loop walks contiguous memory.
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
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const outChannels = info.outChannels;
  const m = outChannels / inChannels;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const out = backend.makeOutput([...inputShape], 'float32');
  const dx = heapF32(backend, out);
  const dys = heapF32(backend, dy);
  const ws = heapF32(backend, filter);
  dx.fill(0);
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let fh = 0; fh < filterHeight; fh++) {
        const ih = oh * strideHeight - top + fh;
        if (ih < 0 || ih >= inHeight) continue;
        const xRow = (n * inHeight + ih) * inWidth;
        const dyRow = (n * outHeight + oh) * outWidth;
        for (let fw = 0; fw < filterWidth; fw++) {
          const wBase = (fh * filterWidth + fw) * outChannels;
          for (let ow = 0; ow < outWidth; ow++) {
            const iw = ow * strideWidth - left + fw;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = (xRow + iw) * inChannels;
            const dyBase = (dyRow + ow) * outChannels;
            if (m === 1) {
              for (let c = 0; c < inChannels; c++) dx[xBase + c] += dys[dyBase + c] * ws[wBase + c];
            } else {
              for (let c = 0; c < inChannels; c++) {
                let sum = 0;
                for (let q = 0; q < m; q++) sum += dys[dyBase + c * m + q] * ws[wBase + c * m + q];
                dx[xBase + c] += sum;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
