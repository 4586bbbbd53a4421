import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, convGeometry, heapOffset, isDilated } from './heap.js';
import { simdKernels } from './simd/index.js';

interface DepthwiseArgs {
  readonly inputs: tf.DepthwiseConv2dNativeInputs;
  readonly backend: BackendWasm;
  readonly attrs: tf.DepthwiseConv2dNativeAttrs;
}

/**
 * The depthwise conv forward on mnext's kernel (kernels.c: `depthwise_conv`) for float NHWC input, dilation 1
 * and multiplier 1 (every MobileNet-style network); other cases keep the shipped kernel. The shipped one runs
 * XNNPACK, which creates and packs an operator for each new filter tensor (in training, every step), and it
 * runs on XNNPACK's thread pool, which mnext's kernel pool cannot share (threads/pthread-node.ts); this one
 * splits its output rows across mnext's pool, so a training step computes the same on any thread count.
 */
export function wrapDepthwiseConv2dNative(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: DepthwiseArgs): TensorInfo =>
    depthwiseConvForward(args.backend, args.inputs.x as TensorInfo, args.inputs.filter as TensorInfo, args.attrs)
    ?? (shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo);
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/** mnext's depthwise conv into a new output, or undefined where it does not apply (the shipped kernel's cases). */
export function depthwiseConvForward(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, attrs: tf.DepthwiseConv2dNativeAttrs): TensorInfo | undefined {
  const { strides, pad, dilations, dimRoundingMode, dataFormat } = attrs;
  if (dataFormat === 'NCHW' || isDilated(dilations) || x.dtype !== 'float32' || filter.shape[3] !== 1) return undefined;
  const info = convGeometry(x.shape, filter.shape, strides, 1, pad, dimRoundingMode, true);
  const out = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  simdKernels(backend).depthwiseConv(
    heapOffset(backend, x), heapOffset(backend, filter), heapOffset(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  );
  return out;
}
