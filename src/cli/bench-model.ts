import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { type BenchMode, type ModelBenchResult, benchModel } from '../bench/model-bench.js';
import { benchParallelTraining } from '../bench/parallel-bench.js';
import { UsageError } from '../errors.js';
import { nonNegativeInt, positiveInt, positiveNumber } from './options.js';
import { type Output, formatTable, printJson } from './output.js';

interface BenchModelOptions {
  model: string;
  width: number;
  inputSize: number;
  batch: number;
  numClasses: number;
  backend?: string;
  workers: number;
  steps: number;
  warmup: number;
  json?: boolean;
}

function printResult(output: Output, result: ModelBenchResult): void {
  const rows = Object.entries(result).map(([key, value]) => [key, typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(2) : String(value)]);
  output.out(formatTable(['', 'value'], rows));
}

async function run(mode: BenchMode, options: BenchModelOptions, output: Output): Promise<void> {
  if (mode === 'infer' && options.workers !== 1) throw new UsageError('--workers: inference benchmarks run in one engine; drop --workers');
  const bar = new cliProgress.SingleBar({ format: `bench ${mode} [{bar}] {value}/{total} steps`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  const total = options.warmup + options.steps;
  if (!options.json) bar.start(total, 0);
  const request = { ...options, mode, onStep: (done: number) => { if (!options.json) bar.update(done); } };
  try {
    const result = options.workers > 1 ? await benchParallelTraining(request) : await benchModel(request);
    if (!options.json) bar.stop();
    if (options.json) printJson(output, result);
    else printResult(output, result);
  } finally {
    bar.stop();
  }
}

/** `mnext bench train|infer`: throughput, peak RSS and tensor-leak check of one model on a tfjs backend. */
export function registerBenchModel(bench: Command, output: Output): void {
  for (const mode of ['train', 'infer'] as const) {
    bench
      .command(mode)
      .description(mode === 'train'
        ? 'training throughput: forward + backward + SGD-momentum step per batch (random data)'
        : 'inference throughput of the folded model (BN folded, fused conv+bias+ReLU6)')
      .option('--model <name>', 'model name (mobilenext, mobilenetv2, ...)', 'mobilenext')
      .option('--width <w>', 'width multiplier', positiveNumber, 1.0)
      .option('--input-size <px>', 'input resolution', positiveInt, mode === 'train' ? 64 : 224)
      .option('--batch <n>', 'batch size', positiveInt, mode === 'train' ? 16 : 1)
      .option('--num-classes <n>', 'classifier outputs', positiveInt, 1000)
      .option('--backend <name>', 'tensorflow | wasm | cpu (default: the fastest that loads)')
      .option('--workers <n>', 'data-parallel training workers (worker_threads, one engine each)', positiveInt, 1)
      .option('--steps <n>', 'timed steps', positiveInt, mode === 'train' ? 10 : 50)
      .option('--warmup <n>', 'untimed warm-up steps', nonNegativeInt, mode === 'train' ? 2 : 5)
      .option('--json', 'print one JSON object')
      .action((options: BenchModelOptions) => run(mode, options, output));
  }
}
