/*
 * net_hostile_test.c - a peer that speaks valid messages with wrong
 * shapes, counts, ids or senders never crashes a process or makes an
 * actor read out of bounds (run it under ASan): heed_net_deliver refuses
 * the message with a reason and the run fails with HEED_EPEER.
 *
 * The test plays the other processes itself: the net under test is a real
 * worker (or coordinator) whose sends land in a list the test can wait on,
 * and the test hands it first valid messages, then one hostile one.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "net/internal.h"
#include "net_test_util.h"

/* ---- a fake peer: records what the net under test sends ---------------- */

#define MAXSENT 256

typedef struct sent {
  unsigned to;
  heed_wire_msg m; /* data not kept */
} sent;

typedef struct peer {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sent log[MAXSENT];
  size_t n;
} peer;

static int record_send(void *arg, unsigned to, const heed_wire_msg *m) {
  peer *p = arg;
  pthread_mutex_lock(&p->mu);
  if (p->n < MAXSENT) {
    p->log[p->n].to = to;
    p->log[p->n].m = *m;
    p->log[p->n].m.data = NULL;
    p->n++;
  }
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

/* Waits up to 10 s for a message of kind (and layer) to be sent. */
static int wait_sent(peer *p, uint32_t kind, uint32_t layer, sent *out) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    for (size_t i = 0; i < p->n; i++)
      if ((p->log[i].m.kind == kind ||
           (kind == HEED_WIRE_FORWARD &&
            p->log[i].m.kind == HEED_WIRE_FORWARD_Z)) && /* zeros left out */
          p->log[i].m.layer == layer) {
        if (out)
          *out = p->log[i];
        pthread_mutex_unlock(&p->mu);
        return 1;
      }
    if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
      break;
  }
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static int net_failed(heed_net *net, int *aborted) {
  pthread_mutex_lock(&net->mu);
  int f = net->failed;
  if (aborted)
    *aborted = net->aborted;
  pthread_mutex_unlock(&net->mu);
  return f;
}

/* A block message with a zeroed payload of exactly nfloats floats. */
static heed_wire_msg block(uint32_t kind, uint32_t layer, uint64_t batch,
                           uint32_t mode, uint32_t count, uint32_t rows,
                           uint32_t ldc, float **data) {
  uint32_t stride = heed__stride(count);
  size_t n = (size_t)rows * (stride + ldc);
  *data = calloc(n ? n : 1, sizeof(float));
  assert_non_null(*data);
  return (heed_wire_msg){.kind = kind, .layer = layer, .batch = batch,
                         .mode = mode, .count = count, .stride = stride,
                         .rows = rows, .ldc = ldc, .data = *data,
                         .nfloats = n};
}

/* Refused, with a reason that says why, and the run is over. */
static void expect_refused(heed_net *net, unsigned from,
                           const heed_wire_msg *m, const char *reason) {
  char why[256];
  int rv = heed_net_deliver_why(net, from, m, why, sizeof why);
  if (rv != HEED_EPROTO || !strstr(why, reason))
    fail_msg("deliver gave %d \"%s\", want HEED_EPROTO with \"%s\"", rv, why,
             reason);
  int aborted;
  assert_true(net_failed(net, &aborted));
  assert_true(aborted);
}

/* ---- a hostile coordinator against a worker ---------------------------- */

/* Worker 1 of 2 hosting layers 1 and 2 of 12-24-16-10; process 0 hosts
 * layer 3 and the critic. */
static const uint32_t wsizes[] = {12, 24, 16, 10};
static const unsigned wplace[] = {1, 1, 0};

typedef struct worker_fx {
  heed_runtime *rt;
  heed_net *net;
  peer p;
  float *fwd_data;
} worker_fx;

static void worker_up(worker_fx *f, const unsigned *place,
                      const uint32_t *sizes, size_t nsizes) {
  memset(f, 0, sizeof *f);
  pthread_mutex_init(&f->p.mu, NULL);
  pthread_cond_init(&f->p.cv, NULL);
  f->rt = make_rt(2);
  heed_net_remote r = {2, 1, place, record_send, &f->p, NULL};
  heed_net_opts o = {.nsizes = nsizes, .sizes = sizes, .seed = 3, .lr = 0.1f,
                     .max_batch = 32};
  assert_int_equal(heed_net_new_remote(&f->net, f->rt, &o, &r), 0);
}

/* A valid training batch 0 into layer 1; waits until its activations left
 * for the layer (or critic) at `next`. */
