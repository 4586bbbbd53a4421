/**
 * Validation as timm's train.py runs it each epoch: eval-mode forward over the val loader, plain cross entropy,
 * top-1 / top-5 as batch-size-weighted means in percent.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageBatch, ImageLoader } from '../data/loader.js';
import type { TfjsModel } from '../models/executor.js';

export interface EvalMetrics {
  loss: number;
  top1: number;
  top5: number;
  images: number;
}

/** Counts of correct@1 / correct@k and the summed CE of one batch of logits. */
export function scoreLogits(logits: tf.Tensor2D, labels: Int32Array, k = 5): { correct1: number; correctK: number; lossSum: number } {
  const classes = logits.shape[1];
  const topK = Math.min(k, classes);
  const [indices, lossSum] = tf.tidy(() => {
    const { indices: top } = tf.topk(logits, topK);
    const target = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
    const ce = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits))));
    return [top.dataSync() as Int32Array, ce.dataSync()[0]];
  });
  let correct1 = 0;
  let correctK = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const row = indices.subarray(i * topK, (i + 1) * topK);
    if (row[0] === labels[i]) correct1 += 1;
    if (row.includes(labels[i])) correctK += 1;
  }
  return { correct1, correctK, lossSum };
}

export type InputMaker = (batch: ImageBatch) => tf.Tensor4D;

/** Evaluates one or more models (raw and EMA) on the same val batches, decoding each batch once. */
export async function evaluateModels(models: readonly TfjsModel[], loader: ImageLoader, toInput: InputMaker, onBatch?: (done: number, total: number) => void): Promise<EvalMetrics[]> {
  const sums = models.map(() => ({ correct1: 0, correctK: 0, lossSum: 0 }));
  let images = 0;
  let done = 0;
  for await (const batch of loader.epoch(0)) {
    const x = toInput(batch);
    models.forEach((model, i) => {
      const logits = tf.tidy(() => model.forward(x, { training: false }).logits);
      const score = scoreLogits(logits, batch.labels);
      logits.dispose();
      sums[i].correct1 += score.correct1;
      sums[i].correctK += score.correctK;
      sums[i].lossSum += score.lossSum;
    });
    x.dispose();
    images += batch.labels.length;
    done += 1;
    onBatch?.(done, loader.batchesPerEpoch);
  }
  const n = Math.max(1, images);
  return sums.map((s) => ({ loss: s.lossSum / n, top1: (100 * s.correct1) / n, top5: (100 * s.correctK) / n, images }));
}
