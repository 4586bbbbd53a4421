/**
 * One training step's two halves: the gradients of the label-smoothed cross entropy (with the BN batch
 * statistics the forward pass measured), and the optimiser contract that applies them. Data-parallel workers
 * compute gradients on their shard with `computeGradients` and the caller averages them before `apply`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StateDict } from '../models/state-dict.js';
import type { BatchStats, TfjsModel } from '../models/executor.js';
import { trainingPass } from '../models/training-pass.js';
import { argmaxRows } from '../util/metrics.js';

export interface GradientOptions {
  /** Label smoothing ε: targets become (1 − ε)·t + ε/K (timm's LabelSmoothingCrossEntropy for one-hot t). */
  readonly smoothing: number;
  /** Seed for dropout / drop-connect masks of this step. */
  readonly seed: number;
}

export interface GradientResult {
  /** Mean loss over the batch. */
  readonly loss: number;
  /** Gradient per trainable parameter, keyed by PyTorch name, in the variable's (TF) layout. Caller disposes. */
  readonly grads: Map<string, tf.Tensor>;
  /** BN batch statistics of this forward pass, for `model.updateRunningStats`. Caller disposes. */
  readonly batchStats: Map<string, BatchStats>;
  /** Samples whose top logit is the target's largest entry (train top-1 of the augmented batch). */
  readonly correct: number;
}

/**
 * Soft-target cross entropy with label smoothing, averaged over the batch. With one-hot targets and ε = 0.1 this
 * is PyTorch's CrossEntropyLoss(label_smoothing=0.1); mixup's mixed one-hot targets get the same smoothing, which
 * equals timm's mixup_target (smoothing is linear in the target).
 */
export function smoothedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D, smoothing: number): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const soft = smoothing > 0 ? tf.add(tf.mul(targets, 1 - smoothing), smoothing / classes) : targets;
    const logProbs = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(soft, logProbs), 1))) as tf.Scalar;
  });
}

/** Rows whose top logit is the target's largest entry (soft mixup targets: the larger of the two labels). */
function countCorrect(logits: tf.Tensor2D, targets: tf.Tensor2D): number {
  const classes = logits.shape[1];
  const expected = argmaxRows(targets.dataSync(), classes);
  return argmaxRows(logits.dataSync(), classes).filter((top, row) => top === expected[row]).length;
}

/** Forward + backward on one batch (train mode). Allocates only what it returns. */
export function computeGradients(model: TfjsModel, images: tf.Tensor4D, targets: tf.Tensor2D, options: GradientOptions): GradientResult {
  let correct = 0;
  const lossOf = (logits: tf.Tensor2D) => {
    correct = countCorrect(logits, targets);
    const { value, grad } = tf.valueAndGrad((l: tf.Tensor) => smoothedCrossEntropy(l as tf.Tensor2D, targets, options.smoothing))(logits);
    return { value, grad: grad as tf.Tensor2D };
  };
  const { loss, grads, batchStats } = trainingPass(model, images, options.seed, lossOf);
  const value = loss.dataSync()[0];
  loss.dispose();
  return { loss: value, grads, batchStats, correct };
}

/** Frees what `computeGradients` returned (after the step used it). */
export function disposeGradientResult(result: Pick<GradientResult, 'grads' | 'batchStats'>): void {
  for (const g of result.grads.values()) g.dispose();
  for (const s of result.batchStats.values()) {
    s.mean.dispose();
    s.variance.dispose();
  }
}

/**
 * An optimiser over a model's trainable variables. `apply` takes gradients keyed by PyTorch name (TF layout)
 * and the learning rate of this step; weight decay is the optimiser's business (per `ParamInfo.decay`).
 * `stateDict` holds the slot tensors (TF layout, keyed `<slot>/<param>`) plus scalar counters.
 */
export interface Optimizer {
  apply(grads: Map<string, tf.Tensor>, lr: number): void;
  stateDict(): StateDict;
  loadStateDict(state: StateDict): void;
}
