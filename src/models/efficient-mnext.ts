import { InvalidModelError } from '../errors.js';
import { GraphBuilder, makeDivisible, pytorchDefaultInit } from './builder.js';
import { INPUT_ID, type ModelGraph, type ModelSpec, type Padding } from './graph.js';
import { type SandglassType, sandglassType } from './mobilenext.js';
import type { ArchFamily } from './registry.js';

/**
 * The EfficientNet-style MobileNeXt variants `mnext_s` (= `i2rnet-b0`) and `mnext_l` (= `i2rnet-b1`, grouped
 * 1x1 convs) of the official `efficient_mnext/model.py` (`EfficientNet` + `MBConvBlockV1`), spec §1.3.
 * One stage table for both; they differ in depth coefficient, nominal image size and 1x1 groups.
 */

/** One stage row: kernel, reduction ratio t (hidden = in // t), stride of the first block, out channels, repeats. */
export type EfficientStage = readonly [k: number, t: number, s: number, c: number, n: number];

/** The `i2rnet` block strings (every stage has se0.25), before depth scaling. */
export const EFFICIENT_MNEXT_STAGES: readonly EfficientStage[] = [
  [3, 2, 1, 96, 1],
  [3, 6, 2, 144, 1],
  [5, 6, 2, 192, 3],
  [3, 6, 2, 288, 3],
  [5, 6, 1, 384, 4],
  [5, 6, 2, 576, 4],
  [3, 6, 1, 960, 3],
  [3, 6, 1, 1280, 1],
];

const STEM_CHANNELS = 32;
/** `round_filters(1280)`: the width of the `_bn1` the official head creates but never calls. */
const HEAD_CHANNELS = 1280;
const SE_RATIO = 0.25;

export interface EfficientMnextVariant {
  readonly stages: readonly EfficientStage[];
  /** Repeats become ceil(depth * n) (`round_repeats`). */
  readonly depth: number;
  /**
   * `GlobalParams.image_size`: every conv's static "same" padding is computed from it, whatever the real
   * input or feature size (the official blocks pass the global size to `get_same_padding_conv2d`).
   */
  readonly nominalImageSize: number;
  /** `mgroup`: groups of both 1x1 convs of type A and D blocks. */
  readonly groups1x1: number;
}

export const MNEXT_S: EfficientMnextVariant = { stages: EFFICIENT_MNEXT_STAGES, depth: 1.0, nominalImageSize: 224, groups1x1: 1 };
export const MNEXT_L: EfficientMnextVariant = { stages: EFFICIENT_MNEXT_STAGES, depth: 1.1, nominalImageSize: 240, groups1x1: 2 };

/**
 * `Conv2dStaticSamePadding`: TF "SAME" padding for an `imageSize` input, fixed at construction.
 * pad = max((ceil(size / s) - 1) * s + k - size, 0), split floor-half before, the rest after.
 */
export function staticSamePadding(imageSize: number, kernel: number, stride: number): Padding {
  const out = Math.ceil(imageSize / stride);
  const total = Math.max((out - 1) * stride + kernel - imageSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before, before, total - before];
}

/** `oup = _make_divisible(inp // t, 2)`; the official "at least oup / 6" floor is dead code (`oup < oup / 6`). */
export function efficientHidden(inp: number, t: number): number {
  return makeDivisible(Math.floor(inp / t), 2);
}

/** `num_squeezed_channels = max(1, int(oup / t * se_ratio))`. */
export function seChannels(oup: number, t: number): number {
  return Math.max(1, Math.floor((oup / t) * SE_RATIO));
}

interface BlockConfig {
  readonly inp: number;
  readonly oup: number;
  readonly kernel: number;
  readonly stride: number;
  readonly t: number;
  /** The first block of a stage stores its stride as a list, which never equals 1 in the residual test. */
  readonly firstOfStage: boolean;
  readonly dropConnectRate: number;
}

