import type * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend/index.js';
import { InputError, UsageError } from '../errors.js';
import { normalizedPixels } from '../data/batch-ops.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS, type Interpolation } from '../data/constants.js';
import { DEFAULT_MAX_PIXELS, DecodeError, decodeImage, decodeImageBytes, transformRawImage } from '../data/decode.js';
import { type ImagePlan, planEvalImage } from '../data/transforms.js';
import { saveCheckpoint } from '../io/checkpoint.js';
import { type ModelSource, type SourceOptions, loadModelSource, withInputSize } from '../io/model-source.js';
import { type ModelRequest, buildGraph, resolveModelSpec } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { softmax, topK } from '../util/metrics.js';
import { type OpenRunnerOptions, type OpenedModel, openModel } from './open.js';
import type { ModelRunner } from './runner.js';
import { sourceRunner } from './tfjs.js';

/** An image to classify: a file path, encoded image bytes (a Buffer), or an RGB tensor [height, width, 3] of 0..255 values. */
export type ImageInput = string | Uint8Array | tf.Tensor3D;

/** One class of a classification, the most probable first. */
export interface Classification {
  readonly label: string;
  readonly index: number;
  /** softmax probability, 0..1. */
  readonly probability: number;
}

export interface ClassifyOptions {
  /** How many classes per image (default 5, at most the model's class count). */
  readonly topK?: number;
}

export interface LoadModelOptions extends OpenRunnerOptions {
  /** Centre-crop fraction of the eval transform (default: what the file records, else timm's 0.875). */
  readonly cropPct?: number;
  /** Resize filter of the eval transform (default: what the file records, else bicubic). */
  readonly interpolation?: Interpolation;
  /** tfjs backend: tensorflow, wasm or cpu (default: the first that loads, as the CLI picks it). */
  readonly backend?: string;
}

export interface CreateModelOptions extends ModelRequest {
  /** Seed of the fresh weights (default 42). */
  readonly seed?: number;
  /** Class names; their count is the class count unless `numClasses` says otherwise. */
  readonly classes?: readonly string[];
  readonly backend?: string;
}

export interface SaveOptions {
  /** Replace `dir` even when it holds something mnext did not write (its own earlier checkpoint is always replaced). */
  readonly force?: boolean;
}

/** Images decoded and run per step of `classify`. */
const CLASSIFY_BATCH = 16;

function isImageList(images: ImageInput | readonly ImageInput[]): images is readonly ImageInput[] {
  return Array.isArray(images);
}

function isTensor(image: unknown): image is tf.Tensor {
  return typeof image === 'object' && image !== null && 'shape' in image && 'dataSync' in image && 'dtype' in image;
}

function checkEvalTransform(options: LoadModelOptions): void {
  if (options.cropPct !== undefined && !(options.cropPct > 0 && options.cropPct <= 1)) {
    throw new UsageError(`cropPct: expected a number in (0, 1], got ${options.cropPct}`);
  }
  if (options.interpolation !== undefined && !INTERPOLATIONS.includes(options.interpolation)) {
    throw new UsageError(`interpolation: expected one of ${INTERPOLATIONS.join(', ')}, got ${JSON.stringify(options.interpolation)}`);
  }
}

/**
 * A loaded classifier in its runtime (mnext's tfjs engine, onnxruntime, LiteRT or a TF.js graph model) with the
 * eval transform it was trained with: `classify` resizes, crops and normalises every image exactly as
 * `mnext eval` does (the same decode and plan code), then returns the top classes with their probabilities.
 */
export class Model {
  /** What it was loaded from: a path or a model name. */
  readonly source: string;
  /** Class names in output order (`class_0`, ... when the file records none). */
  readonly classes: readonly string[];
  readonly numClasses: number;
  /** Square input size the network runs at. */
  readonly inputSize: number;
  /** The runtime it runs in: 'tfjs', 'onnx' or 'tflite'. */
  readonly runtime: string;
  readonly cropPct: number;
  readonly interpolation: Interpolation;
  /** Input normalisation (0..1 scale). */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** The weights are a fresh random initialisation (a bare architecture name or createModel), not trained ones. */
  readonly freshWeights: boolean;
  /** @internal The runner the use cases (evaluate, profile) run batches through. */
  readonly runner: ModelRunner;
  /** @internal Description and weights, when mnext's own engine runs the model (what save and convert need). */
  readonly weights: ModelSource | undefined;
  private disposed = false;

