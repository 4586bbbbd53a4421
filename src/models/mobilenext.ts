import { GraphBuilder, fanOutNormalInit, makeDivisible } from './builder.js';
import { INPUT_ID, type ModelGraph, type ModelSpec } from './graph.js';

/**
 * The official MobileNeXt (`MXNet` in mnext.py): the stage table (t, c, n, s), where t is a *reduction* ratio
 * (hidden = in // t). The first block of a stage takes stride s and keeps its first 3x3 when it is a lone
 * stride-1 stage (`keep_3x3`).
 */
export const MOBILENEXT_STAGES: readonly (readonly [t: number, c: number, n: number, s: number])[] = [
  [2, 96, 1, 2],
  [6, 144, 1, 1],
  [6, 192, 3, 2],
  [6, 288, 3, 2],
  [6, 384, 4, 1],
  [6, 576, 4, 2],
  [6, 960, 3, 1],
  [6, 1280, 1, 1],
];

/** Sandglass block variants as the official SGBlock chooses them (spec §1.2). */
export type SandglassType = 'A' | 'B' | 'C' | 'D';

export function sandglassType(inp: number, oup: number, stride: number, t: number, keep3x3: boolean): SandglassType {
  if (t === 2) return 'A';
  if (inp !== oup && stride === 1 && !keep3x3) return 'B';
  if (inp !== oup && stride === 2 && !keep3x3) return 'C';
  return 'D';
}

/** h = in // t, floored at make_divisible(ceil(out / 6), 16): the bottleneck is never thinner than ~out/6. */
export function sandglassHidden(inp: number, oup: number, t: number): number {
  const hidden = Math.floor(inp / t);
  return hidden < oup / 6 ? makeDivisible(Math.ceil(oup / 6), 16) : hidden;
}

export interface SandglassBlockConfig {
  readonly inp: number;
  readonly oup: number;
  readonly stride: number;
  readonly t: number;
  readonly keep3x3: boolean;
}

/**
 * One sandglass block: depthwise on the wide ends, linear 1x1 bottleneck in the middle. Sequential indices
 * match the official module (ReLU6 slots are skipped in parameter names).
 */
export function sandglassBlock(b: GraphBuilder, x: string, prefix: string, cfg: SandglassBlockConfig, tensorMultiplier: number): string {
  const { inp, oup, stride, t, keep3x3 } = cfg;
  const hidden = sandglassHidden(inp, oup, t);
  const type = sandglassType(inp, oup, stride, t, keep3x3);
  const p = `${prefix}.conv`;
  if (type === 'B' || type === 'C') {
    let y = b.batchNorm(b.conv(x, { param: `${p}.0`, out: hidden, kernel: 1 }), `${p}.1`);
    y = b.activation(b.batchNorm(b.conv(y, { param: `${p}.2`, out: oup, kernel: 1 }), `${p}.3`), 'relu6');
    if (type === 'B') return y;
    return b.batchNorm(b.depthwise(y, `${p}.5`, 3, 2), `${p}.6`);
  }
  let y = b.activation(b.batchNorm(b.depthwise(x, `${p}.0`, 3), `${p}.1`), 'relu6');
  y = b.batchNorm(b.conv(y, { param: `${p}.3`, out: hidden, kernel: 1 }), `${p}.4`);
  y = b.activation(b.batchNorm(b.conv(y, { param: `${p}.5`, out: oup, kernel: 1 }), `${p}.6`), 'relu6');
  // Type A carries the stage stride on its last depthwise conv; type D hard-codes stride 1 there.
  y = b.batchNorm(b.depthwise(y, `${p}.8`, 3, type === 'A' ? stride : 1), `${p}.9`);
  const identity = type === 'D' && !keep3x3 && stride === 1 && inp === oup;
  return identity ? b.add(y, x, Math.floor(oup / tensorMultiplier)) : y;
}

export function mobilenext(spec: ModelSpec): ModelGraph {
  const { width } = spec;
  const b = new GraphBuilder(spec, { bnEps: 1e-5, bnMomentum: 0.1, init: fanOutNormalInit });
  const divisor = width === 0.1 ? 4 : 8;
  let channels = makeDivisible(32 * width, divisor);
  let x = b.activation(b.batchNorm(b.conv(INPUT_ID, { param: 'features.0.0', out: channels, kernel: 3, stride: 2 }), 'features.0.1'), 'relu6');
  let index = 1;
  for (const [t, c, n, s] of MOBILENEXT_STAGES) {
    // The last stage keeps 1280 channels at widths below 1 (official special case).
    const out = c === 1280 && width < 1 ? 1280 : makeDivisible(c * width, divisor);
    for (let i = 0; i < n; i += 1) {
      b.block = `features.${index}`;
      const cfg = { inp: channels, oup: out, stride: i === 0 ? s : 1, t, keep3x3: i === 0 && n === 1 && s === 1 };
      x = sandglassBlock(b, x, `features.${index}`, cfg, spec.tensorMultiplier);
      channels = out;
      index += 1;
    }
  }
  b.block = 'head';
  x = b.globalAvgPool(x, false);
  x = b.dropout(x, spec.dropRate);
  return b.finish(b.linear(x, 'classifier.1', spec.numClasses));
}
