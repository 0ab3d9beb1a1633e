/*
 * checkpoint_test.c - save, load and apply round trips bit for bit;
 * truncated, garbage, hostile and foreign files are refused with an error;
 * a writer killed mid-save leaves the previous checkpoint intact; `heed
 * export` writes valid .npy files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "common/alloc.h"
#include "net_test_util.h"

static char tmpdir[1024];

/* snprintf that fails the test instead of truncating. */
#define FMT(buf, len, ...)                                                    \
  do {                                                                        \
    int fmt_k_ = snprintf(buf, len, __VA_ARGS__);                             \
    assert_true(fmt_k_ >= 0 && (size_t)fmt_k_ < (size_t)(len));               \
  } while (0)

static void path_in(char *buf, size_t len, const char *name) {
  FMT(buf, len, "%s/%s", tmpdir, name);
}

static int read_all(const char *path, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = malloc(n > 0 ? (size_t)n : 1);
  *len = fread(*data, 1, (size_t)n, f);
  fclose(f);
  return *len == (size_t)n ? 0 : -1;
}

static void write_all(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static uint8_t *find_bytes(uint8_t *hay, size_t n, const void *needle,
                           size_t m) {
  for (size_t i = 0; i + m <= n; i++)
    if (!memcmp(hay + i, needle, m))
      return hay + i;
  return NULL;
}

static const uint32_t sizes[] = {12, 10, 8, 4};
static const heed_checkpoint_point curve[] = {{1, 1.5, 0.25}, {5, 0.75, 0.5}};

/* A trained net with retain on layer 1, guard on layer 2 and a mix on the
 * output layer (bp, retain with another lambda, guard). */
static heed_net *trained_net(heed_runtime *rt, int batches) {
  heed_net *net = make_net(rt, 4, sizes, NULL, "retain:lambda=3", 0.05f, 7);
  heed_strategy *g = NULL, *bp = NULL, *r2 = NULL;
  char err[256];
  assert_int_equal(heed_strategy_new(&g, "guard", err, sizeof err), 0);
  assert_int_equal(heed_strategy_new(&bp, "bp", err, sizeof err), 0);
  assert_int_equal(heed_strategy_new(&r2, "retain:lambda=0.1", err, sizeof err),
                   0);
  assert_int_equal(heed_net_set_strategy(net, 2, -1, g), 0);
  assert_int_equal(heed_net_set_strategy(net, 3, 0, bp), 0);
  assert_int_equal(heed_net_set_strategy(net, 3, 1, r2), 0);
  assert_int_equal(heed_net_set_strategy(net, 3, 2, g), 0);
  heed_strategy_free(g);
  heed_strategy_free(bp);
  heed_strategy_free(r2);
  float x[32 * 12];
  uint8_t y[32];
  for (int b = 0; b < batches; b++) {
    gen_data(100 + (uint64_t)b, 32, 12, 4, x, y);
    assert_int_equal(heed_net_train_batch(net, x, y, 32, NULL), 0);
    if (b == batches / 2)
      assert_int_equal(heed_net_control(net, HEED_EVENT_CONSOLIDATE), 0);
  }
  assert_int_equal(heed_net_sync(net), 0);
  return net;
}

static const heed_checkpoint_meta meta = {
    .seed = 0x123456789abcdefULL, .epoch = 3, .batch = 32, .shuffle = 1,
    .dataset = "digits", .args = "--hidden 10,8", .ncurve = 2,
    .curve = curve};

static void save_ok(const heed_net *net, const char *path) {
  char err[512] = "";
  int rv = heed_checkpoint_save(net, &meta, path, err, sizeof err);
  if (rv)
    fail_msg("save: %s", err);
}

static void assert_same_net(heed_net *a, heed_net *b) {
  assert_int_equal(heed_net_nlayers(a), heed_net_nlayers(b));
  assert_true(heed_net_step(a) == heed_net_step(b));
  float la = heed_net_lr(a), lb = heed_net_lr(b);
  assert_memory_equal(&la, &lb, sizeof la);
  for (size_t l = 1; l <= heed_net_nlayers(a); l++) {
    size_t n = heed_net_size(a, l), w = n * heed_net_size(a, l - 1);
    float *wa = malloc(w * 4), *wb = malloc(w * 4), ba[64], bb[64];
    assert_int_equal(heed_net_params_get(a, l, wa, ba), 0);
    assert_int_equal(heed_net_params_get(b, l, wb, bb), 0);
    assert_memory_equal(wa, wb, w * 4);
    assert_memory_equal(ba, bb, n * 4);
    free(wa);
    free(wb);
    for (uint32_t j = 0; j < n; j++) {
      const double *pa, *pb;
      const heed_strategy_ops *oa = heed_net_neuron_strategy(a, l, j, &pa);
      const heed_strategy_ops *ob = heed_net_neuron_strategy(b, l, j, &pb);
      assert_ptr_equal(oa, ob);
      assert_memory_equal(pa, pb, oa->nparams * sizeof *pa);
      size_t na = 0, nb = 0;
      assert_int_equal(heed_net_state_get(a, l, j, NULL, &na), 0);
      assert_int_equal(heed_net_state_get(b, l, j, NULL, &nb), 0);
      assert_int_equal(na, nb);
      if (!na)
        continue;
      float *sa = malloc(na * 4), *sb = malloc(nb * 4);
      assert_int_equal(heed_net_state_get(a, l, j, sa, &na), 0);
      assert_int_equal(heed_net_state_get(b, l, j, sb, &nb), 0);
      assert_memory_equal(sa, sb, na * 4);
      free(sa);
      free(sb);
    }
  }
}

static void test_round_trip(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(2);
  heed_net *net = trained_net(rt, 6);
  char path[PATH_MAX], err[512] = "";
  path_in(path, sizeof path, "rt.ckpt");
  save_ok(net, path);

  heed_checkpoint *ck = NULL;
  int rv = heed_checkpoint_load(&ck, path, err, sizeof err);
  if (rv)
    fail_msg("load: %s", err);
  assert_int_equal(heed_checkpoint_nsizes(ck), 4);
  assert_memory_equal(heed_checkpoint_sizes(ck), sizes, sizeof sizes);
  assert_int_equal(heed_checkpoint_activation(ck, 1), HEED_ACT_RELU);
  assert_int_equal(heed_checkpoint_activation(ck, 3), HEED_ACT_IDENTITY);
  assert_true(heed_checkpoint_step(ck) == heed_net_step(net));
  assert_true(heed_checkpoint_step(ck) == 6);
  const heed_checkpoint_meta *m = heed_checkpoint_meta_of(ck);
  assert_true(m->seed == 0x123456789abcdefULL);
  assert_int_equal(m->epoch, 3);
  assert_int_equal(m->batch, 32);
  assert_true(m->shuffle);
  assert_string_equal(m->dataset, "digits");
  assert_string_equal(m->args, "--hidden 10,8");
  assert_int_equal(m->ncurve, 2);
  assert_memory_equal(m->curve, curve, sizeof curve);
  char spec[256];
  assert_int_equal(heed_checkpoint_strategy(ck, 1, 0, spec, sizeof spec), 0);
  assert_string_equal(spec, "retain:lambda=3");
  assert_int_equal(heed_checkpoint_strategy(ck, 3, 0, spec, sizeof spec), 0);
  assert_string_equal(spec, "bp");
  float w[10 * 12];
  assert_int_equal(heed_net_params_get(net, 1, w, NULL), 0);
  assert_memory_equal(heed_checkpoint_weights(ck, 1), w, sizeof w);
  assert_null(heed_checkpoint_weights(ck, 4));
  assert_null(heed_checkpoint_biases(ck, 0));

  /* A fresh net, other seed, other strategy, becomes the saved one. */
  heed_net *fresh = make_net(rt, 4, sizes, NULL, "bp", 0.5f, 99);
  rv = heed_checkpoint_apply(ck, fresh, err, sizeof err);
  if (rv)
    fail_msg("apply: %s", err);
  assert_same_net(net, fresh);

  /* ... and keeps training exactly as the original does. */
  float x[32 * 12];
  uint8_t y[32];
  for (int b = 0; b < 3; b++) {
    gen_data(500 + (uint64_t)b, 32, 12, 4, x, y);
    assert_int_equal(heed_net_train_batch(net, x, y, 32, NULL), 0);
    assert_int_equal(heed_net_train_batch(fresh, x, y, 32, NULL), 0);
  }
  assert_int_equal(heed_net_sync(net), 0);
  assert_int_equal(heed_net_sync(fresh), 0);
  assert_same_net(net, fresh);

  /* Saving the restored net again gives the same file as saving the
   * original (the format is deterministic). */
  char p2[PATH_MAX], p3[PATH_MAX];
  path_in(p2, sizeof p2, "rt2.ckpt");
  path_in(p3, sizeof p3, "rt3.ckpt");
  save_ok(net, p2);
  save_ok(fresh, p3);
  uint8_t *d2 = NULL, *d3 = NULL;
  size_t n2 = 0, n3 = 0;
  assert_int_equal(read_all(p2, &d2, &n2), 0);
  assert_int_equal(read_all(p3, &d3, &n3), 0);
  assert_int_equal(n2, n3);
  assert_memory_equal(d2, d3, n2);
  free(d2);
  free(d3);

  heed_checkpoint_free(ck);
  heed_net_free(fresh);
  heed_net_free(net);
  heed_runtime_free(rt);
}

static void test_apply_mismatch(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(1);
  heed_net *net = trained_net(rt, 2);
  char path[PATH_MAX], err[512] = "";
  path_in(path, sizeof path, "mm.ckpt");
  save_ok(net, path);
  heed_checkpoint *ck = NULL;
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err), 0);

  const uint32_t other[] = {12, 9, 8, 4};
  heed_net *a = make_net(rt, 4, other, NULL, "bp", 0.1f, 1);
  assert_true(heed_checkpoint_apply(ck, a, err, sizeof err) < 0);
  assert_non_null(strstr(err, path));
  heed_net_free(a);

  const uint32_t shorter[] = {12, 10, 4};
  a = make_net(rt, 3, shorter, NULL, "bp", 0.1f, 1);
  assert_true(heed_checkpoint_apply(ck, a, err, sizeof err) < 0);
  heed_net_free(a);

  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_RELU,
                                  HEED_ACT_IDENTITY};
  a = make_net(rt, 4, sizes, acts, "bp", 0.1f, 1);
  float w0[10 * 12];
  assert_int_equal(heed_net_params_get(a, 1, w0, NULL), 0);
  assert_true(heed_checkpoint_apply(ck, a, err, sizeof err) < 0);
  assert_non_null(strstr(err, "tanh"));
  float w1[10 * 12];
  assert_int_equal(heed_net_params_get(a, 1, w1, NULL), 0);
  assert_memory_equal(w0, w1, sizeof w0); /* untouched on error */
  heed_net_free(a);

  heed_checkpoint_free(ck);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* A strategy the registry does not know (say, a plugin not loaded) is a
 * clear error on apply; load still works (export needs no strategies). */
