import { Rng } from '../util/random.js';

export interface LogitDifference {
  /** max |actual - expected| */
  readonly maxAbs: number;
  /** max |expected|: the logit scale the difference is judged against. */
  readonly scale: number;
  /** maxAbs / scale */
  readonly relative: number;
}

/** How far one runtime's logits are from another's, absolute and relative to the logit scale. */
export function compareLogits(actual: ArrayLike<number>, expected: ArrayLike<number>): LogitDifference {
  if (actual.length !== expected.length) throw new Error(`compareLogits: ${actual.length} values vs ${expected.length}`);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i += 1) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN must fail a comparison, never pass it.
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbs, scale, relative: maxAbs / Math.max(scale, 1e-12) };
}

/** A seeded NHWC batch of standard-normal values (what a normalised image looks like to the network). */
export function randomInputBatch(batch: number, size: number, seed = 1234): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: batch * size * size * 3 }, () => rng.normal());
}
