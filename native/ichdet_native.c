/*
 * ichdet's optional native accelerator: the convolution kernels of a training step (forward,
 * input gradient, filter gradient; NHWC, filters [kh, kw, cin, cout], no dilation) as patch
 * matrices and OpenBLAS matrix products, computed in place in tfjs-backend-wasm's heap.
 *
 * Every function takes the wasm memory's ArrayBuffer and byte offsets into it, so no tensor is
 * copied in or out: the addon reads the backend's inputs and writes the outputs the backend
 * allocated. Offsets and sizes are checked against the buffer before anything is touched.
 * Scratch (the patch matrices) is per thread, so the data-parallel training workers (worker
 * threads of one process) never share it.
 *
 * Notation, per spatial axis: y[o] = sum_i x[o*s - p + i] * w[i], stride s, leading pad p,
 * kernel length k; rows of a patch matrix are output positions (image, row, column), columns are
 * the taps (i, j, channel) in the filter's own order, so the filter is a (kh*kw*cin) x cout
 * matrix as stored.
 */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * OpenBLAS is opened with dlopen rather than linked, so that its kernels can be chosen before it
 * initialises (it reads OPENBLAS_CORETYPE once, when loaded): OpenBLAS 0.3.21 (Debian 12) runs
 * its AVX2 "Haswell" kernels on every AMD CPU, AVX-512 ones included (Zen 4), where its SkylakeX
 * kernels do the same products about twice as fast. Unless the user set OPENBLAS_CORETYPE, an AMD
 * CPU with AVX-512 F/BW/VL/DQ gets SKYLAKEX; every other CPU keeps OpenBLAS' own choice.
 */
typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);
static sgemm_fn sgemm;
static void (*set_num_threads)(int);
static int (*get_num_threads)(void);
static char *(*get_config)(void);
static char *(*get_corename)(void);

/* Opens OpenBLAS once per process; NULL on success, else why not. */
static const char *open_blas(void) {
  static const char *error = NULL;
  static int opened = 0;
  if (opened) return error;
  opened = 1;
  if (!getenv("OPENBLAS_CORETYPE")) {
    __builtin_cpu_init();
    if (__builtin_cpu_is("amd") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
      setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 0);
  }
  void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) lib = dlopen("libopenblas.so", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) return error = "cannot open libopenblas.so.0 (install libopenblas0 or libopenblas-dev)";
  sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
  set_num_threads = (void (*)(int))dlsym(lib, "openblas_set_num_threads");
  get_num_threads = (int (*)(void))dlsym(lib, "openblas_get_num_threads");
  get_config = (char *(*)(void))dlsym(lib, "openblas_get_config");
  get_corename = (char *(*)(void))dlsym(lib, "openblas_get_corename");
  if (!sgemm || !set_num_threads || !get_num_threads || !get_config || !get_corename)
    return error = "libopenblas.so.0 lacks cblas_sgemm or the openblas_* thread and config calls";
  return NULL;
}

/* The largest patch block, in floats (16 MiB): big enough to keep the products efficient. */
#define BLOCK_FLOATS (1 << 22)

static _Thread_local float *scratch = NULL;
static _Thread_local size_t scratch_cap = 0;

static float *scratch_of(size_t floats) {
  if (floats > scratch_cap) {
    free(scratch);
    scratch = (float *)malloc(floats * sizeof(float));
    scratch_cap = scratch ? floats : 0;
  }
  return scratch;
}

typedef struct {
  int n, h, w, c;     /* input */
  int kh, kw, co;     /* filter */
  int sh, sw, pt, pl; /* strides, leading pads */
  int oh, ow;         /* output */
} Geom;

