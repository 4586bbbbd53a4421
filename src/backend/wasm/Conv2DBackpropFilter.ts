import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { transposeLastTwo } from './BatchMatMul.js';
import { type Conv2DInfo, type TensorInfo, convGeometry, disposeIntermediate, heapF32, runWasmKernel, viewAs } from './heap.js';

/** True when x itself is the patch matrix: a 1x1, stride-1, unpadded conv (the bulk of MobileNeXt). */
export function isPointwise(info: Conv2DInfo): boolean {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return filterHeight === 1 && filterWidth === 1 && strideHeight === 1 && strideWidth === 1 &&
    padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0;
}

/**
 * Patch matrix [N*OH*OW, kh*kw*Cin]: row r holds the receptive field of output pixel r, taps in HWI order
 * (so the GEMM result reshapes straight to an HWIO filter), zeros where the field hangs over the padding.
 */
function im2col(backend: BackendWasm, x: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const patch = filterHeight * filterWidth * inChannels;
  const cols = backend.makeOutput([batchSize * outHeight * outWidth, patch], 'float32');
  const dst = heapF32(backend, cols);
  const src = heapF32(backend, x);
  let row = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++, row++) {
        for (let fh = 0; fh < filterHeight; fh++) {
          const ih = oh * strideHeight - info.padInfo.top + fh;
          for (let fw = 0; fw < filterWidth; fw++) {
            const iw = ow * strideWidth - info.padInfo.left + fw;
            const at = row * patch + (fh * filterWidth + fw) * inChannels;
            if (ih < 0 || ih >= inHeight || iw < 0 || iw >= inWidth) {
              dst.fill(0, at, at + inChannels);
            } else {
              const from = ((n * inHeight + ih) * inWidth + iw) * inChannels;
              dst.set(src.subarray(from, from + inChannels), at);
            }
          }
        }
      }
    }
  }
  return cols;
}

/**
 * patches^T · dY as [1, K, Cout]. The GEMM needs one operand transposed in memory; transposing the narrower
 * of the two tall matrices (and then the small K x Cout result when that was dY) moves the fewest bytes.
 */
function patchGemm(backend: BackendWasm, cols: TensorInfo, dy3: TensorInfo): TensorInfo {
  const [, , patch] = cols.shape;
  const [, , outChannels] = dy3.shape;
  if (patch <= outChannels) return runWasmKernel(backend, 'BatchMatMul', { a: cols, b: dy3 }, { transposeA: true, transposeB: false });
  const transposed = runWasmKernel(backend, 'BatchMatMul', { a: dy3, b: cols }, { transposeA: true, transposeB: false });
  const product = transposeLastTwo(backend, transposed);
  disposeIntermediate(backend, transposed);
  return product;
}

/**
 * dW = patches^T · dY over the N*OH*OW output pixels, on the backend's own GEMM (BatchMatMul); a 1x1 stride-1
 * conv needs no patch matrix at all.
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
  const patches = isPointwise(info) ? x : im2col(backend, x, info);
  const cols = viewAs(backend, patches, [1, rows, patch]);
  const dy3 = viewAs(backend, dy, [1, rows, info.outChannels]);
  const product = patchGemm(backend, cols, dy3);
  const out = viewAs(backend, product, [...filterShape]);
  for (const t of [cols, dy3, product]) disposeIntermediate(backend, t);
  if (patches !== x) disposeIntermediate(backend, patches);
  return out;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
