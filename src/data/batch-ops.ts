import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/random.js';
import type { ImageBatch } from './loader.js';
import { pyRound } from './transforms.js';

/**
 * Batch-level steps on tensors (the official prefetcher's GPU stage): normalisation, random erasing and mixup.
 * Each returns a new tensor and leaves its input alive; intermediates are freed inside tf.tidy.
 */

/** (x/255 - mean)/std as one fused multiply-add per element: x * 1/(255 std) + (-mean/std). */
export function normalizeBatch(batch: ImageBatch, mean: readonly number[], std: readonly number[]): tf.Tensor4D {
  const n = batch.labels.length;
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.images, [n, batch.size, batch.size, 3], 'float32');
    const scale = tf.tensor1d(std.map((s) => 1 / (255 * s)));
    const offset = tf.tensor1d(mean.map((m, c) => -m / std[c]));
    return tf.add(tf.mul(x, scale), offset);
  });
}

/** `normalizeBatch` read back as plain floats, for model runners outside tfjs (onnxruntime, LiteRT); frees the tensor. */
export async function normalizedPixels(batch: ImageBatch, mean: readonly number[], std: readonly number[]): Promise<Float32Array> {
  const normalised = normalizeBatch(batch, mean, std);
  try {
    return (await normalised.data()) as Float32Array;
  } finally {
    normalised.dispose();
  }
}

export interface ErasingOptions {
  probability: number;
  mode: 'const' | 'rand' | 'pixel';
  /** Area range as a fraction of the image (timm: 0.02 to 1/3). */
  area?: [number, number];
  /** Aspect range, sampled log-uniform (timm: 0.3 to 1/0.3). */
  aspect?: [number, number];
}

interface ErasedBox {
  image: number;
  top: number;
  left: number;
  height: number;
  width: number;
}

/** timm RandomErasing._erase's draws for one image: up to 10 attempts to fit one box, or none. */
export function sampleErasingBox(height: number, width: number, options: ErasingOptions, rng: Rng): Omit<ErasedBox, 'image'> | undefined {
  if (rng.next() > options.probability) return undefined;
  const [minArea, maxArea] = options.area ?? [0.02, 1 / 3];
  const [minAspect, maxAspect] = options.aspect ?? [0.3, 1 / 0.3];
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const targetArea = rng.uniform(minArea, maxArea) * height * width;
    const aspect = Math.exp(rng.uniform(Math.log(minAspect), Math.log(maxAspect)));
    const h = pyRound(Math.sqrt(targetArea * aspect));
    const w = pyRound(Math.sqrt(targetArea / aspect));
    if (w < width && h < height) {
      return { top: rng.int(0, height - h), left: rng.int(0, width - w), height: h, width: w };
    }
  }
  return undefined;
}

/** Random erasing per image after normalisation: boxes filled with 0 (const), N(0,1) per channel (rand) or per pixel. */
export function randomErasing(x: tf.Tensor4D, options: ErasingOptions, rng: Rng): tf.Tensor4D {
  const [n, height, width, channels] = x.shape;
  const boxes: ErasedBox[] = [];
  for (let image = 0; image < n; image += 1) {
    const box = sampleErasingBox(height, width, options, rng);
    if (box !== undefined) boxes.push({ image, ...box });
  }
  if (boxes.length === 0) return x.clone();
  const mask = new Uint8Array(n * height * width);
  for (const box of boxes) {
    for (let y = box.top; y < box.top + box.height; y += 1) {
      const row = (box.image * height + y) * width;
      mask.fill(1, row + box.left, row + box.left + box.width);
    }
  }
  const fillSeed = rng.fork();
  const channelNoise = options.mode === 'rand' ? Float32Array.from({ length: n * channels }, () => rng.normal()) : undefined;
  return tf.tidy((): tf.Tensor4D => {
    const erase = tf.tensor4d(mask, [n, height, width, 1], 'bool');
    const fill = options.mode === 'pixel'
      ? tf.randomNormal([n, height, width, channels], 0, 1, 'float32', fillSeed)
      : channelNoise !== undefined
        ? tf.tile(tf.tensor4d(channelNoise, [n, 1, 1, channels]), [1, height, width, 1])
        : tf.zerosLike(x);
    return tf.where(tf.tile(erase, [1, 1, 1, channels]), fill, x) as tf.Tensor4D;
  });
}

/** Gamma(shape, 1) by Marsaglia-Tsang (with the shape+1 boost below 1). */
export function sampleGamma(shape: number, rng: Rng): number {
  if (shape < 1) return sampleGamma(shape + 1, rng) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let z: number;
    let v: number;
    do {
      z = rng.normal();
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function sampleBeta(alpha: number, beta: number, rng: Rng): number {
  const a = sampleGamma(alpha, rng);
  const b = sampleGamma(beta, rng);
  return a / (a + b);
}

/**
 * timm Mixup in batch mode: x mixed with its reversed order, lambda ~ Beta(alpha, alpha); targets are the
 * same mix of smoothed one-hot rows (off = smoothing / classes, on = 1 - smoothing + off).
 */
export function mixupBatch(
  x: tf.Tensor4D, labels: Int32Array, numClasses: number, alpha: number, smoothing: number, rng: Rng,
): { x: tf.Tensor4D; targets: tf.Tensor2D; lambda: number } {
  const lambda = alpha > 0 ? sampleBeta(alpha, alpha, rng) : 1;
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  const n = labels.length;
  const targets = new Float32Array(n * numClasses).fill(off);
  for (let i = 0; i < n; i += 1) {
    targets[i * numClasses + labels[i]] += (on - off) * lambda;
    targets[i * numClasses + labels[n - 1 - i]] += (on - off) * (1 - lambda);
  }
  const mixed = tf.tidy((): tf.Tensor4D => tf.add(tf.mul(x, lambda), tf.mul(tf.reverse(x, 0), 1 - lambda)));
  return { x: mixed, targets: tf.tensor2d(targets, [n, numClasses]), lambda };
}
