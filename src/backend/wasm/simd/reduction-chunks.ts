import { F32_BYTES } from '../heap.js';

/** Chunks a reduction is split into at most: enough for 16 threads to share a couple each. */
const MAX_CHUNKS = 32;
/** Multiply-adds a chunk is worth at least: each chunk costs a zeroed partial and its share of the final sum. */
const MIN_CHUNK_WORK = 1 << 17;

/**
 * How the depthwise filter gradient splits its sum over the n*oh output rows: `count` chunks of `rows` rows
 * (the last may be shorter), each summed into its own partial, the partials then added in chunk order. The
 * plan depends on the shape alone, never on the thread count, so the result is bitwise the same on any number
 * of threads.
 */
export function filterGradChunks(n: number, oh: number, ow: number, c: number, m: number, kh: number, kw: number): { rows: number; count: number } {
  const total = n * oh;
  const perRow = Math.max(1, ow * c * m * kh * kw);
  const rows = Math.max(1, Math.ceil(total / MAX_CHUNKS), Math.ceil(MIN_CHUNK_WORK / perRow));
  return { rows, count: Math.ceil(total / rows) };
}

/**
 * The depthwise_filter_grad calls (argument lists, pointers in bytes) of a filter gradient split as planned:
 * one per chunk into its partial in `parts`, or, with one chunk, a single call straight into `dw`.
 */
export function filterGradCalls(
  x: number, dy: number, dw: number, n: number, h: number, w: number, c: number, m: number, oh: number, ow: number,
  kh: number, kw: number, sh: number, sw: number, top: number, left: number, parts: number,
): { calls: number[][]; count: number; size: number } {
  const { rows, count } = filterGradChunks(n, oh, ow, c, m, kh, kw);
  const size = kh * kw * c * m;
  const calls = Array.from({ length: count }, (_, k) => [
    x, dy, count === 1 ? dw : parts + k * size * F32_BYTES, h, w, c, m, oh, ow, kh, kw, sh, sw, top, left, k * rows, Math.min(n * oh, (k + 1) * rows),
  ]);
  return { calls, count, size };
}

/** Reduction rows per block of kernels.c's gemm (RED_BLOCK): weight-gradient chunks start on these boundaries. */
const GEMM_RED_BLOCK = 128;

/** A weight gradient's partials may cost at most this share of what its GEMMs stream (the fraction's inverse). */
const PARTIALS_SHARE = 64;
/** Fewer chunks than this would leave threads idle: such a gradient is one product, split as any GEMM. */
const MIN_WEIGHT_GRAD_CHUNKS = 4;

/**
 * How a weight gradient c[rows, n] = aᵀ·b (a [red, rows], b [red, n], a conv's patches and output gradients)
 * splits its sum over the red rows: `count` chunks of `length` rows (the last may be shorter), each a GEMM into
 * its own partial, the partials then added in chunk order. Threads share the chunks, each streaming its rows of
 * a and b once, where splitting c's rows or columns has every thread stream all of b or all of a: that is what
 * a long reduction over a few channels (early layers, whose inputs outgrow the caches) needs. A partial costs a
 * write and a read of rows·n floats, so a short reduction into a large c stays one product. From the shape
 * alone, so bitwise the same on any number of threads.
 */
export function weightGradChunks(rows: number, red: number, n: number): { length: number; count: number } {
  const size = Math.max(1, rows * n);
  const blocks = Math.max(1, Math.ceil(red / GEMM_RED_BLOCK));
  const wanted = Math.min(MAX_CHUNKS, blocks, Math.floor((red * (rows + n)) / (PARTIALS_SHARE * size)), Math.floor((red * size) / MIN_CHUNK_WORK));
  if (wanted < MIN_WEIGHT_GRAD_CHUNKS) return { length: Math.max(1, red), count: 1 };
  const length = GEMM_RED_BLOCK * Math.ceil(blocks / wanted);
  return { length, count: Math.ceil(red / length) };
}

/**
 * The gemm calls (argument lists, pointers in bytes) of a weight gradient split as planned: one per chunk into
 * its partial in `parts`, or, with one chunk, a single call straight into `c`.
 */
