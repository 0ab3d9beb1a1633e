/*
 * trace_test.c - the tracer: records round-trip through the file and the
 * reader; filters select exactly what they should; a truncated file reads
 * to its last whole record and garbage is refused; drops are counted when
 * the queue is tiny; sampling keeps whole batches; many producers lose
 * nothing; a network with a tracer attached reports its messages; the live
 * PUB socket publishes records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "net_test_util.h"

static char tmpdir[256];

static void path_in(char *buf, size_t len, const char *name) {
  int k = snprintf(buf, len, "%s/%s", tmpdir, name);
  assert_true(k > 0 && (size_t)k < len);
}

static heed_trace *open_trace(const char *path, double sample, uint32_t kinds,
                              int values, size_t queue) {
  heed_trace_opts o = {.path = path, .sample = sample, .kinds = kinds,
                       .values = values, .run = 42, .queue = queue};
  heed_trace *t = NULL;
  char err[256];
  int rv = heed_trace_new(&t, &o, err, sizeof err);
  if (rv)
    fprintf(stderr, "%s\n", err);
  assert_int_equal(rv, 0);
  return t;
}

static heed_trace_event make_event(uint64_t i, const float *vals,
                                   uint32_t n) {
  heed_trace_event ev = {
      .t_ns = 0, /* before the tracer started: recorded as 0 */
      .dur_ns = 100 + i,
      .batch = i / 10,
      .kind = (i % 2) ? HEED_TRACE_BID : HEED_TRACE_FORWARD,
      .sender = {HEED_ROLE_HUB, 2, HEED_TRACE_ALL_NEURONS},
      .receiver = {HEED_ROLE_NEURON, 1, (uint32_t)(i % 7)},
      .fanout = 7,
      .values = vals,
      .count = n,
      .loop = (uint32_t)(i % 3),
  };
  return ev;
}

/* Reads a whole file; returns the records' count (header included) and
 * the final status in *status. */
static size_t read_all(const char *path, int *status,
                       void (*each)(const heed_trace_rec *, size_t, void *),
                       void *ctx) {
  heed_trace_reader *r;
  char err[256];
  assert_int_equal(heed_trace_reader_open(&r, path, err, sizeof err), 0);
  heed_trace_rec rec;
  size_t n = 0;
  int rv;
  while ((rv = heed_trace_reader_next(r, &rec)) == 1) {
    if (each)
      each(&rec, n, ctx);
    n++;
  }
  *status = rv;
  heed_trace_reader_free(r);
  return n;
}

/* ---- round trip ---- */

#define NEV 1000

static void check_rt(const heed_trace_rec *r, size_t i, void *ctx) {
  size_t *drops_seen = ctx;
  if (i == 0) {
    assert_int_equal(r->kind, 0);
    assert_int_equal(r->version, 1);
    assert_true(r->run == 42);
    assert_true(r->start_unix_ns > 0);
    assert_true(r->sample == 1.0);
    assert_int_equal(r->kinds, HEED_TRACE_ALL);
    return;
  }
  if (r->kind == HEED_TRACE_DROPS) {
    (*drops_seen)++;
    assert_true(r->dropped == 0);
    assert_true(r->recorded == NEV);
    return;
  }
  uint64_t k = i - 1;
  assert_true(k < NEV);
  heed_trace_event ev = make_event(k, NULL, 0);
  assert_int_equal(r->kind, ev.kind);
  assert_true(r->run == 42);
  assert_true(r->t_ns == 0);
  assert_true(r->dur_ns == ev.dur_ns);
  assert_true(r->batch == ev.batch);
  assert_int_equal(r->sender.role, HEED_ROLE_HUB);
  assert_int_equal(r->sender.layer, 2);
  assert_int_equal(r->sender.index, HEED_TRACE_ALL_NEURONS);
  assert_int_equal(r->receiver.role, HEED_ROLE_NEURON);
  assert_int_equal(r->receiver.layer, 1);
  assert_int_equal(r->receiver.index, k % 7);
  assert_int_equal(r->fanout, 7);
  assert_int_equal(r->loop, k % 3);
  /* event k carries k % 5 values k, -k, k, ... (and 2000 for k == 999) */
  uint32_t n = k == NEV - 1 ? 2000 : (uint32_t)(k % 5);
  assert_int_equal(r->count, n);
  if (!n) {
    assert_null(r->values);
    return;
  }
  uint32_t kept = n < HEED_TRACE_MAX_VALUES ? n : HEED_TRACE_MAX_VALUES;
  assert_int_equal(r->nvalues, kept);
  double sum = 0, sabs = 0;
  for (uint32_t j = 0; j < n; j++) {
    float v = (j % 2) ? -(float)k : (float)k + 0.25f;
    if (j < kept)
      assert_true(r->values[j] == v);
    sum += v;
    sabs += fabs(v);
  }
  assert_true(fabs(r->mean - sum / n) < 1e-9);
  assert_true(fabs(r->mean_abs - sabs / n) < 1e-9);
  assert_true(r->max == (double)((float)k + 0.25f));
  assert_true(r->min == (n > 1 ? -(double)k : (double)k + 0.25));
}

