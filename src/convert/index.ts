import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckFailedError, UsageError } from '../errors.js';
import type { Interpolation } from '../data/transforms.js';
import { type LogitDifference, compareLogits, randomInputBatch } from '../runtimes/compare.js';
import { argmaxRows } from '../util/metrics.js';
import type { ModelRunner } from '../runtimes/runner.js';
import { openEvalData } from '../data/eval-data.js';
import { loadLiteRtRuntime, loadTfliteRunner } from '../runtimes/litert.js';
import { loadOnnxRunner, loadOnnxRuntime } from '../runtimes/onnx.js';
import { loadTfjsGraphRunner } from '../runtimes/tfjs.js';
import { type OutputKind, type OutputOptions, checkOutputPath, writeOutput } from '../util/output-path.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/constants.js';
import { ensureBackend } from '../backend/index.js';
import type { ModelSource, SourceOptions } from '../io/model-source.js';
import { type Model, modelSourceOf } from '../runtimes/model.js';
import { InferenceModel } from '../models/executor.js';
import { type InferenceGraph } from '../models/fold.js';
import { buildGraph } from '../models/registry.js';
import type { ConvertTarget } from '../formats/index.js';
import type { ModelFileMeta } from '../formats/meta.js';
import { ONNX_MODEL_FILE } from '../formats/onnx/messages.js';
import { writeOnnx } from '../formats/onnx/writer.js';
import { TFJS_MODEL_FOLDER, TFJS_README_FILE, type TfjsGraphModelFiles, writeTfjsGraphModel } from '../formats/tfjs/writer.js';
import { TFJS_QUANTIZATIONS, type TfjsQuantization } from '../formats/tfjs/weights.js';
import { type CalibrationBatch, RANGE_METHODS, type RangeMethod, TFLITE_MODEL_FILE, calibrateRanges, writeTflite } from '../formats/tflite/index.js';

export { CONVERT_TARGETS, type ConvertTarget } from '../formats/index.js';

/**
 * Calibration images used by default. 300 (TFLite's usual "a few hundred") left int8 agreement on the trained
 * Fashion-MNIST models swinging between 98.8 % and 99.2 % with the sample; 1,000 gave 98.99–99.21 % in all eight
 * measurements on MobileNeXt-1.0 and MobileNetV2-1.0 (docs/accuracy.md), for a calibration pass of seconds.
 */
export const DEFAULT_CALIBRATION_IMAGES = 1000;

/** What --quantize offers, per target. */
export type Quantization = 'int8' | TfjsQuantization;
const TARGET_QUANTIZATIONS: Record<ConvertTarget, readonly Quantization[]> = { tflite: ['int8'], onnx: [], tfjs: TFJS_QUANTIZATIONS };

export interface ConvertOptions extends OutputOptions {
  readonly target: ConvertTarget;
  /** Output file (.onnx / .tflite) or folder (tfjs); default derived from the model. */
  readonly out?: string;
  /** Images in the verification batch (default 2). */
  readonly verifyBatch?: number;
  readonly seed?: number;
  /** Largest max |Δ| / logit scale accepted for float files. */
  readonly tolerance?: number;
  /** onnxruntime threads for the verification run. */
  readonly threads?: number;
  /** int8: full-integer TFLite; float16 / uint8: TF.js weight compression (tfjs-converter's). */
  readonly quantize?: Quantization;
  /** int8: folder of real images the activation ranges are calibrated on. */
  readonly calibration?: string;
  /** int8: how many of its images (a seeded random sample across classes; default DEFAULT_CALIBRATION_IMAGES). */
  readonly calibrationImages?: number;
  /** int8: centre-crop fraction of the calibration images' eval transform (default: the model's, else 0.875). */
  readonly calibrationCropPct?: number;
  /** int8: resize filter of that transform (default: the model's, else bicubic). */
  readonly calibrationInterpolation?: Interpolation;
  /** int8: how activation ranges are chosen from the calibration values (default mse). */
  readonly calibrationRanges?: RangeMethod;
  /** int8: int8 input/output tensors instead of float32 with QUANTIZE/DEQUANTIZE. */
  readonly int8Io?: boolean;
}

