import type * as flatbuffers from 'flatbuffers';
import {
  type Offset, alignedByteVector, bool, float32, float32Vector, int32, int32Vector, int64Vector, int8, newBuilder, offset, offsetVector, table, uint32,
} from './flatbuffer.js';
import type { OpOptions, Quantization, TfliteGraph, TfliteOp, TfliteTensor } from './ir.js';
import {
  Activation, AddSlot, Builtin, type BuiltinName, BufferSlot, ConcatenationSlot, Conv2DSlot, DepthwiseSlot, FullyConnectedSlot, MetadataSlot,
  ModelSlot, MulSlot, OperatorCodeSlot, OperatorSlot, PLACEHOLDER_FOR_GREATER_OP_CODES, Padding, QuantizationSlot, ReducerSlot, ReshapeSlot,
  SignatureDefSlot, SoftmaxSlot, SplitSlot, SubGraphSlot, TFLITE_IDENTIFIER, TFLITE_SCHEMA_VERSION, TensorMapSlot, TensorSlot, TensorType,
} from './schema.js';

/** A named byte blob stored in Model.metadata (TFLITE_METADATA, min_runtime_version). */
export interface MetadataEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

export interface SerializeOptions {
  readonly description: string;
  readonly metadata: readonly MetadataEntry[];
  /** Names of the input and output tensors in the serving signature. */
  readonly inputName: string;
  readonly outputName: string;
}

function quantization(b: flatbuffers.Builder, q: Quantization): Offset {
  const min = q.min ? float32Vector(b, q.min) : undefined;
  const max = q.max ? float32Vector(b, q.max) : undefined;
  const scale = float32Vector(b, q.scale);
  const zeroPoint = int64Vector(b, q.zeroPoint);
  return table(b, [
    [QuantizationSlot.min, min === undefined ? undefined : offset(min)],
    [QuantizationSlot.max, max === undefined ? undefined : offset(max)],
    [QuantizationSlot.scale, offset(scale)],
    [QuantizationSlot.zeroPoint, offset(zeroPoint)],
    [QuantizationSlot.quantizedDimension, q.dimension === undefined ? undefined : int32(q.dimension)],
  ]);
}

function tensor(b: flatbuffers.Builder, t: TfliteTensor, buffer: number): Offset {
  const shape = int32Vector(b, t.shape);
  const name = b.createString(t.name);
  const quant = t.quant ? quantization(b, t.quant) : undefined;
  return table(b, [
    [TensorSlot.shape, offset(shape)],
    [TensorSlot.type, int8(TensorType[t.type])],
    [TensorSlot.buffer, uint32(buffer)],
    [TensorSlot.name, offset(name)],
    [TensorSlot.quantization, quant === undefined ? undefined : offset(quant)],
    [TensorSlot.hasRank, bool(true)],
  ]);
}

function padding(value: 'SAME' | 'VALID') {
  return int8(Padding[value]);
}

/** The BuiltinOptions table of one op; ops whose union member has no fields still get an (empty) table. */
function builtinOptions(b: flatbuffers.Builder, op: TfliteOp): Offset | undefined {
  if (Builtin[op.op].options === 0) return undefined;
  const o: OpOptions | undefined = op.options;
  if (o === undefined) return table(b, []);
  switch (o.kind) {
    case 'conv2d':
      return table(b, [
        [Conv2DSlot.padding, padding(o.padding)], [Conv2DSlot.strideW, int32(o.stride)], [Conv2DSlot.strideH, int32(o.stride)],
        [Conv2DSlot.activation, int8(Activation[o.activation])], [Conv2DSlot.dilationW, int32(1)], [Conv2DSlot.dilationH, int32(1)],
      ]);
    case 'depthwise':
      return table(b, [
        [DepthwiseSlot.padding, padding(o.padding)], [DepthwiseSlot.strideW, int32(o.stride)], [DepthwiseSlot.strideH, int32(o.stride)],
        [DepthwiseSlot.depthMultiplier, int32(1)], [DepthwiseSlot.activation, int8(Activation[o.activation])],
        [DepthwiseSlot.dilationW, int32(1)], [DepthwiseSlot.dilationH, int32(1)],
      ]);
    case 'fullyConnected':
      return table(b, [[FullyConnectedSlot.activation, int8(Activation.NONE)], [FullyConnectedSlot.weightsFormat, int8(0)], [FullyConnectedSlot.keepNumDims, bool(false)]]);
    case 'softmax':
      return table(b, [[SoftmaxSlot.beta, float32(o.beta)]]);
    case 'concatenation':
      return table(b, [[ConcatenationSlot.axis, int32(o.axis)], [ConcatenationSlot.activation, int8(Activation.NONE)]]);
    case 'add':
      return table(b, [[AddSlot.activation, int8(Activation.NONE)]]);
    case 'mul':
      return table(b, [[MulSlot.activation, int8(Activation.NONE)]]);
    case 'reshape':
      return table(b, [[ReshapeSlot.newShape, offset(int32Vector(b, o.newShape))]]);
    case 'reducer':
      return table(b, [[ReducerSlot.keepDims, bool(o.keepDims)]]);
    case 'split':
      return table(b, [[SplitSlot.numSplits, int32(o.numSplits)]]);
  }
}