static void test_unknown_strategy(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(1);
  heed_net *net = trained_net(rt, 2);
  char path[PATH_MAX], err[512] = "";
  path_in(path, sizeof path, "unk.ckpt");
  save_ok(net, path);
  uint8_t *d = NULL;
  size_t n = 0;
  assert_int_equal(read_all(path, &d, &n), 0);
  uint8_t *p = find_bytes(d, n, "\xa5guard", 6);
  assert_non_null(p);
  memcpy(p + 1, "gxard", 5);
  write_all(path, d, n);
  free(d);
  heed_checkpoint *ck = NULL;
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err), 0);
  heed_net *fresh = make_net(rt, 4, sizes, NULL, "bp", 0.1f, 1);
  assert_int_equal(heed_checkpoint_apply(ck, fresh, err, sizeof err),
                   HEED_ENOENT);
  assert_non_null(strstr(err, "gxard"));
  assert_non_null(strstr(err, "not registered"));
  assert_null(strchr(err, '\n'));
  heed_checkpoint_free(ck);
  heed_net_free(fresh);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* A small saved checkpoint's bytes, for the corruption tests. */
static uint8_t *small_checkpoint(size_t *len) {
  heed_runtime *rt = make_rt(1);
  heed_net *net = trained_net(rt, 2);
  char path[PATH_MAX];
  path_in(path, sizeof path, "small.ckpt");
  save_ok(net, path);
  heed_net_free(net);
  heed_runtime_free(rt);
  uint8_t *d = NULL;
  assert_int_equal(read_all(path, &d, len), 0);
  return d;
}

