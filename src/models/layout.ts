import type { NamedArray } from '../io/state-dict.js';

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

/** OIHW -> HWIO (conv), [C,1,kh,kw] -> [kh,kw,C,1] (depthwise), [out,in] -> [in,out] (linear). */
export function torchToTf(kind: WeightKind, array: NamedArray): Float32Array {
  const { shape, data } = array;
  if (kind === 'vector') return data;
  const out = new Float32Array(data.length);
  if (kind === 'linear') {
    const [o, i] = shape;
    for (let a = 0; a < o; a += 1) for (let b = 0; b < i; b += 1) out[b * o + a] = data[a * i + b];
    return out;
  }
  const [o, i, h, w] = shape;
  // Depthwise [C,1,kh,kw] -> [kh,kw,C,1] is the conv rule with in=1 and the channel axis in the "in" slot.
  const [oCount, iCount] = kind === 'depthwise' ? [1, o] : [o, i];
  for (let oo = 0; oo < o; oo += 1) {
    for (let ii = 0; ii < i; ii += 1) {
      for (let y = 0; y < h; y += 1) {
        for (let x = 0; x < w; x += 1) {
          const src = ((oo * i + ii) * h + y) * w + x;
          const [co, ci] = kind === 'depthwise' ? [0, oo] : [oo, ii];
          out[((y * w + x) * iCount + ci) * oCount + co] = data[src];
        }
      }
    }
  }
  return out;
}

/** Inverse of torchToTf: TF-layout data back to the PyTorch layout `torchShape`. */
export function tfToTorch(kind: WeightKind, torchShape: readonly number[], data: Float32Array): Float32Array {
  if (kind === 'vector') return Float32Array.from(data);
  const out = new Float32Array(data.length);
  if (kind === 'linear') {
    const [o, i] = torchShape;
    for (let a = 0; a < o; a += 1) for (let b = 0; b < i; b += 1) out[a * i + b] = data[b * o + a];
    return out;
  }
  const [o, i, h, w] = torchShape;
  const [oCount, iCount] = kind === 'depthwise' ? [1, o] : [o, i];
  for (let oo = 0; oo < o; oo += 1) {
    for (let ii = 0; ii < i; ii += 1) {
      for (let y = 0; y < h; y += 1) {
        for (let x = 0; x < w; x += 1) {
          const [co, ci] = kind === 'depthwise' ? [0, oo] : [oo, ii];
          out[((oo * i + ii) * h + y) * w + x] = data[((y * w + x) * iCount + ci) * oCount + co];
        }
      }
    }
  }
  return out;
}