export interface VerificationReport {
  readonly runtime: string;
  readonly batch: number;
  readonly maxAbsDiff: number;
  readonly logitScale: number;
  readonly relativeDiff: number;
  readonly tolerance: number;
  /** Fraction of the batch whose top-1 class is the same in both runtimes. */
  readonly top1Agreement: number;
}

export interface ConvertReport {
  readonly target: ConvertTarget;
  readonly out: string;
  readonly bytes: number;
  readonly model: string;
  readonly arch: string;
  readonly width: number;
  readonly tensorMultiplier: number;
  readonly inputSize: number;
  readonly numClasses: number;
  readonly quantize?: Quantization;
  readonly verification: VerificationReport;
}

/** A target writer: the converted model in memory, plus how to save it and how to load it back. */
export interface ConvertedModel {
  /** Writes the model at `path` (a new file, or an empty folder for a folder target); returns the bytes written. */
  write(path: string): number;
  loadSaved(out: string): Promise<ModelRunner>;
  loadInMemory(): Promise<ModelRunner>;
}

export const FLOAT_TOLERANCE = 1e-4;

export function fileMetaOf(source: ModelSource): ModelFileMeta {
  return {
    classes: source.classes, mean: source.mean ?? [...IMAGENET_MEAN], std: source.std ?? [...IMAGENET_STD], cropPct: source.cropPct, interpolation: source.interpolation,
  };
}

function onnxModel(graph: InferenceGraph, meta: ModelFileMeta, options: ConvertOptions): ConvertedModel {
  const bytes = writeOnnx(graph, meta);
  return {
    write: (path) => writeBytes(path, bytes),
    loadSaved: (out) => loadOnnxRunner(out, { threads: options.threads }),
    loadInMemory: () => loadOnnxRunner(bytes, { threads: options.threads }),
  };
}

function writeBytes(path: string, bytes: Uint8Array): number {
  writeFileSync(path, bytes);
  return bytes.length;
}

/** Writes a graph-model folder's files (model.json, weight shards, README.md) into `dir`; returns the bytes written. */
function writeTfjsFiles(dir: string, files: TfjsGraphModelFiles): number {
  const text = (value: string) => new TextEncoder().encode(value);
  return writeBytes(join(dir, 'model.json'), text(JSON.stringify(files.modelJson))) +
    files.shards.reduce((sum, shard) => sum + writeBytes(join(dir, shard.path), shard.bytes), 0) +
    writeBytes(join(dir, TFJS_README_FILE), text(files.readme));
}

function tfjsModel(graph: InferenceGraph, meta: ModelFileMeta, quantize: TfjsQuantization | undefined): ConvertedModel {
  const files = writeTfjsGraphModel(graph, meta, { quantize });
  return {
    write: (dir) => writeTfjsFiles(dir, files),
    loadSaved: (out) => loadTfjsGraphRunner(out),
    loadInMemory: () => loadTfjsGraphRunner(files),
  };
}

/**
 * Calibration batches for int8: a seeded random sample of `count` images from the folder through the eval
 * transforms, normalised as the model expects.
 */
async function* calibrationBatches(folder: string, count: number, size: number, meta: ModelFileMeta, options: { seed: number; cropPct?: number; interpolation?: Interpolation }): AsyncGenerator<CalibrationBatch> {
  const data = openEvalData(folder, {
    batch: 32, imageSize: size, mean: meta.mean, std: meta.std, cropPct: options.cropPct, interpolation: options.interpolation, shuffle: true, seed: options.seed,
  });
  let remaining = count;
  for await (const { images, labels } of data.batches) {
    const batch = Math.min(labels.length, remaining);
    yield { data: images.subarray(0, batch * size * size * 3), batch };
    remaining -= batch;
    if (remaining <= 0) break;
  }
}

