/* runtime_fifo_test.c - per-(sender, receiver) FIFO, same-loop and
 * cross-loop, with producers that are actors and a non-actor thread. */
#include "runtime_test_util.h"

#define PRODUCERS 6
#define PER_PRODUCER 20000

enum { T_GO = 1, T_SEQ = 2 };

struct consumer {
  heed_actor producers[PRODUCERS];
  uint64_t next[PRODUCERS + 1]; /* last slot: the non-actor thread */
  _Atomic uint64_t received;
  _Atomic uint64_t out_of_order;
  _Atomic uint64_t unknown_sender;
};

struct producer {
  heed_actor consumer;
  uint64_t sent;
};

static void consumer_fn(heed_runtime *rt, heed_actor self, void *state,
                        heed_msg *m) {
  (void)rt;
  (void)self;
  struct consumer *c = state;
  heed_actor from = heed_msg_sender(m);
  int slot = -1;
  if (from.id == 0)
    slot = PRODUCERS;
  for (int i = 0; i < PRODUCERS && slot < 0; i++)
    if (c->producers[i].id == from.id)
      slot = i;
  if (slot < 0) {
    atomic_fetch_add(&c->unknown_sender, 1);
  } else {
    if (heed_msg_word(m, 0) != c->next[slot])
      atomic_fetch_add(&c->out_of_order, 1);
    c->next[slot] = heed_msg_word(m, 0) + 1;
  }
  heed_msg_free(m);
  atomic_fetch_add(&c->received, 1);
}

/* Sends a burst of numbered messages, then a GO to itself to continue, so
 * producers interleave with each other and with the consumer. */
static void producer_fn(heed_runtime *rt, heed_actor self, void *state,
                        heed_msg *m) {
  struct producer *p = state;
  heed_msg_free(m);
  for (int i = 0; i < 97 && p->sent < PER_PRODUCER; i++) {
    heed_msg *out;
    if (!check_int_equal(heed_msg_alloc(rt, &out, T_SEQ), 0))
      return;
    heed_msg_set_word(out, 0, p->sent++);
    if (!check_int_equal(heed_actor_send(rt, p->consumer, out), 0)) {
      heed_msg_free(out);
      return;
    }
  }
  if (p->sent < PER_PRODUCER) {
    heed_msg *go;
    if (!check_int_equal(heed_msg_alloc(rt, &go, T_GO), 0))
      return;
    if (!check_int_equal(heed_actor_send(rt, self, go), 0))
      heed_msg_free(go);
  }
}

static void test_fifo_per_pair(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2, .mailbox_limit = 256, .turn_budget = 8};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  static struct consumer c;
  static struct producer p[PRODUCERS];
  heed_actor cons;
  heed_actor_spec cs = {consumer_fn, &c, NULL, 0};
  assert_int_equal(heed_actor_spawn(rt, &cs, &cons), 0);
  for (int i = 0; i < PRODUCERS; i++) {
    p[i].consumer = cons;
    /* Half the producers share the consumer's loop, half do not. */
    heed_actor_spec ps = {producer_fn, &p[i], NULL, i % 2};
    assert_int_equal(heed_actor_spawn(rt, &ps, &c.producers[i]), 0);
    assert_int_equal(heed_actor_loop(rt, c.producers[i]), i % 2);
  }
  assert_int_equal(heed_runtime_start(rt), 0);
  for (int i = 0; i < PRODUCERS; i++) {
    heed_msg *go;
    assert_int_equal(heed_msg_alloc(rt, &go, T_GO), 0);
    assert_int_equal(heed_actor_send(rt, c.producers[i], go), 0);
  }
  /* This thread is a producer too (sender id 0). */
  for (uint64_t k = 0; k < PER_PRODUCER; k++) {
    heed_msg *m;
    assert_int_equal(heed_msg_alloc(rt, &m, T_SEQ), 0);
    heed_msg_set_word(m, 0, k);
    assert_int_equal(heed_actor_send(rt, cons, m), 0);
  }
  uint64_t want = (uint64_t)(PRODUCERS + 1) * PER_PRODUCER;
  assert_int_equal(wait_for(&c.received, want, 30), want);
  assert_int_equal(atomic_load(&c.out_of_order), 0);
  assert_int_equal(atomic_load(&c.unknown_sender), 0);
  for (int i = 0; i <= PRODUCERS; i++)
    assert_int_equal(c.next[i], PER_PRODUCER);
  teardown_runtime(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo_per_pair),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
