/*
 * trace_analysis_test.c - the trace analysis (src/trace/analysis.c) on
 * records built by hand: attention means, ranks and Gini coefficients
 * against values worked out on paper; records with indices, layers or
 * roles heed never writes are refused with the record's number, and a
 * huge index costs one table slot; the Chrome export writes non-finite
 * values as strings, so the JSON stays valid, and groups messages per
 * layer, kind and batch without overlapping slices on a track.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "heed/trace.h"
#include "trace/analysis.h"

static heed_trace_rec header(void) {
  heed_trace_rec r;
  memset(&r, 0, sizeof r);
  r.version = 1;
  r.run = 7;
  r.sample = 1;
  return r;
}

/* A bid of mean |beta| v delivered to neuron j of layer l in batch b. */
static heed_trace_rec bid(uint64_t b, uint32_t l, uint32_t j, double v) {
  heed_trace_rec r;
  memset(&r, 0, sizeof r);
  r.kind = HEED_TRACE_BID;
  r.batch = b;
  r.t_ns = 1000 * b;
  r.dur_ns = 10;
  r.sender = (heed_trace_who){HEED_ROLE_CRITIC, l + 1, 0};
  r.receiver = (heed_trace_who){HEED_ROLE_NEURON, l, j};
  r.fanout = 1;
  r.count = 4;
  r.mean_abs = v;
  return r;
}

/* Both passes over recs; returns the first error. */
static int run_stats(heed__ta_stats *s, const heed_trace_rec *recs, size_t n,
                     char *err, size_t errlen) {
  heed__ta_stats_init(s);
  for (int pass = 1; pass <= 2; pass++) {
    for (size_t i = 0; i < n; i++) {
      int rv = heed__ta_stats_add(s, &recs[i], err, errlen);
      if (rv)
        return rv;
    }
    if (pass == 1) {
      int rv = heed__ta_stats_pass2(s);
      if (rv)
        return rv;
    }
  }
  return 0;
}

static void test_attention(void **state) {
  (void)state;
  /* Layer 1: neuron 0 gets 1 and 3 (mean 2), neuron 5 gets 6 (batches 1
   * and 2 of 4 training batches, quarters 1 and 2); batches 3 and 4 give
   * neuron 0 nothing and neuron 5 gets 2. */
  heed_trace_rec recs[] = {
      header(),       bid(1, 1, 0, 1), bid(1, 1, 5, 6), bid(2, 1, 0, 3),
      bid(2, 1, 5, 6), bid(3, 1, 5, 2), bid(4, 1, 5, 2),
  };
  heed__ta_stats s;
  char err[256];
  assert_int_equal(run_stats(&s, recs, 7, err, sizeof err), 0);
  assert_int_equal(s.ntrain, 4);
  assert_int_equal(s.records, 6);
  assert_int_equal(s.kind_layer[2][1], 6); /* bids into layer 1 */
  assert_int_equal(heed__ta_neurons(&s, 1), 2);
  assert_int_equal(heed__ta_neurons(&s, 2), 0);

  heed__ta_view v;
  assert_int_equal(heed__ta_attention(&s, 1, 4, &v), 0);
  assert_int_equal(v.n, 2);
  /* neuron 5: (6+6+2+2)/4 = 4; neuron 0: (1+3)/2 = 2. Gini of {2, 4}:
   * 2 * (1*2 + 2*4) / (2 * 6) - 3/2 = 1/6. */
  assert_int_equal(v.index[0], 5);
  assert_true(v.mean[0] == 4);
  assert_int_equal(v.index[1], 0);
  assert_true(v.mean[1] == 2);
  assert_true(fabs(v.gini - 1.0 / 6) < 1e-12);
  heed__ta_view_free(&v);
  /* Quarter 1 is batch 1: {1, 6}, gini 2*(1+12)/(2*7) - 3/2 = 5/14. */
  assert_int_equal(heed__ta_attention(&s, 1, 0, &v), 0);
  assert_int_equal(v.n, 2);
  assert_true(fabs(v.gini - 5.0 / 14) < 1e-12);
  heed__ta_view_free(&v);
  /* Quarter 4 is batch 4: neuron 5 only, gini 0. */
  assert_int_equal(heed__ta_attention(&s, 1, 3, &v), 0);
  assert_int_equal(v.n, 1);
  assert_true(v.gini == 0);
  heed__ta_view_free(&v);

  double *ms;
  size_t nw, neval;
  assert_int_equal(heed__ta_batch_times(&s, &ms, &nw, &neval), 0);
  assert_int_equal(nw, 4);
  assert_int_equal(neval, 0);
  heed__free(ms);
  heed__ta_stats_free(&s);
}

