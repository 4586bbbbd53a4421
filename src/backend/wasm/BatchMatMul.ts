import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, disposeIntermediate, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';

/** A materialised transpose of the last two axes (a new heap tensor the caller disposes). */
export function transposeLastTwo(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const shape = x.shape;
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const batch = tf.util.sizeFromShape(shape.slice(0, -2));
  const out = backend.makeOutput([...shape.slice(0, -2), cols, rows], 'float32');
  simdKernels(backend).transpose(heapOffset(backend, x), heapOffset(backend, out), batch, rows, cols);
  return out;
}

/**
 * out[m, n] = a'[m, k]·b'[k, n] per batch element, a' = a or aᵀ, b' = b (bᵀ must be materialised first) on
 * mnext's SIMD GEMM: aᵀ is read in place through strides.
 */
export function matMulInto(backend: BackendWasm, a: TensorInfo, b: TensorInfo, out: TensorInfo, transposeA: boolean, batch: number): void {
  const [aRows, aCols] = a.shape.slice(-2);
  const [red, n] = b.shape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const kernels = simdKernels(backend);
  const aBase = heapOffset(backend, a);
  const bBase = heapOffset(backend, b);
  const outBase = heapOffset(backend, out);
  const aBatch = tf.util.sizeFromShape(a.shape.slice(0, -2)) === 1 ? 0 : aRows * aCols * 4;
  const bBatch = tf.util.sizeFromShape(b.shape.slice(0, -2)) === 1 ? 0 : red * n * 4;
  for (let i = 0; i < batch; i++) {
    kernels.gemm(aBase + i * aBatch, bBase + i * bBatch, outBase + i * m * n * 4, m, red, n, transposeA ? 1 : red, transposeA ? m : 1);
  }
}

/** Batch size of the product when the batch dims are equal or one side has none to broadcast; else undefined. */
function productBatch(a: TensorInfo, b: TensorInfo): number | undefined {
  const aBatch = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const bBatch = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (a.shape.length !== b.shape.length) return undefined;
  if (aBatch === bBatch || bBatch === 1) return aBatch;
  return aBatch === 1 ? bBatch : undefined;
}

/**
 * Float products run on mnext's SIMD GEMM: the shipped kernel takes a scalar loop with either transpose flag
 * (about 1.7 GFLOPS), and its XNNPACK path packs the right operand anew for every new weight tensor — every
 * training step — which cost 12 ms for the 1280x1000 classifier alone. aᵀ is read through strides; bᵀ is one
 * SIMD transpose pass.
 */
export function wrapBatchMatMul(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: { inputs: tf.BatchMatMulInputs; backend: BackendWasm; attrs: tf.BatchMatMulAttrs }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    const batch = productBatch(a, b);
    if (batch === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const plainB = attrs.transposeB ? transposeLastTwo(backend, b) : b;
    const m = a.shape[a.shape.length - (attrs.transposeA ? 1 : 2)];
    const n = plainB.shape[plainB.shape.length - 1];
    const wider = tf.util.sizeFromShape(b.shape.slice(0, -2)) > tf.util.sizeFromShape(a.shape.slice(0, -2)) ? b : a;
    const batchShape = wider.shape.slice(0, -2);
    const out = backend.makeOutput([...batchShape, m, n], 'float32');
    matMulInto(backend, a, plainB, out, attrs.transposeA, batch);
    if (plainB !== b) disposeIntermediate(backend, plainB);
    return out;
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
