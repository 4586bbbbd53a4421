import { GraphBuilder, fanOutNormalInit, makeDivisible } from './builder.js';
import { INPUT_ID, type ModelGraph, type ModelSpec } from './graph.js';

/** torchvision's MobileNetV2 stage table (t = expansion, c, n, s): the baseline the paper compares against. */
export const MOBILENETV2_STAGES: readonly (readonly [t: number, c: number, n: number, s: number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Conv + BN + ReLU6 as torchvision's `ConvBNReLU` (Sequential indices .0 conv, .1 BN). */
function convBnRelu(b: GraphBuilder, x: string, prefix: string, out: number, kernel: number, stride = 1, depthwise = false): string {
  const conv = depthwise ? b.depthwise(x, `${prefix}.0`, kernel, stride) : b.conv(x, { param: `${prefix}.0`, out, kernel, stride });
  return b.activation(b.batchNorm(conv, `${prefix}.1`), 'relu6');
}

/** Inverted residual: expand 1x1 -> depthwise 3x3 (stride) -> linear project 1x1, shortcut when shapes agree. */
export function invertedResidual(
  b: GraphBuilder, x: string, prefix: string, inp: number, oup: number, stride: number, t: number, tensorMultiplier: number,
): string {
  const p = `${prefix}.conv`;
  let y = x;
  let index = 0;
  if (t !== 1) {
    y = convBnRelu(b, y, `${p}.${index}`, Math.round(inp * t), 1);
    index += 1;
  }
  y = convBnRelu(b, y, `${p}.${index}`, 0, 3, stride, true);
  y = b.batchNorm(b.conv(y, { param: `${p}.${index + 1}`, out: oup, kernel: 1 }), `${p}.${index + 2}`);
  return stride === 1 && inp === oup ? b.add(y, x, Math.floor(oup / tensorMultiplier)) : y;
}

export function mobilenetv2(spec: ModelSpec): ModelGraph {
  const { width } = spec;
  const b = new GraphBuilder(spec, { bnEps: 1e-5, bnMomentum: 0.1, init: fanOutNormalInit });
  let channels = makeDivisible(32 * width, 8);
  let x = convBnRelu(b, INPUT_ID, 'features.0', channels, 3, 2);
  let index = 1;
  for (const [t, c, n, s] of MOBILENETV2_STAGES) {
    const out = makeDivisible(c * width, 8);
    for (let i = 0; i < n; i += 1) {
      b.block = `features.${index}`;
      x = invertedResidual(b, x, `features.${index}`, channels, out, i === 0 ? s : 1, t, spec.tensorMultiplier);
      channels = out;
      index += 1;
    }
  }
  b.block = `features.${index}`;
  x = convBnRelu(b, x, `features.${index}`, makeDivisible(1280 * Math.max(1, width), 8), 1);
  b.block = 'head';
  x = b.dropout(b.globalAvgPool(x, false), spec.dropRate);
  return b.finish(b.linear(x, 'classifier.1', spec.numClasses));
}
