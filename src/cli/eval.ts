import type { Command } from 'commander';
import { type Evaluation, evaluate } from '../index.js';
import { checkReportPaths, formatConfusion, resultsRow, writeConfusionPng, writeResultsFile } from '../eval/report.js';
import { CheckFailedError } from '../errors.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, INTERPOLATIONS, type Interpolation } from '../data/index.js';
import { FORCE_OPTION, addBatchSize, examples, interpolation as interpolationFilter, nonNegativeNumber, positiveInt, positiveNumber } from './options.js';
import { type Output, colour, formatTable, printJson } from './output.js';
import { reportedProgress } from './progress.js';

interface EvalOptions {
  model: string;
  data: string;
  batchSize: number;
  json?: boolean;
  confusion?: string | boolean;
  resultsFile?: string;
  minTop1?: number;
  threads?: number;
  workers: number;
  cropPct?: number;
  interpolation?: Interpolation;
  useEma?: boolean;
  backend?: string;
  perClass?: boolean;
  force?: boolean;
}

const confusionPath = (opts: EvalOptions): string | undefined => (opts.confusion ? (typeof opts.confusion === 'string' ? opts.confusion : 'confusion.png') : undefined);

function printSummary(output: Output, result: Evaluation, showPerClass: boolean): void {
  output.out(`${result.model} [${result.runtime}]: top-1 ${result.top1.toFixed(3)}%  top-5 ${result.top5.toFixed(3)}%  ` +
    `loss ${result.loss.toFixed(4)}  (${result.images} images, ${result.imgPerSec.toFixed(1)} img/s)`);
  if (!showPerClass) return;
  output.out(formatTable(['Class', 'Images', 'Correct', 'Top-1 %'],
    result.perClass.map((c) => [c.name, String(c.total), String(c.correct), c.total ? c.top1.toFixed(2) : '-'])));
}

async function printResult(output: Output, result: Evaluation, opts: EvalOptions): Promise<void> {
  if (result.freshWeights) {
    output.err(`${colour.yellow('warning:')} ${opts.model} is an architecture name, so its weights are random (fresh): pass a checkpoint, .pth, .onnx, .tflite or TF.js model to evaluate trained weights`);
  }
  for (const skip of result.skipped) output.err(`${colour.yellow('warning:')} skipped ${skip.path}: ${skip.reason}`);
  if (opts.json) {
    printJson(output, { top1: result.top1, top5: result.top5, loss: result.loss, images: result.images, imgPerSec: result.imgPerSec,
      runtime: result.runtime, backend: result.backend, perClass: result.perClass });
  } else {
    printSummary(output, result, opts.perClass ?? false);
  }
  const png = confusionPath(opts);
  if (png !== undefined) {
    if (!opts.json) output.out(formatConfusion(result));
    await writeConfusionPng(png, result, { force: opts.force });
    output.err(`confusion matrix saved to ${png}`);
  }
  if (opts.resultsFile) writeResultsFile(opts.resultsFile, resultsRow(result), { force: opts.force });
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('eval')
    .description('evaluate a checkpoint, .onnx, .tflite or TF.js model on a validation folder (top-1, top-5, loss, per class)')
    .requiredOption('--model <path>', 'checkpoint dir, .onnx, .tflite, TF.js graph-model dir, .pth or model name')
    .requiredOption('--data <folder>', 'validation folder (<class>/<images>, or a root holding val/)');
  addBatchSize(command, 64)
    .option('--json', 'print top1, top5, loss, images, imgPerSec as JSON')
    .option('--confusion [png]', 'print the confusion matrix and save it as a PNG (default file: confusion.png)')
    .option('--results-file <file>', 'write a timm-style results row (.csv or .json)')
    .option('--min-top1 <pct>', 'exit 1 when top-1 (percent) is below this', nonNegativeNumber)
    .option('--per-class', 'print per-class accuracy')
    .option('--threads <n>', 'onnxruntime intra-op threads', positiveInt)
    .option('--workers <n>', 'image decodes in flight', positiveInt, 4)
    .option('--crop-pct <x>', `centre-crop fraction of the resize (default: the checkpoint's, else timm's ${DEFAULT_CROP_PCT})`, positiveNumber)
    .option('--interpolation <filter>', `resize filter: ${INTERPOLATIONS.join(' | ')} (default: the checkpoint's, else ${DEFAULT_INTERPOLATION})`, interpolationFilter)
    .option('--use-ema', 'evaluate a checkpoint\'s EMA weights')
    .option('--backend <name>', 'tfjs backend: tensorflow | wasm | cpu (default: the first that loads)')
    .option(...FORCE_OPTION);
  command.addHelpText('after', examples(
    'mnext eval --model output/<run>/best --data data/synthetic/val',
    'mnext eval --model model.onnx --data data/val --per-class --confusion',
    'mnext eval --model output/<run>/best --data data/val --use-ema --json --min-top1 75'));
  command.action(async (opts: EvalOptions) => {
    // A results file or chart that may not be written fails before the evaluation, not after it.
    checkReportPaths({ resultsFile: opts.resultsFile, confusion: confusionPath(opts) }, { force: opts.force });
    const progress = reportedProgress({ label: 'eval', unit: 'images', output, enabled: !opts.json });
    const result = await evaluate(opts.model, opts.data, {
      batchSize: opts.batchSize, workers: opts.workers, cropPct: opts.cropPct, interpolation: opts.interpolation,
      useEma: opts.useEma, threads: opts.threads, backend: opts.backend, onProgress: progress.onProgress,
    }).finally(() => progress.stop());
    await printResult(output, result, opts);
    if (opts.minTop1 !== undefined && result.top1 < opts.minTop1) {
      throw new CheckFailedError(`top-1 ${result.top1.toFixed(3)}% is below --min-top1 ${opts.minTop1}%`);
    }
  });
}
