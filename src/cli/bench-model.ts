import { type Command, Option } from 'commander';
import { type BenchMode, type ModelBenchResult, benchmarkModel } from '../bench/model-bench.js';
import { addBatchSize, examples, addImgSize, addOption, nonNegativeInt, positiveInt, positiveNumber } from './options.js';
import { type Output, arrangementChoice, arrangementText, formatTable, printJson } from './output.js';
import { reportedProgress } from './progress.js';

interface BenchModelOptions {
  model: string;
  width: number;
  imgSize: number;
  batchSize: number;
  numClasses: number;
  backend?: string;
  replicas?: number;
  threads?: number;
  steps: number;
  warmup: number;
  json?: boolean;
}

function printResult(output: Output, result: ModelBenchResult): void {
  const { probed, ...rest } = result;
  const rows = Object.entries(rest).map(([key, value]) => [key, typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(2) : String(value)]);
  for (const p of probed ?? []) rows.push([`probe ${arrangementText(p)}`, `${p.msPerStep.toFixed(2)} ms/step (median of ${p.steps})`]);
  output.out(formatTable(['', 'value'], rows));
}

async function run(mode: BenchMode, options: BenchModelOptions, output: Output): Promise<void> {
  const progress = reportedProgress({ label: `bench ${mode}`, unit: 'steps', output, enabled: !options.json });
  const result = await benchmarkModel({
    mode, model: options.model, width: options.width, inputSize: options.imgSize, batch: options.batchSize, numClasses: options.numClasses,
    backend: options.backend, workers: options.replicas, threads: options.threads, steps: options.steps, warmup: options.warmup, onStep: progress.onProgress,
    onArrangement: (best, probed) => output.err(`bench ${mode}: ${arrangementChoice(best, probed)}`),
  }).finally(() => progress.stop());
  if (options.json) printJson(output, result);
  else printResult(output, result);
}

/** `mnext bench train|infer`: throughput, peak RSS and tensor-leak check of one model on a tfjs backend. */
export function registerBenchModel(bench: Command, output: Output): void {
  for (const mode of ['train', 'infer'] as const) {
    const command = bench
      .command(mode)
      .description(mode === 'train'
        ? 'training throughput: forward + backward + SGD-momentum step per batch (random data)'
        : 'inference throughput of the folded model (BN folded, fused conv+bias+ReLU6)')
      .option('--model <name>', 'model name (mobilenext, mobilenetv2, ...)', 'mobilenext')
      .option('--width <w>', 'width multiplier', positiveNumber, 1.0);
    addImgSize(command, 'square input size', mode === 'train' ? 64 : 224);
    addBatchSize(command, mode === 'train' ? 16 : 1)
      .option('--num-classes <n>', 'classifier outputs', positiveInt, 1000)
      .option('--backend <name>', 'tensorflow | wasm | cpu (default: the first that loads)');
    // Inference runs in one engine: the flag stays accepted (and checked) but is not offered.
    const replicas = new Option('--replicas <n>', 'data-parallel training replicas (worker threads, one engine each; default: the fastest arrangement)').argParser(positiveInt);
    addOption(command, mode === 'train' ? replicas : replicas.hideHelp(), '--workers');
    command
      .option('--threads <n>', 'intra-op threads of each wasm engine (default: the fastest arrangement, timed; for inference the machine\'s cores or 1)', positiveInt)
      .option('--steps <n>', 'timed steps', positiveInt, mode === 'train' ? 10 : 50)
      .option('--warmup <n>', 'untimed warm-up steps', nonNegativeInt, mode === 'train' ? 2 : 5)
      .option('--json', 'print one JSON object');
    command.addHelpText('after', examples(...(mode === 'train'
      ? ['mnext bench train --model mobilenext --width 1.0 --img-size 64 -b 16', 'mnext bench train --replicas 2 --steps 500 --json']
      : ['mnext bench infer --model mobilenetv2 --width 0.75', 'mnext bench infer --img-size 160 -b 8 --backend cpu --json'])));
    command.action((options: BenchModelOptions) => run(mode, options, output));
  }
}
