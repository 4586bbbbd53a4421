import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { InputError } from '../../src/errors.js';
import { openDataset } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/data/decode.js';
import { type ImageBatch, ImageLoader, type LoaderOptions } from '../../src/data/loader.js';
import { tempDir } from '../helpers.js';

/** A horizontal red ramp and vertical green ramp, so a crop's position shows in its pixels. */
function ramp(width: number, height: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      pixels[(y * width + x) * 3] = Math.round((255 * x) / (width - 1));
      pixels[(y * width + x) * 3 + 1] = Math.round((255 * y) / (height - 1));
      pixels[(y * width + x) * 3 + 2] = 80;
    }
  }
  return pixels;
}

const rawRamp = (width: number, height: number, channels: 3 = 3) => sharp(ramp(width, height), { raw: { width, height, channels } });

async function collect(loader: ImageLoader, epoch: number): Promise<ImageBatch[]> {
  const batches: ImageBatch[] = [];
  for await (const batch of loader.epoch(epoch)) batches.push(batch);
  return batches;
}

describe('decodeImage', () => {
  it('crops the requested box of the auto-oriented image', async () => {
    const dir = tempDir();
    // Stored 60x40 with EXIF orientation 6 (rotate 90 degrees clockwise): upright it is 40x60.
    await rawRamp(60, 40).withMetadata({ orientation: 6 }).png().toFile(join(dir, 'rotated.png'));
    await rawRamp(60, 40).rotate(90).png().toFile(join(dir, 'upright.png'));
    const box = { left: 4, top: 10, width: 16, height: 16 };
    const sizes: number[][] = [];
    const plan = (w: number, h: number) => { sizes.push([w, h]); return { crop: box, size: 16, interpolation: 'bilinear' as const, flip: false }; };
    const rotated = await decodeImage(join(dir, 'rotated.png'), plan, { maxPixels: 1e6 });
    const upright = await decodeImage(join(dir, 'upright.png'), plan, { maxPixels: 1e6 });
    assert.deepEqual(sizes, [[40, 60], [40, 60]]);
    assert.deepEqual(rotated, upright);
    // Straight crop of an unrotated ramp: the first pixel is the ramp value at the box corner.
    await rawRamp(64, 48).png().toFile(join(dir, 'ramp.png'));
    const crop = await decodeImage(join(dir, 'ramp.png'), () => ({ crop: { left: 20, top: 8, width: 10, height: 10 }, size: 10, interpolation: 'bilinear', flip: false }), { maxPixels: 1e6 });
    assert.deepEqual([crop[0], crop[1]], [Math.round((255 * 20) / 63), Math.round((255 * 8) / 47)]);
    const flipped = await decodeImage(join(dir, 'ramp.png'), () => ({ crop: { left: 20, top: 8, width: 10, height: 10 }, size: 10, interpolation: 'bilinear', flip: true }), { maxPixels: 1e6 });
    assert.equal(flipped[0], crop[9 * 3], 'flip mirrors each row');
  });

  it('decodes a large crop at reduced scale with nearly the same pixels', async () => {
    const dir = tempDir();
    await rawRamp(1600, 1200).jpeg({ quality: 95 }).toFile(join(dir, 'big.jpg'));
    const plan = () => ({ crop: { left: 100, top: 100, width: 1200, height: 1000 }, size: 64, interpolation: 'bilinear' as const, flip: false });
    const pixels = await decodeImage(join(dir, 'big.jpg'), plan, { maxPixels: 1e7 });
    const reference = await sharp(join(dir, 'big.jpg')).extract({ left: 100, top: 100, width: 1200, height: 1000 }).resize(64, 64, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    const maxDiff = pixels.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0);
    assert.ok(maxDiff <= 12, `reduced-scale decode differs by ${maxDiff}`);
  });
});

