import type { Range } from './quantize.js';

/**
 * Choosing the int8 range of one activation tensor from calibration values. The full min/max spends most of the
 * 256 steps on a few outliers; the range that minimises the expected squared quantisation error (clipping plus
 * rounding) over the observed values is the standard fix (TensorRT's and PyTorch's MSE/histogram observers).
 */

const LEVELS = 255;

/** Sorted values with running sums, so the clipping error of any range is two binary searches. */
export class SortedSample {
  readonly values: Float64Array;
  private readonly sum: Float64Array;
  private readonly sumSq: Float64Array;

  constructor(values: ArrayLike<number>) {
    this.values = Float64Array.from(values).sort();
    this.sum = new Float64Array(this.values.length + 1);
    this.sumSq = new Float64Array(this.values.length + 1);
    this.values.forEach((v, i) => {
      this.sum[i + 1] = this.sum[i] + v;
      this.sumSq[i + 1] = this.sumSq[i] + v * v;
    });
  }

  get size(): number {
    return this.values.length;
  }

  /** Index of the first value >= x. */
  private lowerBound(x: number): number {
    let [lo, hi] = [0, this.values.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.values[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Sum of (v - c)^2 over values with index in [from, to). */
  private squaredDistance(from: number, to: number, c: number): number {
    const n = to - from;
    const s = this.sum[to] - this.sum[from];
    return this.sumSq[to] - this.sumSq[from] - 2 * c * s + n * c * c;
  }

  /** Mean squared error of quantising the values to 256 steps over [lo, hi]: clipping outside, rounding inside. */
  quantizationError(lo: number, hi: number): number {
    const below = this.lowerBound(lo);
    const above = this.lowerBound(hi);
    const step = (hi - lo) / LEVELS;
    const clipped = this.squaredDistance(0, below, lo) + this.squaredDistance(above, this.values.length, hi);
    return (clipped + ((above - below) * step * step) / 12) / Math.max(this.values.length, 1);
  }
}

/** Fractions of the observed extremes tried as clipping points (1 keeps the extreme). */
const CLIP_FRACTIONS = Array.from({ length: 61 }, (_, i) => 1 - i * 0.0125);

/**
 * The range (still containing 0, as int8 activations must) with the least quantisation error over the sample.
 * Each end is searched over fractions of the observed extreme; a one-sided tensor (ReLU6 outputs) keeps 0.
 */
export function mseRange(sample: SortedSample): Range {
  if (sample.size === 0) throw new Error('mseRange: no values');
  const min = Math.min(sample.values[0], 0);
  const max = Math.max(sample.values[sample.size - 1], 0);
  if (max - min <= 0) return { min, max };
  let best = { min, max, error: sample.quantizationError(min, max) };
  for (const a of min < 0 ? CLIP_FRACTIONS : [1]) {
    for (const b of max > 0 ? CLIP_FRACTIONS : [1]) {
      const error = sample.quantizationError(min * a, max * b);
      if (error < best.error) best = { min: min * a, max: max * b, error };
    }
  }
  return { min: best.min, max: best.max };
}

/** Scores ranked below this many stay ordered (int8 files still answer top-5 queries). */
export const RANKED_CLASSES = 5;

/**
 * The range of the class scores a top-k reader needs. Clipping is monotonic, so the order of the top
 * `ranked` classes survives as long as the `ranked`-th largest score stays above the range's low end, and the
 * top-1 class survives as long as the runner-up stays below its high end: [smallest `ranked`-th score, largest
 * runner-up score] over the calibration rows, widened by `margin` of its width on both sides for images the
 * calibration did not see. Only a clear winner's score saturates (softmax barely notices), and the steps where
 * classes compete get several times finer than over the full min/max.
 */
export function decisionRange(scores: Float32Array, classes: number, options: { ranked?: number; margin?: number } = {}): Range {
  const rows = scores.length / classes;
  if (!(rows >= 1 && Number.isInteger(rows)) || classes < 2) throw new Error(`decisionRange: ${scores.length} scores are not rows of ${classes} classes`);
  const ranked = Math.min(options.ranked ?? RANKED_CLASSES, classes);
  const margin = options.margin ?? 0.25;
  let [lowestRanked, highestSecond] = [Infinity, -Infinity];
  let [min, max] = [Infinity, -Infinity];
  for (let r = 0; r < rows; r += 1) {
    const sorted = Float32Array.from(scores.subarray(r * classes, (r + 1) * classes)).sort();
    lowestRanked = Math.min(lowestRanked, sorted[classes - ranked]);
    highestSecond = Math.max(highestSecond, sorted[classes - 2]);
    [min, max] = [Math.min(min, sorted[0]), Math.max(max, sorted[classes - 1])];
  }
  const width = Math.max(highestSecond - lowestRanked, 1e-3);
  // never wider than what was seen: a model whose scores are already compact keeps its min/max
  return { min: Math.max(min, lowestRanked - margin * width), max: Math.min(max, highestSecond + margin * width) };
}
