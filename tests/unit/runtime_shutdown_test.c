/* runtime_shutdown_test.c - stopping with messages in flight: nothing
 * leaks, loops close cleanly, and every actor's fini runs exactly once. */
#include <stdlib.h>

#include "runtime_test_util.h"

#define RING 1000

static _Atomic uint64_t finis;
static _Atomic uint64_t hops;
static _Atomic int fini_loop_ok = 1;

struct node {
  heed_actor next;
  int finied;
  heed_runtime *rt;
  int expect_loop; /* -2: fini may run on any thread */
};

static void node_fini(void *state) {
  struct node *n = state;
  n->finied++;
  if (n->expect_loop != -2 &&
      heed_runtime_current_loop(n->rt) != n->expect_loop)
    atomic_store(&fini_loop_ok, 0);
  atomic_fetch_add(&finis, 1);
}

/* Forwards forever: tokens never finish, so a stop always finds messages
 * (with buffers) in mailboxes and in the cross-loop queues. */
static void forward(heed_runtime *rt, heed_actor self, void *state,
                    heed_msg *m) {
  (void)self;
  struct node *n = state;
  atomic_fetch_add_explicit(&hops, 1, memory_order_relaxed);
  if (heed_actor_send(rt, n->next, m) != 0)
    heed_msg_free(m);
}

static struct node nodes[RING];
static heed_actor ids[RING];

static heed_runtime *make_ring(unsigned threads) {
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = threads};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  atomic_store(&finis, 0);
  for (int i = 0; i < RING; i++) {
    nodes[i] = (struct node){.rt = rt, .expect_loop = -2};
    heed_actor_spec s = {forward, &nodes[i], node_fini,
                         (int)((unsigned)i * threads / RING)};
    assert_int_equal(heed_actor_spawn(rt, &s, &ids[i]), 0);
  }
  for (int i = 0; i < RING; i++)
    nodes[i].next = ids[(i + 1) % RING];
  return rt;
}

static void inject(heed_runtime *rt, int tokens) {
  for (int k = 0; k < tokens; k++) {
    heed_msg *m;
    heed_buf *b;
    assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
    assert_int_equal(heed_buf_alloc(rt, 100 + (size_t)k * 50, &b), 0);
    heed_msg_set_buf(m, b);
    assert_int_equal(heed_actor_send(rt, ids[k * RING / tokens], m), 0);
  }
}

static void test_stop_mid_flight(void **unused) {
  (void)unused;
  heed_runtime *rt = make_ring(2);
  assert_int_equal(heed_runtime_start(rt), 0);
  inject(rt, 500);
  atomic_store(&hops, 0);
  assert_true(wait_for(&hops, 100000, 10) >= 100000);
  assert_int_equal(heed_runtime_stop(rt), 0); /* loops closed cleanly */
  assert_int_equal(heed_runtime_stop(rt), 0); /* idempotent */
  /* In-flight messages and their buffers are back in the pools. */
  assert_int_equal(heed__runtime_msgs_outstanding(rt), 0);
  assert_int_equal(heed__runtime_bufs_outstanding(rt), 0);
  assert_int_equal(atomic_load(&finis), 0); /* actors live until free */
  heed_msg *m;
  assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
  assert_int_equal(heed_actor_send(rt, ids[0], m), HEED_ECLOSED);
  heed_msg_free(m);
  heed_actor a;
  heed_actor_spec s = {forward, NULL, NULL, 0};
  assert_int_equal(heed_actor_spawn(rt, &s, &a), HEED_ECLOSED);
  heed_runtime_free(rt);
  assert_int_equal(atomic_load(&finis), RING);
  for (int i = 0; i < RING; i++)
    assert_int_equal(nodes[i].finied, 1);
}

static void test_stop_never_started(void **unused) {
  (void)unused;
  heed_runtime *rt = make_ring(2);
  inject(rt, 100); /* queued, never delivered */
  teardown_runtime(rt);
  assert_int_equal(atomic_load(&finis), RING);
}

static void test_free_without_stop(void **unused) {
  (void)unused;
  heed_runtime *rt = make_ring(1);
  assert_int_equal(heed_runtime_start(rt), 0);
  inject(rt, 10);
  heed_runtime_free(rt); /* stops, frees in-flight messages, calls fini */
  assert_int_equal(atomic_load(&finis), RING);
}

static void test_actor_stop_in_flight(void **unused) {
  (void)unused;
  heed_runtime *rt = make_ring(2);
  for (int i = 0; i < RING; i++)
    nodes[i].expect_loop = heed_actor_loop(rt, ids[i]);
  assert_int_equal(heed_runtime_start(rt), 0);
  inject(rt, 200);
  atomic_store(&hops, 0);
  assert_true(wait_for(&hops, 50000, 10) >= 50000);
  /* Stop every other actor from this thread while tokens are moving:
   * tokens that reach a stopped actor are freed by forward(). */
  for (int i = 0; i < RING; i += 2) {
    assert_int_equal(heed_actor_stop(rt, ids[i]), 0);
    /* From a non-loop thread stop waits for the destruction: fini ran. */
    assert_int_equal(nodes[i].finied, 1);
  }
  assert_int_equal(heed_actor_stop(rt, ids[0]), 0); /* idempotent */
  assert_int_equal(wait_for(&finis, RING / 2, 10), RING / 2);
  assert_int_equal(atomic_load(&fini_loop_ok), 1); /* fini on its loop */
  heed_msg *m;
  assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
  assert_int_equal(heed_actor_send(rt, ids[0], m), HEED_ECLOSED);
  assert_int_equal(heed_actor_send(rt, ids[1], m), 0);
  teardown_runtime(rt);
  assert_int_equal(atomic_load(&finis), RING);
  for (int i = 0; i < RING; i++)
    assert_int_equal(nodes[i].finied, 1);
}

static void self_stopper(heed_runtime *rt, heed_actor self, void *state,
                         heed_msg *m) {
  (void)state;
  heed_msg_free(m);
  check_int_equal(heed_actor_stop(rt, self), 0);
  /* The runtime may not be stopped from its own loop. */
  check_int_equal(heed_runtime_stop(rt), HEED_ESTATE);
}

static void test_stop_self(void **unused) {
  (void)unused;
  heed_runtime *rt;
  assert_int_equal(heed_runtime_new(&rt, NULL), 0);
  atomic_store(&finis, 0);
  static struct node n;
  n = (struct node){.rt = rt, .expect_loop = 0};
  heed_actor a;
  heed_actor_spec s = {self_stopper, &n, node_fini, 0};
  assert_int_equal(heed_actor_spawn(rt, &s, &a), 0);
  for (int i = 0; i < 3; i++) {
    heed_msg *m;
    assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
    assert_int_equal(heed_actor_send(rt, a, m), 0);
  }
  assert_int_equal(heed_runtime_start(rt), 0);
  assert_int_equal(wait_for(&finis, 1, 10), 1);
  assert_int_equal(n.finied, 1);
  teardown_runtime(rt);
  assert_int_equal(n.finied, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stop_mid_flight),
      cmocka_unit_test(test_stop_never_started),
      cmocka_unit_test(test_free_without_stop),
      cmocka_unit_test(test_actor_stop_in_flight),
      cmocka_unit_test(test_stop_self),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
