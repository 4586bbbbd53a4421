import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../util/package.js';
import type { ColourJitterPlan } from './colour-jitter.js';
import type { CropBox, Interpolation } from './transforms.js';

/**
 * The native training-crop decoder for plain JPEGs (src/data/native/jpeg-crop.c, built by
 * src/data/native/build.mjs into dist/native/jpeg-crop.node): libjpeg-turbo decodes only the crop, Pillow's
 * resampling resizes it, then the flip and ColorJitter, all on libuv's thread pool, in well under half the CPU
 * time of sharp plus the JS jitter. Its output is what PIL gives for `img.crop(box).resize((size, size), filter)`
 * then torchvision's flip and ColorJitter. Optional: when it is not built, or MNEXT_NATIVE_JPEG=0, decode.ts uses
 * sharp and colour-jitter.ts for every image. MNEXT_NATIVE_JPEG=<file.node> loads the addon from another path.
 */

interface JpegCropAddon {
  cropResize(
    jpeg: Uint8Array, left: number, top: number, width: number, height: number, size: number,
    bicubic: boolean, shrink: number, flip: boolean, jitter: Float64Array, out: Uint8Array,
  ): Promise<void>;
}

/** One training crop: `crop` is in pixels of the image decoded at 1/shrink (1, 2, 4 or 8). */
export interface NativeCropJob {
  crop: CropBox;
  shrink: number;
  size: number;
  interpolation: Interpolation;
  flip: boolean;
  jitter?: ColourJitterPlan;
}

export interface NativeJpegDecoder {
  /** The job's size x size packed RGB crop, written into `out` when given. */
  cropResize(jpeg: Uint8Array, job: NativeCropJob, out?: Uint8Array): Promise<Uint8Array>;
}

/** Where the package's `install` script (build.mjs) puts the addon, in the installed package. */
export const NATIVE_JPEG_PATH = join(PACKAGE_ROOT, 'dist', 'native', 'jpeg-crop.node');

/** The code of the process warning a failed addon load emits. */
export const NATIVE_JPEG_WARNING = 'MNEXT_NATIVE_JPEG';

let cached: NativeJpegDecoder | undefined | null = null;

/**
 * The decoder, or undefined when the addon is not built, is disabled (MNEXT_NATIVE_JPEG=0) or does not load.
 * Loaded once per process, whatever the outcome.
 */
export function nativeJpegDecoder(): NativeJpegDecoder | undefined {
  if (cached !== null) return cached;
  const setting = process.env.MNEXT_NATIVE_JPEG;
  if (setting === '0') cached = undefined;
  else if (setting !== undefined && setting !== '' && setting !== '1') cached = tryLoadAddon(setting);
  else cached = existsSync(NATIVE_JPEG_PATH) ? tryLoadAddon(NATIVE_JPEG_PATH) : undefined;
  return cached;
}

/**
 * An addon that is there but does not load (built for another CPU or Node.js, libjpeg missing) is reported once,
 * as a process warning; sharp then decodes every image (the same crops, more slowly).
 */
function tryLoadAddon(path: string): NativeJpegDecoder | undefined {
  try {
    return wrap(loadAddon(path));
  } catch (error) {
    const reason = ((error as Error).message ?? String(error)).split('\n')[0];
    process.emitWarning(`the native JPEG decoder ${path} does not load (${reason}); decoding every image with sharp instead`, { code: NATIVE_JPEG_WARNING });
    return undefined;
  }
}

function loadAddon(path: string): JpegCropAddon {
  const addon: unknown = createRequire(import.meta.url)(path);
  if (typeof (addon as Partial<JpegCropAddon>).cropResize !== 'function') throw new Error(`${path} is not the mnext JPEG decoder`);
  return addon as JpegCropAddon;
}

const NO_JITTER = new Float64Array(0);

function wrap(addon: JpegCropAddon): NativeJpegDecoder {
  return {
    async cropResize(jpeg, job, out = new Uint8Array(job.size * job.size * 3)) {
      const { crop, jitter } = job;
      const jitterArgs = jitter === undefined ? NO_JITTER : Float64Array.of(jitter.brightness, jitter.contrast, jitter.saturation, ...jitter.order);
      await addon.cropResize(jpeg, crop.left, crop.top, crop.width, crop.height, job.size, job.interpolation === 'bicubic', job.shrink, job.flip, jitterArgs, out);
      return out;
    },
  };
}

/** libjpeg's size of a dimension decoded at 1/shrink (DCT scaling rounds up). */
export function scaledDimension(length: number, shrink: number): number {
  return Math.ceil(length / shrink);
}
