import sharp from 'sharp';
import { type FileOutputKind, type OutputOptions, readHead, writeOutputFile } from './output-path.js';
import { MNEXT_VERSION } from './package.js';

/**
 * The charts mnext draws (training curves, confusion matrices, latency plots) are SVG rendered to PNG by sharp,
 * with an XMP packet naming mnext as the CreatorTool: the signature by which a later run knows the PNG at its
 * output path is one it wrote (libvips stores it as a tEXt chunk before the image data).
 */

const CREATOR = 'mnext';
const XMP_KEYWORD = 'XML:com.adobe.xmp';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function xmpPacket(): string {
  return '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
    `<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="${CREATOR} ${MNEXT_VERSION}"/></rdf:RDF></x:xmpmeta>`;
}

/** The text of the PNG's XMP chunk (tEXt or iTXt before the first IDAT), if the bytes hold one. */
function pngXmp(bytes: Uint8Array): string | undefined {
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    if (type === 'IDAT') return undefined;
    const data = bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length));
    if ((type === 'tEXt' || type === 'iTXt') && latin1.decode(data.subarray(0, XMP_KEYWORD.length + 1)) === `${XMP_KEYWORD}\0`) return latin1.decode(data);
    at += 12 + length;
  }
  return undefined;
}

/** A PNG chart written by mnext (any of them: a chart may replace another chart). */
export const CHART_PNG: FileOutputKind = {
  type: 'file',
  description: 'PNG chart',
  recognise: (path) => pngXmp(readHead(path, 64 * 1024))?.includes(`xmp:CreatorTool="${CREATOR} `) === true,
};

/** Renders an SVG chart to a PNG signed as mnext's and writes it by the output rules (util/output-path.ts). */
export async function writeChartPng(path: string, svg: string, options: OutputOptions = {}): Promise<void> {
  const png = await sharp(Buffer.from(svg)).png().withXmp(xmpPacket()).toBuffer();
  writeOutputFile(path, CHART_PNG, png, options);
}