static void test_truncated(void **state) {
  (void)state;
  size_t n = 0;
  uint8_t *d = small_checkpoint(&n);
  char path[PATH_MAX], err[512];
  path_in(path, sizeof path, "cut.ckpt");
  size_t tested = 0;
  for (size_t cut = 0; cut < n; cut += (cut < 256 || n - cut < 256) ? 1 : 7) {
    write_all(path, d, cut);
    heed_checkpoint *ck = NULL;
    err[0] = 0;
    int rv = heed_checkpoint_load(&ck, path, err, sizeof err);
    if (rv != HEED_ETRUNC)
      fail_msg("cut at %zu of %zu: %d (%s)", cut, n, rv, err);
    assert_null(ck);
    assert_non_null(strstr(err, path));
    assert_null(strchr(err, '\n'));
    tested++;
  }
  assert_true(tested > 500);
  free(d);
}

static void test_garbage(void **state) {
  (void)state;
  char path[PATH_MAX], err[512];
  path_in(path, sizeof path, "junk.ckpt");
  heed_rng r;
  heed_rng_seed(&r, 42);
  uint8_t buf[4096];
  for (int t = 0; t < 400; t++) {
    size_t n = 1 + (size_t)heed_rng_below(&r, sizeof buf);
    for (size_t i = 0; i < n; i++)
      buf[i] = (uint8_t)heed_rng_below(&r, 256);
    if (t % 4 == 0)
      buf[0] = (uint8_t)(0x80 | (t & 15)); /* looks like a map */
    if (t % 4 == 1)
      buf[0] = 0xdf; /* map32 with a wild count */
    write_all(path, buf, n);
    heed_checkpoint *ck = NULL;
    assert_true(heed_checkpoint_load(&ck, path, err, sizeof err) < 0);
    assert_null(ck);
    assert_non_null(strstr(err, path));
  }
  /* A valid checkpoint with random bytes flipped: loads or fails, never
   * crashes; what loads is internally consistent. */
  size_t n = 0;
  uint8_t *d = small_checkpoint(&n);
  uint8_t *m = malloc(n);
  for (int t = 0; t < 600; t++) {
    memcpy(m, d, n);
    int flips = 1 + (int)heed_rng_below(&r, 4);
    for (int k = 0; k < flips; k++)
      m[heed_rng_below(&r, n)] = (uint8_t)heed_rng_below(&r, 256);
    write_all(path, m, n);
    heed_checkpoint *ck = NULL;
    if (heed_checkpoint_load(&ck, path, err, sizeof err) == 0) {
      assert_true(heed_checkpoint_nsizes(ck) >= 2);
      for (size_t l = 1; l < heed_checkpoint_nsizes(ck); l++) {
        assert_non_null(heed_checkpoint_weights(ck, l));
        assert_non_null(heed_checkpoint_biases(ck, l));
      }
      heed_checkpoint_free(ck);
    }
  }
  free(m);
  free(d);
  /* Empty file, directory, missing file. */
  write_all(path, "", 0);
  heed_checkpoint *ck = NULL;
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err),
                   HEED_ETRUNC);
  assert_int_equal(heed_checkpoint_load(&ck, tmpdir, err, sizeof err),
                   HEED_EIO);
  path_in(path, sizeof path, "missing.ckpt");
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err), HEED_EIO);
  assert_non_null(strstr(err, "missing.ckpt"));
}

