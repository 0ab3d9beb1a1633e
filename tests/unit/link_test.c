/*
 * link_test.c - the transport's link over real nng ipc:// sockets, with
 * generated blocks (no data set): every field and float arrives bit for
 * bit and in order, whether they travel alone or share frames, a small
 * peer limit splits them, oversized messages and frames of another run or receiver
 * are refused, sends after a peer is dropped fail, and a hostile peer
 * speaking valid frames with a wrong block shape gets a reason instead of
 * crashing the net that receives it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "heed/heed.h"
#include "transport/link.h"
#include "transport/wire.h"

#define RUN 0x5eed

static char dir[64];

typedef struct two {
  heed_link *a, *b; /* a is process 0, b process 1 */
} two;

static void url_of(char *out, size_t n, const char *name) {
  snprintf(out, n, "ipc://%s/%s", dir, name);
}

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/heed-link-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  two *t = calloc(1, sizeof *t);
  char ua[128], ub[128], err[128];
  url_of(ua, sizeof ua, "a");
  url_of(ub, sizeof ub, "b");
  if (heed_link_open(&t->a, ua, 0, "a", err, sizeof err) ||
      heed_link_open(&t->b, ub, 0, "b", err, sizeof err))
    return -1;
  heed_link_set_run(t->a, RUN, 0);
  heed_link_set_run(t->b, RUN, 1);
  if (heed_link_add_peer(t->a, 1, ub, 0, err, sizeof err) ||
      heed_link_add_peer(t->b, 0, ua, 0, err, sizeof err))
    return -1;
  *state = t;
  return 0;
}

static int teardown(void **state) {
  two *t = *state;
  heed_link_close(t->a);
  heed_link_close(t->b);
  free(t);
  char path[128];
  for (const char *c = "ab"; *c; c++) {
    snprintf(path, sizeof path, "%s/%c", dir, *c);
    unlink(path);
  }
  rmdir(dir);
  return 0;
}

/* ---- generated blocks --------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

/* Message i: a FORWARD or BID block of a shape drawn at random, floats
 * of any bit pattern (NaNs, -0, denormals included). */
static heed_wire_msg gen_block(uint32_t i, float **data) {
  uint32_t count = 1 + next_u32() % 64, stride = (count + 7) / 8 * 8;
  uint32_t rows = 1 + next_u32() % 40, ldc = i % 2 ? next_u32() % 30 : 0;
  size_t n = (size_t)rows * (stride + ldc);
  *data = malloc(n * sizeof(float));
  for (size_t k = 0; k < n; k++) {
    uint32_t bits = next_u32() ^ (next_u32() << 21);
    memcpy(&(*data)[k], &bits, sizeof bits);
  }
  return (heed_wire_msg){.kind = i % 2 ? HEED_WIRE_BID : HEED_WIRE_FORWARD,
                         .layer = 1 + i % 5, .batch = 1000 + i,
                         .word = (uint64_t)i << 33, .mode = 1 + i % 2,
                         .count = count, .stride = stride, .rows = rows,
                         .ldc = ldc, .data = *data, .nfloats = n};
}

static void same(const heed_wire_msg *a, const heed_wire_msg *b) {
  assert_int_equal(a->kind, b->kind);
  assert_int_equal(a->layer, b->layer);
  assert_int_equal(a->batch, b->batch);
  assert_int_equal(a->word, b->word);
  assert_int_equal(a->mode, b->mode);
  assert_int_equal(a->count, b->count);
  assert_int_equal(a->stride, b->stride);
  assert_int_equal(a->rows, b->rows);
  assert_int_equal(a->ldc, b->ldc);
  assert_int_equal(a->nfloats, b->nfloats);
  assert_memory_equal(a->data, b->data, a->nfloats * sizeof(float));
}

/* Receives at b until `want` messages arrived; checks them against sent. */
static size_t receive_all(heed_link *b, const heed_wire_msg *sent,
                          size_t want) {
  heed_frame f = {0};
  heed_wire_expect ex = {0, 1, RUN, 1, 1};
  size_t got = 0, frames = 0;
  while (got < want) {
    assert_int_equal(heed_link_recv(b, &f, &ex, 20000), 0);
    assert_int_equal(f.h.from, 0);
    frames++;
    for (size_t k = 0; k < f.nmsgs; k++, got++) {
      assert_true(got < want);
      same(&sent[got], &f.msgs[k].m);
    }
  }
  heed_frame_free(&f);
  return frames;
}

#define NMSG 300

