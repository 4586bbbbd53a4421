import type { Rng } from '../util/random.js';

/**
 * torchvision's ColorJitter(brightness, contrast, saturation) on PIL images, bit for bit, in at most two passes
 * over the pixels instead of one or two per op.
 *
 * torchvision applies the three ops in a random order, each a PIL ImageEnhance blend `Image.blend(degenerate,
 * image, factor)`, which computes `in1 + alpha * (in2 - in1)` in C `float` (alpha cast to float32) and truncates
 * to uint8, clipping to [0, 255] first when extrapolating (factor > 1). The degenerate images are black
 * (Brightness), the image's mean grey at that point (Contrast: `int(mean(L) + 0.5)`), and each pixel's own grey
 * (Color, i.e. saturation; L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16).
 *
 * Brightness and contrast are per-byte maps, so consecutive ones compose exactly into one 256-entry table.
 * Saturation mixes channels, so a pass is "table, saturation, table" per pixel; the only extra pass is the one
 * that measures the grey mean contrast needs, and it writes nothing when only a table precedes contrast.
 */

/** ColorJitter factors, each drawn from U(max(0, 1 - s), 1 + s), applied in a random order like torchvision. */
export interface ColourJitterPlan {
  brightness: number;
  contrast: number;
  saturation: number;
  /** Op order: indices into [brightness, contrast, saturation]. */
  order: readonly number[];
}

export function sampleColourJitter(strength: number, rng: Rng): ColourJitterPlan {
  const order = rng.shuffle([0, 1, 2]);
  const factor = () => rng.uniform(Math.max(0, 1 - strength), 1 + strength);
  return { brightness: factor(), contrast: factor(), saturation: factor(), order };
}

const BRIGHTNESS = 0;
const CONTRAST = 1;
const SATURATION = 2;

/** PIL's L conversion (Convert.c L24): R*299/1000 + G*587/1000 + B*114/1000 in 16-bit fixed point. */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/** The C `(UINT8)` of a float blend result, with Blend.c's clip (a no-op when interpolating). */
function toUint8(value: number): number {
  return value <= 0 ? 0 : value >= 255 ? 255 : value | 0;
}

/**
 * `in1 + alpha * (in2 - in1)` for every in2 = d + in1, as float32: the product of two float32 values rounded
 * once (the table holds it), so callers only round the sum. Indexed by d + 255, d in [-255, 255].
 */
function blendProducts(alpha32: number): Float32Array {
  const products = new Float32Array(511);
  for (let d = -255; d <= 255; d += 1) products[d + 255] = alpha32 * d;
  return products;
}

/** Image.blend of every byte with one constant (Brightness against 0, Contrast against the mean grey). */
function blendTable(constant: number, factor: number): Uint8Array {
  const products = blendProducts(Math.fround(factor));
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v += 1) table[v] = toUint8(Math.fround(constant + products[v - constant + 255]));
  return table;
}

/** `then` after `first`, as one table (undefined stands for the identity). */
function composeTables(first: Uint8Array | undefined, then: Uint8Array): Uint8Array {
  if (first === undefined) return then;
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v += 1) table[v] = then[first[v]];
  return table;
}

const IDENTITY = Uint8Array.from({ length: 256 }, (_, v) => v);

/**
 * Where a writing pass puts its pixels: in place, or mirrored row by row (horizontal flip) into another array.
 * Flipping commutes with the jitter (per-pixel ops and a whole-image mean), so the last pass does it for free.
 */
interface Destination {
  pixels: Uint8Array;
  /** Pixels per row; mirroring reverses each row. */
  width: number;
  mirror: boolean;
}

function inPlace(pixels: Uint8Array): Destination {
  return { pixels, width: pixels.length / 3, mirror: false };
}

/** Applies one table to every byte. */
function applyTable(src: Uint8Array, table: Uint8Array, to: Destination): void {
  const dst = to.pixels;
  const rowBytes = to.width * 3;
  const step = to.mirror ? -3 : 3;
  for (let rowStart = 0; rowStart < src.length; rowStart += rowBytes) {
    let j = to.mirror ? rowStart + rowBytes - 3 : rowStart;
    for (let i = rowStart; i < rowStart + rowBytes; i += 3, j += step) {
      const r = table[src[i]];
      const g = table[src[i + 1]];
      const b = table[src[i + 2]];
      dst[j] = r;
      dst[j + 1] = g;
      dst[j + 2] = b;
    }
  }
}

/** Sum of the grey values of the pixels as seen through a table (read only). */
function lumaSumThrough(pixels: Uint8Array, table: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < pixels.length; i += 3) sum += luma(table[pixels[i]], table[pixels[i + 1]], table[pixels[i + 2]]);
  return sum;
}

/** One 64 KB table reused by every saturation pass (they run synchronously, one at a time). */
const SATURATION_TABLE = new Uint8Array(65536);

/**
 * ImageEnhance.Color followed by a table, as one 256 x 256 table indexed by (grey << 8) | value: building it is
 * cheaper than three float32 blends per pixel of a 224 x 224 crop. Valid until the next call.
 */