static void test_wrong_version_and_format(void **state) {
  (void)state;
  size_t n = 0;
  uint8_t *d = small_checkpoint(&n);
  char path[PATH_MAX], err[512];
  path_in(path, sizeof path, "ver.ckpt");
  uint8_t *p = find_bytes(d, n, "\xa7version\x01", 9);
  assert_non_null(p);
  p[8] = 2;
  write_all(path, d, n);
  heed_checkpoint *ck = NULL;
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err),
                   HEED_EVERSION);
  assert_non_null(strstr(err, "version 2"));
  p[8] = 1;
  p = find_bytes(d, n, "heed-checkpoint", 15);
  assert_non_null(p);
  p[14] = 'X';
  write_all(path, d, n);
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err),
                   HEED_EFORMAT);
  assert_non_null(strstr(err, "not a heed checkpoint"));
  free(d);
}

/* Hand-made files: a minimal valid one for sizes {2, 3} and variants that
 * break one rule each. */
enum {
  V_OK, V_SIZE_ZERO, V_SIZE_HUGE, V_LAYERS_65, V_BIN_SHORT, V_PLAY_RANGE,
  V_STEP_STR, V_NO_WEIGHTS, V_VERSION_STR, V_STATE_ODD, V_EXTRA_BYTES,
  V_ARRAY_BOMB, V_NOT_MAP, V_PARAM_NAN, V_BATCH_BIG, V_LR_HUGE, V_LR_NEG,
  V_EPOCH_BIG, V_LAMBDA_NEG, V_LAMBDA_HUGE, V_PARAM_UNKNOWN, V_NAME_CTRL,
  V_ACT_CTRL, V_PNAME_CTRL, V_NVARIANTS
};

static int sbuf_write(void *data, const char *buf, size_t len) {
  return msgpack_sbuffer_write(data, buf, len);
}

static void key(msgpack_packer *pk, const char *s) {
  msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void craft(const char *path, int v) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, sbuf_write);
  if (v == V_ARRAY_BOMB) {
    /* {"format": [2^32-1 elements...]} with nothing behind it */
    msgpack_sbuffer_write(&sb, "\x81\xa6" "format\xdd\xff\xff\xff\xff\x01", 13);
    goto done;
  }
  if (v == V_NOT_MAP) {
    msgpack_pack_array(&pk, 2);
    key(&pk, "heed-checkpoint");
    msgpack_pack_uint32(&pk, 1);
    goto done;
  }
  uint32_t sz[2] = {2, 3};
  size_t nsz = 2;
  if (v == V_SIZE_ZERO)
    sz[1] = 0;
  if (v == V_SIZE_HUGE)
    sz[0] = (1u << 24) + 1;
  if (v == V_LAYERS_65)
    nsz = 66;
  msgpack_pack_map(&pk, v == V_NO_WEIGHTS ? 11 : 12);
  key(&pk, "format");
  key(&pk, "heed-checkpoint");
  key(&pk, "version");
  if (v == V_VERSION_STR)
    key(&pk, "1");
  else
    msgpack_pack_uint32(&pk, 1);
  key(&pk, "sizes");
  msgpack_pack_array(&pk, nsz);
  for (size_t i = 0; i < nsz; i++)
    msgpack_pack_uint32(&pk, sz[i < 2 ? i : 1]);
  key(&pk, "activations");
  msgpack_pack_array(&pk, 1);
  key(&pk, v == V_ACT_CTRL ? "relu\n\x1b[2Jfake: line" : "identity");
  key(&pk, "step");
  if (v == V_STEP_STR)
    key(&pk, "7");
  else
    msgpack_pack_uint64(&pk, 7);
  key(&pk, "lr");
  if (v == V_LR_HUGE || v == V_LR_NEG)
    msgpack_pack_double(&pk, v == V_LR_HUGE ? 1e30 : -0.5);
  else
    msgpack_pack_float(&pk, 0.25f);
  key(&pk, "plays");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, 2);
  key(&pk, "name");
  key(&pk, v == V_NAME_CTRL ? "ret\nain\x1b[31m" : "retain");
  key(&pk, "params");
  msgpack_pack_map(&pk, 1);
  key(&pk, v == V_PARAM_UNKNOWN ? "lambdax"
           : v == V_PNAME_CTRL  ? "lam\rbda"
                                : "lambda");
  msgpack_pack_double(&pk, v == V_PARAM_NAN      ? 0.0 / 0.0
                           : v == V_LAMBDA_NEG   ? -5
                           : v == V_LAMBDA_HUGE  ? 1e308
                                                 : 2.5);
  key(&pk, "strategy");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_array(&pk, 3);
  for (int j = 0; j < 3; j++)
    msgpack_pack_uint32(&pk, v == V_PLAY_RANGE && j == 2 ? 1 : 0);
  float st[1] = {0.5f}; /* retain: Omega */
  key(&pk, "state");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_array(&pk, 3);
  for (int j = 0; j < 3; j++)
    msgpack_pack_bin_with_body(&pk, st, v == V_STATE_ODD && j == 1 ? 2 : 4);
  const float w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {-1, -2, -3};
  if (v != V_NO_WEIGHTS) {
    key(&pk, "weights");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_bin_with_body(&pk, w, v == V_BIN_SHORT ? 20 : 24);
  }
  key(&pk, "biases");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_bin_with_body(&pk, b, 12);
  key(&pk, "meta");
  msgpack_pack_map(&pk, 7);
  key(&pk, "seed");
  msgpack_pack_uint64(&pk, 5);
  key(&pk, "epoch");
  msgpack_pack_uint32(&pk, v == V_EPOCH_BIG ? 200000 : 1);
  key(&pk, "batch");
  msgpack_pack_uint32(&pk, v == V_BATCH_BIG ? 65536 : 16);
  key(&pk, "shuffle");
  msgpack_pack_false(&pk);
  key(&pk, "dataset");
  key(&pk, "");
  key(&pk, "args");
  key(&pk, "");
  key(&pk, "curve");
  msgpack_pack_array(&pk, 0);
  if (v == V_EXTRA_BYTES)
    msgpack_pack_nil(&pk);