/* Patch rows [r0, r0 + rows) of x into col (rows x kh*kw*c). */
static void im2col(const float *x, float *col, const Geom *g, long r0, long rows) {
  const long k = (long)g->kh * g->kw * g->c;
  const size_t run = (size_t)g->c * sizeof(float);
  for (long r = 0; r < rows; r++) {
    const long row = r0 + r;
    const long q = row % g->ow;
    const long o = (row / g->ow) % g->oh;
    const long img = row / ((long)g->ow * g->oh);
    float *dst = col + r * k;
    for (int i = 0; i < g->kh; i++) {
      const long ih = o * g->sh - g->pt + i;
      if (ih < 0 || ih >= g->h) {
        memset(dst, 0, run * g->kw);
        dst += (long)g->kw * g->c;
        continue;
      }
      const float *src_row = x + ((img * g->h + ih) * g->w) * g->c;
      const long iw0 = q * g->sw - g->pl;
      if (iw0 >= 0 && iw0 + g->kw <= g->w) {
        /* The whole run of taps is inside the row: one contiguous copy. */
        memcpy(dst, src_row + iw0 * g->c, run * g->kw);
        dst += (long)g->kw * g->c;
        continue;
      }
      for (int j = 0; j < g->kw; j++) {
        const long iw = iw0 + j;
        if (iw < 0 || iw >= g->w) memset(dst, 0, run);
        else memcpy(dst, src_row + iw * g->c, run);
        dst += g->c;
      }
    }
  }
}

/* dx += the taps of patch rows [r0, r0 + rows) (the adjoint of im2col). */
static void col2im(const float *col, float *dx, const Geom *g, long r0, long rows) {
  const long k = (long)g->kh * g->kw * g->c;
  for (long r = 0; r < rows; r++) {
    const long row = r0 + r;
    const long q = row % g->ow;
    const long o = (row / g->ow) % g->oh;
    const long img = row / ((long)g->ow * g->oh);
    const float *src = col + r * k;
    for (int i = 0; i < g->kh; i++) {
      const long ih = o * g->sh - g->pt + i;
      if (ih < 0 || ih >= g->h) {
        src += (long)g->kw * g->c;
        continue;
      }
      float *dst_row = dx + ((img * g->h + ih) * g->w) * g->c;
      for (int j = 0; j < g->kw; j++) {
        const long iw = q * g->sw - g->pl + j;
        if (iw >= 0 && iw < g->w) {
          float *d = dst_row + iw * g->c;
          for (int a = 0; a < g->c; a++) d[a] += src[a];
        }
        src += g->c;
      }
    }
  }
}

/* True when the patch matrix is x itself: 1x1, stride 1, no padding, same size. */
static int is_pointwise(const Geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
         g->oh == g->h && g->ow == g->w;
}

/* Patch rows per block: as many as fit BLOCK_FLOATS, at least one. */
static long block_rows(const Geom *g) {
  const long k = (long)g->kh * g->kw * g->c;
  long rows = BLOCK_FLOATS / (k > 0 ? k : 1);
  return rows < 1 ? 1 : rows;
}

/* Scratch for one block of patch rows (m rows in all, k columns); sets the block's rows. */
static float *patch_scratch(const Geom *g, long m, long k, long *block) {
  *block = block_rows(g);
  return scratch_of((size_t)(*block < m ? *block : m) * k);
}

enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2 };

static void bias_act(float *y, const float *bias, long m, int co, int act) {
  if (!bias && act == ACT_LINEAR) return;
  for (long r = 0; r < m; r++) {
    float *row = y + r * co;
    if (bias)
      for (int b = 0; b < co; b++) row[b] += bias[b];
    if (act == ACT_RELU)
      for (int b = 0; b < co; b++) row[b] = row[b] > 0.0f ? row[b] : 0.0f;
    else if (act == ACT_RELU6)
      for (int b = 0; b < co; b++) row[b] = row[b] < 0.0f ? 0.0f : (row[b] > 6.0f ? 6.0f : row[b]);
  }
}

