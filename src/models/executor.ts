import * as tf from '@tensorflow/tfjs-core';
import { hasBatchNormTrainKernels, runBatchNormRunningStats, runBatchNormTrain, runBatchNormTrainGrad } from '../backend/wasm/BatchNormTrain.js';
import type { StateDict } from './state-dict.js';
import { type FusedConvNode, type InferenceGraph, type InferenceNode, foldBatchNorm, isDepthwise, weightKinds } from './fold.js';
import { type ConvNode, type DropoutNode, type GraphNode, INPUT_ID, type ModelGraph, consumersOf } from './graph.js';
import { type WeightKind, tfShape, tfToTorch, torchToTf } from './layout.js';
import { selectModelWeights } from './weights.js';

export type Lookup = (name: string) => tf.Tensor;

export type ExplicitPad = [[0, 0], [number, number], [number, number], [0, 0]];

export function explicitPad(node: Pick<ConvNode, 'pad'>): ExplicitPad {
  const [top, bottom, left, right] = node.pad;
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}

interface ConvArgs {
  readonly x: tf.Tensor4D;
  readonly filter: tf.Tensor4D;
  readonly bias?: tf.Tensor1D;
  readonly activation?: 'relu6';
}

/**
 * One tfjs conv: the fused op when there is a bias or activation to fuse, else the plain op. The plain ops'
 * gradients are lazy per input, while the fused ops' custom gradient always computes dx too — for the stem,
 * whose input needs no gradient, that was a wasted full-resolution backprop (3% of a training step).
 */
function convOp(depthwise: boolean, x: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number], pad: ExplicitPad, bias?: tf.Tensor1D, activation?: 'relu6'): tf.Tensor4D {
  // tfjs accepts explicit padding for depthwise convs at run time; its typings only list 'same'/'valid'/number.
  const padding = pad as unknown as 'valid';
  if (bias === undefined && activation === undefined) {
    return depthwise ? tf.depthwiseConv2d(x, filter, strides, padding) : tf.conv2d(x, filter, strides, pad);
  }
  const fused = { x, filter, strides, bias, activation: activation ?? 'linear' } as const;
  return depthwise ? tf.fused.depthwiseConv2d({ ...fused, pad: padding }) : tf.fused.conv2d({ ...fused, pad });
}

/**
 * One conv of the description on tfjs: depthwise, plain, or grouped (split into `groups` plain convs —
 * tfjs has no grouped conv). Filters are HWIO ([kh, kw, in/groups, out]) or [kh, kw, C, 1] for depthwise.
 */
function runConv(node: Omit<ConvNode, 'bias' | 'op'>, { x, filter, bias, activation }: ConvArgs): tf.Tensor4D {
  const pad = explicitPad(node);
  const strides: [number, number] = [node.stride, node.stride];
  if (isDepthwise(node)) return convOp(true, x, filter, strides, pad, bias, activation);
  if (node.groups === 1) return convOp(false, x, filter, strides, pad, bias, activation);
  const xs = tf.split(x, node.groups, 3) as tf.Tensor4D[];
  const fs = tf.split(filter, node.groups, 3) as tf.Tensor4D[];
  const bs = bias ? tf.split(bias, node.groups, 0) : [];
  const ys = xs.map((xi, g) => convOp(false, xi, fs[g], strides, pad, bs[g] as tf.Tensor1D | undefined, activation));
  return tf.concat(ys, 3);
}

/** branch + shortcut on the leading `channels` channels (MobileNeXt's partial identity when fewer than all). */
function partialAdd(branch: tf.Tensor4D, shortcut: tf.Tensor4D, channels: number): tf.Tensor4D {
  const total = branch.shape[3];
  if (channels >= total) return tf.add(branch, shortcut);
  const [head, tail] = tf.split(branch, [channels, total - channels], 3) as tf.Tensor4D[];
  const shortHead = tf.slice(shortcut, [0, 0, 0, 0], [-1, -1, -1, channels]);
  return tf.concat([tf.add(head, shortHead), tail], 3) as tf.Tensor4D;
}