static void worker_forward(worker_fx *f, uint32_t next) {
  heed_wire_msg m = block(HEED_WIRE_FORWARD, 1, 0, HEED_MODE_TRAIN, 8,
                          f->net->sizes[0], 0, &f->fwd_data);
  assert_int_equal(heed_net_deliver(f->net, 0, &m), 0);
  assert_true(wait_sent(&f->p, HEED_WIRE_FORWARD, next, NULL));
}

static void worker_down(worker_fx *f) {
  heed_net_free(f->net);
  heed_runtime_free(f->rt);
  free(f->fwd_data);
  pthread_mutex_destroy(&f->p.mu);
  pthread_cond_destroy(&f->p.cv);
}

typedef struct hostile {
  const char *name;
  unsigned from;
  uint32_t kind, layer;
  uint64_t batch;
  uint32_t mode, count, rows, ldc;
  long nfloats_delta; /* added to the right length */
  uint64_t word;
  const char *reason;
} hostile;

/* What process 0 may send worker 1 after BUILD and a valid FORWARD. */
static const hostile to_worker[] = {
    {"bid rows 1 ldc 0", 0, HEED_WIRE_BID, 2, 0, 1, 8, 1, 0, 0, 0,
     "1 rows, ldc 0; the layer takes 10 rows, ldc 16"},
    {"bid without coefficients", 0, HEED_WIRE_BID, 2, 0, 1, 8, 10, 0, 0, 0,
     "ldc 0; the layer takes 10 rows, ldc 16"},
    {"bid ldc too wide", 0, HEED_WIRE_BID, 2, 0, 1, 8, 10, 4000, 0, 0,
     "ldc 4000"},
    {"bid for a batch never sent", 0, HEED_WIRE_BID, 2, 5, 1, 8, 10, 16, 0,
     0, "batch 5, which was not sent forward"},
    {"bid in eval mode", 0, HEED_WIRE_BID, 2, 0, 2, 8, 10, 16, 0, 0,
     "mode 2"},
    {"bid past the batch limit", 0, HEED_WIRE_BID, 2, 0, 1, 40, 10, 16, 0,
     0, "40 samples"},
    {"bid of another batch size", 0, HEED_WIRE_BID, 2, 0, 1, 16, 10, 16, 0,
     0, "16 samples, not those its forward had"},
    {"bid short of floats", 0, HEED_WIRE_BID, 2, 0, 1, 8, 10, 16, -1, 0,
     "floats for a block of"},
    {"bid long of floats", 0, HEED_WIRE_BID, 2, 0, 1, 8, 10, 16, 3, 0,
     "floats for a block of"},
    {"bid for a layer whose bids are local", 0, HEED_WIRE_BID, 1, 0, 1, 8,
     16, 24, 0, 0, "only process 1 sends those"},
    {"forward skipping a layer", 0, HEED_WIRE_FORWARD, 2, 1, 1, 8, 24, 0, 0,
     0, "only process 1 sends those"},
    {"forward rows off by one", 0, HEED_WIRE_FORWARD, 1, 1, 1, 8, 11, 0, 0, 0,
     "11 rows"},
    {"forward with coefficients", 0, HEED_WIRE_FORWARD, 1, 1, 1, 8, 12, 3, 0,
     0, "ldc 3"},
    {"forward of 0 samples", 0, HEED_WIRE_FORWARD, 1, 1, 1, 0, 12, 0, 0, 0,
     "0 samples"},
    {"forward past the batch limit", 0, HEED_WIRE_FORWARD, 1, 1, 1, 33, 12,
     0, 0, 0, "33 samples"},
    {"forward for a remote layer", 0, HEED_WIRE_FORWARD, 3, 1, 1, 8, 24, 0,
     0, 0, "which process 0 hosts"},
    {"forward for the critic", 0, HEED_WIRE_FORWARD, 4, 1, 1, 8, 10, 0, 0, 0,
     "critic"},
    {"forward for layer 99", 0, HEED_WIRE_FORWARD, 99, 1, 1, 8, 10, 0, 0, 0,
     "layer 99 of a net of 3 layers"},
    {"done to a worker", 0, HEED_WIRE_DONE, 0, 0, 0, 0, 0, 0, 0, 40,
     "only workers report"},
    {"ack to a worker", 0, HEED_WIRE_ACK, 0, 0, 0, 0, 0, 0, 0, 40, "ACK"},
    {"params of the wrong size", 0, HEED_WIRE_PARAMS, 1, 0, 0, 0, 1, 7, 0, 0,
     "7 floats, the layer has"},
    {"params for a remote layer", 0, HEED_WIRE_PARAMS, 3, 0, 0, 0, 1, 7, 0, 0,
     "which this worker does not host"},
    {"control for a remote layer", 0, HEED_WIRE_CONTROL, 3, 0, 0, 0, 0, 0, 0,
     1, "not hosted here"},
    {"control event out of range", 0, HEED_WIRE_CONTROL, 1, 0, 0, 0, 0, 0, 0,
     1ull << 40, "CONTROL event"},
    {"a message from itself", 1, HEED_WIRE_PULL, 0, 0, 0, 0, 0, 0, 0, 0,
     "from process 1"},
    {"a message from process 9", 9, HEED_WIRE_PULL, 0, 0, 0, 0, 0, 0, 0, 0,
     "from process 9 in a run of 2"},
    {"an unknown kind", 0, 77, 1, 0, 0, 0, 0, 0, 0, 0, "unknown kind 77"},
};