/* y = act(conv(x, w) + bias); bias may be NULL. */
static int conv_forward(const float *x, const float *w, const float *bias, float *y, const Geom *g,
                        int act) {
  const long m = (long)g->n * g->oh * g->ow;
  const long k = (long)g->kh * g->kw * g->c;
  if (is_pointwise(g)) {
    sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, g->co, (int)k, 1.0f, x, (int)k,
          w, g->co, 0.0f, y, g->co);
  } else {
    long block;
    float *col = patch_scratch(g, m, k, &block);
    if (!col) return 0;
    for (long r0 = 0; r0 < m; r0 += block) {
      const long rows = m - r0 < block ? m - r0 : block;
      im2col(x, col, g, r0, rows);
      sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, g->co, (int)k, 1.0f, col,
            (int)k, w, g->co, 0.0f, y + r0 * g->co, g->co);
    }
  }
  bias_act(y, bias, m, g->co, act);
  return 1;
}

/* dx = the input gradient of conv for output gradient dy. */
static int conv_input_grad(const float *dy, const float *w, float *dx, const Geom *g) {
  const long m = (long)g->n * g->oh * g->ow;
  const long k = (long)g->kh * g->kw * g->c;
  if (is_pointwise(g)) {
    sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, g->co, 1.0f, dy, g->co,
          w, g->co, 0.0f, dx, (int)k);
    return 1;
  }
  memset(dx, 0, sizeof(float) * (size_t)g->n * g->h * g->w * g->c);
  long block;
  float *col = patch_scratch(g, m, k, &block);
  if (!col) return 0;
  for (long r0 = 0; r0 < m; r0 += block) {
    const long rows = m - r0 < block ? m - r0 : block;
    sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)k, g->co, 1.0f,
          dy + r0 * g->co, g->co, w, g->co, 0.0f, col, (int)k);
    col2im(col, dx, g, r0, rows);
  }
  return 1;
}

/* dw = the filter gradient of conv for input x and output gradient dy. */
static int conv_filter_grad(const float *x, const float *dy, float *dw, const Geom *g) {
  const long m = (long)g->n * g->oh * g->ow;
  const long k = (long)g->kh * g->kw * g->c;
  if (is_pointwise(g)) {
    sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, g->co, (int)m, 1.0f, x, (int)k,
          dy, g->co, 0.0f, dw, g->co);
    return 1;
  }
  long block;
  float *col = patch_scratch(g, m, k, &block);
  if (!col) return 0;
  for (long r0 = 0; r0 < m; r0 += block) {
    const long rows = m - r0 < block ? m - r0 : block;
    im2col(x, col, g, r0, rows);
    sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, g->co, (int)rows, 1.0f, col,
          (int)k, dy + r0 * g->co, g->co, r0 == 0 ? 0.0f : 1.0f, dw, g->co);
  }
  return 1;
}

/* ------------------------------------------------------------------------------ N-API glue */

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, "ichdet native: N-API call failed: " #call); \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

/* Reads argv[first..first+count) as integers (JS numbers up to 2^53; offsets may be -1). */
static int ints(napi_env env, napi_value *argv, int first, int count, int64_t *out) {
  for (int i = 0; i < count; i++) {
    if (napi_get_value_int64(env, argv[first + i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "ichdet native: a size or offset is not a number");
      return 0;
    }
  }
  return 1;
}

/* Reads exactly `n` arguments into argv; a TypeError naming `name` otherwise (returns 0). */
static int args_of(napi_env env, napi_callback_info info, size_t n, napi_value *argv,
                   const char *name) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != n) {
    char msg[120];
    snprintf(msg, sizeof msg, "ichdet native: %s takes %zu arguments", name, n);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

/* The byte at offset `off` of the buffer, when [off, off + floats*4) lies inside it. */
static float *at(napi_env env, uint8_t *base, size_t len, int64_t off, size_t floats,
                 const char *what) {
  if (off < 0 || (off & 3) != 0 || (uint64_t)off > len || floats > (len - (size_t)off) / 4) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "ichdet native: %s (offset %lld, %zu floats) is outside the heap of %zu bytes", what,
             (long long)off, floats, len);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  return (float *)(base + off);
}

/*
 * conv(kind, heap, a, b, bias, out, n, h, w, c, kh, kw, co, sh, sw, pt, pl, oh, ow, act)
 * kind 0: forward, a = x, b = filter, out = y (bias offset -1 for none, act 0/1/2);
 * kind 1: input gradient, a = dy, b = filter, out = dx;
 * kind 2: filter gradient, a = x, b = dy, out = dw.
 */
