import { InvalidModelError } from '../errors.js';
import {
  type ActivationNode,
  type GraphNode,
  INPUT_ID,
  type ModelGraph,
  type ModelSpec,
  type Padding,
  type ParamInfo,
  type ParamInit,
  type Shape,
  convOutputSize,
} from './graph.js';

/** How a model family initialises conv and linear weights (the reference code's `_initialize_weights`). */
export interface InitScheme {
  conv(outChannels: number, inPerGroup: number, kh: number, kw: number): ParamInit;
  convBias(inPerGroup: number, kh: number, kw: number): ParamInit;
  linear(inFeatures: number, outFeatures: number): ParamInit;
  linearBias(inFeatures: number): ParamInit;
}

/** timm/torchvision MobileNet init: conv kaiming-normal fan_out, linear N(0, 0.01), zero biases. */
export const fanOutNormalInit: InitScheme = {
  conv: (out, _inPerGroup, kh, kw) => ({ kind: 'normal', std: Math.sqrt(2 / (kh * kw * out)) }),
  convBias: () => ({ kind: 'const', value: 0 }),
  linear: () => ({ kind: 'normal', std: 0.01 }),
  linearBias: () => ({ kind: 'const', value: 0 }),
};

/** PyTorch's default init (kaiming-uniform a=sqrt(5)): U(±1/sqrt(fan_in)) for weights and biases alike. */
export const pytorchDefaultInit: InitScheme = {
  conv: (_out, inPerGroup, kh, kw) => ({ kind: 'uniform', bound: 1 / Math.sqrt(inPerGroup * kh * kw) }),
  convBias: (inPerGroup, kh, kw) => ({ kind: 'uniform', bound: 1 / Math.sqrt(inPerGroup * kh * kw) }),
  linear: (inFeatures) => ({ kind: 'uniform', bound: 1 / Math.sqrt(inFeatures) }),
  linearBias: (inFeatures) => ({ kind: 'uniform', bound: 1 / Math.sqrt(inFeatures) }),
};

export interface ConvOptions {
  readonly param: string;
  readonly out: number;
  readonly kernel: number;
  readonly stride?: number;
  /** Defaults to symmetric k // 2 (PyTorch `padding=k//2`). */
  readonly pad?: Padding;
  readonly groups?: number;
  readonly bias?: boolean;
}

export interface BuilderOptions {
  readonly bnEps: number;
  readonly bnMomentum: number;
  readonly init: InitScheme;
}

/**
 * Appends nodes to a graph while tracking shapes and state_dict entries. Family factories (mobilenext.ts,
 * mobilenetv2.ts, ...) describe their layers through it; it is the only place that knows how a layer kind
 * maps to parameters, so every consumer sees the same names and shapes.
 */
