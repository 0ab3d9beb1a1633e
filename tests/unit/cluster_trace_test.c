/*
 * cluster_trace_test.c - traced workers (src/cluster/trace.c,
 * heed_trace_add_records): the clock offset estimator stays within its
 * bound and keeps the shortest round trip; on one machine a live worker's
 * offset is within its measured bound of 0; heed_cluster_set_trace puts a
 * live worker's records (and its last drops record) into process 0's
 * trace and refuses a tracer that is not process 0's; TRACE start
 * payloads round-trip and out-of-range ones are refused; a worker's
 * tracer marks its records with its process and writes no header;
 * process 0 writes the records a worker ships and drops (and counts)
 * garbage, headers and records in another process's name, and stays a
 * whole trace under 3000 mangled chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "cluster/internal.h"
#include "heed/heed.h"

/* First: forks a worker, so before any other test starts a thread. */
static void live_offset_within_bound(void **state) {
  (void)state;
  char err[512];
  heed_cluster *c;
  heed_cluster_opts co = {.local_workers = 1};
  assert_int_equal(heed_cluster_start(&c, &co, err, sizeof err), 0);
  static const uint32_t sizes[] = {8, 6, 3};
  heed_net_opts no = {.nsizes = 3, .sizes = sizes, .seed = 1, .lr = 0.1f,
                      .max_batch = 16};
  heed_runtime_opts ro = {.threads = 1};
  heed_runtime *rt;
  heed_net *net;
  assert_int_equal(heed_runtime_new(&rt, &ro), 0);
  assert_int_equal(heed_runtime_start(rt), 0);
  heed_cluster_net_opts cno = {.net = &no};
  assert_int_equal(heed_cluster_net_new(c, rt, &cno, &net), 0);
  int64_t off = 0;
  uint64_t bound = 0;
  int rv = HEED_ENOENT;
  for (int i = 0; i < 300 && rv == HEED_ENOENT; i++) { /* heartbeat: 250 ms */
    usleep(10000);
    rv = heed_cluster_clock(c, 1, &off, &bound);
  }
  assert_int_equal(rv, 0);
  /* One machine, one CLOCK_MONOTONIC: the true offset is 0. */
  printf("offset %lld ns, bound %llu ns\n", (long long)off,
         (unsigned long long)bound);
  assert_true(llabs(off) <= (long long)bound);
  assert_true(bound < 50000000); /* a round trip on one machine */
  assert_int_equal(heed_cluster_clock(c, 0, &off, &bound), HEED_EINVAL);
  assert_int_equal(heed_cluster_clock(c, 2, &off, &bound), HEED_EINVAL);

  /* Tracing through the library: the worker's records join ours. */
  char path[] = "/tmp/heed-cluster-trace-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  heed_trace *t, *w;
  heed_trace_opts to = {.path = path, .procs = 2, .run = 5};
  heed_trace_opts wo = {.path = "/dev/null", .proc = 1, .procs = 2};
  assert_int_equal(heed_trace_new(&t, &to, err, sizeof err), 0);
  assert_int_equal(heed_trace_new(&w, &wo, err, sizeof err), 0);
  assert_int_equal(heed_cluster_set_trace(c, w), HEED_EINVAL); /* not ours */
  heed_trace_free(w);
  assert_int_equal(heed_cluster_set_trace(c, t), 0);
  float x[4 * 8];
  uint8_t y[4];
  for (int i = 0; i < 32; i++)
    x[i] = (float)(i % 7) / 7.0f;
  for (int i = 0; i < 4; i++)
    y[i] = (uint8_t)(i % 3);
  for (int b = 0; b < 3; b++)
    assert_int_equal(heed_net_train_batch(net, x, y, 4, NULL), 0);
  assert_int_equal(heed_cluster_set_trace(c, NULL), 0);
  heed_trace_free(t);
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_open(&r, path, err, sizeof err), 0);
  heed_trace_rec rec;
  unsigned mine = 0, theirs = 0, procs = 0, worker_drops = 0;
  while (heed_trace_reader_next(r, &rec) == 1) {
    if (rec.kind == 0)
      procs = rec.procs;
    else if (rec.kind == HEED_TRACE_DROPS)
      worker_drops += rec.proc == 1;
    else if (rec.proc == 1)
      theirs++;
    else
      mine++;
  }
  heed_trace_reader_free(r);
  unlink(path);
  assert_int_equal(procs, 2);
  assert_true(mine > 0 && theirs > 0);
  assert_int_equal(worker_drops, 1); /* its last, at the end */
  heed_cluster_stop(c);
  heed_net_free(net);
  heed_runtime_free(rt);
  heed_cluster_free(c);
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