static void test_round_trip(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "rt.trace");
  heed_trace *t = open_trace(path, 1, 0, 1, NEV + 8);
  float *vals = malloc(2000 * sizeof *vals);
  for (uint64_t k = 0; k < NEV; k++) {
    uint32_t n = k == NEV - 1 ? 2000 : (uint32_t)(k % 5);
    for (uint32_t j = 0; j < n; j++)
      vals[j] = (j % 2) ? -(float)k : (float)k + 0.25f;
    heed_trace_event ev = make_event(k, vals, n);
    assert_int_equal(heed_trace_record(t, &ev), 0);
  }
  heed_trace_stats st;
  heed_trace_free(t);
  (void)st;
  free(vals);
  size_t drops = 0;
  int status;
  size_t n = read_all(path, &status, check_rt, &drops);
  assert_int_equal(status, 0);
  assert_true(drops >= 1);
  assert_int_equal(n, 1 + NEV + drops);

  /* Bad arguments. */
  heed_trace_event ev = make_event(0, NULL, 3);
  assert_int_equal(heed_trace_record(NULL, &ev), HEED_EINVAL);
  heed_trace_opts o = {.path = path, .sample = 1.5};
  char err[256];
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), HEED_EINVAL);
  assert_true(strlen(err) > 0);
  o = (heed_trace_opts){.sample = 0.5};
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), HEED_EINVAL);
  o = (heed_trace_opts){.path = "/nonexistent/dir/x.trace"};
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), HEED_EIO);
  heed_trace_free(NULL);
}

/* ---- a bid's coefficients ---- */

/* With values on, a bid keeps its coefficients after its values, within
 * HEED_TRACE_MAX_VALUES together; without, neither. */
static void check_coef(const heed_trace_rec *r, size_t i, void *ctx) {
  int *values = ctx;
  if (r->kind != HEED_TRACE_BID)
    return;
  uint32_t n = i == 1 ? 32 : 1000, nc = 100;
  assert_int_equal(r->count, n);
  if (!*values) {
    assert_null(r->coef);
    assert_int_equal(r->ncoef, 0);
    return;
  }
  uint32_t kept = i == 1 ? nc : HEED_TRACE_MAX_VALUES - n;
  assert_int_equal(r->nvalues, n);
  assert_int_equal(r->ncoef, kept);
  for (uint32_t j = 0; j < kept; j++)
    assert_true(r->coef[j] == 0.5f * (float)j - 3);
  for (uint32_t j = 0; j < n; j++)
    assert_true(r->values[j] == (float)j);
  /* the summary is the values' only */
  assert_true(fabs(r->mean - (n - 1) / 2.0) < 1e-9);
}

static void test_coef(void **state) {
  (void)state;
  float *vals = malloc(1000 * sizeof *vals), coef[100];
  for (uint32_t j = 0; j < 1000; j++)
    vals[j] = (float)j;
  for (uint32_t j = 0; j < 100; j++)
    coef[j] = 0.5f * (float)j - 3;
  for (int values = 0; values <= 1; values++) {
    char path[512];
    path_in(path, sizeof path, values ? "coef1.trace" : "coef0.trace");
    heed_trace *t = open_trace(path, 1, 0, values, 16);
    for (int k = 0; k < 2; k++) {
      heed_trace_event ev = make_event(1, vals, k ? 1000 : 32);
      ev.receiver = (heed_trace_who){HEED_ROLE_HUB, 2, 0};
      ev.sender = (heed_trace_who){HEED_ROLE_NEURON, 2, 3};
      ev.coef = coef;
      ev.ncoef = 100;
      assert_int_equal(heed_trace_record(t, &ev), 0);
    }
    heed_trace_free(t);
    int status;
    size_t n = read_all(path, &status, check_coef, &values);
    assert_int_equal(status, 0);
    assert_true(n >= 3);
  }
  free(vals);
}

/* ---- the summary ---- */

/* count, mean, mean |x|, min and max of what heed_trace_record got, with
 * the values summarized by the actor (more than fit a slot) or left to
 * the writer, in four lanes or one: against a plain loop here. min and
 * max skip a NaN after the first value and are NaN when the first is. */
#define NSUM 4
static const uint32_t sum_n[NSUM] = {37, 13, 9, 6};

static float sum_val(int c, uint32_t i) {
  if ((c == 2 && i == 4) || (c == 3 && i == 0))
    return NAN;
  return (float)i * 0.5f - 7.0f + (float)c;
}

static void check_summary(const heed_trace_rec *r, size_t i, void *ctx) {
  (void)ctx;
  if (r->kind != HEED_TRACE_BID)
    return;
  int c = (int)r->batch;
  assert_true(c >= 0 && c < NSUM && i >= 1);
  uint32_t n = sum_n[c];
  assert_int_equal(r->count, n);
  assert_null(r->values);
  double sum = 0, sabs = 0;
  float mn = sum_val(c, 0), mx = mn;
  for (uint32_t k = 0; k < n; k++) {
    float x = sum_val(c, k);
    sum += x;
    sabs += fabsf(x);
    mn = x < mn ? x : mn;
    mx = x > mx ? x : mx;
  }
  if (c >= 2) {
    assert_true(isnan(r->mean) && isnan(r->mean_abs));
  } else {
    assert_true(fabs(r->mean - sum / n) < 1e-12);
    assert_true(fabs(r->mean_abs - sabs / n) < 1e-12);
  }
  assert_true(c == 3 ? isnan(r->min) && isnan(r->max)
                     : r->min == mn && r->max == mx);
}

