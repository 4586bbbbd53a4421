/**
 * The one home of scoring a classifier's logits (timm's utils/metrics.py): top-k, softmax, cross entropy and
 * correct@k, on plain row-major [rows, classes] arrays. Evaluation, per-epoch validation, training accuracy,
 * runtime comparisons and `Model.classify` all call these; the differentiable training loss is the only
 * cross entropy computed elsewhere (on tensors, in train/step.ts).
 */

/** Row `r` of a row-major [rows, classes] array: a view for typed arrays (one-hot targets are int32, logits float32). */
function rowOf(logits: ArrayLike<number>, classes: number, r: number): ArrayLike<number> {
  const [start, end] = [r * classes, (r + 1) * classes];
  return ArrayBuffer.isView(logits) ? (logits as unknown as Float32Array).subarray(start, end) : Array.prototype.slice.call(logits, start, end);
}

/** Indices of the k largest values, largest first; ties keep the lower index first (as `argmax` and tfjs's topk). */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let c = 0; c < row.length; c += 1) {
    let pos = best.length;
    while (pos > 0 && row[c] > row[best[pos - 1]]) pos -= 1;
    if (pos < k) {
      best.splice(pos, 0, c);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/** log(sum(exp(row))), computed stably. */
function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i += 1) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i += 1) sum += Math.exp(row[i] - max);
  return Math.log(sum) + max;
}

/** softmax(row): class probabilities that sum to 1. */
export function softmax(row: ArrayLike<number>): Float32Array {
  const lse = logSumExp(row);
  return Float32Array.from({ length: row.length }, (_, i) => Math.exp(row[i] - lse));
}

/** -log softmax(row)[target]: the cross entropy of one row against a hard label. */
export function crossEntropy(row: ArrayLike<number>, target: number): number {
  return logSumExp(row) - row[target];
}

/** The top class of every row of a row-major [rows, classes] logit array. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): number[] {
  return Array.from({ length: logits.length / classes }, (_, r) => topK(rowOf(logits, classes, r), 1)[0]);
}

/** One row's verdict against its label: the top-k classes (largest first) and the cross entropy. */
export interface RowScore {
  readonly top: readonly number[];
  readonly loss: number;
}

export function scoreRow(row: ArrayLike<number>, target: number, k: number): RowScore {
  return { top: topK(row, k), loss: crossEntropy(row, target) };
}

export interface BatchScore {
  /** Rows whose top class is the label. */
  readonly correct1: number;
  /** Rows whose label is among the top k (timm's correct@k). */
  readonly correctK: number;
  /** Summed cross entropy over the rows. */
  readonly lossSum: number;
}

/** correct@1, correct@k (k capped at the class count) and the summed cross entropy of a [rows, classes] batch. */
export function scoreBatch(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, k = 5): BatchScore {
  const kk = Math.min(k, classes);
  let correct1 = 0;
  let correctK = 0;
  let lossSum = 0;
  for (let r = 0; r < labels.length; r += 1) {
    const { top, loss } = scoreRow(rowOf(logits, classes, r), labels[r], kk);
    if (top[0] === labels[r]) correct1 += 1;
    if (top.includes(labels[r])) correctK += 1;
    lossSum += loss;
  }
  return { correct1, correctK, lossSum };
}