  /** Use `loadModel` or `createModel`. */
  constructor(opened: OpenedModel, source: string, transform: Pick<LoadModelOptions, 'cropPct' | 'interpolation'> = {}) {
    const { runner } = opened;
    this.source = source;
    this.runner = runner;
    this.weights = opened.source;
    this.numClasses = runner.numClasses;
    this.classes = runner.classes ? [...runner.classes] : Array.from({ length: runner.numClasses }, (_, i) => `class_${i}`);
    this.inputSize = runner.inputSize;
    this.runtime = runner.runtime;
    this.cropPct = transform.cropPct ?? runner.cropPct ?? DEFAULT_CROP_PCT;
    this.interpolation = transform.interpolation ?? runner.interpolation ?? DEFAULT_INTERPOLATION;
    this.mean = runner.mean ?? [...IMAGENET_MEAN];
    this.std = runner.std ?? [...IMAGENET_STD];
    this.freshWeights = runner.freshWeights ?? false;
  }

  /** The top classes of one image, or of each of a list of images. */
  classify(image: ImageInput, options?: ClassifyOptions): Promise<Classification[]>;
  classify(images: readonly ImageInput[], options?: ClassifyOptions): Promise<Classification[][]>;
  async classify(images: ImageInput | readonly ImageInput[], options: ClassifyOptions = {}): Promise<Classification[] | Classification[][]> {
    this.checkAlive('classify');
    const k = options.topK ?? 5;
    if (!Number.isInteger(k) || k <= 0) throw new UsageError(`topK: expected a positive integer, got ${k}`);
    const list = isImageList(images) ? images : [images];
    const results: Classification[][] = [];
    for (let start = 0; start < list.length; start += CLASSIFY_BATCH) {
      results.push(...await this.classifyBatch(list.slice(start, start + CLASSIFY_BATCH), start, Math.min(k, this.numClasses)));
    }
    return isImageList(images) ? results : results[0];
  }

  /** Writes the model as an mnext checkpoint folder (weights, classes, normalisation and eval transform). */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    this.checkAlive('save');
    const source = this.weights;
    if (source === undefined) {
      throw new UsageError(`${this.source} runs in ${this.runtime === 'tfjs' ? 'a TF.js graph model' : this.runtime}, not on mnext weights: ` +
        'only a model loaded from a checkpoint, a .pth file, a fixture or a model name can be saved as a checkpoint');
    }
    saveCheckpoint(dir, {
      spec: source.spec, weights: source.weights, classes: source.classes, mean: [...this.mean], std: [...this.std],
      cropPct: this.cropPct, interpolation: this.interpolation,
    }, { force: options.force });
  }

  /** Frees the model's runtime memory (tensors, sessions); safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.runner.dispose();
  }

  private checkAlive(what: string): void {
    if (this.disposed) throw new UsageError(`${what}: the model from ${this.source} was disposed`);
  }

  /** The eval plan of `mnext eval`: shorter side to floor(size / cropPct), centre crop, the model's filter. */
  private readonly evalPlan = (width: number, height: number): ImagePlan => planEvalImage(width, height, this.inputSize, this.cropPct, this.interpolation);

  private async classifyBatch(images: readonly ImageInput[], first: number, k: number): Promise<Classification[][]> {
    const size = this.inputSize;
    const pixels = new Uint8Array(images.length * size * size * 3);
    await Promise.all(images.map((image, i) => this.decodeInto(image, first + i, pixels.subarray(i * size * size * 3, (i + 1) * size * size * 3))));
    const input = await normalizedPixels({ images: pixels, labels: new Int32Array(images.length), size, paths: [] }, this.mean, this.std);
    const logits = await this.runner.run(input, images.length);
    return images.map((_, i) => {
      const probabilities = softmax(logits.subarray(i * this.numClasses, (i + 1) * this.numClasses));
      return topK(probabilities, k).map((index) => ({ label: this.classes[index], index, probability: probabilities[index] }));
    });
  }

  /** One image through the eval transform into its slot of the batch; an unreadable image is an InputError. */
  private async decodeInto(image: ImageInput, index: number, into: Uint8Array): Promise<void> {
    const options = { maxPixels: DEFAULT_MAX_PIXELS, into };
    try {
      if (typeof image === 'string') await decodeImage(image, this.evalPlan, options);
      else if (image instanceof Uint8Array) await decodeImageBytes(Buffer.from(image.buffer, image.byteOffset, image.byteLength), `image ${index} (bytes)`, this.evalPlan, options);
      else if (isTensor(image)) await transformRawImage(await rgbPixels(image, index), `image ${index} (tensor)`, this.evalPlan, options);
      else throw new UsageError(`classify: image ${index}: expected a file path, encoded image bytes or a [height, width, 3] tensor, got ${typeof image}`);
    } catch (error) {
      if (error instanceof DecodeError) throw new InputError(`cannot classify ${error.message}`);
      throw error;
    }
  }
}