static void estimator_within_bound(void **state) {
  (void)state;
  heed__clock_est e;
  memset(&e, 0, sizeof e);
  int64_t off;
  uint64_t bound;
  assert_int_equal(heed__clock_get(&e, &off, &bound), HEED_ENOENT);
  /* The worker's clock is 7.3 s behind; legs of 20-520 us, asymmetric. */
  const int64_t theta = -7300000000ll;
  const uint64_t base = 100000000000ull;
  uint64_t seed = 1, best_rtt = UINT64_MAX;
  for (int i = 0; i < 200; i++) {
    uint64_t send = base + (uint64_t)i * 250000000ull;
    uint64_t d1 = 20000 + lcg(&seed) % 500000, d2 = 20000 + lcg(&seed) % 500000;
    uint64_t worker = (uint64_t)((int64_t)(send + d1) + theta);
    heed__clock_add(&e, send, worker, send + d1 + d2, i * 0.01);
    assert_int_equal(heed__clock_get(&e, &off, &bound), 0);
    assert_true(llabs(off - theta) <= (long long)bound);
    if (d1 + d2 < best_rtt)
      best_rtt = d1 + d2;
    assert_int_equal(bound, (best_rtt + 1) / 2); /* the shortest trip */
  }
  /* A receive before the send is not a round trip. */
  heed__clock_add(&e, base + 10, base, base, 3.0);
  assert_int_equal(heed__clock_get(&e, &off, &bound), 0);
  assert_int_equal(bound, (best_rtt + 1) / 2);
}

/* The best sample of two windows ago gives way to newer ones: a drifting
 * clock is followed. */
static void estimator_follows_drift(void **state) {
  (void)state;
  heed__clock_est e;
  memset(&e, 0, sizeof e);
  int64_t off;
  uint64_t bound;
  heed__clock_add(&e, 1000, 1000 + 500 + 5000, 2000, 0.0); /* rtt 1 us */
  assert_int_equal(heed__clock_get(&e, &off, &bound), 0);
  assert_int_equal(off, 5000);
  /* later samples, slower trips, offset drifted to 9000 */
  for (int i = 1; i <= 30; i++) {
    uint64_t s = 1000000ull * i;
    heed__clock_add(&e, s, s + 50000 + 9000, s + 100000, i * 1.0);
  }
  assert_int_equal(heed__clock_get(&e, &off, &bound), 0);
  assert_int_equal(off, 9000);
  assert_int_equal(bound, 50000);
}

static void cfg_round_trip_and_ranges(void **state) {
  (void)state;
  char why[256];
  uint8_t b[HEED_TRACE_CFG_LEN];
  heed__trace_cfg a = {.run = 9, .sample = 0.25, .kinds = HEED_TRACE_BID,
                       .values = 1, .procs = 3, .start_ns = 123456789,
                       .offset = -42}, d;
  heed__trace_cfg_encode(&a, b);
  assert_int_equal(heed__trace_cfg_decode(&d, b, sizeof b, why, sizeof why),
                   0);
  assert_int_equal(d.run, 9);
  assert_true(d.sample == 0.25);
  assert_int_equal(d.kinds, HEED_TRACE_BID);
  assert_int_equal(d.values, 1);
  assert_int_equal(d.procs, 3);
  assert_int_equal(d.start_ns, 123456789);
  assert_int_equal(d.offset, -42);
  assert_int_equal(heed__trace_cfg_decode(&d, b, sizeof b - 1, why,
                                          sizeof why), HEED_EFORMAT);
  heed__trace_cfg bad[] = {a, a, a, a, a, a, a};
  bad[0].sample = 0;
  bad[1].sample = NAN;
  bad[2].kinds = 0;
  bad[3].kinds = 1u << 9;
  bad[4].procs = 1;
  bad[5].procs = HEED_WIRE_MAX_PROCS + 1;
  bad[6].values = 2;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    heed__trace_cfg_encode(&bad[i], b);
    assert_int_equal(heed__trace_cfg_decode(&d, b, sizeof b, why,
                                            sizeof why), HEED_ERANGE);
    assert_true(why[0]);
  }
}