/** Static-padding conv wrapper: every conv in these models pads as if its input were the nominal image. */
class StaticConvs {
  constructor(
    readonly b: GraphBuilder,
    private readonly imageSize: number,
  ) {}

  conv(x: string, param: string, out: number, kernel: number, groups = 1, bias = false): string {
    return this.b.conv(x, { param, out, kernel, groups, bias, pad: staticSamePadding(this.imageSize, kernel, 1) });
  }

  depthwise(x: string, param: string, kernel: number, stride: number): string {
    return this.b.depthwise(x, param, kernel, stride, staticSamePadding(this.imageSize, kernel, stride));
  }

  /** conv then BN (eps/momentum from the builder), the pair every Sequential slot pair holds. */
  convBn(x: string, prefix: string, slot: number, out: number, groups = 1): string {
    return this.b.batchNorm(this.conv(x, `${prefix}.${slot}`, out, 1, groups), `${prefix}.${slot + 1}`);
  }

  depthwiseBn(x: string, prefix: string, slot: number, kernel: number, stride: number): string {
    return this.b.batchNorm(this.depthwise(x, `${prefix}.${slot}`, kernel, stride), `${prefix}.${slot + 1}`);
  }
}

/**
 * `MBConvBlockV1.features`: the sandglass body with swish. Sequential indices match the official module
 * (Swish modules occupy slots 2/7 in A/D and slot 4 in B/C, so those numbers never name parameters).
 */
function sandglassFeatures(c: StaticConvs, x: string, prefix: string, cfg: BlockConfig, type: SandglassType, groups1x1: number): string {
  const { inp, oup, kernel, stride, t } = cfg;
  const hidden = efficientHidden(inp, t);
  if (type === 'B' || type === 'C') {
    const y = c.b.activation(c.convBn(c.convBn(x, prefix, 0, hidden), prefix, 2, oup), 'swish');
    return type === 'B' ? y : c.depthwiseBn(y, prefix, 5, kernel, stride);
  }
  let y = c.b.activation(c.depthwiseBn(x, prefix, 0, kernel, 1), 'swish');
  y = c.b.activation(c.convBn(c.convBn(y, prefix, 3, hidden, groups1x1), prefix, 5, oup, groups1x1), 'swish');
  // Type A carries the stage stride on its last depthwise conv; type D never strides.
  return c.depthwiseBn(y, prefix, 8, kernel, type === 'A' ? stride : 1);
}

/** Squeeze-and-excitation: mean -> 1x1 (bias) -> swish -> 1x1 (bias) -> sigmoid -> x * gate. */
function squeezeExcite(c: StaticConvs, x: string, prefix: string, squeezed: number): string {
  const channels = c.b.channelsOf(x);
  let gate = c.b.globalAvgPool(x, true);
  gate = c.b.activation(c.conv(gate, `${prefix}._se_reduce`, squeezed, 1, 1, true), 'swish');
  gate = c.b.activation(c.conv(gate, `${prefix}._se_expand`, channels, 1, 1, true), 'sigmoid');
  return c.b.mul(x, gate);
}

function efficientBlock(c: StaticConvs, x: string, prefix: string, cfg: BlockConfig, variant: EfficientMnextVariant, tensorMultiplier: number): string {
  // The official rule without MobileNeXt's keep_3x3 case: A if t == 2, B/C when the width changes, else D.
  const type = sandglassType(cfg.inp, cfg.oup, cfg.stride, cfg.t, false);
  const y = squeezeExcite(c, sandglassFeatures(c, x, `${prefix}.features`, cfg, type, variant.groups1x1), prefix, seChannels(cfg.oup, cfg.t));
  if (type !== 'D' || cfg.firstOfStage || cfg.stride !== 1 || cfg.inp !== cfg.oup) return y;
  const branch = cfg.dropConnectRate > 0 ? c.b.dropPath(y, cfg.dropConnectRate) : y;
  return c.b.add(branch, x, Math.floor(cfg.oup / tensorMultiplier));
}

