import { writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import type { ModelGraph } from '../../models/graph.js';
import { selectModelWeights } from '../../models/weights.js';
import { type FileOutputKind, type OutputOptions, readTail, writeOutputSync } from '../../util/output-path.js';
import { readTorchFile } from './load.js';
import type { StateDict } from '../../models/state-dict.js';
import { FLOAT_STORAGE, LONG_STORAGE, type StorageType } from './tensor.js';
import { type ZipRecord, writeAlignedZip, zipComment } from './zip.js';

/** Protocol-2 pickle opcodes the writer uses. */
const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, GLOBAL: 0x63, BINPUT: 0x71, LONG_BINPUT: 0x72, BINGET: 0x68, LONG_BINGET: 0x6a,
  BINUNICODE: 0x58, BININT1: 0x4b, BININT2: 0x4d, BININT: 0x4a, EMPTY_TUPLE: 0x29, TUPLE: 0x74, TUPLE1: 0x85,
  TUPLE2: 0x86, TUPLE3: 0x87, NEWFALSE: 0x89, REDUCE: 0x52, BINPERSID: 0x51, SETITEMS: 0x75,
} as const;
const SETITEMS_BATCH = 1000;

/** Just enough of a pickler for a state_dict of tensors, memoising repeated globals and strings like pickle does. */
class PickleWriter {
  private readonly bytes: number[] = [];
  private readonly memo = new Map<string, number>();

  op(code: number): this {
    this.bytes.push(code);
    return this;
  }

  private u16(value: number): void {
    this.bytes.push(value & 0xff, (value >>> 8) & 0xff);
  }

  private u32(value: number): void {
    this.bytes.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  }

  /** Emits a memo reference if `key` was written before; otherwise writes it and memoises it. */
  private memoised(key: string, write: () => void): this {
    const index = this.memo.get(key);
    if (index !== undefined) {
      if (index < 256) this.op(OP.BINGET).bytes.push(index);
      else this.op(OP.LONG_BINGET).u32(index);
      return this;
    }
    write();
    const next = this.memo.size;
    this.memo.set(key, next);
    if (next < 256) this.op(OP.BINPUT).bytes.push(next);
    else this.op(OP.LONG_BINPUT).u32(next);
    return this;
  }

  global(module: string, name: string): this {
    return this.memoised(`global:${module}.${name}`, () => {
      this.op(OP.GLOBAL);
      for (const c of `${module}\n${name}\n`) this.bytes.push(c.charCodeAt(0));
    });
  }

  text(value: string, memoise = false): this {
    const write = () => {
      const encoded = new TextEncoder().encode(value);
      this.op(OP.BINUNICODE).u32(encoded.length);
      for (const b of encoded) this.bytes.push(b);
    };
    if (memoise) return this.memoised(`text:${value}`, write);
    write();
    return this;
  }

  int(value: number): this {
    if (value >= 0 && value < 256) this.op(OP.BININT1).bytes.push(value);
    else if (value >= 0 && value < 65536) this.op(OP.BININT2).u16(value);
    else if (value >= -(2 ** 31) && value < 2 ** 31) this.op(OP.BININT).u32(value >>> 0);
    else throw new Error(`pickle writer: integer ${value} out of range`);
    return this;
  }

  intTuple(values: readonly number[]): this {
    if (values.length === 0) return this.op(OP.EMPTY_TUPLE);
    if (values.length > 3) this.op(OP.MARK);
    for (const v of values) this.int(v);
    return this.op([OP.TUPLE, OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][values.length > 3 ? 0 : values.length]);
  }

  toBytes(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: StorageType;
  readonly data: Uint8Array;
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i -= 1) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/** `_rebuild_tensor_v2((storage pid), 0, size, stride, False, OrderedDict())`, as torch pickles a tensor. */
function writeTensor(writer: PickleWriter, tensor: TensorEntry, key: string): void {
  const numel = tensor.shape.reduce((a, b) => a * b, 1);
  writer.global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK);
  writer.op(OP.MARK).text('storage', true).global('torch', tensor.type.className).text(key).text('cpu', true).int(numel).op(OP.TUPLE).op(OP.BINPERSID);
  writer.int(0).intTuple(tensor.shape).intTuple(contiguousStrides(tensor.shape)).op(OP.NEWFALSE);
  writer.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  writer.op(OP.TUPLE).op(OP.REDUCE);
}

