import { InputError, UsageError } from '../errors.js';
import { Rng } from '../util/random.js';
import { mixSeed } from './seed.js';
import type { ImageDataset } from './dataset.js';
import { DEFAULT_MAX_PIXELS, DecodeError, decodeImage } from './decode.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, type ImagePlan, type Interpolation, type TrainTransformOptions, planEvalImage, planTrainImage } from './transforms.js';

/**
 * The batch loader: decodes images with sharp on libuv's thread pool (`workers` pipelines in flight), keeps a
 * bounded queue of ready uint8 batches ahead of the consumer, shuffles per epoch and drops the last partial
 * batch when training. Every random choice comes from a per-(seed, epoch, sample) stream, so the batches are
 * identical whatever the worker count or the timing of the decodes.
 */

export interface LoaderOptions {
  batchSize: number;
  imageSize: number;
  train: boolean;
  seed: number;
  /** Decodes in flight at once (default: 4, libuv's default thread-pool size). */
  workers?: number;
  dropLast?: boolean;
  shuffle?: boolean;
  scale?: [number, number];
  ratio?: [number, number];
  interpolation?: Interpolation | 'random';
  hflip?: number;
  colorJitter?: number;
  cropPct?: number;
  /** Kept for API compatibility: every image is converted to RGB (grey is replicated, alpha dropped). */
  grayscaleToRgb?: boolean;
  /** A file that cannot be decoded is an error instead of a skipped-with-warning. */
  strict?: boolean;
  /** Ready batches kept ahead of the consumer. */
  prefetch?: number;
  /** Decompression-bomb guard (pixels). */
  maxPixels?: number;
  /** Called once per file the first time it is skipped (for warnings). */
  onSkip?: (skip: SkippedFile) => void;
}

export interface ImageBatch {
  /** NHWC uint8, batch x size x size x 3 (batch = labels.length, smaller when files were skipped). */
  images: Uint8Array;
  labels: Int32Array;
  size: number;
  paths: string[];
}

export interface SkippedFile {
  path: string;
  reason: string;
}

interface ResolvedOptions {
  batchSize: number;
  size: number;
  train: boolean;
  seed: number;
  workers: number;
  dropLast: boolean;
  shuffle: boolean;
  strict: boolean;
  prefetch: number;
  maxPixels: number;
  cropPct: number;
  evalInterpolation: Interpolation;
  transform: TrainTransformOptions;
}

function resolveOptions(options: LoaderOptions): ResolvedOptions {
  const positiveInt = (name: string, value: number) => {
    if (!Number.isInteger(value) || value <= 0) throw new UsageError(`${name}: expected a positive integer, got ${value}.`);
    return value;
  };
  const interpolation = options.interpolation ?? (options.train ? 'random' : DEFAULT_INTERPOLATION);
  const cropPct = options.cropPct ?? DEFAULT_CROP_PCT;
  if (!(cropPct > 0 && cropPct <= 1)) throw new UsageError(`cropPct: expected a number in (0, 1], got ${cropPct}.`);
  return {
    batchSize: positiveInt('batchSize', options.batchSize),
    size: positiveInt('imageSize', options.imageSize),
    train: options.train,
    seed: options.seed >>> 0,
    workers: positiveInt('workers', options.workers ?? 4),
    dropLast: options.dropLast ?? options.train,
    shuffle: options.shuffle ?? options.train,
    strict: options.strict ?? false,
    prefetch: positiveInt('prefetch', options.prefetch ?? 4),
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    cropPct,
    evalInterpolation: interpolation === 'random' ? DEFAULT_INTERPOLATION : interpolation,
    transform: {
      size: options.imageSize,
      scale: options.scale ?? [0.08, 1],
      ratio: options.ratio ?? [3 / 4, 4 / 3],
      interpolation,
      hflip: options.hflip ?? 0.5,
      colourJitter: options.colorJitter ?? 0.4,
    },
  };
}

/**
 * One batch being filled: each image is decoded straight into its slot of the batch's pixels (allocated when the
 * first decode starts: one allocation per batch, not per image, keeps the garbage collector quiet).
 */
interface PendingBatch {
  sampleIndices: number[];
  images?: Uint8Array;
  decoded: boolean[];
  remaining: number;
  error?: Error;
  settled: Promise<void>;
  settle: () => void;
}

function pendingBatch(sampleIndices: number[]): PendingBatch {
  let settle = () => {};
  const settled = new Promise<void>((resolve) => { settle = resolve; });
  return { sampleIndices, decoded: sampleIndices.map(() => false), remaining: sampleIndices.length, settled, settle };
}

export class ImageLoader {
  readonly batchesPerEpoch: number;
  readonly imagesPerEpoch: number;
  readonly skipped: SkippedFile[] = [];
  private readonly options: ResolvedOptions;
  private readonly skippedPaths = new Set<string>();
  private readonly active = new Set<Promise<void>>();
  private readonly onSkip?: (skip: SkippedFile) => void;

