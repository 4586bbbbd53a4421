import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { type ColourJitterPlan, flipAndJitter, sampleColourJitter } from '../../src/data/colour-jitter.js';
import { DecodeError, decodeImage } from '../../src/data/decode.js';
import { NATIVE_JPEG_PATH, nativeJpegDecoder } from '../../src/data/native-jpeg.js';
import type { CropBox, ImagePlan, Interpolation } from '../../src/data/transforms.js';
import { Rng } from '../../src/util/random.js';
import { SYSTEM_PYTHON, pythonHas, tempDir } from '../helpers.js';

/** Builds the addon (as `npm run build` does) when it is missing, so the test checks the code in the tree. */
function nativeMissing(): string | false {
  if (!existsSync(NATIVE_JPEG_PATH)) spawnSync(process.execPath, [join(import.meta.dirname, '../../src/data/native/build.mjs')], { stdio: 'inherit' });
  if (!existsSync(NATIVE_JPEG_PATH)) return 'the native JPEG decoder could not be built (needs cc and libjpeg-dev)';
  if (process.env.MNEXT_NATIVE_JPEG === '0') return 'MNEXT_NATIVE_JPEG=0 disables the native JPEG decoder';
  return false;
}
const skipNative = nativeMissing();

/** Smooth gradients plus a few hard edges, so chroma upsampling and both filters have something to get wrong. */
function texture(width: number, height: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 3;
      const edge = (x * 7 + y * 3) % 53 < 9 ? 120 : 0;
      pixels[i] = (x * 255) / width + edge;
      pixels[i + 1] = (y * 255) / height;
      pixels[i + 2] = Math.floor(rng.next() * 256);
    }
  }
  return pixels;
}

interface Case { file: string; crop: CropBox; size: number; interpolation: Interpolation; shrink: number; flip: boolean; jitter?: ColourJitterPlan }

/**
 * PIL's `Image.open(file)` (with draft() at 1/shrink, libjpeg's DCT scaling), `.crop(box).resize(size, filter)`,
 * then RandomHorizontalFlip and ColorJitter's ImageEnhance ops in the case's order.
 */
const PIL_CROP_RESIZE = String.raw`
import json, sys
from PIL import Image, ImageEnhance
enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
out = []
for case in json.load(sys.stdin):
    image = Image.open(case['file'])
    if case['shrink'] > 1:
        image.draft('RGB', (image.width // case['shrink'], image.height // case['shrink']))
    box = case['crop']
    image = image.convert('RGB').crop((box['left'], box['top'], box['left'] + box['width'], box['top'] + box['height']))
    filter = Image.BICUBIC if case['interpolation'] == 'bicubic' else Image.BILINEAR
    image = image.resize((case['size'], case['size']), filter)
    if case['flip']:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    jitter = case.get('jitter')
    for op in (jitter['order'] if jitter else []):
        image = enhancers[op](image).enhance([jitter['brightness'], jitter['contrast'], jitter['saturation']][op])
    out.append(list(image.tobytes()))
print(json.dumps(out))
`;