/**
 * Training-mode BN as one differentiable unit with the closed-form backward pass
 * dx = γ·σ⁻¹/n · (n·dy − Σdy − x̂·Σ(dy·x̂)), dγ = Σ(dy·x̂), dβ = Σdy. Autodiff through moments + batchNorm
 * costs about three times the kernels (broadcasts of the mean and variance gradients back to the activation).
 * Also returns the batch statistics for the running-average update, tracked in the caller's scope.
 */
export function batchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let kept: tf.Tensor1D[] = [];
  const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = tf.moments(input, [0, 1, 2]);
    // customGrad runs this in a tidy: keep the statistics, then hand them to the caller's scope below.
    kept = [tf.keep(mean as tf.Tensor1D), tf.keep(variance as tf.Tensor1D)];
    const invStd = tf.rsqrt(tf.add(variance, eps));
    const normalised = tf.mul(tf.sub(input, mean), invStd);
    save([normalised, invStd, scale]);
    return {
      value: tf.add(tf.mul(normalised, scale), offset),
      gradFunc: (grad: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, inverseStd, gain] = saved;
        const count = grad.size / grad.shape[grad.rank - 1];
        const sumDy = tf.sum(grad, [0, 1, 2]);
        const sumDyXHat = tf.sum(tf.mul(grad, xHat), [0, 1, 2]);
        const factor = tf.div(tf.mul(gain, inverseStd), count);
        const dx = tf.mul(factor, tf.sub(tf.sub(tf.mul(grad, count), sumDy), tf.mul(xHat, sumDyXHat)));
        return [dx, sumDyXHat, sumDy];
      },
    };
  });
  const y = normalise(x, gamma, beta) as tf.Tensor4D;
  const [mean, variance] = adoptKept(kept);
  return { y, mean, variance };
}

/** Hands tensors kept out of a customGrad's tidy to the caller's scope. */
function adoptKept<T extends tf.Tensor>(kept: T[]): T[] {
  return kept.map((t) => {
    const tracked = tf.clone(t);
    t.dispose();
    return tracked;
  });
}

/**
 * Training-mode BN, optionally followed by ReLU6, as one unit. When the backend registers mnext's fused
 * training-BN kernels (wasm does, see src/backend/wasm/BatchNormTrain.ts) the unit is two kernels: forward
 * (statistics, normalise, affine, clamp) and backward (the closed form of `batchNormTrain` on the ReLU6-masked
 * gradient), each a few full-tensor passes. On other backends it is `batchNormTrain` then `tf.relu6`, with the
 * same values and gradients.
 */
export function batchNormActTrain(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, relu6: boolean,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (!hasBatchNormTrainKernels()) {
    const plain = batchNormTrain(x, gamma, beta, eps);
    return relu6 ? { ...plain, y: tf.relu6(plain.y) } : plain;
  }
  const attrs = { eps, relu6 };
  let kept: tf.Tensor1D[] = [];
  const unit = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mean, variance] = runBatchNormTrain(input, scale, offset, attrs);
    kept = [tf.keep(mean), tf.keep(variance)];
    save([input, mean, variance, scale, offset]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, m, v, g, b] = saved;
        return runBatchNormTrainGrad({ dy, x: xs, mean: m, variance: v, gamma: g, beta: b }, attrs);
      },
    };
  });
  const y = unit(x, gamma, beta) as tf.Tensor4D;
  const [mean, variance] = adoptKept(kept);
  return { y, mean, variance };
}

/** BN nodes whose only consumer is a ReLU6 (the pair a training step runs as one fused unit). */
export function bnFollowedByRelu6(graph: ModelGraph): Set<string> {
  const consumers = consumersOf(graph.nodes);
  return new Set(
    graph.nodes
      .filter((node) => node.op === 'batchnorm' && node.id !== graph.output)
      .filter((node) => {
        const users = consumers.get(node.id) ?? [];
        return users.length === 1 && users[0].op === 'relu6';
      })
      .map((node) => node.id),
  );
}

