import * as tf from '@tensorflow/tfjs-core';
import { matMulInto, transposeLastTwo } from './BatchMatMul.js';
import { wrapGemmConv } from './Conv2D.js';
import { type TensorInfo, convGeometry, disposeIntermediate, viewAs } from './heap.js';
import { isPointwise } from './patches.js';

/**
 * The shipped wasm Conv2DBackpropInput is a direct scalar loop. For a 1x1 stride-1 unpadded conv, dx is the
 * GEMM dY · W^T over the N*H*W pixels (W^T is one small transpose), an order of magnitude faster on the SIMD GEMM;
 * every other geometry keeps the shipped kernel.
 */
export function wrapConv2DBackpropInput(shipped: tf.KernelConfig): tf.KernelConfig {
  return wrapGemmConv<tf.Conv2DBackpropInputInputs, tf.Conv2DBackpropInputAttrs>(shipped, ({ inputs, attrs }) => {
    const { strides, pad, dimRoundingMode, inputShape } = attrs;
    const info = convGeometry(inputShape, (inputs.filter as TensorInfo).shape, strides, 1, pad, dimRoundingMode, false);
    return { info, eligible: (inputs.dy as TensorInfo).dtype === 'float32' && isPointwise(info) };
  }, ({ inputs, backend, attrs }, info) => {
    const rows = info.batchSize * info.inHeight * info.inWidth;
    const dy2 = viewAs(backend, inputs.dy as TensorInfo, [rows, info.outChannels]);
    const w2 = viewAs(backend, inputs.filter as TensorInfo, [info.inChannels, info.outChannels]);
    const wT = transposeLastTwo(backend, w2);
    const out = backend.makeOutput([...attrs.inputShape], 'float32');
    matMulInto(backend, dy2, wT, out, false, 1);
    for (const t of [dy2, w2, wT]) disposeIntermediate(backend, t);
    return out;
  });
}