  constructor(readonly dataset: ImageDataset, options: LoaderOptions) {
    this.options = resolveOptions(options);
    if (dataset.samples.length === 0) throw new InputError(`dataset ${dataset.root} has no images.`);
    const { batchSize, dropLast } = this.options;
    const n = dataset.samples.length;
    this.batchesPerEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new InputError(`dataset ${dataset.root} has ${n} images, fewer than one batch of ${batchSize} (drop_last is on).`);
    }
    this.imagesPerEpoch = dropLast ? this.batchesPerEpoch * batchSize : n;
    this.onSkip = options.onSkip;
  }

  /** Sample indices in this epoch's order (a fresh permutation per (seed, epoch) when shuffling). */
  epochOrder(epochIndex: number): number[] {
    const order = Array.from({ length: this.dataset.samples.length }, (_, i) => i);
    if (this.options.shuffle) new Rng(mixSeed(this.options.seed, epochIndex, 0x5eed)).shuffle(order);
    return order.slice(0, this.imagesPerEpoch);
  }

  /** The transform plan for one sample in one epoch, from that sample's own random stream. */
  planFor(epochIndex: number, sampleIndex: number, width: number, height: number): ImagePlan {
    const o = this.options;
    if (!o.train) return planEvalImage(width, height, o.size, o.cropPct, o.evalInterpolation);
    return planTrainImage(width, height, o.transform, new Rng(mixSeed(o.seed, epochIndex, sampleIndex)));
  }

  async *epoch(epochIndex: number): AsyncGenerator<ImageBatch> {
    const { batchSize, prefetch, workers } = this.options;
    const order = this.epochOrder(epochIndex);
    const batches: PendingBatch[] = [];
    for (let start = 0; start < order.length; start += batchSize) batches.push(pendingBatch(order.slice(start, start + batchSize)));
    let nextBatch = 0;
    let nextSlot = 0;
    let consumed = 0;
    let inFlight = 0;
    let stopped = false;
    const pump = () => {
      while (!stopped && inFlight < workers && nextBatch < batches.length && nextBatch < consumed + prefetch) {
        const batch = batches[nextBatch];
        const slot = nextSlot;
        nextSlot += 1;
        if (nextSlot === batch.sampleIndices.length) { nextBatch += 1; nextSlot = 0; }
        inFlight += 1;
        const task = this.decodeInto(epochIndex, batch, slot).finally(() => {
          inFlight -= 1;
          this.active.delete(task);
          pump();
        });
        this.active.add(task);
      }
    };
    try {
      for (let k = 0; k < batches.length; k += 1) {
        pump();
        const batch = batches[k];
        await batch.settled;
        if (batch.error !== undefined) throw batch.error;
        consumed = k + 1;
        pump();
        const assembled = this.assemble(batch);
        batches[k] = pendingBatch([]);
        if (assembled.labels.length > 0) yield assembled;
      }
    } finally {
      stopped = true;
      await Promise.allSettled([...this.active]);
    }
  }

  private async decodeInto(epochIndex: number, batch: PendingBatch, slot: number): Promise<void> {
    const sampleIndex = batch.sampleIndices[slot];
    const { path } = this.dataset.samples[sampleIndex];
    const imageBytes = this.imageBytes();
    batch.images ??= new Uint8Array(batch.sampleIndices.length * imageBytes);
    const into = batch.images.subarray(slot * imageBytes, (slot + 1) * imageBytes);
    try {
      await decodeImage(path, (w, h) => this.planFor(epochIndex, sampleIndex, w, h), { maxPixels: this.options.maxPixels, into });
      batch.decoded[slot] = true;
    } catch (error) {
      if (!(error instanceof DecodeError)) batch.error ??= error as Error;
      else if (this.options.strict) batch.error ??= new InputError(`cannot use ${error.path}: ${error.reason} (--strict).`);
      else this.recordSkip({ path: error.path, reason: error.reason });
    } finally {
      batch.remaining -= 1;
      if (batch.remaining === 0) batch.settle();
    }
  }

  private recordSkip(skip: SkippedFile): void {
    if (this.skippedPaths.has(skip.path)) return;
    this.skippedPaths.add(skip.path);
    this.skipped.push(skip);
    this.onSkip?.(skip);
  }

  private imageBytes(): number {
    return this.options.size * this.options.size * 3;
  }

  /** The batch's NHWC uint8 pixels with the slots of skipped files squeezed out (a copy only when some were). */
  private assemble(batch: PendingBatch): ImageBatch {
    const imageBytes = this.imageBytes();
    const keptSlots = batch.decoded.flatMap((decoded, slot) => (decoded ? [slot] : []));
    const all = batch.images ?? new Uint8Array(0);
    let images = all;
    if (keptSlots.length < batch.sampleIndices.length) {
      keptSlots.forEach((slot, i) => all.copyWithin(i * imageBytes, slot * imageBytes, (slot + 1) * imageBytes));
      images = all.slice(0, keptSlots.length * imageBytes);
    }
    const samples = keptSlots.map((slot) => this.dataset.samples[batch.sampleIndices[slot]]);
    return {
      images,
      labels: Int32Array.from(samples, (sample) => sample.label),
      size: this.options.size,
      paths: samples.map((sample) => sample.path),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.active]);
  }
}
