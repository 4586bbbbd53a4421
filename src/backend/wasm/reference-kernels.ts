import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type Conv2DInfo, type TensorInfo, convGeometry, heapF32, uploadF32 } from './heap.js';

/**
 * Plain loops for the training kernels mnext adds to the wasm backend that tfjs-backend-wasm has no version of:
 * the depthwise input and filter gradients and the conv filter gradient. They are what the training-parity
 * harness switches to when one of those fast paths is off (fast-paths.ts), so a drift that follows mnext's SIMD
 * kernels shows up with the kernels alone changed. They sum in float64 and round once, as tfjs's cpu backend
 * does, and are written from the definitions, not from the SIMD code.
 */

type GradArgs<I, A> = { inputs: I; backend: BackendWasm; attrs: A };

/** Calls visit(n, oh, ow, fh, fw, ih, iw) for every output pixel and filter tap that reads an input pixel. */
function forEachTap(info: Conv2DInfo, visit: (n: number, oh: number, ow: number, fh: number, fw: number, ih: number, iw: number) => void): void {
  for (let n = 0; n < info.batchSize; n += 1) {
    for (let oh = 0; oh < info.outHeight; oh += 1) {
      for (let ow = 0; ow < info.outWidth; ow += 1) {
        for (let fh = 0; fh < info.filterHeight; fh += 1) {
          const ih = oh * info.strideHeight - info.padInfo.top + fh;
          if (ih < 0 || ih >= info.inHeight) continue;
          for (let fw = 0; fw < info.filterWidth; fw += 1) {
            const iw = ow * info.strideWidth - info.padInfo.left + fw;
            if (iw >= 0 && iw < info.inWidth) visit(n, oh, ow, fh, fw, ih, iw);
          }
        }
      }
    }
  }
}

const inputIndex = (info: Conv2DInfo, n: number, ih: number, iw: number) => ((n * info.inHeight + ih) * info.inWidth + iw) * info.inChannels;
const outputIndex = (info: Conv2DInfo, n: number, oh: number, ow: number) => ((n * info.outHeight + oh) * info.outWidth + ow) * info.outChannels;

/** dW[fh, fw, c, q] = Σ x[n, ih, iw, c] · dy[n, oh, ow, c·m + q]. */
function depthwiseFilterGrad({ inputs, backend, attrs }: GradArgs<tf.DepthwiseConv2dNativeBackpropFilterInputs, tf.DepthwiseConv2dNativeBackpropFilterAttrs>): TensorInfo {
  const info = convGeometry((inputs.x as TensorInfo).shape, attrs.filterShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  const x = heapF32(backend, inputs.x as TensorInfo);
  const dy = heapF32(backend, inputs.dy as TensorInfo);
  const m = info.outChannels / info.inChannels;
  const sums = new Float64Array(info.filterHeight * info.filterWidth * info.outChannels);
  forEachTap(info, (n, oh, ow, fh, fw, ih, iw) => {
    const xi = inputIndex(info, n, ih, iw);
    const dyi = outputIndex(info, n, oh, ow);
    const wi = (fh * info.filterWidth + fw) * info.outChannels;
    for (let c = 0; c < info.inChannels; c += 1) {
      for (let q = 0; q < m; q += 1) sums[wi + c * m + q] += x[xi + c] * dy[dyi + c * m + q];
    }
  });
  return uploadF32(backend, [...attrs.filterShape], sums);
}

/** dx[n, ih, iw, c] = Σ dy[n, oh, ow, c·m + q] · W[fh, fw, c, q]. */
function depthwiseInputGrad({ inputs, backend, attrs }: GradArgs<tf.DepthwiseConv2dNativeBackpropInputInputs, tf.DepthwiseConv2dNativeBackpropInputAttrs>): TensorInfo {
  const info = convGeometry(attrs.inputShape, (inputs.filter as TensorInfo).shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  const dy = heapF32(backend, inputs.dy as TensorInfo);
  const w = heapF32(backend, inputs.filter as TensorInfo);
  const m = info.outChannels / info.inChannels;
  const sums = new Float64Array(tf.util.sizeFromShape(attrs.inputShape));
  forEachTap(info, (n, oh, ow, fh, fw, ih, iw) => {
    const xi = inputIndex(info, n, ih, iw);
    const dyi = outputIndex(info, n, oh, ow);
    const wi = (fh * info.filterWidth + fw) * info.outChannels;
    for (let c = 0; c < info.inChannels; c += 1) {
      for (let q = 0; q < m; q += 1) sums[xi + c] += dy[dyi + c * m + q] * w[wi + c * m + q];
    }
  });
  return uploadF32(backend, [...attrs.inputShape], sums);
}

/** dW[fh, fw, ci, co] = Σ x[n, ih, iw, ci] · dy[n, oh, ow, co]. */
function conv2DFilterGrad({ inputs, backend, attrs }: GradArgs<tf.Conv2DBackpropFilterInputs, tf.Conv2DBackpropFilterAttrs>): TensorInfo {
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
  const info = convGeometry((inputs.x as TensorInfo).shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false);
  const x = heapF32(backend, inputs.x as TensorInfo);
  const dy = heapF32(backend, inputs.dy as TensorInfo);
  const sums = new Float64Array(tf.util.sizeFromShape(attrs.filterShape));
  forEachTap(info, (n, oh, ow, fh, fw, ih, iw) => {
    const xi = inputIndex(info, n, ih, iw);
    const dyi = outputIndex(info, n, oh, ow);
    for (let ci = 0; ci < info.inChannels; ci += 1) {
      const wi = ((fh * info.filterWidth + fw) * info.inChannels + ci) * info.outChannels;
      const xv = x[xi + ci];
      for (let co = 0; co < info.outChannels; co += 1) sums[wi + co] += xv * dy[dyi + co];
    }
  });
  return uploadF32(backend, [...attrs.filterShape], sums);
}

const config = (kernelName: string, kernelFunc: unknown): tf.KernelConfig => ({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });

export const REFERENCE_KERNELS: ReadonlyMap<string, tf.KernelConfig> = new Map([
  config(tf.DepthwiseConv2dNativeBackpropFilter, depthwiseFilterGrad),
  config(tf.DepthwiseConv2dNativeBackpropInput, depthwiseInputGrad),
  config(tf.Conv2DBackpropFilter, conv2DFilterGrad),
].map((c) => [c.kernelName, c]));
