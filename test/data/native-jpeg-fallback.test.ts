import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../../src/data/decode.js';
import { NATIVE_JPEG_WARNING, nativeJpegDecoder } from '../../src/data/native-jpeg.js';
import { tempDir } from '../helpers.js';

/**
 * An addon that is there but cannot be loaded (here a .node file that is no shared library: dlopen fails as it
 * does for another CPU's build or a missing libjpeg) must cost one warning, not every JPEG. This file runs in its
 * own process (node --test), so the decoder is first looked up below, through MNEXT_NATIVE_JPEG's path.
 */
const dir = tempDir();
const brokenAddon = join(dir, 'jpeg-crop.node');
writeFileSync(brokenAddon, 'not a shared library');
process.env.MNEXT_NATIVE_JPEG = brokenAddon;

test('an addon that fails to load is reported once and sharp decodes every JPEG', async () => {
  const warnings: Error[] = [];
  process.on('warning', (warning) => warnings.push(warning));
  const crop = { left: 3, top: 5, width: 30, height: 30 };
  const plan = () => ({ crop, size: 16, interpolation: 'bilinear' as const, flip: false });
  for (let i = 0; i < 5; i += 1) {
    const path = join(dir, `${i}.jpg`);
    const pixels = Buffer.alloc(48 * 40 * 3, 0).map((_, k) => (k * (i + 7)) % 251);
    await sharp(pixels, { raw: { width: 48, height: 40, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
    const decoded = await decodeImage(path, plan, { maxPixels: 1e6 });
    const reference = await sharp(path).extract(crop).resize(16, 16, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    assert.deepEqual(Buffer.from(decoded), reference, `${i}.jpg decoded by sharp`);
  }
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(nativeJpegDecoder(), undefined);
  const reported = warnings.filter((w) => (w as NodeJS.ErrnoException).code === NATIVE_JPEG_WARNING);
  assert.equal(reported.length, 1, 'one warning for five JPEGs');
  assert.match(reported[0].message, new RegExp(`native JPEG decoder ${brokenAddon} does not load \\(.+\\); decoding every image with sharp instead`));
});
