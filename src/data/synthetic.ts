import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { UsageError } from '../errors.js';
import { Rng } from '../util/random.js';
import type { OutputOptions } from '../util/output-path.js';
import { writeDatasetFolder } from './output-dir.js';
import { mapConcurrent, mixSeed } from './seed.js';

/**
 * A small colour dataset drawn from scratch: each class is a shape with its own hue, drawn at a random position,
 * size and rotation over a class-independent textured background with noise. A small network learns it in a
 * few epochs, but it needs shape and colour together, not a single pixel statistic.
 */

export interface SyntheticOptions extends OutputOptions {
  classes: number;
  /** Training images per class; val gets round(perClass * valFraction) more per class. */
  perClass: number;
  /** Square side, unless width/height are given. */
  size: number;
  seed: number;
  valFraction?: number;
  width?: number;
  height?: number;
  format?: 'png' | 'jpeg';
  /** Called after each image is written. */
  onProgress?: (done: number, total: number) => void;
}

const SHAPES = ['circle', 'square', 'triangle', 'ring', 'cross', 'diamond'] as const;
type Shape = (typeof SHAPES)[number];

function insideShape(shape: Shape, u: number, v: number): boolean {
  switch (shape) {
    case 'circle': return u * u + v * v <= 1;
    case 'square': return Math.max(Math.abs(u), Math.abs(v)) <= 0.8;
    case 'triangle': return v <= 0.8 && v >= -0.9 && Math.abs(u) <= (0.8 - v) * 0.55;
    case 'ring': { const r = u * u + v * v; return r <= 1 && r >= 0.36; }
    case 'cross': return (Math.abs(u) <= 0.3 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 1);
    case 'diamond': return Math.abs(u) + Math.abs(v) <= 1;
  }
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const table: [number, number, number][] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]];
  return table[i].map((c) => c * 255) as [number, number, number];
}

/** Class c: shape c mod 6, hue spread by the golden ratio so neighbouring classes differ in colour too. */
export function syntheticClassName(c: number, classes: number): string {
  const digits = String(Math.max(classes - 1, 0)).length;
  return `${String(c).padStart(digits, '0')}-${SHAPES[c % SHAPES.length]}`;
}

function classHue(c: number): number {
  return (c * 0.6180339887) % 1;
}

type Texture = (x: number, y: number) => number;

/** A background pattern (gradient, stripes, checker or blotches) in 0..1, independent of the class. */
function randomTexture(rng: Rng, width: number, height: number): Texture {
  const kind = rng.int(0, 3);
  const angle = rng.uniform(0, Math.PI);
  const period = rng.uniform(4, Math.max(6, width / 4));
  const [ca, sa] = [Math.cos(angle), Math.sin(angle)];
  if (kind === 0) return (x, y) => (x * ca + y * sa) / Math.hypot(width, height) + 0.5;
  if (kind === 1) return (x, y) => 0.5 + 0.5 * Math.sin(((x * ca + y * sa) / period) * Math.PI * 2);
  if (kind === 2) return (x, y) => (Math.floor(x / period) + Math.floor(y / period)) % 2;
  const blobs = Array.from({ length: 4 }, () => [rng.uniform(0, width), rng.uniform(0, height), rng.uniform(width / 8, width / 3)]);
  return (x, y) => Math.min(1, blobs.reduce((s, [bx, by, r]) => s + Math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (r * r)), 0));
}

