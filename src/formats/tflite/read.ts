import { TableReader } from './flatbuffer.js';
import { Builtin, type BuiltinName, ModelSlot, OperatorCodeSlot, OperatorSlot, SubGraphSlot, TFLITE_IDENTIFIER, TensorSlot } from './schema.js';

/** Structure read back from a .tflite: what runners need to feed it and what tests check about its graph. */

function mainSubgraph(file: Uint8Array): { model: TableReader; subgraph: TableReader } {
  const model = TableReader.root(file);
  if (model.bb.getBufferIdentifier() !== TFLITE_IDENTIFIER) throw new Error(`not a TFLite file (identifier '${model.bb.getBufferIdentifier()}')`);
  const subgraph = model.tables(ModelSlot.subgraphs)[0];
  if (!subgraph) throw new Error('the .tflite file has no subgraph');
  return { model, subgraph };
}

export interface TensorShapeInfo {
  readonly shape: number[];
  /** TensorType number (0 float32, 9 int8). */
  readonly type: number;
}

/** Input and output tensors of the first subgraph. */
export function readTfliteShapes(file: Uint8Array): { input: TensorShapeInfo; output: TensorShapeInfo } {
  const { subgraph } = mainSubgraph(file);
  const tensors = subgraph.tables(SubGraphSlot.tensors);
  const info = (index: number | undefined): TensorShapeInfo => {
    const t = index === undefined ? undefined : tensors[index];
    return { shape: t?.int32s(TensorSlot.shape) ?? [], type: t?.int8(TensorSlot.type) ?? -1 };
  };
  return { input: info(subgraph.int32s(SubGraphSlot.inputs)[0]), output: info(subgraph.int32s(SubGraphSlot.outputs)[0]) };
}

const OP_NAMES = new Map<number, string>(Object.entries(Builtin).map(([name, { code }]) => [code, name]));

/** Builtin operator names in execution order (codes mnext does not write show as `BUILTIN_<code>`). */
export function readTfliteOps(file: Uint8Array): (BuiltinName | string)[] {
  const { model, subgraph } = mainSubgraph(file);
  const codes = model.tables(ModelSlot.operatorCodes).map((c) => Math.max(c.int32(OperatorCodeSlot.builtinCode), c.int8(OperatorCodeSlot.deprecatedBuiltinCode)));
  return subgraph.tables(SubGraphSlot.operators).map((op) => {
    const code = codes[op.uint32(OperatorSlot.opcodeIndex)];
    return OP_NAMES.get(code) ?? `BUILTIN_${code}`;
  });
}

/** Byte length of every model buffer (buffer 0 must be empty). */
export function readTfliteBufferSizes(file: Uint8Array): number[] {
  return TableReader.root(file).tables(ModelSlot.buffers).map((b) => b.length(0));
}
