/** Types of preprocess.js, the page's plain-JS module (served as is, imported by the tests). */
export type Interpolation = 'bilinear' | 'bicubic';

export interface Image {
  pixels: Uint8Array;
  width: number;
  height: number;
  bands: number;
}

/** mnext's Pillow resampling, src/data/resample.ts's pilResize. */
export type PilResize = (pixels: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, interpolation: Interpolation) => Uint8Array;

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function evalGeometry(width: number, height: number, size: number, cropPct: number): { resize: { width: number; height: number }; crop: Box };
export function resizeLikeSharp(image: Image, width: number, height: number, interpolation: Interpolation): Image;
export function evalPixels(
  rgba: { data: Uint8Array | Uint8ClampedArray; width: number; height: number },
  transform: { inputSize: number; cropPct: number; interpolation: Interpolation },
  pilResize: PilResize,
): Uint8Array;
export function normalise(pixels: Uint8Array, mean: readonly number[], std: readonly number[]): Float32Array;
