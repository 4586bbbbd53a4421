import type { NamedArray } from './state-dict.js';

/**
 * PyTorch <-> TF layout transposes for weights. Conv weights are OIHW in PyTorch and HWIO ([kh, kw, in/groups,
 * out]) in TF; a depthwise conv's [C, 1, kh, kw] becomes [kh, kw, C, 1]; linear [out, in] becomes [in, out].
 * 1-D tensors are the same in both.
 */
export type WeightKind = 'conv' | 'depthwise' | 'linear' | 'vector';

export function tfShape(kind: WeightKind, torchShape: readonly number[]): number[] {
  const [o, i, h, w] = torchShape;
  if (kind === 'conv') return [h, w, i, o];
  if (kind === 'depthwise') return [h, w, o, 1];
  if (kind === 'linear') return [i, o];
  return [...torchShape];
}

/**
 * For every element of a PyTorch-layout tensor, its index in the TF layout: the one permutation both
 * directions of the transpose use.
 */
function tfIndices(kind: Exclude<WeightKind, 'vector'>, torchShape: readonly number[]): Uint32Array {
  if (kind === 'linear') {
    const [o, i] = torchShape;
    const map = new Uint32Array(o * i);
    for (let a = 0; a < o; a += 1) for (let b = 0; b < i; b += 1) map[a * i + b] = b * o + a;
    return map;
  }
  const [o, i, h, w] = torchShape;
  // Depthwise [C,1,kh,kw] -> [kh,kw,C,1] is the conv rule with in=1 and the channel axis in the "in" slot.
  const [oCount, iCount] = kind === 'depthwise' ? [1, o] : [o, i];
  const map = new Uint32Array(o * i * h * w);
  for (let oo = 0; oo < o; oo += 1) {
    for (let ii = 0; ii < i; ii += 1) {
      const [co, ci] = kind === 'depthwise' ? [0, oo] : [oo, ii];
      for (let y = 0; y < h; y += 1) {
        for (let x = 0; x < w; x += 1) map[((oo * i + ii) * h + y) * w + x] = ((y * w + x) * iCount + ci) * oCount + co;
      }
    }
  }
  return map;
}

/** OIHW -> HWIO (conv), [C,1,kh,kw] -> [kh,kw,C,1] (depthwise), [out,in] -> [in,out] (linear). */
export function torchToTf(kind: WeightKind, array: NamedArray): Float32Array {
  if (kind === 'vector') return array.data;
  const map = tfIndices(kind, array.shape);
  const out = new Float32Array(array.data.length);
  for (let k = 0; k < map.length; k += 1) out[map[k]] = array.data[k];
  return out;
}

/** Inverse of torchToTf: TF-layout data back to the PyTorch layout `torchShape`. */
export function tfToTorch(kind: WeightKind, torchShape: readonly number[], data: Float32Array): Float32Array {
  if (kind === 'vector') return Float32Array.from(data);
  const map = tfIndices(kind, torchShape);
  const out = new Float32Array(data.length);
  for (let k = 0; k < map.length; k += 1) out[k] = data[map[k]];
  return out;
}
