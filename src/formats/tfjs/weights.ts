import { pyRound } from '../../data/transforms.js';

/**
 * A graph model's weights as tfjs-converter writes them: every weight packed in manifest order, optionally
 * compressed (its `--quantize_float16` / `--quantize_uint8`), then cut into 4 MB files named group1-shard{i}of{n}.bin.
 * tfjs-core's io.decodeWeights reads the `quantization` entry back to float32, so any tfjs app loads the folder.
 */

/** tfjs-converter's default shard size (its --weight_shard_size_bytes). */
export const SHARD_BYTES = 4 * 1024 * 1024;

/** Weight compression as tfjs-converter offers it; float32 weights only (int32 shape constants stay exact). */
export type TfjsQuantization = 'float16' | 'uint8';
export const TFJS_QUANTIZATIONS: readonly TfjsQuantization[] = ['float16', 'uint8'];

/** How a stored weight turns back into float32: float16 as is, uint8 as q * scale + min. */
export type WeightQuantization = { dtype: 'float16' } | { dtype: 'uint8'; scale: number; min: number };

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: WeightQuantization;
}

export interface WeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

export interface WeightShard {
  readonly path: string;
  readonly bytes: Uint8Array;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** `value >>> shift`, rounded to nearest even on the bits shifted out. */
function roundedShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return kept + (rest > halfway || (rest === halfway && (kept & 1) === 1) ? 1 : 0);
}

/** IEEE binary16 bits of a float32, rounded to nearest even (numpy's astype(np.float16)). */
export function float16Bits(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  // A carry out of the mantissa rounds up into the exponent (and to infinity), as it should.
  if (halfExponent > 0) return sign | roundedShift((halfExponent << 23) | mantissa, 13);
  // Subnormal halves: the implicit 1 shifts in too; below 2^-25 everything rounds to zero.
  const shift = 14 - halfExponent;
  return shift > 24 ? sign : sign | roundedShift(mantissa | 0x800000, shift);
}

/**
 * tfjs-converter's affine uint8 range: [min, max] over 255 steps, nudged so that 0 (when inside) is exactly a step
 * (zero padding and ReLU zeros stay zero).
 */
function uint8Range(min: number, max: number): { scale: number; min: number; max: number } {
  const scale = (max - min) / 255;
  if (!(min <= 0 && 0 <= max)) return { scale, min, max };
  const nudgedMin = -pyRound(-min / scale) * scale;
  return { scale, min: nudgedMin, max: 255 * scale + nudgedMin };
}

function quantizeUint8(data: Float32Array): { bytes: Uint8Array; quantization: WeightQuantization } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const bytes = new Uint8Array(data.length);
  if (lo === hi) return { bytes, quantization: { dtype: 'uint8', scale: 1, min: lo } };
  const range = uint8Range(lo, hi);
  for (let i = 0; i < data.length; i += 1) {
    bytes[i] = pyRound((Math.min(range.max, Math.max(range.min, data[i])) - range.min) / range.scale);
  }
  return { bytes, quantization: { dtype: 'uint8', scale: range.scale, min: range.min } };
}

function quantizeFloat16(data: Float32Array): Uint8Array {
  const halves = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i += 1) halves[i] = float16Bits(data[i]);
  return new Uint8Array(halves.buffer);
}

function encodeEntry(entry: WeightEntry, quantize: TfjsQuantization | undefined): { spec: WeightSpec; bytes: Uint8Array } {
  const shape = [...entry.shape];
  if (entry.data instanceof Int32Array) return { spec: { name: entry.name, shape, dtype: 'int32' }, bytes: new Uint8Array(entry.data.slice().buffer) };
  const spec: WeightSpec = { name: entry.name, shape, dtype: 'float32' };
  if (quantize === 'float16') return { spec: { ...spec, quantization: { dtype: 'float16' } }, bytes: quantizeFloat16(entry.data) };
  if (quantize === 'uint8') {
    const { bytes, quantization } = quantizeUint8(entry.data);
    return { spec: { ...spec, quantization }, bytes };
  }
  return { spec, bytes: new Uint8Array(entry.data.slice().buffer) };
}

/** The manifest entries and the packed bytes of the weights, compressed as asked. */
export function encodeWeights(entries: readonly WeightEntry[], quantize?: TfjsQuantization): { specs: WeightSpec[]; bytes: Uint8Array } {
  const encoded = entries.map((entry) => encodeEntry(entry, quantize));
  const bytes = new Uint8Array(encoded.reduce((sum, e) => sum + e.bytes.length, 0));
  let offset = 0;
  for (const e of encoded) {
    bytes.set(e.bytes, offset);
    offset += e.bytes.length;
  }
  return { specs: encoded.map((e) => e.spec), bytes };
}

/** The packed bytes cut into shards of at most `shardBytes`, named as tfjs-converter names them. */
export function shardWeights(bytes: Uint8Array, shardBytes = SHARD_BYTES): WeightShard[] {
  const count = Math.max(1, Math.ceil(bytes.length / shardBytes));
  return Array.from({ length: count }, (_, i) => ({
    path: `group1-shard${i + 1}of${count}.bin`,
    bytes: bytes.subarray(i * shardBytes, Math.min(bytes.length, (i + 1) * shardBytes)),
  }));
}
