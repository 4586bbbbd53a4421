import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { initBackend } from '../../src/backend/index.js';
import { normalizedPixels } from '../../src/data/batch-ops.js';
import { decodeImageBytes } from '../../src/data/decode.js';
import { pilResize } from '../../src/data/resample.js';
import { type Interpolation, centreCropBox, planEvalImage } from '../../src/data/transforms.js';
import { Rng } from '../../src/util/random.js';
// The page's own module, plain JS so the browser runs it as served: the code under test is what the page runs.
import { evalGeometry, evalPixels, normalise, resizeLikeSharp } from '../../src/demo/page/preprocess.js';

/**
 * The demo page's preprocessing against mnext's eval pipeline (sharp/libvips): the same bytes for every resize
 * the eval transform makes, so the browser's logits are mnext's.
 */

const TROUSER_PNG = join(import.meta.dirname, '..', 'fixtures', 'fashion-mnist-trouser.png');
const KERNELS: Record<Interpolation, 'linear' | 'cubic'> = { bilinear: 'linear', bicubic: 'cubic' };

before(async () => {
  await initBackend('wasm');
});

/** Noise with some structure (a gradient under it), so both flat and busy neighbourhoods are exercised. */
function randomImage(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = Math.min(255, Math.floor(((i / 3) % width) * 128 / width + rng.next() * 128));
  return pixels;
}

test('resizeLikeSharp gives sharp\'s bytes: down (with and without the integer box shrink), one axis, both filters', async () => {
  const cases = [
    [100, 80, 32, 25], [300, 200, 48, 32], [640, 480, 292, 219], [1000, 750, 256, 192], [64, 64, 64, 32], [257, 255, 73, 72],
    [33, 17, 16, 8], [200, 30, 40, 30], [53, 91, 37, 64],
  ];
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    for (const [index, [width, height, toWidth, toHeight]] of cases.entries()) {
      const pixels = randomImage(width, height, index);
      const expected = await sharp(pixels, { raw: { width, height, channels: 3 } })
        .resize(toWidth, toHeight, { fit: 'fill', kernel: KERNELS[interpolation] }).raw().toBuffer();
      const actual = resizeLikeSharp({ pixels, width, height, bands: 3 }, toWidth, toHeight, interpolation);
      assert.deepEqual([actual.width, actual.height], [toWidth, toHeight]);
      assert.ok(Buffer.from(actual.pixels).equals(expected), `${interpolation} ${width}x${height} -> ${toWidth}x${toHeight}`);
    }
  }
});

test('evalGeometry is the eval plan\'s resize and centre crop', () => {
  for (const [width, height, size, cropPct] of [[28, 28, 32, 1], [640, 480, 224, 0.875], [481, 640, 224, 0.9], [101, 99, 64, 0.95], [32, 500, 32, 1]]) {
    const plan = planEvalImage(width, height, size, cropPct, 'bicubic');
    const { resize, crop } = evalGeometry(width, height, size, cropPct);
    assert.deepEqual(resize, plan.resize);
    assert.deepEqual(crop, centreCropBox(plan.resize!.width, plan.resize!.height, size));
  }
});

test('evalPixels on decoded RGBA equals mnext\'s decode of the encoded file; normalise equals normalizedPixels', async () => {
  const photo = await sharp(randomImage(300, 200, 7), { raw: { width: 300, height: 200, channels: 3 } }).png().toBuffer();
  const portrait = await sharp(randomImage(150, 260, 8), { raw: { width: 150, height: 260, channels: 3 } }).png().toBuffer();
  const grey = await sharp(TROUSER_PNG).toBuffer();
  // Reductions (photo, portrait) take the libvips path, enlargements (the 28 px grey image) Pillow's.
  const transforms = [
    { inputSize: 32, cropPct: 1, interpolation: 'bilinear' },
    { inputSize: 64, cropPct: 0.875, interpolation: 'bicubic' },
    { inputSize: 96, cropPct: 0.9, interpolation: 'bilinear' },
  ] as const;
  for (const [name, bytes] of [['photo', photo], ['portrait', portrait], ['grey', grey]] as const) {
    // What the browser's canvas gives: RGBA, grey replicated.
    const { data, info } = await sharp(bytes).toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    for (const transform of transforms) {
      const { inputSize, cropPct, interpolation } = transform;
      const expected = await decodeImageBytes(bytes, name, (w, h) => planEvalImage(w, h, inputSize, cropPct, interpolation), { maxPixels: 1e8 });
      const actual = evalPixels({ data, width: info.width, height: info.height }, transform, pilResize);
      assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${name} ${JSON.stringify(transform)}`);
      const mean = [0.485, 0.456, 0.406];
      const std = [0.229, 0.224, 0.225];
      const reference = await normalizedPixels({ images: expected, labels: new Int32Array(1), size: inputSize, paths: [] }, mean, std);
      assert.deepEqual(normalise(actual, mean, std), reference);
    }
  }
});
