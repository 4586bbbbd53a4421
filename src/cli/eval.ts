import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { initBackend } from '../backend/index.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/constants.js';
import { openEvalData } from '../data/eval-data.js';
import { type EvalResult, evaluateRunner } from '../eval/evaluate.js';
import { openModelRunner } from '../runtimes/open.js';
import { checkReportPaths, formatConfusion, resultsRow, writeConfusionPng, writeResultsFile } from '../eval/report.js';
import { CheckFailedError } from '../errors.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, INTERPOLATIONS, type Interpolation } from '../data/index.js';
import { FORCE_OPTION, interpolation as interpolationFilter, nonNegativeNumber, positiveInt, positiveNumber } from './options.js';
import { type Output, colour, formatTable, printJson } from './output.js';

interface EvalOptions {
  model: string;
  data: string;
  batch: number;
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

function printSummary(output: Output, model: string, result: EvalResult, showPerClass: boolean): void {
  output.out(`${model} [${result.runtime}]: top-1 ${result.top1.toFixed(3)}%  top-5 ${result.top5.toFixed(3)}%  ` +
    `loss ${result.loss.toFixed(4)}  (${result.images} images, ${result.imgPerSec.toFixed(1)} img/s)`);
  if (!showPerClass) return;
  output.out(formatTable(['Class', 'Images', 'Correct', 'Top-1 %'],
    result.perClass.map((c) => [c.name, String(c.total), String(c.correct), c.total ? c.top1.toFixed(2) : '-'])));
}

export function register(program: Command, output: Output): void {
  program
    .command('eval')
    .description('evaluate a checkpoint, .onnx, .tflite or TF.js model on a validation folder (top-1, top-5, loss, per class)')
    .requiredOption('--model <path>', 'checkpoint dir, .onnx, .tflite, TF.js graph-model dir, .pth or model name')
    .requiredOption('--data <folder>', 'validation folder (<class>/<images>, or a root holding val/)')
    .option('--batch <n>', 'batch size', positiveInt, 64)
    .option('--json', 'print top1, top5, loss, images, imgPerSec as JSON')
    .option('--confusion [png]', 'print the confusion matrix and save it as a PNG (default confusion.png)')
    .option('--results-file <file>', 'write a timm-style results row (.csv or .json)')
    .option('--min-top1 <pct>', 'exit 1 when top-1 (percent) is below this', nonNegativeNumber)
    .option('--per-class', 'print per-class accuracy')
    .option('--threads <n>', 'onnxruntime intra-op threads', positiveInt)
    .option('--workers <n>', 'image decodes in flight', positiveInt, 4)
    .option('--crop-pct <x>', `centre-crop fraction of the resize (default: the checkpoint's, else timm's ${DEFAULT_CROP_PCT})`, positiveNumber)
    .option('--interpolation <filter>', `resize filter: ${INTERPOLATIONS.join(' | ')} (default: the checkpoint's, else ${DEFAULT_INTERPOLATION})`, interpolationFilter)
    .option('--use-ema', 'evaluate a checkpoint\'s EMA weights')
    .option('--backend <name>', 'tfjs backend: tensorflow | wasm | cpu')
    .option(...FORCE_OPTION)
    .action(async (opts: EvalOptions) => {
      const confusionPng = typeof opts.confusion === 'string' ? opts.confusion : 'confusion.png';
      const writeOptions = { force: opts.force };
      checkReportPaths({ resultsFile: opts.resultsFile, confusion: opts.confusion ? confusionPng : undefined }, writeOptions);
      const backend = await initBackend(opts.backend);
      const runner = await openModelRunner(opts.model, { threads: opts.threads, useEma: opts.useEma });
      if (runner.freshWeights) {
        output.err(`${colour.yellow('warning:')} ${opts.model} is an architecture name, so its weights are random (fresh): pass a checkpoint, .pth, .onnx, .tflite or TF.js model to evaluate trained weights`);
      }
      const cropPct = opts.cropPct ?? runner.cropPct ?? DEFAULT_CROP_PCT;
      const interpolation = opts.interpolation ?? runner.interpolation ?? DEFAULT_INTERPOLATION;
      try {
        const data = openEvalData(opts.data, {
          batch: opts.batch, imageSize: runner.inputSize, cropPct, interpolation, workers: opts.workers,
          mean: runner.mean ?? [...IMAGENET_MEAN], std: runner.std ?? [...IMAGENET_STD],
        });
        const bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'eval {bar} {value}/{total} images | {duration}s', hideCursor: true }, cliProgress.Presets.shades_classic);
        if (!opts.json) bar.start(data.images, 0);
        let result: EvalResult;
        try {
          result = await evaluateRunner(runner, data.batches, { folderClasses: data.classes, onBatch: (done) => bar.update(done) });
        } finally {
          bar.stop();
        }
        for (const skip of data.skipped()) output.err(`${colour.yellow('warning:')} skipped ${skip.path}: ${skip.reason}`);
        if (opts.json) {
          printJson(output, { top1: result.top1, top5: result.top5, loss: result.loss, images: result.images, imgPerSec: result.imgPerSec,
            runtime: result.runtime, backend: result.runtime === 'tfjs' ? backend : undefined, perClass: result.perClass });
        } else {
          printSummary(output, opts.model, result, opts.perClass ?? false);
        }
        if (opts.confusion) {
          if (!opts.json) output.out(formatConfusion(result));
          await writeConfusionPng(confusionPng, result, writeOptions);
          output.err(`confusion matrix saved to ${confusionPng}`);
        }
        if (opts.resultsFile) writeResultsFile(opts.resultsFile, resultsRow(opts.model, result, { imageSize: runner.inputSize, cropPct, interpolation }), writeOptions);
        if (opts.minTop1 !== undefined && result.top1 < opts.minTop1) {
          throw new CheckFailedError(`top-1 ${result.top1.toFixed(3)}% is below --min-top1 ${opts.minTop1}%`);
        }
      } finally {
        await runner.dispose();
      }
    });
}