static napi_value conv(napi_env env, napi_callback_info info) {
  napi_value argv[20];
  if (!args_of(env, info, 20, argv, "conv")) return NULL;
  int64_t kind, act, off[4], d[13];
  if (!ints(env, argv, 0, 1, &kind) || !ints(env, argv, 2, 4, off) || !ints(env, argv, 6, 13, d) ||
      !ints(env, argv, 19, 1, &act))
    return NULL;
  bool is_ab;
  CHECK(napi_is_arraybuffer(env, argv[1], &is_ab));
  if (!is_ab) {
    napi_throw_type_error(env, NULL, "ichdet native: the heap must be an ArrayBuffer");
    return NULL;
  }
  void *data;
  size_t len;
  CHECK(napi_get_arraybuffer_info(env, argv[1], &data, &len));
  for (int i = 0; i < 13; i++) {
    /* Pads (9, 10) may be 0; every other size is at least 1; all fit an int. */
    if (d[i] < ((i == 9 || i == 10) ? 0 : 1) || d[i] > INT32_MAX) {
      napi_throw_range_error(env, NULL, "ichdet native: a convolution size is out of range");
      return NULL;
    }
  }
  Geom g = {(int)d[0], (int)d[1],  (int)d[2],  (int)d[3],  (int)d[4],  (int)d[5], (int)d[6],
            (int)d[7], (int)d[8],  (int)d[9],  (int)d[10], (int)d[11], (int)d[12]};
  const size_t nx = (size_t)g.n * g.h * g.w * g.c;
  const size_t nw = (size_t)g.kh * g.kw * g.c * g.co;
  const size_t ny = (size_t)g.n * g.oh * g.ow * g.co;
  uint8_t *base = (uint8_t *)data;
  int ok = 0;
  if (kind == 0) {
    const float *x = at(env, base, len, off[0], nx, "x");
    const float *w = x ? at(env, base, len, off[1], nw, "filter") : NULL;
    const float *bias = NULL;
    if (w && off[2] >= 0) bias = at(env, base, len, off[2], (size_t)g.co, "bias");
    float *y = (w && (off[2] < 0 || bias)) ? at(env, base, len, off[3], ny, "y") : NULL;
    if (!y) return NULL;
    ok = conv_forward(x, w, bias, y, &g, act);
  } else if (kind == 1) {
    const float *dy = at(env, base, len, off[0], ny, "dy");
    const float *w = dy ? at(env, base, len, off[1], nw, "filter") : NULL;
    float *dx = w ? at(env, base, len, off[3], nx, "dx") : NULL;
    if (!dx) return NULL;
    ok = conv_input_grad(dy, w, dx, &g);
  } else if (kind == 2) {
    const float *x = at(env, base, len, off[0], nx, "x");
    const float *dy = x ? at(env, base, len, off[1], ny, "dy") : NULL;
    float *dw = dy ? at(env, base, len, off[3], nw, "dw") : NULL;
    if (!dw) return NULL;
    ok = conv_filter_grad(x, dy, dw, &g);
  } else {
    napi_throw_range_error(env, NULL, "ichdet native: conv kind must be 0, 1 or 2");
    return NULL;
  }
  if (!ok) {
    napi_throw_error(env, NULL, "ichdet native: out of memory for the patch matrix");
    return NULL;
  }
  return NULL;
}

/* A Float32Array argument's data and length (any backing store, SharedArrayBuffer included). */
static float *f32(napi_env env, napi_value v, size_t *length, const char *what) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *data;
  if (napi_is_typedarray(env, v, &is_ta) == napi_ok && is_ta &&
      napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) == napi_ok &&
      type == napi_float32_array)
    return (float *)data;
  char msg[120];
  snprintf(msg, sizeof msg, "ichdet native: %s must be a Float32Array", what);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/*
 * adam(w, m, v, grads, lo, hi, alpha, c1, c2, eps): Keras' Adam on w[lo, hi) in place, with the
 * gradient the sum of the Float32Arrays in `grads` (added in order, each partial sum rounded to
 * float32). Every step is the double-precision arithmetic of train/optim.ts' JavaScript loop,
 * rounded to float32 where that loop stores, so the bits are the same (-ffp-contract=off: no
 * fused multiply-adds).
 */
