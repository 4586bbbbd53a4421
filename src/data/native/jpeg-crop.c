/*
 * Training-crop decode for plain JPEGs: libjpeg-turbo decodes only the crop (jpeg_crop_scanline skips the IDCT
 * of the columns outside it, jpeg_skip_scanlines the rows above it, and decoding stops below it), then Pillow's
 * two-pass fixed-point resampling (Resample.c: bilinear/bicubic, horizontal pass first, 22-bit coefficients)
 * resizes it, so `img.crop(box).resize((size, size), filter)` in PIL gives the same bytes for the same libjpeg.
 * One Node-API call per image, run on libuv's thread pool; sharp would spend about as long as the whole decode
 * on its fixed per-call cost (option marshalling, the libvips pipeline, thread hand-offs).
 *
 * The horizontal flip rides along the resize, and ColorJitter follows, so the JS thread only schedules.
 *
 * cropResize(jpeg: Uint8Array, left, top, width, height, size, bicubic: boolean, shrink: 1|2|4|8, flip: boolean,
 *            jitter: Float64Array [brightness, contrast, saturation, ...op order] or empty,
 *            out: Uint8Array(size * size * 3)): Promise<void>
 * The box is in pixels of the image decoded at 1/shrink (libjpeg's DCT scaling: ceil(dimension / shrink)).
 */
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <node_api.h>

#define PRECISION_BITS (32 - 8 - 2)
/* Columns decoded beyond each side of the box (more than chroma upsampling reaches). */
#define EDGE_MARGIN 8

/* ---- Pillow's resampling (src/libImaging/Resample.c), 8-bit RGB only ---- */

typedef struct {
  double (*filter)(double x);
  double support;
} Filter;

static double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

static double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static const Filter BILINEAR = {bilinear_filter, 1.0};
static const Filter BICUBIC = {bicubic_filter, 2.0};

/* Per output pixel: first input index and count, and ksize fixed-point weights. */
typedef struct {
  int ksize;
  int *bounds;
  int32_t *weights;
} Coefficients;

static void free_coefficients(Coefficients *c) {
  free(c->bounds);
  free(c->weights);
  c->bounds = NULL;
  c->weights = NULL;
}

/* precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size) of an in_size image. Returns 0 on OOM. */
static int compute_coefficients(int in_size, int out_size, const Filter *filter, Coefficients *out) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = filter->support * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  double *kk = malloc((size_t)out_size * ksize * sizeof(double));
  out->ksize = ksize;
  out->bounds = malloc((size_t)out_size * 2 * sizeof(int));
  out->weights = malloc((size_t)out_size * ksize * sizeof(int32_t));
  if (kk == NULL || out->bounds == NULL || out->weights == NULL) {
    free(kk);
    free_coefficients(out);
    return 0;
  }
  for (int xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double *k = &kk[xx * ksize];
    int x;
    for (x = 0; x < xmax; x++) {
      double w = filter->filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (x = 0; x < xmax; x++) {
      if (ww != 0.0) k[x] /= ww;
    }
    for (; x < ksize; x++) k[x] = 0;
    out->bounds[xx * 2] = xmin;
    out->bounds[xx * 2 + 1] = xmax;
  }
  for (int i = 0; i < out_size * ksize; i++) {
    out->weights[i] = kk[i] < 0 ? (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS)) : (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
  }
  free(kk);
  return 1;
}

static inline uint8_t clip8(int32_t in) {
  if (in >= (1 << PRECISION_BITS << 8)) return 255;
  if (in <= 0) return 0;
  return (uint8_t)(in >> PRECISION_BITS);
}

/* One row: ImagingResampleHorizontal_8bpc for 3 channels, written right to left when mirroring. */
static void resample_row(const uint8_t *in, uint8_t *out, int out_width, const Coefficients *c, int mirror) {
  for (int xx = 0; xx < out_width; xx++) {
    const int xmin = c->bounds[xx * 2];
    const int xmax = c->bounds[xx * 2 + 1];
    const int32_t *k = &c->weights[xx * c->ksize];
    const uint8_t *src = in + xmin * 3;
    int32_t ss0 = 1 << (PRECISION_BITS - 1), ss1 = ss0, ss2 = ss0;
    for (int x = 0; x < xmax; x++) {
      ss0 += src[x * 3] * k[x];
      ss1 += src[x * 3 + 1] * k[x];
      ss2 += src[x * 3 + 2] * k[x];
    }
    const int o = (mirror ? out_width - 1 - xx : xx) * 3;
    out[o] = clip8(ss0);
    out[o + 1] = clip8(ss1);
    out[o + 2] = clip8(ss2);
  }
}