/* ---- a worker's tracer and process 0's inbox ---- */

typedef struct capture {
  uint8_t buf[1 << 16];
  size_t len;
  unsigned nrec, flushes;
} capture;

static void cap_sink(void *arg, const void *rec, size_t len) {
  capture *c = arg;
  if (!rec) {
    c->flushes++;
    return;
  }
  assert_true(c->len + len <= sizeof c->buf);
  memcpy(c->buf + c->len, rec, len);
  c->len += len;
  c->nrec++;
}

static void record_some(heed_trace *t, unsigned n) {
  float v[4] = {1, -2, 3, 0.5f};
  for (unsigned i = 0; i < n; i++) {
    heed_trace_event ev = {.t_ns = 1000 + i, .batch = i,
                           .kind = HEED_TRACE_FORWARD,
                           .sender = {HEED_ROLE_NEURON, 1, i},
                           .receiver = {HEED_ROLE_HUB, 1, 0},
                           .fanout = 1, .values = v, .count = 4};
    assert_int_equal(heed_trace_record(t, &ev), 0);
  }
}

/* n records of process proc, as its sink received them. */
static void worker_records(capture *c, uint32_t proc, uint64_t run,
                           unsigned n) {
  memset(c, 0, sizeof *c);
  char err[256];
  heed_trace *t;
  heed_trace_opts o = {.sink = cap_sink, .sink_arg = c, .proc = proc,
                       .procs = 3, .run = run, .start_ns = 500};
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  heed_trace_opts g;
  heed_trace_opts_get(t, &g);
  assert_int_equal(g.proc, proc);
  assert_int_equal(g.procs, 3);
  assert_int_equal(g.start_ns, 500);
  assert_int_equal(g.run, run);
  record_some(t, n);
  heed_trace_free(t);
  assert_true(c->flushes >= 1); /* at least the one at close */
}

static void worker_tracer_marks_its_records(void **state) {
  (void)state;
  capture c;
  worker_records(&c, 2, 77, 5);
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_new(&r), 0);
  assert_int_equal(heed_trace_reader_feed(r, c.buf, c.len), 0);
  heed_trace_rec rec;
  unsigned events = 0, drops = 0;
  while (heed_trace_reader_next(r, &rec) == 1) {
    assert_int_not_equal(rec.kind, 0); /* no header */
    assert_int_equal(rec.proc, 2);
    assert_int_equal(rec.run, 77);
    if (rec.kind == HEED_TRACE_DROPS)
      drops++;
    else {
      assert_int_equal(rec.t_ns, 1000 + events - 500); /* from start_ns */
      events++;
    }
  }
  heed_trace_reader_free(r);
  assert_int_equal(events, 5);
  assert_int_equal(drops, 1);
  assert_int_equal(c.nrec, 6);
}

