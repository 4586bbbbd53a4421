import type { NamedArray, StateDict } from './state-dict.js';
import { type BatchNormNode, type ConvNode, type GraphNode, type ModelGraph, type ModelSpec, type Shape, consumersOf } from './graph.js';
import { type WeightKind } from './layout.js';

/** A conv with BN folded in (always a bias) and, where the next op is ReLU6, the activation fused. */
export interface FusedConvNode extends Omit<ConvNode, 'bias'> {
  readonly bias: true;
  readonly activation: 'none' | 'relu6';
}

export type InferenceNode = Exclude<GraphNode, ConvNode | BatchNormNode> | FusedConvNode;

/**
 * The eval-mode graph deployers and the fast inference path run: BN folded into the preceding conv, ReLU6
 * fused into its producer, dropout and drop-connect removed. Weights stay in PyTorch layout under the conv's
 * parameter names (`${param}.weight`, `${param}.bias`).
 */
export interface InferenceGraph {
  readonly spec: ModelSpec;
  readonly inputShape: Shape;
  readonly nodes: readonly InferenceNode[];
  readonly output: string;
  readonly weights: StateDict;
}

/** How each weight of a graph is laid out, so layout transposes need not know architectures. */
export function weightKinds(graph: { nodes: readonly (GraphNode | InferenceNode)[] }): Map<string, WeightKind> {
  const kinds = new Map<string, WeightKind>();
  for (const node of graph.nodes) {
    if (node.op === 'conv') kinds.set(`${node.param}.weight`, isDepthwise(node) ? 'depthwise' : 'conv');
    if (node.op === 'linear') kinds.set(`${node.param}.weight`, 'linear');
  }
  return kinds;
}

export function isDepthwise(node: Pick<ConvNode, 'groups' | 'inChannels' | 'outChannels'>): boolean {
  return node.groups > 1 && node.groups === node.inChannels && node.outChannels === node.inChannels;
}

function get(weights: StateDict, name: string): NamedArray {
  const array = weights.get(name);
  if (!array) throw new Error(`foldBatchNorm: missing weight '${name}'`);
  return array;
}

/** w' = w * gamma / sqrt(var + eps) per output channel; b' = beta + (b - mean) * gamma / sqrt(var + eps). */
function foldConvWeights(conv: ConvNode, bn: BatchNormNode, weights: StateDict): [NamedArray, NamedArray] {
  const w = get(weights, `${conv.param}.weight`);
  const gamma = get(weights, `${bn.param}.weight`).data;
  const beta = get(weights, `${bn.param}.bias`).data;
  const mean = get(weights, `${bn.param}.running_mean`).data;
  const variance = get(weights, `${bn.param}.running_var`).data;
  const oldBias = conv.bias ? get(weights, `${conv.param}.bias`).data : undefined;
  const perOut = w.data.length / conv.outChannels;
  const folded = new Float32Array(w.data.length);
  const bias = new Float32Array(conv.outChannels);
  for (let o = 0; o < conv.outChannels; o += 1) {
    const scale = gamma[o] / Math.sqrt(variance[o] + bn.eps);
    for (let k = 0; k < perOut; k += 1) folded[o * perOut + k] = w.data[o * perOut + k] * scale;
    bias[o] = beta[o] + ((oldBias?.[o] ?? 0) - mean[o]) * scale;
  }
  return [{ shape: w.shape, data: folded }, { shape: [conv.outChannels], data: bias }];
}

export function foldBatchNorm(graph: ModelGraph, weights: StateDict): InferenceGraph {
  const users = consumersOf(graph.nodes);
  const rename = new Map<string, string>();
  const resolve = (id: string): string => rename.get(id) ?? id;
  const nodes: InferenceNode[] = [];
  const folded: StateDict = new Map();
  const absorbed = new Set<string>();

  for (const node of graph.nodes) {
    if (absorbed.has(node.id)) continue;
    const inputs = node.inputs.map(resolve);
    if (node.op === 'dropout' || node.op === 'dropPath') {
      rename.set(node.id, inputs[0]);
      continue;
    }
    if (node.op === 'batchnorm') throw new Error(`foldBatchNorm: ${node.id} does not follow a conv`);
    if (node.op === 'conv') {
      const next = users.get(node.id) ?? [];
      const bn = next.length === 1 && next[0].op === 'batchnorm' ? (next[0] as BatchNormNode) : undefined;
      const afterBn = bn ? users.get(bn.id) ?? [] : next;
      const relu = afterBn.length === 1 && afterBn[0].op === 'relu6' ? afterBn[0] : undefined;
      const [w, b] = bn
        ? foldConvWeights(node, bn, weights)
        : [get(weights, `${node.param}.weight`), node.bias ? get(weights, `${node.param}.bias`) : { shape: [node.outChannels], data: new Float32Array(node.outChannels) }];
      folded.set(`${node.param}.weight`, w);
      folded.set(`${node.param}.bias`, b);
      nodes.push({ ...node, inputs, bias: true, activation: relu ? 'relu6' : 'none' });
      for (const gone of [bn, relu]) {
        if (gone) {
          absorbed.add(gone.id);
          rename.set(gone.id, node.id);
        }
      }
      continue;
    }
    if (node.op === 'linear') {
      folded.set(`${node.param}.weight`, get(weights, `${node.param}.weight`));
      folded.set(`${node.param}.bias`, get(weights, `${node.param}.bias`));
    }
    nodes.push({ ...node, inputs } as InferenceNode);
  }
  return { spec: graph.spec, inputShape: graph.inputShape, nodes, output: resolve(graph.output), weights: folded };
}
