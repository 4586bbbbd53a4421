import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CropBox, Interpolation } from './transforms.js';

/**
 * The native training-crop decoder for plain JPEGs (src/data/native/jpeg-crop.c, built by
 * src/data/native/build.mjs into dist/native/jpeg-crop.node): libjpeg-turbo decodes only the crop, then
 * Pillow's resampling resizes it, in about half the CPU time of the same work through sharp. Its output is
 * what PIL gives for `img.crop(box).resize((size, size), filter)`. Optional: when it is not built, or
 * MNEXT_NATIVE_JPEG=0, decode.ts uses sharp for every image.
 */

interface JpegCropAddon {
  cropResize(
    jpeg: Uint8Array, left: number, top: number, width: number, height: number, size: number,
    bicubic: boolean, shrink: number, out: Uint8Array,
  ): Promise<void>;
}

export interface NativeJpegDecoder {
  /** Decodes `crop` (in pixels of the image at 1/shrink) and resizes it to size x size packed RGB. */
  cropResize(jpeg: Uint8Array, crop: CropBox, size: number, interpolation: Interpolation, shrink: number): Promise<Uint8Array>;
}

/** The package root: the nearest folder above this module with a package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above src/data');
    dir = parent;
  }
  return dir;
}

export const NATIVE_JPEG_PATH = join(packageRoot(), 'dist', 'native', 'jpeg-crop.node');

let cached: NativeJpegDecoder | undefined | null = null;

/** The decoder, or undefined when the addon is not built (or disabled by MNEXT_NATIVE_JPEG=0). Loaded once. */
export function nativeJpegDecoder(): NativeJpegDecoder | undefined {
  if (cached !== null) return cached;
  cached = process.env.MNEXT_NATIVE_JPEG === '0' || !existsSync(NATIVE_JPEG_PATH) ? undefined : wrap(loadAddon(NATIVE_JPEG_PATH));
  return cached;
}

function loadAddon(path: string): JpegCropAddon {
  const addon: unknown = createRequire(import.meta.url)(path);
  if (typeof (addon as Partial<JpegCropAddon>).cropResize !== 'function') throw new Error(`${path} is not the mnext JPEG decoder`);
  return addon as JpegCropAddon;
}

function wrap(addon: JpegCropAddon): NativeJpegDecoder {
  return {
    async cropResize(jpeg, crop, size, interpolation, shrink) {
      const out = new Uint8Array(size * size * 3);
      await addon.cropResize(jpeg, crop.left, crop.top, crop.width, crop.height, size, interpolation === 'bicubic', shrink, out);
      return out;
    },
  };
}

/** libjpeg's size of a dimension decoded at 1/shrink (DCT scaling rounds up). */
export function scaledDimension(length: number, shrink: number): number {
  return Math.ceil(length / shrink);
}
