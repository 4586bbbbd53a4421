import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { openDataset } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/data/decode.js';
import { ImageLoader } from '../../src/data/loader.js';
import { planTrainImage } from '../../src/data/transforms.js';
import { NpyWriter } from '../../src/util/npy.js';
import { Rng } from '../../src/util/random.js';
import { tempDir } from '../helpers.js';
import { SKIP_NO_TORCH, runTorchPython } from '../io/torch/python.js';

/**
 * mnext's data pipeline against torchvision's, as the PyTorch twin runs it (python/mnext_torch/data.py): the train
 * transform in distribution (crop area and aspect, flip rate, per-channel mean and std of the batches) for grey
 * 28x28 PNGs upscaled to 32 and 500x375 JPEGs downscaled to 224, and the eval transform pixel for pixel against
 * Resize + CenterCrop. docs/accuracy.md has the numbers.
 */

/** Smooth blobs plus noise, so crops of different places and sizes differ in their statistics. */
function picture(width: number, height: number, channels: 1 | 3, seed: number): Buffer {
  const rng = new Rng(seed);
  const pixels = Buffer.alloc(width * height * channels);
  const cx = rng.next() * width;
  const cy = rng.next() * height;
  const radius = (0.2 + 0.3 * rng.next()) * Math.min(width, height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const inside = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius * radius));
      for (let c = 0; c < channels; c += 1) {
        const base = 200 * inside + 30 * (x / width) * (c + 1) + 25 * rng.next();
        pixels[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(base)));
      }
    }
  }
  return pixels;
}

async function makeSet(root: string, kind: 'grey' | 'jpeg', perClass: number): Promise<void> {
  for (const split of ['train', 'val']) {
    for (const label of ['a', 'b']) {
      const dir = join(root, split, label);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perClass; i += 1) {
        const seed = (split === 'train' ? 1000 : 2000) + (label === 'a' ? 0 : 500) + i;
        if (kind === 'grey') {
          await sharp(picture(28, 28, 1, seed), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(dir, `${i}.png`));
        } else {
          await sharp(picture(500, 375, 3, seed), { raw: { width: 500, height: 375, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(dir, `${i}.jpg`));
        }
      }
    }
  }
}

/** The cases: the Fashion-MNIST recipe's transform, and timm's ImageNet defaults at 224. */
const CASES = {
  grey: { size: 32, scale: [0.5, 1] as [number, number], cropPct: 1, interpolation: 'bilinear' as const, width: 28, height: 28, perClass: 20 },
  jpeg: { size: 224, scale: [0.08, 1] as [number, number], cropPct: 0.875, interpolation: 'bicubic' as const, width: 500, height: 375, perClass: 6 },
};
const RATIO: [number, number] = [3 / 4, 4 / 3];

/** Two-sample Kolmogorov-Smirnov distance. */
function ksDistance(a: number[], b: number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let worst = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] <= v) i += 1;
    while (j < y.length && y[j] <= v) j += 1;
    worst = Math.max(worst, Math.abs(i / x.length - j / y.length));
  }
  return worst;
}

const DRAWS = 4000;

