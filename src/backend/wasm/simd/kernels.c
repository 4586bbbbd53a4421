// Training kernels tfjs-backend-wasm lacks or runs on scalar paths, as WebAssembly SIMD (128-bit) loops.
//
// Built by scripts/build-wasm-kernels.sh (clang --target=wasm32 -msimd128) into a module that IMPORTS the
// tfjs wasm backend's own memory: every pointer below is an offset into that heap (a tensor's data, or a
// buffer the caller allocated through the backend), so kernels read and write tensors in place, with no
// copies. For that to be safe the module must own no memory of its own: no static data, no globals, no
// address-taken locals (no shadow stack). The build script checks the module has no data segments and never
// touches the stack pointer.
//
// Layouts are tfjs's: NHWC activations, HWIO conv filters, HW(C*M) depthwise filters, row-major matrices.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

typedef float f32;

static inline v128_t load4(const f32 *p) { return wasm_v128_load(p); }
static inline void store4(f32 *p, v128_t v) { wasm_v128_store(p, v); }
static inline v128_t splat(f32 v) { return wasm_f32x4_splat(v); }
static inline v128_t madd(v128_t acc, v128_t a, v128_t b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

static void zero(f32 *p, int count) {
  for (int i = 0; i < count; i++) p[i] = 0.0f;
}

// ---------------------------------------------------------------------------------------------------------
// Transpose of the last two axes: src [batch, rows, cols] -> dst [batch, cols, rows], in 4x4 register tiles
// inside 32x32 cache tiles. Source rows [row0, row1) of each matrix only (dst columns [row0, row1)), so threads
// may split the rows.

static void transpose_tile4(const f32 *src, f32 *dst, int rows, int cols, int r, int c) {
  v128_t a = load4(src + (r + 0) * cols + c);
  v128_t b = load4(src + (r + 1) * cols + c);
  v128_t e = load4(src + (r + 2) * cols + c);
  v128_t d = load4(src + (r + 3) * cols + c);
  v128_t ab_lo = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);
  v128_t ab_hi = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
  v128_t ed_lo = wasm_i32x4_shuffle(e, d, 0, 4, 1, 5);
  v128_t ed_hi = wasm_i32x4_shuffle(e, d, 2, 6, 3, 7);
  store4(dst + (c + 0) * rows + r, wasm_i32x4_shuffle(ab_lo, ed_lo, 0, 1, 4, 5));
  store4(dst + (c + 1) * rows + r, wasm_i32x4_shuffle(ab_lo, ed_lo, 2, 3, 6, 7));
  store4(dst + (c + 2) * rows + r, wasm_i32x4_shuffle(ab_hi, ed_hi, 0, 1, 4, 5));
  store4(dst + (c + 3) * rows + r, wasm_i32x4_shuffle(ab_hi, ed_hi, 2, 3, 6, 7));
}