/* A row copied as is, or mirrored. */
static void copy_row(const uint8_t *in, uint8_t *out, int width, int mirror) {
  if (!mirror) {
    memcpy(out, in, (size_t)width * 3);
    return;
  }
  for (int x = 0; x < width; x++) memcpy(out + (width - 1 - x) * 3, in + x * 3, 3);
}

/* ImagingResampleVertical_8bpc: every output row from rows of `in` (row_bytes wide, all channels alike). */
static void resample_columns(const uint8_t *in, uint8_t *out, int out_height, int row_bytes, const Coefficients *c) {
  int32_t *acc = malloc((size_t)row_bytes * sizeof(int32_t));
  for (int yy = 0; yy < out_height; yy++) {
    const int ymin = c->bounds[yy * 2];
    const int ymax = c->bounds[yy * 2 + 1];
    const int32_t *k = &c->weights[yy * c->ksize];
    if (acc != NULL) {
      /* Row-at-a-time accumulation: the same integer sums as Pillow's pixel-at-a-time loop, in SIMD-friendly order. */
      for (int i = 0; i < row_bytes; i++) acc[i] = 1 << (PRECISION_BITS - 1);
      for (int y = 0; y < ymax; y++) {
        const uint8_t *src = in + (size_t)(y + ymin) * row_bytes;
        const int32_t w = k[y];
        for (int i = 0; i < row_bytes; i++) acc[i] += src[i] * w;
      }
      for (int i = 0; i < row_bytes; i++) out[(size_t)yy * row_bytes + i] = clip8(acc[i]);
    } else {
      for (int i = 0; i < row_bytes; i++) {
        int32_t ss = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++) ss += in[(size_t)(y + ymin) * row_bytes + i] * k[y];
        out[(size_t)yy * row_bytes + i] = clip8(ss);
      }
    }
  }
  free(acc);
}

/* ---- torchvision's ColorJitter on PIL images (colour-jitter.ts explains the arithmetic; this is its C twin
 * for the native path, one plain pass per op: each costs tens of microseconds here) ---- */

enum { BRIGHTNESS = 0, CONTRAST = 1, SATURATION = 2 };

typedef struct {
  double factors[3];
  int order[3];
  int ops;
} Jitter;

static inline int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

/* Image.blend's (UINT8) of a float32 result, clipped first. */
static inline uint8_t blend_to_uint8(float value) { return value <= 0 ? 0 : value >= 255 ? 255 : (uint8_t)(int)value; }

/* alpha * d in float32 for d in [-255, 255], indexed by d + 255. */
static void blend_products(double factor, float products[511]) {
  const float alpha = (float)factor;
  for (int d = -255; d <= 255; d++) products[d + 255] = alpha * (float)d;
}

/* Image.blend of every byte with a constant (Brightness: 0, Contrast: the mean grey) through a table. */
static void blend_with_constant(uint8_t *pixels, size_t length, int constant, double factor) {
  float products[511];
  uint8_t table[256];
  blend_products(factor, products);
  for (int v = 0; v < 256; v++) table[v] = blend_to_uint8((float)constant + products[v - constant + 255]);
  for (size_t i = 0; i < length; i++) pixels[i] = table[pixels[i]];
}

/* ImageEnhance.Contrast: the degenerate image is the mean grey, int(mean(L) + 0.5). */
static void adjust_contrast(uint8_t *pixels, size_t length, double factor) {
  /* 32-bit partial sums over runs short enough not to overflow (255 * 65536 < 2^32) vectorise; one 64-bit total. */
  uint64_t sum = 0;
  for (size_t start = 0; start < length; start += 3 * 65536) {
    const size_t end = length - start < 3 * 65536 ? length : start + 3 * 65536;
    uint32_t partial = 0;
    for (size_t i = start; i < end; i += 3) partial += (uint32_t)luma(pixels[i], pixels[i + 1], pixels[i + 2]);
    sum += partial;
  }
  const int mean = (int)floor((double)sum / (double)(length / 3) + 0.5);
  blend_with_constant(pixels, length, mean, factor);
}

/* ImageEnhance.Color: each pixel blended with its own grey. */
static void adjust_saturation(uint8_t *pixels, size_t length, double factor) {
  float products[511];
  blend_products(factor, products);
  for (size_t i = 0; i < length; i += 3) {
    const int l = luma(pixels[i], pixels[i + 1], pixels[i + 2]);
    const float grey = (float)l;
    const float *p = products + 255 - l;
    pixels[i] = blend_to_uint8(grey + p[pixels[i]]);
    pixels[i + 1] = blend_to_uint8(grey + p[pixels[i + 1]]);
    pixels[i + 2] = blend_to_uint8(grey + p[pixels[i + 2]]);
  }
}

