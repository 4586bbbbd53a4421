/**
 * The protobuf wire format, just as much as ONNX files need: a writer for varint, 32-bit float and
 * length-delimited fields, and a reader that walks the top-level fields of a message (to read a model's
 * metadata back without a protobuf library).
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

function varintBytes(value: number | bigint): number[] {
  // Negative int64 values are written as their 64-bit two's complement (ten bytes), as protobuf does.
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return bytes;
}

/** Builds one message; nested messages are encoded first and added with `message`. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array | number[]): void {
    const chunk = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  private tag(field: number, wire: number): void {
    this.push(varintBytes((field << 3) | wire));
  }

  /** int32 / int64 / enum / bool field. */
  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(varintBytes(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.push(varintBytes(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  message(field: number, encoded: Uint8Array): this {
    return this.bytes(field, encoded);
  }

  /** A packed repeated varint field (proto3 style, accepted for proto2 `repeated int64` by every parser). */
  packedInts(field: number, values: readonly number[]): this {
    return this.bytes(field, Uint8Array.from(values.flatMap((v) => varintBytes(v))));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** One top-level field of a message as read from the wire: varints as bigint, everything else as bytes. */
export interface ProtoField {
  readonly field: number;
  readonly value: bigint | Uint8Array;
}

/** Reads the top-level fields of an encoded message (nested messages stay as bytes to decode on demand). */
export function readFields(bytes: Uint8Array): ProtoField[] {
  return [...fieldsOf(bytes)];
}

/** The top-level fields one at a time: the leading fields of a message can be read from its first bytes. */
export function* fieldsOf(bytes: Uint8Array): Generator<ProtoField> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= bytes.length) throw new Error('protobuf: truncated varint');
      const b = bytes[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > bytes.length) throw new Error('protobuf: truncated field');
    const slice = bytes.subarray(pos, pos + n);
    pos += n;
    return slice;
  };
  while (pos < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === WIRE_VARINT) yield { field, value: varint() };
    else if (wire === WIRE_BYTES) yield { field, value: take(Number(varint())) };
    else if (wire === WIRE_FIXED32) yield { field, value: take(4) };
    else if (wire === WIRE_FIXED64) yield { field, value: take(8) };
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
}