export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly params: ParamInfo[] = [];
  private readonly shapes = new Map<string, Shape>();
  private readonly unused: string[] = [];
  private counter = 0;
  /** Current block label, set by the family factory before it adds a block's layers. */
  block = 'stem';

  constructor(
    private readonly spec: ModelSpec,
    private readonly options: BuilderOptions,
  ) {
    this.shapes.set(INPUT_ID, [spec.inputSize, spec.inputSize, 3]);
  }

  shapeOf(id: string): Shape {
    const shape = this.shapes.get(id);
    if (!shape) throw new Error(`graph builder: unknown node '${id}'`);
    return shape;
  }

  channelsOf(id: string): number {
    const shape = this.shapeOf(id);
    return shape[shape.length - 1];
  }

  conv(input: string, o: ConvOptions): string {
    const [h, w, inChannels] = this.shapeOf(input);
    const stride = o.stride ?? 1;
    const groups = o.groups ?? 1;
    const half = Math.floor(o.kernel / 2);
    const pad = o.pad ?? [half, half, half, half];
    if (inChannels % groups !== 0 || o.out % groups !== 0) {
      throw new Error(`${o.param}: channels ${inChannels}->${o.out} not divisible by groups ${groups}`);
    }
    const shape = [
      convOutputSize(h, o.kernel, stride, pad[0], pad[1]),
      convOutputSize(w, o.kernel, stride, pad[2], pad[3]),
      o.out,
    ];
    const inPerGroup = inChannels / groups;
    this.param(`${o.param}.weight`, [o.out, inPerGroup, o.kernel, o.kernel], true, true,
      this.options.init.conv(o.out, inPerGroup, o.kernel, o.kernel));
    if (o.bias) {
      this.param(`${o.param}.bias`, [o.out], true, false, this.options.init.convBias(inPerGroup, o.kernel, o.kernel));
    }
    return this.push({
      op: 'conv', id: o.param, inputs: [input], shape, block: this.block, param: o.param, inChannels,
      outChannels: o.out, kernel: [o.kernel, o.kernel], stride, pad, groups, bias: o.bias ?? false,
    });
  }

  /** Depthwise conv: groups = channels, channel count unchanged. */
  depthwise(input: string, param: string, kernel: number, stride = 1, pad?: Padding): string {
    const channels = this.channelsOf(input);
    return this.conv(input, { param, out: channels, kernel, stride, pad, groups: channels });
  }

  batchNorm(input: string, param: string): string {
    const channels = this.channelsOf(input);
    this.batchNormParams(param, channels);
    return this.push({
      op: 'batchnorm', id: param, inputs: [input], shape: this.shapeOf(input), block: this.block, param, channels,
      eps: this.options.bnEps, momentum: this.options.bnMomentum,
    });
  }

  /** A BN that the reference model creates but never calls: its state_dict entries exist, no node reads them. */
  unusedBatchNorm(param: string, channels: number): void {
    const before = this.params.length;
    this.batchNormParams(param, channels);
    this.unused.push(...this.params.slice(before).map((p) => p.name));
  }

  activation(input: string, op: ActivationNode['op']): string {
    return this.push({ op, id: this.nextId(op), inputs: [input], shape: this.shapeOf(input), block: this.block });
  }

  /** branch + shortcut on the first `channels` channels (all of them by default). */
  add(branch: string, shortcut: string, channels?: number): string {
    const shape = this.shapeOf(branch);
    const all = shape[shape.length - 1];
    return this.push({
      op: 'add', id: this.nextId('add'), inputs: [branch, shortcut], shape, block: this.block, channels: channels ?? all,
    });
  }

  mul(input: string, gate: string): string {
    return this.push({ op: 'mul', id: this.nextId('mul'), inputs: [input, gate], shape: this.shapeOf(input), block: this.block });
  }

  globalAvgPool(input: string, keepDims: boolean): string {
    const channels = this.channelsOf(input);
    const shape = keepDims ? [1, 1, channels] : [channels];
    return this.push({ op: 'globalAvgPool', id: this.nextId('pool'), inputs: [input], shape, block: this.block, keepDims });
  }

  dropout(input: string, rate: number): string {
    return this.push({ op: 'dropout', id: this.nextId('dropout'), inputs: [input], shape: this.shapeOf(input), block: this.block, rate });
  }

  dropPath(input: string, rate: number): string {
    return this.push({ op: 'dropPath', id: this.nextId('droppath'), inputs: [input], shape: this.shapeOf(input), block: this.block, rate });
  }

  linear(input: string, param: string, outFeatures: number): string {
    const inFeatures = this.channelsOf(input);
    this.param(`${param}.weight`, [outFeatures, inFeatures], true, true, this.options.init.linear(inFeatures, outFeatures));
    this.param(`${param}.bias`, [outFeatures], true, false, this.options.init.linearBias(inFeatures));
    return this.push({ op: 'linear', id: param, inputs: [input], shape: [outFeatures], block: this.block, param, inFeatures, outFeatures });
  }

  finish(output: string): ModelGraph {
    return {
      spec: this.spec,
      inputShape: this.shapeOf(INPUT_ID),
      nodes: this.nodes,
      output,
      params: this.params,
      unusedParams: this.unused,
    };
  }

  private batchNormParams(param: string, channels: number): void {
    this.param(`${param}.weight`, [channels], true, false, { kind: 'const', value: 1 });
    this.param(`${param}.bias`, [channels], true, false, { kind: 'const', value: 0 });
    this.param(`${param}.running_mean`, [channels], false, false, { kind: 'const', value: 0 });
    this.param(`${param}.running_var`, [channels], false, false, { kind: 'const', value: 1 });
  }

  private param(name: string, shape: number[], trainable: boolean, decay: boolean, init: ParamInit): void {
    this.params.push({ name, shape, trainable, decay, init });
  }

  private nextId(op: string): string {
    this.counter += 1;
    return `${this.block}/${op}_${this.counter}`;
  }

  private push(node: GraphNode): string {
    if (this.shapes.has(node.id)) throw new Error(`graph builder: duplicate node id '${node.id}'`);
    for (const input of node.inputs) this.shapeOf(input);
    const shape = node.shape;
    if (shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new InvalidModelError(
        `input size ${this.spec.inputSize} is too small for ${this.spec.arch}: ${node.id} would have shape [${shape.join(', ')}]`,
      );
    }
    this.nodes.push(node);
    this.shapes.set(node.id, shape);
    return node.id;
  }
}

/**
 * The TF/timm channel rounding rule: nearest multiple of `divisor`, never below `minValue` (defaults to the
 * divisor) and never more than 10% below v.
 */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  let rounded = Math.max(minValue, Math.floor(Math.floor(v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}
