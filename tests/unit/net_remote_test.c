/*
 * net_remote_test.c - one network split over several "processes" gives the
 * same bits as one process. Here each process is a runtime of its own in
 * this test, and the transport is a function that hands each wire message
 * straight to the receiving net: the conformance check every real
 * transport (nng) must also pass.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/internal.h"
#include "net_test_util.h"

#define MAXP 4

typedef struct world {
  heed_net *nets[MAXP];
  unsigned n;
  _Atomic unsigned long frames;
} world;

typedef struct endpoint {
  world *w;
  unsigned self;
} endpoint;

static int loop_send(void *arg, unsigned to, const heed_wire_msg *m) {
  endpoint *e = arg;
  if (to >= e->w->n || !e->w->nets[to])
    return HEED_EPEER;
  atomic_fetch_add(&e->w->frames, 1);
  return heed_net_deliver(e->w->nets[to], e->self, m);
}

/* placement: the process of each layer; share (or NULL): the neurons of
 * each layer on each process (sliced placement). */
static void run_split(unsigned nprocs, const unsigned *placement,
                      const uint32_t *share, const char *strategy,
                      float *w_out[3]) {
  const uint32_t sizes[] = {40, 24, 16, 10};
  world w = {.n = nprocs};
  endpoint ep[MAXP];
  heed_runtime *rts[MAXP];
  heed_strategy *s;
  char err[128];
  assert_int_equal(heed_strategy_new(&s, strategy, err, sizeof err), 0);
  /* build workers first so the coordinator's first message finds them */
  for (int p = (int)nprocs - 1; p >= 0; p--) {
    rts[p] = make_rt(p == 0 ? 1 : 2);
    ep[p] = (endpoint){&w, (unsigned)p};
    heed_net_remote r = {nprocs, (unsigned)p, placement, loop_send, &ep[p],
                         share};
    heed_net_opts o = {.nsizes = 4, .sizes = sizes, .seed = 17, .lr = 0.1f,
                       .max_batch = 64, .strategy = s};
    assert_int_equal(heed_net_new_remote(&w.nets[p], rts[p], &o,
                                         nprocs > 1 ? &r : NULL), 0);
  }
  heed_net *coord = w.nets[0];
  float x[32 * 40];
  uint8_t y[32];
  heed_batch_stats st;
  for (int t = 0; t < 25; t++) {
    gen_data(50 + (uint64_t)t, 32, 40, 10, x, y);
    assert_int_equal(heed_net_train_batch(coord, x, y, 32, &st), 0);
    if (t == 12)
      assert_int_equal(heed_net_control(coord, HEED_EVENT_CONSOLIDATE), 0);
  }
  gen_data(999, 32, 40, 10, x, y);
  assert_int_equal(heed_net_eval(coord, x, y, 32, &st), 0);
  assert_int_equal(st.count, 32);
  if (nprocs > 1) {
    assert_true(atomic_load(&w.frames) > 0);
    /* a worker does not drive */
    assert_int_equal(heed_net_train_batch(w.nets[1], x, y, 32, NULL),
                     HEED_ESTATE);
  }
  assert_int_equal(heed_net_pull(coord), 0);
  for (int l = 0; l < 3; l++) {
    w_out[l] = malloc(sizeof(float) * sizes[l] * sizes[l + 1]);
    assert_int_equal(heed_net_params_get(coord, l + 1, w_out[l], NULL), 0);
  }
  /* push: change a remote layer on the coordinator, push, pull back */
  if (nprocs > 1 && (share ? share[nprocs] == 0 : placement[1] != 0)) {
    float *tmp = calloc(sizes[1] * sizes[2], sizeof(float));
    assert_int_equal(heed_net_params_set(coord, 2, tmp, NULL), 0);
    assert_int_equal(heed_net_push(coord), 0);
    assert_int_equal(heed_net_params_set(coord, 2, w_out[1], NULL), 0);
    assert_int_equal(heed_net_pull(coord), 0);
    float *back = malloc(sizeof(float) * sizes[1] * sizes[2]);
    assert_int_equal(heed_net_params_get(coord, 2, back, NULL), 0);
    assert_memory_equal(back, tmp, sizeof(float) * sizes[1] * sizes[2]);
    free(back);
    free(tmp);
  }
  for (unsigned p = 0; p < nprocs; p++) {
    heed_net *n = w.nets[p];
    heed_net_free(n);
  }
  for (unsigned p = 0; p < nprocs; p++)
    heed_runtime_free(rts[p]);
  heed_strategy_free(s);
}

