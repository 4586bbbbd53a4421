import type { FusedConvNode, InferenceGraph, InferenceNode } from '../../models/fold.js';
import type { AddNode, LinearNode } from '../../models/graph.js';
import { INPUT_ID } from '../../models/graph.js';
import { MNEXT_VERSION, type ModelFileMeta, specRecord } from '../meta.js';
import { ONNX_PRODUCER, type OnnxNode, type OnnxTensor, encodeModel } from './messages.js';

/**
 * The folded inference graph as an ONNX model: NCHW, opset 13, batch axis symbolic. Each description node
 * becomes the ONNX ops that compute exactly the same thing (conv padding stays PyTorch's explicit symmetric
 * padding; partial identity is Slice + Add + Concat, never ScatterND, which onnxruntime runs ~3x slower).
 */

export const ONNX_OPSET = 13;
/** IR version 7 is the one that goes with opset 13. */
const ONNX_IR_VERSION = 7;
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'logits';

/** Accumulates nodes and initializers while walking the description; constants are shared by value. */
class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly constants = new Map<string, string>();

  add(opType: string, name: string, inputs: readonly string[], outputs: readonly string[], attributes?: OnnxNode['attributes']): void {
    this.nodes.push({ opType, name, inputs, outputs, attributes });
  }

  weight(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push({ name, dims, data });
    return name;
  }

  int64s(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    return this.constant(key, () => ({ name: `const/${key}`, dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) }));
  }

  scalar(value: number): string {
    return this.constant(`f32:${value}`, () => ({ name: `const/f32:${value}`, dims: [], data: Float32Array.of(value) }));
  }

  private constant(key: string, make: () => OnnxTensor): string {
    const existing = this.constants.get(key);
    if (existing) return existing;
    const tensor = make();
    this.initializers.push(tensor);
    this.constants.set(key, tensor.name);
    return tensor.name;
  }
}

function weightOf(graph: InferenceGraph, name: string): Float32Array {
  const array = graph.weights.get(name);
  if (!array) throw new Error(`onnx writer: missing weight '${name}'`);
  return array.data;
}

function emitConv(b: OnnxGraphBuilder, graph: InferenceGraph, node: FusedConvNode, input: string, output: string): void {
  const [kh, kw] = node.kernel;
  const weight = b.weight(`${node.param}.weight`, [node.outChannels, node.inChannels / node.groups, kh, kw], weightOf(graph, `${node.param}.weight`));
  const bias = b.weight(`${node.param}.bias`, [node.outChannels], weightOf(graph, `${node.param}.bias`));
  const [top, bottom, left, right] = node.pad;
  const convOut = node.activation === 'relu6' ? `${output}/conv` : output;
  b.add('Conv', node.id, [input, weight, bias], [convOut], {
    kernel_shape: [kh, kw], strides: [node.stride, node.stride], pads: [top, left, bottom, right], dilations: [1, 1], group: node.groups,
  });
  if (node.activation === 'relu6') b.add('Clip', `${node.id}/relu6`, [convOut, b.scalar(0), b.scalar(6)], [output]);
}

/** branch + shortcut on the first `channels` channels; the rest of the branch passes through. */
function emitAdd(b: OnnxGraphBuilder, node: AddNode, [branch, shortcut]: readonly string[], output: string): void {
  const total = node.shape[node.shape.length - 1];
  if (node.channels >= total) {
    b.add('Add', node.id, [branch, shortcut], [output]);
    return;
  }
  const axis = b.int64s([1]);
  const [zero, split, end] = [b.int64s([0]), b.int64s([node.channels]), b.int64s([total])];
  b.add('Slice', `${node.id}/branch_head`, [branch, zero, split, axis], [`${output}/branch_head`]);
  b.add('Slice', `${node.id}/shortcut_head`, [shortcut, zero, split, axis], [`${output}/shortcut_head`]);
  b.add('Add', `${node.id}/add`, [`${output}/branch_head`, `${output}/shortcut_head`], [`${output}/sum`]);
  b.add('Slice', `${node.id}/branch_tail`, [branch, split, end, axis], [`${output}/branch_tail`]);
  b.add('Concat', node.id, [`${output}/sum`, `${output}/branch_tail`], [output], { axis: 1 });
}

