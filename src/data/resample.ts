/**
 * Pillow's resampling (src/libImaging/Resample.c: precompute_coeffs, normalize_coeffs_8bpc, the 8-bit horizontal
 * then vertical passes in 22-bit fixed point) for packed 8-bit RGB, so that a resize gives the bytes
 * `img.resize((width, height), filter)` gives — what torchvision's transforms do to PIL images. The native JPEG
 * crop decoder (native/jpeg-crop.c) runs the same arithmetic in C.
 */
import type { Interpolation } from './constants.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

interface Filter {
  readonly weight: (x: number) => number;
  readonly support: number;
}

const FILTERS: Record<Interpolation, Filter> = {
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
  bicubic: {
    support: 2,
    weight: (t) => {
      const a = -0.5;
      const x = Math.abs(t);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

interface Coefficients {
  readonly ksize: number;
  /** Per output index: first input index and count. */
  readonly bounds: Int32Array;
  readonly weights: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for the whole [0, inSize) box. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(1, scale);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx += 1) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    k.fill(0);
    for (let x = 0; x < count; x += 1) {
      k[x] = filter.weight((x + xmin - center + 0.5) / filterscale);
      total += k[x];
    }
    for (let x = 0; x < ksize; x += 1) {
      const w = x < count && total !== 0 ? k[x] / total : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = count;
  }
  return { ksize, bounds, weights };
}

function clip8(sum: number): number {
  if (sum >= 1 << PRECISION_BITS << 8) return 255;
  if (sum <= 0) return 0;
  return sum >> PRECISION_BITS;
}

/** One pass along x (stride 3) or y (stride 3·width) of every line, `lines` lines of `inLength` pixels. */
function resamplePass(input: Uint8Array, inLength: number, outLength: number, lines: number, alongRows: boolean, c: Coefficients, width: number): Uint8Array {
  const output = new Uint8Array(outLength * lines * 3);
  // Along rows: lines are rows (width inLength). Along columns: lines are columns of an image `width` wide.
  const step = alongRows ? 3 : width * 3;
  for (let line = 0; line < lines; line += 1) {
    const inBase = alongRows ? line * inLength * 3 : line * 3;
    const outBase = alongRows ? line * outLength * 3 : line * 3;
    const outStep = alongRows ? 3 : width * 3;
    for (let o = 0; o < outLength; o += 1) {
      const first = c.bounds[o * 2];
      const count = c.bounds[o * 2 + 1];
      const k = o * c.ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let i = 0; i < count; i += 1) {
        const p = inBase + (first + i) * step;
        const w = c.weights[k + i];
        s0 += input[p] * w;
        s1 += input[p + 1] * w;
        s2 += input[p + 2] * w;
      }
      const q = outBase + o * outStep;
      output[q] = clip8(s0);
      output[q + 1] = clip8(s1);
      output[q + 2] = clip8(s2);
    }
  }
  return output;
}

/** Packed RGB `width` x `height` resized to `outWidth` x `outHeight` as PIL's Image.resize does it. */
export function pilResize(pixels: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, interpolation: Interpolation): Uint8Array {
  const filter = FILTERS[interpolation];
  let image = pixels;
  if (outWidth !== width) image = resamplePass(image, width, outWidth, height, true, coefficients(width, outWidth, filter), outWidth);
  if (outHeight !== height) image = resamplePass(image, height, outHeight, outWidth, false, coefficients(height, outHeight, filter), outWidth);
  return image;
}
