/* runtime_backpressure_test.c - a producer flooding a slow consumer is held
 * back (parked actor, blocked thread, or HEED_EAGAIN), memory stays bounded
 * and every message is still delivered. */
#include "runtime_test_util.h"

#define LIMIT 256
#define TOTAL 200000
#define BURST 1000

enum { T_GO = 1, T_DATA = 2 };

struct sink {
  uint64_t next;
  _Atomic uint64_t received;
  _Atomic uint64_t out_of_order;
};

static void slow_sink(heed_runtime *rt, heed_actor self, void *state,
                      heed_msg *m) {
  (void)rt;
  (void)self;
  struct sink *s = state;
  if (heed_msg_word(m, 0) != s->next)
    atomic_fetch_add(&s->out_of_order, 1);
  s->next = heed_msg_word(m, 0) + 1;
  heed_msg_free(m);
  /* Slow: about a microsecond of work per message. */
  for (volatile int i = 0; i < 300; i++)
    ;
  atomic_fetch_add(&s->received, 1);
}

struct flood {
  heed_actor sink;
  uint64_t sent;
};

/* Sends BURST messages per turn (far more than the watermark) and asks
 * for another turn; parking is what stops it from running ahead. */
static void flooder(heed_runtime *rt, heed_actor self, void *state,
                    heed_msg *m) {
  struct flood *f = state;
  heed_msg_free(m);
  for (int i = 0; i < BURST && f->sent < TOTAL; i++) {
    heed_msg *out;
    if (!check_int_equal(heed_msg_alloc(rt, &out, T_DATA), 0))
      return;
    heed_msg_set_word(out, 0, f->sent++);
    if (!check_int_equal(heed_actor_send(rt, f->sink, out), 0)) {
      heed_msg_free(out);
      return;
    }
  }
  if (f->sent < TOTAL) {
    heed_msg *go;
    if (!check_int_equal(heed_msg_alloc(rt, &go, T_GO), 0))
      return;
    if (!check_int_equal(heed_actor_send(rt, self, go), 0))
      heed_msg_free(go);
  }
}

/* The messages a flood without flow control would hold: TOTAL * 64 bytes
 * = 12.8 MB. Allow the watermark, one burst of overshoot and pool slack. */
#define BOUND (512 * 1024)

static void run_actor_flood(int producer_loop) {
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2, .mailbox_limit = LIMIT};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  static struct sink s;
  static struct flood f;
  s.next = 0;
  atomic_store(&s.received, 0);
  atomic_store(&s.out_of_order, 0);
  f.sent = 0;
  heed_actor sink, prod;
  heed_actor_spec ss = {slow_sink, &s, NULL, 1};
  assert_int_equal(heed_actor_spawn(rt, &ss, &sink), 0);
  f.sink = sink;
  heed_actor_spec ps = {flooder, &f, NULL, producer_loop};
  assert_int_equal(heed_actor_spawn(rt, &ps, &prod), 0);
  size_t before = heed_runtime_mem_bytes(rt);
  assert_int_equal(heed_runtime_start(rt), 0);
  heed_msg *go;
  assert_int_equal(heed_msg_alloc(rt, &go, T_GO), 0);
  assert_int_equal(heed_actor_send(rt, prod, go), 0);
  assert_int_equal(wait_for(&s.received, TOTAL, 60), TOTAL);
  assert_int_equal(atomic_load(&s.out_of_order), 0);
  size_t grown = heed_runtime_mem_bytes(rt) - before;
  print_message("actor flood (producer loop %d): pools grew %zu bytes\n",
                producer_loop, grown);
  assert_true(grown < BOUND);
  teardown_runtime(rt);
}

static void test_actor_flood_cross_loop(void **unused) {
  (void)unused;
  run_actor_flood(0);
}

static void test_actor_flood_same_loop(void **unused) {
  (void)unused;
  run_actor_flood(1);
}

static void test_thread_flood_blocks(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 1, .mailbox_limit = LIMIT};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  static struct sink s;
  s.next = 0;
  atomic_store(&s.received, 0);
  heed_actor sink;
  heed_actor_spec ss = {slow_sink, &s, NULL, 0};
  assert_int_equal(heed_actor_spawn(rt, &ss, &sink), 0);
  assert_int_equal(heed_runtime_start(rt), 0);
  size_t before = heed_runtime_mem_bytes(rt);
  for (uint64_t k = 0; k < TOTAL / 2; k++) {
    heed_msg *m;
    assert_int_equal(heed_msg_alloc(rt, &m, T_DATA), 0);
    heed_msg_set_word(m, 0, k);
    assert_int_equal(heed_actor_send(rt, sink, m), 0); /* blocks when full */
  }
  assert_int_equal(wait_for(&s.received, TOTAL / 2, 60), TOTAL / 2);
  assert_int_equal(atomic_load(&s.out_of_order), 0);
  size_t grown = heed_runtime_mem_bytes(rt) - before;
  print_message("thread flood: pools grew %zu bytes\n", grown);
  assert_true(grown < BOUND);
  teardown_runtime(rt);
}

static void test_try_send_eagain(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 1, .mailbox_limit = 4};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  static struct sink s;
  s.next = 0;
  atomic_store(&s.received, 0);
  heed_actor sink;
  heed_actor_spec ss = {slow_sink, &s, NULL, 0};
  assert_int_equal(heed_actor_spawn(rt, &ss, &sink), 0);
  for (uint64_t k = 0; k < 4; k++) {
    heed_msg *m;
    assert_int_equal(heed_msg_alloc(rt, &m, T_DATA), 0);
    heed_msg_set_word(m, 0, k);
    assert_int_equal(heed_actor_try_send(rt, sink, m), 0);
  }
  heed_msg *extra;
  assert_int_equal(heed_msg_alloc(rt, &extra, T_DATA), 0);
  heed_msg_set_word(extra, 0, 4);
  /* Not started, mailbox at the watermark: refused, caller keeps it. */
  assert_int_equal(heed_actor_try_send(rt, sink, extra), HEED_EAGAIN);
  assert_int_equal(heed_runtime_start(rt), 0);
  assert_int_equal(wait_for(&s.received, 4, 10), 4);
  assert_int_equal(heed_actor_try_send(rt, sink, extra), 0);
  assert_int_equal(wait_for(&s.received, 5, 10), 5);
  assert_int_equal(atomic_load(&s.out_of_order), 0);
  teardown_runtime(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_actor_flood_cross_loop),
      cmocka_unit_test(test_actor_flood_same_loop),
      cmocka_unit_test(test_thread_flood_blocks),
      cmocka_unit_test(test_try_send_eagain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
