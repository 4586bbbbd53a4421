/**
 * A training step's forward and backward pass, walked over the model description by mnext instead of recorded
 * on tfjs's gradient tape. The tape costs a training step about 15–20 µs of JavaScript per op: it clones every
 * tensor a gradient needs (~710 Identity kernels per MobileNeXt step), wraps each custom gradient in a scope,
 * and re-derives each op's gradient from the generic op definitions. At 64 px that JavaScript was a quarter of
 * the step. Here the hot nodes (plain and depthwise convs, training-mode BN with its ReLU6, residual adds, the
 * classifier and its dropout) call their backward kernels directly on the values the forward pass kept; every
 * other node gets its gradient from tfjs by re-running just that node under `tf.grads`. Both give bitwise the
 * gradients of `tf.variableGrads` over `TfjsModel.forward` (test/models/training-pass.test.ts holds them to
 * it): the same kernels on the same inputs, gradients of a shared value summed in the tape's order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BatchNormTrainAttrs, hasBatchNormTrainKernels, runBatchNormTrain, runBatchNormTrainGrad } from '../backend/wasm/BatchNormTrain.js';
import { type BatchStats, type Lookup, type NodeRun, type TfjsModel, explicitPad } from './executor.js';
import { isDepthwise } from './fold.js';
import { type AddNode, type BatchNormNode, type ConvNode, type DropoutNode, type GraphNode, INPUT_ID, type LinearNode } from './graph.js';

/** The loss of a batch's logits and its gradient with respect to them. */
export interface LossAndGradient {
  readonly value: tf.Scalar;
  readonly grad: tf.Tensor2D;
}

export interface TrainingPassResult {
  readonly loss: tf.Scalar;
  /** Gradient per trainable parameter (`TfjsModel.trainableByName`), keyed by PyTorch name, TF layout. */
  readonly grads: Map<string, tf.Tensor>;
  /** Per BN parameter prefix, as `TfjsModel.forward` reports them. */
  readonly batchStats: Map<string, BatchStats>;
}

/** How a node's gradient is computed: by a direct rule, or by re-running the node under `tf.grads`. */
type NodeRule = 'conv' | 'batchnorm' | 'passThrough' | 'add' | 'linear' | 'dropout' | 'generic';

function ruleOf(model: TfjsModel, node: GraphNode, fusedBnKernels: boolean): NodeRule {
  switch (node.op) {
    case 'conv':
      return !node.bias && (node.groups === 1 || isDepthwise(node)) ? 'conv' : 'generic';
    case 'batchnorm':
      return fusedBnKernels && !model.frozenBn.has(node.id) ? 'batchnorm' : 'generic';
    case 'relu6':
      // Training mode runs the clamp inside the BN unit before it: the node passes its input on.
      return model.fusedBnRelu6.has(node.inputs[0]) ? 'passThrough' : 'generic';
    case 'add':
      return 'add';
    case 'linear':
      return 'linear';
    // Without a mask these pass their input on.
    case 'dropout':
      return node.rate === 0 ? 'passThrough' : 'dropout';
    case 'dropPath':
      return node.rate === 0 ? 'passThrough' : 'generic';
    default:
      return 'generic';
  }
}

/** The walk itself: forward values kept for the backward pass, then gradients in reverse graph order. */
class TrainingPass {
  private readonly values = new Map<string, tf.Tensor>();
  /** Gradient of the loss with respect to each node's output, summed over its consumers. */
  private readonly outputGrads = new Map<string, tf.Tensor>();
  /** Trainable parameters each generically handled node read in the forward pass. */
  private readonly paramsRead = new Map<string, string[]>();
  /** Each dropout node's scaled keep mask, drawn in the forward pass. */
  private readonly dropoutMasks = new Map<string, tf.Tensor>();
  private readonly rules: Map<string, NodeRule>;
  /** Nodes whose output has a trainable parameter at or before it (the tape's filter from variables to loss). */
  private readonly needsGrad = new Set<string>();
  private readonly trainable: ReadonlySet<string>;
  readonly paramGrads = new Map<string, tf.Tensor>();
  readonly run: NodeRun;

