import type { Command } from 'commander';
import { DEFAULT_CALIBRATION_IMAGES, type Quantization } from '../convert/index.js';
import { CONVERT_TARGETS, type ConvertReport, type ConvertTarget, convert } from '../index.js';
import { RANGE_METHODS, type RangeMethod } from '../formats/tflite/index.js';
import { UsageError } from '../errors.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, INTERPOLATIONS, type Interpolation } from '../data/transforms.js';
import { FORCE_OPTION, addImgSize, addModelSourceOptions, examples, interpolation as interpolationFilter, positiveInt, positiveNumber } from './options.js';
import { type Output, colour, printJson } from './output.js';

interface ConvertCliOptions {
  model: string;
  to: string;
  out?: string;
  imgSize?: number;
  numClasses?: number;
  width?: number;
  tensorMultiplier?: number;
  arch?: string;
  useEma?: boolean;
  quantize?: string;
  calibration?: string;
  calibrationImages: number;
  calibrationRanges: string;
  cropPct?: number;
  interpolation?: Interpolation;
  int8Io?: boolean;
  threads?: number;
  backend?: string;
  json?: boolean;
  force?: boolean;
}

function parseTarget(to: string): ConvertTarget {
  if (!CONVERT_TARGETS.includes(to as ConvertTarget)) throw new UsageError(`--to: expected one of ${CONVERT_TARGETS.join(', ')}, got '${to}'`);
  return to as ConvertTarget;
}

function describeReport(r: ConvertReport): string {
  const v = r.verification;
  const kib = (r.bytes / 1024 / 1024).toFixed(2);
  return `${colour.green('wrote')} ${r.out} (${kib} MiB, ${r.target}${r.quantize ? ` ${r.quantize}` : ''}): ${r.arch} width ${r.width}` +
    `${r.tensorMultiplier > 1 ? ` k=${r.tensorMultiplier}` : ''}, ${r.inputSize}x${r.inputSize}, ${r.numClasses} classes\n` +
    `verified in ${v.runtime} on a random batch of ${v.batch}: max |Δ| ${v.maxAbsDiff.toExponential(2)} vs mnext tfjs ` +
    `(logit scale ${v.logitScale.toFixed(3)}), top-1 agreement ${(100 * v.top1Agreement).toFixed(0)}%`;
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('convert')
    .description('convert a model to TFLite, ONNX or TF.js, then re-load the file in its runtime and compare logits')
    .requiredOption('--model <path>', 'checkpoint dir, fixture .json, .pth or model name (fresh weights)')
    .requiredOption('--to <format>', `target: ${CONVERT_TARGETS.join(' | ')}`)
    .option('--out <path>', 'output file (.tflite / .onnx) or folder (tfjs) (default: <arch>_<width>.<format>)');
  addImgSize(command, 'square input size (default: the model\'s)');
  addModelSourceOptions(command, 'convert')
    .option('--quantize <mode>', 'int8: full-integer post-training quantization (tflite); float16 | uint8: weight compression (tfjs)')
    .option('--calibration <folder>', 'images to calibrate int8 activation ranges on')
    .option('--calibration-images <n>', 'calibration images used', positiveInt, DEFAULT_CALIBRATION_IMAGES)
    .option('--crop-pct <x>', `centre-crop fraction for the calibration images (default: the checkpoint's, else ${DEFAULT_CROP_PCT})`, positiveNumber)
    .option('--interpolation <filter>', `resize filter for the calibration images: ${INTERPOLATIONS.join(' | ')} (default: the checkpoint's, else ${DEFAULT_INTERPOLATION})`, interpolationFilter)
    .option('--calibration-ranges <method>', `int8 activation ranges: ${RANGE_METHODS.join(' | ')} (mse: least-error clipping)`, 'mse')
    .option('--int8-io', 'int8 input/output tensors instead of float32 with QUANTIZE/DEQUANTIZE')
    .option('--threads <n>', 'onnxruntime threads for the verification run', positiveInt)
    .option('--backend <name>', 'tfjs backend for the reference run: tensorflow | wasm | cpu (default: the first that loads)')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable report');
  command.addHelpText('after', examples(
    'mnext convert --model output/<run>/best --to tflite --out model.tflite',
    'mnext convert --model output/<run>/best --to tflite --quantize int8 --calibration data/train --out model_int8.tflite',
    'mnext convert --model mobilenext --width 0.75 --img-size 160 --to onnx',
    'mnext convert --model output/<run>/best --to tfjs --quantize float16 --out web_model'));
  command.action(async (opts: ConvertCliOptions) => {
    const report = await convert(opts.model, {
      target: parseTarget(opts.to), out: opts.out, threads: opts.threads, quantize: opts.quantize as Quantization | undefined,
      calibration: opts.calibration, calibrationImages: opts.calibrationImages, calibrationRanges: opts.calibrationRanges as RangeMethod,
      calibrationCropPct: opts.cropPct, calibrationInterpolation: opts.interpolation, int8Io: opts.int8Io,
      arch: opts.arch, width: opts.width, numClasses: opts.numClasses, inputSize: opts.imgSize, tensorMultiplier: opts.tensorMultiplier,
      useEma: opts.useEma, backend: opts.backend, force: opts.force,
    });
    if (opts.json) printJson(output, report);
    else output.out(describeReport(report));
  });
}
