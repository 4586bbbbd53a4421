/** A tensor in PyTorch layout (conv OIHW, depthwise [C,1,kh,kw], linear [out,in]), float32. */
export interface NamedArray {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Weights keyed by PyTorch state_dict names, in PyTorch layouts: the neutral form every reader and writer uses. */
export type StateDict = Map<string, NamedArray>;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