static napi_value adam(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  if (!args_of(env, info, 10, argv, "adam")) return NULL;
  size_t nw, nm, nv;
  float *w = f32(env, argv[0], &nw, "w");
  float *m = w ? f32(env, argv[1], &nm, "m") : NULL;
  float *v = m ? f32(env, argv[2], &nv, "v") : NULL;
  if (!v) return NULL;
  bool is_array;
  uint32_t ng = 0;
  CHECK(napi_is_array(env, argv[3], &is_array));
  if (is_array) CHECK(napi_get_array_length(env, argv[3], &ng));
  if (!is_array || ng < 1 || ng > 64) {
    napi_throw_type_error(env, NULL, "ichdet native: grads must be an array of 1 to 64 Float32Arrays");
    return NULL;
  }
  const float *g[64];
  size_t shortest = nw < nm ? (nw < nv ? nw : nv) : (nm < nv ? nm : nv);
  for (uint32_t j = 0; j < ng; j++) {
    napi_value e;
    size_t n;
    CHECK(napi_get_element(env, argv[3], j, &e));
    g[j] = f32(env, e, &n, "every gradient");
    if (!g[j]) return NULL;
    if (n < shortest) shortest = n;
  }
  int64_t range[2];
  if (!ints(env, argv, 4, 2, range)) return NULL;
  if (range[0] < 0 || range[1] < range[0] || (uint64_t)range[1] > shortest) {
    napi_throw_range_error(env, NULL, "ichdet native: adam's range is outside the arrays");
    return NULL;
  }
  double k[4];
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_double(env, argv[6 + i], &k[i]));
  const double alpha = k[0], c1 = k[1], c2 = k[2], eps = k[3];
  for (int64_t i = range[0]; i < range[1]; i++) {
    float gs = g[0][i];
    for (uint32_t j = 1; j < ng; j++) gs = (float)((double)gs + (double)g[j][i]);
    const double gi = gs;
    const double m0 = m[i];
    const double v0 = v[i];
    const float mi = (float)(m0 + (gi - m0) * c1);
    const float vi = (float)(v0 + (gi * gi - v0) * c2);
    m[i] = mi;
    v[i] = vi;
    w[i] = (float)((double)w[i] - ((double)mi * alpha) / (sqrt((double)vi) + eps));
  }
  return NULL;
}

/* setThreads(n): OpenBLAS' threads for this process (every worker thread shares them). */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t n;
  if (argc != 1 || !ints(env, argv, 0, 1, &n)) return NULL;
  set_num_threads(n < 1 ? 1 : n > 256 ? 256 : (int)n);
  return NULL;
}

static napi_value threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_int32(env, get_num_threads(), &out));
  return out;
}

/* "OpenBLAS <version>, <core> kernels": the build's version and the kernels chosen for this CPU. */
static napi_value config(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  const char *c = get_config();
  const char *core = get_corename();
  char version[64] = "OpenBLAS";
  if (c) {
    /* The configuration string starts "OpenBLAS 0.3.21 ...": keep its first two words. */
    int words = 0;
    size_t i = 0;
    for (; c[i] && i < sizeof version - 1; i++) {
      if (c[i] == ' ' && ++words == 2) break;
      version[i] = c[i];
    }
    version[i] = 0;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "%s, %s kernels", version, core ? core : "default");
  CHECK(napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &out));
  return out;
}

NAPI_MODULE_INIT() {
  const char *why = open_blas();
  if (why) {
    napi_throw_error(env, NULL, why);
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"conv", NULL, conv, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, adam, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"threads", NULL, threads, NULL, NULL, NULL, napi_default, NULL},
      {"config", NULL, config, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  return exports;
}