static void test_refused(void **state) {
  (void)state;
  heed_trace_rec recs[3] = {header(), bid(1, 1, 0, 1), bid(1, 1, 0, 1)};
  heed__ta_stats s;
  char err[256];
  /* 2^31: the old tool's table doubling overflowed and looped forever. */
  recs[2].receiver.index = 1u << 31;
  assert_int_equal(run_stats(&s, recs, 3, err, sizeof err), HEED_ERANGE);
  assert_non_null(strstr(err, "record 3"));
  assert_non_null(strstr(err, "2147483648"));
  assert_null(strchr(err, '\n'));
  heed__ta_stats_free(&s);

  recs[2] = bid(1, 1, 0, 1);
  recs[2].sender.layer = HEED__TA_MAX_LAYER + 2;
  assert_int_equal(run_stats(&s, recs, 3, err, sizeof err), HEED_ERANGE);
  assert_non_null(strstr(err, "sender layer"));
  heed__ta_stats_free(&s);

  recs[2] = bid(1, 1, 0, 1);
  recs[2].receiver.role = 9;
  assert_int_equal(run_stats(&s, recs, 3, err, sizeof err), HEED_ERANGE);
  heed__ta_stats_free(&s);

  /* The largest index heed builds is accepted, in one slot, not 2^24. */
  recs[2] = bid(1, 1, HEED__TA_MAX_INDEX, 1);
  assert_int_equal(run_stats(&s, recs, 3, err, sizeof err), 0);
  assert_int_equal(heed__ta_neurons(&s, 1), 2);
  assert_true(s.layer[1].cap <= 64);
  heed__ta_stats_free(&s);

  /* A whole-layer sender is fine; the export refuses what stats refuse. */
  recs[2] = bid(1, 1, 0, 1);
  recs[2].sender.index = HEED_TRACE_ALL_NEURONS;
  assert_int_equal(run_stats(&s, recs, 3, err, sizeof err), 0);
  heed__ta_stats_free(&s);
  heed__ta_chrome *c;
  assert_int_equal(heed__ta_chrome_new(&c), 0);
  recs[2].receiver.index = 1u << 27;
  assert_int_equal(heed__ta_chrome_add(c, &recs[0], err, sizeof err), 0);
  assert_int_equal(heed__ta_chrome_add(c, &recs[1], err, sizeof err), 0);
  assert_int_equal(heed__ta_chrome_add(c, &recs[2], err, sizeof err),
                   HEED_ERANGE);
  assert_non_null(strstr(err, "record 3"));
  heed__ta_chrome_free(c);
}

