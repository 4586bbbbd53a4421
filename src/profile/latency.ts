import * as tf from '@tensorflow/tfjs-core';
import { InferenceModel } from '../models/executor.js';
import type { ModelGraph } from '../models/graph.js';
import type { StateDict } from '../models/state-dict.js';

export interface LatencyOptions {
  readonly batch: number;
  readonly runs: number;
  readonly warmup: number;
}

export interface LatencyResult {
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly runs: number;
  readonly warmup: number;
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}

/** Median / p90 of `runs` timed calls after `warmup` untimed ones. */
export async function timeRuns(run: () => Promise<void>, runs: number, warmup: number): Promise<LatencyResult> {
  for (let i = 0; i < warmup; i += 1) await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { medianMs: percentile(times, 0.5), p90Ms: percentile(times, 0.9), runs, warmup };
}

/**
 * Forward latency on the current tfjs backend with BN folded into the convs (the deployable graph), input
 * already on the device, result read back each run so asynchronous backends are timed to completion.
 */
export async function measureTfjsLatency(graph: ModelGraph, weights: StateDict, options: LatencyOptions): Promise<LatencyResult> {
  const model = new InferenceModel(graph, weights);
  const [h, w, c] = graph.inputShape;
  const x = tf.randomNormal([options.batch, h, w, c]) as tf.Tensor4D;
  try {
    return await timeRuns(async () => {
      const logits = model.predict(x);
      await logits.data();
      logits.dispose();
    }, options.runs, options.warmup);
  } finally {
    x.dispose();
    model.dispose();
  }
}

