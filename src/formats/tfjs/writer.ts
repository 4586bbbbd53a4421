import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FusedConvNode, InferenceGraph, InferenceNode } from '../../models/fold.js';
import { isDepthwise, weightKinds } from '../../models/fold.js';
import type { AddNode, LinearNode } from '../../models/graph.js';
import { INPUT_ID } from '../../models/graph.js';
import { tfShape, torchToTf } from '../../models/layout.js';
import type { FolderOutputKind } from '../../util/output-path.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, type Interpolation } from '../../data/constants.js';
import { MNEXT_VERSION, type ModelFileMeta } from '../meta.js';
import { type TfjsQuantization, type WeightEntry, type WeightShard, type WeightSpec, encodeWeights, shardWeights } from './weights.js';
import { tfjsModelReadme } from './readme.js';

/**
 * The folded inference graph as a TF.js GraphModel (format 'graph-model'): a TF GraphDef in JSON plus weight
 * shards described by a tfjs weights manifest (weights.ts: tfjs-converter's 4 MB shards and optional float16 /
 * uint8 compression), so plain `@tensorflow/tfjs` (`loadGraphModel`) runs it without mnext. NHWC; convs carry
 * PyTorch's explicit padding as padding EXPLICIT (exact, no Pad op needed); bias and ReLU6 fuse into _FusedConv2D /
 * FusedDepthwiseConv2dNative; grouped convs split into per-group convs.
 */

export const TFJS_INPUT = 'input';
export const TFJS_OUTPUT = 'logits';
/** The single weights file of folders written before sharding. */
const UNSHARDED_WEIGHTS_FILE = 'weights.bin';
/** The note for web developers written beside model.json. */
export const TFJS_README_FILE = 'README.md';

/**
 * A TF.js graph-model folder mnext converted. Folders carry the output marker (util/output-path.ts); one written
 * before markers is recognised by model.json's convertedBy and holding nothing but model.json and weights.bin.
 */
export const TFJS_MODEL_FOLDER: FolderOutputKind = {
  type: 'folder',
  description: 'TF.js model folder',
  id: 'tfjs-graph-model',
  recogniseUnmarked: (dir) => {
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { convertedBy?: unknown };
    return String(json.convertedBy).startsWith('mnext ') && readdirSync(dir).every((name) => name === 'model.json' || name === UNSHARDED_WEIGHTS_FILE);
  },
};

type AttrValue =
  | { type: string }
  | { s: string }
  | { i: string }
  | { b: boolean }
  | { list: { i?: string[]; s?: string[] } }
  | { shape: { dim: { size: string }[] } }
  | { tensor: { dtype: string; tensorShape: { dim: { size: string }[] } } };

export interface TfjsGraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

/** model.json of a TF.js graph model. */
export interface TfjsModelJson {
  format: 'graph-model';
  generatedBy: string;
  convertedBy: string;
  modelTopology: { node: TfjsGraphNode[]; library: Record<string, never>; versions: { producer: number } };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
  signature: {
    inputs: Record<string, { name: string; dtype: string; tensorShape: { dim: { size: string }[] } }>;
    outputs: Record<string, { name: string; dtype: string; tensorShape: { dim: { size: string }[] } }>;
  };
  userDefinedMetadata: TfjsModelMetadata;
}

/**
 * What an app needs to feed the model, beside it in model.json (tfjs: `model.metadata`): the eval transform is
 * resize the shorter side to floor(inputSize / cropPct) with `interpolation`, centre-crop inputSize, then
 * (pixel / 255 - mean) / std per RGB channel, NHWC. Folders from mnext builds before sharding may lack
 * inputSize, and cropPct / interpolation when the source did not record them.
 */
export interface TfjsModelMetadata {
  classes?: string[];
  inputSize?: number;
  mean: number[];
  std: number[];
  cropPct?: number;
  interpolation?: Interpolation;
  spec: InferenceGraph['spec'];
  mnextVersion: string;
}

