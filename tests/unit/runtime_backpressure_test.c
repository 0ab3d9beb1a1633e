/* runtime_backpressure_test.c - a producer flooding a slow consumer is held
 * back (parked actor, blocked thread, or HEED_EAGAIN), memory stays bounded
 * and every message is still delivered. */
#include <string.h>

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

/* ---- threads blocked on full mailboxes ------------------------------------
 * A blocked thread waits without a timeout, so a lost wake-up would hang
 * these tests (the meson timeout fails them); under ThreadSanitizer they
 * also check the hand-off between the waiting thread and the loops. */

#define STRESS_THREADS 3
#define STRESS_SINKS 2
#define STRESS_EACH 6000

struct tagged_sink {
  uint64_t next[STRESS_THREADS]; /* owned by the sink's loop */
  _Atomic uint64_t received;
  _Atomic uint64_t out_of_order;
};

static void tagged_sink_fn(heed_runtime *rt, heed_actor self, void *state,
                           heed_msg *m) {
  (void)rt;
  (void)self;
  struct tagged_sink *s = state;
  uint64_t t = heed_msg_word(m, 1), k = heed_msg_word(m, 0);
  if (!check_true(t < STRESS_THREADS)) {
    heed_msg_free(m);
    return;
  }
  if (k != s->next[t])
    atomic_fetch_add(&s->out_of_order, 1);
  s->next[t] = k + 1;
  heed_msg_free(m);
  atomic_fetch_add(&s->received, 1);
}

struct stress_thread {
  heed_runtime *rt;
  heed_actor sinks[STRESS_SINKS];
  uint64_t id;
  int failed;
};

static void stress_sender(void *arg) {
  struct stress_thread *t = arg;
  uint64_t seq[STRESS_SINKS] = {0};
  for (uint64_t k = 0; k < STRESS_EACH; k++) {
    /* Mostly one sink, sometimes the other, so a thread is blocked on a
     * mailbox of either loop. */
    unsigned to = (k / 7) % STRESS_SINKS;
    heed_msg *m;
    if (heed_msg_alloc(t->rt, &m, T_DATA) != 0) {
      t->failed = 1;
      return;
    }
    heed_msg_set_word(m, 0, seq[to]++);
    heed_msg_set_word(m, 1, t->id);
    if (heed_actor_send(t->rt, t->sinks[to], m) != 0) {
      heed_msg_free(m);
      t->failed = 1;
      return;
    }
  }
}

/* Several threads flood actors on two loops through a tiny watermark, so
 * nearly every send blocks and is released by a loop. */
static void test_blocked_threads_stress(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2, .mailbox_limit = 4};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  static struct tagged_sink sinks[STRESS_SINKS];
  heed_actor ids[STRESS_SINKS];
  for (int i = 0; i < STRESS_SINKS; i++) {
    memset(&sinks[i], 0, sizeof sinks[i]);
    heed_actor_spec ss = {tagged_sink_fn, &sinks[i], NULL, i};
    assert_int_equal(heed_actor_spawn(rt, &ss, &ids[i]), 0);
  }
  assert_int_equal(heed_runtime_start(rt), 0);
  struct stress_thread th[STRESS_THREADS];
  uv_thread_t tid[STRESS_THREADS];
  for (int i = 0; i < STRESS_THREADS; i++) {
    th[i] = (struct stress_thread){rt, {ids[0], ids[1]}, (uint64_t)i, 0};
    assert_int_equal(uv_thread_create(&tid[i], stress_sender, &th[i]), 0);
  }
  for (int i = 0; i < STRESS_THREADS; i++) {
    uv_thread_join(&tid[i]);
    assert_int_equal(th[i].failed, 0);
  }
  static _Atomic uint64_t all;
  atomic_store(&all, 0);
  double end = test_now() + 60;
  while (test_now() < end &&
         atomic_load(&sinks[0].received) + atomic_load(&sinks[1].received) <
             (uint64_t)STRESS_THREADS * STRESS_EACH)
    uv_sleep(1);
  assert_no_loop_failures();
  assert_int_equal(atomic_load(&sinks[0].received) +
                       atomic_load(&sinks[1].received),
                   (uint64_t)STRESS_THREADS * STRESS_EACH);
  for (int i = 0; i < STRESS_SINKS; i++)
    assert_int_equal(atomic_load(&sinks[i].out_of_order), 0);
  teardown_runtime(rt);
}

/* An actor that holds its loop until the test opens the gate. */
static _Atomic int gate;
static _Atomic uint64_t gated_entered, gated_seen;

static void gated_sink(heed_runtime *rt, heed_actor self, void *state,
                       heed_msg *m) {
  (void)rt;
  (void)self;
  (void)state;
  heed_msg_free(m);
  atomic_fetch_add(&gated_entered, 1);
  while (!atomic_load(&gate))
    uv_sleep(1);
  atomic_fetch_add(&gated_seen, 1);
}

struct blocked {
  heed_runtime *rt;
  heed_actor to;
  _Atomic uint64_t sent; /* sends that returned */
  int rc_blocked;        /* what the send that blocked returned */
  int rc_after;          /* the send after it */
};

