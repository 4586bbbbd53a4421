import * as flatbuffers from 'flatbuffers';

/**
 * Just enough of a flatbuffer schema compiler's output, written by hand: tables as (slot, value) lists on top
 * of the `flatbuffers` runtime's Builder, typed vectors, and a small reader for the fields mnext reads back.
 * The TFLite and metadata schemas are large; mnext writes a few dozen fields of them, listed in schema.ts.
 */

export type Offset = flatbuffers.Offset;

export type Field =
  | { readonly kind: 'int8' | 'bool' | 'int32' | 'uint32' | 'float32'; readonly value: number }
  | { readonly kind: 'offset'; readonly value: Offset };

export const int8 = (value: number): Field => ({ kind: 'int8', value });
export const bool = (value: boolean): Field => ({ kind: 'bool', value: value ? 1 : 0 });
export const int32 = (value: number): Field => ({ kind: 'int32', value });
export const uint32 = (value: number): Field => ({ kind: 'uint32', value });
export const float32 = (value: number): Field => ({ kind: 'float32', value });
export const offset = (value: Offset): Field => ({ kind: 'offset', value });

/** Builder with defaults forced: every field given is written, every field left out is absent. */
export function newBuilder(initialSize = 1024): flatbuffers.Builder {
  const builder = new flatbuffers.Builder(initialSize);
  builder.forceDefaults(true);
  return builder;
}

/** A table from (slot, value) pairs; `undefined` values are skipped so optional fields read naturally. */
export function table(builder: flatbuffers.Builder, fields: readonly (readonly [number, Field | undefined])[]): Offset {
  const present = fields.filter((f): f is readonly [number, Field] => f[1] !== undefined);
  const slots = present.reduce((n, [slot]) => Math.max(n, slot + 1), 0);
  builder.startObject(slots);
  for (const [slot, field] of present) {
    switch (field.kind) {
      case 'int8':
      case 'bool':
        builder.addFieldInt8(slot, field.value, 0);
        break;
      case 'int32':
      case 'uint32':
        builder.addFieldInt32(slot, field.value, 0);
        break;
      case 'float32':
        builder.addFieldFloat32(slot, field.value, 0);
        break;
      case 'offset':
        builder.addFieldOffset(slot, field.value, 0);
        break;
    }
  }
  return builder.endObject();
}

/** A vector of `count` elements of `size` bytes, written back to front as flatbuffers requires. */
function vector(builder: flatbuffers.Builder, count: number, size: number, add: (index: number) => void): Offset {
  builder.startVector(size, count, size);
  for (let i = count - 1; i >= 0; i -= 1) add(i);
  return builder.endVector();
}

export function int32Vector(builder: flatbuffers.Builder, values: readonly number[]): Offset {
  return vector(builder, values.length, 4, (i) => builder.addInt32(values[i]));
}

export function float32Vector(builder: flatbuffers.Builder, values: readonly number[]): Offset {
  return vector(builder, values.length, 4, (i) => builder.addFloat32(values[i]));
}

export function int64Vector(builder: flatbuffers.Builder, values: readonly number[]): Offset {
  return vector(builder, values.length, 8, (i) => builder.addInt64(BigInt(values[i])));
}

export function offsetVector(builder: flatbuffers.Builder, offsets: readonly Offset[]): Offset {
  return vector(builder, offsets.length, 4, (i) => builder.addOffset(offsets[i]));
}

/** The runtime's Builder keeps its write position private; createByteVector uses these same two fields. */
interface BuilderInternals {
  bb: flatbuffers.ByteBuffer;
  space: number;
}

/**
 * A [ubyte] vector whose data starts on an `alignment`-byte boundary (TFLite's `force_align: 16` on
 * Buffer.data, so runtimes can map weights in place). Copied in one block, not byte by byte.
 */
export function alignedByteVector(builder: flatbuffers.Builder, data: Uint8Array, alignment = 16): Offset {
  builder.startVector(1, data.length, alignment);
  const internals = builder as unknown as BuilderInternals;
  internals.space -= data.length;
  internals.bb.bytes().set(data, internals.space);
  return builder.endVector();
}

/** Read access to one table of a finished flatbuffer, by slot. */
export class TableReader {
  constructor(readonly bb: flatbuffers.ByteBuffer, readonly pos: number) {}

  static root(bytes: Uint8Array): TableReader {
    const bb = new flatbuffers.ByteBuffer(bytes);
    return new TableReader(bb, bb.readInt32(bb.position()) + bb.position());
  }

  private field(slot: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * slot);
  }

  int8(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt8(this.pos + o) : fallback;
  }

  int32(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt32(this.pos + o) : fallback;
  }

  uint32(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readUint32(this.pos + o) : fallback;
  }

  string(slot: number): string | undefined {
    const o = this.field(slot);
    return o ? (this.bb.__string(this.pos + o) as string) : undefined;
  }

  table(slot: number): TableReader | undefined {
    const o = this.field(slot);
    return o ? new TableReader(this.bb, this.bb.__indirect(this.pos + o)) : undefined;
  }

  length(slot: number): number {
    const o = this.field(slot);
    return o ? this.bb.__vector_len(this.pos + o) : 0;
  }

  /** Elements of a vector field, each read at its byte position by `read`. */
  private elements<T>(slot: number, size: number, read: (at: number) => T): T[] {
    const o = this.field(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from({ length: this.length(slot) }, (_, i) => read(start + size * i));
  }

  tables(slot: number): TableReader[] {
    return this.elements(slot, 4, (at) => new TableReader(this.bb, this.bb.__indirect(at)));
  }

  int32s(slot: number): number[] {
    return this.elements(slot, 4, (at) => this.bb.readInt32(at));
  }

  float32s(slot: number): number[] {
    return this.elements(slot, 4, (at) => this.bb.readFloat32(at));
  }

  /** A [ubyte] vector as a view into the file (no copy). */
  bytes(slot: number): Uint8Array {
    const o = this.field(slot);
    if (!o) return new Uint8Array(0);
    const start = this.bb.__vector(this.pos + o);
    return this.bb.bytes().subarray(start, start + this.length(slot));
  }
}
