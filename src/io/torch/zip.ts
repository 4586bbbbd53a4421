/**
 * A zip writer shaped like PyTorch's `PyTorchStreamWriter`: stored (uncompressed) records whose data starts
 * on a 64-byte boundary, padded with an "FB" extra field, so torch can read (and memory-map) tensor records
 * in place. Plain zip (no zip64): torch.save files above 4 GiB are out of scope for a mobile classifier.
 */

export interface ZipRecord {
  readonly name: string;
  readonly data: Uint8Array;
}

const ALIGNMENT = 64;
const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
/** torch's padding extra-field id ("FB") plus its 2-byte length. */
const PAD_FIELD_ID = 0x4246;
const PAD_FIELD_HEADER = 4;
const LIMIT = 0xffffffff;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i += 1) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

interface Placed {
  readonly name: Uint8Array;
  readonly data: Uint8Array;
  readonly crc: number;
  readonly headerOffset: number;
  readonly padding: number;
}

/** Extra-field bytes so the data after a local header at `offset` with this name starts aligned. */
function paddingFor(offset: number, nameLength: number): number {
  const dataStart = offset + LOCAL_HEADER + nameLength + PAD_FIELD_HEADER;
  return (ALIGNMENT - (dataStart % ALIGNMENT)) % ALIGNMENT;
}

/** The archive comment of a zip's end record, or undefined when `tail` (the file's last bytes) holds none. */
export function zipComment(tail: Uint8Array): string | undefined {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let at = tail.length - END_RECORD; at >= 0; at -= 1) {
    if (view.getUint32(at, true) === 0x06054b50 && at + END_RECORD + view.getUint16(at + 20, true) === tail.length) {
      return new TextDecoder().decode(tail.subarray(at + END_RECORD));
    }
  }
  return undefined;
}

/** The zip file bytes for `records`, in order, with an optional archive comment (ASCII) in the end record. */
export function writeAlignedZip(records: readonly ZipRecord[], comment = ''): Uint8Array {
  const encoder = new TextEncoder();
  const placed: Placed[] = [];
  let offset = 0;
  for (const record of records) {
    const name = encoder.encode(record.name);
    const padding = paddingFor(offset, name.length);
    placed.push({ name, data: record.data, crc: crc32(record.data), headerOffset: offset, padding });
    offset += LOCAL_HEADER + name.length + PAD_FIELD_HEADER + padding + record.data.length;
  }
  const centralStart = offset;
  const centralSize = placed.reduce((s, p) => s + CENTRAL_HEADER + p.name.length, 0);
  const commentBytes = encoder.encode(comment);
  const total = centralStart + centralSize + END_RECORD + commentBytes.length;
  if (total > LIMIT || placed.length > 0xffff) throw new Error('torch zip: archive too large for a plain (non-zip64) zip');
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  for (const p of placed) {
    let at = p.headerOffset;
    view.setUint32(at, 0x04034b50, true);
    view.setUint16(at + 4, 20, true); // version needed
    view.setUint16(at + 6, 0, true); // flags
    view.setUint16(at + 8, 0, true); // stored
    view.setUint32(at + 10, 0, true); // DOS time/date: torch writes zeros too
    view.setUint32(at + 14, p.crc, true);
    view.setUint32(at + 18, p.data.length, true);
    view.setUint32(at + 22, p.data.length, true);
    view.setUint16(at + 26, p.name.length, true);
    view.setUint16(at + 28, PAD_FIELD_HEADER + p.padding, true);
    out.set(p.name, at + LOCAL_HEADER);
    at += LOCAL_HEADER + p.name.length;
    view.setUint16(at, PAD_FIELD_ID, true);
    view.setUint16(at + 2, p.padding, true);
    out.fill(0x5a, at + PAD_FIELD_HEADER, at + PAD_FIELD_HEADER + p.padding); // torch pads with 'Z'
    out.set(p.data, at + PAD_FIELD_HEADER + p.padding);
  }
  let at = centralStart;
  for (const p of placed) {
    view.setUint32(at, 0x02014b50, true);
    view.setUint16(at + 4, 20, true); // version made by
    view.setUint16(at + 6, 20, true); // version needed
    view.setUint16(at + 8, 0, true);
    view.setUint16(at + 10, 0, true);
    view.setUint32(at + 12, 0, true);
    view.setUint32(at + 16, p.crc, true);
    view.setUint32(at + 20, p.data.length, true);
    view.setUint32(at + 24, p.data.length, true);
    view.setUint16(at + 28, p.name.length, true);
    // extra 30, comment 32, disk 34, internal attrs 36, external attrs 38: all zero
    view.setUint32(at + 42, p.headerOffset, true);
    out.set(p.name, at + CENTRAL_HEADER);
    at += CENTRAL_HEADER + p.name.length;
  }
  view.setUint32(at, 0x06054b50, true);
  view.setUint16(at + 8, placed.length, true);
  view.setUint16(at + 10, placed.length, true);
  view.setUint32(at + 12, centralSize, true);
  view.setUint32(at + 16, centralStart, true);
  view.setUint16(at + 20, commentBytes.length, true);
  out.set(commentBytes, at + END_RECORD);
  return out;
}