export interface TfjsGraphModelFiles {
  readonly modelJson: TfjsModelJson;
  readonly shards: readonly WeightShard[];
  /** README.md for the folder: how to load and feed the model. */
  readonly readme: string;
}

export interface TfjsWriteOptions {
  readonly quantize?: TfjsQuantization;
}

const bytes64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const FLOAT: AttrValue = { type: 'DT_FLOAT' };
const ints = (values: readonly number[]): AttrValue => ({ list: { i: values.map(String) } });
const shapeDims = (dims: readonly number[]) => dims.map((d) => ({ size: String(d) }));

/** Collects nodes and weight data (float32 and int32 constants, in manifest order). */
class GraphDefBuilder {
  readonly nodes: TfjsGraphNode[] = [];
  readonly weights: WeightEntry[] = [];
  private readonly intConsts = new Map<string, string>();

  node(name: string, op: string, input: string[], attr: Record<string, AttrValue> = {}): string {
    this.nodes.push({ name, op, input, attr });
    return name;
  }

  constFloat(name: string, shape: readonly number[], data: Float32Array): string {
    return this.constant(name, shape, Float32Array.from(data));
  }

  constInts(values: readonly number[]): string {
    const key = values.join('_').replace(/-/g, 'm');
    const existing = this.intConsts.get(key);
    if (existing) return existing;
    const name = this.constant(`const/int32_${key}`, [values.length], Int32Array.from(values));
    this.intConsts.set(key, name);
    return name;
  }

  /** A scalar int32 constant (ConcatV2 / Split axis). */
  constScalar(value: number): string {
    const key = `scalar_${value}`;
    const existing = this.intConsts.get(key);
    if (existing) return existing;
    const name = this.constant(`const/int32_${key}`, [], Int32Array.of(value));
    this.intConsts.set(key, name);
    return name;
  }

  private constant(name: string, shape: readonly number[], data: Float32Array | Int32Array): string {
    const dt = data instanceof Float32Array ? 'DT_FLOAT' : 'DT_INT32';
    this.nodes.push({ name, op: 'Const', attr: { value: { tensor: { dtype: dt, tensorShape: { dim: shapeDims(shape) } } }, dtype: { type: dt } } });
    this.weights.push({ name, shape, data });
    return name;
  }
}

function tfWeight(graph: InferenceGraph, name: string, kinds: ReturnType<typeof weightKinds>): { shape: number[]; data: Float32Array } {
  const array = graph.weights.get(name);
  if (!array) throw new Error(`tfjs writer: missing weight '${name}'`);
  const kind = kinds.get(name) ?? 'vector';
  return { shape: tfShape(kind, array.shape), data: torchToTf(kind, array) };
}

function convAttrs(node: FusedConvNode): Record<string, AttrValue> {
  const [top, bottom, left, right] = node.pad;
  return {
    T: FLOAT,
    strides: ints([1, node.stride, node.stride, 1]),
    padding: { s: bytes64('EXPLICIT') },
    explicit_paddings: ints([0, 0, top, bottom, left, right, 0, 0]),
    data_format: { s: bytes64('NHWC') },
    dilations: ints([1, 1, 1, 1]),
    fused_ops: { list: { s: (node.activation === 'relu6' ? ['BiasAdd', 'Relu6'] : ['BiasAdd']).map(bytes64) } },
    num_args: { i: '1' },
  };
}

/** Slices `count` output channels starting at `start` out of an HWIO filter [kh, kw, in, out]. */
function sliceOutChannels(shape: readonly number[], data: Float32Array, start: number, count: number): Float32Array {
  const out = shape[3];
  const rows = data.length / out;
  const result = new Float32Array(rows * count);
  for (let r = 0; r < rows; r += 1) result.set(data.subarray(r * out + start, r * out + start + count), r * count);
  return result;
}