/** Ops that look the same in the training graph and the folded inference graph. */
function runCommonOp(node: GraphNode | InferenceNode, inputs: tf.Tensor[], lookup: Lookup): tf.Tensor | undefined {
  switch (node.op) {
    case 'relu6':
      return tf.relu6(inputs[0]);
    case 'swish':
      return tf.mul(inputs[0], tf.sigmoid(inputs[0]));
    case 'sigmoid':
      return tf.sigmoid(inputs[0]);
    case 'add':
      return partialAdd(inputs[0] as tf.Tensor4D, inputs[1] as tf.Tensor4D, node.channels);
    case 'mul':
      return tf.mul(inputs[0], inputs[1]);
    case 'globalAvgPool':
      return tf.mean(inputs[0], [1, 2], node.keepDims);
    case 'linear':
      return tf.add(tf.matMul(inputs[0] as tf.Tensor2D, lookup(`${node.param}.weight`) as tf.Tensor2D), lookup(`${node.param}.bias`));
    default:
      return undefined;
  }
}

/** Sees every node's output as it is computed (int8 calibration records activation ranges this way). */
export type NodeObserver = (nodeId: string, value: tf.Tensor) => void;

function walk<N extends { id: string; inputs: readonly string[] }>(
  nodes: readonly N[], output: string, x: tf.Tensor, run: (node: N, inputs: tf.Tensor[]) => tf.Tensor, observe?: NodeObserver,
): tf.Tensor {
  const values = new Map<string, tf.Tensor>([[INPUT_ID, x]]);
  for (const node of nodes) {
    const value = run(node, node.inputs.map((id) => values.get(id)!));
    observe?.(node.id, value);
    values.set(node.id, value);
  }
  return values.get(output)!;
}

/** Batch statistics one training forward pass measured, for the running-average update after the step. */
export interface BatchStats {
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
  /** Elements per channel the statistics came from (for the unbiased variance). */
  readonly count: number;
}

export interface ForwardOptions {
  readonly training: boolean;
  /** Seed for dropout / drop-connect masks (reproducible training). */
  readonly seed?: number;
}

/** One forward pass's mode, mask seed and the batch statistics its training-mode BN nodes measured. */
export interface NodeRun {
  readonly training: boolean;
  readonly seed: number;
  readonly batchStats: Map<string, BatchStats>;
}

export interface ForwardResult {
  readonly logits: tf.Tensor2D;
  /** Per BN parameter prefix; empty in eval mode. */
  readonly batchStats: Map<string, BatchStats>;
}

export interface TfjsModelOptions {
  /**
   * state_dict keys training leaves as they are (fine-tuning's frozen backbone): they get no gradients and no
   * optimiser slots, and a BN layer whose weight is frozen runs in eval mode in training too (running
   * statistics used, never updated), as a frozen BN does in PyTorch.
   */
  readonly frozen?: Iterable<string>;
}

/**
 * The description on tfjs with its weights as variables (TF layouts, keyed by PyTorch names). Train mode uses
 * batch statistics and dropout; eval mode uses running statistics. Callers own tidy/dispose of results.
 */
export class TfjsModel {
  readonly variables = new Map<string, tf.Variable>();
  readonly frozen: ReadonlySet<string>;
  /** The variable of a state_dict key. */
  readonly lookup: Lookup = (name) => this.variables.get(name)!;
  private readonly kinds: Map<string, WeightKind>;
  /** BN nodes a training forward pass runs fused with the ReLU6 after them (never a frozen BN). */
  readonly fusedBnRelu6: ReadonlySet<string>;
  /** BN nodes that run in eval mode in training too (their weight is frozen). */
  readonly frozenBn: ReadonlySet<string>;
  /** 1, 2, ... for the dropout and drop-connect nodes that draw a mask in training, in graph order. */
  private readonly stochasticOrdinal: Map<string, number>;