describe('train transform against torchvision', { skip: SKIP_NO_TORCH }, () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`draws crops and flips from torchvision's distributions (${name}, ${c.width}x${c.height} -> ${c.size})`, () => {
      const ours = Array.from({ length: DRAWS }, (_, i) => planTrainImage(c.width, c.height, {
        size: c.size, scale: c.scale, ratio: RATIO, interpolation: c.interpolation, hflip: 0.5, colourJitter: 0,
      }, new Rng(i * 7919 + 1)));
      const theirs = JSON.parse(runTorchPython(`
import json, sys, torch
from PIL import Image
from torchvision import transforms
w, h, n, lo, hi = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
torch.manual_seed(0)
img = Image.new('RGB', (w, h))
crops = [transforms.RandomResizedCrop.get_params(img, (lo, hi), (3 / 4, 4 / 3)) for _ in range(n)]
flips = sum(bool(torch.rand(1) < 0.5) for _ in range(n))
print(json.dumps({'area': [cw * ch / (w * h) for _, _, ch, cw in crops], 'aspect': [cw / ch for _, _, ch, cw in crops], 'flips': flips}))
`, [String(c.width), String(c.height), String(DRAWS), String(c.scale[0]), String(c.scale[1])])) as { area: number[]; aspect: number[]; flips: number };
      const area = ours.map((p) => (p.crop!.width * p.crop!.height) / (c.width * c.height));
      const aspect = ours.map((p) => p.crop!.width / p.crop!.height);
      // Two samples of 4,000 from one distribution: KS distance above 0.036 has probability < 0.5 %.
      assert.ok(ksDistance(area, theirs.area) < 0.036, `crop area KS ${ksDistance(area, theirs.area)}`);
      assert.ok(ksDistance(aspect, theirs.aspect) < 0.036, `crop aspect KS ${ksDistance(aspect, theirs.aspect)}`);
      const flipRate = ours.filter((p) => p.flip).length / DRAWS;
      const mean = (v: number[]) => (v.reduce((a, b) => a + b, 0) / v.length).toFixed(4);
      console.log(`${name}: crop area mean ${mean(area)} vs ${mean(theirs.area)} (KS ${ksDistance(area, theirs.area).toFixed(4)}), ` +
        `aspect mean ${mean(aspect)} vs ${mean(theirs.aspect)} (KS ${ksDistance(aspect, theirs.aspect).toFixed(4)}), flip rate ${flipRate} vs ${theirs.flips / DRAWS}`);
      // 3.5 standard errors of a rate 0.5 over 4,000 draws, for each side.
      assert.ok(Math.abs(flipRate - 0.5) < 0.028 && Math.abs(theirs.flips / DRAWS - 0.5) < 0.028, `flip rates ${flipRate}, ${theirs.flips / DRAWS}`);
    });
  }
});

interface PipelineCase {
  readonly root: string;
  readonly config: (typeof CASES)[keyof typeof CASES];
}

const sets: Record<string, PipelineCase> = {};
before(async () => {
  for (const [name, config] of Object.entries(CASES)) {
    const root = join(tempDir(), name);
    await makeSet(root, name as 'grey' | 'jpeg', config.perClass);
    sets[name] = { root, config };
  }
});

/** Every image of the split through mnext's loader, `epochs` times, into one uint8 .npy [n, size, size, 3]. */
async function recordLoader(set: PipelineCase, train: boolean, epochs: number, path: string): Promise<void> {
  const dataset = openDataset(set.root, train ? 'train' : 'val');
  const c = set.config;
  const loader = new ImageLoader(dataset, {
    batchSize: dataset.samples.length, imageSize: c.size, seed: 3, train, dropLast: false, shuffle: false,
    scale: c.scale, ratio: RATIO, interpolation: c.interpolation, hflip: 0.5, colorJitter: 0, cropPct: c.cropPct,
  });
  const writer = new NpyWriter(path, 'uint8', [epochs * dataset.samples.length, c.size, c.size, 3]);
  for (let epoch = 0; epoch < epochs; epoch += 1) for await (const batch of loader.epoch(epoch)) writer.append(batch.images);
  writer.close();
}

const TORCHVISION_PIPELINE = `
import json, math, sys
import numpy as np, torch
from PIL import Image
from torchvision import transforms
from mnext_torch.data import INTERPOLATIONS, open_dataset, load_rgb
root, size, lo, hi, interpolation, crop_pct, epochs, ours = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], float(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
mode = sys.argv[9]
filt = INTERPOLATIONS[interpolation]
torch.manual_seed(0)
if mode == 'train':
    t = transforms.Compose([transforms.RandomResizedCrop(size, (lo, hi), (3 / 4, 4 / 3), filt), transforms.RandomHorizontalFlip()])
    samples = open_dataset(root, 'train').samples
else:
    t = transforms.Compose([transforms.Resize(math.floor(size / crop_pct), filt), transforms.CenterCrop(size)])
    samples = open_dataset(root, 'val').samples
theirs = np.stack([np.asarray(t(load_rgb(p))) for _ in range(epochs) for p, _ in samples]).astype(np.float64)
mine = np.load(ours).astype(np.float64)
if mode == 'train':
    def stats(a):
        per_image = a.mean(axis=(1, 2))
        return {'mean': a.mean(axis=(0, 1, 2)).tolist(), 'std': a.std(axis=(0, 1, 2)).tolist(), 'se': (per_image.std(axis=0) / math.sqrt(len(a))).tolist()}
    print(json.dumps({'mnext': stats(mine), 'torchvision': stats(theirs)}))
else:
    diff = np.abs(mine - theirs)
    print(json.dumps({'max': float(diff.max()), 'mean': float(diff.mean()), 'differing': float((diff > 0).mean())}))
`;

