import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, disposeIntermediate, heapF32 } from './heap.js';

const BLOCK = 32;

/** [batch, rows, cols] -> [batch, cols, rows] into `dst`, in cache-sized tiles. */
export function transposeInto(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  const plane = rows * cols;
  for (let b = 0; b < batch; b++) {
    const base = b * plane;
    for (let r0 = 0; r0 < rows; r0 += BLOCK) {
      const r1 = Math.min(rows, r0 + BLOCK);
      for (let c0 = 0; c0 < cols; c0 += BLOCK) {
        const c1 = Math.min(cols, c0 + BLOCK);
        for (let r = r0; r < r1; r++) {
          const from = base + r * cols;
          for (let c = c0; c < c1; c++) dst[base + c * rows + r] = src[from + c];
        }
      }
    }
  }
}

/** A materialised transpose of the last two axes (a new heap tensor the caller disposes). */
export function transposeLastTwo(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const shape = x.shape;
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const batch = tf.util.sizeFromShape(shape.slice(0, -2));
  const out = backend.makeOutput([...shape.slice(0, -2), cols, rows], 'float32');
  transposeInto(heapF32(backend, x), heapF32(backend, out), batch, rows, cols);
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