  constructor(readonly graph: ModelGraph, weights: StateDict, options: TfjsModelOptions = {}) {
    const checked = selectModelWeights(graph, weights);
    this.frozen = new Set(options.frozen);
    this.kinds = weightKinds(graph);
    this.frozenBn = new Set(graph.nodes.filter((n) => n.op === 'batchnorm' && this.frozen.has(`${n.param}.weight`)).map((n) => n.id));
    this.fusedBnRelu6 = new Set([...bnFollowedByRelu6(graph)].filter((id) => !this.frozenBn.has(id)));
    const stochastic = graph.nodes.filter((n) => (n.op === 'dropout' || n.op === 'dropPath') && n.rate > 0);
    this.stochasticOrdinal = new Map(stochastic.map((n, i) => [n.id, i + 1]));
    for (const p of graph.params) {
      const kind = this.kinds.get(p.name) ?? 'vector';
      const value = tf.tensor(torchToTf(kind, checked.get(p.name)!), tfShape(kind, p.shape), 'float32');
      this.variables.set(p.name, tf.variable(value, p.trainable));
      value.dispose();
    }
  }

  /** Parameters training updates, by PyTorch name: trainable, not frozen, used (the unused `_bn1` is skipped). */
  trainableByName(): Map<string, tf.Variable> {
    const unused = new Set(this.graph.unusedParams);
    const trained = this.graph.params.filter((p) => p.trainable && !unused.has(p.name) && !this.frozen.has(p.name));
    return new Map(trained.map((p) => [p.name, this.variables.get(p.name)!]));
  }

  /** x: NHWC float32 normalised images. */
  forward(x: tf.Tensor4D, options: ForwardOptions): ForwardResult {
    const run: NodeRun = { training: options.training, seed: options.seed ?? 0, batchStats: new Map() };
    const logits = walk(this.graph.nodes, this.graph.output, x, (node, inputs) => this.runNode(node, inputs, this.lookup, run)) as tf.Tensor2D;
    return { logits, batchStats: run.batchStats };
  }

  /**
   * One node of the forward pass on its input values. Training-mode BN records its batch statistics in
   * `run.batchStats`; dropout and drop-connect draw their masks from `run.seed` plus the node's ordinal among
   * the stochastic nodes, so re-running a node (the training pass's per-node gradients do) draws the same mask.
   */
  runNode(node: GraphNode, inputs: tf.Tensor[], lookup: Lookup, run: NodeRun): tf.Tensor {
    switch (node.op) {
      case 'conv':
        return runConv(node, {
          x: inputs[0] as tf.Tensor4D,
          filter: lookup(`${node.param}.weight`) as tf.Tensor4D,
          bias: node.bias ? (lookup(`${node.param}.bias`) as tf.Tensor1D) : undefined,
        });
      case 'batchnorm': {
        const gamma = lookup(`${node.param}.weight`);
        const beta = lookup(`${node.param}.bias`);
        if (!run.training || this.frozenBn.has(node.id)) {
          return tf.batchNorm(inputs[0], lookup(`${node.param}.running_mean`), lookup(`${node.param}.running_var`), beta, gamma, node.eps);
        }
        const relu6 = this.fusedBnRelu6.has(node.id);
        const { y, mean, variance } = batchNormActTrain(inputs[0] as tf.Tensor4D, gamma as tf.Tensor1D, beta as tf.Tensor1D, node.eps, relu6);
        const [n, h, w] = inputs[0].shape;
        run.batchStats.set(node.param, { mean, variance, count: n * h * w });
        return y;
      }
      case 'relu6':
        // The BN before it already applied the clamp in training mode (one fused unit).
        return run.training && this.fusedBnRelu6.has(node.inputs[0]) ? inputs[0] : tf.relu6(inputs[0]);
      case 'dropout':
        return run.training && node.rate > 0 ? tf.mul(inputs[0], this.dropoutMultiplier(node, inputs[0].shape, run)) : inputs[0];
      case 'dropPath': {
        if (!run.training || node.rate === 0) return inputs[0];
        const keep = 1 - node.rate;
        const mask = tf.floor(tf.add(keep, tf.randomUniform([inputs[0].shape[0], 1, 1, 1], 0, 1, 'float32', this.maskSeed(node, run))));
        return tf.mul(tf.div(inputs[0], keep), mask);
      }
      default:
        return runCommonOp(node, inputs, lookup)!;
    }
  }