static void compare(const char *strategy) {
  const uint32_t sizes[] = {40, 24, 16, 10};
  const unsigned one[3] = {0, 0, 0};
  const unsigned two[3] = {1, 1, 1};
  const unsigned three[3] = {1, 2, 0};
  const unsigned four[3] = {3, 1, 2};
  /* slices over workers 1 and 2; over all four processes (uneven, the
   * coordinator too); and one where worker 2 hosts nothing of layer 1 */
  const uint32_t s3[9] = {0, 12, 12, 0, 8, 8, 0, 5, 5};
  const uint32_t s4[12] = {6, 6, 7, 5, 4, 4, 4, 4, 3, 3, 2, 2};
  const uint32_t s3b[9] = {0, 24, 0, 0, 3, 13, 1, 9, 0};
  float *ref[3], *got[3];
  run_split(1, one, NULL, strategy, ref);
  const unsigned *plans[] = {two, three, four, one, one, one};
  const uint32_t *shares[] = {NULL, NULL, NULL, s3, s4, s3b};
  const unsigned procs[] = {2, 3, 4, 3, 4, 3};
  for (int k = 0; k < 6; k++) {
    run_split(procs[k], plans[k], shares[k], strategy, got);
    for (int l = 0; l < 3; l++) {
      assert_memory_equal(ref[l], got[l],
                          sizeof(float) * sizes[l] * sizes[l + 1]);
      free(got[l]);
    }
  }
  for (int l = 0; l < 3; l++)
    free(ref[l]);
}

static void test_split_is_bitwise_identical_bp(void **state) {
  (void)state;
  compare("bp");
}

static void test_split_is_bitwise_identical_guard(void **state) {
  (void)state;
  compare("guard:c=0.5"); /* per-neuron state and CONSOLIDATE cross too */
}

static void test_split_is_bitwise_identical_claim(void **state) {
  (void)state;
  /* output neurons (heed_neuron.output) play prototypes wherever they sit */
  compare("claim:teach=0.5");
}