#define GATE_LIMIT 8

/* Sends GATE_LIMIT + 2 messages: with the sink held in a handler, the
 * mailbox reaches the watermark after GATE_LIMIT and the next send blocks;
 * then one more. */
static void blocked_sender(void *arg) {
  struct blocked *b = arg;
  for (int k = 0; k < GATE_LIMIT + 2; k++) {
    heed_msg *m;
    if (heed_msg_alloc(b->rt, &m, T_DATA) != 0)
      return;
    int rc = heed_actor_send(b->rt, b->to, m);
    if (rc != 0)
      heed_msg_free(m);
    if (k == GATE_LIMIT)
      b->rc_blocked = rc;
    if (k == GATE_LIMIT + 1)
      b->rc_after = rc;
    atomic_fetch_add(&b->sent, 1);
  }
}

static heed_runtime *gated_runtime(heed_actor *sink) {
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 1, .mailbox_limit = GATE_LIMIT};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  atomic_store(&gate, 0);
  atomic_store(&gated_entered, 0);
  atomic_store(&gated_seen, 0);
  heed_actor_spec ss = {gated_sink, NULL, NULL, 0};
  assert_int_equal(heed_actor_spawn(rt, &ss, sink), 0);
  assert_int_equal(heed_runtime_start(rt), 0);
  heed_msg *m; /* holds the loop, with an empty mailbox */
  assert_int_equal(heed_msg_alloc(rt, &m, T_DATA), 0);
  assert_int_equal(heed_actor_send(rt, *sink, m), 0);
  assert_int_equal(wait_for(&gated_entered, 1, 30), 1);
  return rt;
}

/* Waits until the sender is blocked in its send number GATE_LIMIT + 1. */
static void wait_blocked(struct blocked *b) {
  assert_int_equal(wait_for(&b->sent, GATE_LIMIT, 30), GATE_LIMIT);
  uv_sleep(50);
  assert_int_equal(atomic_load(&b->sent), GATE_LIMIT);
}

static void stop_sink(void *arg) {
  struct blocked *b = arg;
  heed_actor_stop(b->rt, b->to);
}

/* Stopping the actor releases a thread blocked sending to it: its message
 * was handed over (0), and the next send finds the actor closed. */
static void test_blocked_thread_released_by_stop(void **unused) {
  (void)unused;
  static struct blocked b;
  heed_actor sink;
  heed_runtime *rt = gated_runtime(&sink);
  b = (struct blocked){.rt = rt, .to = sink, .rc_blocked = -1,
                       .rc_after = -1};
  uv_thread_t sender, stopper;
  assert_int_equal(uv_thread_create(&sender, blocked_sender, &b), 0);
  wait_blocked(&b);
  assert_int_equal(uv_thread_create(&stopper, stop_sink, &b), 0);
  /* Once a send sees the actor closed, the stop has begun: let the held
   * handler return, so the loop destroys the actor instead of draining. */
  heed_msg *probe;
  assert_int_equal(heed_msg_alloc(rt, &probe, T_DATA), 0);
  double end = test_now() + 30;
  while (heed_actor_try_send(rt, sink, probe) != HEED_ECLOSED &&
         test_now() < end)
    uv_sleep(1);
  heed_msg_free(probe);
  atomic_store(&gate, 1);
  uv_thread_join(&stopper);
  uv_thread_join(&sender);
  assert_int_equal(b.rc_blocked, 0);
  assert_int_equal(b.rc_after, HEED_ECLOSED);
  assert_int_equal(atomic_load(&gated_seen), 1);
  teardown_runtime(rt);
}

static void open_gate_later(void *arg) {
  (void)arg;
  uv_sleep(100);
  atomic_store(&gate, 1);
}

/* Stopping the runtime releases a blocked thread, whether its loop drains
 * the mailbox first or is joined before it could. */
static void test_blocked_thread_released_by_runtime_stop(void **unused) {
  (void)unused;
  static struct blocked b;
  heed_actor sink;
  heed_runtime *rt = gated_runtime(&sink);
  b = (struct blocked){.rt = rt, .to = sink, .rc_blocked = -1,
                       .rc_after = -1};
  uv_thread_t sender, opener;
  assert_int_equal(uv_thread_create(&sender, blocked_sender, &b), 0);
  wait_blocked(&b);
  assert_int_equal(uv_thread_create(&opener, open_gate_later, NULL), 0);
  assert_int_equal(heed_runtime_stop(rt), 0);
  uv_thread_join(&opener);
  uv_thread_join(&sender);
  assert_int_equal(b.rc_blocked, 0);
  assert_int_equal(b.rc_after, HEED_ECLOSED);
  teardown_runtime(rt); /* no message may be left behind either */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_actor_flood_cross_loop),
      cmocka_unit_test(test_actor_flood_same_loop),
      cmocka_unit_test(test_thread_flood_blocks),
      cmocka_unit_test(test_try_send_eagain),
      cmocka_unit_test(test_blocked_threads_stress),
      cmocka_unit_test(test_blocked_thread_released_by_stop),
      cmocka_unit_test(test_blocked_thread_released_by_runtime_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