  /** tf.dropout's scaled keep mask, spelled out so that the training pass can keep it for the backward pass. */
  dropoutMultiplier(node: DropoutNode, shape: number[], run: NodeRun): tf.Tensor {
    const keep = 1 - node.rate;
    return tf.tidy(() => tf.div(tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', this.maskSeed(node, run)), keep)), keep));
  }

  private maskSeed(node: GraphNode, run: NodeRun): number {
    return run.seed + this.stochasticOrdinal.get(node.id)!;
  }

  /** PyTorch's running-average update: r = (1 - m) r + m * batch, with the unbiased batch variance. */
  updateRunningStats(batchStats: Map<string, BatchStats>): void {
    for (const node of this.graph.nodes) {
      if (node.op !== 'batchnorm') continue;
      const stats = batchStats.get(node.param);
      if (!stats) continue;
      const m = node.momentum;
      const runningMean = this.variables.get(`${node.param}.running_mean`)!;
      const runningVar = this.variables.get(`${node.param}.running_var`)!;
      const unbiased = stats.count / Math.max(1, stats.count - 1);
      tf.tidy(() => {
        const [mean, variance] = runBatchNormRunningStats({ runningMean, runningVar, mean: stats.mean, variance: stats.variance }, { momentum: m, unbiased }) ??
          [tf.add(tf.mul(runningMean, 1 - m), tf.mul(stats.mean, m)), tf.add(tf.mul(runningVar, 1 - m), tf.mul(stats.variance, m * unbiased))];
        runningMean.assign(mean);
        runningVar.assign(variance);
      });
    }
  }

  /** The weights back in PyTorch layout. */
  stateDict(): StateDict {
    return new Map(
      this.graph.params.map((p) => {
        const kind = this.kinds.get(p.name) ?? 'vector';
        return [p.name, { shape: [...p.shape], data: tfToTorch(kind, p.shape, this.variables.get(p.name)!.dataSync() as Float32Array) }];
      }),
    );
  }

  /** Overwrites every variable from a state_dict (shapes checked against the description). */
  loadStateDict(weights: StateDict): void {
    const checked = selectModelWeights(this.graph, weights);
    for (const p of this.graph.params) {
      const kind = this.kinds.get(p.name) ?? 'vector';
      tf.tidy(() => this.variables.get(p.name)!.assign(tf.tensor(torchToTf(kind, checked.get(p.name)!), tfShape(kind, p.shape), 'float32')));
    }
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/**
 * The fast eval path: BN folded into conv weights, conv + bias + ReLU6 as one fused kernel, weights uploaded
 * once as tensors (no per-call re-uploads).
 */
export class InferenceModel {
  readonly graph: InferenceGraph;
  private readonly tensors = new Map<string, tf.Tensor>();

  constructor(graph: ModelGraph, weights: StateDict) {
    this.graph = foldBatchNorm(graph, selectModelWeights(graph, weights));
    const kinds = weightKinds(this.graph);
    for (const [name, array] of this.graph.weights) {
      const kind = kinds.get(name) ?? 'vector';
      this.tensors.set(name, tf.tensor(torchToTf(kind, array), tfShape(kind, array.shape), 'float32'));
    }
  }

  /** x: NHWC float32 normalised images -> logits. */
  /** `observe` runs inside this call's tidy scope: tensors it wants to outlive the call must be tf.keep'd. */
  predict(x: tf.Tensor4D, observe?: NodeObserver): tf.Tensor2D {
    const lookup: Lookup = (name) => this.tensors.get(name)!;
    return tf.tidy(() =>
      walk(this.graph.nodes, this.graph.output, x, (node, inputs) => {
        if (node.op !== 'conv') return runCommonOp(node, inputs, lookup)!;
        const conv = node as FusedConvNode;
        return runConv(conv, {
          x: inputs[0] as tf.Tensor4D,
          filter: lookup(`${conv.param}.weight`) as tf.Tensor4D,
          bias: lookup(`${conv.param}.bias`) as tf.Tensor1D,
          activation: conv.activation === 'relu6' ? 'relu6' : undefined,
        });
      }, observe),
    ) as tf.Tensor2D;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

/** NCHW (PyTorch) batch to NHWC tensor. */
export function nchwToNhwc(data: Float32Array, shape: readonly [number, number, number, number]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, [...shape]), [0, 2, 3, 1]));
}
