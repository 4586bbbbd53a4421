import { type Constructor, PyExternal, PyGlobal, PyTuple, type PyValue } from './pickle.js';

/** Element types of torch storages, named by their pickled storage class (`torch.FloatStorage`). */
export interface StorageType {
  readonly className: string;
  readonly dtype: string;
  readonly itemSize: number;
  /** Reads element `index` of little-endian storage bytes as a JS number. */
  readonly read: (view: DataView, index: number) => number;
}

/** IEEE half precision to number (no DataView.getFloat16 in Node 20). */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const STORAGE_TYPES: readonly StorageType[] = [
  { className: 'FloatStorage', dtype: 'float32', itemSize: 4, read: (v, i) => v.getFloat32(i * 4, true) },
  { className: 'HalfStorage', dtype: 'float16', itemSize: 2, read: (v, i) => halfToNumber(v.getUint16(i * 2, true)) },
  { className: 'BFloat16Storage', dtype: 'bfloat16', itemSize: 2, read: (v, i) => new Float32Array(new Uint32Array([v.getUint16(i * 2, true) << 16]).buffer)[0] },
  { className: 'DoubleStorage', dtype: 'float64', itemSize: 8, read: (v, i) => v.getFloat64(i * 8, true) },
  { className: 'LongStorage', dtype: 'int64', itemSize: 8, read: (v, i) => Number(v.getBigInt64(i * 8, true)) },
  { className: 'IntStorage', dtype: 'int32', itemSize: 4, read: (v, i) => v.getInt32(i * 4, true) },
  { className: 'ShortStorage', dtype: 'int16', itemSize: 2, read: (v, i) => v.getInt16(i * 2, true) },
  { className: 'CharStorage', dtype: 'int8', itemSize: 1, read: (v, i) => v.getInt8(i) },
  { className: 'ByteStorage', dtype: 'uint8', itemSize: 1, read: (v, i) => v.getUint8(i) },
  { className: 'BoolStorage', dtype: 'bool', itemSize: 1, read: (v, i) => v.getUint8(i) },
];

export const FLOAT_STORAGE = STORAGE_TYPES[0];
export const LONG_STORAGE = STORAGE_TYPES.find((t) => t.dtype === 'int64')!;

export function storageTypeOf(value: PyValue): StorageType | undefined {
  if (!(value instanceof PyGlobal) || value.module !== 'torch') return undefined;
  return STORAGE_TYPES.find((t) => t.className === value.name);
}

/** One storage's data: its bytes are attached after unpickling (the legacy format stores them after the pickle). */
export interface StorageData {
  readonly key: string;
  readonly type: StorageType;
  readonly numel: number;
  bytes?: Uint8Array;
}

/** A storage as a persistent id names it: the whole root storage, or (legacy files) a view into one. */
export class StorageRef extends PyExternal {
  constructor(readonly root: StorageData, readonly elementOffset = 0, readonly numel = root.numel) {
    super();
  }
}

/** A tensor rebuilt from a pickle: a strided view of a storage, materialised on demand. */
export class TorchTensor extends PyExternal {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    super();
  }

  get dtype(): string {
    return this.storage.root.type.dtype;
  }

  /** Values in row-major order of `shape` (strides and offsets applied), as float32. */
  toFloat32(): Float32Array {
    const { root: { bytes, type, key }, numel, elementOffset } = this.storage;
    if (!bytes) throw new Error(`storage ${key} has no data`);
    const size = this.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(size);
    if (size === 0) return out;
    const base = elementOffset + this.storageOffset;
    const last = base + this.shape.reduce((s, d, i) => s + (d - 1) * this.stride[i], 0);
    if (base < 0 || last >= elementOffset + numel || (last + 1) * type.itemSize > bytes.length) {
      throw new Error(`tensor view exceeds its storage ${key} (${numel} elements)`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const index = new Array<number>(this.shape.length).fill(0);
    let position = base;
    for (let i = 0; i < size; i += 1) {
      out[i] = type.read(view, position);
      // odometer over the dimensions, innermost fastest
      for (let d = this.shape.length - 1; d >= 0; d -= 1) {
        index[d] += 1;
        position += this.stride[d];
        if (index[d] < this.shape[d]) break;
        position -= this.stride[d] * this.shape[d];
        index[d] = 0;
      }
    }
    return out;
  }
}

function intList(value: PyValue, what: string): number[] {
  if (!(value instanceof PyTuple) && !Array.isArray(value)) throw new Error(`${what}: expected a tuple`);
  const items = value instanceof PyTuple ? value.items : value;
  return items.map((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what}: expected integers`);
    return v;
  });
}

/** `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])`. */
function rebuildTensor(args: PyValue[]): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new Error('_rebuild_tensor_v2: the first argument is not a storage');
  if (typeof offset !== 'number') throw new Error('_rebuild_tensor_v2: storage offset is not an integer');
  const shape = intList(size, 'tensor size');
  const strides = intList(stride, 'tensor stride');
  if (shape.length !== strides.length) throw new Error('_rebuild_tensor_v2: size and stride differ in length');
  return new TorchTensor(storage, offset, shape, strides);
}

/** `torch._utils._rebuild_parameter(data, requires_grad, hooks)`: an nn.Parameter is its tensor for us. */
function rebuildParameter(args: PyValue[]): PyValue {
  if (!(args[0] instanceof TorchTensor)) throw new Error('_rebuild_parameter: the data is not a tensor');
  return args[0];
}

/** The torch globals a weights file may call; they only build TorchTensor records. */
export const TORCH_CONSTRUCTORS: ReadonlyMap<string, Constructor> = new Map([
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  ['torch._utils._rebuild_tensor', (args: PyValue[]) => rebuildTensor([...args, false, null])],
  ['torch._utils._rebuild_parameter', rebuildParameter],
]);