EXPORT(transpose)
void transpose(const f32 *src, f32 *dst, int batch, int rows, int cols, int row0, int row1) {
  const int tile = 32;
  for (int b = 0; b < batch; b++) {
    const f32 *s = src + b * rows * cols;
    f32 *d = dst + b * rows * cols;
    for (int r0 = row0; r0 < row1; r0 += tile) {
      int r1 = r0 + tile < row1 ? r0 + tile : row1;
      for (int c0 = 0; c0 < cols; c0 += tile) {
        int c1 = c0 + tile < cols ? c0 + tile : cols;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
          int c = c0;
          for (; c + 4 <= c1; c += 4) transpose_tile4(s, d, rows, cols, r, c);
          for (; c < c1; c++) {
            for (int i = 0; i < 4; i++) d[c * rows + r + i] = s[(r + i) * cols + c];
          }
        }
        for (; r < r1; r++) {
          for (int c = c0; c < c1; c++) d[c * rows + r] = s[r * cols + c];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Patch matrix for a conv's filter gradient: cols [N*OH*OW, KH*KW*C], row r = the receptive field of output
// pixel r in HWC order (zeros over the padding), so patches^T . dY reshapes straight to an HWIO filter.

EXPORT(im2col)
void im2col(const f32 *x, f32 *cols, int n, int h, int w, int c, int oh, int ow, int kh, int kw, int sh, int sw,
            int top, int left) {
  const int patch = kh * kw * c;
  f32 *dst = cols;
  for (int b = 0; b < n; b++) {
    for (int y = 0; y < oh; y++) {
      for (int xo = 0; xo < ow; xo++, dst += patch) {
        for (int fh = 0; fh < kh; fh++) {
          const int ih = y * sh - top + fh;
          for (int fw = 0; fw < kw; fw++) {
            const int iw = xo * sw - left + fw;
            f32 *to = dst + (fh * kw + fw) * c;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
              zero(to, c);
            } else {
              const f32 *from = x + ((b * h + ih) * w + iw) * c;
              for (int i = 0; i < c; i++) to[i] = from[i];
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// c[I, N] = sum over j of A(i, j) * b[j, N], A(i, j) = a[i * a_row + j * a_red]: with (a_row, a_red) = (K, 1)
// a plain row-major product a[I, J] . b; with (1, I) the product a^T . b for a stored [J, I] (a conv's weight
// gradient: inputs^T . output gradients) without materialising the transpose. No packing step (XNNPACK packs
// its right operand on every call, and training changes the weights every step). The reduction is walked in
// blocks so the block of a and b stays in cache while every 4x8 tile of c accumulates in registers.

#define RED_BLOCK 128
#define ROW_BLOCK 64

typedef struct {
  const f32 *a;
  const f32 *b;
  f32 *c;
  int n, a_row, a_red;
} Gemm;

// The 4x8 tile that does nearly all of the arithmetic, imported from gemm-tile.wat.in: with relaxed SIMD's fused
// multiply-add where the engine has it, else baseline SIMD (the caller instantiates this module with either).
__attribute__((import_module("mnext"), import_name("gemm_tile4x8")))
void gemm_tile4x8_imported(const f32 *a, const f32 *b, f32 *c, int n, int a_row, int a_red, int j0, int j1, int fresh);

static void gemm_tile4x8(Gemm g, int j0, int j1, int i0, int n0) {
  // The first reduction block starts from zero instead of a zeroed c: one less pass over c.
  gemm_tile4x8_imported(g.a + i0 * g.a_row, g.b + n0, g.c + i0 * g.n + n0, g.n, g.a_row, g.a_red, j0, j1, j0 == 0);
}

static void gemm_row1x4(Gemm g, int j0, int j1, int i, int n0) {
  f32 *ci = g.c + i * g.n + n0;
  v128_t acc = j0 == 0 ? splat(0.0f) : load4(ci);
  for (int j = j0; j < j1; j++) acc = madd(acc, splat(g.a[i * g.a_row + j * g.a_red]), load4(g.b + j * g.n + n0));
  store4(ci, acc);
}

static void gemm_scalar(Gemm g, int j0, int j1, int i, int n0, int n1) {
  for (int col = n0; col < n1; col++) {
    f32 acc = j0 == 0 ? 0.0f : g.c[i * g.n + col];
    for (int j = j0; j < j1; j++) acc += g.a[i * g.a_row + j * g.a_red] * g.b[j * g.n + col];
    g.c[i * g.n + col] = acc;
  }
}

// Columns [col0, col1) of c: col0 a multiple of 8, col1 a multiple of 8 or n. Each element is computed exactly
// as the whole product computes it (the same tile or row path, the same reduction order), so a product split
// into column ranges, as threads split one with few rows, gives bitwise the whole product.
EXPORT(gemm_columns)
void gemm_columns(const f32 *a, const f32 *b, f32 *c, int rows, int red, int n, int a_row, int a_red, int col0, int col1) {
  const Gemm g = {a, b, c, n, a_row, a_red};
  if (red == 0) {
    for (int i = 0; i < rows; i++) zero(c + i * n + col0, col1 - col0);
  }
  const int i4 = rows & ~3;
  const int n8 = col1 == n ? n & ~7 : col1, n4 = col1 == n ? n & ~3 : col1;
  // Row blocks outermost: a block's rows of a and c stay in cache across the reduction blocks, where walking
  // every row per reduction block streamed all of c once per block (and a's rows once per block, line by line).
  for (int r0 = 0; r0 < i4; r0 += ROW_BLOCK) {
    const int r1 = r0 + ROW_BLOCK < i4 ? r0 + ROW_BLOCK : i4;
    for (int j0 = 0; j0 < red; j0 += RED_BLOCK) {
      const int j1 = j0 + RED_BLOCK < red ? j0 + RED_BLOCK : red;
      for (int i0 = r0; i0 < r1; i0 += 4) {
        for (int n0 = col0; n0 < n8; n0 += 8) gemm_tile4x8(g, j0, j1, i0, n0);
      }
    }
  }
  for (int j0 = 0; j0 < red; j0 += RED_BLOCK) {
    const int j1 = j0 + RED_BLOCK < red ? j0 + RED_BLOCK : red;
    for (int i = 0; i < rows; i++) {
      for (int n0 = i < i4 ? n8 : col0; n0 < n4; n0 += 4) gemm_row1x4(g, j0, j1, i, n0);
      gemm_scalar(g, j0, j1, i, n4, col1);
    }
  }
}

EXPORT(gemm)
void gemm(const f32 *a, const f32 *b, f32 *c, int rows, int red, int n, int a_row, int a_red) {
  gemm_columns(a, b, c, rows, red, n, a_row, a_red, 0, n);
}

// ---------------------------------------------------------------------------------------------------------
// Depthwise conv filter gradient: dw[fh, fw, ch*m + q] = sum over (b, y, xo) of
// x[b, y*sh - top + fh, xo*sw - left + fw, ch] * dy[b, y, xo, ch*m + q].
// Multiplier 1 (every MobileNet-style network): per output row, each tap's 4-channel accumulators live in a
// register across the row, so the filter sees one add per row and tap (short float sums stay accurate).

static int first_valid(int pad_before, int tap, int stride) {
  // Smallest output index o >= 0 with o*stride - pad_before + tap >= 0.
  int need = pad_before - tap;
  return need <= 0 ? 0 : (need + stride - 1) / stride;
}

static int end_valid(int size, int pad_before, int tap, int stride, int out) {
  // One past the largest o < out with o*stride - pad_before + tap <= size - 1.
  int limit = size - 1 + pad_before - tap;
  if (limit < 0) return 0;
  int e = limit / stride + 1;
  return e < out ? e : out;
}

static void dw_filter_grad_row(const f32 *xrow, const f32 *dyrow, f32 *dw, int w, int c, int ow, int kw, int sw,
                               int left, int fh) {
  const int c16 = c & ~15, c4 = c & ~3;
  // 16 channels at a time in four independent accumulators (one chain of dependent multiply-adds waited on
  // their latency), every filter column of a 16-channel block before the next block: the block's 64-byte lines
  // of the two rows stay in L1 across the columns.
  for (int ch = 0; ch < c16; ch += 16) {
    for (int fw = 0; fw < kw; fw++) {
      const int lo = first_valid(left, fw, sw), hi = end_valid(w, left, fw, sw, ow);
      f32 *tap = dw + (fh * kw + fw) * c + ch;
      v128_t a0 = splat(0.0f), a1 = splat(0.0f), a2 = splat(0.0f), a3 = splat(0.0f);
      for (int xo = lo; xo < hi; xo++) {
        const f32 *xp = xrow + (xo * sw - left + fw) * c + ch, *dp = dyrow + xo * c + ch;
        a0 = madd(a0, load4(xp), load4(dp));
        a1 = madd(a1, load4(xp + 4), load4(dp + 4));
        a2 = madd(a2, load4(xp + 8), load4(dp + 8));
        a3 = madd(a3, load4(xp + 12), load4(dp + 12));
      }
      store4(tap, wasm_f32x4_add(load4(tap), a0));
      store4(tap + 4, wasm_f32x4_add(load4(tap + 4), a1));
      store4(tap + 8, wasm_f32x4_add(load4(tap + 8), a2));
      store4(tap + 12, wasm_f32x4_add(load4(tap + 12), a3));
    }
  }
  for (int fw = 0; fw < kw; fw++) {
    const int lo = first_valid(left, fw, sw), hi = end_valid(w, left, fw, sw, ow);
    f32 *tap = dw + (fh * kw + fw) * c;
    for (int ch = c16; ch < c4; ch += 4) {
      v128_t acc = splat(0.0f);
      for (int xo = lo; xo < hi; xo++) acc = madd(acc, load4(xrow + (xo * sw - left + fw) * c + ch), load4(dyrow + xo * c + ch));
      store4(tap + ch, wasm_f32x4_add(load4(tap + ch), acc));
    }
    for (int ch = c4; ch < c; ch++) {
      f32 acc = 0.0f;
      for (int xo = lo; xo < hi; xo++) acc += xrow[(xo * sw - left + fw) * c + ch] * dyrow[xo * c + ch];
      tap[ch] += acc;
    }
  }
}

static void dw_filter_grad_row_multiplier(const f32 *xrow, const f32 *dyrow, f32 *dw, int w, int c, int m, int ow,
                                          int kw, int sw, int left, int fh) {
  const int cm = c * m;
  for (int fw = 0; fw < kw; fw++) {
    const int lo = first_valid(left, fw, sw), hi = end_valid(w, left, fw, sw, ow);
    f32 *tap = dw + (fh * kw + fw) * cm;
    for (int xo = lo; xo < hi; xo++) {
      const f32 *xs = xrow + (xo * sw - left + fw) * c;
      const f32 *dys = dyrow + xo * cm;
      for (int ch = 0; ch < c; ch++) {
        for (int q = 0; q < m; q++) tap[ch * m + q] += xs[ch] * dys[ch * m + q];
      }
    }
  }
}

// Depthwise conv input gradient: dx[b, ih, iw, ch] = sum over taps and q of dy[b, y, xo, ch*m + q] * w[fh, fw, ch, q]
// with ih = y*sh - top + fh, iw = xo*sw - left + fw: each dy row scattered into the dx rows it reaches, channels
// innermost (contiguous in NHWC), any stride and padding in one pass with no zero-inserted copy of dy. (A gather
// form, each dx pixel summing its taps in registers, measured slower: the tap bounds checks sit in the inner loop.)

static void dw_input_grad_row(const f32 *dyrow, const f32 *wrow, f32 *dxrow, int w, int c, int ow, int kw, int sw,
                              int left) {
  const int c4 = c & ~3;
  for (int fw = 0; fw < kw; fw++) {
    const int lo = first_valid(left, fw, sw), hi = end_valid(w, left, fw, sw, ow);
    const f32 *tap = wrow + fw * c;
    for (int xo = lo; xo < hi; xo++) {
      f32 *to = dxrow + (xo * sw - left + fw) * c;
      const f32 *from = dyrow + xo * c;
      for (int ch = 0; ch < c4; ch += 4) store4(to + ch, madd(load4(to + ch), load4(from + ch), load4(tap + ch)));
      for (int ch = c4; ch < c; ch++) to[ch] += from[ch] * tap[ch];
    }
  }
}

static void dw_input_grad_row_multiplier(const f32 *dyrow, const f32 *wrow, f32 *dxrow, int w, int c, int m, int ow,
                                         int kw, int sw, int left) {
  const int cm = c * m;
  for (int fw = 0; fw < kw; fw++) {
    const int lo = first_valid(left, fw, sw), hi = end_valid(w, left, fw, sw, ow);
    const f32 *tap = wrow + fw * cm;
    for (int xo = lo; xo < hi; xo++) {
      f32 *to = dxrow + (xo * sw - left + fw) * c;
      const f32 *from = dyrow + xo * cm;
      for (int ch = 0; ch < c; ch++) {
        f32 sum = 0.0f;
        for (int q = 0; q < m; q++) sum += from[ch * m + q] * tap[ch * m + q];
        to[ch] += sum;
      }
    }
  }
}

// The depthwise backward passes walk the same rows: every (output row of [row0, row1) of the n*oh, filter row)
// whose input row is inside the image, handing the two rows to the per-row kernel of the pass.
typedef enum { FILTER_GRAD, INPUT_GRAD } DepthwisePass;

static void depthwise_backward(DepthwisePass pass, const f32 *dy, const f32 *operand, f32 *out, int h, int w, int c,
                               int m, int oh, int ow, int kh, int kw, int sh, int sw, int top, int left, int row0,
                               int row1) {
  for (int r = row0; r < row1; r++) {
    const int b = r / oh, y = r % oh;
    const f32 *dyrow = dy + r * ow * c * m;
    for (int fh = 0; fh < kh; fh++) {
      const int ih = y * sh - top + fh;
      if (ih < 0 || ih >= h) continue;
      const int row = (b * h + ih) * w * c;
      if (pass == FILTER_GRAD) {
        // operand = x, out = dw
        if (m == 1) dw_filter_grad_row(operand + row, dyrow, out, w, c, ow, kw, sw, left, fh);
        else dw_filter_grad_row_multiplier(operand + row, dyrow, out, w, c, m, ow, kw, sw, left, fh);
      } else {
        // operand = the filter, out = dx
        const f32 *wrow = operand + fh * kw * c * m;
        if (m == 1) dw_input_grad_row(dyrow, wrow, out + row, w, c, ow, kw, sw, left);
        else dw_input_grad_row_multiplier(dyrow, wrow, out + row, w, c, m, ow, kw, sw, left);
      }
    }
  }
}

// Depthwise conv forward, multiplier 1: y[b, yo, xo, ch] = sum over the taps (fh, fw) inside the image of
// x[b, yo*sh - top + fh, xo*sw - left + fw, ch] * w[fh, fw, ch]. Each output sums its taps in (fh, fw) order
// in a register; 16 channels at a time, in four independent accumulators (one chain of dependent adds would
// wait on the adder's latency), then 4, then one. The tap ranges are clipped per output row and column, so the
// inner loops carry no bounds checks. Output rows [row0, row1) of the n*oh rows only: every output is computed
// the same whichever range holds it, so threads may split the rows. (XNNPACK's depthwise operator packs its
// filter when created, and training brings a new filter every step.)

static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline int min_int(int a, int b) { return a < b ? a : b; }

// One output of a depthwise pass that sums the products of input values and filter taps (the forward and the
// input gradient), over channels [ch0, c) (ch0 a multiple of 4): the filter rows fh_first, fh_first + fh_dir,
// ... (fh_count of them), each over the filter columns [fw0, fw1) ascending, the input value of tap (fh, fw) at
// data[origin + fh * row_step + fw * col_step]; each sum from zero in that order, 16 channels at a time in four
// independent accumulators (one chain of dependent adds would wait on the adder's latency), then 4, then one.
// Only taps inside the input are listed, so the loops carry no bounds checks.
static void dw_tap_sums(const f32 *data, int origin, int row_step, int col_step, const f32 *filter, int kw, int c, f32 *out,
                        int fh_first, int fh_count, int fh_dir, int fw0, int fw1, int ch0) {
  const int c16 = c & ~15, c4 = c & ~3;
  int ch = ch0;
  for (; ch < c16; ch += 16) {
    v128_t a0 = splat(0.0f), a1 = splat(0.0f), a2 = splat(0.0f), a3 = splat(0.0f);
    for (int k = 0, fh = fh_first; k < fh_count; k++, fh += fh_dir) {
      for (int fw = fw0; fw < fw1; fw++) {
        const f32 *xp = data + (origin + fh * row_step + fw * col_step + ch);
        const f32 *wp = filter + (fh * kw + fw) * c + ch;
        a0 = madd(a0, load4(xp), load4(wp));
        a1 = madd(a1, load4(xp + 4), load4(wp + 4));
        a2 = madd(a2, load4(xp + 8), load4(wp + 8));
        a3 = madd(a3, load4(xp + 12), load4(wp + 12));
      }
    }
    store4(out + ch, a0);
    store4(out + ch + 4, a1);
    store4(out + ch + 8, a2);
    store4(out + ch + 12, a3);
  }
  for (; ch < c4; ch += 4) {
    v128_t acc = splat(0.0f);
    for (int k = 0, fh = fh_first; k < fh_count; k++, fh += fh_dir) {
      for (int fw = fw0; fw < fw1; fw++) acc = madd(acc, load4(data + (origin + fh * row_step + fw * col_step + ch)), load4(filter + (fh * kw + fw) * c + ch));
    }
    store4(out + ch, acc);
  }
  for (; ch < c; ch++) {
    f32 acc = 0.0f;
    for (int k = 0, fh = fh_first; k < fh_count; k++, fh += fh_dir) {
      for (int fw = fw0; fw < fw1; fw++) acc += data[origin + fh * row_step + fw * col_step + ch] * filter[(fh * kw + fw) * c + ch];
    }
    out[ch] = acc;
  }
}

// The forward's output at origin (the offset in ximg of the filter's top-left tap, which may lie outside the
// image: only taps [fh0, fh1) x [fw0, fw1) are read, all inside), channels [ch0, c).
static void dw_conv_pixel_channels(const f32 *ximg, int origin, const f32 *filter, f32 *out, int w, int c, int kw, int fh0,
                                   int fh1, int fw0, int fw1, int ch0) {
  dw_tap_sums(ximg, origin, w * c, c, filter, kw, c, out, fh0, fh1 - fh0, 1, fw0, fw1, ch0);
}

// A row of 3x3 outputs whose nine taps are all inside the input (the forward's and the input gradient's
// interiors), channels [0, c4): 4 channels at a time with their nine filter taps held in registers while the
// row is walked, so each multiply-add loads only its input (dw_tap_sums loads the tap too). Output i is at
// out0 + i * c and reads tap (fh, fw) at p0 + i * pixel_step + fh * row_step + fw * col_step; it sums the filter
// rows in order 0, 1, 2 (fh_dir 1) or 2, 1, 0 (fh_dir -1), each row's columns ascending, from zero: the values
// dw_tap_sums gives. Consecutive outputs are independent chains, which the CPU overlaps.
static void dw3x3_interior_row(const f32 *p0, int pixel_step, int row_step, int col_step, const f32 *filter, int c, int c4,
                               int fh_dir, f32 *out0, int count) {
  const int first = fh_dir > 0 ? 0 : 2, last = 2 - first;
  const int o0 = first * row_step, o1 = row_step, o2 = last * row_step;
  for (int ch = 0; ch < c4; ch += 4) {
    const f32 *f = filter + ch;
    const v128_t a0 = load4(f + 3 * first * c), a1 = load4(f + (3 * first + 1) * c), a2 = load4(f + (3 * first + 2) * c);
    const v128_t b0 = load4(f + 3 * c), b1 = load4(f + 4 * c), b2 = load4(f + 5 * c);
    const v128_t e0 = load4(f + 3 * last * c), e1 = load4(f + (3 * last + 1) * c), e2 = load4(f + (3 * last + 2) * c);
    const f32 *p = p0 + ch;
    f32 *o = out0 + ch;
    for (int i = 0; i < count; i++, p += pixel_step, o += c) {
      v128_t acc = splat(0.0f);
      acc = madd(acc, load4(p + o0), a0);
      acc = madd(acc, load4(p + o0 + col_step), a1);
      acc = madd(acc, load4(p + o0 + 2 * col_step), a2);
      acc = madd(acc, load4(p + o1), b0);
      acc = madd(acc, load4(p + o1 + col_step), b1);
      acc = madd(acc, load4(p + o1 + 2 * col_step), b2);
      acc = madd(acc, load4(p + o2), e0);
      acc = madd(acc, load4(p + o2 + col_step), e1);
      acc = madd(acc, load4(p + o2 + 2 * col_step), e2);
      store4(o, acc);
    }
  }
}

EXPORT(depthwise_conv)
void depthwise_conv(const f32 *x, const f32 *filter, f32 *y, int h, int w, int c, int oh, int ow, int kh, int kw, int sh,
                    int sw, int top, int left, int row0, int row1) {
  const int c4 = c & ~3;
  // Output columns whose windows lie inside the image's columns: [xin0, xin1).
  const int last = w - kw + left;  // the last window start inside the image, in padded coordinates
  const int xin0 = min_int(ow, (left + sw - 1) / sw), xin1 = last < 0 ? xin0 : max_int(xin0, min_int(ow, last / sw + 1));
  for (int row = row0; row < row1; row++) {
    const int b = row / oh, ih0 = (row % oh) * sh - top;
    const int fh0 = max_int(0, -ih0), fh1 = min_int(kh, h - ih0);
    const f32 *ximg = x + b * h * w * c;
    f32 *yrow = y + row * ow * c;
    const int interior = kh == 3 && kw == 3 && fh0 == 0 && fh1 == 3 && c4 > 0;
    if (interior) {
      dw3x3_interior_row(ximg + (ih0 * w + xin0 * sw - left) * c, sw * c, w * c, c, filter, c, c4, 1, yrow + xin0 * c, xin1 - xin0);
    }
    for (int xo = 0; xo < ow; xo++) {
      const int iw0 = xo * sw - left;
      const int fw0 = max_int(0, -iw0), fw1 = min_int(kw, w - iw0);
      f32 *out = yrow + xo * c;
      if (interior && xo >= xin0 && xo < xin1) {
        // Channels [c4, c) of the outputs dw3x3_interior_row computed.
        dw_conv_pixel_channels(ximg, (ih0 * w + iw0) * c, filter, out, w, c, 3, 0, 3, 0, 3, c4);
      } else {
        dw_conv_pixel_channels(ximg, (ih0 * w + iw0) * c, filter, out, w, c, kw, fh0, fh1, fw0, fw1, 0);
      }
    }
  }
}

// The filter gradient's sum over the output rows [row0, row1) of the n*oh: a reduction over the batch and the
// image, which the caller splits into fixed chunks of rows (chosen from the shape alone) and adds up with
// sum_parts, so that the result is the same on any number of threads. (Splitting the channels instead keeps
// every sum whole but has each thread stride through all of x and dy for a few channels of each row: at 64 px
// it ran no faster on two threads than on one.)
EXPORT(depthwise_filter_grad)
void depthwise_filter_grad(const f32 *x, const f32 *dy, f32 *dw, int h, int w, int c, int m, int oh, int ow, int kh,
                           int kw, int sh, int sw, int top, int left, int row0, int row1) {
  zero(dw, kh * kw * c * m);
  depthwise_backward(FILTER_GRAD, dy, x, dw, h, w, c, m, oh, ow, kh, kw, sh, sw, top, left, row0, row1);
}

// out[i] = parts[i] + parts[size + i] + ... + parts[(count - 1) * size + i], added in that order, for i in
// [i0, i1): a reduction's chunk sums totalled in chunk order whichever threads computed them (and whichever
// split the elements, since every element is added the same way).
EXPORT(sum_parts)
void sum_parts(const f32 *parts, f32 *out, int count, int size, int i0, int i1) {
  const int i4 = i0 + ((i1 - i0) & ~3);
  for (int i = i0; i < i4; i += 4) {
    v128_t sum = load4(parts + i);
    for (int k = 1; k < count; k++) sum = wasm_f32x4_add(sum, load4(parts + k * size + i));
    store4(out + i, sum);
  }
  for (int i = i4; i < i1; i++) {
    f32 sum = parts[i];
    for (int k = 1; k < count; k++) sum += parts[k * size + i];
    out[i] = sum;
  }
}

// Stride 1, multiplier 1 (most depthwise layers): each dx pixel gathers its taps in a register instead, in
// the order the scatter above adds them (dy rows ascending, i.e. filter rows descending; then filter columns
// ascending), from zero: the same values, with no read-modify-write of dx per tap. Tap ranges are clipped per
// pixel, so the loops carry no bounds checks.

// Taps of one dx pixel over channels [ch0, c): filter rows [fh_lo, fh_hi] descending, columns [fw_lo, fw_hi]
// ascending; at: dy offset of tap (0, 0) (outside dy when clipped away), tap (fh, fw) at at - (fh * ow + fw) * c.
static void dw_input_grad_pixel(const f32 *dy, const f32 *filter, f32 *out, int c, int ow, int kw, int at, int fh_lo,
                                int fh_hi, int fw_lo, int fw_hi, int ch0) {
  dw_tap_sums(dy, at, -ow * c, -c, filter, kw, c, out, fh_hi, fh_hi - fh_lo + 1, -1, fw_lo, fw_hi + 1, ch0);
}

static void depthwise_input_grad_s1(const f32 *dy, const f32 *filter, f32 *dx, int n, int h, int w, int c, int oh, int ow,
                                    int kh, int kw, int top, int left) {
  const int c4 = c & ~3;
  // Pixels whose filter columns all land inside dy: xo = iw + left - fw in [0, ow) for every fw.
  const int iw_in0 = min_int(w, max_int(0, kw - 1 - left)), iw_in1 = max_int(iw_in0, min_int(w, ow - left));
  for (int b = 0; b < n; b++) {
    const f32 *dyimg = dy + b * oh * ow * c;
    for (int ih = 0; ih < h; ih++) {
      const int fh_lo = max_int(0, ih + top - oh + 1), fh_hi = min_int(kh - 1, ih + top);
      f32 *dxrow = dx + ((b * h + ih) * w) * c;
      const int interior = kh == 3 && kw == 3 && fh_lo == 0 && fh_hi == 2 && c4 > 0;
      // dy offset of tap (0, 0) of pixel iw: row ih + top, column iw + left.
      const int at_row = (ih + top) * ow + left;
      if (interior) {
        dw3x3_interior_row(dyimg + (at_row + iw_in0) * c, c, -ow * c, -c, filter, c, c4, -1, dxrow + iw_in0 * c, iw_in1 - iw_in0);
      }
      for (int iw = 0; iw < w; iw++) {
        const int fw_lo = max_int(0, iw + left - ow + 1), fw_hi = min_int(kw - 1, iw + left);
        const int inside = interior && iw >= iw_in0 && iw < iw_in1;
        dw_input_grad_pixel(dyimg, filter, dxrow + iw * c, c, ow, kw, (at_row + iw) * c, fh_lo, fh_hi, fw_lo, fw_hi, inside ? c4 : 0);
      }
    }
  }
}

EXPORT(depthwise_input_grad)
void depthwise_input_grad(const f32 *dy, const f32 *filter, f32 *dx, int n, int h, int w, int c, int m, int oh, int ow,
                          int kh, int kw, int sh, int sw, int top, int left) {
  if (m == 1 && sh == 1 && sw == 1) {
    depthwise_input_grad_s1(dy, filter, dx, n, h, w, c, oh, ow, kh, kw, top, left);
    return;
  }
  zero(dx, n * h * w * c);
  depthwise_backward(INPUT_GRAD, dy, filter, dx, h, w, c, m, oh, ow, kh, kw, sh, sw, top, left, 0, n * oh);
}

// ---------------------------------------------------------------------------------------------------------
// Training batch norm over x [rows, c] (NHWC flattened), optionally fused with the ReLU6 after it. Sums run
// over blocks of 64 rows in float registers, then into double accumulators (`acc`, 2*c doubles the caller
// provides), so statistics over 10^5 rows keep float precision.

#define STAT_BLOCK 64

static inline void add_to_double(double *acc, v128_t v) {
  v128_t lo = wasm_f64x2_promote_low_f32x4(v);
  v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  wasm_v128_store(acc, wasm_f64x2_add(wasm_v128_load(acc), lo));
  wasm_v128_store(acc + 2, wasm_f64x2_add(wasm_v128_load(acc + 2), hi));
}

// 0 < y < 6 as an all-ones lane mask: where ReLU6 passes its gradient (PyTorch's hardtanh rule).
static inline v128_t relu6_pass(v128_t y) {
  return wasm_v128_and(wasm_f32x4_gt(y, splat(0.0f)), wasm_f32x4_lt(y, splat(6.0f)));
}

// The backward passes recompute BN's output before the clamp, x * scale + shift, with the operations
// channel_affine computed it, so the mask is the one the saved output would give without reading it: one
// tensor less to stream in each of the two passes. (A clamped y is 0 or 6 exactly where the affine value is
// at most 0 or at least 6, NaN where it is NaN.)
static inline v128_t affine4(const f32 *x, const f32 *scale, const f32 *shift) {
  return madd(load4(shift), load4(x), load4(scale));
}

// g = dy, masked where ReLU6 blocks it when relu6 (x, scale, shift at the same channel).
static inline v128_t masked_grad(const f32 *dy, const f32 *x, const f32 *scale, const f32 *shift, int relu6) {
  const v128_t g = load4(dy);
  return relu6 ? wasm_v128_and(g, relu6_pass(affine4(x, scale, shift))) : g;
}

static inline f32 masked_grad_scalar(f32 dy, f32 x, f32 scale, f32 shift, int relu6) {
  if (!relu6) return dy;
  const f32 v = x * scale + shift;
  return v > 0.0f && v < 6.0f ? dy : 0.0f;
}

static void zero_double(double *p, int count) {
  for (int i = 0; i < count; i++) p[i] = 0.0;
}

// (x - m)^power, power 1 or 2.
static inline v128_t deviation_power(v128_t x, v128_t m, int power) {
  v128_t d = wasm_f32x4_sub(x, m);
  return power == 2 ? wasm_f32x4_mul(d, d) : d;
}

static inline v128_t centre_or_zero(const f32 *centre, int ch) { return centre ? load4(centre + ch) : splat(0.0f); }

// Each channel's float block sum, in `block` (c floats of scratch, in L1), runs down the block's rows in
// order; the rows are read in memory order, whole rows at a time. (Walking one column group down the block
// instead kept the sums in registers but read x at a 4*c-byte stride: about a third of the streaming rate.)
static inline void add_block_to_double(const f32 *block, int c4, double *acc) {
  for (int ch = 0; ch < c4; ch += 4) add_to_double(acc + ch, load4(block + ch));
}

// acc[ch] += sum over rows of (x - centre[ch])^power, power 1 or 2 (centre 0: none); block: c floats of scratch.
static void channel_sums(const f32 *x, int rows, int c, const f32 *centre, int power, double *acc, f32 *block) {
  const int c4 = c & ~3;
  for (int r0 = 0; r0 < rows; r0 += STAT_BLOCK) {
    const int r1 = r0 + STAT_BLOCK < rows ? r0 + STAT_BLOCK : rows;
    zero(block, c4);
    for (int r = r0; r < r1; r++) {
      const f32 *xr = x + r * c;
      for (int ch = 0; ch < c4; ch += 4) {
        store4(block + ch, wasm_f32x4_add(load4(block + ch), deviation_power(load4(xr + ch), centre_or_zero(centre, ch), power)));
      }
    }
    add_block_to_double(block, c4, acc);
    for (int ch = c4; ch < c; ch++) {
      f32 s = 0.0f;
      for (int r = r0; r < r1; r++) {
        f32 d = x[r * c + ch] - (centre ? centre[ch] : 0.0f);
        s += power == 2 ? d * d : d;
      }
      acc[ch] += s;
    }
  }
}

// The per-channel sums below run over fixed chunks of rows (planned from the shape alone, starting on
// STAT_BLOCK boundaries so a chunk sums the same float blocks a whole pass would), each into its own double
// partial; finish_parts adds the partials in chunk order. Threads may compute the chunks, and the result is
// the same on any number of them. (Splitting the channels instead had each thread stride through all of the
// rows for a few channels: it ran no faster on two threads than on one.)

// part[ch] = sum over rows [row0, row1) of x [rows, c] of (x - centre[ch])^power (centre 0: none), c doubles;
// block: c floats of scratch. The mean is the sum's chunks finished with divisor rows; the biased variance the
// same with power 2 around it.
EXPORT(channel_sum_part)
void channel_sum_part(const f32 *x, int c, const f32 *centre, int power, double *part, f32 *block, int row0, int row1) {
  zero_double(part, c);
  channel_sums(x + row0 * c, row1 - row0, c, centre, power, part, block);
}

// out[ch] = (f32)((parts[ch] + parts[stride + ch] + ... + parts[(count - 1) * stride + ch]) / divisor), added in
// that order.
EXPORT(finish_parts)
void finish_parts(const double *parts, int count, int stride, int c, double divisor, f32 *out) {
  for (int ch = 0; ch < c; ch++) {
    double sum = parts[ch];
    for (int k = 1; k < count; k++) sum += parts[k * stride + ch];
    out[ch] = (f32)(sum / divisor);
  }
}

// The forward's per-channel affine, y = x * scale + shift: scale = gamma / sqrt(variance + eps), shift = beta -
// mean * scale, each worked out in double and rounded to float once (the backward recomputes it: the same
// operations give the same floats, so the same ReLU6 mask).
EXPORT(bn_affine)
void bn_affine(const f32 *gamma, const f32 *beta, const f32 *mean, const f32 *variance, int c, double eps, f32 *scale,
               f32 *shift) {
  for (int ch = 0; ch < c; ch++) {
    scale[ch] = (f32)((double)gamma[ch] / __builtin_sqrt((double)variance[ch] + eps));
    shift[ch] = (f32)((double)beta[ch] - (double)mean[ch] * (double)scale[ch]);
  }
}

// BN's backward as dx = kg * g + kx * x + k0 per channel, from the sums Σg and Σg·(x − mean) over `rows` rows:
// kg = gamma / std, kx = −kg / rows · Σg·(x − mean) / var, k0 = −kg / rows · Σg − kx · mean, and
// dgamma = Σg·(x − mean) / std (each in double, rounded to float once).
EXPORT(bn_grad_coefficients)
void bn_grad_coefficients(const f32 *gamma, const f32 *mean, const f32 *variance, const f32 *sum_g, const f32 *sum_gc,
                          int c, double eps, int rows, f32 *kg, f32 *kx, f32 *k0, f32 *dgamma) {
  for (int ch = 0; ch < c; ch++) {
    const double inv_std = 1.0 / __builtin_sqrt((double)variance[ch] + eps);
    const double factor = (double)gamma[ch] * inv_std / (double)rows;
    kg[ch] = (f32)((double)gamma[ch] * inv_std);
    kx[ch] = (f32)(-factor * inv_std * inv_std * (double)sum_gc[ch]);
    k0[ch] = (f32)(-factor * (double)sum_g[ch] - (double)kx[ch] * (double)mean[ch]);
    dgamma[ch] = (f32)(inv_std * (double)sum_gc[ch]);
  }
}

// y = x * scale + shift per channel, clamped to [0, 6] when relu6.
EXPORT(channel_affine)
void channel_affine(const f32 *x, f32 *y, int rows, int c, const f32 *scale, const f32 *shift, int relu6) {
  const int c4 = c & ~3;
  const v128_t lo = splat(0.0f), hi = splat(6.0f);
  for (int r = 0; r < rows; r++) {
    const f32 *xr = x + r * c;
    f32 *yr = y + r * c;
    for (int ch = 0; ch < c4; ch += 4) {
      v128_t v = madd(load4(shift + ch), load4(xr + ch), load4(scale + ch));
      if (relu6) v = wasm_f32x4_pmin(wasm_f32x4_pmax(v, lo), hi);
      store4(yr + ch, v);
    }
    for (int ch = c4; ch < c; ch++) {
      f32 v = xr[ch] * scale[ch] + shift[ch];
      if (relu6) v = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
      yr[ch] = v;
    }
  }
}

// Backward sums over rows [row0, row1): part[0..c) = sum of g and part[c..2c) = sum of g * (x - mean), g = dy
// (masked where ReLU6 blocks it when relu6; scale and shift are the forward's affine); 2*c doubles, finished as
// above. block: 2*c floats of scratch for the block sums, which run as in channel_sums.
EXPORT(bn_grad_sum_part)
void bn_grad_sum_part(const f32 *dy, const f32 *x, const f32 *scale, const f32 *shift, int relu6, int c, const f32 *mean,
                      double *part, f32 *block, int row0, int row1) {
  const int c4 = c & ~3;
  double *acc_g = part, *acc_gc = part + c;
  f32 *block_g = block, *block_gc = block + c;
  zero_double(part, 2 * c);
  for (int r0 = row0; r0 < row1; r0 += STAT_BLOCK) {
    const int r1 = r0 + STAT_BLOCK < row1 ? r0 + STAT_BLOCK : row1;
    zero(block, 2 * c);
    for (int r = r0; r < r1; r++) {
      const f32 *dyr = dy + r * c, *xr = x + r * c;
      for (int ch = 0; ch < c4; ch += 4) {
        const v128_t g = masked_grad(dyr + ch, xr + ch, scale + ch, shift + ch, relu6);
        store4(block_g + ch, wasm_f32x4_add(load4(block_g + ch), g));
        store4(block_gc + ch, madd(load4(block_gc + ch), g, wasm_f32x4_sub(load4(xr + ch), load4(mean + ch))));
      }
    }
    add_block_to_double(block_g, c4, acc_g);
    add_block_to_double(block_gc, c4, acc_gc);
    for (int ch = c4; ch < c; ch++) {
      f32 sg = 0.0f, sgc = 0.0f;
      for (int r = r0; r < r1; r++) {
        const f32 g = masked_grad_scalar(dy[r * c + ch], x[r * c + ch], scale[ch], shift[ch], relu6);
        sg += g;
        sgc += g * (x[r * c + ch] - mean[ch]);
      }
      acc_g[ch] += sg;
      acc_gc[ch] += sgc;
    }
  }
}

// dx = kg[c] * g + kx[c] * x + k0[c], g as in bn_grad_sum_part.
EXPORT(bn_grad_apply)
void bn_grad_apply(const f32 *dy, const f32 *x, const f32 *scale, const f32 *shift, int relu6, int rows, int c,
                   const f32 *kg, const f32 *kx, const f32 *k0, f32 *dx) {
  const int c4 = c & ~3;
  for (int r = 0; r < rows; r++) {
    const int base = r * c;
    for (int ch = 0; ch < c4; ch += 4) {
      const v128_t g = masked_grad(dy + base + ch, x + base + ch, scale + ch, shift + ch, relu6);
      store4(dx + base + ch, madd(madd(load4(k0 + ch), load4(kx + ch), load4(x + base + ch)), load4(kg + ch), g));
    }
    for (int ch = c4; ch < c; ch++) {
      const f32 g = masked_grad_scalar(dy[base + ch], x[base + ch], scale[ch], shift[ch], relu6);
      dx[base + ch] = kg[ch] * g + kx[ch] * x[base + ch] + k0[ch];
    }
  }
}

// BN's running statistics after a training step, for every channel in one call: mean' = mean * keep +
// batch_mean * m and var' = var * keep + batch_var * m_unbiased, each product and the sum rounded to float as the
// composed tf ops (mul, mul, add) round them.
EXPORT(bn_running_stats)
void bn_running_stats(const f32 *mean, const f32 *var, const f32 *batch_mean, const f32 *batch_var, int c, f32 keep,
                      f32 m, f32 m_unbiased, f32 *mean_out, f32 *var_out) {
  for (int ch = 0; ch < c; ch++) {
    const f32 kept_mean = mean[ch] * keep, new_mean = batch_mean[ch] * m;
    const f32 kept_var = var[ch] * keep, new_var = batch_var[ch] * m_unbiased;
    mean_out[ch] = kept_mean + new_mean;
    var_out[ch] = kept_var + new_var;
  }
}

// ---------------------------------------------------------------------------------------------------------
// One torch.optim.SGD step with momentum for one parameter, in one pass: d = g + decay*p, b' = momentum*b + d,
// p' = p - lr*(nesterov ? d + momentum*b' : b').

EXPORT(sgd_momentum)
void sgd_momentum(const f32 *p, const f32 *g, const f32 *b, f32 *p_out, f32 *b_out, int count, f32 lr, f32 momentum,
                  f32 decay, int nesterov) {
  const int c4 = count & ~3;
  const v128_t vlr = splat(lr), vmu = splat(momentum), vdecay = splat(decay);
  for (int i = 0; i < c4; i += 4) {
    v128_t pv = load4(p + i);
    v128_t d = madd(load4(g + i), vdecay, pv);
    v128_t nb = madd(d, vmu, load4(b + i));
    v128_t dir = nesterov ? madd(d, vmu, nb) : nb;
    store4(b_out + i, nb);
    store4(p_out + i, wasm_f32x4_sub(pv, wasm_f32x4_mul(vlr, dir)));
  }
  for (int i = c4; i < count; i++) {
    f32 d = g[i] + decay * p[i];
    f32 nb = momentum * b[i] + d;
    b_out[i] = nb;
    p_out[i] = p[i] - lr * (nesterov ? d + momentum * nb : nb);
  }
}
