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
 * tfjs-backend-wasm runs BatchMatMul through XNNPACK only without transpose flags (about 25 GFLOPS here); with
 * either flag it takes a scalar loop (about 1.7 GFLOPS), and every conv/linear gradient asks for one. This
 * wrapper materialises the transposed operand (one memory pass) and hands the plain product to the shipped
 * kernel.
 */
export function wrapBatchMatMul(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: { inputs: tf.BatchMatMulInputs; backend: BackendWasm; attrs: tf.BatchMatMulAttrs }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    if ((!attrs.transposeA && !attrs.transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const plainA = attrs.transposeA ? transposeLastTwo(backend, a) : a;
    const plainB = attrs.transposeB ? transposeLastTwo(backend, b) : b;
    const out = shipped.kernelFunc({
      inputs: { a: plainA, b: plainB }, backend, attrs: { transposeA: false, transposeB: false },
    } as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    if (plainA !== a) disposeIntermediate(backend, plainA);
    if (plainB !== b) disposeIntermediate(backend, plainB);
    return out;
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
