// @ts-check
/**
 * The eval transform of `mnext eval`, in plain JS for the browser (no build step): resize the shorter side to
 * floor(size / cropPct), centre-crop size, normalise, giving the same bytes as mnext's eval pipeline for a decoded
 * image (test/demo/preprocess.test.ts):
 *   - downsizing: mnext resizes with sharp, i.e. libvips 8.17's vips_resize with the linear or cubic kernel on
 *     8-bit pixels; this file does the same integer arithmetic: vips_reducev then vips_reduceh (fixed-point masks,
 *     12-bit coefficients), each after an integer box shrink (vips_shrinkv/h) when the factor is at least twice the
 *     gap of 2;
 *   - enlarging (on either axis): mnext resamples as Pillow does (src/data/resample.ts, as torchvision's PIL
 *     images are); the page is handed that very module, compiled, which the demo server serves.
 * The geometry follows torchvision's Resize/CenterCrop as src/data/transforms.ts does (Python rounding).
 */

const INTERPOLATE_SHIFT = 12;
const INTERPOLATE_SCALE = 1 << INTERPOLATE_SHIFT;
const TRANSFORM_SCALE = 64;
/** vips_resize's default gap: an integer box shrink takes all but at most 2x of a large reduction. */
const REDUCE_GAP = 2.0;

/** @typedef {'bilinear' | 'bicubic'} Interpolation */
/** @typedef {{ pixels: Uint8Array, width: number, height: number, bands: number }} Image */
/**
 * @typedef {(pixels: Uint8Array, width: number, height: number, outWidth: number, outHeight: number,
 *   interpolation: Interpolation) => Uint8Array} PilResize
 */

/** Python 3 round(): half to even. */
function pyRound(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** C's rint() in the default rounding mode (half to even). */
const rint = pyRound;
/** C's (int) cast of a double. */
const trunc = Math.trunc;
const clipByte = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** timm's eval geometry: resize target (shorter side to floor(size / cropPct)) and the centre-crop box. */
export function evalGeometry(width, height, size, cropPct) {
  const shorter = Math.floor(size / cropPct);
  const resize = width <= height
    ? { width: shorter, height: Math.floor((shorter * height) / width) }
    : { width: Math.floor((shorter * width) / height), height: shorter };
  const crop = {
    left: pyRound((resize.width - size) / 2),
    top: pyRound((resize.height - size) / 2),
    width: Math.min(size, resize.width),
    height: Math.min(size, resize.height),
  };
  return { resize, crop };
}

/** The value at (x, y) of `image` with edges extended by copying (vips_embed's VIPS_EXTEND_COPY). */
function sampleClamped(image, x, y, band) {
  const cx = x < 0 ? 0 : x >= image.width ? image.width - 1 : x;
  const cy = y < 0 ? 0 : y >= image.height ? image.height - 1 : y;
  return image.pixels[(cy * image.width + cx) * image.bands + band];
}

/** A new image of the given size, each value from `value(x, y, band)`. */
function mapImage(width, height, bands, value) {
  const pixels = new Uint8Array(width * height * bands);
  let i = 0;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      for (let b = 0; b < bands; b += 1) pixels[i++] = value(x, y, b);
    }
  }
  return { pixels, width, height, bands };
}

/** The image with rows and columns swapped, so one vertical pass serves both axes. */
function transpose(image) {
  return mapImage(image.height, image.width, image.bands, (x, y, b) => image.pixels[(x * image.width + y) * image.bands + b]);
}

/** vips_shrinkv(ceil): box average of `factor` rows, bottom edge copied, libvips' multiply-shift rounding. */
function shrinkRows(image, factor) {
  const multiplier = Math.floor(2 ** 32 / (256 * factor));
  const amend = factor >> 1;
  return mapImage(image.width, Math.ceil(image.height / factor), image.bands, (x, y, b) => {
    let sum = amend;
    for (let k = 0; k < factor; k += 1) sum += sampleClamped(image, x, y * factor + k, b);
    return Math.floor(((sum * multiplier) % 2 ** 32) / 2 ** 24);
  });
}

/** libvips' reduce filters. */
function filterValue(kernel, x) {
  const ax = Math.abs(x);
  if (kernel === 'bilinear') return ax < 1 ? 1 - ax : 0;
  // cubic_filter(x, B = 0, C = 0.5): Catmull-Rom.
  const [B, C] = [0, 0.5];
  const ax2 = ax * ax;
  const ax3 = ax2 * ax;
  if (ax <= 1) return ((12 - 9 * B - 6 * C) * ax3 + (-18 + 12 * B + 6 * C) * ax2 + (6 - 2 * B)) / 6;
  if (ax <= 2) return ((-B - 6 * C) * ax3 + (6 * B + 30 * C) * ax2 + (-12 * B - 48 * C) * ax + (8 * B + 24 * C)) / 6;
  return 0;
}