static void test_summary(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "summary.trace");
  heed_trace *t = open_trace(path, 1, 0, 0, 16);
  float v[64];
  for (int c = 0; c < NSUM; c++) {
    for (uint32_t k = 0; k < sum_n[c]; k++)
      v[k] = sum_val(c, k);
    heed_trace_event ev = make_event(1, v, sum_n[c]);
    ev.kind = HEED_TRACE_BID;
    ev.batch = (uint64_t)c;
    assert_int_equal(heed_trace_record(t, &ev), 0);
    memset(v, 0, sizeof v); /* the tracer copied what it needs */
  }
  heed_trace_free(t);
  int status;
  read_all(path, &status, check_summary, NULL);
  assert_int_equal(status, 0);
}

/* ---- names ---- */

static void test_names(void **state) {
  (void)state;
  uint32_t m = 0;
  assert_int_equal(heed_trace_kinds_parse("forward,bid", &m), 0);
  assert_int_equal(m, HEED_TRACE_FORWARD | HEED_TRACE_BID);
  assert_int_equal(heed_trace_kinds_parse("all", &m), 0);
  assert_int_equal(m, HEED_TRACE_ALL);
  assert_int_equal(heed_trace_kinds_parse("control,labels,batch", &m), 0);
  assert_int_equal(m, HEED_TRACE_CONTROL | HEED_TRACE_LABELS |
                          HEED_TRACE_BATCH);
  assert_int_equal(heed_trace_kinds_parse("forwards", &m), HEED_EINVAL);
  assert_int_equal(heed_trace_kinds_parse("", &m), HEED_EINVAL);
  assert_int_equal(heed_trace_kinds_parse("bid,,", &m), HEED_EINVAL);
  assert_string_equal(heed_trace_kind_name(HEED_TRACE_LABELS), "labels");
  assert_string_equal(heed_trace_kind_name(3), "?");
  assert_string_equal(heed_trace_role_name(HEED_ROLE_HUB), "hub");
  assert_string_equal(heed_trace_role_name(9), "?");
}

/* ---- filters ---- */

static heed_trace_rec rec_of(uint32_t kind, uint64_t batch, heed_trace_who s,
                             heed_trace_who r) {
  heed_trace_rec x;
  memset(&x, 0, sizeof x);
  x.kind = kind;
  x.batch = batch;
  x.sender = s;
  x.receiver = r;
  return x;
}

static void test_filters(void **state) {
  (void)state;
  heed_trace_who input = {HEED_ROLE_INPUT, 0, 0},
                 n1_5 = {HEED_ROLE_NEURON, 1, 5},
                 n2_5 = {HEED_ROLE_NEURON, 2, 5},
                 n2_7 = {HEED_ROLE_NEURON, 2, 7},
                 hub2 = {HEED_ROLE_HUB, 2, 0},
                 hub3 = {HEED_ROLE_HUB, 3, HEED_TRACE_ALL_NEURONS};
  heed_trace_rec recs[] = {
      rec_of(HEED_TRACE_FORWARD, 1, input, n1_5), /* 0 */
      rec_of(HEED_TRACE_FORWARD, 1, n2_5, hub2),  /* 1 */
      rec_of(HEED_TRACE_BID, 2, hub3, n2_7),      /* 2 */
      rec_of(HEED_TRACE_BID, 3, n2_7, hub2),      /* 3 */
      rec_of(HEED_TRACE_BATCH, 4, input, input),  /* 4 */
      rec_of(HEED_TRACE_DROPS, 0, input, input),  /* 5 */
      rec_of(0, 0, input, input),                 /* 6 header */
  };
  size_t n = sizeof recs / sizeof recs[0];
  struct {
    heed_trace_filter f;
    const char *want; /* one char per record */
  } cases[8];
  for (int i = 0; i < 8; i++)
    heed_trace_filter_init(&cases[i].f);
  cases[0].want = "1111111"; /* no filter: everything */
  cases[1].f.layer_lo = cases[1].f.layer_hi = 2;
  cases[1].want = "0111000";
  cases[2].f.neuron_lo = cases[2].f.neuron_hi = 5;
  cases[2].want = "1100000";
  cases[3].f.layer_lo = cases[3].f.layer_hi = 2;
  cases[3].f.neuron_lo = 5;
  cases[3].f.neuron_hi = 7;
  cases[3].want = "0111000";
  cases[4].f.kinds = HEED_TRACE_BID;
  cases[4].want = "0011000";
  cases[5].f.batch_lo = 1;
  cases[5].f.batch_hi = 2;
  cases[5].want = "1110000";
  cases[6].f.kinds = HEED_TRACE_BID;
  cases[6].f.neuron_lo = cases[6].f.neuron_hi = 7;
  cases[6].f.batch_lo = cases[6].f.batch_hi = 3;
  cases[6].want = "0001000";
  cases[7].f.layer_lo = 0;
  cases[7].f.layer_hi = 1;
  cases[7].want = "1000100";
  for (int c = 0; c < 8; c++)
    for (size_t i = 0; i < n; i++) {
      int got = heed_trace_filter_match(&cases[c].f, &recs[i]);
      if (got != (cases[c].want[i] == '1'))
        fail_msg("filter case %d, record %zu: got %d", c, i, got);
    }
}

/* ---- truncation and garbage ---- */