/** The per-block configs in order: `round_repeats` depth scaling, stride and width change on a stage's first block. */
export function efficientBlockConfigs(variant: EfficientMnextVariant, dropConnectRate: number): BlockConfig[] {
  const blocks: Omit<BlockConfig, 'dropConnectRate'>[] = [];
  let inp = STEM_CHANNELS;
  for (const [k, t, s, c, n] of variant.stages) {
    const repeats = Math.ceil(variant.depth * n);
    for (let i = 0; i < repeats; i += 1) {
      blocks.push({ inp: i === 0 ? inp : c, oup: c, kernel: k, stride: i === 0 ? s : 1, t, firstOfStage: i === 0 });
    }
    inp = c;
  }
  // Block i of N drops its residual branch with p = rate * i / N (`extract_features`).
  return blocks.map((cfg, i) => ({ ...cfg, dropConnectRate: (dropConnectRate * i) / blocks.length }));
}

export function efficientMnext(variant: EfficientMnextVariant, spec: ModelSpec): ModelGraph {
  if (spec.width !== 1) throw new InvalidModelError(`${spec.arch} has a fixed width of 1; got --width ${spec.width}`);
  // BN momentum 0.01 = 1 - the TF decay 0.99 of GlobalParams; eps 1e-3. No init code: PyTorch defaults.
  const b = new GraphBuilder(spec, { bnEps: 1e-3, bnMomentum: 0.01, init: pytorchDefaultInit });
  const c = new StaticConvs(b, variant.nominalImageSize);
  const stem = b.conv(INPUT_ID, {
    param: '_conv_stem', out: STEM_CHANNELS, kernel: 3, stride: 2, pad: staticSamePadding(variant.nominalImageSize, 3, 2),
  });
  let x = b.activation(b.batchNorm(stem, '_bn0'), 'swish');
  efficientBlockConfigs(variant, spec.dropConnectRate).forEach((cfg, i) => {
    b.block = `_blocks.${i}`;
    x = efficientBlock(c, x, `_blocks.${i}`, cfg, variant, spec.tensorMultiplier);
  });
  b.block = 'head';
  b.unusedBatchNorm('_bn1', HEAD_CHANNELS);
  x = b.dropout(b.globalAvgPool(x, false), spec.dropRate);
  return b.finish(b.linear(x, '_fc', spec.numClasses));
}

export const mnextS = (spec: ModelSpec): ModelGraph => efficientMnext(MNEXT_S, spec);
export const mnextL = (spec: ModelSpec): ModelGraph => efficientMnext(MNEXT_L, spec);

const EFFICIENT_DEFAULTS = { width: 1, numClasses: 1000, inputSize: 224, tensorMultiplier: 1, dropRate: 0.2, dropConnectRate: 0.2 };
const NUM_CLASSES_NOTE = '--num-classes honoured (the official entry point always builds 1000 classes)';

/** Registered by registry.ts; the official names are `mnext_s` / `mnext_l`, built as `i2rnet-b0` / `i2rnet-b1`. */
export const EFFICIENT_MNEXT_FAMILIES: readonly ArchFamily[] = [
  {
    arch: 'mnext_s',
    description: `EfficientNet-style MobileNeXt i2rnet-b0 (SE, swish, 5x5 dw); ${NUM_CLASSES_NOTE}`,
    anyWidth: false,
    defaults: EFFICIENT_DEFAULTS,
    build: mnextS,
    aliases: ['i2rnet-b0', 'i2rnet_b0', 'efficienti2rnet_b0', 'mnext-b0', 'mnext_efficient_s'],
  },
  {
    arch: 'mnext_l',
    description: `EfficientNet-style MobileNeXt i2rnet-b1, grouped 1x1, padding for 240; ${NUM_CLASSES_NOTE}`,
    anyWidth: false,
    defaults: EFFICIENT_DEFAULTS,
    build: mnextL,
    aliases: ['i2rnet-b1', 'i2rnet_b1', 'efficienti2rnet_b1', 'mnext-b1', 'mnext_efficient_l'],
  },
];
