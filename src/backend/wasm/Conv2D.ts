import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { matMulInto } from './BatchMatMul.js';
import { isPointwise } from './Conv2DBackpropFilter.js';
import { type Conv2DInfo, type TensorInfo, convGeometry, disposeIntermediate, isDilated, viewAs } from './heap.js';

interface ConvArgs<Inputs, Attrs> {
  readonly inputs: Inputs;
  readonly backend: BackendWasm;
  readonly attrs: Attrs;
}

/**
 * A shipped conv kernel wrapped so that 1x1 stride-1 unpadded NHWC float convs — GEMMs over the N*H*W pixels,
 * most of a MobileNet's work — run `pointwise` on mnext's SIMD GEMM; every other case keeps the shipped kernel.
 * `geometry` reads the conv's shape from the kernel's own inputs and attributes, and whether the dtype (and
 * dilation) allow the GEMM at all.
 */
export function wrapPointwiseConv<Inputs, Attrs extends { readonly dataFormat: string }>(
  shipped: tf.KernelConfig,
  geometry: (args: ConvArgs<Inputs, Attrs>) => { readonly info: Conv2DInfo; readonly eligible: boolean },
  pointwise: (args: ConvArgs<Inputs, Attrs>, info: Conv2DInfo) => TensorInfo,
): tf.KernelConfig {
  const kernelFunc = (args: ConvArgs<Inputs, Attrs>): TensorInfo => {
    const { info, eligible } = geometry(args);
    if (args.attrs.dataFormat === 'NCHW' || !eligible || !isPointwise(info)) {
      return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    return pointwise(args, info);
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/** Whether a Conv2D-style kernel's input and attributes allow mnext's GEMM (float NHWC, no dilation), and its geometry. */
export function convGeometryOf(inputs: { x: unknown; filter: unknown }, attrs: tf.Conv2DAttrs): { info: Conv2DInfo; eligible: boolean } {
  const x = inputs.x as TensorInfo;
  const { strides, pad, dilations, dimRoundingMode } = attrs;
  const info = convGeometry(x.shape, (inputs.filter as TensorInfo).shape, strides, 1, pad, dimRoundingMode, false);
  return { info, eligible: x.dtype === 'float32' && !isDilated(dilations) };
}

/** A 1x1 stride-1 conv as x[N*H*W, Cin] · W[Cin, Cout] on mnext's GEMM, into a new output. */
export function pointwiseConv(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const rows = info.batchSize * info.inHeight * info.inWidth;
  const x2 = viewAs(backend, x, [rows, info.inChannels]);
  const w2 = viewAs(backend, filter, [info.inChannels, info.outChannels]);
  const out = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  matMulInto(backend, x2, w2, out, false, 1);
  for (const t of [x2, w2]) disposeIntermediate(backend, t);
  return out;
}

/**
 * Conv2D: x[N*H*W, Cin] · W[Cin, Cout]. The shipped kernel runs XNNPACK, which packs the filter whenever it
 * sees a new filter tensor — in training, every step (2.7 ms instead of 1.1 ms for a 960->160 conv at 2x2);
 * the SIMD GEMM reads the filter as it is and is no slower on the big spatial layers.
 */
export function wrapConv2D(shipped: tf.KernelConfig): tf.KernelConfig {
  return wrapPointwiseConv<tf.Conv2DInputs, tf.Conv2DAttrs>(shipped, ({ inputs, attrs }) => convGeometryOf(inputs, attrs),
    ({ inputs, backend }, info) => pointwiseConv(backend, inputs.x as TensorInfo, inputs.filter as TensorInfo, info));
}