function emitLinear(b: OnnxGraphBuilder, graph: InferenceGraph, node: LinearNode, input: string, output: string): void {
  const weight = b.weight(`${node.param}.weight`, [node.outFeatures, node.inFeatures], weightOf(graph, `${node.param}.weight`));
  const bias = b.weight(`${node.param}.bias`, [node.outFeatures], weightOf(graph, `${node.param}.bias`));
  b.add('Gemm', node.id, [input, weight, bias], [output], { transB: 1 });
}

function emitNode(b: OnnxGraphBuilder, graph: InferenceGraph, node: InferenceNode, inputs: string[], output: string): void {
  switch (node.op) {
    case 'conv':
      return emitConv(b, graph, node, inputs[0], output);
    case 'relu6':
      return b.add('Clip', node.id, [inputs[0], b.scalar(0), b.scalar(6)], [output]);
    case 'swish':
      b.add('Sigmoid', `${node.id}/sigmoid`, [inputs[0]], [`${output}/sigmoid`]);
      return b.add('Mul', node.id, [inputs[0], `${output}/sigmoid`], [output]);
    case 'sigmoid':
      return b.add('Sigmoid', node.id, inputs, [output]);
    case 'add':
      return emitAdd(b, node, inputs, output);
    case 'mul':
      return b.add('Mul', node.id, inputs, [output]);
    case 'globalAvgPool':
      if (node.keepDims) return b.add('GlobalAveragePool', node.id, inputs, [output]);
      b.add('GlobalAveragePool', `${node.id}/pool`, inputs, [`${output}/pool`]);
      return b.add('Flatten', node.id, [`${output}/pool`], [output], { axis: 1 });
    case 'linear':
      return emitLinear(b, graph, node, inputs[0], output);
    default:
      throw new Error(`onnx writer: no ONNX mapping for '${node.op}' (${node.id})`);
  }
}

/** The metadata_props every mnext ONNX file carries (read back by the ONNX runner). */
export function onnxMetadata(graph: InferenceGraph, meta: ModelFileMeta): Record<string, string> {
  return {
    mnext_version: MNEXT_VERSION,
    mnext_spec: specRecord(graph.spec),
    ...(meta.classes ? { labels: meta.classes.join('\n') } : {}),
    mean: JSON.stringify(meta.mean),
    std: JSON.stringify(meta.std),
    ...(meta.cropPct !== undefined ? { crop_pct: String(meta.cropPct) } : {}),
    ...(meta.interpolation ? { interpolation: meta.interpolation } : {}),
    input_layout: 'NCHW',
  };
}

export function writeOnnx(graph: InferenceGraph, meta: ModelFileMeta): Uint8Array {
  const b = new OnnxGraphBuilder();
  const names = new Map<string, string>([[INPUT_ID, ONNX_INPUT]]);
  for (const node of graph.nodes) {
    const output = node.id === graph.output ? ONNX_OUTPUT : node.id;
    emitNode(b, graph, node, node.inputs.map((id) => names.get(id)!), output);
    names.set(node.id, output);
  }
  const [h, w, c] = graph.inputShape;
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    producerName: ONNX_PRODUCER,
    producerVersion: MNEXT_VERSION,
    graph: {
      name: graph.spec.arch,
      nodes: b.nodes,
      initializers: b.initializers,
      inputs: [{ name: ONNX_INPUT, dims: ['batch', c, h, w] }],
      outputs: [{ name: ONNX_OUTPUT, dims: ['batch', graph.spec.numClasses] }],
    },
    metadata: onnxMetadata(graph, meta),
  });
}
