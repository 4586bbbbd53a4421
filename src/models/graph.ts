/**
 * The declarative model description every consumer reads: the tfjs executor, the params/MAdds counter, the
 * PyTorch importer/exporter and the TFLite/ONNX/TF.js writers. A model is an ordered list of nodes in
 * topological order; each node names its inputs by id and knows its output shape (HWC for feature maps, [C]
 * for vectors). Parameter names are the PyTorch state_dict keys of the reference implementation.
 */

/** Explicit zero padding, PyTorch style: [top, bottom, left, right]. */
export type Padding = readonly [number, number, number, number];

/** Feature-map shape without the batch axis: [H, W, C] (NHWC) or [C] after pooling. */
export type Shape = readonly number[];

interface NodeBase {
  /** Unique id; other nodes refer to it in `inputs`. */
  readonly id: string;
  readonly inputs: readonly string[];
  /** Output shape, batch axis excluded. */
  readonly shape: Shape;
  /** The block this node belongs to ('stem', 'features.4', 'head', ...): per-block tables group by it. */
  readonly block: string;
}

export interface ConvNode extends NodeBase {
  readonly op: 'conv';
  /** state_dict prefix: `${param}.weight` [out, in/groups, kh, kw] and, with bias, `${param}.bias`. */
  readonly param: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: readonly [number, number];
  readonly stride: number;
  readonly pad: Padding;
  readonly groups: number;
  readonly bias: boolean;
}

export interface BatchNormNode extends NodeBase {
  readonly op: 'batchnorm';
  /** state_dict prefix: weight, bias (trainable), running_mean, running_var (buffers). */
  readonly param: string;
  readonly channels: number;
  readonly eps: number;
  /** PyTorch convention: new_running = (1 - momentum) * running + momentum * batch. */
  readonly momentum: number;
}

export interface ActivationNode extends NodeBase {
  readonly op: 'relu6' | 'swish' | 'sigmoid';
}

/**
 * Residual addition. `channels` is how many leading channels of the shortcut (inputs[1]) are added onto the
 * branch (inputs[0]); it equals the full channel count for a plain residual and C // k for MobileNeXt's
 * partial identity ("tensor multiplier" k). The remaining channels pass through unchanged.
 */
export interface AddNode extends NodeBase {
  readonly op: 'add';
  readonly channels: number;
}

/** x * gate, with the gate a [1,1,C] map broadcast over H and W (squeeze-and-excitation). */
export interface MulNode extends NodeBase {
  readonly op: 'mul';
}

/** Global average pool; `keepDims` keeps a [1,1,C] map (SE), otherwise the output is a [C] vector. */
export interface GlobalPoolNode extends NodeBase {
  readonly op: 'globalAvgPool';
  readonly keepDims: boolean;
}

/** Element dropout (classifier) — identity in eval mode. */
export interface DropoutNode extends NodeBase {
  readonly op: 'dropout';
  readonly rate: number;
}

/** Per-sample drop-connect on a residual branch (stochastic depth) — identity in eval mode. */
export interface DropPathNode extends NodeBase {
  readonly op: 'dropPath';
  readonly rate: number;
}

export interface LinearNode extends NodeBase {
  readonly op: 'linear';
  /** state_dict prefix: `${param}.weight` [out, in] and `${param}.bias` [out]. */
  readonly param: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export type GraphNode =
  | ConvNode
  | BatchNormNode
  | ActivationNode
  | AddNode
  | MulNode
  | GlobalPoolNode
  | DropoutNode
  | DropPathNode
  | LinearNode;

export type OpName = GraphNode['op'];

/** Everything needed to rebuild a model: saved with checkpoints and converted files. */
export interface ModelSpec {
  /** Architecture family: 'mobilenext' | 'mobilenetv2' | 'mnext_s' | 'mnext_l'. */
  readonly arch: string;
  readonly width: number;
  readonly numClasses: number;
  /** Square input side length. */
  readonly inputSize: number;
  /** Partial identity divisor k (1 = full residual). Not stored in official checkpoints, so we record it. */
  readonly tensorMultiplier: number;
  /** Classifier dropout rate. */
  readonly dropRate: number;
  /** Drop-connect base rate for residual branches (EfficientNet-style variants). */
  readonly dropConnectRate: number;
}

/** A state_dict entry that is not a trainable parameter (BN statistics). */
export interface ParamInfo {
  readonly name: string;
  /** PyTorch layout. */
  readonly shape: readonly number[];
  readonly trainable: boolean;
  /** Weight decay applies (conv/linear weights) — false for BN affine params and every bias. */
  readonly decay: boolean;
  /** How the parameter is initialised by the reference code. */
  readonly init: ParamInit;
}

export type ParamInit =
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'const'; readonly value: number };

export interface ModelGraph {
  readonly spec: ModelSpec;
  /** [H, W, 3] */
  readonly inputShape: Shape;
  readonly nodes: readonly GraphNode[];
  /** Id of the logits node. */
  readonly output: string;
  /** Every state_dict entry in the reference model's order (num_batches_tracked excluded). */
  readonly params: readonly ParamInfo[];
  /** Parameters that exist in the reference state_dict but no node reads (e.g. mnext_s's unused `_bn1`). */
  readonly unusedParams: readonly string[];
}

export const INPUT_ID = 'input';

export function convOutputSize(size: number, kernel: number, stride: number, padBefore: number, padAfter: number): number {
  return Math.floor((size + padBefore + padAfter - kernel) / stride) + 1;
}

/** The classifier: the description's last linear layer, whose rows are the classes. */
export function classifierOf(graph: ModelGraph): LinearNode | undefined {
  return [...graph.nodes].reverse().find((n): n is LinearNode => n.op === 'linear');
}

export function countElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** For every node id (and the input), the nodes that read it, in graph order. */
export function consumersOf(nodes: readonly GraphNode[]): Map<string, GraphNode[]> {
  const map = new Map<string, GraphNode[]>();
  for (const node of nodes) for (const input of node.inputs) map.set(input, [...(map.get(input) ?? []), node]);
  return map;
}
