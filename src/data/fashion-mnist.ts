import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { InputError, UsageError } from '../errors.js';
import type { OutputOptions } from '../util/output-path.js';
import { writeDatasetFolder } from './output-dir.js';
import { mapConcurrent } from './seed.js';

/**
 * Fashion-MNIST IDX files (plain or .gz; Debian's dataset-fashion-mnist installs them in
 * /usr/share/datasets/fashion-mnist) -> `<out>/train|val/<class>/<n>.png`. Folder names carry the label index
 * first so the ImageFolder sort keeps Fashion-MNIST's label numbering.
 */

export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES: readonly string[] = [
  '0-tshirt-top', '1-trouser', '2-pullover', '3-dress', '4-coat', '5-sandal', '6-shirt', '7-sneaker', '8-bag', '9-ankle-boot',
];

interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
}

function readIdx(fromDir: string, stems: readonly string[]): { path: string; bytes: Uint8Array } {
  const candidates = stems.flatMap((stem) => [join(fromDir, stem), join(fromDir, `${stem}.gz`)]);
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) throw new InputError(`no ${stems[0]}[.gz] in ${fromDir} (install dataset-fashion-mnist or download the IDX files there).`);
  const raw = readFileSync(path);
  try {
    return { path, bytes: path.endsWith('.gz') ? gunzipSync(raw) : raw };
  } catch {
    throw new InputError(`${path} is not a valid gzip file.`);
  }
}

function parseImages(fromDir: string, split: 'train' | 't10k'): IdxImages {
  const { path, bytes } = readIdx(fromDir, [`${split}-images-idx3-ubyte`, `${split}-images.idx3-ubyte`]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16 || view.getUint32(0) !== 0x803) throw new InputError(`${path} is not an IDX image file (magic 0x00000803).`);
  const [count, rows, cols] = [view.getUint32(4), view.getUint32(8), view.getUint32(12)];
  if (bytes.length < 16 + count * rows * cols) throw new InputError(`${path} is truncated: ${count} images of ${rows}x${cols} need ${16 + count * rows * cols} bytes.`);
  return { count, rows, cols, pixels: bytes.subarray(16) };
}

function parseLabels(fromDir: string, split: 'train' | 't10k'): Uint8Array {
  const { path, bytes } = readIdx(fromDir, [`${split}-labels-idx1-ubyte`, `${split}-labels.idx1-ubyte`]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint32(0) !== 0x801) throw new InputError(`${path} is not an IDX label file (magic 0x00000801).`);
  const count = view.getUint32(4);
  if (bytes.length < 8 + count) throw new InputError(`${path} is truncated.`);
  const labels = bytes.subarray(8, 8 + count);
  const bad = labels.findIndex((l) => l >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) throw new InputError(`${path}: label ${labels[bad]} at index ${bad} is outside 0-9.`);
  return labels;
}

/**
 * The first images in file order such that each class gets floor(limit / 10) (the remainder going to the lowest
 * class indices); without a limit, every image.
 */
export function balancedSelection(labels: Uint8Array, limit: number | undefined, classes = FASHION_MNIST_CLASSES.length): number[] {
  if (limit === undefined) return Array.from(labels, (_, i) => i);
  const quota = Array.from({ length: classes }, (_, c) => Math.floor(limit / classes) + (c < limit % classes ? 1 : 0));
  const chosen: number[] = [];
  for (let i = 0; i < labels.length && chosen.length < limit; i += 1) {
    if (quota[labels[i]] > 0) {
      quota[labels[i]] -= 1;
      chosen.push(i);
    }
  }
  return chosen;
}

export interface FashionMnistOptions extends OutputOptions {
  limitTrain?: number;
  limitVal?: number;
  /** Called after each image is written, counting both splits. */
  onProgress?: (done: number, total: number) => void;
}

async function writeSplit(staging: string, split: 'train' | 'val', images: IdxImages, labels: Uint8Array, indices: number[], written: () => void): Promise<void> {
  if (labels.length !== images.count) throw new InputError(`Fashion-MNIST ${split}: ${images.count} images but ${labels.length} labels.`);
  for (const name of FASHION_MNIST_CLASSES) mkdirSync(join(staging, split, name), { recursive: true });
  const size = images.rows * images.cols;
  await mapConcurrent(indices, 4, async (i) => {
    const pixels = images.pixels.subarray(i * size, (i + 1) * size);
    const file = join(staging, split, FASHION_MNIST_CLASSES[labels[i]], `${String(i).padStart(5, '0')}.png`);
    await sharp(pixels, { raw: { width: images.cols, height: images.rows, channels: 1 } }).toColourspace('b-w').png().toFile(file);
    written();
  });
}

export async function convertFashionMnist(fromDir: string, outDir: string, options: FashionMnistOptions = {}): Promise<{ train: number; val: number }> {
  for (const [name, value] of [['limitTrain', options.limitTrain], ['limitVal', options.limitVal]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) throw new UsageError(`${name}: expected a positive integer, got ${value}.`);
  }
  if (!existsSync(fromDir)) throw new InputError(`${fromDir} does not exist (install the Debian package dataset-fashion-mnist, or pass --from DIR).`);
  const train = { images: parseImages(fromDir, 'train'), labels: parseLabels(fromDir, 'train') };
  const val = { images: parseImages(fromDir, 't10k'), labels: parseLabels(fromDir, 't10k') };
  const trainIndices = balancedSelection(train.labels, options.limitTrain);
  const valIndices = balancedSelection(val.labels, options.limitVal);
  const total = trainIndices.length + valIndices.length;
  let done = 0;
  const written = () => {
    done += 1;
    options.onProgress?.(done, total);
  };
  await writeDatasetFolder(outDir, async (staging) => {
    await writeSplit(staging, 'train', train.images, train.labels, trainIndices, written);
    await writeSplit(staging, 'val', val.images, val.labels, valIndices, written);
  }, options);
  return { train: trainIndices.length, val: valIndices.length };
}