async function tfliteModel(source: ModelSource, graph: InferenceGraph, meta: ModelFileMeta, options: ConvertOptions): Promise<ConvertedModel> {
  let quantize: { ranges: Awaited<ReturnType<typeof calibrateRanges>>; int8Io: boolean } | undefined;
  if (options.quantize) {
    if (!options.calibration) throw new UsageError('--quantize int8 needs --calibration <folder> of real images');
    const model = new InferenceModel(buildGraph(source.spec), source.weights);
    try {
      const batches = calibrationBatches(options.calibration, options.calibrationImages ?? DEFAULT_CALIBRATION_IMAGES, source.spec.inputSize, meta, {
        seed: options.seed ?? 0, cropPct: options.calibrationCropPct ?? source.cropPct, interpolation: options.calibrationInterpolation ?? source.interpolation,
      });
      quantize = { ranges: await calibrateRanges(model, batches, options.calibrationRanges ?? 'mse'), int8Io: options.int8Io ?? false };
    } finally {
      model.dispose();
    }
  }
  const bytes = writeTflite(graph, { classes: meta.classes, mean: meta.mean, std: meta.std, quantize });
  // LiteRT.js cannot feed int8 tensors, so an --int8-io file is verified through its float-I/O twin: the same
  // int8 graph (same ranges, same weights) with QUANTIZE/DEQUANTIZE at the edges.
  const floatIoTwin = () => writeTflite(graph, { classes: meta.classes, mean: meta.mean, std: meta.std, quantize: quantize && { ...quantize, int8Io: false } });
  return {
    write: (path) => writeBytes(path, bytes),
    loadSaved: (out) => loadTfliteRunner(quantize?.int8Io ? floatIoTwin() : out),
    loadInMemory: () => loadTfliteRunner(quantize?.int8Io ? floatIoTwin() : bytes),
  };
}

/** The eval-mode graph of a model source in the target format, in memory. */
export async function convertInMemory(source: ModelSource, options: ConvertOptions): Promise<{ graph: InferenceGraph; converted: ConvertedModel }> {
  const reference = new InferenceModel(buildGraph(source.spec), source.weights);
  const graph = reference.graph;
  reference.dispose();
  const meta = fileMetaOf(source);
  checkQuantization(options);
  if (options.target === 'onnx') return { graph, converted: onnxModel(graph, meta, options) };
  if (options.target === 'tfjs') return { graph, converted: tfjsModel(graph, meta, options.quantize as TfjsQuantization | undefined) };
  return { graph, converted: await tfliteModel(source, graph, meta, options) };
}

/** Compares a runner with mnext's tfjs inference model on a seeded random batch. */
export async function verifyRunner(runner: ModelRunner, source: ModelSource, options: { batch?: number; seed?: number; tolerance?: number } = {}): Promise<VerificationReport> {
  const batch = options.batch ?? 2;
  const size = source.spec.inputSize;
  const input = randomInputBatch(batch, size, options.seed ?? 1234);
  const model = new InferenceModel(buildGraph(source.spec), source.weights);
  const expectedTensor = tf.tidy(() => model.predict(tf.tensor4d(input, [batch, size, size, 3])));
  const expected = (await expectedTensor.data()) as Float32Array;
  expectedTensor.dispose();
  model.dispose();
  const actual = await runner.run(input, batch);
  const diff: LogitDifference = compareLogits(actual, expected);
  const a = argmaxRows(actual, source.spec.numClasses);
  const e = argmaxRows(expected, source.spec.numClasses);
  return {
    runtime: runner.runtime,
    batch,
    maxAbsDiff: diff.maxAbs,
    logitScale: diff.scale,
    relativeDiff: diff.relative,
    tolerance: options.tolerance ?? FLOAT_TOLERANCE,
    top1Agreement: a.filter((v, i) => v === e[i]).length / batch,
  };
}

export function defaultOutputPath(source: ModelSource, target: ConvertTarget, quantize?: Quantization): string {
  const { arch, width, tensorMultiplier } = source.spec;
  const base = `${arch}_${Math.round(width * 100)}${tensorMultiplier > 1 ? `_k${tensorMultiplier}` : ''}${quantize ? `_${quantize}` : ''}`;
  return target === 'tfjs' ? `${base}_tfjs` : `${base}.${target}`;
}

/** What each target writes (a file or a folder) and how mnext knows its own earlier output there. */
const TARGET_OUTPUTS: Record<ConvertTarget, OutputKind> = { onnx: ONNX_MODEL_FILE, tflite: TFLITE_MODEL_FILE, tfjs: TFJS_MODEL_FOLDER };

/**
 * The runtime each target's file is checked in. onnxruntime-node and LiteRT are optional packages, so they are
 * loaded first: a missing one stops the conversion before the model is converted (and calibrated).
 */
const TARGET_RUNTIMES: Record<ConvertTarget, () => Promise<unknown>> = {
  onnx: loadOnnxRuntime,
  tflite: loadLiteRtRuntime,
  tfjs: async () => undefined,
};