static void test_truncated(void **state) {
  (void)state;
  char path[512], cut[512];
  path_in(path, sizeof path, "full.trace");
  path_in(cut, sizeof cut, "cut.trace");
  heed_trace *t = open_trace(path, 1, 0, 1, 256);
  float v[16];
  for (int j = 0; j < 16; j++)
    v[j] = (float)j;
  for (uint64_t k = 0; k < 100; k++) {
    heed_trace_event ev = make_event(k, v, 16);
    assert_int_equal(heed_trace_record(t, &ev), 0);
  }
  heed_trace_free(t);

  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char data[1 << 20];
  size_t len = fread(data, 1, sizeof data, f);
  fclose(f);
  assert_true(len > 1000 && len < sizeof data);

  /* Offsets of the ends of whole records, from the reader itself. */
  heed_trace_reader *r;
  char err[256];
  assert_int_equal(heed_trace_reader_open(&r, path, err, sizeof err), 0);
  size_t ends[256], nends = 0;
  heed_trace_rec rec;
  while (heed_trace_reader_next(r, &rec) == 1)
    ends[nends++] = heed_trace_reader_offset(r);
  heed_trace_reader_free(r);
  assert_true(nends >= 102);
  assert_int_equal(ends[nends - 1], len);

  /* Cut at many points: whole records before the cut, then ETRUNC (or a
   * clean end when the cut falls between records). */
  for (size_t at = 1; at < len; at += 37) {
    f = fopen(cut, "wb");
    assert_int_equal(fwrite(data, 1, at, f), at);
    fclose(f);
    size_t whole = 0;
    while (whole < nends && ends[whole] <= at)
      whole++;
    int status;
    size_t got = read_all(cut, &status, NULL, NULL);
    assert_int_equal(got, whole);
    if (whole && ends[whole - 1] == at)
      assert_int_equal(status, 0);
    else
      assert_int_equal(status, HEED_ETRUNC);
  }

  /* Garbage: 0xc1 is never used by msgpack; a valid object that is not a
   * record; a record with a wrong type. */
  const unsigned char bad1[] = {0xc1, 0x00, 0x01};
  const unsigned char bad2[] = {0x93, 0x01, 0x02, 0x03}; /* [1,2,3] */
  const unsigned char bad3[] = {0x81, 0xa4, 'k', 'i', 'n', 'd', 0x05};
  const unsigned char *bads[] = {bad1, bad2, bad3};
  size_t blen[] = {sizeof bad1, sizeof bad2, sizeof bad3};
  for (int b = 0; b < 3; b++) {
    f = fopen(cut, "wb");
    fwrite(bads[b], 1, blen[b], f);
    fclose(f);
    int status;
    assert_int_equal(read_all(cut, &status, NULL, NULL), 0);
    assert_int_equal(status, HEED_EFORMAT);
  }
  /* Good records then garbage: the good ones, then the error. */
  f = fopen(cut, "wb");
  fwrite(data, 1, ends[3], f);
  fwrite(bad1, 1, sizeof bad1, f);
  fclose(f);
  int status;
  assert_int_equal(read_all(cut, &status, NULL, NULL), 4);
  assert_int_equal(status, HEED_EFORMAT);
  /* Missing file. */
  assert_int_equal(heed_trace_reader_open(&r, "/nonexistent.trace", err,
                                          sizeof err),
                   HEED_ENOENT);
  assert_true(strlen(err) > 0);
}

/* ---- hostile sizes: declared counts and lengths are checked against the
 * bytes a record may take before anything is allocated for them ---- */

static int feed_status(const unsigned char *b, size_t n) {
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_new(&r), 0);
  assert_int_equal(heed_trace_reader_feed(r, b, n), 0);
  heed_trace_rec rec;
  int rv = heed_trace_reader_next(r, &rec);
  heed_trace_reader_free(r);
  return rv;
}

static void test_hostile_sizes(void **state) {
  (void)state;
  /* 5 bytes asking for 2^32 - 1 array elements (msgpack-c would allocate
   * 96 GB for them), a map of 2^28 pairs, an array of 65536 elements as a
   * record's values, a string longer than a record may be. */
  const unsigned char arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
  const unsigned char map[] = {0xdf, 0x10, 0x00, 0x00, 0x00};
  const unsigned char vals[] = {0x82, 0xa4, 'k', 'i', 'n', 'd', 0xa3, 'b',
                                'i', 'd', 0xa6, 'v', 'a', 'l', 'u', 'e',
                                's', 0xdd, 0x00, 0x01, 0x00, 0x00, 0x00};
  const unsigned char str[] = {0x81, 0xdb, 0x00, 0x01, 0x11, 0x70, 'x'};
  assert_int_equal(feed_status(arr, sizeof arr), HEED_EFORMAT);
  assert_int_equal(feed_status(map, sizeof map), HEED_EFORMAT);
  assert_int_equal(feed_status(vals, sizeof vals), HEED_EFORMAT);
  assert_int_equal(feed_status(str, sizeof str), HEED_EFORMAT);
  /* Nesting deeper than a record ever does. */
  unsigned char deep[64];
  memset(deep, 0x91, sizeof deep);
  deep[sizeof deep - 1] = 0x00;
  assert_int_equal(feed_status(deep, sizeof deep), HEED_EFORMAT);
  /* A plausible count whose elements are still to come: wait for them. */
  assert_int_equal(feed_status(vals, 18), 0);

  /* The same after a valid header in a file: refused, not "truncated". */
  char path[512];
  path_in(path, sizeof path, "hostile.trace");
  heed_trace_free(open_trace(path, 1, 0, 0, 16));
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  assert_int_equal(fwrite(arr, 1, sizeof arr, f), sizeof arr);
  fclose(f);
  int status;
  assert_int_equal(read_all(path, &status, NULL, NULL), 2); /* header, drops */
  assert_int_equal(status, HEED_EFORMAT);

  /* A valid record fed one byte at a time: nothing until its last byte. */
  heed_trace *t = open_trace(path, 1, 0, 1, 16);
  float v[5] = {1, 2, 3, 4, 5};
  heed_trace_event ev = make_event(3, v, 5);
  assert_int_equal(heed_trace_record(t, &ev), 0);
  heed_trace_free(t);
  f = fopen(path, "rb");
  static unsigned char data[4096];
  size_t len = fread(data, 1, sizeof data, f);
  fclose(f);
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_new(&r), 0);
  heed_trace_rec rec;
  int got = 0;
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(heed_trace_reader_feed(r, data + i, 1), 0);
    int rv;
    while ((rv = heed_trace_reader_next(r, &rec)) == 1) {
      got++;
      assert_int_equal(heed_trace_reader_offset(r), i + 1);
    }
    assert_int_equal(rv, 0);
  }
  assert_int_equal(got, 3); /* header, event, drops */
  heed_trace_reader_free(r);
}

