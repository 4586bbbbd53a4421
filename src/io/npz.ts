/**
 * NumPy's .npz (`numpy.savez`): a zip of .npy records, one per named array. The training-parity harness keeps a
 * run's end state in one (weights, BN statistics, optimiser buffers, EMA) so that `numpy.load` and mnext read
 * the same file.
 */
import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { InputError } from '../errors.js';
import { npyHeader, parseNpyHeader } from '../util/npy.js';
import type { NamedArray, StateDict } from '../models/state-dict.js';
import { writeAlignedZip } from './torch/zip.js';

/** The bytes of an .npz of float32 arrays (names as given; numpy adds nothing). */
export function npzBytes(arrays: StateDict): Uint8Array {
  return writeAlignedZip([...arrays].map(([name, array]) => {
    const header = npyHeader('float32', array.shape);
    const data = new Uint8Array(header.length + array.data.byteLength);
    data.set(header);
    data.set(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength), header.length);
    return { name: `${name}.npy`, data };
  }));
}

/** The float32 arrays of an .npz (numpy.savez writes float64 as '<f8': refused, the harness saves float32). */
export function readNpz(path: string): StateDict {
  let records: Record<string, Uint8Array>;
  try {
    records = unzipSync(new Uint8Array(readFileSync(path)));
  } catch (error) {
    throw new InputError(`${path} is not a readable .npz file: ${(error as Error).message}`);
  }
  const arrays: StateDict = new Map();
  for (const [name, bytes] of Object.entries(records)) {
    if (!name.endsWith('.npy')) continue;
    let parsed: ReturnType<typeof parseNpyHeader>;
    try {
      parsed = parseNpyHeader(bytes, `${path}:${name}`);
    } catch (error) {
      throw new InputError((error as Error).message);
    }
    if (parsed.dtype !== 'float32') throw new InputError(`${path}:${name}: expected float32, got ${parsed.dtype}`);
    const data = new Float32Array(bytes.slice(parsed.dataOffset).buffer);
    arrays.set(name.slice(0, -'.npy'.length), { shape: parsed.shape, data } satisfies NamedArray);
  }
  return arrays;
}