/** Draws one image of class c as packed RGB. */
export function drawSyntheticImage(c: number, width: number, height: number, rng: Rng): Uint8Array {
  const shape = SHAPES[c % SHAPES.length];
  const [fr, fg, fb] = hsvToRgb((classHue(c) + rng.uniform(-0.03, 0.03) + 1) % 1, rng.uniform(0.6, 1), rng.uniform(0.6, 1));
  const bgA = hsvToRgb(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.2, 0.9));
  const bgB = hsvToRgb(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.2, 0.9));
  const texture = randomTexture(rng, width, height);
  const side = Math.min(width, height);
  const radius = side * rng.uniform(0.18, 0.35);
  const cx = rng.uniform(radius, width - radius);
  const cy = rng.uniform(radius, height - radius);
  const theta = rng.uniform(0, Math.PI * 2);
  const [cos, sin] = [Math.cos(theta), Math.sin(theta)];
  const noise = rng.uniform(4, 16);
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const dx = (x + 0.5 - cx) / radius;
      const dy = (y + 0.5 - cy) / radius;
      const inside = insideShape(shape, dx * cos + dy * sin, -dx * sin + dy * cos);
      const t = texture(x, y);
      const rgb = inside ? [fr, fg, fb] : [bgA[0] + (bgB[0] - bgA[0]) * t, bgA[1] + (bgB[1] - bgA[1]) * t, bgA[2] + (bgB[2] - bgA[2]) * t];
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k += 1) pixels[o + k] = Math.max(0, Math.min(255, Math.round(rgb[k] + rng.normal() * noise)));
    }
  }
  return pixels;
}

function checkOptions(options: SyntheticOptions): void {
  const positiveInt = (name: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) throw new UsageError(`${name}: expected a positive integer, got ${value}.`);
  };
  positiveInt('classes', options.classes);
  positiveInt('perClass', options.perClass);
  positiveInt('size', options.size);
  positiveInt('width', options.width);
  positiveInt('height', options.height);
  if (options.classes < 2) throw new UsageError(`classes: expected at least 2, got ${options.classes}.`);
  const fraction = options.valFraction ?? 0.2;
  if (!(fraction >= 0 && fraction <= 1)) throw new UsageError(`valFraction: expected a number in [0, 1], got ${fraction}.`);
}

/** Validation images per class: round(perClass * valFraction), which is 0 for a small perClass. */
function valPerClass(options: Pick<SyntheticOptions, 'perClass' | 'valFraction'>): number {
  return Math.round(options.perClass * (options.valFraction ?? 0.2));
}

/** The images generateSyntheticDataset writes per split (for a progress total before it starts). */
export function syntheticImageCounts(options: Pick<SyntheticOptions, 'classes' | 'perClass' | 'valFraction'>): { train: number; val: number } {
  return { train: options.classes * options.perClass, val: options.classes * valPerClass(options) };
}

/**
 * Writes `<outDir>/train|val/<class>/*.png` (or .jpg) atomically, never over a folder mnext did not write unless
 * `force`; returns the image counts per split (val is 0, and val/ absent, when round(perClass * valFraction) is).
 */
export async function generateSyntheticDataset(outDir: string, options: SyntheticOptions): Promise<{ train: number; val: number }> {
  checkOptions(options);
  const width = options.width ?? options.size;
  const height = options.height ?? options.size;
  const format = options.format ?? 'png';
  const perVal = valPerClass(options);
  const jobs: { split: 'train' | 'val'; c: number; i: number }[] = [];
  for (let c = 0; c < options.classes; c += 1) {
    for (let i = 0; i < options.perClass; i += 1) jobs.push({ split: 'train', c, i });
    for (let i = 0; i < perVal; i += 1) jobs.push({ split: 'val', c, i });
  }
  await writeDatasetFolder(outDir, async (staging) => {
    for (const split of perVal > 0 ? ['train', 'val'] : ['train']) {
      for (let c = 0; c < options.classes; c += 1) mkdirSync(join(staging, split, syntheticClassName(c, options.classes)), { recursive: true });
    }
    let done = 0;
    await mapConcurrent(jobs, 4, async ({ split, c, i }) => {
      const rng = new Rng(mixSeed(options.seed, c, i, split === 'train' ? 1 : 2));
      const pixels = drawSyntheticImage(c, width, height, rng);
      const image = sharp(pixels, { raw: { width, height, channels: 3 } });
      const name = `${split}_${String(i).padStart(5, '0')}.${format === 'png' ? 'png' : 'jpg'}`;
      const file = join(staging, split, syntheticClassName(c, options.classes), name);
      await (format === 'png' ? image.png() : image.jpeg({ quality: 90 })).toFile(file);
      done += 1;
      options.onProgress?.(done, jobs.length);
    });
  }, options);
  return syntheticImageCounts(options);
}