/** Every bad-input case the issue lists, made by sharp (or by hand) in a temp folder. */
async function makeBadInputs(dir: string): Promise<{ good: string[]; bad: Record<string, string> }> {
  const cls = join(dir, 'mixed');
  mkdirSync(cls, { recursive: true });
  const file = (name: string) => join(cls, name);
  await rawRamp(50, 40).jpeg().toFile(file('rgb.jpg'));
  await sharp(Buffer.alloc(30 * 20, 90), { raw: { width: 30, height: 20, channels: 1 } }).toColourspace('b-w').png().toFile(file('grey.png'));
  await sharp(Buffer.alloc(30 * 20 * 2, 90), { raw: { width: 30, height: 20, channels: 2 } }).toColourspace('b-w').png().toFile(file('grey-alpha.png'));
  await rawRamp(50, 40).ensureAlpha(0.3).png().toFile(file('alpha.png'));
  await rawRamp(50, 40).toColourspace('rgb16').png().toFile(file('sixteen.png'));
  await rawRamp(50, 40).toColourspace('cmyk').jpeg().toFile(file('cmyk.jpg'));
  await rawRamp(50, 40).withMetadata({ orientation: 8 }).jpeg().toFile(file('exif.JPEG'));
  await rawRamp(50, 40).webp().toFile(file('photo.webp'));
  await rawRamp(50, 40).tiff().toFile(file('scan.tif'));
  const good = ['rgb.jpg', 'grey.png', 'grey-alpha.png', 'alpha.png', 'sixteen.png', 'cmyk.jpg', 'exif.JPEG', 'photo.webp', 'scan.tif'];
  writeFileSync(file('zero.jpg'), '');
  writeFileSync(file('text.png'), 'this is not an image\n');
  const jpeg = await rawRamp(200, 150).jpeg({ quality: 95 }).toBuffer();
  writeFileSync(file('truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
  await rawRamp(400, 300).png({ compressionLevel: 9 }).toFile(file('huge.png'));
  symlinkSync(join(dir, 'gone.jpg'), file('dangling.jpg'));
  const bad: Record<string, string> = {
    'zero.jpg': 'empty file', 'text.png': 'not an image', 'truncated.jpg': 'corrupt or truncated', 'huge.png': 'pixel limit', 'dangling.jpg': 'file not found',
  };
  if (process.getuid?.() !== 0) {
    writeFileSync(file('locked.jpg'), readFileSync(file('rgb.jpg')));
    chmodSync(file('locked.jpg'), 0);
    bad['locked.jpg'] = 'permission denied';
  }
  return { good, bad };
}

describe('ImageLoader', () => {
  it('turns every odd-but-valid file into an RGB crop and skips the broken ones with a reason', async () => {
    const dir = tempDir();
    const { good, bad } = await makeBadInputs(dir);
    const dataset = openDataset(dir);
    const warnings: string[] = [];
    const options: LoaderOptions = { batchSize: 4, imageSize: 24, train: false, seed: 1, workers: 3, maxPixels: 100_000, onSkip: (s) => warnings.push(s.path) };
    const loader = new ImageLoader(dataset, options);
    const batches = await collect(loader, 0);
    const decoded = batches.flatMap((b) => b.paths.map((p) => p.slice(join(dir, 'mixed').length + 1)));
    assert.deepEqual(decoded.sort(), [...good].sort());
    for (const batch of batches) assert.equal(batch.images.length, batch.labels.length * 24 * 24 * 3);
    const reasons = Object.fromEntries(loader.skipped.map((s) => [s.path.slice(join(dir, 'mixed').length + 1), s.reason]));
    assert.deepEqual(Object.keys(reasons).sort(), Object.keys(bad).sort());
    for (const [name, reason] of Object.entries(bad)) assert.match(reasons[name], new RegExp(reason), name);
    assert.equal(warnings.length, Object.keys(bad).length);
    await collect(loader, 1);
    assert.equal(loader.skipped.length, Object.keys(bad).length, 'a file is reported once, not per epoch');
    const greyIndex = batches.flatMap((b) => b.paths).findIndex((p) => p.endsWith('grey.png'));
    const all = new Uint8Array(batches.flatMap((b) => [...b.images]));
    const grey = all.subarray(greyIndex * 24 * 24 * 3, (greyIndex + 1) * 24 * 24 * 3);
    assert.ok(grey.every((v) => v === 90), 'grey is replicated into three equal channels');
    await assert.rejects(collect(new ImageLoader(dataset, { ...options, strict: true }), 0),
      (e: Error) => e instanceof InputError && /--strict/.test(e.message) && Object.keys(bad).some((b) => e.message.includes(b)));
  });

  it('gives identical batches whatever the worker count and prefetch depth', async () => {
    const dir = tempDir();
    for (let c = 0; c < 3; c += 1) {
      mkdirSync(join(dir, `c${c}`));
      for (let i = 0; i < 7; i += 1) await rawRamp(40 + 9 * i, 30 + 5 * c).jpeg().toFile(join(dir, `c${c}`, `${i}.jpg`));
    }
    const dataset = openDataset(dir);
    const options = { batchSize: 5, imageSize: 16, train: true, seed: 42 };
    const one = await collect(new ImageLoader(dataset, { ...options, workers: 1, prefetch: 1 }), 3);
    const many = await collect(new ImageLoader(dataset, { ...options, workers: 6, prefetch: 4 }), 3);
    assert.equal(one.length, 4, '21 images, batch 5, drop_last: 4 batches');
    assert.deepEqual(many, one);
    const nextEpoch = await collect(new ImageLoader(dataset, { ...options, workers: 2 }), 4);
    assert.notDeepEqual(nextEpoch.map((b) => b.paths), one.map((b) => b.paths), 'each epoch has its own order');
    const otherSeed = await collect(new ImageLoader(dataset, { ...options, seed: 43, shuffle: false }), 3);
    const sameSeed = await collect(new ImageLoader(dataset, { ...options, shuffle: false }), 3);
    assert.deepEqual(otherSeed.map((b) => b.paths), sameSeed.map((b) => b.paths));
    assert.notDeepEqual(otherSeed.map((b) => b.images), sameSeed.map((b) => b.images), 'the seed changes the crops');
    const evalBatches = await collect(new ImageLoader(dataset, { ...options, train: false }), 0);
    assert.deepEqual(evalBatches.map((b) => b.labels.length), [5, 5, 5, 5, 1], 'eval keeps the last partial batch, in order');
    assert.deepEqual(evalBatches.flatMap((b) => [...b.labels]), dataset.samples.map((s) => s.label));
  });

  it('stops cleanly when the consumer breaks out early', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'a'));
    for (let i = 0; i < 12; i += 1) await rawRamp(32, 32).png().toFile(join(dir, 'a', `${i}.png`));
    const loader = new ImageLoader(openDataset(dir), { batchSize: 2, imageSize: 8, train: true, seed: 0, workers: 4, prefetch: 2 });
    for await (const batch of loader.epoch(0)) {
      assert.equal(batch.labels.length, 2);
      break;
    }
    await loader.close();
    assert.equal(loader.batchesPerEpoch, 6);
    assert.equal(loader.imagesPerEpoch, 12);
  });
});