/**
 * Converts a model to a deployable file, loads what was written in the target runtime and compares its logits
 * with mnext's tfjs model on a random batch, then moves it into place by the output rules (util/output-path.ts:
 * never over a file or folder mnext did not write unless `force`). A float file over the tolerance is a
 * CheckFailedError and is not written (what was at `out` stays); quantized files (int8, float16, uint8 weights)
 * report the difference and the top-1 agreement.
 */
export async function convertModel(source: ModelSource, options: ConvertOptions): Promise<ConvertReport> {
  const out = options.out ?? defaultOutputPath(source, options.target, options.quantize);
  const kind = TARGET_OUTPUTS[options.target];
  checkOutputPath(out, kind, options);
  await TARGET_RUNTIMES[options.target]();
  const { converted } = await convertInMemory(source, options);
  let bytes = 0;
  let verification: VerificationReport | undefined;
  await writeOutput(out, kind, (staged) => {
    bytes = converted.write(staged);
  }, {
    force: options.force,
    verify: async (staged) => {
      verification = await verifySaved(converted, staged, source, options);
      if (!options.quantize && !(verification.relativeDiff <= verification.tolerance)) {
        throw new CheckFailedError(
          `the converted ${verification.runtime} model's logits differ from mnext's by ${verification.maxAbsDiff.toExponential(2)} ` +
          `(logit scale ${verification.logitScale.toFixed(3)}, tolerance ${verification.tolerance} relative), so ${out} was not written`,
        );
      }
    },
  });
  const { arch, width, tensorMultiplier, inputSize, numClasses } = source.spec;
  return {
    target: options.target, out, bytes, model: source.origin, arch, width, tensorMultiplier, inputSize, numClasses,
    ...(options.quantize ? { quantize: options.quantize } : {}),
    verification: verification!,
  };
}

/** Loads the written model in its runtime and compares it with mnext's. */
async function verifySaved(converted: ConvertedModel, path: string, source: ModelSource, options: ConvertOptions): Promise<VerificationReport> {
  const runner = await converted.loadSaved(path);
  try {
    return await verifyRunner(runner, source, { batch: options.verifyBatch, seed: options.seed, tolerance: options.tolerance });
  } finally {
    await runner.dispose();
  }
}

/** convert()'s options: the conversion's, plus how to load a model given by path or name. */
export interface ConvertModelOptions extends ConvertOptions, SourceOptions {
  readonly backend?: string;
}

/** --quantize: one of the target's modes. */
function checkQuantization(options: ConvertOptions): void {
  if (options.quantize === undefined) return;
  const allowed = TARGET_QUANTIZATIONS[options.target];
  if (allowed.includes(options.quantize)) return;
  const all = Object.values(TARGET_QUANTIZATIONS).flat();
  if (!all.includes(options.quantize)) throw new UsageError(`--quantize: expected one of ${all.join(', ')}, got '${String(options.quantize)}'`);
  throw new UsageError(`--quantize ${options.quantize} is not available with --to ${options.target}${allowed.length ? ` (it offers ${allowed.join(', ')})` : ''}`);
}

/** The option combinations convert refuses, each with the one sentence that says why. */
function checkConvertOptions(options: ConvertOptions): void {
  checkQuantization(options);
  if (options.calibrationRanges !== undefined && !RANGE_METHODS.includes(options.calibrationRanges)) {
    throw new UsageError(`--calibration-ranges: expected one of ${RANGE_METHODS.join(', ')}, got '${String(options.calibrationRanges)}'`);
  }
  if (options.quantize === 'int8' && !options.calibration) throw new UsageError('--quantize int8 needs --calibration <folder> of real images');
  if (options.quantize !== 'int8' && (options.calibration || options.int8Io)) throw new UsageError('--calibration and --int8-io only apply with --quantize int8');
}

/**
 * `mnext convert`: a model (path, name or loaded Model with mnext weights) to a TFLite, ONNX or TF.js file,
 * verified in its runtime. `inputSize` re-sizes checkpoints too (the networks are fully convolutional).
 */
export async function convert(model: string | Model, options: ConvertModelOptions): Promise<ConvertReport> {
  checkConvertOptions(options);
  await ensureBackend(options.backend);
  return convertModel(await modelSourceOf(model, options, 'convert'), options);
}
