import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { matMulInto } from './BatchMatMul.js';
import { isPointwise } from './Conv2DBackpropFilter.js';
import { type TensorInfo, convGeometry, disposeIntermediate, viewAs } from './heap.js';

/**
 * A 1x1 stride-1 unpadded conv (most of a MobileNet's work) is the GEMM x[N*H*W, Cin] · W[Cin, Cout]. The
 * shipped kernel runs it through XNNPACK, which packs the filter whenever it sees a new filter tensor — in
 * training, every step (2.7 ms instead of 1.1 ms for a 960->160 conv at 2x2); mnext's SIMD GEMM reads the
 * filter as it is and is no slower on the big spatial layers. Other geometries keep the shipped kernel.
 */
export function wrapConv2D(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: { inputs: tf.Conv2DInputs; backend: BackendWasm; attrs: tf.Conv2DAttrs }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x as TensorInfo;
    const filter = inputs.filter as TensorInfo;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
    const info = convGeometry(x.shape, filter.shape, strides, 1, pad, dimRoundingMode, false);
    const dilated = (typeof dilations === 'number' ? [dilations, dilations] : dilations).some((d) => d !== 1);
    if (dataFormat === 'NCHW' || dilated || !isPointwise(info) || x.dtype !== 'float32') {
      return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const rows = info.batchSize * info.inHeight * info.inWidth;
    const x2 = viewAs(backend, x, [rows, info.inChannels]);
    const w2 = viewAs(backend, filter, [info.inChannels, info.outChannels]);
    const out = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
    matMulInto(backend, x2, w2, out, false, 1);
    for (const t of [x2, w2]) disposeIntermediate(backend, t);
    return out;
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