  constructor(private readonly model: TfjsModel, seed: number) {
    const fused = hasBatchNormTrainKernels();
    this.rules = new Map(model.graph.nodes.map((node) => [node.id, ruleOf(model, node, fused)]));
    this.trainable = new Set(model.trainableByName().keys());
    this.run = { training: true, seed, batchStats: new Map() };
  }

  forward(x: tf.Tensor4D): tf.Tensor2D {
    this.values.set(INPUT_ID, x);
    for (const node of this.model.graph.nodes) {
      const inputs = node.inputs.map((id) => this.values.get(id)!);
      this.values.set(node.id, this.forwardNode(node, inputs));
      if (node.inputs.some((id) => this.needsGrad.has(id)) || this.readsTrainable(node)) this.needsGrad.add(node.id);
    }
    return this.values.get(this.model.graph.output) as tf.Tensor2D;
  }

  private forwardNode(node: GraphNode, inputs: tf.Tensor[]): tf.Tensor {
    switch (this.rules.get(node.id)) {
      case 'batchnorm':
        return this.batchNormForward(node as BatchNormNode, inputs[0]);
      case 'dropout':
        return this.dropoutForward(node as DropoutNode, inputs[0]);
      case 'generic':
        return this.genericForward(node, inputs);
      default:
        return this.model.runNode(node, inputs, this.model.lookup, this.run);
    }
  }

  /** The executor's forward of the node, noting the trainable parameters it reads (its gradient re-runs it). */
  private genericForward(node: GraphNode, inputs: tf.Tensor[]): tf.Tensor {
    const read: string[] = [];
    const recording: Lookup = (name) => {
      if (this.trainable.has(name)) read.push(name);
      return this.model.lookup(name);
    };
    const value = this.model.runNode(node, inputs, recording, this.run);
    this.paramsRead.set(node.id, read);
    return value;
  }

  private readsTrainable(node: GraphNode): boolean {
    switch (this.rules.get(node.id)) {
      case 'conv':
      case 'batchnorm':
      case 'linear':
        return this.trainable.has(`${(node as ConvNode | BatchNormNode | LinearNode).param}.weight`);
      case 'generic':
        return this.paramsRead.get(node.id)!.length > 0;
      default:
        return false;
    }
  }

  /** Training-mode BN (+ ReLU6) as mnext's fused kernel, called directly: no custom-gradient scope to record. */
  private batchNormForward(node: BatchNormNode, x: tf.Tensor): tf.Tensor {
    const gamma = this.model.lookup(`${node.param}.weight`);
    const beta = this.model.lookup(`${node.param}.bias`);
    const [y, mean, variance] = runBatchNormTrain(x, gamma, beta, this.bnAttrs(node));
    const [n, h, w] = x.shape;
    this.run.batchStats.set(node.param, { mean, variance, count: n * h * w });
    return y;
  }

  private bnAttrs(node: BatchNormNode): BatchNormTrainAttrs {
    return { eps: node.eps, relu6: this.model.fusedBnRelu6.has(node.id) };
  }

  /** The executor's dropout (x times tf.dropout's scaled keep mask), keeping the mask for the backward pass. */
  private dropoutForward(node: DropoutNode, x: tf.Tensor): tf.Tensor {
    const mask = this.model.dropoutMultiplier(node, x.shape, this.run);
    this.dropoutMasks.set(node.id, mask);
    return tf.mul(x, mask);
  }

