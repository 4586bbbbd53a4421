import { DEFAULT_MAX_PIXELS, DecodeError, decodeImage } from './decode.js';
import { type ImageDataset, type Split, openDataset } from './dataset.js';
import { mapConcurrent } from './seed.js';
import { planEvalImage } from './transforms.js';

/**
 * `mnext data inspect`: per split, the class counts, image size statistics and every file that fails a full
 * decode (a header read alone misses truncated data).
 */

export interface SizeStats {
  min: number;
  median: number;
  max: number;
  mean: number;
}

export interface SplitReport {
  split: Split | 'all';
  root: string;
  images: number;
  classes: { name: string; count: number }[];
  width?: SizeStats;
  height?: SizeStats;
  formats: Record<string, number>;
  failures: { path: string; reason: string }[];
}

function stats(values: number[]): SizeStats | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1], mean: values.reduce((s, v) => s + v, 0) / values.length };
}

async function inspectSplit(dataset: ImageDataset, split: Split | 'all', concurrency: number, onProgress?: (done: number, total: number) => void): Promise<SplitReport> {
  const counts = dataset.classes.map(() => 0);
  for (const sample of dataset.samples) if (sample.label >= 0) counts[sample.label] += 1;
  const widths: number[] = [];
  const heights: number[] = [];
  const formats: Record<string, number> = {};
  const failures: { path: string; reason: string }[] = [];
  let done = 0;
  await mapConcurrent(dataset.samples, concurrency, async ({ path }) => {
    try {
      await decodeImage(path, (width, height) => {
        widths.push(width);
        heights.push(height);
        return planEvalImage(width, height, 8, 1, 'bilinear');
      }, { maxPixels: DEFAULT_MAX_PIXELS }, (header) => { formats[header.format] = (formats[header.format] ?? 0) + 1; });
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      failures.push({ path: error.path, reason: error.reason });
    }
    done += 1;
    onProgress?.(done, dataset.samples.length);
  });
  failures.sort((a, b) => (a.path < b.path ? -1 : 1));
  return {
    split, root: dataset.root, images: dataset.samples.length,
    classes: dataset.classes.map((name, i) => ({ name, count: counts[i] })),
    width: stats(widths), height: stats(heights), formats, failures,
  };
}

/** Inspects train and val when the folder has them, else the folder (or list) itself. */
export async function inspectDataset(path: string, options: { concurrency?: number; onProgress?: (split: string, done: number, total: number) => void } = {}): Promise<SplitReport[]> {
  const concurrency = options.concurrency ?? 4;
  const train = openDataset(path, 'train');
  let val: ImageDataset | undefined;
  try {
    val = openDataset(path, 'val');
  } catch {
    val = undefined;
  }
  if (val === undefined || val.root === train.root) {
    return [await inspectSplit(train, val === undefined ? 'train' : 'all', concurrency, (d, t) => options.onProgress?.('images', d, t))];
  }
  return [
    await inspectSplit(train, 'train', concurrency, (d, t) => options.onProgress?.('train', d, t)),
    await inspectSplit(val, 'val', concurrency, (d, t) => options.onProgress?.('val', d, t)),
  ];
}
