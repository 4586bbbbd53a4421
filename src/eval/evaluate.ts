import { currentBackend } from '../backend/index.js';
import { InputError } from '../errors.js';
import type { Interpolation } from '../data/constants.js';
import { type EvalBatch, openEvalData } from '../data/eval-data.js';
import type { SkippedFile } from '../data/loader.js';
import { type LoadModelOptions, type Model, usingModel } from '../runtimes/model.js';
import type { ModelRunner } from '../runtimes/runner.js';
import { scoreRow } from '../util/metrics.js';

export interface ClassAccuracy {
  readonly name: string;
  readonly correct: number;
  readonly total: number;
  /** Percent; NaN when the folder has no images of the class. */
  readonly top1: number;
}

export interface EvalResult {
  readonly runtime: string;
  /** Percent, as timm reports them. */
  readonly top1: number;
  readonly top5: number;
  /** Mean cross-entropy over images. */
  readonly loss: number;
  readonly images: number;
  readonly seconds: number;
  readonly imgPerSec: number;
  readonly perClass: readonly ClassAccuracy[];
  /** rows: true class (folder order); columns: predicted model output. */
  readonly confusion: readonly (readonly number[])[];
  /** Names of the confusion matrix's columns (the model's outputs). */
  readonly predictedClasses: readonly string[];
}

/**
 * Maps the folder's class numbering onto the model's outputs. With labels shipped in the model, by name (a
 * folder class the model does not know is an error listing both sides' differences); without, by position.
 */
export function mapFolderClasses(folderClasses: readonly string[], modelClasses: readonly string[] | undefined, numClasses: number): Int32Array {
  if (!modelClasses) {
    if (folderClasses.length > numClasses) {
      throw new InputError(`the folder has ${folderClasses.length} classes but the model only ${numClasses} outputs (and ships no class names to match by)`);
    }
    return Int32Array.from(folderClasses, (_, i) => i);
  }
  const index = new Map(modelClasses.map((name, i) => [name, i]));
  const unknown = folderClasses.filter((name) => !index.has(name));
  if (unknown.length > 0) {
    const folderSet = new Set(folderClasses);
    const absent = modelClasses.filter((name) => !folderSet.has(name));
    const list = (items: readonly string[]) => `${items.slice(0, 10).join(', ')}${items.length > 10 ? `, ... (${items.length})` : ''}`;
    throw new InputError(
      `the folder's classes do not match the model's labels: not in the model: ${list(unknown)}` +
      `${absent.length ? `; in the model but not the folder: ${list(absent)}` : ''}`,
    );
  }
  return Int32Array.from(folderClasses, (name) => index.get(name)!);
}

export interface RunnerEvalOptions {
  readonly folderClasses: readonly string[];
  /** Called after each batch with the images scored so far (progress bars). */
  readonly onBatch?: (done: number) => void;
}

/** Runs every batch through the runner; top-k as timm's validate.py (correct@k: the label is in the first k). */
export async function evaluateRunner(runner: ModelRunner, batches: AsyncIterable<EvalBatch>, options: RunnerEvalOptions): Promise<EvalResult> {
  const { folderClasses } = options;
  const toModel = mapFolderClasses(folderClasses, runner.classes, runner.numClasses);
  const k = Math.min(5, runner.numClasses);
  const confusion = folderClasses.map(() => new Array<number>(runner.numClasses).fill(0));
  const totals = new Array<number>(folderClasses.length).fill(0);
  const correct = new Array<number>(folderClasses.length).fill(0);
  let images = 0;
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  let runSeconds = 0;
  for await (const batch of batches) {
    const n = batch.labels.length;
    const started = process.hrtime.bigint();
    const logits = await runner.run(batch.images, n);
    runSeconds += Number(process.hrtime.bigint() - started) / 1e9;
    for (let i = 0; i < n; i += 1) {
      const row = logits.subarray(i * runner.numClasses, (i + 1) * runner.numClasses);
      const folderLabel = batch.labels[i];
      const target = toModel[folderLabel];
      const { top, loss } = scoreRow(row, target, k);
      if (top[0] === target) {
        top1 += 1;
        correct[folderLabel] += 1;
      }
      if (top.includes(target)) top5 += 1;
      lossSum += loss;
      totals[folderLabel] += 1;
      confusion[folderLabel][top[0]] += 1;
    }
    images += n;
    options.onBatch?.(images);
  }
  if (images === 0) throw new InputError('no images were evaluated (every file was skipped or the folder is empty)');
  return {
    runtime: runner.runtime,
    top1: (100 * top1) / images,
    top5: (100 * top5) / images,
    loss: lossSum / images,
    images,
    seconds: runSeconds,
    imgPerSec: images / Math.max(runSeconds, 1e-9),
    perClass: folderClasses.map((name, c) => ({ name, correct: correct[c], total: totals[c], top1: (100 * correct[c]) / totals[c] })),
    confusion,
    predictedClasses: runner.classes ? [...runner.classes] : Array.from({ length: runner.numClasses }, (_, i) => folderClasses[i] ?? String(i)),
  };
}

export interface EvaluateOptions extends LoadModelOptions {
  /** Images per batch (default 64). */
  readonly batchSize?: number;
  /** Image decodes in flight (default 4). */
  readonly workers?: number;
  /** Called before the first batch (done 0) and after each one, with the folder's image count. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** An evaluation with what it ran: the model, the backend (tfjs runs) and the eval transform used. */
export interface Evaluation extends EvalResult {
  readonly model: string;
  /** The tfjs backend, when the model ran on tfjs. */
  readonly backend?: string;
  readonly imageSize: number;
  readonly cropPct: number;
  readonly interpolation: Interpolation;
  /** Files the loader could not decode (skipped, as timm's loader would fail on them). */
  readonly skipped: readonly SkippedFile[];
  /** The model's weights were random (a bare architecture name), so the numbers say nothing of a trained model. */
  readonly freshWeights: boolean;
}

/**
 * timm's validate.py: a model (path or loaded) over a validation folder through its eval transform (the one
 * it records, or `cropPct` / `interpolation`), the folder's classes mapped onto the model's labels by name.
 */
export async function evaluate(model: string | Model, data: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  return usingModel(model, options, async (m) => {
    const cropPct = options.cropPct ?? m.cropPct;
    const interpolation = options.interpolation ?? m.interpolation;
    const folder = openEvalData(data, {
      batch: options.batchSize ?? 64, imageSize: m.inputSize, cropPct, interpolation, workers: options.workers, mean: m.mean, std: m.std,
    });
    options.onProgress?.(0, folder.images);
    const result = await evaluateRunner(m.runner, folder.batches, { folderClasses: folder.classes, onBatch: (done) => options.onProgress?.(done, folder.images) });
    return {
      ...result, model: typeof model === 'string' ? model : m.source, backend: m.runtime === 'tfjs' ? currentBackend() : undefined,
      imageSize: m.inputSize, cropPct, interpolation, skipped: folder.skipped(), freshWeights: m.freshWeights,
    };
  });
}
