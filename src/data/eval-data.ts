import { normalizedPixels } from './batch-ops.js';
import { ImageLoader, openDataset } from './index.js';
import type { EvalTransform } from './transforms.js';

/** One batch to score: normalised NHWC float32 images and their labels in the folder's class numbering. */
export interface EvalBatch {
  readonly images: Float32Array;
  readonly labels: Int32Array;
}

/** `cropPct` / `interpolation` default to timm's eval transform (0.875, bicubic). */
export interface EvalDataOptions extends EvalTransform {
  readonly batch: number;
  readonly imageSize: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly workers?: number;
  readonly seed?: number;
  /** Seeded shuffle (calibration samples across classes instead of the first folders). */
  readonly shuffle?: boolean;
}

export interface EvalData {
  readonly root: string;
  readonly classes: readonly string[];
  readonly images: number;
  readonly batches: AsyncIterable<EvalBatch>;
  /** Files the loader could not decode (skipped with a warning). */
  readonly skipped: () => readonly { path: string; reason: string }[];
}

/** A validation folder through the data pipeline's eval transforms (resize, centre crop), normalised. */
export function openEvalData(path: string, options: EvalDataOptions): EvalData {
  const dataset = openDataset(path, 'val');
  const loader = new ImageLoader(dataset, {
    batchSize: options.batch, imageSize: options.imageSize, train: false, seed: options.seed ?? 0, cropPct: options.cropPct,
    interpolation: options.interpolation, workers: options.workers, shuffle: options.shuffle,
  });
  async function* batches(): AsyncGenerator<EvalBatch> {
    for await (const batch of loader.epoch(0)) {
      yield { images: await normalizedPixels(batch, options.mean, options.std), labels: batch.labels };
    }
  }
  return { root: dataset.root, classes: dataset.classes, images: dataset.samples.length, batches: batches(), skipped: () => loader.skipped };
}