static void test_deliver_rejects_bad_messages(void **state) {
  (void)state;
  const uint32_t sizes[] = {8, 4, 2};
  const unsigned placement[2] = {1, 0};
  world w = {.n = 2};
  endpoint ep = {&w, 1};
  heed_runtime *rt = make_rt(1);
  heed_net_remote r = {2, 1, placement, loop_send, &ep, NULL};
  heed_net_opts o = {.nsizes = 3, .sizes = sizes, .seed = 1, .lr = 0.1f,
                     .max_batch = 16};
  heed_net *net;
  assert_int_equal(heed_net_new_remote(&net, rt, &o, &r), 0);
  float data[64] = {0};
  heed_wire_msg bad[] = {
      {.kind = 99},
      {.kind = HEED_WIRE_FORWARD, .layer = 2, .mode = 1, .count = 8,
       .stride = 8, .rows = 4, .data = data, .nfloats = 32}, /* not local */
      {.kind = HEED_WIRE_FORWARD, .layer = 1, .mode = 1, .count = 8,
       .stride = 8, .rows = 8, .data = data, .nfloats = 63}, /* length */
      {.kind = HEED_WIRE_FORWARD, .layer = 1, .mode = 1, .count = 9,
       .stride = 8, .rows = 8, .data = data, .nfloats = 64}, /* count */
      {.kind = HEED_WIRE_FORWARD, .layer = 1, .mode = 7, .count = 8,
       .stride = 8, .rows = 8, .data = data, .nfloats = 64}, /* mode */
      {.kind = HEED_WIRE_FORWARD, .layer = 1, .mode = 1, .count = 8,
       .stride = 8000, .rows = 8, .data = data, .nfloats = 64}, /* stride */
      {.kind = HEED_WIRE_PARAMS, .layer = 1, .data = data, .nfloats = 3},
      {.kind = HEED_WIRE_DONE, .word = 5}, /* only the coordinator counts */
      {.kind = HEED_WIRE_CONTROL, .layer = 9},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(heed_net_deliver(net, 0, &bad[i]), HEED_EPROTO);
  assert_int_equal(heed_net_deliver(net, 7, &bad[0]), HEED_EPROTO);
  assert_int_equal(heed_net_deliver(NULL, 0, &bad[0]), HEED_EINVAL);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* Sliced placement: a block from a peer must be exactly the slice that
 * peer hosts (first row, rows, this process's columns), and PARAMS must
 * start at the receiver's first neuron. Process 2 of 3 for 8-6-4-2 with
 * layers 1 and 2 split over processes 1 and 2 and the output on 0. */
static void refused_by_slice(unsigned from, const heed_wire_msg *m,
                             const char *reason) {
  static const uint32_t sizes[] = {8, 6, 4, 2};
  static const uint32_t share[9] = {0, 3, 3, 0, 2, 2, 2, 0, 0};
  static const unsigned none[3] = {0, 0, 0};
  world w = {.n = 3};
  endpoint ep = {&w, 2};
  heed_runtime *rt = make_rt(1);
  heed_net_remote r = {3, 2, none, loop_send, &ep, share};
  heed_net_opts o = {.nsizes = 4, .sizes = sizes, .seed = 1, .lr = 0.1f,
                     .max_batch = 16};
  heed_net *net;
  char why[256];
  assert_int_equal(heed_net_new_remote(&net, rt, &o, &r), 0);
  int rv = heed_net_deliver_why(net, from, m, why, sizeof why);
  if (reason && (rv != HEED_EPROTO || !strstr(why, reason)))
    fail_msg("deliver gave %d \"%s\", want HEED_EPROTO with \"%s\"", rv,
             why, reason);
  /* a good PARAMS is taken and ACKed: that send finds no process 0 here */
  if (!reason && (rv == HEED_EPROTO || why[0]))
    fail_msg("deliver refused a good slice: %d \"%s\"", rv, why);
  heed_net_free(net);
  heed_runtime_free(rt);
}

static void test_deliver_checks_slices(void **state) {
  (void)state;
  float d[8 * 16] = {0};
  /* rows 0..2 of layer 1 come from process 1, for layer 2 here */
  heed_wire_msg fwd = {.kind = HEED_WIRE_FORWARD, .layer = 2, .mode = 1,
                       .count = 8, .stride = 8, .rows = 3, .data = d,
                       .nfloats = 24};
  refused_by_slice(1, &fwd, NULL);
  fwd.word = 3; /* process 2's own rows */
  refused_by_slice(1, &fwd, "from row 0) from process 1, not from row 3");
  fwd.word = 0;
  fwd.rows = 6; /* the whole layer */
  fwd.nfloats = 48;
  refused_by_slice(1, &fwd, "6 rows, ldc 0; the layer takes 3 rows");
  fwd.rows = 3;
  fwd.nfloats = 24;
  refused_by_slice(0, &fwd, "only the processes hosting its neurons");
  /* bids of process 1's layer-2 neurons (rows 0..1) for this process's
   * layer-1 neurons: 3 columns, not the layer's 6 */
  heed_wire_msg bid = {.kind = HEED_WIRE_BID, .layer = 1, .mode = 1,
                       .count = 8, .stride = 8, .rows = 2, .ldc = 6,
                       .data = d, .nfloats = 2 * 14};
  refused_by_slice(1, &bid, "2 rows, ldc 6; the layer takes 2 rows, ldc 3");
  bid.ldc = 3;
  bid.nfloats = 2 * 11;
  refused_by_slice(1, &bid, "was not sent forward to process 1");
  /* the same slice with its zeros left out: a bitmap word, then the
   * values its bits name, no more, no fewer, no bit past the block */
  uint32_t zq[4] = {0x5, 0x3f800000u, 0x40000000u, 0};
  heed_wire_msg z = fwd;
  z.kind = HEED_WIRE_FORWARD_Z;
  z.data = (const float *)zq;
  z.nfloats = 3;
  refused_by_slice(1, &z, NULL);
  z.nfloats = 2;
  refused_by_slice(1, &z, "2 floats for a block of 24");
  z.nfloats = 4;
  refused_by_slice(1, &z, "4 floats for a block of 24");
  zq[0] = 0x5 | 1u << 24; /* value 24 of a block of 24 */
  z.nfloats = 4;
  refused_by_slice(1, &z, "for a block of 24");
  /* PARAMS of layer 1 for this process start at neuron 3 */
  size_t np = 3 * 8 + 3;
  heed_wire_msg par = {.kind = HEED_WIRE_PARAMS, .layer = 1, .data = d,
                       .nfloats = np};
  refused_by_slice(0, &par, "process 2 hosts it from neuron 3");
  par.nfloats = np + 1;
  par.word = 3;
  refused_by_slice(0, &par, "floats, the layer has 27 on process 2");
  par.nfloats = np;
  refused_by_slice(0, &par, NULL);
  refused_by_slice(1, &par, "only process 0 sends those");
}

static int sink_send(void *arg, unsigned to, const heed_wire_msg *m) {
  (void)arg;
  (void)to;
  (void)m;
  return 0;
}

/* The same slice twice would complete a block with another process's rows
 * missing: the hub fails the net instead (sends go nowhere and succeed, so
 * only the hub's own check can fail it). */
static void test_slice_twice_fails(void **state) {
  (void)state;
  static const uint32_t sizes[] = {8, 6, 4, 2};
  static const uint32_t share[9] = {0, 3, 3, 0, 2, 2, 2, 0, 0};
  static const unsigned none[3] = {0, 0, 0};
  world w = {.n = 3};
  endpoint ep = {&w, 2};
  heed_runtime *rt = make_rt(1);
  heed_net_remote r = {3, 2, none, sink_send, &ep, share};
  heed_net_opts o = {.nsizes = 4, .sizes = sizes, .seed = 1, .lr = 0.1f,
                     .max_batch = 16};
  heed_net *net;
  float d[24] = {0};
  heed_wire_msg fwd = {.kind = HEED_WIRE_FORWARD, .layer = 2, .mode = 2,
                       .count = 8, .stride = 8, .rows = 3, .data = d,
                       .nfloats = 24};
  assert_int_equal(heed_net_new_remote(&net, rt, &o, &r), 0);
  assert_int_equal(heed_net_deliver(net, 1, &fwd), 0);
  assert_int_equal(heed_net_deliver(net, 1, &fwd), 0);
  int failed = 0;
  for (int i = 0; i < 2000 && !failed; i++) {
    pthread_mutex_lock(&net->mu);
    failed = net->failed;
    pthread_mutex_unlock(&net->mu);
    if (!failed)
      usleep(1000);
  }
  assert_true(failed);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* A peer that died: driver calls return HEED_EPEER, and a worker that is
 * missing makes the coordinator's send fail instead of hanging. */
static void test_abort_reports_peer(void **state) {
  (void)state;
  const uint32_t sizes[] = {8, 4, 2};
  const unsigned placement[2] = {1, 1};
  world w = {.n = 2}; /* process 1 never comes: nets[1] stays NULL */
  endpoint ep = {&w, 0};
  heed_runtime *rt = make_rt(1);
  heed_net_remote r = {2, 0, placement, loop_send, &ep, NULL};
  heed_net_opts o = {.nsizes = 3, .sizes = sizes, .seed = 1, .lr = 0.1f,
                     .max_batch = 16};
  heed_net *net;
  assert_int_equal(heed_net_new_remote(&net, rt, &o, &r), 0);
  w.nets[0] = net;
  float x[8 * 8] = {0};
  uint8_t y[8] = {0};
  assert_int_not_equal(heed_net_train_batch(net, x, y, 8, NULL), 0);
  heed_net_abort(net);
  assert_int_equal(heed_net_train_batch(net, x, y, 8, NULL), HEED_EPEER);
  heed_batch_stats st;
  assert_int_equal(heed_net_eval(net, x, y, 8, &st), HEED_EPEER);
  heed_net_free(net);
  heed_runtime_free(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_is_bitwise_identical_bp),
      cmocka_unit_test(test_split_is_bitwise_identical_guard),
      cmocka_unit_test(test_split_is_bitwise_identical_claim),
      cmocka_unit_test(test_deliver_rejects_bad_messages),
      cmocka_unit_test(test_deliver_checks_slices),
      cmocka_unit_test(test_slice_twice_fails),
      cmocka_unit_test(test_abort_reports_peer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