function operator(b: flatbuffers.Builder, op: TfliteOp, opcodeIndex: number): Offset {
  const inputs = int32Vector(b, op.inputs);
  const outputs = int32Vector(b, op.outputs);
  const options = builtinOptions(b, op);
  return table(b, [
    [OperatorSlot.opcodeIndex, uint32(opcodeIndex)],
    [OperatorSlot.inputs, offset(inputs)],
    [OperatorSlot.outputs, offset(outputs)],
    [OperatorSlot.builtinOptionsType, options === undefined ? undefined : int8(Builtin[op.op].options)],
    [OperatorSlot.builtinOptions, options === undefined ? undefined : offset(options)],
  ]);
}

/** Both the byte-sized legacy code (old readers such as Arm NN's) and the int32 code (current readers). */
function operatorCode(b: flatbuffers.Builder, name: BuiltinName, version: number): Offset {
  const code = Builtin[name].code;
  return table(b, [
    [OperatorCodeSlot.deprecatedBuiltinCode, int8(Math.min(code, PLACEHOLDER_FOR_GREATER_OP_CODES))],
    [OperatorCodeSlot.version, int32(version)],
    [OperatorCodeSlot.builtinCode, int32(code)],
  ]);
}

function buffer(b: flatbuffers.Builder, data: Uint8Array | undefined): Offset {
  if (!data || data.length === 0) return table(b, []);
  const vector = alignedByteVector(b, data);
  return table(b, [[BufferSlot.data, offset(vector)]]);
}

function tensorMap(b: flatbuffers.Builder, name: string, index: number): Offset {
  const n = b.createString(name);
  return table(b, [[TensorMapSlot.name, offset(n)], [TensorMapSlot.tensorIndex, uint32(index)]]);
}

function signature(b: flatbuffers.Builder, g: TfliteGraph, options: SerializeOptions): Offset {
  const inputs = offsetVector(b, [tensorMap(b, options.inputName, g.inputs[0])]);
  const outputs = offsetVector(b, [tensorMap(b, options.outputName, g.outputs[0])]);
  const key = b.createString('serving_default');
  return table(b, [
    [SignatureDefSlot.inputs, offset(inputs)], [SignatureDefSlot.outputs, offset(outputs)],
    [SignatureDefSlot.signatureKey, offset(key)], [SignatureDefSlot.subgraphIndex, uint32(0)],
  ]);
}

/**
 * Writes the TFLite flatbuffer (`TFL3`): one subgraph, buffer 0 empty (the shared "no data" buffer every
 * activation points at), one buffer per constant tensor, then one per metadata entry.
 */
export function serializeTflite(g: TfliteGraph, options: SerializeOptions): Uint8Array {
  const weightBytes = g.tensors.reduce((n, t) => n + (t.data?.length ?? 0) + 16, 0);
  const b = newBuilder(weightBytes + 65536);

  // Built first, so the weight bytes sit at the end of the file (flatbuffers are written back to front).
  const bufferData: (Uint8Array | undefined)[] = [undefined];
  const tensorBuffers = g.tensors.map((t) => {
    if (!t.data) return 0;
    bufferData.push(t.data);
    return bufferData.length - 1;
  });
  const metadataBuffers = options.metadata.map((m) => {
    bufferData.push(m.data);
    return bufferData.length - 1;
  });
  const buffers = bufferData.map((data) => buffer(b, data));

  const codes: string[] = [];
  const codeIndex = (op: TfliteOp): number => {
    const key = `${op.op}:${op.version}`;
    if (!codes.includes(key)) codes.push(key);
    return codes.indexOf(key);
  };
  const operators = g.ops.map((op) => operator(b, op, codeIndex(op)));
  const operatorCodes = codes.map((key) => {
    const [name, version] = key.split(':');
    return operatorCode(b, name as BuiltinName, Number(version));
  });
  const tensors = g.tensors.map((t, i) => tensor(b, t, tensorBuffers[i]));
  const subgraphName = b.createString('main');
  const subgraph = table(b, [
    [SubGraphSlot.tensors, offset(offsetVector(b, tensors))],
    [SubGraphSlot.inputs, offset(int32Vector(b, g.inputs))],
    [SubGraphSlot.outputs, offset(int32Vector(b, g.outputs))],
    [SubGraphSlot.operators, offset(offsetVector(b, operators))],
    [SubGraphSlot.name, offset(subgraphName)],
  ]);
  const metadata = options.metadata.map((m, i) => {
    const name = b.createString(m.name);
    return table(b, [[MetadataSlot.name, offset(name)], [MetadataSlot.buffer, uint32(metadataBuffers[i])]]);
  });
  const signatures = offsetVector(b, [signature(b, g, options)]);
  const description = b.createString(options.description);
  const model = table(b, [
    [ModelSlot.version, uint32(TFLITE_SCHEMA_VERSION)],
    [ModelSlot.operatorCodes, offset(offsetVector(b, operatorCodes))],
    [ModelSlot.subgraphs, offset(offsetVector(b, [subgraph]))],
    [ModelSlot.description, offset(description)],
    [ModelSlot.buffers, offset(offsetVector(b, buffers))],
    [ModelSlot.metadata, offset(offsetVector(b, metadata))],
    [ModelSlot.signatureDefs, offset(signatures)],
  ]);
  b.finish(model, TFLITE_IDENTIFIER);
  return b.asUint8Array().slice();
}