/** vips_reduce_make_mask as the 12-bit integers the uchar path uses, for each of the 65 sub-pixel positions. */
function reduceMasks(kernel, points, shrink) {
  return Array.from({ length: TRANSFORM_SCALE + 1 }, (_, t) => {
    const half = Math.fround(t / TRANSFORM_SCALE) + points / 2 - 1;
    const weights = Array.from({ length: points }, (_, i) => filterValue(kernel, (i - half) / shrink));
    let sum = 0;
    for (const w of weights) sum += w;
    return weights.map((w) => trunc((w / sum) * INTERPOLATE_SCALE));
  });
}

/** vips_reducev with its gap: an integer shrinkv first, then the residual with the kernel's mask. */
function reduceRows(image, shrink, kernel) {
  const height = trunc(image.height / shrink + 0.5);
  let extra = height * shrink - image.height;
  let residual = shrink;
  const intShrink = Math.max(1, Math.floor(image.height / height / REDUCE_GAP));
  let source = image;
  if (intShrink > 1) {
    source = shrinkRows(image, intShrink);
    extra /= intShrink;
    residual /= intShrink;
  }
  if (residual === 1.0) return source;
  const points = kernel === 'bilinear' ? 2 * rint(residual) + 1 : 2 * rint(2 * residual) + 1;
  const offset = (1 + extra) / 2 - 1;
  const masks = reduceMasks(kernel, points, residual);
  const margin = Math.ceil(points / 2) - 1;
  const rows = [];
  let Y = 0.5 * residual - 0.5 - offset;
  for (let y = 0; y < height; y += 1) {
    const mask = masks[((trunc(Y * TRANSFORM_SCALE * 2) & (TRANSFORM_SCALE * 2 - 1)) + 1) >> 1];
    rows.push({ top: trunc(Y) - margin, mask });
    Y += residual;
  }
  return mapImage(source.width, height, source.bands, (x, y, b) => {
    const { top, mask } = rows[y];
    let sum = 0;
    for (let i = 0; i < points; i += 1) sum += mask[i] * sampleClamped(source, x, top + i, b);
    return clipByte((sum + (INTERPOLATE_SCALE >> 1)) >> INTERPOLATE_SHIFT);
  });
}

/**
 * sharp's `resize(width, height, { fit: 'fill', kernel })` of 8-bit pixels: vips_resize(1 / hshrink, vscale
 * 1 / vshrink) with hshrink = input / target per axis.
 * @param {Image} image
 * @param {number} width
 * @param {number} height
 * @param {Interpolation} interpolation
 * @returns {Image}
 */
export function resizeLikeSharp(image, width, height, interpolation) {
  if (width > image.width || height > image.height) throw new Error(`resizeLikeSharp only reduces: ${image.width}x${image.height} -> ${width}x${height}`);
  let result = image;
  if (height < image.height) result = reduceRows(result, image.height / height, interpolation);
  if (width < image.width) result = transpose(reduceRows(transpose(result), image.width / width, interpolation));
  return result;
}

/**
 * RGB(A) pixels (e.g. canvas ImageData, alpha ignored) through the eval transform: size x size x 3 bytes.
 * @param {{ data: Uint8Array | Uint8ClampedArray, width: number, height: number }} rgba 4 values per pixel
 * @param {{ inputSize: number, cropPct: number, interpolation: Interpolation }} transform
 * @param {PilResize} pilResize mnext's Pillow resampling (src/data/resample.ts), for resizes that enlarge
 * @returns {Uint8Array}
 */
export function evalPixels(rgba, transform, pilResize) {
  const { width, height } = rgba;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = rgba.data[j];
    rgb[i + 1] = rgba.data[j + 1];
    rgb[i + 2] = rgba.data[j + 2];
  }
  const { resize, crop } = evalGeometry(width, height, transform.inputSize, transform.cropPct);
  // As mnext's decode: any enlarged axis sends the whole resize through Pillow's arithmetic.
  const resized = resize.width > width || resize.height > height
    ? { ...resize, pixels: pilResize(rgb, width, height, resize.width, resize.height, transform.interpolation) }
    : resizeLikeSharp({ pixels: rgb, width, height, bands: 3 }, resize.width, resize.height, transform.interpolation);
  const out = new Uint8Array(crop.width * crop.height * 3);
  for (let y = 0; y < crop.height; y += 1) {
    const start = ((crop.top + y) * resized.width + crop.left) * 3;
    out.set(resized.pixels.subarray(start, start + crop.width * 3), y * crop.width * 3);
  }
  return out;
}

/**
 * (pixel / 255 - mean) / std per channel, in float32 as mnext's normalizeBatch computes it: pixel * (1 / (255 std))
 * + (-mean / std).
 * @param {Uint8Array} pixels
 * @param {readonly number[]} mean
 * @param {readonly number[]} std
 * @returns {Float32Array}
 */
export function normalise(pixels, mean, std) {
  const scale = std.map((s) => Math.fround(1 / (255 * s)));
  const offset = mean.map((m, c) => Math.fround(-m / std[c]));
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i += 1) out[i] = Math.fround(pixels[i] * scale[i % 3]) + offset[i % 3];
  return out;
}