/** An HWC RGB tensor's values as 8-bit pixels (rounded and clamped to 0..255). */
async function rgbPixels(image: tf.Tensor, index: number): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const [height, width, channels] = image.shape;
  if (image.rank !== 3 || channels !== 3) throw new UsageError(`classify: image ${index}: expected a [height, width, 3] RGB tensor, got shape [${image.shape.join(', ')}]`);
  const values = await image.data();
  return { pixels: new Uint8Array(Uint8ClampedArray.from(values as ArrayLike<number>).buffer), width, height };
}

/**
 * Loads a model: a checkpoint folder, a .pth / .pth.tar / .pt file (with `arch` and friends), an .onnx or .tflite
 * file, a TF.js graph-model folder, a parity fixture, or a registered model name (fresh weights).
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  checkEvalTransform(options);
  await ensureBackend(options.backend);
  return new Model(await openModel(path, options), path, options);
}

/** A registered model with fresh seeded weights (timm's create_model). */
export async function createModel(name: string, options: CreateModelOptions = {}): Promise<Model> {
  await ensureBackend(options.backend);
  const spec = resolveModelSpec(name, { ...options, numClasses: options.numClasses ?? options.classes?.length });
  if (options.classes !== undefined && options.classes.length !== spec.numClasses) {
    throw new UsageError(`classes: expected ${spec.numClasses} names (numClasses), got ${options.classes.length}`);
  }
  const source: ModelSource = {
    spec, weights: initStateDict(buildGraph(spec), options.seed ?? 42), classes: options.classes && [...options.classes], origin: name, freshWeights: true,
  };
  return new Model({ runner: sourceRunner(source), source }, name);
}

/** Runs `use` on the given model, or on one loaded from `model` for the call and disposed after it. */
export async function usingModel<T>(model: string | Model, options: LoadModelOptions, use: (model: Model) => Promise<T>): Promise<T> {
  if (model instanceof Model) {
    await ensureBackend(options.backend);
    return use(model);
  }
  const loaded = await loadModel(model, options);
  try {
    return await use(loaded);
  } finally {
    await loaded.dispose();
  }
}

/**
 * The description and weights behind a model path or name, or behind a loaded Model that runs on mnext's engine
 * (what converting and counting need); `purpose` names the caller in the error for other runtimes' files.
 * `inputSize` re-sizes either (the networks are fully convolutional).
 */
export async function modelSourceOf(model: string | Model, options: SourceOptions, purpose: string): Promise<ModelSource> {
  if (typeof model === 'string') return loadModelSource(model, options);
  if (model.weights === undefined) {
    throw new UsageError(`${model.source} runs in ${model.runtime}: ${purpose} starts from mnext weights (a checkpoint, .pth file, fixture or model name)`);
  }
  return withInputSize(model.weights, options.inputSize);
}
