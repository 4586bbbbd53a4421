import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { parseJpegHeader } from './jpeg-header.js';
import { flipAndJitter } from './colour-jitter.js';
import { type NativeJpegDecoder, nativeJpegDecoder, scaledDimension } from './native-jpeg.js';
import { type CropBox, type ImagePlan, type Interpolation, centreCropBox } from './transforms.js';
import { pilResize } from './resample.js';

/**
 * Decoding one file into a size x size x 3 uint8 crop with sharp. Every input kind (grey, alpha, CMYK, 16-bit,
 * EXIF-rotated) ends as 8-bit sRGB like PIL's `.convert('RGB')` (alpha is dropped, not composited); anything
 * sharp cannot decode becomes a DecodeError whose reason names what went wrong.
 */

/** PIL refuses images over 2 x 89,478,485 pixels as decompression bombs; warn-level 89M is the safer default. */
export const DEFAULT_MAX_PIXELS = 89_478_485;

export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`);
  }
}

export interface DecodeOptions {
  maxPixels: number;
}

export interface DecodeImageOptions extends DecodeOptions {
  /** Where to put the size x size x 3 result (a batch's slot), instead of a new array. */
  into?: Uint8Array;
}

const KERNELS: Record<Interpolation, keyof sharp.KernelEnum> = { bilinear: 'linear', bicubic: 'cubic' };

/**
 * Every image is decoded once and never again within the process lifetime, so libvips' operation cache only
 * costs memory and lookups (about a quarter of the throughput measured here). Process-wide, set on first use.
 */
let cacheDisabled = false;
function disableOperationCache(): void {
  if (cacheDisabled) return;
  sharp.cache(false);
  cacheDisabled = true;
}

/** What the header says: oriented size, and whether the pixels need orienting or converting to 8-bit RGB. */
export interface ImageHeader {
  width: number;
  height: number;
  format: string;
  /** EXIF orientation other than 1: rotate/flip before cropping. */
  needsOrient: boolean;
  /** Not plain 3-channel 8-bit sRGB (grey, alpha, CMYK, 16-bit, palette...): convert at the end. */
  needsConversion: boolean;
}

/**
 * The header of a plain JPEG (8-bit, 3 components, no ICC profile, no Adobe marker: what libvips loads as sRGB
 * uchar needing no conversion), read in JS; undefined for anything else.
 */
function plainJpegHeader(bytes: Uint8Array): ImageHeader | undefined {
  const jpeg = parseJpegHeader(bytes);
  if (jpeg === undefined || jpeg.components !== 3 || jpeg.precision !== 8 || jpeg.hasIccProfile || jpeg.hasAdobeMarker) return undefined;
  // Orientations 5-8 transpose the image.
  const transposed = jpeg.orientation >= 5;
  return {
    width: transposed ? jpeg.height : jpeg.width,
    height: transposed ? jpeg.width : jpeg.height,
    format: 'jpeg',
    needsOrient: jpeg.orientation !== 1,
    needsConversion: false,
  };
}

/** Asks libvips for the header (every format, and JPEGs the JS parser leaves alone; the reference in tests). */
export async function readHeaderWithSharp(bytes: Buffer, options: DecodeOptions): Promise<ImageHeader> {
  const meta = await sharp(bytes, { limitInputPixels: options.maxPixels }).metadata();
  if (meta.width === undefined || meta.height === undefined) throw new Error('no image dimensions in the header');
  const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
  return {
    width: oriented.width,
    height: oriented.height,
    format: meta.format ?? 'unknown',
    needsOrient: meta.orientation !== undefined && meta.orientation !== 1,
    needsConversion: !(meta.channels === 3 && meta.space === 'srgb' && meta.depth === 'uchar' && meta.hasProfile !== true),
  };
}

/** Reads the header of an encoded image and checks the pixel limit. */
export async function readImageHeader(bytes: Buffer, options: DecodeOptions): Promise<ImageHeader> {
  return (await readCheckedHeader(bytes, options)).header;
}

/** The header, and whether it is a plain JPEG (what the native decoder handles). */
async function readCheckedHeader(bytes: Buffer, options: DecodeOptions): Promise<{ header: ImageHeader; plainJpeg: boolean }> {
  disableOperationCache();
  const plain = plainJpegHeader(bytes);
  const header = plain ?? await readHeaderWithSharp(bytes, options);
  if (header.width * header.height > options.maxPixels) {
    throw new Error(`${header.width}x${header.height} exceeds the ${options.maxPixels}-pixel limit`);
  }
  return { header, plainJpeg: plain !== undefined };
}

/** The final raw stage: converts to 8-bit sRGB without alpha only when the header says it is needed. */
async function toRgbBytes(pipeline: sharp.Sharp, width: number, height: number, convert: boolean): Promise<Uint8Array> {
  const converted = convert ? pipeline.removeAlpha().toColourspace('srgb') : pipeline;
  const { data, info } = await converted.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The largest power-of-two factor (up to 8) the crop can be shrunk by while still covering the output: decoding
 * at that reduced scale lets libjpeg's DCT scaling skip most of the work. 1 means full resolution.
 */
export function reducedDecodeFactor(crop: CropBox, size: number): number {
  let factor = 1;
  while (factor < 8 && crop.width / (factor * 2) >= size && crop.height / (factor * 2) >= size) factor *= 2;
  return factor;
}

/** Raw 8-bit RGB pixels, row-major height x width x 3 (a tensor's values): only resized and cropped, never decoded. */
export interface RawImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** What sharp reads: an encoded image, or raw pixels. */
type SharpInput = Buffer | RawImage;

function openOriented(input: SharpInput, header: ImageHeader, options: DecodeOptions): sharp.Sharp {
  if (!Buffer.isBuffer(input)) return sharp(input.pixels, { raw: { width: input.width, height: input.height, channels: 3 }, limitInputPixels: options.maxPixels });
  const image = sharp(input, { limitInputPixels: options.maxPixels });
  return header.needsOrient ? image.autoOrient() : image;
}

/** `crop` (pixels of a from-sized image) in pixels of the same image scaled to `to`, clamped inside it. */
function scaleCrop(crop: CropBox, from: { width: number; height: number }, to: { width: number; height: number }): CropBox {
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  const left = Math.min(to.width - 1, Math.round(crop.left * sx));
  const top = Math.min(to.height - 1, Math.round(crop.top * sy));
  return {
    left, top,
    width: Math.max(1, Math.min(to.width - left, Math.round(crop.width * sx))),
    height: Math.max(1, Math.min(to.height - top, Math.round(crop.height * sy))),
  };
}

/**
 * A training crop of a plain, upright JPEG with the native decoder: PIL's crop-then-resize, bit for bit. Large
 * crops decode at 1/factor by DCT scaling (the shrink-on-load sharp does below), with the box scaled to match.
 */
function decodeCropNative(
  native: NativeJpegDecoder, bytes: Buffer, plan: ImagePlan & { crop: CropBox }, header: ImageHeader, into?: Uint8Array,
): Promise<Uint8Array> {
  const shrink = reducedDecodeFactor(plan.crop, plan.size);
  const scaled = { width: scaledDimension(header.width, shrink), height: scaledDimension(header.height, shrink) };
  const crop = shrink > 1 ? scaleCrop(plan.crop, header, scaled) : plan.crop;
  return native.cropResize(bytes, { ...plan, crop, shrink }, into);
}

/**
 * A training crop. sharp only shrinks on load when a resize comes before any extract, so a large crop first
 * decodes the whole image at 1/factor (shrink-on-load), then crops the scaled box and resizes that.
 */
async function decodeCrop(bytes: SharpInput, plan: ImagePlan & { crop: CropBox }, oriented: ImageHeader, options: DecodeOptions): Promise<sharp.Sharp> {
  const kernel = KERNELS[plan.interpolation];
  const factor = reducedDecodeFactor(plan.crop, plan.size);
  let source = openOriented(bytes, oriented, options);
  let crop = plan.crop;
  if (factor > 1) {
    const width = Math.max(1, Math.round(oriented.width / factor));
    const height = Math.max(1, Math.round(oriented.height / factor));
    const reduced = await toRgbBytes(source.resize(width, height, { fit: 'fill', kernel }), width, height, oriented.needsConversion);
    source = sharp(reduced, { raw: { width, height, channels: 3 } });
    crop = scaleCrop(crop, oriented, { width, height });
  }
  return source.extract(crop).resize(plan.size, plan.size, { fit: 'fill', kernel });
}

/** Eval: shorter side resize (sharp shrinks JPEGs on load here by itself) then a centre crop. */
function decodeResizeCentre(bytes: SharpInput, plan: ImagePlan & { resize: { width: number; height: number } }, header: ImageHeader, options: DecodeOptions): sharp.Sharp {
  const { width, height } = plan.resize;
  return openOriented(bytes, header, options)
    .resize(width, height, { fit: 'fill', kernel: KERNELS[plan.interpolation] })
    .extract(centreCropBox(width, height, plan.size));
}

/**
 * Reads and decodes one image by the plan made from its oriented size. Throws DecodeError (with the reason) for
 * unreadable, corrupt, truncated, non-image or over-limit files.
 */
export async function decodeImage(
  path: string, makePlan: (width: number, height: number) => ImagePlan, options: DecodeImageOptions,
  onHeader?: (header: ImageHeader) => void,
): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    // Synchronous on purpose: a page-cached image file reads in ~0.03 ms of CPU, while fs/promises' readFile
    // costs ~0.15 ms (open, fstat, read, close each a thread-pool round trip) and the decodes already keep the
    // pool's threads busy. The decodes in flight keep running while a cold read blocks here.
    bytes = readFileSync(path);
  } catch (error) {
    throw new DecodeError(path, describeFsError(error));
  }
  return decodeImageBytes(bytes, path, makePlan, options, onHeader);
}

/** `decodeImage` for an encoded image already in memory; `name` stands for its path in a DecodeError. */
export async function decodeImageBytes(
  bytes: Buffer, name: string, makePlan: (width: number, height: number) => ImagePlan, options: DecodeImageOptions,
  onHeader?: (header: ImageHeader) => void,
): Promise<Uint8Array> {
  try {
    if (bytes.length === 0) throw new Error('empty file (0 bytes)');
    const { header, plainJpeg } = await readCheckedHeader(bytes, options);
    onHeader?.(header);
    const plan = makePlan(header.width, header.height);
    const native = plainJpeg && !header.needsOrient && plan.crop !== undefined ? nativeJpegDecoder() : undefined;
    if (native !== undefined && plan.crop !== undefined) return await decodeCropNative(native, bytes, { ...plan, crop: plan.crop }, header, options.into);
    return finishPixels(await decodeWithSharp(bytes, plan, header, options), plan, options.into);
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    throw new DecodeError(name, describeDecodeError(error));
  }
}

/** Raw pixels through the same plan and the same sharp resize and crop as decoded images. */
export async function transformRawImage(image: RawImage, name: string, makePlan: (width: number, height: number) => ImagePlan, options: DecodeImageOptions): Promise<Uint8Array> {
  const header: ImageHeader = { width: image.width, height: image.height, format: 'raw', needsOrient: false, needsConversion: false };
  try {
    if (image.pixels.length !== image.width * image.height * 3) throw new Error(`expected ${image.width}x${image.height}x3 values, got ${image.pixels.length}`);
    const plan = makePlan(header.width, header.height);
    return finishPixels(await decodeWithSharp(image, plan, header, options), plan, options.into);
  } catch (error) {
    throw new DecodeError(name, describeDecodeError(error));
  }
}

/** The plan's flip and jitter on the resized pixels, written into `into` when given. */
function finishPixels(pixels: Uint8Array, plan: ImagePlan, into: Uint8Array | undefined): Uint8Array {
  // Flipping in JS rides along the jitter's last pass; libvips' flop would be one more operation per image.
  const result = flipAndJitter(pixels, plan.size, plan.flip, plan.jitter);
  if (into === undefined) return result;
  into.set(result);
  return into;
}

/** Whether the plan enlarges the image (or its crop) along either axis. */
function enlarges(plan: ImagePlan, header: ImageHeader): boolean {
  const from = plan.crop ?? header;
  const to = plan.crop ? { width: plan.size, height: plan.size } : plan.resize ?? header;
  return to.width > from.width || to.height > from.height;
}

/** Rows `box` of packed RGB `width` pixels wide. */
function cropPixels(pixels: Uint8Array, width: number, box: CropBox): Uint8Array {
  const out = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y += 1) {
    const start = ((box.top + y) * width + box.left) * 3;
    out.set(pixels.subarray(start, start + box.width * 3), y * box.width * 3);
  }
  return out;
}

/**
 * An enlarging plan with Pillow's resampling (resample.ts): libvips places upsampled pixels differently, up to
 * 22 levels away from PIL's for Fashion-MNIST's 28 -> 32 (docs/accuracy.md). Only the crop becomes pixels, and it
 * is smaller than the output.
 */
async function decodeEnlarged(bytes: SharpInput, plan: ImagePlan, header: ImageHeader, options: DecodeOptions): Promise<Uint8Array> {
  const box = plan.crop ?? { left: 0, top: 0, width: header.width, height: header.height };
  const pixels = await toRgbBytes(openOriented(bytes, header, options).extract(box), box.width, box.height, header.needsConversion);
  if (plan.crop) return pilResize(pixels, box.width, box.height, plan.size, plan.size, plan.interpolation);
  const { width, height } = plan.resize ?? header;
  return cropPixels(pilResize(pixels, box.width, box.height, width, height, plan.interpolation), width, centreCropBox(width, height, plan.size));
}

/** Any image, any plan, through sharp (libvips); enlargements resampled as PIL does. */
async function decodeWithSharp(bytes: SharpInput, plan: ImagePlan, header: ImageHeader, options: DecodeOptions): Promise<Uint8Array> {
  if (enlarges(plan, header)) return decodeEnlarged(bytes, plan, header, options);
  const pipeline = plan.crop !== undefined
    ? await decodeCrop(bytes, { ...plan, crop: plan.crop }, header, options)
    : decodeResizeCentre(bytes, { ...plan, resize: plan.resize ?? header }, header, options);
  const convert = header.needsConversion && !(plan.crop !== undefined && reducedDecodeFactor(plan.crop, plan.size) > 1);
  return toRgbBytes(pipeline, plan.size, plan.size, convert);
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'is a directory';
  return (error as Error).message;
}

function describeDecodeError(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  if (/unsupported image format/i.test(message)) return 'not an image (unsupported format)';
  if (/pixel limit/i.test(message)) return `image exceeds the pixel limit (decompression-bomb guard)`;
  // libvips keeps one error buffer for all threads and sharp clears it after every request, so with decodes in
  // flight a damaged file's error can arrive empty; sharp then says only "Warning treated as error due to failOn
  // setting" (its pipeline.cc), which under failOn 'warning' means libjpeg warned about damaged data.
  if (/premature end|truncated|corrupt|Invalid|unexpected end|Warning treated as error/i.test(message)) return `corrupt or truncated image (${firstLine(message)})`;
  return firstLine(message);
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}
