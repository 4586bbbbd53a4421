import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { isPointwise } from './Conv2DBackpropFilter.js';
import { matMulInto, transposeLastTwo } from './BatchMatMul.js';
import { type TensorInfo, convGeometry, disposeIntermediate, viewAs } from './heap.js';

/**
 * The shipped wasm Conv2DBackpropInput is a direct scalar loop. For a 1x1 stride-1 unpadded conv, dx is the
 * GEMM dY · W^T over the N*H*W pixels (W^T is one small transpose), an order of magnitude faster on the SIMD GEMM;
 * every other geometry keeps the shipped kernel.
 */
export function wrapConv2DBackpropInput(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: { inputs: tf.Conv2DBackpropInputInputs; backend: BackendWasm; attrs: tf.Conv2DBackpropInputAttrs }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const dy = inputs.dy as TensorInfo;
    const filter = inputs.filter as TensorInfo;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    const info = convGeometry(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false);
    if (dataFormat === 'NCHW' || !isPointwise(info) || dy.dtype !== 'float32') {
      return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const rows = info.batchSize * info.inHeight * info.inWidth;
    const dy2 = viewAs(backend, dy, [rows, info.outChannels]);
    const w2 = viewAs(backend, filter, [info.inChannels, info.outChannels]);
    const wT = transposeLastTwo(backend, w2);
    const out = backend.makeOutput([...inputShape], 'float32');
    matMulInto(backend, dy2, wT, out, false, 1);
    for (const t of [dy2, w2, wT]) disposeIntermediate(backend, t);
    return out;
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