function runPipeline(set: PipelineCase, mode: 'train' | 'val', epochs: number, ours: string): Record<string, unknown> {
  const c = set.config;
  return JSON.parse(runTorchPython(TORCHVISION_PIPELINE, [
    set.root, String(c.size), String(c.scale[0]), String(c.scale[1]), c.interpolation, String(c.cropPct), String(epochs), ours, mode,
  ])) as Record<string, unknown>;
}

describe('batches against torchvision\'s', { skip: SKIP_NO_TORCH }, () => {
  for (const name of Object.keys(CASES)) {
    it(`gives batches with torchvision's per-channel mean and std (${name})`, async () => {
      const set = sets[name];
      const epochs = name === 'grey' ? 20 : 10;
      const ours = join(tempDir(), 'train.npy');
      await recordLoader(set, true, epochs, ours);
      type Stats = { mean: number[]; std: number[]; se: number[] };
      const result = runPipeline(set, 'train', epochs, ours) as { mnext: Stats; torchvision: Stats };
      const fixed = (v: number[]) => v.map((x) => x.toFixed(2)).join('/');
      console.log(`${name} batches: mean ${fixed(result.mnext.mean)} vs ${fixed(result.torchvision.mean)}, std ${fixed(result.mnext.std)} vs ${fixed(result.torchvision.std)}`);
      for (let ch = 0; ch < 3; ch += 1) {
        const { mnext, torchvision } = result;
        // The two means are independent samples: 4 combined standard errors.
        const allowed = 4 * Math.hypot(mnext.se[ch], torchvision.se[ch]);
        assert.ok(Math.abs(mnext.mean[ch] - torchvision.mean[ch]) < allowed, `channel ${ch} mean ${mnext.mean[ch]} vs ${torchvision.mean[ch]} (allowed ${allowed})`);
        assert.ok(Math.abs(mnext.std[ch] - torchvision.std[ch]) / torchvision.std[ch] < 0.03, `channel ${ch} std ${mnext.std[ch]} vs ${torchvision.std[ch]}`);
      }
    });

    it(`matches Resize + CenterCrop pixel for pixel in eval (${name})`, async () => {
      const set = sets[name];
      const ours = join(tempDir(), 'val.npy');
      await recordLoader(set, false, 1, ours);
      const result = runPipeline(set, 'val', 1, ours) as { max: number; mean: number; differing: number };
      const report = `max |Δ| ${result.max}, mean |Δ| ${result.mean.toFixed(4)}, ${(100 * result.differing).toFixed(2)} % of values differ`;
      console.log(`${name} eval: ${report}`);
      if (name === 'grey') {
        // Enlarged with Pillow's own arithmetic (data/resample.ts): the same bytes.
        assert.equal(result.max, 0, report);
      } else {
        // Shrunk by libvips: its bicubic reduce rounds differently from Pillow's fixed point by a level or two.
        assert.ok(result.max <= 2 && result.mean < 0.5, report);
      }
    });
  }
});

describe('training crops of small images', { skip: SKIP_NO_TORCH }, () => {
  it('are PIL\'s img.crop(box).resize((32, 32)) byte for byte when they enlarge', async () => {
    const dir = tempDir();
    const file = join(dir, 'grey.png');
    await sharp(picture(28, 28, 1, 5), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(file);
    const boxes = [[0, 0, 28, 28], [3, 5, 20, 17], [10, 1, 14, 27], [7, 7, 21, 21]];
    const ours: number[][] = [];
    for (const [left, top, width, height] of boxes) {
      for (const interpolation of ['bilinear', 'bicubic'] as const) {
        const pixels = await decodeImage(file, () => ({ crop: { left, top, width, height }, size: 32, interpolation, flip: false }), { maxPixels: 1e6 });
        ours.push([...pixels]);
      }
    }
    const theirs = JSON.parse(runTorchPython(`
import json, sys
import numpy as np
from PIL import Image
img = Image.open(sys.argv[1]).convert('RGB')
out = []
for left, top, width, height in json.loads(sys.argv[2]):
    for f in (Image.BILINEAR, Image.BICUBIC):
        out.append(np.asarray(img.crop((left, top, left + width, top + height)).resize((32, 32), f)).reshape(-1).tolist())
print(json.dumps(out))
`, [file, JSON.stringify(boxes)])) as number[][];
    ours.forEach((pixels, i) => assert.deepEqual(pixels, theirs[i], `box ${JSON.stringify(boxes[i >> 1])}, ${i % 2 ? 'bicubic' : 'bilinear'}`));
  });
});
