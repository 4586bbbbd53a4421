import type { Command } from 'commander';
import { benchmarkDataLoader, defaultWorkers } from '../data/bench.js';
import { openDataset } from '../data/dataset.js';
import { positiveInt } from './options.js';
import { type Output, printJson } from './output.js';
import { startProgress } from './progress.js';

interface BenchDataOptions {
  data: string;
  workers?: number;
  batchSize: number;
  imageSize: number;
  epochs: number;
  json?: boolean;
}

/** `mnext bench data --data DIR [--workers N] [--json]`: the training data pipeline's images per second. */
export function registerBench(bench: Command, output: Output): void {
  bench
    .command('data')
    .description('decode + RandomResizedCrop + flip + colour jitter throughput on the train split (or DIR itself)')
    .requiredOption('--data <dir>', 'dataset root with train/, a folder of class folders, or a path,label list')
    .option('--workers <n>', `decodes in flight (default: CPU count, ${defaultWorkers()}); the mnext launcher sizes libuv's pool to match`, positiveInt)
    .option('--batch-size <n>', 'batch size', positiveInt, 64)
    .option('--image-size <n>', 'crop size', positiveInt, 224)
    .option('--epochs <n>', 'timed epochs after one warm-up epoch', positiveInt, 1)
    .option('--json', 'print {"mode":"data","images","imgPerSec","workers",...}')
    .action(async (opts: BenchDataOptions) => {
      const dataset = openDataset(opts.data, 'train');
      const perEpoch = Math.max(1, Math.floor(dataset.samples.length / opts.batchSize)) * Math.min(opts.batchSize, dataset.samples.length);
      const progress = startProgress({ label: 'bench data', total: perEpoch * (opts.epochs + 1), unit: 'images', output });
      const result = await benchmarkDataLoader(dataset, {
        workers: opts.workers, batchSize: opts.batchSize, imageSize: opts.imageSize, epochs: opts.epochs,
        onBatch: (images) => progress.increment(images),
      }).finally(() => progress.stop());
      if (opts.json) return printJson(output, result);
      output.out(`${result.images} images in ${result.seconds.toFixed(2)} s: ${result.imgPerSec.toFixed(1)} images/s `
        + `with ${result.workers} workers (batch ${result.batchSize}, ${result.imageSize}x${result.imageSize}`
        + `${result.skipped > 0 ? `, ${result.skipped} files skipped` : ''}).`);
    });
}
