import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage, readHeaderWithSharp, readImageHeader } from '../../src/data/decode.js';
import { parseJpegHeader } from '../../src/data/jpeg-header.js';
import { tempDir } from '../helpers.js';

/** A small RGB gradient, so every encoder option produces a real, non-trivial scan. */
function gradient(width: number, height: number): sharp.Sharp {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i += 1) {
    pixels[i * 3] = (i * 7) % 256;
    pixels[i * 3 + 1] = Math.floor(i / width) % 256;
    pixels[i * 3 + 2] = 90;
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** A minimal Exif APP1 segment: a TIFF header and IFD0 holding the given (tag, type, count, value) entries. */
function exifSegment(entries: [number, number, number, number][], littleEndian: boolean): Buffer {
  const tiff = Buffer.alloc(8 + 2 + entries.length * 12 + 4);
  const u16 = (value: number, at: number) => (littleEndian ? tiff.writeUInt16LE(value, at) : tiff.writeUInt16BE(value, at));
  const u32 = (value: number, at: number) => (littleEndian ? tiff.writeUInt32LE(value, at) : tiff.writeUInt32BE(value, at));
  tiff.write(littleEndian ? 'II' : 'MM', 0, 'latin1');
  u16(42, 2);
  u32(8, 4);
  u16(entries.length, 8);
  entries.forEach(([tag, type, count, value], k) => {
    const at = 10 + k * 12;
    u16(tag, at);
    u16(type, at + 2);
    u32(count, at + 4);
    u16(value, at + 8);
  });
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

/** The JPEG with extra segments inserted right after SOI. */
function withSegments(jpeg: Buffer, ...segments: Buffer[]): Buffer {
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

const ORIENTATION = 0x0112;
const LIMIT = { maxPixels: 1e8 };

describe('JPEG header in JS', () => {
  it('agrees with libvips on size, orientation and whether conversion is needed', async () => {
    const plain = await gradient(61, 37).jpeg().toBuffer();
    const variants: Record<string, Buffer> = {
      plain,
      progressive: await gradient(61, 37).jpeg({ progressive: true }).toBuffer(),
      'no subsampling': await gradient(61, 37).jpeg({ chromaSubsampling: '4:4:4' }).toBuffer(),
      mozjpeg: await gradient(61, 37).jpeg({ mozjpeg: true }).toBuffer(),
      'big image': await gradient(1200, 900).jpeg({ quality: 50 }).toBuffer(),
      grey: await gradient(61, 37).toColourspace('b-w').jpeg().toBuffer(),
      cmyk: await gradient(61, 37).toColourspace('cmyk').jpeg().toBuffer(),
      'icc profile': await gradient(61, 37).withIccProfile('p3').jpeg().toBuffer(),
      'sharp metadata (icc + orientation 8)': await gradient(61, 37).withMetadata({ orientation: 8 }).jpeg().toBuffer(),
      'exif without orientation': withSegments(plain, exifSegment([[0x010f, 2, 1, 0]], true)),
      'exif orientation 0 (invalid)': withSegments(plain, exifSegment([[ORIENTATION, 3, 1, 0]], true)),
      'exif orientation 9 (invalid)': withSegments(plain, exifSegment([[ORIENTATION, 3, 1, 9]], false)),
      'exif orientation as LONG': withSegments(plain, exifSegment([[ORIENTATION, 4, 1, 6]], true)),
    };
    for (let orientation = 1; orientation <= 8; orientation += 1) {
      variants[`exif orientation ${orientation} little-endian`] = withSegments(plain, exifSegment([[0x010f, 2, 1, 0], [ORIENTATION, 3, 1, orientation]], true));
      variants[`exif orientation ${orientation} big-endian`] = withSegments(plain, exifSegment([[ORIENTATION, 3, 1, orientation]], false));
    }
    let parsedInJs = 0;
    for (const [name, bytes] of Object.entries(variants)) {
      const reference = await readHeaderWithSharp(bytes, LIMIT);
      assert.deepEqual(await readImageHeader(bytes, LIMIT), reference, name);
      const jpeg = parseJpegHeader(bytes);
      if (jpeg !== undefined) {
        parsedInJs += 1;
        assert.deepEqual([jpeg.width, jpeg.height].sort(), [reference.width, reference.height].sort(), name);
      }
    }
    assert.ok(parsedInJs >= 20, `the JS parser read ${parsedInJs} of the variants`);
    const oriented = parseJpegHeader(variants['exif orientation 6 big-endian']);
    assert.deepEqual(oriented && [oriented.width, oriented.height, oriented.orientation, oriented.components], [61, 37, 6, 3]);
    assert.equal(parseJpegHeader(variants['icc profile'])?.hasIccProfile, true);
    assert.equal(parseJpegHeader(variants.grey)?.components, 1);
  });

  it('gives up on anything it cannot read completely', async () => {
    const plain = await gradient(40, 30).jpeg().toBuffer();
    const scan = plain.indexOf(Buffer.from([0xff, 0xda]));
    for (let length = 0; length < scan; length += 1) {
      assert.equal(parseJpegHeader(plain.subarray(0, length)), undefined, `cut at ${length} bytes`);
    }
    assert.equal(parseJpegHeader(await gradient(40, 30).png().toBuffer()), undefined);
    assert.equal(parseJpegHeader(Buffer.from('this is not an image\n')), undefined);
    const twoExif = withSegments(plain, exifSegment([[ORIENTATION, 3, 1, 6]], true), exifSegment([[ORIENTATION, 3, 1, 3]], true));
    assert.equal(parseJpegHeader(twoExif), undefined, 'two Exif blocks');
    const noHeight = Buffer.from(plain);
    const frame = noHeight.indexOf(Buffer.from([0xff, 0xc0]));
    noHeight.writeUInt16BE(0, frame + 5);
    assert.equal(parseJpegHeader(noHeight), undefined, 'height deferred to a DNL marker');
  });

  it('applies the pixel limit to headers read in JS', async () => {
    const plain = await gradient(100, 80).jpeg().toBuffer();
    assert.ok(parseJpegHeader(plain));
    await assert.rejects(readImageHeader(plain, { maxPixels: 7999 }), /100x80 exceeds the 7999-pixel limit/);
  });

  it('decodes an EXIF-rotated JPEG found by the JS parser upright', async () => {
    const dir = tempDir();
    const plain = await gradient(61, 37).jpeg().toBuffer();
    const path = join(dir, 'rotated.jpg');
    const bytes = withSegments(plain, exifSegment([[ORIENTATION, 3, 1, 6]], false));
    writeFileSync(path, bytes);
    const crop = { left: 3, top: 20, width: 30, height: 25 };
    const sizes: number[][] = [];
    const pixels = await decodeImage(path, (width, height) => { sizes.push([width, height]); return { crop, size: 16, interpolation: 'bilinear', flip: false }; }, LIMIT);
    const reference = await sharp(bytes).autoOrient().extract(crop).resize(16, 16, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    assert.deepEqual(sizes, [[37, 61]]);
    assert.deepEqual(Buffer.from(pixels), reference);
  });
});
