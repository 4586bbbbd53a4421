import type { NamedArray } from '../../models/state-dict.js';
import { type FusedConvNode, type InferenceGraph, type InferenceNode, isDepthwise } from '../../models/fold.js';
import { INPUT_ID, type Padding } from '../../models/graph.js';
import { TfliteGraph } from './ir.js';

/**
 * Lowers the eval-mode model description (BN folded, ReLU6 fused) to a float32 TFLite graph in NHWC, one
 * description node at a time. Nothing here knows an architecture: every node op of the description has a
 * TFLite spelling, and the description's explicit PyTorch padding decides SAME, VALID or PAD + VALID.
 */

export interface LowerOptions {
  /** Static batch size of the input tensor. */
  readonly batch: number;
  /** Append SOFTMAX so the output holds probabilities rather than logits. */
  readonly softmax: boolean;
}

type ConvPadding = { readonly padding: 'SAME' | 'VALID'; readonly explicit?: Padding };

/** TF's SAME padding for one axis: out = ceil(n / s) with the extra pixel (if any) after. */
function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** SAME where it pads exactly as PyTorch does (stride 1, symmetric k // 2), VALID where there is none, else PAD. */
export function choosePadding(node: Pick<FusedConvNode, 'pad' | 'kernel' | 'stride'>, inputHW: readonly [number, number]): ConvPadding {
  const [top, bottom, left, right] = node.pad;
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return { padding: 'VALID' };
  const [sTop, sBottom] = samePadding(inputHW[0], node.kernel[0], node.stride);
  const [sLeft, sRight] = samePadding(inputHW[1], node.kernel[1], node.stride);
  if (top === sTop && bottom === sBottom && left === sLeft && right === sRight) return { padding: 'SAME' };
  return { padding: 'VALID', explicit: node.pad };
}

/** PyTorch OIHW [O, I, kh, kw] to TFLite's OHWI [O, kh, kw, I] (CONV_2D filters). */
function oihwToOhwi(array: NamedArray): Float32Array {
  const [o, i, h, w] = array.shape;
  const out = new Float32Array(array.data.length);
  for (let oo = 0; oo < o; oo += 1) {
    for (let ii = 0; ii < i; ii += 1) {
      for (let y = 0; y < h; y += 1) {
        for (let x = 0; x < w; x += 1) out[((oo * h + y) * w + x) * i + ii] = array.data[((oo * i + ii) * h + y) * w + x];
      }
    }
  }
  return out;
}

/** Depthwise [C, 1, kh, kw] to TFLite's [1, kh, kw, C]. */
function depthwiseFilter(array: NamedArray): Float32Array {
  const [c, , h, w] = array.shape;
  const out = new Float32Array(array.data.length);
  for (let cc = 0; cc < c; cc += 1) for (let k = 0; k < h * w; k += 1) out[k * c + cc] = array.data[cc * h * w + k];
  return out;
}

class Lowering {
  readonly g = new TfliteGraph();
  private readonly values = new Map<string, number>();

  constructor(private readonly graph: InferenceGraph, private readonly options: LowerOptions) {}

  private weight(name: string): NamedArray {
    const array = this.graph.weights.get(name);
    if (!array) throw new Error(`TFLite writer: missing weight '${name}'`);
    return array;
  }

  private shapeOf(index: number): readonly number[] {
    return this.g.tensors[index].shape;
  }

  private output(node: InferenceNode): number {
    return this.g.activation(node.id, [this.options.batch, ...node.shape], node.id);
  }

  run(): TfliteGraph {
    const [h, w, c] = this.graph.inputShape;
    const input = this.g.activation(INPUT_ID, [this.options.batch, h, w, c], INPUT_ID);
    this.g.inputs = [input];
    this.values.set(INPUT_ID, input);
    for (const node of this.graph.nodes) this.values.set(node.id, this.lowerNode(node, node.inputs.map((id) => this.values.get(id)!)));
    let out = this.values.get(this.graph.output)!;
    if (this.options.softmax) {
      const probs = this.g.activation('probabilities', this.shapeOf(out));
      this.g.addOp('SOFTMAX', [out], [probs], { kind: 'softmax', beta: 1 });
      out = probs;
    }
    this.g.outputs = [out];
    return this.g;
  }

  private lowerNode(node: InferenceNode, inputs: number[]): number {
    switch (node.op) {
      case 'conv':
        return this.conv(node, inputs[0]);
      case 'relu6':
        return this.unary('RELU6', node, inputs[0]);
      case 'sigmoid':
        return this.unary('LOGISTIC', node, inputs[0]);
      case 'swish': {
        const gate = this.g.activation(`${node.id}/sigmoid`, this.shapeOf(inputs[0]));
        this.g.addOp('LOGISTIC', [inputs[0]], [gate]);
        const out = this.output(node);
        this.g.addOp('MUL', [inputs[0], gate], [out], { kind: 'mul' });
        return out;
      }
      case 'mul': {
        const out = this.output(node);
        this.g.addOp('MUL', inputs, [out], { kind: 'mul' });
        return out;
      }
      case 'add':
        return this.add(node, inputs[0], inputs[1]);
      case 'globalAvgPool':
        return this.globalPool(node, inputs[0]);
      case 'linear': {
        const weights = this.g.constFloat(`${node.param}.weight`, [node.outFeatures, node.inFeatures], this.weight(`${node.param}.weight`).data);
        const bias = this.g.constFloat(`${node.param}.bias`, [node.outFeatures], this.weight(`${node.param}.bias`).data);
        const out = this.output(node);
        this.g.addOp('FULLY_CONNECTED', [inputs[0], weights, bias], [out], { kind: 'fullyConnected' });
        return out;
      }
      case 'dropout':
      case 'dropPath':
        return inputs[0];
    }
  }

  private unary(op: 'RELU6' | 'LOGISTIC', node: InferenceNode, input: number): number {
    const out = this.output(node);
    this.g.addOp(op, [input], [out]);
    return out;
  }

  private conv(node: FusedConvNode, input: number): number {
    const [, h, w] = this.shapeOf(input);
    const { padding, explicit } = choosePadding(node, [h, w]);
    const x = explicit ? this.pad(node, input, explicit) : input;
    const activation = node.activation === 'relu6' ? 'RELU6' : 'NONE';
    const weight = this.weight(`${node.param}.weight`);
    const bias = this.weight(`${node.param}.bias`).data;
    const [kh, kw] = node.kernel;
    const out = this.output(node);
    if (isDepthwise(node)) {
      const filter = this.g.constFloat(`${node.param}.weight`, [1, kh, kw, node.outChannels], depthwiseFilter(weight));
      const b = this.g.constFloat(`${node.param}.bias`, [node.outChannels], bias);
      this.g.addOp('DEPTHWISE_CONV_2D', [x, filter, b], [out], { kind: 'depthwise', padding, stride: node.stride, activation });
      return out;
    }
    const options = { kind: 'conv2d', padding, stride: node.stride, activation } as const;
    const perGroupIn = node.inChannels / node.groups;
    const perGroupOut = node.outChannels / node.groups;
    const filterData = oihwToOhwi(weight);
    if (node.groups === 1) {
      const filter = this.g.constFloat(`${node.param}.weight`, [node.outChannels, kh, kw, perGroupIn], filterData);
      const b = this.g.constFloat(`${node.param}.bias`, [node.outChannels], bias);
      this.g.addOp('CONV_2D', [x, filter, b], [out], options);
      return out;
    }
    // Grouped conv: SPLIT the input channels, one CONV_2D per group, CONCATENATION of the results.
    const [n, ih, iw] = this.shapeOf(x);
    const axis = this.g.constInt32(`${node.id}/split_axis`, [], [3]);
    const parts = Array.from({ length: node.groups }, (_, gi) => this.g.activation(`${node.id}/group${gi}_in`, [n, ih, iw, perGroupIn]));
    this.g.addOp('SPLIT', [axis, x], parts, { kind: 'split', numSplits: node.groups });
    const perFilter = perGroupOut * kh * kw * perGroupIn;
    const results = parts.map((part, gi) => {
      const filter = this.g.constFloat(`${node.param}.weight/group${gi}`, [perGroupOut, kh, kw, perGroupIn], filterData.subarray(gi * perFilter, (gi + 1) * perFilter));
      const b = this.g.constFloat(`${node.param}.bias/group${gi}`, [perGroupOut], bias.subarray(gi * perGroupOut, (gi + 1) * perGroupOut));
      const y = this.g.activation(`${node.id}/group${gi}`, [n, ...node.shape.slice(0, 2), perGroupOut]);
      this.g.addOp('CONV_2D', [part, filter, b], [y], options);
      return y;
    });
    this.g.addOp('CONCATENATION', results, [out], { kind: 'concatenation', axis: 3 });
    return out;
  }

  /** PyTorch's symmetric zero padding made explicit, so the conv itself runs VALID. */
  private pad(node: FusedConvNode, input: number, [top, bottom, left, right]: Padding): number {
    const [n, h, w, c] = this.shapeOf(input);
    const paddings = this.g.constInt32(`${node.id}/paddings`, [4, 2], [0, 0, top, bottom, left, right, 0, 0]);
    const out = this.g.activation(`${node.id}/pad`, [n, h + top + bottom, w + left + right, c]);
    this.g.addOp('PAD', [input, paddings], [out]);
    return out;
  }

  /**
   * Full identity: one ADD. Partial identity (the shortcut covers the first `channels` channels): SPLIT_V the
   * branch into head and tail, SLICE the shortcut's head, ADD the heads, CONCATENATION with the tail — the
   * layout the official TF code builds, which every runtime runs as cheap copies.
   */
  private add(node: Extract<InferenceNode, { op: 'add' }>, branch: number, shortcut: number): number {
    const out = this.output(node);
    const [n, h, w, c] = this.shapeOf(branch);
    if (node.channels >= c) {
      this.g.addOp('ADD', [branch, shortcut], [out], { kind: 'add' });
      return out;
    }
    const k = node.channels;
    const sizes = this.g.constInt32(`${node.id}/split_sizes`, [2], [k, c - k]);
    const axis = this.g.constInt32(`${node.id}/split_axis`, [], [3]);
    const head = this.g.activation(`${node.id}/branch_head`, [n, h, w, k]);
    const tail = this.g.activation(`${node.id}/branch_tail`, [n, h, w, c - k]);
    this.g.addOp('SPLIT_V', [branch, sizes, axis], [head, tail], { kind: 'split', numSplits: 2 });
    const begin = this.g.constInt32(`${node.id}/slice_begin`, [4], [0, 0, 0, 0]);
    const size = this.g.constInt32(`${node.id}/slice_size`, [4], [n, h, w, k]);
    const shortHead = this.g.activation(`${node.id}/shortcut_head`, [n, h, w, k]);
    this.g.addOp('SLICE', [shortcut, begin, size], [shortHead]);
    const sum = this.g.activation(`${node.id}/head_sum`, [n, h, w, k]);
    this.g.addOp('ADD', [head, shortHead], [sum], { kind: 'add' });
    this.g.addOp('CONCATENATION', [sum, tail], [out], { kind: 'concatenation', axis: 3 });
    return out;
  }

  /** MEAN over H and W with keep_dims (what every runtime accelerates), then RESHAPE to [N, C] for a vector. */
  private globalPool(node: Extract<InferenceNode, { op: 'globalAvgPool' }>, input: number): number {
    const [n, , , c] = this.shapeOf(input);
    const axes = this.g.constInt32(`${node.id}/axes`, [2], [1, 2]);
    if (node.keepDims) {
      const out = this.output(node);
      this.g.addOp('MEAN', [input, axes], [out], { kind: 'reducer', keepDims: true });
      return out;
    }
    const pooled = this.g.activation(`${node.id}/mean`, [n, 1, 1, c]);
    this.g.addOp('MEAN', [input, axes], [pooled], { kind: 'reducer', keepDims: true });
    const shape = this.g.constInt32(`${node.id}/shape`, [2], [n, c]);
    const out = this.output(node);
    this.g.addOp('RESHAPE', [pooled, shape], [out], { kind: 'reshape', newShape: [n, c] });
    return out;
  }
}

export function lowerToTflite(graph: InferenceGraph, options: LowerOptions): TfliteGraph {
  return new Lowering(graph, options).run();
}
