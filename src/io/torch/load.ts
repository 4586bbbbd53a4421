import { readFileSync, statSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { InputError } from '../../errors.js';
import { PickleError, PyDict, PyTuple, type PyValue, Unpickler } from './pickle.js';
import { type StorageData, StorageRef, TORCH_CONSTRUCTORS, storageTypeOf } from './tensor.js';

/** What `torch.load` would return, with tensors as TorchTensor records whose storages are filled in. */
export interface TorchFile {
  readonly format: 'zip' | 'legacy';
  readonly root: PyValue;
}

/** torch.save's legacy magic number, the first pickle of a pre-1.6 file. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** Persistent ids name storages; this keeps one StorageData per key so views and repeats share bytes. */
class StorageTable {
  readonly roots = new Map<string, StorageData>();

  /** Zip: ('storage', StorageType, key, location, numel). Legacy: the same plus view metadata. */
  load(pid: PyValue): StorageRef {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') throw new Error('unsupported persistent id (not a storage)');
    const [, typeGlobal, key, , numel, view] = pid.items;
    const type = storageTypeOf(typeGlobal);
    if (!type) throw new Error(`unsupported storage type ${describe(typeGlobal)}`);
    if (typeof key !== 'string' || typeof numel !== 'number') throw new Error('malformed storage id');
    let root = this.roots.get(key);
    if (!root) {
      root = { key, type, numel };
      this.roots.set(key, root);
    }
    if (view instanceof PyTuple) {
      const [, offset, size] = view.items;
      if (typeof offset !== 'number' || typeof size !== 'number') throw new Error('malformed storage view');
      return new StorageRef(root, offset, size);
    }
    return new StorageRef(root);
  }
}

function describe(value: PyValue | undefined): string {
  return value && typeof value === 'object' && 'qualifiedName' in value ? String(value.qualifiedName) : String(value);
}

function unpickler(bytes: Uint8Array, offset: number, storages?: StorageTable): Unpickler {
  return new Unpickler(bytes, offset, {
    constructors: TORCH_CONSTRUCTORS,
    persistentLoad: storages ? (pid) => storages.load(pid) : undefined,
  });
}

function attachBytes(root: StorageData, bytes: Uint8Array): void {
  const needed = root.numel * root.type.itemSize;
  if (bytes.length < needed) throw new Error(`storage ${root.key} is truncated (${bytes.length} of ${needed} bytes)`);
  root.bytes = bytes;
}

function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** torch ≥ 1.6: `<archive>/data.pkl` plus one `<archive>/data/<key>` record per storage. */
function readZip(bytes: Uint8Array): TorchFile {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (error) {
    throw new Error(`the zip container is truncated or corrupt (${(error as Error).message})`);
  }
  if (Object.keys(files).some((name) => /^[^/]+\/constants\.pkl$/.test(name))) {
    throw new Error('it is a TorchScript archive (torch.jit.save); save the model\'s state_dict() with torch.save instead');
  }
  const pickleName = Object.keys(files).find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pickleName) throw new Error('the zip holds no <archive>/data.pkl, so it is not a torch.save file');
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  const byteOrder = files[`${prefix}byteorder`];
  if (byteOrder && new TextDecoder().decode(byteOrder).trim() !== 'little') throw new Error('big-endian tensor data is not supported');
  const storages = new StorageTable();
  const root = unpickler(files[pickleName], 0, storages).load();
  for (const storage of storages.roots.values()) {
    const data = files[`${prefix}data/${storage.key}`];
    if (!data) throw new Error(`storage record data/${storage.key} is missing`);
    attachBytes(storage, data);
  }
  return { format: 'zip', root };
}

/**
 * Pre-1.6 stream: pickled magic number, protocol version, system info, the object, the list of storage keys,
 * then each storage as an int64 element count and its raw little-endian bytes.
 */
function readLegacy(bytes: Uint8Array): TorchFile {
  let magic: PyValue;
  let offset = 0;
  const next = (storages?: StorageTable): PyValue => {
    const reader = unpickler(bytes, offset, storages);
    const value = reader.load();
    offset = reader.offset;
    return value;
  };
  try {
    magic = next();
  } catch {
    magic = null;
  }
  if (magic !== LEGACY_MAGIC) {
    if (bytes.length > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') {
      throw new Error('it is the pre-0.4 tar format of torch.save; re-save it with a newer PyTorch');
    }
    throw new Error('it is neither a torch.save zip nor a legacy torch.save stream');
  }
  if (next() !== LEGACY_PROTOCOL) throw new Error('unsupported legacy protocol version');
  const sysInfo = next();
  const littleEndian = sysInfo instanceof PyDict ? sysInfo.get('little_endian') : undefined;
  if (littleEndian === false) throw new Error('big-endian tensor data is not supported');
  const storages = new StorageTable();
  const root = next(storages);
  const keys = next();
  if (!Array.isArray(keys)) throw new Error('the storage key list is missing');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys) {
    const storage = storages.roots.get(String(key));
    if (!storage) throw new Error(`storage ${String(key)} is listed but never used`);
    if (offset + 8 > bytes.length) throw new Error(`storage ${storage.key} is truncated`);
    const numel = Number(view.getBigInt64(offset, true));
    if (numel !== storage.numel) throw new Error(`storage ${storage.key} has ${numel} elements, expected ${storage.numel}`);
    const start = offset + 8;
    offset = start + numel * storage.type.itemSize;
    if (offset > bytes.length) throw new Error(`storage ${storage.key} is truncated`);
    attachBytes(storage, bytes.subarray(start, offset));
  }
  return { format: 'legacy', root };
}

/** Parses torch.save bytes (zip or legacy); any failure is an InputError naming `source`. */
export function parseTorchFile(bytes: Uint8Array, source: string): TorchFile {
  try {
    return isZip(bytes) ? readZip(bytes) : readLegacy(bytes);
  } catch (error) {
    if (error instanceof InputError) throw error;
    const reason = error instanceof PickleError ? `${error.message} at byte ${error.offset} of the pickle` : (error as Error).message;
    throw new InputError(`${source} is not a readable PyTorch file: ${reason}`);
  }
}

export function readTorchFile(path: string): TorchFile {
  let bytes: Buffer;
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    bytes = readFileSync(path);
  } catch (error) {
    throw new InputError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseTorchFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
