import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, heapF32 } from './heap.js';

/**
 * dW[fh, fw, c, q] = sum over (n, oh, ow) of x[n, oh*sh - top + fh, ow*sw - left + fw, c] * dy[n, oh, ow, c*m + q].
 * One pass over dy per filter tap, channels innermost (contiguous in NHWC), accumulated in doubles so long
 * batch sums stay within float tolerance of the cpu backend.
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
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const m = info.outChannels / inChannels;
  const outChannels = info.outChannels;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const acc = new Float64Array(filterHeight * filterWidth * outChannels);
  const out = backend.makeOutput([...filterShape], 'float32');
  const xs = heapF32(backend, x);
  const dys = heapF32(backend, dy);
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let fh = 0; fh < filterHeight; fh++) {
        const ih = oh * strideHeight - top + fh;
        if (ih < 0 || ih >= inHeight) continue;
        const xRow = (n * inHeight + ih) * inWidth;
        const dyRow = (n * outHeight + oh) * outWidth;
        for (let fw = 0; fw < filterWidth; fw++) {
          const accBase = (fh * filterWidth + fw) * outChannels;
          for (let ow = 0; ow < outWidth; ow++) {
            const iw = ow * strideWidth - left + fw;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = (xRow + iw) * inChannels;
            const dyBase = (dyRow + ow) * outChannels;
            if (m === 1) {
              for (let c = 0; c < inChannels; c++) acc[accBase + c] += xs[xBase + c] * dys[dyBase + c];
            } else {
              for (let c = 0; c < inChannels; c++) {
                const xv = xs[xBase + c];
                for (let q = 0; q < m; q++) acc[accBase + c * m + q] += xv * dys[dyBase + c * m + q];
              }
            }
          }
        }
      }
    }
  }
  heapF32(backend, out).set(acc);
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
