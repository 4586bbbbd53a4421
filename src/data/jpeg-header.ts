/**
 * The few JPEG header fields the loader needs (size, components, precision, EXIF orientation, ICC and Adobe
 * markers), read in JS from the marker segments before the scan. A training image would otherwise cost a whole
 * extra sharp call (a libvips image and a thread-pool round trip) just to learn its size. Anything unusual makes
 * the parse give up (undefined) rather than guess; the caller then asks sharp.
 */

export interface JpegHeader {
  width: number;
  height: number;
  components: number;
  /** Bits per sample (8 for ordinary JPEGs, 12 for some medical/scientific files). */
  precision: number;
  /** EXIF orientation 1..8 (1 when there is no EXIF orientation tag). */
  orientation: number;
  /** An ICC_PROFILE APP2 segment is present. */
  hasIccProfile: boolean;
  /** An Adobe APP14 segment is present (colour transform flags for RGB/CMYK/YCCK files). */
  hasAdobeMarker: boolean;
}

const SOI = 0xd8;
const SOS = 0xda;
const EOI = 0xd9;
const APP1 = 0xe1;
const APP2 = 0xe2;
const APP14 = 0xee;
/** Huffman-coded baseline, extended sequential and progressive frames: what libjpeg decodes everywhere. */
const SUPPORTED_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
/** Every other start-of-frame marker (lossless, hierarchical, arithmetic): leave those to sharp. */
const OTHER_FRAMES = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const ORIENTATION_TAG = 0x0112;
const TIFF_SHORT = 3;

function startsWith(bytes: Uint8Array, offset: number, text: string): boolean {
  if (offset + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i += 1) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The orientation tag of IFD0 in an APP1 Exif payload; undefined when the block cannot be read. */
function exifOrientation(bytes: Uint8Array, start: number, end: number): number | undefined {
  const tiff = start + 6;
  if (tiff + 8 > end) return undefined;
  const little = bytes[tiff] === 0x49 && bytes[tiff + 1] === 0x49;
  const big = bytes[tiff] === 0x4d && bytes[tiff + 1] === 0x4d;
  if (!little && !big) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(tiff + 2, little) !== 42) return undefined;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > end) return undefined;
  const count = view.getUint16(ifd, little);
  if (ifd + 2 + count * 12 > end) return undefined;
  for (let entry = ifd + 2; entry < ifd + 2 + count * 12; entry += 12) {
    if (view.getUint16(entry, little) !== ORIENTATION_TAG) continue;
    if (view.getUint16(entry + 2, little) !== TIFF_SHORT || view.getUint32(entry + 4, little) !== 1) return undefined;
    const value = view.getUint16(entry + 8, little);
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return 1;
}

/** Walks the marker segments up to the first scan. Undefined when this is not a JPEG this parser fully reads. */
export function parseJpegHeader(bytes: Uint8Array): JpegHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return undefined;
  let frame: Pick<JpegHeader, 'width' | 'height' | 'components' | 'precision'> | undefined;
  let orientation: number | undefined = 1;
  let exifBlocks = 0;
  let hasIccProfile = false;
  let hasAdobeMarker = false;
  let pos = 2;
  for (;;) {
    if (pos >= bytes.length || bytes[pos] !== 0xff) return undefined;
    while (pos < bytes.length && bytes[pos] === 0xff) pos += 1;
    if (pos + 2 >= bytes.length) return undefined;
    const marker = bytes[pos];
    if (marker === SOS) break;
    if (marker === EOI || marker === SOI) return undefined;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { pos += 1; continue; }
    const length = (bytes[pos + 1] << 8) | bytes[pos + 2];
    const start = pos + 3;
    const end = pos + 1 + length;
    if (length < 2 || end > bytes.length) return undefined;
    if (SUPPORTED_FRAMES.has(marker)) {
      if (frame !== undefined || length < 8) return undefined;
      frame = {
        precision: bytes[start],
        height: (bytes[start + 1] << 8) | bytes[start + 2],
        width: (bytes[start + 3] << 8) | bytes[start + 4],
        components: bytes[start + 5],
      };
    } else if (OTHER_FRAMES.has(marker)) {
      return undefined;
    } else if (marker === APP1 && startsWith(bytes, start, 'Exif\0\0')) {
      exifBlocks += 1;
      orientation = exifOrientation(bytes, start, end);
    } else if (marker === APP2 && startsWith(bytes, start, 'ICC_PROFILE\0')) {
      hasIccProfile = true;
    } else if (marker === APP14 && startsWith(bytes, start, 'Adobe')) {
      hasAdobeMarker = true;
    }
    pos = end;
  }
  // A frame without a height (set later by a DNL marker), or EXIF the parser could not read (or more than one
  // block, where readers may disagree on which counts): let sharp decide.
  if (frame === undefined || frame.width === 0 || frame.height === 0 || orientation === undefined || exifBlocks > 1) return undefined;
  return { ...frame, orientation, hasIccProfile, hasAdobeMarker };
}