/* ---- write errors: a full disk is reported, with what the file holds ---- */

static void count_events(const heed_trace_rec *r, size_t i, void *ctx) {
  (void)i;
  if (r->kind && r->kind != HEED_TRACE_DROPS)
    ++*(uint64_t *)ctx;
}

static void test_write_error(void **state) {
  (void)state;
  float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  /* /dev/full: every write fails with ENOSPC. The error shows in the
   * stats while the run goes on (the writer flushes every second) and
   * close reports it naming the file. */
  heed_trace *t = open_trace("/dev/full", 1, 0, 0, 1024);
  for (uint64_t k = 0; k < 100; k++) {
    heed_trace_event ev = make_event(k, v, 8);
    assert_int_equal(heed_trace_record(t, &ev), 0);
  }
  heed_trace_stats st;
  for (int i = 0; i < 60; i++) {
    heed_trace_stats_get(t, &st);
    if (st.error)
      break;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(st.error, HEED_EIO);
  char err[512];
  assert_int_equal(heed_trace_close(t, &st, err, sizeof err), HEED_EIO);
  assert_non_null(strstr(err, "/dev/full"));
  assert_non_null(strstr(err, strerror(ENOSPC)));
  assert_null(strchr(err, '\n'));
  assert_int_equal(st.error, HEED_EIO);
  assert_true(st.recorded == 100);
  assert_true(st.written == 0 && st.file_bytes == 0);

  /* A file that stops growing part way (RLIMIT_FSIZE, as a full disk
   * would): the bytes and events reported are what the file holds. */
  char path[512];
  path_in(path, sizeof path, "limited.trace");
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_IGN);
  t = open_trace(path, 1, 0, 0, 4096);
  lim = old;
  lim.rlim_cur = 3000;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  for (uint64_t k = 0; k < 2000; k++) {
    heed_trace_event ev = make_event(k, v, 8);
    assert_int_equal(heed_trace_record(t, &ev), 0);
  }
  int rv = heed_trace_close(t, &st, err, sizeof err);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_DFL);
  assert_int_equal(rv, HEED_EIO);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "first 3000 bytes"));
  assert_true(st.file_bytes == 3000);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_size, 3000);
  uint64_t events = 0;
  int status;
  read_all(path, &status, count_events, &events);
  assert_int_equal(status, HEED_ETRUNC);
  assert_true(st.written <= events); /* whole flushes: a lower bound */

  /* No error: close says so and every event is in the file. */
  t = open_trace(path, 1, 0, 0, 4096);
  for (uint64_t k = 0; k < 50; k++) {
    heed_trace_event ev = make_event(k, v, 8);
    assert_int_equal(heed_trace_record(t, &ev), 0);
  }
  assert_int_equal(heed_trace_close(t, &st, err, sizeof err), 0);
  assert_int_equal(err[0], '\0');
  assert_true(st.error == 0 && st.written == 50 && st.recorded == 50);
  assert_int_equal(stat(path, &sb), 0);
  assert_true((uint64_t)sb.st_size == st.file_bytes);
  assert_int_equal(heed_trace_close(NULL, &st, err, sizeof err), 0);
}

/* ---- drops ---- */

static void count_drops(const heed_trace_rec *r, size_t i, void *ctx) {
  uint64_t *c = ctx; /* [events, last dropped, last recorded] */
  (void)i;
  if (r->kind == HEED_TRACE_DROPS) {
    c[1] = r->dropped;
    c[2] = r->recorded;
  } else if (r->kind) {
    c[0]++;
  }
}

static void test_drops(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "drops.trace");
  /* A queue of 2 and values on (the writer has more to encode): a burst of
   * events overruns it. */
  heed_trace *t = open_trace(path, 1, 0, 1, 2);
  static float vals[HEED_TRACE_MAX_VALUES];
  uint64_t eagain = 0, ok = 0;
  for (uint64_t k = 0; k < 20000; k++) {
    heed_trace_event ev = make_event(k, vals, HEED_TRACE_MAX_VALUES);
    int rv = heed_trace_record(t, &ev);
    assert_true(rv == 0 || rv == HEED_EAGAIN);
    if (rv)
      eagain++;
    else
      ok++;
  }
  heed_trace_stats st;
  heed_trace_stats_get(t, &st);
  assert_true(st.dropped == eagain);
  assert_true(st.recorded == ok);
  assert_true(eagain > 0);
  heed_trace_free(t);
  uint64_t c[3] = {0, 0, 0};
  int status;
  read_all(path, &status, count_drops, c);
  assert_int_equal(status, 0);
  assert_true(c[0] == ok);     /* every queued event was written */
  assert_true(c[1] == eagain); /* the last DROPS record has the total */
  assert_true(c[2] == ok);
}