  backward(lossGrad: tf.Tensor2D): void {
    const nodes = this.model.graph.nodes;
    this.outputGrads.set(this.model.graph.output, lossGrad);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i];
      const dy = this.outputGrads.get(node.id);
      this.outputGrads.delete(node.id);
      if (dy && this.needsGrad.has(node.id)) this.backwardNode(node, dy);
      else dy?.dispose();
      this.release(node);
    }
  }

  /** Frees a node's forward value once its own gradient is done (every consumer's came before it). */
  private release(node: GraphNode): void {
    const value = this.values.get(node.id)!;
    // Nodes that pass their input on share its tensor; the producer of that tensor frees it.
    if (!node.inputs.some((id) => this.values.get(id) === value)) value.dispose();
    this.values.delete(node.id);
    this.dropoutMasks.get(node.id)?.dispose();
  }

  private backwardNode(node: GraphNode, dy: tf.Tensor): void {
    const inputGrads = this.gradientsOf(node, dy);
    node.inputs.forEach((id, k) => {
      const grad = inputGrads[k];
      if (grad) this.accumulate(this.outputGrads, id, grad);
    });
    if (!inputGrads.includes(dy)) dy.dispose();
  }

  /** Input gradients (undefined where no gradient is needed); parameter gradients go to `paramGrads`. */
  private gradientsOf(node: GraphNode, dy: tf.Tensor): (tf.Tensor | undefined)[] {
    switch (this.rules.get(node.id)!) {
      case 'conv':
        return [this.convBackward(node as ConvNode, dy)];
      case 'batchnorm':
        return [this.batchNormBackward(node as BatchNormNode, dy)];
      case 'passThrough':
        return [this.wantsInputGrad(node, 0) ? dy : undefined];
      case 'add':
        return this.addBackward(node as AddNode, dy);
      case 'linear':
        return [this.linearBackward(node as LinearNode, dy)];
      case 'dropout':
        return [this.wantsInputGrad(node, 0) ? tf.mul(dy, this.dropoutMasks.get(node.id)!) : undefined];
      case 'generic':
        return this.genericBackward(node, dy);
    }
  }

  private wantsInputGrad(node: GraphNode, k: number): boolean {
    return this.needsGrad.has(node.inputs[k]);
  }

  /** The kernels and attributes of tfjs's Conv2D / DepthwiseConv2dNative gradients. */
  private convBackward(node: ConvNode, dy: tf.Tensor): tf.Tensor | undefined {
    const x = this.values.get(node.inputs[0])!;
    const weight = `${node.param}.weight`;
    const filter = this.model.lookup(weight);
    const common = { strides: [node.stride, node.stride], pad: explicitPad(node), dimRoundingMode: undefined };
    const attrs = isDepthwise(node) ? { ...common, dilations: [1, 1] } : { ...common, dataFormat: 'NHWC' };
    const [inputKernel, filterKernel] = isDepthwise(node)
      ? ['DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']
      : ['Conv2DBackpropInput', 'Conv2DBackpropFilter'];
    if (this.trainable.has(weight)) {
      const grad = tf.engine().runKernel(filterKernel, { x, dy }, { ...attrs, filterShape: filter.shape } as unknown as tf.NamedAttrMap);
      this.accumulate(this.paramGrads, weight, grad as tf.Tensor);
    }
    if (!this.wantsInputGrad(node, 0)) return undefined;
    return tf.engine().runKernel(inputKernel, { dy, filter }, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }

  private batchNormBackward(node: BatchNormNode, dy: tf.Tensor): tf.Tensor | undefined {
    const { mean, variance } = this.run.batchStats.get(node.param)!;
    const x = this.values.get(node.inputs[0])!;
    const gamma = this.model.lookup(`${node.param}.weight`);
    const beta = this.model.lookup(`${node.param}.bias`);
    const [dx, dGamma, dBeta] = runBatchNormTrainGrad({ dy, x, mean, variance, gamma, beta }, this.bnAttrs(node));
    this.takeParamGrad(`${node.param}.weight`, dGamma);
    this.takeParamGrad(`${node.param}.bias`, dBeta);
    if (this.wantsInputGrad(node, 0)) return dx;
    dx.dispose();
    return undefined;
  }

  /**
   * The residual add: the branch gets dy as it is; the shortcut gets dy's leading `channels` channels and zeros
   * after them (the tape's concat, slice and pad gradients, which give exactly these values).
   */
  private addBackward(node: AddNode, dy: tf.Tensor): (tf.Tensor | undefined)[] {
    const total = dy.shape[3]!;
    const branch = this.wantsInputGrad(node, 0) ? dy : undefined;
    if (!this.wantsInputGrad(node, 1)) return [branch, undefined];
    if (node.channels >= total) return [branch, branch ? tf.clone(dy) : dy];
    const head = tf.slice(dy, [0, 0, 0, 0], [-1, -1, -1, node.channels]);
    const shortcut = tf.pad(head, [[0, 0], [0, 0], [0, 0], [0, total - node.channels]]);
    head.dispose();
    return [branch, shortcut];
  }

  /** x·W + b: tfjs's BatchMatMul and Add gradients (dy·Wᵀ, xᵀ·dy, Σ over the batch). */
  private linearBackward(node: LinearNode, dy: tf.Tensor): tf.Tensor | undefined {
    const x = this.values.get(node.inputs[0])! as tf.Tensor2D;
    const [weight, bias] = [`${node.param}.weight`, `${node.param}.bias`];
    if (this.trainable.has(weight)) this.accumulate(this.paramGrads, weight, tf.matMul(x, dy as tf.Tensor2D, true, false));
    if (this.trainable.has(bias)) this.accumulate(this.paramGrads, bias, tf.sum(dy, 0));
    if (!this.wantsInputGrad(node, 0)) return undefined;
    return tf.matMul(dy as tf.Tensor2D, this.model.lookup(weight) as tf.Tensor2D, false, true);
  }

  /** Any other node: its forward re-run under `tf.grads`, which applies tfjs's own gradient definitions. */
  private genericBackward(node: GraphNode, dy: tf.Tensor): (tf.Tensor | undefined)[] {
    const inputs = node.inputs.map((id) => this.values.get(id)!);
    const wanted = node.inputs.map((_, k) => k).filter((k) => this.wantsInputGrad(node, k));
    const params = this.paramsRead.get(node.id)!;
    const rerun: NodeRun = { ...this.run, batchStats: new Map() };
    const f = (...args: tf.Tensor[]): tf.Tensor => {
      const replaced = inputs.map((value, k) => (wanted.includes(k) ? args[wanted.indexOf(k)] : value));
      return this.model.runNode(node, replaced, this.model.lookup, rerun);
    };
    const grads = tf.grads(f)([...wanted.map((k) => inputs[k]), ...params.map((name) => this.model.lookup(name))], dy);
    params.forEach((name, p) => this.accumulate(this.paramGrads, name, grads[wanted.length + p]));
    return node.inputs.map((_, k) => (wanted.includes(k) ? grads[wanted.indexOf(k)] : undefined));
  }

  private takeParamGrad(name: string, grad: tf.Tensor): void {
    if (this.trainable.has(name)) this.accumulate(this.paramGrads, name, grad);
    else grad.dispose();
  }

  /** Sums a gradient into a slot as the tape does: add(gradient so far, new one). */
  private accumulate(slots: Map<string, tf.Tensor>, key: string, grad: tf.Tensor): void {
    const sofar = slots.get(key);
    if (!sofar) {
      slots.set(key, grad);
      return;
    }
    slots.set(key, tf.add(sofar, grad));
    sofar.dispose();
    grad.dispose();
  }
}

/**
 * Forward and backward pass of one training step on `x` (NHWC, normalised). `lossOf` gets the logits and
 * returns the loss with its gradient; the logits are freed after it returns. Returns the loss, the gradient of
 * every trainable parameter and the BN batch statistics; everything else it allocated is freed.
 */
export function trainingPass(model: TfjsModel, x: tf.Tensor4D, seed: number, lossOf: (logits: tf.Tensor2D) => LossAndGradient): TrainingPassResult {
  const pass = new TrainingPass(model, seed);
  // The tidy frees what the walk allocated and did not free itself; what is returned stays in the caller's scope.
  const loss = tf.tidy(() => {
    const { value, grad } = lossOf(pass.forward(x));
    pass.backward(grad);
    const batchStats = [...pass.run.batchStats.values()].flatMap((s) => [s.mean, s.variance]);
    return { value, grads: [...pass.paramGrads.values()], batchStats };
  }).value;
  return { loss, grads: pass.paramGrads, batchStats: pass.run.batchStats };
}