done:
  write_all(path, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

static void test_crafted(void **state) {
  (void)state;
  static const struct {
    int variant, code;
    const char *want; /* in the message, besides the path */
  } cases[] = {
      {V_SIZE_ZERO, HEED_EFORMAT, ""},   {V_SIZE_HUGE, HEED_EFORMAT, ""},
      {V_LAYERS_65, HEED_EFORMAT, ""},   {V_BIN_SHORT, HEED_EFORMAT, ""},
      {V_PLAY_RANGE, HEED_EFORMAT, ""},  {V_STEP_STR, HEED_EFORMAT, ""},
      {V_NO_WEIGHTS, HEED_EFORMAT, ""},  {V_VERSION_STR, HEED_EFORMAT, ""},
      {V_STATE_ODD, HEED_EFORMAT, ""},   {V_EXTRA_BYTES, HEED_EFORMAT, ""},
      {V_ARRAY_BOMB, HEED_ETRUNC, ""},   {V_NOT_MAP, HEED_EFORMAT, ""},
      {V_PARAM_NAN, HEED_EFORMAT, ""},
      /* run options, checked as the command line checks its flags */
      {V_BATCH_BIG, HEED_ERANGE, "'batch' = 65536 is out of range [1, 4096]"},
      {V_LR_HUGE, HEED_ERANGE, "'lr' = 1e+30 is out of range [1e-09, 100]"},
      {V_LR_NEG, HEED_ERANGE, "'lr' = -0.5 is out of range [1e-09, 100]"},
      {V_EPOCH_BIG, HEED_ERANGE, "'epoch' = 200000 is out of range"},
      /* strategy parameters, checked against their declared ranges */
      {V_LAMBDA_NEG, HEED_ERANGE, "retain: lambda=-5 is out of range [0, "},
      {V_LAMBDA_HUGE, HEED_ERANGE, "lambda=1e+308 is out of range [0, "},
      {V_PARAM_UNKNOWN, HEED_EFORMAT, "has no parameter 'lambdax'"},
      /* names echoed escaped, on one line */
      {V_NAME_CTRL, HEED_EFORMAT, "'ret\\x0aain\\x1b[31m' has a bad "},
      {V_ACT_CTRL, HEED_EFORMAT, "'relu\\x0a\\x1b[2Jfake: line'"},
      {V_PNAME_CTRL, HEED_EFORMAT, "'lam\\x0dbda' has a bad character"},
  };
  char path[PATH_MAX], err[512];
  path_in(path, sizeof path, "craft.ckpt");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    craft(path, cases[i].variant);
    heed_checkpoint *ck = NULL;
    err[0] = 0;
    int rv = heed_checkpoint_load(&ck, path, err, sizeof err);
    if (rv != cases[i].code)
      fail_msg("variant %d: got %d (%s), want %d", cases[i].variant, rv, err,
               cases[i].code);
    assert_null(ck);
    assert_non_null(strstr(err, path));
    if (!strstr(err, cases[i].want))
      fail_msg("variant %d: '%s' lacks '%s'", cases[i].variant, err,
               cases[i].want);
    for (const char *c = err; *c; c++)
      if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
        fail_msg("variant %d: raw byte 0x%02x in '%s'", cases[i].variant,
                 (unsigned char)*c, err);
    if (!strstr(err, cases[i].want))
      fail_msg("variant %d: '%s' lacks '%s'", cases[i].variant, err,
               cases[i].want);
    for (const char *c = err; *c; c++)
      if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
        fail_msg("variant %d: raw byte 0x%02x in '%s'", cases[i].variant,
                 (unsigned char)*c, err);
  }

  /* The valid one loads and applies to a {2, 3} identity net. */
  craft(path, V_OK);
  heed_checkpoint *ck = NULL;
  int rv = heed_checkpoint_load(&ck, path, err, sizeof err);
  if (rv)
    fail_msg("crafted: %s", err);
  assert_int_equal(heed_checkpoint_step(ck), 7);
  assert_true(heed_checkpoint_lr(ck) == 0.25f);
  char spec[128];
  assert_int_equal(heed_checkpoint_strategy(ck, 1, 2, spec, sizeof spec), 0);
  assert_string_equal(spec, "retain:lambda=2.5");
  heed_runtime *rt = make_rt(1);
  const uint32_t sz[] = {2, 3};
  const heed_activation act[] = {HEED_ACT_IDENTITY};
  heed_net *net = make_net(rt, 2, sz, act, "bp", 0.1f, 1);
  rv = heed_checkpoint_apply(ck, net, err, sizeof err);
  if (rv)
    fail_msg("apply crafted: %s", err);
  float w[6], b[3], s[1];
  size_t len = 1;
  assert_int_equal(heed_net_params_get(net, 1, w, b), 0);
  assert_true(w[0] == 1 && w[5] == 6 && b[2] == -3);
  assert_int_equal(heed_net_state_get(net, 1, 1, s, &len), 0);
  assert_int_equal(len, 1);
  assert_true(s[0] == 0.5f);
  assert_true(heed_net_step(net) == 7);
  assert_true(heed_net_lr(net) == 0.25f);
  heed_net_free(net);
  heed_runtime_free(rt);
  heed_checkpoint_free(ck);
}

