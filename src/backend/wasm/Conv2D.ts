import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { matMulInto } from './BatchMatMul.js';
import { type Conv2DInfo, type TensorInfo, convGeometry, disposeIntermediate, isDilated, viewAs } from './heap.js';
import { patchMatrix } from './patches.js';

interface ConvArgs<Inputs, Attrs> {
  readonly inputs: Inputs;
  readonly backend: BackendWasm;
  readonly attrs: Attrs;
}

/**
 * A shipped conv kernel wrapped so that the NHWC float convs `geometry` finds eligible run `onGemm` on mnext's
 * SIMD GEMM (a MobileNet's work is nearly all 1x1 convs: GEMMs over the N*H*W pixels); every other case keeps
 * the shipped kernel. `geometry` reads the conv's shape from the kernel's own inputs and attributes.
 */
export function wrapGemmConv<Inputs, Attrs extends { readonly dataFormat: string }>(
  shipped: tf.KernelConfig,
  geometry: (args: ConvArgs<Inputs, Attrs>) => { readonly info: Conv2DInfo; readonly eligible: boolean },
  onGemm: (args: ConvArgs<Inputs, Attrs>, info: Conv2DInfo) => TensorInfo,
): tf.KernelConfig {
  const kernelFunc = (args: ConvArgs<Inputs, Attrs>): TensorInfo => {
    const { info, eligible } = geometry(args);
    if (args.attrs.dataFormat === 'NCHW' || !eligible) {
      return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    return onGemm(args, info);
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

/**
 * A conv as its patch matrix [N*OH*OW, KH*KW*Cin] · W[KH*KW*Cin, Cout] on mnext's GEMM, into a new output. A 1x1
 * stride-1 conv's patch matrix is x itself; any other's is built by im2col (./patches.ts).
 */
export function gemmConv(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const patch = info.filterHeight * info.filterWidth * info.inChannels;
  const patches = patchMatrix(backend, x, info);
  const a = viewAs(backend, patches, [info.batchSize * info.outHeight * info.outWidth, patch]);
  const w2 = viewAs(backend, filter, [patch, info.outChannels]);
  const out = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  matMulInto(backend, a, w2, out, false, 1);
  for (const t of [a, w2]) disposeIntermediate(backend, t);
  if (patches !== x) disposeIntermediate(backend, patches);
  return out;
}

/**
 * Conv2D on mnext's GEMM. The shipped kernel runs XNNPACK, which packs the filter whenever it sees a new filter
 * tensor — in training, every step (2.7 ms instead of 1.1 ms for a 960->160 conv at 2x2) — and runs on one
 * thread once mnext's kernels hold the cores (the stem's 3x3 conv at 224 px b16: 19 ms there, 11 ms as im2col
 * and the GEMM on two threads).
 */
export function wrapConv2D(shipped: tf.KernelConfig): tf.KernelConfig {
  return wrapGemmConv<tf.Conv2DInputs, tf.Conv2DAttrs>(shipped, ({ inputs, attrs }) => convGeometryOf(inputs, attrs),
    ({ inputs, backend }, info) => gemmConv(backend, inputs.x as TensorInfo, inputs.filter as TensorInfo, info));
}
