/**
 * Validation as timm's train.py runs it each epoch: eval-mode forward over the val loader, plain cross entropy,
 * top-1 / top-5 as batch-size-weighted means in percent.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageBatch, ImageLoader } from '../data/loader.js';
import type { TfjsModel } from '../models/executor.js';
import { scoreBatch } from '../util/metrics.js';

export interface EvalMetrics {
  loss: number;
  top1: number;
  top5: number;
  images: number;
}

export type InputMaker = (batch: ImageBatch) => tf.Tensor4D;

/** Evaluates one or more models (raw and EMA) on the same val batches, decoding each batch once. */
export async function evaluateModels(models: readonly TfjsModel[], loader: ImageLoader, toInput: InputMaker, onBatch?: (done: number, total: number) => void): Promise<EvalMetrics[]> {
  const sums = models.map(() => ({ correct1: 0, correctK: 0, lossSum: 0 }));
  let images = 0;
  let done = 0;
  for await (const batch of loader.epoch(0)) {
    const x = toInput(batch);
    for (const [i, model] of models.entries()) {
      const logits = tf.tidy(() => model.forward(x, { training: false }).logits);
      const score = scoreBatch(await logits.data(), batch.labels, logits.shape[1]);
      logits.dispose();
      sums[i].correct1 += score.correct1;
      sums[i].correctK += score.correctK;
      sums[i].lossSum += score.lossSum;
    }
    x.dispose();
    images += batch.labels.length;
    done += 1;
    onBatch?.(done, loader.batchesPerEpoch);
  }
  const n = Math.max(1, images);
  return sums.map((s) => ({ loss: s.lossSum / n, top1: (100 * s.correct1) / n, top5: (100 * s.correctK) / n, images }));
}