static heed_wire_msg make_hostile(const hostile *h, float **data) {
  heed_wire_msg m = {.kind = h->kind, .layer = h->layer, .batch = h->batch,
                     .word = h->word};
  *data = NULL;
  if (h->kind == HEED_WIRE_FORWARD || h->kind == HEED_WIRE_BID) {
    m = block(h->kind, h->layer, h->batch, h->mode, h->count, h->rows,
              h->ldc, data);
    if (h->nfloats_delta > 0) { /* a longer payload than the shape says */
      free(*data);
      *data = calloc(m.nfloats + (size_t)h->nfloats_delta, sizeof(float));
      m.data = *data;
    }
    m.nfloats = (size_t)((long)m.nfloats + h->nfloats_delta);
  } else if (h->kind == HEED_WIRE_PARAMS) {
    *data = calloc(h->ldc, sizeof(float));
    m.data = *data;
    m.nfloats = h->ldc;
  }
  return m;
}

static void test_hostile_coordinator(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof to_worker / sizeof *to_worker; i++) {
    const hostile *h = &to_worker[i];
    worker_fx f;
    worker_up(&f, wplace, wsizes, 4);
    worker_forward(&f, 3);
    float *data;
    heed_wire_msg m = make_hostile(h, &data);
    print_message("  %s\n", h->name);
    expect_refused(f.net, h->from, &m, h->reason);
    free(data);
    worker_down(&f);
  }
}

/* The crash from the hardening issue: after a valid FORWARD, a critic bid
 * of one row to an output layer of 2,000 neurons. Each neuron would read
 * its own row, up to 2,000 rows past the block. */
static void test_issue_bid_rows_1_to_2000_neurons(void **state) {
  (void)state;
  static const uint32_t sizes[] = {16, 2000};
  static const unsigned place[] = {1};
  worker_fx f;
  worker_up(&f, place, sizes, 2);
  worker_forward(&f, 2); /* layer 2 of a one-layer net: the critic */
  float *data;
  heed_wire_msg m = block(HEED_WIRE_BID, 1, 0, HEED_MODE_TRAIN, 8, 1, 0,
                          &data);
  expect_refused(f.net, 0, &m, "1 rows, ldc 0; the layer takes 2000 rows");
  free(data);
  worker_down(&f);
}

/* A valid bid is taken once: its answer (DONE) goes out, and the same bid
 * again is refused. */
static void test_bid_is_answered_once(void **state) {
  (void)state;
  worker_fx f;
  worker_up(&f, wplace, wsizes, 4);
  worker_forward(&f, 3);
  float *data;
  heed_wire_msg m = block(HEED_WIRE_BID, 2, 0, HEED_MODE_TRAIN, 8, 10, 16,
                          &data);
  assert_int_equal(heed_net_deliver(f.net, 0, &m), 0);
  sent done;
  assert_true(wait_sent(&f.p, HEED_WIRE_DONE, 0, &done));
  assert_int_equal(done.m.word, 24 + 16);
  assert_false(net_failed(f.net, NULL));
  expect_refused(f.net, 0, &m, "answered already");
  free(data);
  worker_down(&f);
}

/* ---- a hostile worker against a coordinator ---------------------------- */

/* Coordinator of 3 processes over 12-24-16-10: layer 1 on worker 1,
 * layer 2 on worker 2, layer 3 and the critic here. */
static const unsigned cplace[] = {1, 2, 0};