/* ---- sampling ---- */

static void test_sampling(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "sample.trace");
  heed_trace *t = open_trace(path, 0.1, HEED_TRACE_BID | HEED_TRACE_CONTROL,
                             0, 0);
  int kept = 0;
  for (uint64_t b = 0; b < 20000; b++) {
    int w = heed_trace_wants(t, b, HEED_TRACE_BID);
    /* the same answer for every kind wanted and every call */
    assert_int_equal(w, heed_trace_wants(t, b, HEED_TRACE_BID));
    assert_int_equal(heed_trace_wants(t, b, HEED_TRACE_FORWARD), 0);
    kept += w;
  }
  assert_true(kept > 1700 && kept < 2300);
  assert_int_equal(heed_trace_wants(t, 0, HEED_TRACE_CONTROL), 1);
  assert_int_equal(heed_trace_wants(NULL, 0, HEED_TRACE_BID), 0);
  heed_trace_free(t);
  t = open_trace(path, 1, 0, 0, 0);
  for (uint64_t b = 0; b < 1000; b++)
    assert_int_equal(heed_trace_wants(t, b, HEED_TRACE_LABELS), 1);
  heed_trace_free(t);
}

/* ---- many producers ---- */

typedef struct prod {
  heed_trace *t;
  uint32_t id;
  uint64_t ok;
} prod;

static void *producer(void *arg) {
  prod *p = arg;
  for (uint64_t k = 0; k < 20000; k++) {
    heed_trace_event ev = make_event(k, NULL, 0);
    ev.loop = p->id;
    if (heed_trace_record(p->t, &ev) == 0)
      p->ok++;
  }
  return NULL;
}

static void per_loop(const heed_trace_rec *r, size_t i, void *ctx) {
  uint64_t *c = ctx;
  (void)i;
  if (r->kind == HEED_TRACE_FORWARD || r->kind == HEED_TRACE_BID)
    c[r->loop]++;
}

static void test_producers(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "mp.trace");
  heed_trace *t = open_trace(path, 1, 0, 0, 1 << 16);
  pthread_t th[4];
  prod p[4];
  for (uint32_t i = 0; i < 4; i++) {
    p[i] = (prod){t, i, 0};
    pthread_create(&th[i], NULL, producer, &p[i]);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  heed_trace_stats st;
  heed_trace_stats_get(t, &st);
  heed_trace_free(t);
  uint64_t c[4] = {0, 0, 0, 0};
  int status;
  read_all(path, &status, per_loop, c);
  assert_int_equal(status, 0);
  for (int i = 0; i < 4; i++)
    assert_true(c[i] == p[i].ok);
  assert_true(p[0].ok + p[1].ok + p[2].ok + p[3].ok + st.dropped == 80000);
}

/* ---- a network with a tracer ---- */

typedef struct net_counts {
  uint64_t loops, loops_handled;
  uint64_t kind[7];
  uint64_t bid_to_neuron, fwd_to_hub;
  int bad;
} net_counts;

static void count_net(const heed_trace_rec *r, size_t i, void *ctx) {
  net_counts *c = ctx;
  (void)i;
  for (int k = 0; k < 6; k++)
    if (r->kind == 1u << k)
      c->kind[k]++;
  if (r->kind == HEED_TRACE_BID && r->receiver.role == HEED_ROLE_NEURON) {
    c->bid_to_neuron++;
    if (r->count != 16 || r->nvalues != 16 || r->mean_abs < 0)
      c->bad = 1;
  }
  if (r->kind == HEED_TRACE_LOOPS) {
    /* the runtime's two loops; the last record, taken as the net let the
     * tracer go, counts every message of the five traced batches */
    if (r->nloops != 2 || !r->loops)
      c->bad = 1;
    else
      c->loops_handled = r->loops[0][0] + r->loops[1][0];
    c->loops++;
  }
  if (r->kind == HEED_TRACE_FORWARD && r->receiver.role == HEED_ROLE_HUB) {
    c->fwd_to_hub++;
    if (r->count != 16 || r->sender.role != HEED_ROLE_NEURON)
      c->bad = 1;
  }
}

static void test_net(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "net.trace");
  heed_runtime *rt = make_rt(2);
  const uint32_t sizes[] = {12, 8, 6, 3};
  heed_net *net = make_net(rt, 4, sizes, NULL, "bp", 0.1f, 7);
  float x[16 * 12];
  uint8_t y[16];
  gen_data(3, 16, 12, 3, x, y);
  heed_trace *t = open_trace(path, 1, 0, 1, 1 << 14);
  assert_int_equal(heed_net_set_trace(net, t), 0);
  for (int b = 0; b < 5; b++)
    assert_int_equal(heed_net_train_batch(net, x, y, 16, NULL), 0);
  assert_int_equal(heed_net_sync(net), 0);
  assert_int_equal(heed_net_set_trace(net, NULL), 0);
  /* not traced any more */
  assert_int_equal(heed_net_train_batch(net, x, y, 16, NULL), 0);
  assert_int_equal(heed_net_sync(net), 0);
  heed_trace_stats st;
  heed_trace_stats_get(t, &st);
  heed_trace_free(t);
  heed_net_free(net);
  heed_runtime_free(rt);
  net_counts c;
  memset(&c, 0, sizeof c);
  int status;
  read_all(path, &status, count_net, &c);
  assert_int_equal(status, 0);
  assert_false(c.bad);
  assert_true(st.dropped == 0);
  assert_true(c.kind[3] == 5); /* BATCH */
  assert_true(c.kind[4] == 5); /* LABELS */
  /* every neuron gets each batch's forward block and bid block */
  assert_true(c.bid_to_neuron == 5 * (8 + 6 + 3));
  assert_true(c.fwd_to_hub == 5 * (8 + 6 + 3));
  assert_true(c.loops >= 1);
  uint64_t events = 0;
  for (int k = 0; k < 5; k++)
    events += c.kind[k];
  assert_true(c.loops_handled >= events - c.kind[3] - c.kind[4]);
}