/** data.pkl of an OrderedDict state_dict whose storage i is record `data/<i>`. */
function statePickle(entries: readonly TensorEntry[]): Uint8Array {
  const writer = new PickleWriter().op(OP.PROTO).op(2);
  writer.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  entries.forEach((entry, i) => {
    if (i % SETITEMS_BATCH === 0) writer.op(OP.MARK);
    writer.text(entry.name);
    writeTensor(writer, entry, String(i));
    if (i % SETITEMS_BATCH === SETITEMS_BATCH - 1 || i === entries.length - 1) writer.op(OP.SETITEMS);
  });
  return writer.op(OP.STOP).toBytes();
}

/**
 * The model's weights as PyTorch's state_dict: the description's parameter order and names, float32 in PyTorch
 * layouts, plus an int64 `num_batches_tracked` (0) after each BatchNorm's buffers — those of BN layers no node
 * reads too (mnext_s's `_bn1`) — so `load_state_dict(strict=True)` finds every key it expects.
 */
function stateEntries(graph: ModelGraph, weights: StateDict): TensorEntry[] {
  const checked = selectModelWeights(graph, weights);
  const batchNorms = new Set([
    ...graph.nodes.flatMap((n) => (n.op === 'batchnorm' ? [n.param] : [])),
    ...graph.unusedParams.map((name) => name.replace(/\.[a-z_]+$/, '')),
  ]);
  const entries: TensorEntry[] = [];
  for (const p of graph.params) {
    const array = checked.get(p.name)!;
    entries.push({ name: p.name, shape: p.shape, type: FLOAT_STORAGE, data: new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength) });
    const prefix = p.name.replace(/\.running_var$/, '');
    if (prefix !== p.name && batchNorms.has(prefix)) {
      entries.push({ name: `${prefix}.num_batches_tracked`, shape: [], type: LONG_STORAGE, data: new Uint8Array(LONG_STORAGE.itemSize) });
    }
  }
  return entries;
}

/**
 * The zip archive comment of every .pth mnext exports: torch ignores it, and it tells a later export that the
 * file at its path is one mnext wrote (a torch.save file from elsewhere has none).
 */
const EXPORT_COMMENT = 'state_dict written by mnext';

/** A .pth mnext exported: a zip whose end record carries EXPORT_COMMENT. */
export const TORCH_EXPORT_FILE: FileOutputKind = {
  type: 'file',
  description: 'PyTorch state_dict exported by mnext',
  recognise: (path) => zipComment(readTail(path, 22 + EXPORT_COMMENT.length)) === EXPORT_COMMENT,
};

/** torch.save(state_dict) bytes in the zip container torch ≥ 1.6 writes (`archive/data.pkl`, `archive/data/<n>`). */
export function torchStateDictBytes(graph: ModelGraph, weights: StateDict): Uint8Array {
  // storages are written as raw memory; torch files are little-endian
  if (endianness() !== 'LE') throw new Error('exporting PyTorch files needs a little-endian machine');
  const entries = stateEntries(graph, weights);
  const text = (s: string) => new TextEncoder().encode(s);
  const records: ZipRecord[] = [
    { name: 'archive/data.pkl', data: statePickle(entries) },
    { name: 'archive/byteorder', data: text('little') },
    ...entries.map((e, i) => ({ name: `archive/data/${i}`, data: e.data })),
    { name: 'archive/version', data: text('3\n') },
  ];
  return writeAlignedZip(records, EXPORT_COMMENT);
}

/**
 * Writes the state_dict to `path` (model.pth) atomically once it reads back, never over a file mnext did not
 * write unless `force`.
 */
export function saveTorchStateDict(path: string, graph: ModelGraph, weights: StateDict, options: OutputOptions = {}): void {
  const bytes = torchStateDictBytes(graph, weights);
  writeOutputSync(path, TORCH_EXPORT_FILE, (staged) => writeFileSync(staged, bytes), { ...options, verify: (staged) => void readTorchFile(staged) });
}
