import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type TensorInfo, heapOffset } from './heap.js';
import { simdKernels } from './simd/index.js';

/**
 * One torch.optim.SGD momentum step for one parameter as a single kernel (not a tfjs op; the optimiser runs it
 * when the backend registers it, else composes tf ops): inputs param, grad, buffer; attrs lr, momentum, decay,
 * nesterov; outputs [param', buffer']. The composed form is six full passes and as many kernels per parameter,
 * ~8% of a MobileNeXt training step on wasm; this is one pass.
 */
export const SGD_MOMENTUM = 'MnextSgdMomentum';

export interface SgdMomentumAttrs {
  readonly lr: number;
  readonly momentum: number;
  readonly decay: number;
  readonly nesterov: boolean;
}

function sgdMomentum({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: SgdMomentumAttrs }): TensorInfo[] {
  const { param, grad, buffer } = inputs;
  const nextParam = backend.makeOutput([...param.shape], 'float32');
  const nextBuffer = backend.makeOutput([...param.shape], 'float32');
  simdKernels(backend).sgdMomentum(
    heapOffset(backend, param), heapOffset(backend, grad), heapOffset(backend, buffer), heapOffset(backend, nextParam),
    heapOffset(backend, nextBuffer), tf.util.sizeFromShape(param.shape), attrs.lr, attrs.momentum, attrs.decay, attrs.nesterov ? 1 : 0,
  );
  return [nextParam, nextBuffer];
}

export const sgdMomentumConfig: tf.KernelConfig = {
  kernelName: SGD_MOMENTUM,
  backendName: 'wasm',
  kernelFunc: sgdMomentum as unknown as tf.KernelFunc,
};