function emitConv(b: GraphDefBuilder, graph: InferenceGraph, kinds: ReturnType<typeof weightKinds>, node: FusedConvNode, input: string, output: string): void {
  const filter = tfWeight(graph, `${node.param}.weight`, kinds);
  const bias = graph.weights.get(`${node.param}.bias`)!.data;
  if (isDepthwise(node) || node.groups === 1) {
    const op = isDepthwise(node) ? 'FusedDepthwiseConv2dNative' : '_FusedConv2D';
    const w = b.constFloat(`${node.param}.weight`, filter.shape, filter.data);
    const bb = b.constFloat(`${node.param}.bias`, [node.outChannels], bias);
    b.node(output, op, [input, w, bb], convAttrs(node));
    return;
  }
  // Grouped conv (not depthwise): TF.js has none, so split the input channels and run one conv per group.
  const groupOut = node.outChannels / node.groups;
  const split = b.node(`${output}/split`, 'Split', [b.constScalar(3), input], { T: FLOAT, num_split: { i: String(node.groups) } });
  const parts: string[] = [];
  for (let g = 0; g < node.groups; g += 1) {
    const w = b.constFloat(`${node.param}.weight/group${g}`, [...filter.shape.slice(0, 3), groupOut], sliceOutChannels(filter.shape, filter.data, g * groupOut, groupOut));
    const bb = b.constFloat(`${node.param}.bias/group${g}`, [groupOut], bias.subarray(g * groupOut, (g + 1) * groupOut));
    parts.push(b.node(`${output}/group${g}`, '_FusedConv2D', [`${split}:${g}`, w, bb], convAttrs(node)));
  }
  b.node(output, 'ConcatV2', [...parts, b.constScalar(3)], { T: FLOAT, N: { i: String(parts.length) }, Tidx: { type: 'DT_INT32' } });
}

/** Partial identity as the official TF code does it: slice + add + concat on the channel axis. */
function emitAdd(b: GraphDefBuilder, node: AddNode, [branch, shortcut]: readonly string[], output: string): void {
  const [h, w, total] = node.shape;
  if (node.channels >= total) {
    b.node(output, 'AddV2', [branch, shortcut], { T: FLOAT });
    return;
  }
  const headSize = b.constInts([-1, h, w, node.channels]);
  const zero = b.constInts([0, 0, 0, 0]);
  const branchHead = b.node(`${output}/branch_head`, 'Slice', [branch, zero, headSize], { T: FLOAT, Index: { type: 'DT_INT32' } });
  const shortcutHead = b.node(`${output}/shortcut_head`, 'Slice', [shortcut, zero, headSize], { T: FLOAT, Index: { type: 'DT_INT32' } });
  const sum = b.node(`${output}/sum`, 'AddV2', [branchHead, shortcutHead], { T: FLOAT });
  const tail = b.node(`${output}/branch_tail`, 'Slice', [branch, b.constInts([0, 0, 0, node.channels]), b.constInts([-1, h, w, total - node.channels])], { T: FLOAT, Index: { type: 'DT_INT32' } });
  b.node(output, 'ConcatV2', [sum, tail, b.constScalar(3)], { T: FLOAT, N: { i: '2' }, Tidx: { type: 'DT_INT32' } });
}

function emitLinear(b: GraphDefBuilder, graph: InferenceGraph, kinds: ReturnType<typeof weightKinds>, node: LinearNode, input: string, output: string): void {
  const weight = tfWeight(graph, `${node.param}.weight`, kinds);
  const w = b.constFloat(`${node.param}.weight`, weight.shape, weight.data);
  const bias = b.constFloat(`${node.param}.bias`, [node.outFeatures], graph.weights.get(`${node.param}.bias`)!.data);
  b.node(output, '_FusedMatMul', [input, w, bias], {
    T: FLOAT, transpose_a: { b: false }, transpose_b: { b: false }, num_args: { i: '1' }, fused_ops: { list: { s: [bytes64('BiasAdd')] } },
  });
}