export function weightGradCalls(a: number, b: number, c: number, rows: number, red: number, n: number, parts: number): { calls: number[][]; count: number; size: number } {
  const { length, count } = weightGradChunks(rows, red, n);
  const size = rows * n;
  const calls = Array.from({ length: count }, (_, k) => {
    const j0 = k * length;
    return [a + j0 * rows * F32_BYTES, b + j0 * n * F32_BYTES, count === 1 ? c : parts + k * size * F32_BYTES, rows, Math.min(red, j0 + length) - j0, n, 1, rows];
  });
  return { calls, count, size };
}

/** Rows per float block of kernels.c's channel sums: chunks start on these boundaries. */
const STAT_BLOCK = 64;
const F64 = 8;

/**
 * The [start, end) row ranges the BN statistics and gradient sums over x [rows, c] are chunked into: whole
 * STAT_BLOCKs, at most MAX_CHUNKS of them, none under MIN_CHUNK_WORK elements (bar the last), from the shape alone.
 */
export function statRanges(rows: number, c: number): [number, number][] {
  const blocks = Math.ceil(rows / STAT_BLOCK);
  const perChunk = STAT_BLOCK * Math.max(1, Math.ceil(blocks / MAX_CHUNKS), Math.ceil(MIN_CHUNK_WORK / (STAT_BLOCK * Math.max(1, c))));
  const ranges: [number, number][] = [];
  for (let start = 0; start < rows; start += perChunk) ranges.push([start, Math.min(rows, start + perChunk)]);
  return ranges.length > 0 ? ranges : [[0, rows]];
}

/**
 * Scratch the BN sums need over x [rows, c], in doubles: per chunk, two c-channel double partials, then (after
 * every chunk's partials) 2·c floats for the chunk's float block sums.
 */
export function statScratchDoubles(rows: number, c: number): number {
  return statRanges(rows, c).length * 3 * c;
}

/** Byte offset in the scratch at `acc` of chunk k's float block sums (2·c floats), `chunks` chunks in all. */
function blockScratch(acc: number, chunks: number, c: number, k: number): number {
  return acc + chunks * 2 * c * F64 + k * 2 * c * F32_BYTES;
}

/** Runs a kernel once per argument list: in order on one thread, or as the slices of one pool call. */
export type RunCalls = (kernel: 'channel_sum_part' | 'bn_grad_sum_part', calls: number[][]) => void;
/** kernels.c's finish_parts (one thread: it adds at most MAX_CHUNKS partials per channel). */
export type FinishParts = (parts: number, count: number, stride: number, c: number, divisor: number, out: number) => void;

/** mean[c] and biased variance[c] of x [rows, c]: chunked sums of x, then of (x − mean)² (`acc`: scratch). */
export function chunkedMoments(run: RunCalls, finish: FinishParts, x: number, rows: number, c: number, acc: number, mean: number, variance: number): void {
  const ranges = statRanges(rows, c);
  for (const [power, centre, out] of [[1, 0, mean], [2, mean, variance]]) {
    run('channel_sum_part', ranges.map(([r0, r1], k) => [x, c, centre, power, acc + k * c * F64, blockScratch(acc, ranges.length, c, k), r0, r1]));
    finish(acc, ranges.length, c, c, rows, out);
  }
}

/** BN's backward sums Σg and Σg·(x − mean) per channel, chunked (`acc`: scratch). */
export function chunkedGradSums(
  run: RunCalls, finish: FinishParts, dy: number, x: number, scale: number, shift: number, relu6: number, rows: number,
  c: number, mean: number, acc: number, sumG: number, sumGc: number,
): void {
  const ranges = statRanges(rows, c);
  run('bn_grad_sum_part', ranges.map(([r0, r1], k) => [dy, x, scale, shift, relu6, c, mean, acc + k * 2 * c * F64, blockScratch(acc, ranges.length, c, k), r0, r1]));
  finish(acc, ranges.length, 2 * c, c, 1, sumG);
  finish(acc + c * F64, ranges.length, 2 * c, c, 1, sumGc);
}