/* A net freed (and its runtime) with the tracer still attached: the
 * tracer, which samples the runtime's loops, lets it go (ASan would see a
 * sample of a freed runtime). */
static void test_net_freed_attached(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "freed.trace");
  heed_runtime *rt = make_rt(2);
  const uint32_t sizes[] = {12, 8, 3};
  heed_net *net = make_net(rt, 3, sizes, NULL, "bp", 0.1f, 7);
  float x[16 * 12];
  uint8_t y[16];
  gen_data(3, 16, 12, 3, x, y);
  heed_trace *t = open_trace(path, 1, 0, 0, 1 << 14);
  assert_int_equal(heed_net_set_trace(net, t), 0);
  assert_int_equal(heed_net_train_batch(net, x, y, 16, NULL), 0);
  heed_net_free(net);
  heed_runtime_free(rt);
  struct timespec ts = {0, 400000000}; /* past a sampling tick */
  nanosleep(&ts, NULL);
  heed_trace_free(t);
}

/* The writer encodes plain events by hand: the bytes are msgpack-c's,
 * for small and large integers, with and without a summary. */
static void pack_who(msgpack_packer *pk, heed_trace_who w) {
  msgpack_pack_array(pk, 3);
  msgpack_pack_uint8(pk, w.role);
  msgpack_pack_uint32(pk, w.layer);
  msgpack_pack_uint32(pk, w.index);
}

static void pack_key(msgpack_packer *pk, const char *k) {
  msgpack_pack_str(pk, strlen(k));
  msgpack_pack_str_body(pk, k, strlen(k));
}

static void test_plain_bytes(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "plain.trace");
  const uint64_t start = 1000000000ull;
  heed_trace_opts o = {.path = path, .run = 70000, .start_ns = start,
                       .kinds = HEED_TRACE_FORWARD | HEED_TRACE_BID};
  heed_trace *t = NULL;
  char err[256];
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  float v[3] = {1.5f, -2.25f, 1e30f};
  heed_trace_event ev[2] = {
      {.t_ns = start + 5000000000ull, .dur_ns = 300, .batch = 1ull << 33,
       .kind = HEED_TRACE_BID,
       .sender = {HEED_ROLE_HUB, 2, HEED_TRACE_ALL_NEURONS},
       .receiver = {HEED_ROLE_NEURON, 1, 200}, .fanout = 65536, .loop = 3,
       .values = v, .count = 3},
      {.t_ns = start + 7, .dur_ns = 70000, .batch = 127,
       .kind = HEED_TRACE_FORWARD,
       .sender = {HEED_ROLE_INPUT, 0, 0},
       .receiver = {HEED_ROLE_NEURON, 1, 255}, .fanout = 256, .loop = 0}};
  for (int i = 0; i < 2; i++)
    assert_int_equal(heed_trace_record(t, &ev[i]), 0);
  assert_int_equal(heed_trace_close(t, NULL, err, sizeof err), 0);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  for (int i = 0; i < 2; i++) {
    msgpack_pack_map(&pk, 9 + (ev[i].count > 0));
    pack_key(&pk, "t");
    msgpack_pack_uint64(&pk, ev[i].t_ns - start);
    pack_key(&pk, "run");
    msgpack_pack_uint64(&pk, 70000);
    pack_key(&pk, "batch");
    msgpack_pack_uint64(&pk, ev[i].batch);
    pack_key(&pk, "kind");
    pack_key(&pk, heed_trace_kind_name(ev[i].kind));
    pack_key(&pk, "from");
    pack_who(&pk, ev[i].sender);
    pack_key(&pk, "to");
    pack_who(&pk, ev[i].receiver);
    pack_key(&pk, "fanout");
    msgpack_pack_uint32(&pk, ev[i].fanout);
    pack_key(&pk, "loop");
    msgpack_pack_uint32(&pk, ev[i].loop);
    pack_key(&pk, "dur");
    msgpack_pack_uint64(&pk, ev[i].dur_ns);
    if (ev[i].count) {
      pack_key(&pk, "sum");
      msgpack_pack_array(&pk, 5);
      msgpack_pack_uint32(&pk, 3);
      double sum = 0, sabs = 0; /* as the tracer sums them */
      for (int k = 0; k < 3; k++) {
        sum += v[k];
        sabs += fabsf(v[k]);
      }
      msgpack_pack_double(&pk, sum / 3);
      msgpack_pack_double(&pk, sabs / 3);
      msgpack_pack_float(&pk, -2.25f);
      msgpack_pack_float(&pk, 1e30f);
    }
  }
  /* the file: the header, the two events, then the drops record */
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_new(&r), 0);
  assert_int_equal(heed_trace_reader_feed(r, buf, n), 0);
  heed_trace_rec rec;
  assert_int_equal(heed_trace_reader_next(r, &rec), 1); /* the header */
  size_t at = (size_t)heed_trace_reader_offset(r);
  heed_trace_reader_free(r);
  assert_true(n >= at + sb.size);
  assert_memory_equal(buf + at, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

/* ---- live ---- */

static void test_live(void **state) {
  (void)state;
  char url[600];
  int k = snprintf(url, sizeof url, "ipc://%s/live.sock", tmpdir);
  assert_true(k > 0 && (size_t)k < sizeof url);
  heed_trace_opts o = {.live_url = url, .run = 5};
  heed_trace *t = NULL;
  char err[256];
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  nng_socket s;
  assert_int_equal(nng_sub0_open(&s), 0);
  assert_int_equal(nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
  assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 50), 0);
  assert_int_equal(nng_dial(s, url, NULL, 0), 0);
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_new(&r), 0);
  int got = 0;
  float v[3] = {1, -2, 3};
  for (int tries = 0; tries < 200 && !got; tries++) {
    heed_trace_event ev = make_event(1, v, 3);
    heed_trace_record(t, &ev);
    char *buf;
    size_t len;
    if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
      continue;
    assert_int_equal(heed_trace_reader_feed(r, buf, len), 0);
    nng_free(buf, len);
    heed_trace_rec rec;
    assert_int_equal(heed_trace_reader_next(r, &rec), 1);
    assert_int_equal(rec.kind, HEED_TRACE_BID);
    assert_true(rec.run == 5);
    assert_int_equal(rec.count, 3);
    assert_true(rec.max == 3);
    assert_int_equal(heed_trace_reader_next(r, &rec), 0); /* wants more */
    got = 1;
  }
  assert_true(got);
  heed_trace_reader_free(r);
  nng_close(s);
  heed_trace_free(t);
  /* A URL nng cannot listen on. */
  o.live_url = "bogus://x";
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), HEED_EIO);
}

