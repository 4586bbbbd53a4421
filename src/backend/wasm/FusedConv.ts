import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometryOf, gemmConv, wrapGemmConv } from './Conv2D.js';
import { depthwiseConvForward } from './DepthwiseConv2dNative.js';
import { type TensorInfo, disposeIntermediate, heapOffset, uploadF32 } from './heap.js';
import { isPointwise } from './patches.js';
import { simdKernels } from './simd/index.js';

/**
 * The inference graph's fused convs (BN folded into a bias, then ReLU6 or nothing) on mnext's kernels: the
 * 1x1 convs on its GEMM and the depthwise convs on its depthwise kernel, each followed by one in-place pass
 * for the bias and the clamp, all on mnext's threads. The shipped kernels run
 * XNNPACK, whose 128-bit kernels in tfjs-backend-wasm 4.22 predate relaxed SIMD's fused multiply-add (mnext's
 * GEMM: 1.25 vs 2.29 ms on a 16384x96x16 product with XNNPACK's weights packed beforehand,
 * scripts/bench-gemm.ts), and whose thread pool yields its cores once mnext's kernels run
 * (threads/pthread-node.ts). Other activations, PReLU weights and the
 * cases the plain kernels leave to XNNPACK keep the shipped kernel.
 */

interface FusedArgs<Attrs> {
  readonly inputs: { x: unknown; filter: unknown; bias?: unknown; preluActivationWeights?: unknown };
  readonly backend: BackendWasm;
  readonly attrs: Attrs;
}

function simpleActivation(args: FusedArgs<{ activation: tf.fused.Activation }>): boolean {
  return (args.attrs.activation === 'linear' || args.attrs.activation === 'relu6') && args.inputs.preluActivationWeights == null;
}

/** out = activation(out + bias) in place, per channel (the bias may be absent, the activation linear or ReLU6). */
function addBiasActivation(backend: BackendWasm, out: TensorInfo, bias: TensorInfo | undefined, activation: tf.fused.Activation): void {
  const relu6 = activation === 'relu6';
  if (bias === undefined && !relu6) return;
  const channels = out.shape[out.shape.length - 1];
  const rows = tf.util.sizeFromShape(out.shape) / channels;
  // y = x * 1 + b: the same value as x + b.
  const ones = uploadF32(backend, [channels], 1);
  const shift = bias ?? uploadF32(backend, [channels], 0);
  const at = heapOffset(backend, out);
  simdKernels(backend).channelAffine(at, at, rows, channels, heapOffset(backend, ones), heapOffset(backend, shift), relu6 ? 1 : 0);
  disposeIntermediate(backend, ones);
  if (bias === undefined) disposeIntermediate(backend, shift);
}

export function wrapFusedConv2D(shipped: tf.KernelConfig): tf.KernelConfig {
  return wrapGemmConv<tf.FusedConv2DInputs, tf.FusedConv2DAttrs>(shipped, (args) => {
    const { info, eligible } = convGeometryOf(args.inputs, args.attrs);
    // Only 1x1 convs: an inference graph's weights are constant, so XNNPACK packs the stem's 3x3 filter once,
    // and its direct kernel beats im2col + GEMM there (1.3 vs 1.9 ms at 224 px b1; training repacks every step).
    return { info, eligible: eligible && simpleActivation(args) && isPointwise(info) };
  }, ({ inputs, backend, attrs }, info) => {
    const out = gemmConv(backend, inputs.x as TensorInfo, inputs.filter as TensorInfo, info);
    addBiasActivation(backend, out, inputs.bias as TensorInfo | undefined, attrs.activation);
    return out;
  });
}

export function wrapFusedDepthwiseConv2D(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: FusedArgs<tf.FusedDepthwiseConv2DAttrs>): TensorInfo => {
    const out = simpleActivation(args) ? depthwiseConvForward(args.backend, args.inputs.x as TensorInfo, args.inputs.filter as TensorInfo, args.attrs) : undefined;
    if (out === undefined) return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    addBiasActivation(args.backend, out, args.inputs.bias as TensorInfo | undefined, args.attrs.activation);
    return out;
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