static int count_tmp_files(const char *prefix) {
  DIR *d = opendir(tmpdir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix)) &&
        strstr(e->d_name, ".tmp."))
      n++;
  closedir(d);
  return n;
}

/* Stale temporaries do not matter; a writer killed mid-save leaves the
 * previous checkpoint byte for byte. */
static void test_atomic_write(void **state) {
  (void)state;
  static const uint32_t big[] = {784, 512, 512, 10};
  char path[PATH_MAX], stale[PATH_MAX + 16], err[512];
  path_in(path, sizeof path, "atomic.ckpt");
  heed_runtime *rt = make_rt(2);
  heed_net *net = make_net(rt, 4, big, NULL, "retain", 0.1f, 3);
  save_ok(net, path);
  heed_net_free(net);
  heed_runtime_free(rt); /* no threads left when we fork */

  uint8_t *orig = NULL;
  size_t norig = 0;
  assert_int_equal(read_all(path, &orig, &norig), 0);
  assert_true(norig > 2000000);

  FMT(stale, sizeof stale, "%s.tmp.999999", path);
  write_all(stale, "half a checkp", 13);
  heed_checkpoint *ck = NULL;
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err), 0);
  heed_checkpoint_free(ck);

  int killed_mid_write = 0;
  for (int round = 0; round < 4; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      /* The child saves the same network (same seed, untrained) over and
       * over, so every complete save has the original's bytes. */
      heed_runtime *crt = make_rt(1);
      heed_net *cn = make_net(crt, 4, big, NULL, "retain", 0.1f, 3);
      char cerr[512];
      for (;;)
        if (heed_checkpoint_save(cn, &meta, path, cerr, sizeof cerr) != 0)
          _exit(3);
    }
    /* Wait until the child is writing its temporary, then kill it a
     * little later: mid-write (or, rarely, between two saves). */
    char ctmp[PATH_MAX + 32];
    FMT(ctmp, sizeof ctmp, "%s.tmp.%ld", path, (long)pid);
    struct timespec tick = {0, 100000L};
    for (int i = 0; i < 100000 && access(ctmp, F_OK) != 0; i++)
      nanosleep(&tick, NULL);
    struct timespec ts = {0, (long)round * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status)); /* it did not fail on its own */
    killed_mid_write += access(ctmp, F_OK) == 0;

    uint8_t *now = NULL;
    size_t nnow = 0;
    assert_int_equal(read_all(path, &now, &nnow), 0);
    assert_int_equal(nnow, norig);
    assert_memory_equal(now, orig, norig);
    ck = NULL;
    int rv = heed_checkpoint_load(&ck, path, err, sizeof err);
    if (rv)
      fail_msg("round %d: previous checkpoint lost: %s", round, err);
    heed_checkpoint_free(ck);
    free(now);
  }
  /* Leftovers are only temporaries: each child's first save removed those
   * of the children killed before it (and of the made-up PID 999999), so
   * only the last one's can remain. A live process's temporary (PID 1,
   * or our own parent) is never touched. The next save removes the dead
   * one's and still works. */
  assert_true(killed_mid_write >= 1);
  assert_true(count_tmp_files("atomic.ckpt") <= 1);
  if (getenv("CK_DEBUG"))
    fprintf(stderr, "killed mid-write: %d of 4\n", killed_mid_write);
  char live1[PATH_MAX + 32], live2[PATH_MAX + 32], other[PATH_MAX + 32];
  FMT(live1, sizeof live1, "%s.tmp.1", path);
  FMT(live2, sizeof live2, "%s.tmp.%ld", path, (long)getppid());
  FMT(other, sizeof other, "%s.tmp.x999999", path);
  write_all(live1, "live", 4);
  write_all(live2, "live", 4);
  write_all(other, "not a pid", 9);
  write_all(stale, "half a checkp", 13);
  rt = make_rt(1);
  net = make_net(rt, 4, big, NULL, "retain", 0.1f, 3);
  save_ok(net, path);
  assert_int_equal(access(stale, F_OK), -1);
  assert_int_equal(access(live1, F_OK), 0);
  assert_int_equal(access(live2, F_OK), 0);
  assert_int_equal(access(other, F_OK), 0);
  assert_int_equal(count_tmp_files("atomic.ckpt"), 3);
  uint8_t *again = NULL;
  size_t nagain = 0;
  assert_int_equal(read_all(path, &again, &nagain), 0);
  assert_int_equal(nagain, norig);
  assert_memory_equal(again, orig, norig);
  free(again);
  heed_net_free(net);
  heed_runtime_free(rt);
  free(orig);

  /* Clean the temporaries up. */
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) {
      char p[PATH_MAX + 256];
      FMT(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  closedir(d);

  /* A directory that cannot be written: an error, nothing renamed. */
  char ro[PATH_MAX], inro[PATH_MAX + 16];
  path_in(ro, sizeof ro, "ro");
  assert_int_equal(mkdir(ro, 0555), 0);
  FMT(inro, sizeof inro, "%s/x.ckpt", ro);
  if (access(ro, W_OK) != 0) { /* not root */
    rt = make_rt(1);
    net = make_net(rt, 2, big, NULL, "bp", 0.1f, 3);
    assert_int_equal(heed_checkpoint_save(net, NULL, inro, err, sizeof err),
                     HEED_EIO);
    assert_non_null(strstr(err, inro));
    heed_net_free(net);
    heed_runtime_free(rt);
  }
  rmdir(ro);
}

/* A checkpoint never replaces what is not a regular file: a FIFO or a
 * directory at the path is refused, and left as it was. (As root, the old
 * rename replaced /dev/null.) */
static void test_save_targets(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(1);
  heed_net *net = trained_net(rt, 1);
  char fifo[PATH_MAX], dir[PATH_MAX], err[512];
  path_in(fifo, sizeof fifo, "fifo.ckpt");
  path_in(dir, sizeof dir, "dir.ckpt");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_int_equal(mkdir(dir, 0700), 0);
  const char *paths[2] = {fifo, dir};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(heed_checkpoint_save(net, &meta, paths[i], err,
                                          sizeof err),
                     HEED_EINVAL);
    assert_non_null(strstr(err, paths[i]));
    assert_non_null(strstr(err, "not a regular file"));
    struct stat st;
    assert_int_equal(stat(paths[i], &st), 0);
    assert_true(i == 0 ? S_ISFIFO(st.st_mode) : S_ISDIR(st.st_mode));
  }
  assert_int_equal(count_tmp_files("fifo.ckpt"), 0);
  unlink(fifo);
  rmdir(dir);
  /* Out-of-range run options are not written either. */
  heed_checkpoint_meta big = meta;
  big.batch = 65536;
  path_in(fifo, sizeof fifo, "big.ckpt");
  assert_int_equal(heed_checkpoint_save(net, &big, fifo, err, sizeof err),
                   HEED_ERANGE);
  assert_non_null(strstr(err, "'batch' = 65536"));
  assert_int_equal(access(fifo, F_OK), -1);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* The loader on bytes in memory: same checks, same messages, the name
 * standing for the path. */
static void test_load_mem(void **state) {
  (void)state;
  size_t n = 0;
  uint8_t *d = small_checkpoint(&n);
  heed_checkpoint *ck = NULL;
  char err[512];
  assert_int_equal(heed_checkpoint_load_mem(&ck, d, n, "mem", err, sizeof err),
                   0);
  assert_int_equal(heed_checkpoint_nsizes(ck), 4);
  heed_checkpoint_free(ck);
  ck = NULL;
  assert_int_equal(
      heed_checkpoint_load_mem(&ck, d, n / 2, "mem", err, sizeof err),
      HEED_ETRUNC);
  assert_null(ck);
  assert_true(!strncmp(err, "mem: truncated", 14));
  assert_int_equal(heed_checkpoint_load_mem(&ck, d, 0, NULL, err, sizeof err),
                   HEED_ETRUNC);
  assert_true(!strncmp(err, "checkpoint: empty", 17));
  free(d);
}

/* Every allocation failure in save, load and apply is HEED_ENOMEM, with
 * nothing leaked (ASan's leak checker watches). */
static void test_alloc_failure(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(1);
  heed_net *net = trained_net(rt, 2);
  heed_net *fresh = make_net(rt, 4, sizes, NULL, "bp", 0.1f, 1);
  char path[PATH_MAX], err[512];
  path_in(path, sizeof path, "oom.ckpt");
  int saved = 0, loaded = 0, applied = 0;
  for (long n = 0; n < 400 && !(saved && loaded && applied); n++) {
    if (!saved) {
      heed__alloc_fail_after(n);
      int rv = heed_checkpoint_save(net, &meta, path, err, sizeof err);
      heed__alloc_fail_after(-1);
      if (rv != 0 && rv != HEED_ENOMEM)
        fail_msg("save with %ld allocations: %d (%s)", n, rv, err);
      saved = rv == 0;
      continue;
    }
    heed_checkpoint *ck = NULL;
    heed__alloc_fail_after(loaded ? -1 : n);
    int rv = heed_checkpoint_load(&ck, path, err, sizeof err);
    heed__alloc_fail_after(-1);
    if (rv != 0 && rv != HEED_ENOMEM)
      fail_msg("load with %ld allocations: %d (%s)", n, rv, err);
    if (rv == 0 && !loaded) {
      loaded = 1;
      n = -1; /* now the same for apply */
    } else if (rv == 0) {
      heed__alloc_fail_after(n);
      rv = heed_checkpoint_apply(ck, fresh, err, sizeof err);
      heed__alloc_fail_after(-1);
      if (rv != 0 && rv != HEED_ENOMEM)
        fail_msg("apply with %ld allocations: %d (%s)", n, rv, err);
      applied = rv == 0;
    }
    heed_checkpoint_free(ck);
  }
  assert_true(saved && loaded && applied);
  assert_same_net(net, fresh);
  heed_net_free(fresh);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* ---- heed export ------------------------------------------------------- */

static int find_heed(char *buf, size_t len) {
  const char *env = getenv("HEED_EXE");
  if (env) {
    FMT(buf, len, "%s", env);
    return access(buf, X_OK);
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return -1;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash)
    return -1;
  *slash = 0;
  FMT(buf, len, "%s/../src/cli/heed", self);
  return access(buf, X_OK);
}

static int run(const char *heed, const char *args) {
  char cmd[3 * PATH_MAX];
  FMT(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", heed, args);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Checks an .npy file: header per the NPY 1.0 spec, data equal to want. */
static void check_npy(const char *path, const char *shape, const float *want,
                      size_t count) {
  uint8_t *d = NULL;
  size_t n = 0;
  assert_int_equal(read_all(path, &d, &n), 0);
  assert_true(n >= 10);
  assert_memory_equal(d, "\x93NUMPY", 6);
  assert_int_equal(d[6], 1);
  assert_int_equal(d[7], 0);
  size_t hlen = d[8] | (size_t)d[9] << 8;
  assert_int_equal((10 + hlen) % 64, 0);
  assert_int_equal(n, 10 + hlen + 4 * count);
  assert_int_equal(d[10 + hlen - 1], '\n');
  char *h = calloc(1, hlen + 1);
  memcpy(h, d + 10, hlen);
  for (size_t i = 0; i < hlen; i++)
    assert_true(h[i] >= 0x20 || h[i] == '\n');
  assert_true(h[0] == '{');
  assert_non_null(strstr(h, "'descr': '<f4'"));
  assert_non_null(strstr(h, "'fortran_order': False"));
  char want_shape[64];
  FMT(want_shape, sizeof want_shape, "'shape': %s", shape);
  if (!strstr(h, want_shape))
    fail_msg("%s: header %s lacks %s", path, h, want_shape);
  /* after the dict's closing brace: only spaces, then the newline */
  char *close = strrchr(h, '}');
  assert_non_null(close);
  for (char *c = close + 1; c < h + hlen - 1; c++)
    assert_int_equal(*c, ' ');
  for (size_t i = 0; i < count; i++) {
    const uint8_t *p = d + 10 + hlen + 4 * i;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    assert_memory_equal(&f, &want[i], 4);
  }
  free(h);
  free(d);
}

static void test_export_npy(void **state) {
  (void)state;
  char heed[PATH_MAX];
  if (find_heed(heed, sizeof heed) != 0)
    skip();
  heed_runtime *rt = make_rt(1);
  heed_net *net = trained_net(rt, 2);
  char path[PATH_MAX], dir[PATH_MAX], args[3 * PATH_MAX];
  path_in(path, sizeof path, "exp.ckpt");
  path_in(dir, sizeof dir, "npy/out");
  save_ok(net, path);
  heed_net_free(net);
  heed_runtime_free(rt);

  FMT(args, sizeof args, "export %s --npy %s", path, dir);
  assert_int_equal(run(heed, args), 0);
  heed_checkpoint *ck = NULL;
  char err[512];
  assert_int_equal(heed_checkpoint_load(&ck, path, err, sizeof err), 0);
  for (size_t l = 1; l < 4; l++) {
    char f[PATH_MAX + 64], shape[64];
    FMT(f, sizeof f, "%s/layer%zu.weight.npy", dir, l);
    FMT(shape, sizeof shape, "(%u, %u)", sizes[l], sizes[l - 1]);
    check_npy(f, shape, heed_checkpoint_weights(ck, l),
              (size_t)sizes[l] * sizes[l - 1]);
    FMT(f, sizeof f, "%s/layer%zu.bias.npy", dir, l);
    FMT(shape, sizeof shape, "(%u,)", sizes[l]);
    check_npy(f, shape, heed_checkpoint_biases(ck, l), sizes[l]);
  }
  heed_checkpoint_free(ck);

  /* Bad arguments exit 2, a bad checkpoint 1. */
  assert_int_equal(run(heed, "export --help"), 0);
  assert_int_equal(run(heed, "export"), 2);
  FMT(args, sizeof args, "export %s", path);
  assert_int_equal(run(heed, args), 2);
  FMT(args, sizeof args, "export %s --npy", path);
  assert_int_equal(run(heed, args), 2);
  FMT(args, sizeof args, "export %s --bogus --npy %s", path, dir);
  assert_int_equal(run(heed, args), 2);
  char junk[PATH_MAX];
  path_in(junk, sizeof junk, "junk-export.ckpt");
  write_all(junk, "\x81\xa6" "format", 8);
  FMT(args, sizeof args, "export %s --npy %s", junk, dir);
  assert_int_equal(run(heed, args), 1);
  FMT(args, sizeof args, "export %s/none.ckpt --npy %s", tmpdir, dir);
  assert_int_equal(run(heed, args), 1);

  /* numpy itself, when it is installed. */
  if (system("python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
    char cmd[4 * PATH_MAX];
    FMT(cmd, sizeof cmd,
             "python3 -c \"import numpy as np; w = np.load('%s/layer1.weight"
             ".npy'); b = np.load('%s/layer3.bias.npy'); assert w.shape == "
             "(10, 12) and w.dtype == np.float32 and b.shape == (4,)\"",
             dir, dir);
    assert_int_equal(system(cmd), 0);
  }
}

static int rm_tree(void) {
  char cmd[PATH_MAX + 16];
  FMT(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd);
}

static int setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  FMT(tmpdir, sizeof tmpdir, "%s/heed-ckpt-XXXXXX", base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return rm_tree() == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_apply_mismatch),
      cmocka_unit_test(test_unknown_strategy),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_wrong_version_and_format),
      cmocka_unit_test(test_crafted),
      cmocka_unit_test(test_atomic_write),
      cmocka_unit_test(test_save_targets),
      cmocka_unit_test(test_load_mem),
      cmocka_unit_test(test_alloc_failure),
      cmocka_unit_test(test_export_npy),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
