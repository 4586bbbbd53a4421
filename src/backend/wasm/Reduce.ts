import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, heapF32 } from './heap.js';

/** The number of leading axes reduced when `axis` is exactly [0, 1, ..., k-1] with k < rank; else 0. */
function leadingAxes(axis: number | number[], rank: number): number {
  const axes = tf.util.parseAxisParam(axis, new Array(rank).fill(1)).sort((p, q) => p - q);
  const leading = axes.every((a, i) => a === i) ? axes.length : 0;
  return leading < rank ? leading : 0;
}

/**
 * Sum or mean over the leading axes (per-channel statistics of an NHWC tensor: BN's moments and every
 * broadcast gradient's reduction). The shipped kernels transpose the channels to the front first; this walks
 * the rows once, accumulating in doubles.
 */
function reduceLeading(backend: BackendWasm, x: TensorInfo, leading: number, keepDims: boolean, mean: boolean): TensorInfo {
  const rows = tf.util.sizeFromShape(x.shape.slice(0, leading));
  const cols = tf.util.sizeFromShape(x.shape.slice(leading));
  const acc = new Float64Array(cols);
  const outShape = keepDims ? [...x.shape.map((d, i) => (i < leading ? 1 : d))] : x.shape.slice(leading);
  const out = backend.makeOutput(outShape, 'float32');
  const src = heapF32(backend, x);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) acc[c] += src[base + c];
  }
  if (mean) for (let c = 0; c < cols; c++) acc[c] /= rows;
  heapF32(backend, out).set(acc);
  return out;
}

function wrapReduction(mean: boolean): (shipped: tf.KernelConfig) => tf.KernelConfig {
  return (shipped) => {
    const kernelFunc = (args: { inputs: tf.SumInputs; backend: BackendWasm; attrs: tf.SumAttrs }): TensorInfo => {
      const { inputs, backend, attrs } = args;
      const x = inputs.x as TensorInfo;
      const leading = x.dtype === 'float32' ? leadingAxes(attrs.axis, x.shape.length) : 0;
      if (leading === 0) return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
      return reduceLeading(backend, x, leading, attrs.keepDims, mean);
    };
    return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
  };
}

export const wrapSum = wrapReduction(false);
export const wrapMean = wrapReduction(true);
