import { type FileOutputKind, readHead } from '../../util/output-path.js';
import { ProtoWriter, fieldsOf, readFields } from './proto.js';

/**
 * The ONNX messages mnext writes (field numbers from spec/onnx.proto, onnx 1.12): ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto (with TypeProto/TensorShapeProto),
 * OperatorSetIdProto and StringStringEntryProto.
 */

/** ModelProto.producer_name of every model mnext writes. */
export const ONNX_PRODUCER = 'mnext';

/** TensorProto.DataType */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

/** AttributeProto.AttributeType */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

export type AttributeValue = number | string | readonly number[] | { readonly float: number };

export interface OnnxNode {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

/** A graph input/output: float32 tensor whose dims are sizes or symbolic names ('batch'). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  readonly irVersion: number;
  readonly opset: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graph: OnnxGraph;
  readonly metadata: Readonly<Record<string, string>>;
}

function encodeAttribute(name: string, value: AttributeValue): Uint8Array {
  const w = new ProtoWriter().string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`onnx attribute ${name}: integers only (wrap floats as {float})`);
    return w.int(3, value).int(20, ATTR_INT).finish();
  }
  if (typeof value === 'string') return w.string(4, value).int(20, ATTR_STRING).finish();
  if ('float' in value) return w.float(2, value.float).int(20, ATTR_FLOAT).finish();
  for (const v of value) w.int(8, v);
  return w.int(20, ATTR_INTS).finish();
}

function encodeNode(node: OnnxNode): Uint8Array {
  const w = new ProtoWriter();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name).string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) w.message(5, encodeAttribute(name, value));
  return w.finish();
}

function encodeTensor(tensor: OnnxTensor): Uint8Array {
  const w = new ProtoWriter().packedInts(1, tensor.dims);
  w.int(2, tensor.data instanceof Float32Array ? ONNX_FLOAT : ONNX_INT64).string(8, tensor.name);
  // raw_data is little-endian; typed arrays are little-endian on every platform Node supports.
  return w.bytes(9, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength)).finish();
}

function encodeValueInfo(info: OnnxValueInfo): Uint8Array {
  const shape = new ProtoWriter();
  for (const dim of info.dims) {
    const d = new ProtoWriter();
    if (typeof dim === 'number') d.int(1, dim);
    else d.string(2, dim);
    shape.message(1, d.finish());
  }
  const tensorType = new ProtoWriter().int(1, ONNX_FLOAT).message(2, shape.finish()).finish();
  const type = new ProtoWriter().message(1, tensorType).finish();
  return new ProtoWriter().string(1, info.name).message(2, type).finish();
}

function encodeGraph(graph: OnnxGraph): Uint8Array {
  const w = new ProtoWriter();
  for (const node of graph.nodes) w.message(1, encodeNode(node));
  w.string(2, graph.name);
  for (const tensor of graph.initializers) w.message(5, encodeTensor(tensor));
  for (const input of graph.inputs) w.message(11, encodeValueInfo(input));
  for (const output of graph.outputs) w.message(12, encodeValueInfo(output));
  return w.finish();
}

export function encodeModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter().int(1, model.irVersion);
  w.string(2, model.producerName).string(3, model.producerVersion);
  w.message(7, encodeGraph(model.graph));
  w.message(8, new ProtoWriter().string(1, '').int(2, model.opset).finish());
  for (const [key, value] of Object.entries(model.metadata)) {
    w.message(14, new ProtoWriter().string(1, key).string(2, value).finish());
  }
  return w.finish();
}

const textDecoder = new TextDecoder();

/** ModelProto.metadata_props of an encoded model (onnxruntime does not expose custom metadata). */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const { field, value } of readFields(bytes)) {
    if (field !== 14 || !(value instanceof Uint8Array)) continue;
    let key = '';
    let text = '';
    for (const entry of readFields(value)) {
      if (entry.value instanceof Uint8Array && entry.field === 1) key = textDecoder.decode(entry.value);
      if (entry.value instanceof Uint8Array && entry.field === 2) text = textDecoder.decode(entry.value);
    }
    metadata[key] = text;
  }
  return metadata;
}

/** ModelProto.producer_name, read from the first bytes of a file (encodeModel writes it second, after ir_version). */
export function readProducerName(head: Uint8Array): string | undefined {
  for (const { field, value } of fieldsOf(head)) if (field === 2 && value instanceof Uint8Array) return textDecoder.decode(value);
  return undefined;
}

/** An ONNX model mnext converted: its producer_name is 'mnext' (other exporters write theirs, e.g. 'pytorch'). */
export const ONNX_MODEL_FILE: FileOutputKind = {
  type: 'file',
  description: 'ONNX model',
  recognise: (path) => readProducerName(readHead(path, 1024)) === ONNX_PRODUCER,
};