typedef struct coord_fx {
  heed_runtime *rt;
  heed_net *net;
  peer p;
  pthread_t driver;
  int driver_rv;
  int pulling; /* the driver thread pulls instead of training */
} coord_fx;

static void *drive(void *arg) {
  coord_fx *f = arg;
  if (f->pulling) {
    f->driver_rv = heed_net_pull(f->net);
    return NULL;
  }
  float x[8 * 12];
  uint8_t y[8];
  gen_data(1, 8, 12, 10, x, y);
  f->driver_rv = heed_net_train_batch(f->net, x, y, 8, NULL);
  return NULL;
}

/* Starts a training batch (or a pull) on a driver thread and waits until
 * it has gone out to worker 1. */
static void coord_up(coord_fx *f, int pulling) {
  memset(f, 0, sizeof *f);
  pthread_mutex_init(&f->p.mu, NULL);
  pthread_cond_init(&f->p.cv, NULL);
  f->rt = make_rt(2);
  f->pulling = pulling;
  heed_net_remote r = {3, 0, cplace, record_send, &f->p, NULL};
  heed_net_opts o = {.nsizes = 4, .sizes = wsizes, .seed = 3, .lr = 0.1f,
                     .max_batch = 32};
  assert_int_equal(heed_net_new_remote(&f->net, f->rt, &o, &r), 0);
  assert_int_equal(pthread_create(&f->driver, NULL, drive, f), 0);
  if (pulling)
    assert_true(wait_sent(&f->p, HEED_WIRE_PULL, 0, NULL));
  else
    assert_true(wait_sent(&f->p, HEED_WIRE_FORWARD, 1, NULL));
}

/* The waiting driver call ends with HEED_EPEER. */
static void coord_down(coord_fx *f) {
  pthread_join(f->driver, NULL);
  assert_int_equal(f->driver_rv, HEED_EPEER);
  heed_net_free(f->net);
  heed_runtime_free(f->rt);
  pthread_mutex_destroy(&f->p.mu);
  pthread_cond_destroy(&f->p.cv);
}

/* What a worker may send process 0 while batch 0 is in flight. */
static const hostile to_coord[] = {
    {"forward rows 1", 2, HEED_WIRE_FORWARD, 3, 0, 1, 8, 1, 0, 0, 0,
     "1 rows, ldc 0; the layer takes 16 rows"},
    {"forward from the wrong worker", 1, HEED_WIRE_FORWARD, 3, 0, 1, 8, 16,
     0, 0, 0, "only process 2 sends those"},
    {"forward of a batch not in flight", 2, HEED_WIRE_FORWARD, 3, 9, 1, 8, 16,
     0, 0, 0, "batch 9, which is not in flight"},
    {"forward for the critic past layer 3", 2, HEED_WIRE_FORWARD, 4, 0, 1, 8,
     10, 0, 0, 0, "only process 0 sends those"},
    {"bid for the layer the critic feeds", 2, HEED_WIRE_BID, 3, 0, 1, 8, 10,
     0, 0, 0, "only process 0 sends those"},
    {"done for too many neurons", 1, HEED_WIRE_DONE, 0, 0, 0, 0, 0, 0, 0,
     1000, "DONE for 1000 neurons from process 1, which hosts 24"},
    {"done of a batch not in flight", 1, HEED_WIRE_DONE, 0, 3, 0, 0, 0, 0, 0,
     24, "DONE of batch 3"},
    {"ack for more than it hosts", 2, HEED_WIRE_ACK, 0, 0, 0, 0, 0, 0, 0, 17,
     "which hosts 16"},
    {"params nobody asked for", 1, HEED_WIRE_PARAMS, 1, 0, 0, 0, 0,
     24 * 12 + 24, 0, 0, "nobody asked for"},
    {"params from a worker that does not host the layer", 2,
     HEED_WIRE_PARAMS, 1, 0, 0, 0, 0, 24 * 12 + 24, 0, 0,
     "only process 1 sends those"},
    {"params for the coordinator's own layer", 2, HEED_WIRE_PARAMS, 3, 0, 0,
     0, 0, 10 * 16 + 10, 0, 0, "which process 0 hosts itself"},
    {"pull to the coordinator", 1, HEED_WIRE_PULL, 0, 0, 0, 0, 0, 0, 0, 0,
     "PULL from process 1"},
    {"control to the coordinator", 1, HEED_WIRE_CONTROL, 3, 0, 0, 0, 0, 0, 0,
     1, "CONTROL event 1 from process 1"},
};

