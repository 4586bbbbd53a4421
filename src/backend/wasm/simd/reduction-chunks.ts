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
    x, dy, count === 1 ? dw : parts + k * size * 4, h, w, c, m, oh, ow, kh, kw, sh, sw, top, left, k * rows, Math.min(n * oh, (k + 1) * rows),
  ]);
  return { calls, count, size };
}
