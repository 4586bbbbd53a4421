import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TensorInfo } from './heap.js';

/**
 * The shipped wasm Identity copies the whole tensor; `tf.clone` and every tensor a customGrad unit saves for
 * its backward pass go through it (about 700 copies per MobileNeXt training step). Tensors are immutable and
 * variables swap their data on assign, so the output can share the input's heap data with one more reference,
 * as the cpu backend's Identity does. Strings keep the shipped kernel.
 */
export function wrapIdentity(shipped: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: { inputs: tf.IdentityInputs; backend: BackendWasm }): TensorInfo => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return shipped.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
  return { ...shipped, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
