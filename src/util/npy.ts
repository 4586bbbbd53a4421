/**
 * NumPy's .npy format, version 1.0 (numpy.lib.format): the magic "\x93NUMPY", a little-endian header length,
 * a Python-literal header {'descr', 'fortran_order', 'shape'} padded to a multiple of 64 bytes, then the raw
 * C-order data. `numpy.load` reads what `writeNpy` writes, and `readNpy` reads what `numpy.save` writes for the
 * dtypes mnext exchanges with the PyTorch twin (uint8 images, int64 labels, float32 values).
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export type NpyArray =
  | { readonly dtype: 'uint8'; readonly shape: readonly number[]; readonly data: Uint8Array }
  | { readonly dtype: 'int64'; readonly shape: readonly number[]; readonly data: BigInt64Array }
  | { readonly dtype: 'float32'; readonly shape: readonly number[]; readonly data: Float32Array };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const DESCR: Record<NpyArray['dtype'], string> = { uint8: '|u1', int64: '<i8', float32: '<f4' };

/** The header of an array of `shape` (numpy's own spelling, so `np.load` needs no guessing). */
export function npyHeader(dtype: NpyArray['dtype'], shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = MAGIC.length + 4 + dict.length + 1;
  const text = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const header = new Uint8Array(MAGIC.length + 4 + text.length);
  header.set(MAGIC);
  header.set([1, 0], 6);
  new DataView(header.buffer).setUint16(8, text.length, true);
  header.set(new TextEncoder().encode(text), 10);
  return header;
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes one array (the caller makes the write atomic if it needs to). */
export function writeNpy(path: string, array: NpyArray): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader(array.dtype, array.shape));
    writeSync(fd, bytesOf(array.data));
  } finally {
    closeSync(fd);
  }
}

/**
 * An .npy file written chunk by chunk along its first axis (a batch at a time), whose length is known up front.
 * `close` checks that exactly that many rows arrived.
 */
export class NpyWriter {
  private readonly fd: number;
  private rows = 0;
  private readonly rowSize: number;

  constructor(readonly path: string, readonly dtype: NpyArray['dtype'], readonly shape: readonly number[]) {
    this.rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
    this.fd = openSync(path, 'w');
    writeSync(this.fd, npyHeader(dtype, shape));
  }

  append(data: NpyArray['data']): void {
    if (data.length % this.rowSize !== 0) throw new Error(`${this.path}: ${data.length} values are not whole rows of ${this.rowSize}`);
    writeSync(this.fd, bytesOf(data));
    this.rows += data.length / this.rowSize;
  }

  close(): void {
    closeSync(this.fd);
    if (this.rows !== this.shape[0]) throw new Error(`${this.path}: ${this.rows} rows written, the header says ${this.shape[0]}`);
  }
}

export class NpyFormatError extends Error {}

/** The dtype, shape and where the data starts, from a file's first bytes. */
export function parseNpyHeader(bytes: Uint8Array, source: string): { dtype: NpyArray['dtype']; shape: number[]; dataOffset: number } {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyFormatError(`${source}: not a .npy file`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [length, start] = major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  const text = new TextDecoder().decode(bytes.subarray(start, start + length));
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const dtype = (Object.keys(DESCR) as NpyArray['dtype'][]).find((d) => DESCR[d] === descr || (d === 'uint8' && descr === '<u1'));
  if (!dtype) throw new NpyFormatError(`${source}: dtype ${descr} is not one of uint8, int64, float32`);
  if (/'fortran_order':\s*True/.test(text)) throw new NpyFormatError(`${source}: Fortran-order arrays are not read`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (shapeText === undefined) throw new NpyFormatError(`${source}: the header has no shape`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  return { dtype, shape, dataOffset: start + length };
}

const ITEM_BYTES: Record<NpyArray['dtype'], number> = { uint8: 1, int64: 8, float32: 4 };

/**
 * Reads rows [first, first + count) along the first axis without reading the rest of the file (batch files
 * run to hundreds of megabytes).
 */
export function readNpyRows(path: string, first: number, count: number): NpyArray {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(4096);
    readSync(fd, head, 0, head.length, 0);
    const { dtype, shape, dataOffset } = parseNpyHeader(head, path);
    if (first < 0 || first + count > shape[0]) throw new NpyFormatError(`${path}: rows ${first}..${first + count - 1} asked, it has ${shape[0]}`);
    const rowValues = shape.slice(1).reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(count * rowValues * ITEM_BYTES[dtype]);
    readSync(fd, bytes, 0, bytes.length, dataOffset + first * rowValues * ITEM_BYTES[dtype]);
    const rowsShape = [count, ...shape.slice(1)];
    switch (dtype) {
      case 'uint8': return { dtype, shape: rowsShape, data: bytes };
      case 'int64': return { dtype, shape: rowsShape, data: new BigInt64Array(bytes.buffer) };
      case 'float32': return { dtype, shape: rowsShape, data: new Float32Array(bytes.buffer) };
    }
  } finally {
    closeSync(fd);
  }
}

/** The shape of an .npy file (its header only). */
export function npyShape(path: string): number[] {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(4096);
    readSync(fd, head, 0, head.length, 0);
    return parseNpyHeader(head, path).shape;
  } finally {
    closeSync(fd);
  }
}