static void inbox_checks_records(void **state) {
  (void)state;
  char path[] = "/tmp/heed-cluster-trace-XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  heed_trace *t;
  heed_trace_opts o = {.path = path, .procs = 3, .run = 77};
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  capture good, other_run;
  worker_records(&good, 2, 77, 5);        /* 6 records: 5 + drops */
  worker_records(&other_run, 1, 78, 3);   /* another run */
  assert_int_equal(heed_trace_add_records(t, 2, good.buf, good.len,
                                          good.nrec), 0);
  /* in another process's name: all 6 dropped */
  assert_int_equal(heed_trace_add_records(t, 1, good.buf, good.len,
                                          good.nrec), 0);
  /* another run's: 4 dropped */
  assert_int_equal(heed_trace_add_records(t, 1, other_run.buf,
                                          other_run.len, other_run.nrec), 0);
  /* garbage after one good record: the good one kept, 1 dropped */
  uint8_t mixed[4096];
  size_t first = 0;
  {
    heed_trace_reader *r;
    heed_trace_rec rec;
    assert_int_equal(heed_trace_reader_new(&r), 0);
    assert_int_equal(heed_trace_reader_feed(r, good.buf, good.len), 0);
    assert_int_equal(heed_trace_reader_next(r, &rec), 1);
    first = (size_t)heed_trace_reader_offset(r);
    heed_trace_reader_free(r);
  }
  memcpy(mixed, good.buf, first);
  memset(mixed + first, 0xc1, 16);
  assert_int_equal(heed_trace_add_records(t, 2, mixed, first + 16, 2), 0);
  /* a header (a whole trace file's first record): dropped */
  capture hdr;
  memset(&hdr, 0, sizeof hdr);
  heed_trace *h;
  heed_trace_opts ho = {.sink = cap_sink, .sink_arg = &hdr, .run = 77};
  assert_int_equal(heed_trace_new(&h, &ho, err, sizeof err), 0);
  heed_trace_free(h);
  assert_int_equal(heed_trace_add_records(t, 2, hdr.buf, hdr.len, 1), 0);
  /* process 0 and nothing are not another process's records */
  assert_int_equal(heed_trace_add_records(t, 0, good.buf, good.len, 1),
                   HEED_EINVAL);
  assert_int_equal(heed_trace_add_records(NULL, 2, good.buf, good.len, 1),
                   HEED_EINVAL);
  heed_trace_free(t);

  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_open(&r, path, err, sizeof err), 0);
  heed_trace_rec rec;
  unsigned n = 0, headers = 0, from2 = 0, other = 0;
  uint64_t dropped = 0;
  while (heed_trace_reader_next(r, &rec) == 1) {
    n++;
    headers += rec.kind == 0;
    if (rec.kind == 0)
      assert_int_equal(rec.procs, 3);
    if (rec.proc == 2)
      from2++;
    else if (rec.proc != 0)
      other++;
    if (rec.kind == HEED_TRACE_DROPS && rec.proc == 0)
      dropped = rec.dropped;
  }
  heed_trace_reader_free(r);
  unlink(path);
  assert_int_equal(headers, 1);
  assert_int_equal(other, 0);
  assert_int_equal(from2, good.nrec + 1);
  assert_int_equal(dropped, 6 + 4 + 1 + 1);
}

/* Mangled records from a worker never reach the file: whatever bytes
 * arrive, the trace reads back whole, every record of this run. */
static void inbox_survives_mangled_bytes(void **state) {
  (void)state;
  char path[] = "/tmp/heed-cluster-trace-XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  heed_trace *t;
  heed_trace_opts o = {.path = path, .procs = 3, .run = 77};
  assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
  static capture good;
  worker_records(&good, 2, 77, 40);
  static uint8_t m[sizeof good.buf];
  uint64_t seed = 12345;
  for (int k = 0; k < 3000; k++) {
    size_t n = good.len;
    memcpy(m, good.buf, n);
    int flips = 1 + (int)(lcg(&seed) % 8);
    for (int f = 0; f < flips; f++)
      m[lcg(&seed) % n] = (uint8_t)lcg(&seed);
    if (lcg(&seed) % 4 == 0)
      n = lcg(&seed) % n; /* cut anywhere */
    heed_trace_add_records(t, 2, m, n, good.nrec);
  }
  heed_trace_free(t);
  heed_trace_reader *r;
  assert_int_equal(heed_trace_reader_open(&r, path, err, sizeof err), 0);
  heed_trace_rec rec;
  int rv;
  unsigned n = 0;
  while ((rv = heed_trace_reader_next(r, &rec)) == 1) {
    n++;
    assert_true(rec.proc == 0 || rec.proc == 2);
    assert_int_equal(rec.run, 77);
    assert_true(n == 1 ? rec.kind == 0 : rec.kind != 0);
  }
  assert_int_equal(rv, 0); /* the end, not an error */
  assert_true(n > 1);
  heed_trace_reader_free(r);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(live_offset_within_bound),
      cmocka_unit_test(estimator_within_bound),
      cmocka_unit_test(estimator_follows_drift),
      cmocka_unit_test(cfg_round_trip_and_ranges),
      cmocka_unit_test(worker_tracer_marks_its_records),
      cmocka_unit_test(inbox_checks_records),
      cmocka_unit_test(inbox_survives_mangled_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
