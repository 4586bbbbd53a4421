import { availableParallelism } from 'node:os';
import { type ImageDataset, openDataset } from './dataset.js';
import { ImageLoader, type LoaderOptions } from './loader.js';
import { median } from '../util/stats.js';

/**
 * `mnext bench data`: throughput of the training pipeline (RandomResizedCrop + flip + colour jitter to uint8
 * batches). One untimed warm-up epoch first (file cache, thread start-up), then timed epochs until both
 * `epochs` epochs and `minSeconds` seconds have passed, like scripts/bench-data-pytorch.py; the spread is the
 * slowest and fastest epoch's images per second (an epoch of a small set lasts well under a second, and one
 * such number on a shared machine says little).
 */

/** Timed seconds at least (the default): enough epochs of a small dataset to read a spread from. */
export const DATA_BENCH_MIN_SECONDS = 5;

export interface DataBenchOptions {
  workers?: number;
  batchSize?: number;
  imageSize?: number;
  /** Timed epochs at least (default 1). */
  epochs?: number;
  /** Timed seconds at least (default DATA_BENCH_MIN_SECONDS). */
  minSeconds?: number;
  seed?: number;
  /** After every batch: the images loaded so far and in the whole run (warm-up epoch included). */
  onProgress?: (done: number, total: number) => void;
}

export interface DataBenchResult {
  mode: 'data';
  images: number;
  imgPerSec: number;
  epochs: number;
  /** Images per second of the timed epochs: median, slowest and fastest. */
  epochImgPerSec: { median: number; min: number; max: number };
  workers: number;
  seconds: number;
  /**
   * Process CPU time (every thread) per timed image: what bounds throughput once the cores are busy, and less
   * noisy than images per second on a shared machine.
   */
  cpuMsPerImage: number;
  batchSize: number;
  imageSize: number;
  skipped: number;
}

function spread(values: readonly number[]): { median: number; min: number; max: number } {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export function defaultWorkers(): number {
  return availableParallelism();
}

/** The train split of `data` (or the dataset itself) through the training loader; see DataBenchOptions. */
export async function benchmarkDataLoader(data: string | ImageDataset, options: DataBenchOptions = {}): Promise<DataBenchResult> {
  const dataset = typeof data === 'string' ? openDataset(data, 'train') : data;
  const workers = options.workers ?? defaultWorkers();
  const batchSize = Math.min(options.batchSize ?? 64, dataset.samples.length);
  const imageSize = options.imageSize ?? 224;
  const loaderOptions: LoaderOptions = { batchSize, imageSize, train: true, seed: options.seed ?? 0, workers };
  const loader = new ImageLoader(dataset, loaderOptions);
  const minEpochs = options.epochs ?? 1;
  const minSeconds = options.minSeconds ?? DATA_BENCH_MIN_SECONDS;
  let total = loader.imagesPerEpoch * (minEpochs + 1);
  let done = 0;
  const progress = (images: number) => {
    done += images;
    options.onProgress?.(done, total);
  };
  try {
    for await (const batch of loader.epoch(0)) progress(batch.labels.length);
    let images = 0;
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const rates: number[] = [];
    for (let epoch = 1; epoch <= minEpochs || performance.now() - start < minSeconds * 1000; epoch += 1) {
      if (epoch > minEpochs) total += loader.imagesPerEpoch;
      const epochStart = performance.now();
      let epochImages = 0;
      for await (const batch of loader.epoch(epoch)) {
        epochImages += batch.labels.length;
        progress(batch.labels.length);
      }
      images += epochImages;
      rates.push(epochImages / ((performance.now() - epochStart) / 1000));
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const cpuMsPerImage = (cpu.user + cpu.system) / 1000 / images;
    return {
      mode: 'data', images, imgPerSec: images / seconds, epochs: rates.length, epochImgPerSec: spread(rates), workers, seconds, cpuMsPerImage,
      batchSize, imageSize, skipped: loader.skipped.length,
    };
  } finally {
    await loader.close();
  }
}
