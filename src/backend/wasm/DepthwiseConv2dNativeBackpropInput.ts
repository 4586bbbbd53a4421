import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type Conv2DInfo, type TensorInfo, convGeometry, disposeIntermediate, heapF32, runWasmKernel } from './heap.js';

/**
 * With one filter per channel, dx is a forward depthwise conv: dy (zero-inserted between pixels at stride s)
 * padded by k − 1 − pad, convolved at stride 1 with the filter rotated 180°. That runs on the backend's own
 * XNNPACK DepthwiseConv2dNative (SIMD) instead of a JS loop. Returns undefined for geometries whose implied
 * padding would be negative (pad > k − 1 or rows the conv never read); the loop handles those.
 */
function asForwardConv(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo | undefined {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const spreadH = (outHeight - 1) * strideHeight + 1;
  const spreadW = (outWidth - 1) * strideWidth + 1;
  const top = filterHeight - 1 - info.padInfo.top;
  const left = filterWidth - 1 - info.padInfo.left;
  const bottom = inHeight - spreadH + info.padInfo.top;
  const right = inWidth - spreadW + info.padInfo.left;
  if (Math.min(top, left, bottom, right) < 0) return undefined;

  const rotated = backend.makeOutput([filterHeight, filterWidth, inChannels, 1], 'float32');
  const spread = strideHeight === 1 && strideWidth === 1 ? dy : backend.makeOutput([batchSize, spreadH, spreadW, inChannels], 'float32');
  const w = heapF32(backend, filter);
  const wr = heapF32(backend, rotated);
  const taps = filterHeight * filterWidth;
  for (let t = 0; t < taps; t++) wr.set(w.subarray((taps - 1 - t) * inChannels, (taps - t) * inChannels), t * inChannels);
  if (spread !== dy) {
    const src = heapF32(backend, dy);
    const dst = heapF32(backend, spread);
    dst.fill(0);
    for (let n = 0; n < batchSize; n++) {
      for (let oh = 0; oh < outHeight; oh++) {
        for (let ow = 0; ow < outWidth; ow++) {
          const from = ((n * outHeight + oh) * outWidth + ow) * inChannels;
          const to = ((n * spreadH + oh * strideHeight) * spreadW + ow * strideWidth) * inChannels;
          dst.set(src.subarray(from, from + inChannels), to);
        }
      }
    }
  }
  const out = runWasmKernel(backend, tf.DepthwiseConv2dNative, { x: spread, filter: rotated }, {
    strides: [1, 1], dilations: [1, 1], pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
  });
  disposeIntermediate(backend, rotated);
  if (spread !== dy) disposeIntermediate(backend, spread);
  return out;
}

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

  if (m === 1) {
    const fast = asForwardConv(backend, dy, filter, info);
    if (fast) return fast;
  }
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
