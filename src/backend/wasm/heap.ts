import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Helpers for kernels that work directly on the wasm backend's heap. Kernels never call tf ops (that would
 * re-enter the engine mid-kernel and corrupt its bookkeeping); they allocate outputs with `makeOutput`, read
 * and write Float32Array views of the heap, and may call sibling wasm kernel functions the way tfjs's own
 * wasm kernels do (disposing every intermediate through the backend).
 */

export type TensorInfo = tf.TensorInfo;

function assertFloat32(info: TensorInfo): void {
  if (info.dtype !== 'float32') throw new Error(`wasm training kernels take float32 tensors, got ${info.dtype}`);
}

/**
 * A Float32Array view of a tensor on the heap. Take views only after the last `makeOutput` of the kernel:
 * a heap growth detaches older views.
 */
export function heapF32(backend: BackendWasm, info: TensorInfo): Float32Array {
  assertFloat32(info);
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Bytes per float32: mnext's kernels take heap pointers as byte offsets. */
export const F32_BYTES = 4;

/**
 * A tensor's byte offset in the heap: the pointer mnext's SIMD kernels (./simd) take. Read from the backend's
 * bookkeeping rather than off a heap view: a training step asks for a few thousand, and each view is an
 * object for the garbage collector, whose pauses no thread shares.
 */
export function heapOffset(backend: BackendWasm, info: TensorInfo): number {
  assertFloat32(info);
  return (backend.dataIdMap.get(info.dataId) as unknown as { memoryOffset: number }).memoryOffset;
}

/** Calls another kernel registered for wasm (e.g. BatchMatMul) on heap tensors, as tfjs's own kernels do. */
export function runWasmKernel(
  backend: BackendWasm, kernelName: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>,
): TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`wasm kernel ${kernelName} is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
}

/**
 * A new float32 heap tensor of `shape` holding `values` (rounded to float32 once, as the heap stores them), or
 * filled with one number.
 */
export function uploadF32(backend: BackendWasm, shape: readonly number[], values: ArrayLike<number> | number): TensorInfo {
  const out = backend.makeOutput([...shape], 'float32');
  if (typeof values === 'number') heapF32(backend, out).fill(values);
  else heapF32(backend, out).set(values);
  return out;
}

export function disposeIntermediate(backend: BackendWasm, info: TensorInfo): void {
  backend.disposeData(info.dataId);
}

/** Shape-only TensorInfo sharing the same heap data (a reshape without a copy). */
export function viewAs(backend: BackendWasm, info: TensorInfo, shape: number[]): TensorInfo {
  return runWasmKernel(backend, 'Reshape', { x: info }, { shape });
}

export type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Whether a conv's `dilations` attribute dilates at all (mnext's conv kernels take dilation 1 only). */
export function isDilated(dilations: number | readonly number[]): boolean {
  return (typeof dilations === 'number' ? [dilations] : dilations).some((d) => d !== 1);
}

/** NHWC conv geometry from the kernel attributes (explicit [[0,0],[t,b],[l,r],[0,0]], 'same', 'valid', number). */
export function convGeometry(
  inShape: readonly number[], filterShape: readonly number[], strides: number | [number, number],
  dilations: number | [number, number], pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined, depthwise: boolean,
): Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number], filterShape as [number, number, number, number], strides, dilations, pad,
    dimRoundingMode, depthwise, 'channelsLast',
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error('wasm training kernels support dilation 1 only');
  }
  return info;
}
