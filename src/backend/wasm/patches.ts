import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type Conv2DInfo, type TensorInfo, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';

/** True when x itself is the patch matrix: a 1x1, stride-1, unpadded conv (the bulk of MobileNeXt). */
export function isPointwise(info: Conv2DInfo): boolean {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return filterHeight === 1 && filterWidth === 1 && strideHeight === 1 && strideWidth === 1 &&
    padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0;
}

/**
 * A conv's patch matrix [N*OH*OW, KH*KW*Cin] (taps in HWI order, zeros over the padding: kernels.c's `im2col`),
 * so that the conv is a GEMM with its HWIO filter viewed as [KH*KW*Cin, Cout]. A pointwise conv's is x itself;
 * any other is a new tensor the caller disposes.
 */
export function patchMatrix(backend: BackendWasm, x: TensorInfo, info: Conv2DInfo): TensorInfo {
  if (isPointwise(info)) return x;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const patches = backend.makeOutput([rows, info.filterHeight * info.filterWidth * info.inChannels], 'float32');
  simdKernels(backend).im2col(
    heapOffset(backend, x), heapOffset(backend, patches), info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.padInfo.top, info.padInfo.left,
  );
  return patches;
}