describe('native JPEG crop decoder', { skip: skipNative }, () => {
  const dir = tempDir();
  const files: Record<string, string> = {};
  before(async () => {
    const variants: [string, number, number, sharp.JpegOptions][] = [
      ['420.jpg', 237, 181, { quality: 90 }],
      ['444.jpg', 200, 150, { quality: 90, chromaSubsampling: '4:4:4' }],
      ['progressive.jpg', 161, 243, { quality: 85, progressive: true }],
      ['big.jpg', 1001, 803, { quality: 90 }],
    ];
    for (const [name, width, height, options] of variants) {
      files[name] = join(dir, name);
      await sharp(texture(width, height, width), { raw: { width, height, channels: 3 } }).jpeg(options).toFile(files[name]);
    }
  });

  it('gives the bytes PIL gives for crop, resize, flip and ColorJitter (both filters, every subsampling, edges, upscaling)', { skip: pythonHas('PIL') ? false : 'python3-pil is not installed' }, async () => {
    const rng = new Rng(7);
    const cases: Case[] = [];
    // Every op order, single ops, and factors at the ends of the 0.4 range (clipping), flipped or not.
    const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [1], [2]];
    const add = (file: string, crop: CropBox, size: number, shrink = 1) => {
      for (const interpolation of ['bilinear', 'bicubic'] as const) {
        const k = cases.length;
        const [brightness, contrast, saturation] = k % 5 === 0 ? [1.4, 0.6, 1.4] : [0, 0, 0].map(() => rng.uniform(0.6, 1.4));
        const jitter = k % 3 === 0 ? undefined : { brightness, contrast, saturation, order: orders[k % orders.length] };
        cases.push({ file: files[file], crop, size, interpolation, shrink, flip: k % 4 < 2, jitter });
      }
    };
    for (const [file, width, height] of [['420.jpg', 237, 181], ['444.jpg', 200, 150], ['progressive.jpg', 161, 243]] as const) {
      add(file, { left: 0, top: 0, width, height }, 64);
      add(file, { left: 16, top: 16, width: 64, height: 48 }, 40);
      add(file, { left: width - 50, top: height - 40, width: 50, height: 40 }, 96);
      add(file, { left: 33, top: 17, width: 24, height: 24 }, 24);
      for (let k = 0; k < 3; k += 1) {
        const w = rng.int(8, width);
        const h = rng.int(8, height);
        add(file, { left: rng.int(0, width - w), top: rng.int(0, height - h), width: w, height: h }, rng.int(8, 80));
      }
    }
    // A crop over twice the output decodes at 1/2 or 1/4: the box is given in the scaled image's pixels.
    add('big.jpg', { left: 31, top: 45, width: 200, height: 150 }, 64, 4);
    add('big.jpg', { left: 0, top: 0, width: 501, height: 402 }, 128, 2);
    const result = spawnSync(SYSTEM_PYTHON, ['-c', PIL_CROP_RESIZE], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.equal(result.status, 0, result.stderr);
    const reference = JSON.parse(result.stdout) as number[][];
    const decoder = nativeJpegDecoder();
    assert.ok(decoder !== undefined);
    for (const [i, c] of cases.entries()) {
      const pixels = await decoder.cropResize(readFileSync(c.file), c);
      assert.deepEqual([...pixels], reference[i], `${c.file} ${JSON.stringify(c.crop)} -> ${c.size} ${c.interpolation} 1/${c.shrink} flip ${c.flip} ${JSON.stringify(c.jitter)}`);
    }
  });

  it('is what decodeImage uses for training crops of plain JPEGs, big crops at reduced scale', async () => {
    const decoder = nativeJpegDecoder();
    assert.ok(decoder !== undefined);
    const plan = (crop: CropBox): ImagePlan => ({ crop, size: 100, interpolation: 'bicubic', flip: false });
    const job = { size: 100, interpolation: 'bicubic' as const, flip: false };
    const direct = await decoder.cropResize(readFileSync(files['420.jpg']), { ...job, crop: { left: 5, top: 9, width: 150, height: 120 }, shrink: 1 });
    assert.deepEqual(await decodeImage(files['420.jpg'], () => plan({ left: 5, top: 9, width: 150, height: 120 }), { maxPixels: 1e6 }), direct);
    // 800x640 still covers 2 x 100 at 1/4. 1001x803 at 1/4 is 251x201 (libjpeg rounds up), where the box at
    // (100, 80) becomes 201x160 at (25, 20).
    const reduced = await decoder.cropResize(readFileSync(files['big.jpg']), { ...job, crop: { left: 25, top: 20, width: 201, height: 160 }, shrink: 4 });
    assert.deepEqual(await decodeImage(files['big.jpg'], () => plan({ left: 100, top: 80, width: 800, height: 640 }), { maxPixels: 1e7 }), reduced);
  });

  it('flips and jitters exactly like colour-jitter.ts, its JS twin for images sharp decodes', async () => {
    const decoder = nativeJpegDecoder();
    assert.ok(decoder !== undefined);
    const rng = new Rng(11);
    const bytes = readFileSync(files['420.jpg']);
    for (let k = 0; k < 24; k += 1) {
      const job = { crop: { left: rng.int(0, 100), top: rng.int(0, 80), width: rng.int(60, 137), height: rng.int(50, 101) }, shrink: 1, size: 57, interpolation: 'bilinear' as const };
      const plain: Uint8Array = await decoder.cropResize(bytes, { ...job, flip: false });
      const jitter = sampleColourJitter(0.4 + (k % 4) * 0.3, rng);
      const flip = k % 2 === 0;
      assert.deepEqual(await decoder.cropResize(bytes, { ...job, flip, jitter }), flipAndJitter(plain, 57, flip, jitter), `case ${k}`);
    }
  });

  it('rejects truncated data and boxes outside the image with a reason', async () => {
    const decoder = nativeJpegDecoder();
    assert.ok(decoder !== undefined);
    const whole = readFileSync(files['420.jpg']);
    const truncated = join(dir, 'truncated.jpg');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.5)));
    const everything = () => ({ crop: { left: 0, top: 0, width: 237, height: 181 }, size: 32, interpolation: 'bilinear' as const, flip: false });
    await assert.rejects(decodeImage(truncated, everything, { maxPixels: 1e6 }),
      (e: Error) => e instanceof DecodeError && /corrupt or truncated image \(Premature end of JPEG file\)/.test(e.reason));
    const outside = { crop: { left: 200, top: 0, width: 40, height: 10 }, shrink: 1, size: 8, interpolation: 'bilinear' as const, flip: false };
    await assert.rejects(decoder.cropResize(whole, outside), /crop 40x10\+200\+0 outside the 237x181 decoded image/);
  });
});
