import { type GraphNode, type ModelGraph, countElements } from './graph.js';

/** Per-node cost: multiply-adds of conv/linear (the paper's MAdds) and the element ops `--count-all` adds. */
export interface NodeCost {
  readonly madds: number;
  readonly elementOps: number;
}

/**
 * conv: output elements x (in / groups) x kh x kw; linear: in x out (spec/README.md). Every other op costs one
 * element op per output element (BN, activations, add, mul, dropout) or per input element (pooling), so the
 * "conv + linear" and "everything" counts can be shown side by side.
 */
export function nodeCost(node: GraphNode, inputShape: readonly number[]): NodeCost {
  switch (node.op) {
    case 'conv':
      return { madds: countElements(node.shape) * (node.inChannels / node.groups) * node.kernel[0] * node.kernel[1], elementOps: 0 };
    case 'linear':
      return { madds: node.inFeatures * node.outFeatures, elementOps: 0 };
    case 'globalAvgPool':
      return { madds: 0, elementOps: countElements(inputShape) };
    case 'add':
      return { madds: 0, elementOps: countElements(node.shape.slice(0, -1)) * node.channels };
    case 'dropout':
    case 'dropPath':
      return { madds: 0, elementOps: 0 };
    default:
      return { madds: 0, elementOps: countElements(node.shape) };
  }
}

export interface BlockStats {
  readonly block: string;
  readonly params: number;
  readonly madds: number;
  readonly elementOps: number;
  /** Output shape of the block's last node. */
  readonly outputShape: readonly number[];
}

export interface ModelStats {
  /** Trainable parameters (PyTorch `parameters()`): conv/linear weights and biases, BN gamma/beta. */
  readonly params: number;
  /** Conv + linear multiply-adds, batch 1. */
  readonly madds: number;
  /** BN, activation, pool, add and mul element ops (not in `madds`). */
  readonly elementOps: number;
  readonly blocks: readonly BlockStats[];
}

/** Which node owns each trainable parameter name, by the state_dict prefix. */
function paramsByNode(graph: ModelGraph): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of graph.params) {
    if (!p.trainable) continue;
    const owner = p.name.slice(0, p.name.lastIndexOf('.'));
    counts.set(owner, (counts.get(owner) ?? 0) + countElements(p.shape));
  }
  return counts;
}

export function countModel(graph: ModelGraph): ModelStats {
  const shapes = new Map<string, readonly number[]>([['input', graph.inputShape]]);
  const owned = paramsByNode(graph);
  const blocks = new Map<string, { params: number; madds: number; elementOps: number; outputShape: readonly number[] }>();
  for (const node of graph.nodes) {
    shapes.set(node.id, node.shape);
    const cost = nodeCost(node, shapes.get(node.inputs[0]) ?? []);
    const params = 'param' in node ? owned.get(node.param) ?? 0 : 0;
    const entry = blocks.get(node.block) ?? { params: 0, madds: 0, elementOps: 0, outputShape: node.shape };
    blocks.set(node.block, {
      params: entry.params + params,
      madds: entry.madds + cost.madds,
      elementOps: entry.elementOps + cost.elementOps,
      outputShape: node.shape,
    });
  }
  const blockList = [...blocks.entries()].map(([block, s]) => ({ block, ...s }));
  const unusedParams = graph.params
    .filter((p) => p.trainable && graph.unusedParams.includes(p.name))
    .reduce((sum, p) => sum + countElements(p.shape), 0);
  return {
    // Unused reference parameters (mnext_s's `_bn1`) still count, as PyTorch's `parameters()` counts them.
    params: blockList.reduce((s, b) => s + b.params, 0) + unusedParams,
    madds: blockList.reduce((s, b) => s + b.madds, 0),
    elementOps: blockList.reduce((s, b) => s + b.elementOps, 0),
    blocks: blockList,
  };
}