static void test_blocks_arrive_whole_and_in_order(void **state) {
  two *t = *state;
  static heed_wire_msg sent[NMSG];
  static float *data[NMSG];
  for (uint32_t i = 0; i < NMSG; i++) {
    sent[i] = gen_block(i, &data[i]);
    assert_int_equal(heed_link_send(t->a, 1, &sent[i]), 0);
  }
  size_t frames = receive_all(t->b, sent, NMSG);
  assert_int_equal(heed_link_flush(t->a, 1, 5000), 0);
  uint64_t nf, nm;
  heed_link_stats(t->a, &nf, &nm, NULL);
  assert_int_equal(nm, NMSG);
  assert_int_equal(nf, frames);
  for (int i = 0; i < NMSG; i++)
    free(data[i]);
}

static void test_small_limit_splits_frames(void **state) {
  two *t = *state;
  heed_link_set_peer_limit(t->a, 1, 4096);
  static heed_wire_msg sent[NMSG];
  static float *data[NMSG];
  uint64_t before;
  heed_link_stats(t->a, &before, NULL, NULL);
  int n = 0;
  for (uint32_t i = 0; n < NMSG; i++) {
    heed_wire_msg m = gen_block(i, &data[n]);
    if (m.nfloats * 4 + 100 > 4096 - HEED_WIRE_HDR_MAX) { /* too big */
      assert_int_equal(heed_link_send(t->a, 1, &m), HEED_ERANGE);
      free(data[n]);
      continue;
    }
    sent[n] = m;
    assert_int_equal(heed_link_send(t->a, 1, &sent[n]), 0);
    n++;
  }
  size_t frames = receive_all(t->b, sent, NMSG);
  /* nng can deliver the last frame before the sender thread has counted
   * it: the counts are final once the outbox is flushed */
  assert_int_equal(heed_link_flush(t->a, 1, 5000), 0);
  uint64_t after;
  heed_link_stats(t->a, &after, NULL, NULL);
  assert_int_equal(after - before, frames);
  for (int i = 0; i < NMSG; i++)
    free(data[i]);
  heed_link_set_peer_limit(t->a, 1, HEED_WIRE_MAX_FRAME_DEFAULT);
}

static void test_sessions_and_refusals(void **state) {
  two *t = *state;
  /* b answers a's ping: both directions work */
  assert_int_equal(heed_link_send_sess(t->a, 1, HEED_SESS_PING, 77, "hi", 2),
                   0);
  heed_frame f = {0};
  heed_wire_expect to_b = {0, 1, RUN, 1, 1}, to_a = {0, 1, RUN, 1, 0};
  assert_int_equal(heed_link_recv(t->b, &f, &to_b, 5000), 0);
  assert_int_equal(f.nmsgs, 1);
  assert_int_equal(f.msgs[0].m.kind, HEED_SESS_PING);
  assert_int_equal(f.msgs[0].m.word, 77);
  assert_int_equal(f.msgs[0].nbytes, 2);
  assert_memory_equal(f.msgs[0].bytes, "hi", 2);
  assert_int_equal(heed_link_send_sess(t->b, 0, HEED_SESS_PONG, 77, NULL, 0),
                   0);
  assert_int_equal(heed_link_recv(t->a, &f, &to_a, 5000), 0);
  assert_int_equal(f.msgs[0].m.kind, HEED_SESS_PONG);
  /* a frame of another run is refused at the receiver */
  heed_link_set_run(t->a, RUN + 1, 0);
  assert_int_equal(heed_link_send_sess(t->a, 1, HEED_SESS_PING, 1, NULL, 0),
                   0);
  assert_int_equal(heed_link_recv(t->b, &f, &to_b, 5000), HEED_EPROTO);
  heed_link_set_run(t->a, RUN, 0);
  /* and so is one for another receiver */
  heed_wire_expect to_2 = {0, 1, RUN, 1, 2};
  assert_int_equal(heed_link_send_sess(t->a, 1, HEED_SESS_PING, 1, NULL, 0),
                   0);
  assert_int_equal(heed_link_recv(t->b, &f, &to_2, 5000), HEED_EPROTO);
  /* nothing is waiting */
  assert_int_equal(heed_link_recv(t->b, &f, &to_b, 100), HEED_ETIMEDOUT);
  /* no such peer; a dropped peer */
  assert_int_equal(heed_link_send_sess(t->a, 5, HEED_SESS_PING, 1, NULL, 0),
                   HEED_EINVAL);
  heed_link_drop_peers(t->a);
  assert_int_equal(heed_link_send_sess(t->a, 1, HEED_SESS_PING, 1, NULL, 0),
                   HEED_ECLOSED);
  heed_frame_free(&f);
}

/* A peer that stops reading: the sender's nng queue fills, its outbox
 * grows, and each send still returns at once; past the backlog limit the
 * peer fails with HEED_EPEER instead of blocking the sending thread (an
 * actor's loop). */
