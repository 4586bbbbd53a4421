import { openDataset } from '../data/dataset.js';
import { ImageLoader } from '../data/loader.js';
import type { EvalBatch } from './evaluate.js';

export interface EvalDataOptions {
  readonly batch: number;
  readonly imageSize: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly cropPct?: number;
  readonly workers?: number;
  readonly seed?: number;
}

export interface EvalData {
  readonly root: string;
  readonly classes: readonly string[];
  readonly images: number;
  readonly batches: AsyncIterable<EvalBatch>;
  /** Files the loader could not decode (skipped with a warning). */
  readonly skipped: () => readonly { path: string; reason: string }[];
}

/** x = (pixel / 255 - mean) / std per channel, NHWC uint8 -> float32. */
export function normaliseImages(images: Uint8Array, mean: readonly number[], std: readonly number[]): Float32Array {
  const out = new Float32Array(images.length);
  const scale = std.map((s) => 1 / (255 * s));
  const shift = mean.map((m, c) => m / std[c]);
  for (let i = 0; i < images.length; i += 1) {
    const c = i % 3;
    out[i] = images[i] * scale[c] - shift[c];
  }
  return out;
}

/** A validation folder through the data pipeline's eval transforms (resize, centre crop), normalised. */
export function openEvalData(path: string, options: EvalDataOptions): EvalData {
  const dataset = openDataset(path, 'val');
  const loader = new ImageLoader(dataset, {
    batchSize: options.batch, imageSize: options.imageSize, train: false, seed: options.seed ?? 0, cropPct: options.cropPct, workers: options.workers,
  });
  async function* batches(): AsyncGenerator<EvalBatch> {
    for await (const batch of loader.epoch(0)) {
      yield { images: normaliseImages(batch.images, options.mean, options.std), labels: batch.labels };
    }
  }
  return { root: dataset.root, classes: dataset.classes, images: dataset.samples.length, batches: batches(), skipped: () => loader.skipped };
}
