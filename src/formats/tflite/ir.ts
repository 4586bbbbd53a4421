import type { BuiltinName, TensorTypeName } from './schema.js';

/**
 * The TFLite graph before serialisation: tensors and operators as plain data. Lowering builds it in float32,
 * quantisation rewrites it to int8, and serialisation writes whichever it is given — so the two model kinds
 * share one writer and one lowering.
 */

export interface Quantization {
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  /** Axis the per-channel scales run along (0 for conv/FC filters, 3 for depthwise). */
  readonly dimension?: number;
  /** Calibrated range, recorded for tools that import the file back. */
  readonly min?: readonly number[];
  readonly max?: readonly number[];
}

export interface TfliteTensor {
  readonly name: string;
  readonly shape: readonly number[];
  type: TensorTypeName;
  /** Constant data, little-endian; absent for activations. */
  data?: Uint8Array;
  quant?: Quantization;
  /** The model-description node whose output this tensor holds (calibration ranges are keyed by it). */
  readonly source?: string;
}

export type OpOptions =
  | { readonly kind: 'conv2d'; readonly padding: 'SAME' | 'VALID'; readonly stride: number; readonly activation: 'NONE' | 'RELU6' }
  | { readonly kind: 'depthwise'; readonly padding: 'SAME' | 'VALID'; readonly stride: number; readonly activation: 'NONE' | 'RELU6' }
  | { readonly kind: 'fullyConnected' }
  | { readonly kind: 'softmax'; readonly beta: number }
  | { readonly kind: 'concatenation'; readonly axis: number }
  | { readonly kind: 'add' | 'mul' }
  | { readonly kind: 'reshape'; readonly newShape: readonly number[] }
  | { readonly kind: 'reducer'; readonly keepDims: boolean }
  | { readonly kind: 'split'; readonly numSplits: number };

export interface TfliteOp {
  readonly op: BuiltinName;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly options?: OpOptions;
  /** Operator version (what the kernels must support); 1 unless quantisation raises it. */
  version: number;
}

export class TfliteGraph {
  readonly tensors: TfliteTensor[] = [];
  readonly ops: TfliteOp[] = [];
  inputs: number[] = [];
  outputs: number[] = [];

  addTensor(tensor: TfliteTensor): number {
    this.tensors.push(tensor);
    return this.tensors.length - 1;
  }

  activation(name: string, shape: readonly number[], source?: string): number {
    return this.addTensor({ name, shape, type: 'FLOAT32', source });
  }

  constFloat(name: string, shape: readonly number[], values: Float32Array): number {
    return this.addTensor({ name, shape, type: 'FLOAT32', data: bytesOf(values) });
  }

  constInt32(name: string, shape: readonly number[], values: readonly number[]): number {
    return this.addTensor({ name, shape, type: 'INT32', data: bytesOf(Int32Array.from(values)) });
  }

  addOp(op: BuiltinName, inputs: readonly number[], outputs: readonly number[], options?: OpOptions): void {
    this.ops.push({ op, inputs, outputs, options, version: 1 });
  }

  /** Float32 view of a constant tensor's data (weights being quantised). */
  floatData(index: number): Float32Array {
    const data = this.tensors[index].data;
    if (!data || this.tensors[index].type !== 'FLOAT32') throw new Error(`tensor ${this.tensors[index].name} holds no float32 constant`);
    return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }
}

/** Little-endian bytes of a typed array (every platform Node runs on is little-endian, as TFLite assumes). */
export function bytesOf(values: Float32Array | Int32Array | Int8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