function emitNode(b: GraphDefBuilder, graph: InferenceGraph, kinds: ReturnType<typeof weightKinds>, node: InferenceNode, inputs: string[], output: string): void {
  switch (node.op) {
    case 'conv':
      return emitConv(b, graph, kinds, node, inputs[0], output);
    case 'relu6':
      b.node(output, 'Relu6', inputs, { T: FLOAT });
      return;
    case 'swish': {
      const gate = b.node(`${output}/sigmoid`, 'Sigmoid', inputs, { T: FLOAT });
      b.node(output, 'Mul', [inputs[0], gate], { T: FLOAT });
      return;
    }
    case 'sigmoid':
      b.node(output, 'Sigmoid', inputs, { T: FLOAT });
      return;
    case 'add':
      return emitAdd(b, node, inputs, output);
    case 'mul':
      b.node(output, 'Mul', inputs, { T: FLOAT });
      return;
    case 'globalAvgPool':
      b.node(output, 'Mean', [inputs[0], b.constInts([1, 2])], { T: FLOAT, Tidx: { type: 'DT_INT32' }, keep_dims: { b: node.keepDims } });
      return;
    case 'linear':
      return emitLinear(b, graph, kinds, node, inputs[0], output);
    default:
      throw new Error(`tfjs writer: no TF mapping for '${node.op}' (${node.id})`);
  }
}

/** The model's eval transform and labels as userDefinedMetadata, with mnext's defaults filled in. */
function metadataOf(graph: InferenceGraph, meta: ModelFileMeta): TfjsModelMetadata {
  return {
    ...(meta.classes ? { classes: [...meta.classes] } : {}),
    inputSize: graph.spec.inputSize,
    mean: [...meta.mean],
    std: [...meta.std],
    cropPct: meta.cropPct ?? DEFAULT_CROP_PCT,
    interpolation: meta.interpolation ?? DEFAULT_INTERPOLATION,
    spec: graph.spec,
    mnextVersion: MNEXT_VERSION,
  };
}

export function writeTfjsGraphModel(graph: InferenceGraph, meta: ModelFileMeta, options: TfjsWriteOptions = {}): TfjsGraphModelFiles {
  const b = new GraphDefBuilder();
  const kinds = weightKinds(graph);
  const [h, w, c] = graph.inputShape;
  const inputDims = shapeDims([-1, h, w, c]);
  b.node(TFJS_INPUT, 'Placeholder', [], { dtype: FLOAT, shape: { shape: { dim: inputDims } } });
  const names = new Map<string, string>([[INPUT_ID, TFJS_INPUT]]);
  for (const node of graph.nodes) {
    // Node ids are PyTorch-style dotted names; TF node names may not contain ':' and weights reuse the param names.
    const output = node.id === graph.output ? TFJS_OUTPUT : `op/${node.id}`;
    emitNode(b, graph, kinds, node, node.inputs.map((id) => names.get(id)!), output);
    names.set(node.id, output);
  }
  const outputDims = shapeDims([-1, graph.spec.numClasses]);
  const { specs, bytes } = encodeWeights(b.weights, options.quantize);
  const shards = shardWeights(bytes);
  const metadata = metadataOf(graph, meta);
  return {
    modelJson: {
      format: 'graph-model',
      generatedBy: `mnext ${MNEXT_VERSION}`,
      convertedBy: `mnext ${MNEXT_VERSION}`,
      modelTopology: { node: b.nodes, library: {}, versions: { producer: 1395 } },
      weightsManifest: [{ paths: shards.map((shard) => shard.path), weights: specs }],
      signature: {
        inputs: { [`${TFJS_INPUT}:0`]: { name: `${TFJS_INPUT}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: inputDims } } },
        outputs: { [`${TFJS_OUTPUT}:0`]: { name: `${TFJS_OUTPUT}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: outputDims } } },
      },
      userDefinedMetadata: metadata,
    },
    shards,
    readme: tfjsModelReadme(metadata, options.quantize),
  };
}