static void apply_jitter(uint8_t *pixels, size_t length, const Jitter *jitter) {
  for (int k = 0; k < jitter->ops; k++) {
    const int op = jitter->order[k];
    const double factor = jitter->factors[op];
    if (op == BRIGHTNESS) blend_with_constant(pixels, length, 0, factor);
    else if (op == CONTRAST) adjust_contrast(pixels, length, factor);
    else adjust_saturation(pixels, length, factor);
  }
}

/* ---- libjpeg with errors (and warnings, like sharp's default failOn: 'warning') turned into a message ---- */

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} ErrorManager;

static void on_error_exit(j_common_ptr cinfo) {
  ErrorManager *errors = (ErrorManager *)cinfo->err;
  errors->base.format_message(cinfo, errors->message);
  longjmp(errors->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error_exit(cinfo);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  napi_ref output_ref;
  const uint8_t *input;
  size_t input_length;
  uint8_t *output;
  int left, top, width, height, size, bicubic, shrink, flip;
  Jitter jitter;
  char error[JMSG_LENGTH_MAX + 64];
} Task;

/*
 * Decodes the task's box row by row, each row resampled horizontally (or copied when `horizontal` is NULL) into
 * `temp` (task->height rows of task->size pixels), mirrored when flipping. Returns 0 with task->error set on
 * failure. Only `row` is assigned between setjmp and a possible longjmp, hence volatile.
 */
static int decode_rows(Task *task, uint8_t *temp, const Coefficients *horizontal) {
  struct jpeg_decompress_struct cinfo;
  ErrorManager errors;
  uint8_t *volatile row = NULL;
  const int row_bytes = task->size * 3;

  cinfo.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error_exit;
  errors.base.emit_message = on_message;
  jpeg_create_decompress(&cinfo);
  if (setjmp(errors.jump)) {
    snprintf(task->error, sizeof task->error, "%s", errors.message);
    free(row);
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_mem_src(&cinfo, task->input, (unsigned long)task->input_length);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = (unsigned int)task->shrink;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3 || (JDIMENSION)(task->left + task->width) > cinfo.output_width ||
      (JDIMENSION)(task->top + task->height) > cinfo.output_height) {
    snprintf(task->error, sizeof task->error, "crop %dx%d+%d+%d outside the %ux%u decoded image", task->width, task->height,
             task->left, task->top, cinfo.output_width, cinfo.output_height);
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  /* Chroma upsampling treats the first and last decoded columns as the image edges, so a few more columns on
   * each side are decoded than the box needs. jpeg_crop_scanline widens the columns to iMCU boundaries; the box
   * starts (left - x_offset) pixels into each scanline. */
  JDIMENSION x_offset = (JDIMENSION)(task->left > EDGE_MARGIN ? task->left - EDGE_MARGIN : 0);
  JDIMENSION crop_width = (JDIMENSION)(task->left - (int)x_offset + task->width + EDGE_MARGIN);
  if (x_offset + crop_width > cinfo.output_width) crop_width = cinfo.output_width - x_offset;
  if (crop_width < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x_offset, &crop_width);
  const int skip = task->left - (int)x_offset;
  row = malloc((size_t)crop_width * 3);
  if (row == NULL) {
    snprintf(task->error, sizeof task->error, "out of memory");
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  if (task->top > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)task->top);
  for (int y = 0; y < task->height; y++) {
    JSAMPROW scanline = row;
    jpeg_read_scanlines(&cinfo, &scanline, 1);
    if (horizontal != NULL) resample_row(row + skip * 3, temp + (size_t)y * row_bytes, task->size, horizontal, task->flip);
    else copy_row(row + skip * 3, temp + (size_t)y * row_bytes, task->size, task->flip);
  }
  /* Rows below the box are never decoded: destroying without jpeg_finish_decompress abandons them. */
  free(row);
  jpeg_destroy_decompress(&cinfo);
  return 1;
}

/* Decodes the task's crop, resizes, flips and jitters it into task->output; on failure fills task->error. */
static void crop_resize(Task *task) {
  const Filter *filter = task->bicubic ? &BICUBIC : &BILINEAR;
  const int need_horizontal = task->width != task->size;
  const int row_bytes = task->size * 3;
  Coefficients horizontal = {0}, vertical = {0};
  if (task->left < 0 || task->top < 0 || task->width <= 0 || task->height <= 0) {
    snprintf(task->error, sizeof task->error, "empty or negative crop %dx%d+%d+%d", task->width, task->height, task->left, task->top);
    return;
  }
  uint8_t *temp = malloc((size_t)task->height * row_bytes);
  if (temp == NULL || (need_horizontal && !compute_coefficients(task->width, task->size, filter, &horizontal)) ||
      !compute_coefficients(task->height, task->size, filter, &vertical)) {
    snprintf(task->error, sizeof task->error, "out of memory");
  } else if (decode_rows(task, temp, need_horizontal ? &horizontal : NULL)) {
    if (task->height != task->size) resample_columns(temp, task->output, task->size, row_bytes, &vertical);
    else memcpy(task->output, temp, (size_t)task->size * row_bytes);
    apply_jitter(task->output, (size_t)task->size * row_bytes, &task->jitter);
  }
  free_coefficients(&horizontal);
  free_coefficients(&vertical);
  free(temp);
}

static void execute(napi_env env, void *data) {
  (void)env;
  crop_resize((Task *)data);
}

static void complete(napi_env env, napi_status status, void *data) {
  Task *task = data;
  if (status == napi_ok && task->error[0] == '\0') {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, task->deferred, undefined);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, task->error[0] != '\0' ? task->error : "decode cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, task->deferred, error);
  }
  napi_delete_reference(env, task->input_ref);
  napi_delete_reference(env, task->output_ref);
  napi_delete_async_work(env, task->work);
  free(task);
}

static int typed_bytes(napi_env env, napi_value value, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  return napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) == napi_ok && type == napi_uint8_array;
}