static void test_hostile_worker(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof to_coord / sizeof *to_coord; i++) {
    const hostile *h = &to_coord[i];
    coord_fx f;
    coord_up(&f, 0);
    float *data;
    heed_wire_msg m = make_hostile(h, &data);
    print_message("  %s\n", h->name);
    expect_refused(f.net, h->from, &m, h->reason);
    free(data);
    coord_down(&f);
  }
}

/* A pull takes one PARAMS per remote layer: a second copy of a layer's
 * answer is refused (it would have ended the pull with a layer missing). */
static void test_pull_answer_once(void **state) {
  (void)state;
  coord_fx f;
  coord_up(&f, 1);
  size_t n1 = 24 * 12 + 24;
  float *w = calloc(n1, sizeof(float));
  heed_wire_msg m = {.kind = HEED_WIRE_PARAMS, .layer = 1, .data = w,
                     .nfloats = n1};
  assert_int_equal(heed_net_deliver(f.net, 1, &m), 0);
  expect_refused(f.net, 1, &m, "nobody asked for");
  free(w);
  coord_down(&f);
}

/* ---- the actors' own guards, for blocks that skip the checks ----------- */

/* Even a block handed straight to the actors (as a future transport or a
 * bug might) cannot make a neuron or the critic read past it: the net
 * fails instead. */
static heed_buf *zero_block(heed_runtime *rt, uint64_t batch, uint32_t mode,
                            uint32_t rows, size_t extra) {
  heed_buf *b;
  assert_int_equal(heed__block_alloc(rt, batch, mode, 8, 8, rows, extra, &b),
                   0);
  memset(heed__block_data(b), 0, ((size_t)rows * 8 + extra) * sizeof(float));
  return b;
}

static void wait_failed(heed_net *net) {
  for (int i = 0; i < 1000 && !net_failed(net, NULL); i++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_true(net_failed(net, NULL));
}

static void test_neurons_check_bid_blocks(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(2);
  static const uint32_t sizes[] = {16, 2000};
  heed_net *net = make_net(rt, 2, sizes, NULL, "bp", 0.1f, 5);
  heed_layer *L = &net->layers[0];
  /* a training batch in flight: the neurons hold slots for batch 0 */
  heed_buf *xb = zero_block(rt, 0, HEED_MODE_TRAIN, 16, 0);
  assert_int_equal(heed_actor_broadcast(rt, L->handles, L->n,
                                        HEED_NET_FORWARD, 0, 0, xb), 0);
  heed_buf_release(xb);
  /* a bid of one row for 2,000 neurons */
  heed_buf *bb = zero_block(rt, 0, HEED_MODE_TRAIN, 1, 0);
  assert_int_equal(heed_actor_broadcast(rt, L->handles, L->n, HEED_NET_BID,
                                        0, 0, bb), 0);
  heed_buf_release(bb);
  wait_failed(net);
  heed_net_free(net);
  heed_runtime_free(rt);
}

static void test_critic_checks_logits(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(1);
  static const uint32_t sizes[] = {16, 2000};
  heed_net *net = make_net(rt, 2, sizes, NULL, "bp", 0.1f, 5);
  /* labels as the driver makes them: 8 labels, then a mask of 2,000 */
  heed_buf *lb = zero_block(rt, 7, HEED_MODE_EVAL, 0, (8 + 2000 + 4) / 4);
  memset(heed__block_data(lb), 1, 8 + 2000);
  memset(heed__block_data(lb), 0, 8);
  /* logits of 3,000 rows: the mask would be read 1,000 bytes past */
  heed_buf *zb = zero_block(rt, 7, HEED_MODE_EVAL, 3000, 0);
  assert_int_equal(heed_actor_broadcast(rt, &net->critic.self, 1,
                                        HEED_NET_LABELS, 7, 0, lb), 0);
  assert_int_equal(heed_actor_broadcast(rt, &net->critic.self, 1,
                                        HEED_NET_FORWARD, 7, 0, zb), 0);
  heed_buf_release(zb);
  heed_buf_release(lb);
  wait_failed(net);
  heed_net_free(net);
  heed_runtime_free(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_issue_bid_rows_1_to_2000_neurons),
      cmocka_unit_test(test_hostile_coordinator),
      cmocka_unit_test(test_bid_is_answered_once),
      cmocka_unit_test(test_hostile_worker),
      cmocka_unit_test(test_pull_answer_once),
      cmocka_unit_test(test_neurons_check_bid_blocks),
      cmocka_unit_test(test_critic_checks_logits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
