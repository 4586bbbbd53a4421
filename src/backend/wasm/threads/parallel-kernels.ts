import type { SimdKernels } from '../simd/index.js';
import { type RunCalls, chunkedGradSums, chunkedMoments, filterGradCalls, weightGradCalls } from '../simd/reduction-chunks.js';
import { F32_BYTES as F32 } from '../heap.js';
import { type KernelPool, splitRange } from './pool.js';

/** Slices below this many multiply-adds (or element updates) are not worth a thread's wake-up. */
const MIN_GEMM_WORK = 1 << 17;
const MIN_ELEMENTS = 1 << 14;
const SLICES_PER_THREAD = 4;
/** Transposes split their source rows at the kernel's 32-row cache tiles. */
const TRANSPOSE_TILE = 32;

/**
 * The kernels with the parallel ones split across the pool's threads. Every split divides the outputs (GEMM
 * rows at 4-row tile boundaries or columns at 8-column ones, image rows, whole images, vector-aligned element
 * ranges), never a reduction, and each slice is computed exactly as the one-thread kernel computes those
 * outputs: results are bitwise the same on any thread count. The reductions (depthwise filter gradient, BN statistics and gradient sums) sum
 * fixed chunks of rows (planned from the shape alone, ../simd/reduction-chunks.ts) in parallel and add their
 * partials in chunk order.
 */
export function parallelKernels(one: SimdKernels, pool: KernelPool): SimdKernels {
  // A few slices per thread, so that a thread the OS runs late leaves little for the others to wait on.
  const parts = SLICES_PER_THREAD * pool.threads;
  // The BN sums' chunks (fixed by the shape, ../simd/reduction-chunks.ts), one slice each.
  const inPool: RunCalls = (kernel, calls) => pool.run(kernel, calls);
  return {
    ...one,
    gemm(a, b, c, rows, red, n, aRow, aRed) {
      if (rows < n) {
        // Few rows (a classifier's batch): split the columns, so that b streams through the caches once instead
        // of once per slice of rows.
        const minColumns = Math.max(8, Math.ceil(MIN_GEMM_WORK / Math.max(1, rows * red)));
        pool.run('gemm_columns', splitRange(n, parts, 8, minColumns).map(([n0, n1]) => [a, b, c, rows, red, n, aRow, aRed, n0, n1]));
        return;
      }
      const minRows = Math.max(4, Math.ceil(MIN_GEMM_WORK / Math.max(1, red * n)));
      const slices = splitRange(rows, parts, 4, minRows).map(([r0, r1]) => [
        a + r0 * aRow * F32, b, c + r0 * n * F32, r1 - r0, red, n, aRow, aRed,
      ]);
      pool.run('gemm', slices);
    },
    weightGrad(a, b, c, rows, red, n, parts) {
      // Fixed chunks of the reduction, one slice each, then their partials added in chunk order; one chunk is
      // the plain product, split as any GEMM.
      const { calls, count, size } = weightGradCalls(a, b, c, rows, red, n, parts);
      if (count === 1) {
        this.gemm(a, b, c, rows, red, n, 1, rows);
        return;
      }
      pool.run('gemm', calls);
      this.sumParts(parts, c, count, size);
    },
    transpose(src, dst, batch, rows, cols) {
      const slices = splitRange(rows, parts, TRANSPOSE_TILE, Math.ceil(MIN_ELEMENTS / Math.max(1, batch * cols))).map(([r0, r1]) => [src, dst, batch, rows, cols, r0, r1]);
      pool.run('transpose', slices);
    },
    im2col(x, cols, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left) {
      const perImage = oh * ow * kh * kw * c;
      const slices = splitRange(n, parts, 1, Math.ceil(MIN_ELEMENTS / Math.max(1, perImage))).map(([b0, b1]) => [
        x + b0 * h * w * c * F32, cols + b0 * perImage * F32, b1 - b0, h, w, c, oh, ow, kh, kw, sh, sw, top, left,
      ]);
      pool.run('im2col', slices);
    },
    depthwiseConv(x, filter, y, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left) {
      const slices = byRows(n * oh, ow * c, parts).map(([r0, r1]) => [x, filter, y, h, w, c, oh, ow, kh, kw, sh, sw, top, left, r0, r1]);
      pool.run('depthwise_conv', slices);
    },
    depthwiseInputGrad(dy, filter, dx, n, h, w, c, m, oh, ow, kh, kw, sh, sw, top, left) {
      const slices = splitRange(n, parts, 1, Math.ceil(MIN_ELEMENTS / Math.max(1, h * w * c))).map(([b0, b1]) => [
        dy + b0 * oh * ow * c * m * F32, filter, dx + b0 * h * w * c * F32, b1 - b0, h, w, c, m, oh, ow, kh, kw, sh, sw, top, left,
      ]);
      pool.run('depthwise_input_grad', slices);
    },
    depthwiseFilterGrad(...args) {
      // A reduction over the batch and the image: fixed chunks of rows (the same on any thread count), one
      // slice each, then their partials added in chunk order, split by elements.
      const { calls, count, size } = filterGradCalls(...(args as Parameters<typeof filterGradCalls>));
      pool.run('depthwise_filter_grad', calls);
      if (count > 1) this.sumParts(args[16], args[2], count, size);
    },
    sumParts(partials, out, count, size) {
      const slices = splitRange(size, parts, 4, Math.ceil(MIN_ELEMENTS / Math.max(1, count))).map(([i0, i1]) => [partials, out, count, size, i0, i1]);
      pool.run('sum_parts', slices);
    },
    channelMoments: (...args) => chunkedMoments(inPool, one.finishParts, ...args),
    bnGradSums: (...args) => chunkedGradSums(inPool, one.finishParts, ...args),
    channelAffine(x, y, rows, c, scale, shift, relu6) {
      const slices = byRows(rows, c, parts).map(([r0, r1]) => [x + r0 * c * F32, y + r0 * c * F32, r1 - r0, c, scale, shift, relu6]);
      pool.run('channel_affine', slices);
    },
    bnGradApply(dy, x, scale, shift, relu6, rows, c, kg, kx, k0, dx) {
      const at = (pointer: number, r0: number): number => pointer + r0 * c * F32;
      const slices = byRows(rows, c, parts).map(([r0, r1]) => [at(dy, r0), at(x, r0), scale, shift, relu6, r1 - r0, c, kg, kx, k0, at(dx, r0)]);
      pool.run('bn_grad_apply', slices);
    },
    sgdMomentum(p, g, b, pOut, bOut, count, lr, momentum, decay, nesterov) {
      const slices = splitRange(count, parts, 4, MIN_ELEMENTS).map(([i0, i1]) => {
        const at = (pointer: number): number => pointer + i0 * F32;
        return [at(p), at(g), at(b), at(pOut), at(bOut), i1 - i0, lr, momentum, decay, nesterov];
      });
      pool.run('sgd_momentum', slices);
    },
  };
}

function byRows(rows: number, c: number, parts: number): [number, number][] {
  return splitRange(rows, parts, 1, Math.ceil(MIN_ELEMENTS / Math.max(1, c)));
}