static napi_value throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* Reads [brightness, contrast, saturation, ...order] (empty: no jitter) into task->jitter. */
static int read_jitter(napi_env env, napi_value value, Jitter *jitter) {
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value buffer;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float64_array) return 0;
  if (length == 0) return 1;
  if (length < 3 || length > 6) return 0;
  const double *values = data;
  for (int i = 0; i < 3; i++) jitter->factors[i] = values[i];
  jitter->ops = (int)length - 3;
  for (int k = 0; k < jitter->ops; k++) {
    if (values[3 + k] != 0 && values[3 + k] != 1 && values[3 + k] != 2) return 0;
    jitter->order[k] = (int)values[3 + k];
  }
  return 1;
}

static napi_value crop_resize_js(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 11) return throw_type_error(env, "cropResize: expected 11 arguments");
  Task *task = calloc(1, sizeof(Task));
  if (task == NULL) return throw_type_error(env, "cropResize: out of memory");
  void *input, *output;
  size_t input_length, output_length;
  int32_t numbers[5];
  bool bicubic, flip;
  int32_t shrink;
  int ok = typed_bytes(env, argv[0], &input, &input_length) && typed_bytes(env, argv[10], &output, &output_length);
  for (int i = 0; i < 5 && ok; i++) ok = napi_get_value_int32(env, argv[1 + i], &numbers[i]) == napi_ok;
  ok = ok && napi_get_value_bool(env, argv[6], &bicubic) == napi_ok && napi_get_value_int32(env, argv[7], &shrink) == napi_ok &&
       napi_get_value_bool(env, argv[8], &flip) == napi_ok && read_jitter(env, argv[9], &task->jitter);
  if (!ok || numbers[4] <= 0 || (shrink != 1 && shrink != 2 && shrink != 4 && shrink != 8) ||
      output_length != (size_t)numbers[4] * numbers[4] * 3) {
    free(task);
    return throw_type_error(env, "cropResize: expected (Uint8Array, left, top, width, height, size, bicubic, shrink, flip, "
                                 "Float64Array jitter, Uint8Array(size*size*3))");
  }
  task->input = input;
  task->input_length = input_length;
  task->output = output;
  task->left = numbers[0];
  task->top = numbers[1];
  task->width = numbers[2];
  task->height = numbers[3];
  task->size = numbers[4];
  task->bicubic = bicubic;
  task->shrink = shrink;
  task->flip = flip;
  napi_value promise, name;
  napi_create_reference(env, argv[0], 1, &task->input_ref);
  napi_create_reference(env, argv[10], 1, &task->output_ref);
  napi_create_promise(env, &task->deferred, &promise);
  napi_create_string_utf8(env, "mnext.jpegCropResize", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, task, &task->work);
  napi_queue_async_work(env, task->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "cropResize", NAPI_AUTO_LENGTH, crop_resize_js, NULL, &fn);
  napi_set_named_property(env, exports, "cropResize", fn);
  return exports;
}
