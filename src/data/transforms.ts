import { InputError } from '../errors.js';
import type { Rng } from '../util/random.js';
import { type ColourJitterPlan, sampleColourJitter } from './colour-jitter.js';
import { INTERPOLATIONS, type Interpolation } from './constants.js';

export { type ColourJitterPlan, applyColourJitter, sampleColourJitter } from './colour-jitter.js';

/**
 * Pure transform parameters and pixel operations, each a small function of (image size or pixels, rng).
 * The geometry follows timm's RandomResizedCropAndInterpolation and torchvision's Resize/CenterCrop exactly
 * (including Python's round-half-to-even), so crops agree with the PyTorch pipeline for the same random draws.
 */

export { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, INTERPOLATIONS, type Interpolation } from './constants.js';

/** The eval transform a model was trained with, as model files record it (timm's crop_pct and interpolation). */
export interface EvalTransform {
  readonly cropPct?: number;
  readonly interpolation?: Interpolation;
}

/** Checks what a model file records of its eval transform; `where` names the file in the one-sentence error. */
export function recordedEvalTransform(where: string, cropPct: unknown, interpolation: unknown): EvalTransform {
  if (cropPct !== undefined && !(typeof cropPct === 'number' && cropPct > 0 && cropPct <= 1)) {
    throw new InputError(`${where}: cropPct must be a number in (0, 1], got ${JSON.stringify(cropPct)}`);
  }
  if (interpolation !== undefined && !INTERPOLATIONS.includes(interpolation as Interpolation)) {
    throw new InputError(`${where}: interpolation must be one of ${INTERPOLATIONS.join(', ')}, got ${JSON.stringify(interpolation)}`);
  }
  return { cropPct, interpolation: interpolation as Interpolation | undefined };
}

/** A crop box in pixels of the (auto-oriented) source image. */
export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Python 3 round(): half to even. */
export function pyRound(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * RandomResizedCrop.get_params: 10 attempts at a box of U(scale) x area with log-uniform aspect ratio, then a
 * centre crop with the ratio clamped to the range. Draws from rng in the same order as timm.
 */
export function randomResizedCropBox(
  width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number], rng: Rng,
): CropBox {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const targetArea = rng.uniform(scale[0], scale[1]) * area;
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w <= width && h <= height && w > 0 && h > 0) {
      const top = rng.int(0, height - h);
      const left = rng.int(0, width - w);
      return { left, top, width: w, height: h };
    }
  }
  return centreFallbackBox(width, height, ratio);
}

/** The fallback after 10 failed attempts: the whole image with its aspect ratio clamped into `ratio`. */
export function centreFallbackBox(width: number, height: number, ratio: readonly [number, number]): CropBox {
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) {
    h = pyRound(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    w = pyRound(h * Math.max(...ratio));
  }
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** torchvision Resize(int): the shorter side becomes `shorter`, the longer one int(shorter * long / short). */
export function resizeShorterSide(width: number, height: number, shorter: number): { width: number; height: number } {
  if (width <= height) {
    return { width: shorter, height: Math.floor((shorter * height) / width) };
  }
  return { width: Math.floor((shorter * width) / height), height: shorter };
}

/** torchvision CenterCrop: offsets int(round((size - crop) / 2)). */
export function centreCropBox(width: number, height: number, crop: number): CropBox {
  return {
    left: pyRound((width - crop) / 2),
    top: pyRound((height - crop) / 2),
    width: Math.min(crop, width),
    height: Math.min(crop, height),
  };
}

/** timm's eval resize: floor(size / crop_pct) on the shorter side (224 / 0.875 = 256). */
export function evalResizeSize(size: number, cropPct: number): number {
  return Math.floor(size / cropPct);
}

export interface ImagePlan {
  /** Crop in source pixels (after auto-orient), or undefined for eval (resize then centre crop). */
  crop?: CropBox;
  /** Resize target before the centre crop (eval). */
  resize?: { width: number; height: number };
  size: number;
  interpolation: Interpolation;
  flip: boolean;
  jitter?: ColourJitterPlan;
}

export interface TrainTransformOptions {
  size: number;
  scale: readonly [number, number];
  ratio: readonly [number, number];
  interpolation: Interpolation | 'random';
  hflip: number;
  colourJitter: number;
}

/**
 * The training plan for an image of the given oriented size. The draw order is fixed (crop, interpolation,
 * flip, jitter) and comes from a per-image rng.
 */
export function planTrainImage(width: number, height: number, options: TrainTransformOptions, rng: Rng): ImagePlan {
  const crop = randomResizedCropBox(width, height, options.scale, options.ratio, rng);
  const interpolation = options.interpolation === 'random' ? (rng.next() < 0.5 ? 'bilinear' : 'bicubic') : options.interpolation;
  const flip = options.hflip > 0 && rng.next() < options.hflip;
  const jitter = options.colourJitter > 0 ? sampleColourJitter(options.colourJitter, rng) : undefined;
  return { crop, size: options.size, interpolation, flip, jitter };
}

/** The eval plan: shorter side to floor(size / cropPct), then a centre crop of size. */
export function planEvalImage(width: number, height: number, size: number, cropPct: number, interpolation: Interpolation): ImagePlan {
  const resize = resizeShorterSide(width, height, evalResizeSize(size, cropPct));
  return { resize, size, interpolation, flip: false };
}
