import { availableParallelism } from 'node:os';
import { type ImageDataset, openDataset } from './dataset.js';
import { ImageLoader, type LoaderOptions } from './loader.js';

/**
 * `mnext bench data`: throughput of the training pipeline (RandomResizedCrop + flip + colour jitter to uint8
 * batches). One untimed warm-up epoch first (file cache, thread start-up), like scripts/bench-data-pytorch.py.
 */

export interface DataBenchOptions {
  workers?: number;
  batchSize?: number;
  imageSize?: number;
  epochs?: number;
  seed?: number;
  /** After every batch: the images loaded so far and in the whole run (warm-up epoch included). */
  onProgress?: (done: number, total: number) => void;
}

export interface DataBenchResult {
  mode: 'data';
  images: number;
  imgPerSec: number;
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
  const epochs = options.epochs ?? 1;
  const total = loader.imagesPerEpoch * (epochs + 1);
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
    for (let epoch = 1; epoch <= epochs; epoch += 1) {
      for await (const batch of loader.epoch(epoch)) {
        images += batch.labels.length;
        progress(batch.labels.length);
      }
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const cpuMsPerImage = (cpu.user + cpu.system) / 1000 / images;
    return { mode: 'data', images, imgPerSec: images / seconds, workers, seconds, cpuMsPerImage, batchSize, imageSize, skipped: loader.skipped.length };
  } finally {
    await loader.close();
  }
}