function saturationTable(factor: number, after: Uint8Array): Uint8Array {
  const products = blendProducts(Math.fround(factor));
  const table = SATURATION_TABLE;
  for (let l = 0; l < 256; l += 1) {
    const row = l << 8;
    const offset = 255 - l;
    for (let v = 0; v < 256; v += 1) table[row | v] = after[toUint8(Math.fround(l + products[v + offset]))];
  }
  return table;
}

/**
 * One pass: `before` table, then saturation and `after` (one saturationTable). Returns the sum of the grey values
 * of the result (what a following contrast needs).
 */
function saturationPass(src: Uint8Array, before: Uint8Array, saturation: number, after: Uint8Array, to: Destination): number {
  const table = saturationTable(saturation, after);
  const dst = to.pixels;
  const rowBytes = to.width * 3;
  const step = to.mirror ? -3 : 3;
  let sum = 0;
  for (let rowStart = 0; rowStart < src.length; rowStart += rowBytes) {
    let j = to.mirror ? rowStart + rowBytes - 3 : rowStart;
    for (let i = rowStart; i < rowStart + rowBytes; i += 3, j += step) {
      const r = before[src[i]];
      const g = before[src[i + 1]];
      const b = before[src[i + 2]];
      const row = luma(r, g, b) << 8;
      const r2 = table[row | r];
      const g2 = table[row | g];
      const b2 = table[row | b];
      dst[j] = r2;
      dst[j + 1] = g2;
      dst[j + 2] = b2;
      sum += luma(r2, g2, b2);
    }
  }
  return sum;
}

/** PIL ImageStat's mean of the L image, rounded as ImageEnhance.Contrast does: int(mean + 0.5). */
function meanGrey(lumaSum: number, pixelCount: number): number {
  return Math.floor(lumaSum / pixelCount + 0.5);
}

/**
 * Ops not yet written to the pixels: a table, then optionally saturation, then a table. Brightness and contrast
 * fold into whichever table is current; a second saturation or a contrast after saturation writes the run out.
 */
interface PendingRun {
  before?: Uint8Array;
  saturation?: number;
  after?: Uint8Array;
}

/** Writes a run (an identity run is a copy, needed only when mirroring). */
function flushRun(pixels: Uint8Array, run: PendingRun, to: Destination): void {
  if (run.saturation !== undefined) saturationPass(pixels, run.before ?? IDENTITY, run.saturation, run.after ?? IDENTITY, to);
  else if (run.before !== undefined || to.pixels !== pixels) applyTable(pixels, run.before ?? IDENTITY, to);
}

function addTable(run: PendingRun, table: Uint8Array): void {
  if (run.saturation === undefined) run.before = composeTables(run.before, table);
  else run.after = composeTables(run.after, table);
}

/** The jitter's passes, the last one writing to `to` (intermediate passes work in place). */
function jitterInto(pixels: Uint8Array, plan: ColourJitterPlan, to: Destination): void {
  const pixelCount = pixels.length / 3;
  let run: PendingRun = {};
  for (const op of plan.order) {
    if (op === BRIGHTNESS) {
      addTable(run, blendTable(0, plan.brightness));
    } else if (op === SATURATION) {
      if (run.saturation !== undefined) { flushRun(pixels, run, inPlace(pixels)); run = {}; }
      run.saturation = plan.saturation;
    } else if (op === CONTRAST) {
      // The grey mean of the image as it stands: read through the pending table, or written out with the
      // saturation pass that computes it anyway.
      const before = run.before ?? IDENTITY;
      const lumaSum = run.saturation === undefined
        ? lumaSumThrough(pixels, before)
        : saturationPass(pixels, before, run.saturation, run.after ?? IDENTITY, inPlace(pixels));
      if (run.saturation !== undefined) run = {};
      addTable(run, blendTable(meanGrey(lumaSum, pixelCount), plan.contrast));
    }
  }
  flushRun(pixels, run, to);
}

/** ImageEnhance Brightness/Contrast/Color in the plan's order, in place on packed RGB uint8. */
export function applyColourJitter(pixels: Uint8Array, plan: ColourJitterPlan): void {
  jitterInto(pixels, plan, inPlace(pixels));
}

/**
 * The last pixel steps of a training crop, packed RGB `width` pixels wide: horizontal flip and colour jitter,
 * fused into the jitter's last pass. Returns the result: `pixels` itself unless flipped.
 */
export function flipAndJitter(pixels: Uint8Array, width: number, flip: boolean, jitter: ColourJitterPlan | undefined): Uint8Array {
  if (!flip && jitter === undefined) return pixels;
  const to: Destination = flip ? { pixels: new Uint8Array(pixels.length), width, mirror: true } : inPlace(pixels);
  jitterInto(pixels, jitter ?? { brightness: 1, contrast: 1, saturation: 1, order: [] }, to);
  return to.pixels;
}