static void test_chrome_nonfinite(void **state) {
  (void)state;
  heed_trace_rec recs[] = {header(), bid(1, 1, 0, NAN), bid(1, 1, 1, INFINITY),
                           bid(2, 1, 0, -INFINITY), bid(2, 1, 1, 0.25)};
  heed__ta_chrome *c;
  char err[256];
  assert_int_equal(heed__ta_chrome_new(&c), 0);
  heed__ta_chrome_tracks(c, HEED__TA_TRACKS_ACTOR); /* a slice per bid */
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(heed__ta_chrome_add(c, &recs[i], err, sizeof err), 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  heed__ta_chrome_info info;
  assert_int_equal(heed__ta_chrome_write(c, f, &info), 0);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(info.events, 4);
  assert_non_null(strstr(buf, "\"mean_abs\":\"nan\""));
  assert_non_null(strstr(buf, "\"mean_abs\":\"inf\""));
  assert_non_null(strstr(buf, "\"mean_abs\":\"-inf\""));
  assert_non_null(strstr(buf, "\"mean_abs\":0.25"));
  /* No bare non-finite number anywhere. */
  assert_null(strstr(buf, ":nan"));
  assert_null(strstr(buf, ":inf"));
  assert_null(strstr(buf, ":-inf"));
  free(buf);
  /* A stream that fails is reported. */
  f = fopen("/dev/full", "w");
  assert_non_null(f);
  setvbuf(f, NULL, _IONBF, 0);
  assert_int_equal(heed__ta_chrome_write(c, f, &info), HEED_EIO);
  fclose(f);
  heed__ta_chrome_free(c);
}

/* A message of kind k to neuron j of layer l, batch b, at t, for d ns. */
static heed_trace_rec msg(uint32_t k, uint64_t b, uint32_t l, uint32_t j,
                          uint64_t t, uint64_t d, double v) {
  heed_trace_rec r = bid(b, l, j, v);
  r.kind = k;
  r.t_ns = t;
  r.dur_ns = d;
  if (k == HEED_TRACE_FORWARD) {
    r.sender = (heed_trace_who){HEED_ROLE_INPUT, 0, 0};
    r.count = 0;
  }
  return r;
}

static size_t count_of(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* The export per layer: one slice per layer, kind and batch; a batch in
 * flight with another goes on a second lane; each neuron's value, as an
 * array for neurons 0..n-1 and by index otherwise; the loops' mailboxes
 * within the messages' time and the first sample after it. */
static void test_chrome_layers(void **state) {
  (void)state;
  heed_trace_rec loops[4];
  static const uint64_t st[4][1][4] = {{{9, 9, 1, 2}}, {{9, 9, 3, 4}},
                                       {{9, 9, 5, 6}}, {{9, 9, 7, 8}}};
  static const uint64_t when[4] = {50, 150, 300, 400};
  for (int i = 0; i < 4; i++) {
    memset(&loops[i], 0, sizeof loops[i]);
    loops[i].kind = HEED_TRACE_LOOPS;
    loops[i].t_ns = when[i];
    loops[i].nloops = 1;
    loops[i].loops = st[i];
  }
  heed_trace_rec recs[] = {
      header(),
      msg(HEED_TRACE_FORWARD, 1, 1, 0, 100, 20, 0),
      msg(HEED_TRACE_FORWARD, 1, 1, 1, 110, 20, 0),
      msg(HEED_TRACE_FORWARD, 2, 1, 0, 120, 5, 0),
      msg(HEED_TRACE_FORWARD, 2, 1, 1, 140, 5, 0),
      msg(HEED_TRACE_BID, 1, 1, 5, 210, 10, 0.25),
      msg(HEED_TRACE_BID, 1, 1, 2, 200, 10, 0.5),
      msg(HEED_TRACE_BID, 3, 1, 1, 220, 10, 0.375),
      msg(HEED_TRACE_BID, 3, 1, 0, 225, 5, 0.125),
      loops[0], loops[1], loops[2], loops[3]};
  size_t n = sizeof recs / sizeof recs[0];
  heed__ta_chrome *c;
  char err[256];
  assert_int_equal(heed__ta_chrome_new(&c), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(heed__ta_chrome_add(c, &recs[i], err, sizeof err), 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  heed__ta_chrome_info info;
  assert_int_equal(heed__ta_chrome_write(c, f, &info), 0);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(info.events, 8);
  assert_int_equal(info.slices, 4);
  assert_int_equal(info.tracks, 2);
  assert_non_null(strstr(buf, "\"name\":\"neurons L1\""));
  assert_non_null(strstr(buf, "\"name\":\"neurons L1 (2)\""));
  /* batch 1's forward: 100 to 130 ns, two messages, 40 ns busy */
  assert_non_null(strstr(buf, "\"ph\":\"X\",\"ts\":0.100,\"dur\":0.030,"));
  assert_non_null(strstr(buf, "\"batch\":1,\"from\":\"input\","
                              "\"messages\":2,\"busy_us\":0.04,"));
  assert_non_null(strstr(buf, "\"mean_abs_by_neuron\":{\"2\":0.5,\"5\":0.25}"));
  assert_non_null(strstr(buf, "\"mean_abs_by_neuron\":[0.125,0.375]"));
  /* mailboxes: the samples at 150 (inside 100..230) and 300 (the first
   * after), not those at 50 and 400 */
  assert_int_equal(count_of(buf, "\"loop 0 queued\""), 2);
  assert_non_null(strstr(buf, "\"ts\":0.150,\"pid\":1,\"tid\":0,"
                              "\"args\":{\"messages\":3}"));
  assert_non_null(strstr(buf, "\"ts\":0.300,\"pid\":1,\"tid\":0,"
                              "\"args\":{\"messages\":6}"));
  assert_null(strstr(buf, "\"args\":{\"messages\":1}"));
  assert_null(strstr(buf, "\"args\":{\"messages\":7}"));
  assert_non_null(strstr(buf, "\"tracks\":\"layer\""));
  free(buf);
  heed__ta_chrome_free(c);
}

/* A bid neuron (2, k) -> hub 2 with mean |g| v and coefficients c. */
static heed_trace_rec hub_bid(uint64_t b, uint32_t k, double v,
                              const float *c, uint32_t nc) {
  heed_trace_rec r = bid(b, 2, 0, v);
  r.sender = (heed_trace_who){HEED_ROLE_NEURON, 2, k};
  r.receiver = (heed_trace_who){HEED_ROLE_HUB, 2, 0};
  r.coef = c;
  r.ncoef = nc;
  return r;
}

/* attention --matrix: |c_ki| mean|g_k| averaged over the batches that
 * have c_ki, worked out by hand; a bid without coefficients is counted,
 * not used; the largest index costs one row. */
static void test_matrix(void **state) {
  (void)state;
  static const float c1[] = {1, -2, 0.5f}, c2[] = {2, 0};
  heed_trace_rec recs[] = {
      header(),
      hub_bid(1, 5, 0.5, c1, 3),
      hub_bid(2, 5, 1.0, c2, 2),
      hub_bid(3, 5, 9.0, NULL, 0),
      hub_bid(1, HEED__TA_MAX_INDEX, 0.25, c1, 3),
      bid(1, 1, 0, 7), /* to a neuron: not a price between two neurons */
  };
  heed__ta_matrix m;
  heed__ta_matrix_init(&m);
  char err[256];
  for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
    assert_int_equal(heed__ta_matrix_add(&m, &recs[i], err, sizeof err), 0);
  heed__ta_matrix_finish(&m);
  assert_int_equal(m.bids, 4);
  assert_int_equal(m.with_coef, 3);
  assert_int_equal(m.layer[2].n, 2);
  const heed__ta_row *r = &m.layer[2].rows[0], *big = &m.layer[2].rows[1];
  assert_int_equal(r->k, 5);
  assert_int_equal(r->len, 3);
  assert_int_equal(r->batches, 2);
  assert_true(fabs(r->sum[0] / r->n[0] - 1.25) < 1e-12); /* (0.5 + 2) / 2 */
  assert_true(fabs(r->sum[1] / r->n[1] - 0.5) < 1e-12);  /* (1 + 0) / 2 */
  assert_true(fabs(r->sum[2] / r->n[2] - 0.25) < 1e-12); /* one batch */
  assert_int_equal(r->n[2], 1);
  assert_int_equal(big->k, HEED__TA_MAX_INDEX);
  assert_true(big->cap <= 3);
  assert_true(fabs(big->sum[1] - 0.5) < 1e-12);
  heed__ta_matrix_free(&m);
  /* an index heed never writes is refused with the record's number */
  heed__ta_matrix_init(&m);
  heed_trace_rec bad = hub_bid(1, 1u << 27, 1, c1, 3);
  assert_int_equal(heed__ta_matrix_add(&m, &recs[0], err, sizeof err), 0);
  assert_int_equal(heed__ta_matrix_add(&m, &bad, err, sizeof err),
                   HEED_ERANGE);
  assert_non_null(strstr(err, "record 2"));
  heed__ta_matrix_free(&m);
}

/* Every allocation of the analysis may fail: each failure is a clean
 * HEED_ENOMEM with a reason, nothing leaks (ASan), and a later run with
 * memory succeeds. */
static void test_out_of_memory(void **state) {
  (void)state;
  enum { N = 600 };
  static heed_trace_rec recs[N + 1];
  recs[0] = header();
  for (uint32_t i = 0; i < N; i++) /* many batches, neurons and tracks */
    recs[i + 1] = bid(i % 150, 1 + i % 3, i % 40, 0.5);
  char err[256];
  int ok = 0, failed = 0;
  for (long n = 0; n < 3000 && !ok; n++) {
    heed__alloc_fail_after(n);
    heed__ta_stats s;
    int rv = run_stats(&s, recs, N + 1, err, sizeof err);
    heed__ta_view v = {0};
    if (rv == 0)
      rv = heed__ta_attention(&s, 2, 4, &v);
    heed__ta_matrix m;
    heed__ta_matrix_init(&m);
    static const float coef[] = {1, 2, 3, 4};
    for (size_t i = 0; rv == 0 && i < 200; i++) {
      heed_trace_rec b = hub_bid(i, (uint32_t)(i * 7919 % 97), 0.5, coef,
                                 1 + (uint32_t)(i % 4));
      rv = heed__ta_matrix_add(&m, &b, err, sizeof err);
    }
    heed__ta_matrix_free(&m);
    heed__ta_chrome *c = NULL;
    if (rv == 0)
      rv = heed__ta_chrome_new(&c);
    for (size_t i = 0; rv == 0 && i <= N; i++)
      rv = heed__ta_chrome_add(c, &recs[i], err, sizeof err);
    FILE *f = fopen("/dev/null", "w");
    if (rv == 0)
      rv = heed__ta_chrome_write(c, f, NULL); /* per layer */
    if (rv == 0) {
      heed__ta_chrome_tracks(c, HEED__TA_TRACKS_ACTOR);
      rv = heed__ta_chrome_write(c, f, NULL);
    }
    fclose(f);
    heed__alloc_fail_after(-1);
    assert_true(rv == 0 || rv == HEED_ENOMEM);
    ok = rv == 0;
    failed += rv != 0;
    heed__ta_view_free(&v);
    heed__ta_chrome_free(c);
    heed__ta_stats_free(&s);
  }
  assert_true(ok);
  assert_true(failed > 20); /* the loop did reach the allocations */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_attention),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_chrome_nonfinite),
      cmocka_unit_test(test_chrome_layers),
      cmocka_unit_test(test_matrix),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