/* ---- metrics, the header's configuration, the last drops record, and
 * the watcher: every record written, as the reader decodes it ---- */

typedef struct watched {
  size_t n, metrics, ends;
  uint64_t last_step;
  char config[64];
} watched;

static void on_watch(void *arg, const heed_trace_rec *r) {
  watched *w = arg;
  w->n++;
  if (r->kind == 0 && r->config)
    snprintf(w->config, sizeof w->config, "%s", r->config);
  if (r->kind == HEED_TRACE_METRIC) {
    w->metrics++;
    w->last_step = r->batch;
  }
  if (r->kind == HEED_TRACE_DROPS && r->end)
    w->ends++;
}

static void check_metric(const heed_trace_rec *r, size_t i, void *ctx) {
  watched *w = ctx;
  if (i == 0) {
    assert_non_null(r->config);
    assert_string_equal(r->config, "heed train --data digits");
  }
  if (r->kind == HEED_TRACE_METRIC) {
    assert_true(r->batch == 7 + w->metrics);
    assert_true(r->loss == 0.5 + (double)w->metrics);
    assert_true(r->acc == 0.25);
    assert_int_equal(r->count, 32);
    w->metrics++;
  }
  if (r->kind == HEED_TRACE_DROPS)
    w->ends += r->end != 0;
}

static void test_metric(void **state) {
  (void)state;
  char path[512];
  path_in(path, sizeof path, "metric.trace");
  watched w = {0};
  heed_trace_opts o = {.path = path, .run = 3, .sample = 0.01,
                       .config = "heed train --data digits",
                       .watch = on_watch, .watch_arg = &w};
  heed_trace *t = NULL;
  char err[256];
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  for (int i = 0; i < 3; i++) /* never sampled out */
    assert_int_equal(heed_trace_metric(t, 7 + (uint64_t)i, 0.5 + i, 0.25, 32),
                     0);
  heed_trace_event ev = make_event(1, NULL, 0);
  ev.batch = 0; /* kept or not by the sampler, watched if written */
  heed_trace_record(t, &ev);
  heed_trace_stats st;
  assert_int_equal(heed_trace_close(t, &st, err, sizeof err), 0);
  int status;
  watched r = {0};
  size_t n = read_all(path, &status, check_metric, &r);
  assert_int_equal(status, 0);
  assert_int_equal(r.metrics, 3);
  assert_int_equal(r.ends, 1); /* the last drops record says so */
  assert_int_equal(w.n, n);    /* the watcher saw every record written */
  assert_int_equal(w.metrics, 3);
  assert_true(w.last_step == 9);
  assert_int_equal(w.ends, 1);
  assert_string_equal(w.config, "heed train --data digits");
  /* a tracer without METRIC in its kinds keeps none */
  o.kinds = HEED_TRACE_BID;
  o.watch = NULL;
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  assert_int_equal(heed_trace_metric(t, 1, 1, 1, 1), 0);
  assert_int_equal(heed_trace_close(t, &st, err, sizeof err), 0);
  r = (watched){0};
  read_all(path, &status, check_metric, &r);
  assert_int_equal(r.metrics, 0);
  assert_int_equal(heed_trace_metric(NULL, 1, 1, 1, 1), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/heed-trace-test-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_coef),
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_filters),    cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_drops),      cmocka_unit_test(test_sampling),
      cmocka_unit_test(test_producers),  cmocka_unit_test(test_net),
      cmocka_unit_test(test_live),       cmocka_unit_test(test_hostile_sizes),
      cmocka_unit_test(test_write_error), cmocka_unit_test(test_metric),
      cmocka_unit_test(test_net_freed_attached),
      cmocka_unit_test(test_plain_bytes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
