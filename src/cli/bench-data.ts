import type { Command } from 'commander';
import { DATA_BENCH_MIN_SECONDS, benchmarkDataLoader, defaultWorkers } from '../data/bench.js';
import { addBatchSize, examples, addImgSize, positiveInt, positiveNumber } from './options.js';
import { type Output, printJson } from './output.js';
import { reportedProgress } from './progress.js';

interface BenchDataOptions {
  data: string;
  workers?: number;
  batchSize: number;
  imgSize: number;
  epochs: number;
  minSeconds: number;
  json?: boolean;
}

/** `mnext bench data --data DIR [--workers N] [--json]`: the training data pipeline's images per second. */
export function registerBench(bench: Command, output: Output): void {
  const command = bench
    .command('data')
    .description('decode + RandomResizedCrop + flip + colour jitter throughput on the train split (or DIR itself)')
    .requiredOption('--data <dir>', 'dataset root with train/, a folder of class folders, or a path,label list')
    .option('--workers <n>', `decodes in flight (default: CPU count, ${defaultWorkers()}); the mnext launcher sizes libuv's pool to match`, positiveInt);
  addBatchSize(command, 64);
  addImgSize(command, 'crop size', 224)
    .option('--epochs <n>', 'timed epochs at least, after one warm-up epoch', positiveInt, 1)
    .option('--min-seconds <s>', 'timed seconds at least (more epochs of a small dataset)', positiveNumber, DATA_BENCH_MIN_SECONDS)
    .option('--json', 'print {"mode":"data","images","imgPerSec","workers",...}');
  command.addHelpText('after', examples('mnext bench data --data data/fashion-mnist', 'mnext bench data --data data/imagenet --workers 8 -b 128 --img-size 224 --json'));
  command.action(async (opts: BenchDataOptions) => {
    const progress = reportedProgress({ label: 'bench data', unit: 'images', output });
    const result = await benchmarkDataLoader(opts.data, {
      workers: opts.workers, batchSize: opts.batchSize, imageSize: opts.imgSize, epochs: opts.epochs, minSeconds: opts.minSeconds, onProgress: progress.onProgress,
    }).finally(() => progress.stop());
    if (opts.json) return printJson(output, result);
    const { median, min, max } = result.epochImgPerSec;
    output.out(`${result.images} images in ${result.seconds.toFixed(2)} s (${result.epochs} epochs): ${result.imgPerSec.toFixed(1)} images/s `
      + `(epochs: median ${median.toFixed(1)}, ${min.toFixed(1)}–${max.toFixed(1)}) `
      + `with ${result.workers} workers (batch ${result.batchSize}, ${result.imageSize}x${result.imageSize}`
      + `${result.skipped > 0 ? `, ${result.skipped} files skipped` : ''}).`);
  });
}