static void test_send_never_blocks(void **state) {
  two *t = *state;
  heed_link_set_backlog(t->a, 1 << 20);
  static float big[2000];
  heed_wire_msg m = {.kind = HEED_WIRE_FORWARD, .layer = 1, .mode = 1,
                     .count = 8, .stride = 8, .rows = 250, .data = big,
                     .nfloats = 2000};
  int rv = 0, sent = 0;
  while (sent < 100000 && (rv = heed_link_send(t->a, 1, &m)) == 0)
    sent++;
  assert_int_equal(rv, HEED_EPEER);
  /* nng took some (its queues), the outbox the rest: about 1 MiB */
  assert_true(sent > (1 << 20) / 8100);
  assert_int_equal(heed_link_send(t->a, 1, &m), HEED_EPEER);
}

/* ---- a hostile coordinator over ipc:// ---------------------------------- */

static int link_send(void *arg, unsigned to, const heed_wire_msg *m) {
  return heed_link_send(arg, to, m);
}

/* Receives at l until a message of kind arrives (FORWARD: or FORWARD_Z,
 * a forward with its zeros left out); returns a copy of it. */
static heed_wire_msg wait_kind(heed_link *l, unsigned self, uint32_t kind,
                               heed_frame *f) {
  heed_wire_expect ex = {0, 1, RUN, 1, self};
  for (int tries = 0; tries < 100; tries++) {
    assert_int_equal(heed_link_recv(l, f, &ex, 20000), 0);
    for (size_t k = 0; k < f->nmsgs; k++)
      if (f->msgs[k].m.kind == kind ||
          (kind == HEED_WIRE_FORWARD &&
           f->msgs[k].m.kind == HEED_WIRE_FORWARD_Z))
        return f->msgs[k].m;
  }
  fail_msg("no %s arrived", heed_wire_kind_name(kind));
  return (heed_wire_msg){0};
}

/* Worker 1 hosts layers 1 and 2 of 12-24-16-10; the test is process 0.
 * After a valid FORWARD, a BID of one row without coefficients for layer
 * 2 (whose bids have 10 rows of 16 coefficients) arrives over the socket:
 * the worker's net refuses it with the reason and fails. */
static void test_hostile_peer_over_ipc(void **state) {
  two *t = *state;
  static const uint32_t sizes[] = {12, 24, 16, 10};
  static const unsigned place[] = {1, 1, 0};
  heed_runtime *rt;
  heed_runtime_opts ro = {.threads = 2};
  assert_int_equal(heed_runtime_new(&rt, &ro), 0);
  assert_int_equal(heed_runtime_start(rt), 0);
  heed_net_remote r = {2, 1, place, link_send, t->b, NULL};
  heed_net_opts o = {.nsizes = 4, .sizes = sizes, .seed = 1, .lr = 0.1f,
                     .max_batch = 16};
  heed_net *net;
  assert_int_equal(heed_net_new_remote(&net, rt, &o, &r), 0);

  float x[12 * 8];
  for (int i = 0; i < 12 * 8; i++)
    x[i] = (float)(i % 7) * 0.125f;
  heed_wire_msg fwd = {.kind = HEED_WIRE_FORWARD, .layer = 1, .batch = 0,
                       .mode = 1, .count = 8, .stride = 8, .rows = 12,
                       .data = x, .nfloats = 12 * 8};
  assert_int_equal(heed_link_send(t->a, 1, &fwd), 0);
  heed_frame fb = {0}, fa = {0};
  heed_wire_msg got = wait_kind(t->b, 1, HEED_WIRE_FORWARD, &fb);
  char why[256];
  assert_int_equal(heed_net_deliver_why(net, 0, &got, why, sizeof why), 0);
  /* the worker's layer 2 answers with its block for layer 3, here */
  heed_wire_msg up = wait_kind(t->a, 0, HEED_WIRE_FORWARD, &fa);
  assert_int_equal(up.layer, 3);
  assert_int_equal(up.rows, 16);
  assert_int_equal(up.count, 8);

  float g[8] = {0};
  heed_wire_msg bad = {.kind = HEED_WIRE_BID, .layer = 2, .batch = 0,
                       .mode = 1, .count = 8, .stride = 8, .rows = 1,
                       .ldc = 0, .data = g, .nfloats = 8};
  assert_int_equal(heed_link_send(t->a, 1, &bad), 0);
  got = wait_kind(t->b, 1, HEED_WIRE_BID, &fb);
  assert_int_equal(heed_net_deliver_why(net, 0, &got, why, sizeof why),
                   HEED_EPROTO);
  assert_non_null(strstr(why, "BID for layer 2: 1 rows, ldc 0; the layer "
                              "takes 10 rows, ldc 16"));
  heed_frame_free(&fa);
  heed_frame_free(&fb);
  heed_net_free(net);
  heed_runtime_free(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_blocks_arrive_whole_and_in_order,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_small_limit_splits_frames, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sessions_and_refusals, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_send_never_blocks, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hostile_peer_over_ipc, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
