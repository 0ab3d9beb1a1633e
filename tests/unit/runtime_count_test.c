/* runtime_count_test.c - 10 million messages across 2 loops, exact counts.
 * Producers on both loops send to consumers on both loops (so half the
 * traffic crosses loops) under the default mailbox watermark. */
#include "runtime_test_util.h"

#define PRODUCERS 4
#define CONSUMERS 2
#define BURST 500

enum { T_GO = 1, T_DATA = 2 };

static uint64_t per_producer; /* messages each producer sends */

struct producer {
  heed_actor consumers[CONSUMERS];
  uint64_t sent;
};

struct consumer {
  uint64_t from[PRODUCERS]; /* owned by the consumer's loop */
  uint64_t sum;
  _Atomic uint64_t received;
};

static _Atomic uint64_t total;

static void consume(heed_runtime *rt, heed_actor self, void *state,
                    heed_msg *m) {
  (void)rt;
  (void)self;
  struct consumer *c = state;
  uint64_t p = heed_msg_word(m, 1);
  if (p < PRODUCERS)
    c->from[p]++;
  c->sum += heed_msg_word(m, 0);
  heed_msg_free(m);
  atomic_fetch_add_explicit(&c->received, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&total, 1, memory_order_release);
}

static uint64_t ids[PRODUCERS];

static void produce(heed_runtime *rt, heed_actor self, void *state,
                    heed_msg *m) {
  struct producer *p = state;
  uint64_t me = heed_msg_word(m, 1);
  heed_msg_free(m);
  for (int i = 0; i < BURST && p->sent < per_producer; i++) {
    heed_msg *out;
    if (!check_int_equal(heed_msg_alloc(rt, &out, T_DATA), 0))
      return;
    heed_msg_set_word(out, 0, p->sent);
    heed_msg_set_word(out, 1, me);
    heed_actor to = p->consumers[p->sent % CONSUMERS];
    if (!check_int_equal(heed_actor_send(rt, to, out), 0)) {
      heed_msg_free(out);
      return;
    }
    p->sent++;
  }
  if (p->sent < per_producer) {
    heed_msg *go;
    if (!check_int_equal(heed_msg_alloc(rt, &go, T_GO), 0))
      return;
    heed_msg_set_word(go, 1, me);
    if (!check_int_equal(heed_actor_send(rt, self, go), 0))
      heed_msg_free(go);
  }
}

static void test_ten_million(void **unused) {
  (void)unused;
  uint64_t want = HEED_TEST_SANITIZED ? 2000000 : 10000000;
  per_producer = want / PRODUCERS;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  static struct consumer c[CONSUMERS];
  static struct producer p[PRODUCERS];
  heed_actor cons[CONSUMERS], prod[PRODUCERS];
  for (int i = 0; i < CONSUMERS; i++) {
    heed_actor_spec s = {consume, &c[i], NULL, i % 2};
    assert_int_equal(heed_actor_spawn(rt, &s, &cons[i]), 0);
  }
  for (int i = 0; i < PRODUCERS; i++) {
    for (int j = 0; j < CONSUMERS; j++)
      p[i].consumers[j] = cons[j];
    heed_actor_spec s = {produce, &p[i], NULL, i % 2};
    assert_int_equal(heed_actor_spawn(rt, &s, &prod[i]), 0);
    ids[i] = prod[i].id;
  }
  assert_int_equal(heed_runtime_start(rt), 0);
  double t0 = test_now();
  for (int i = 0; i < PRODUCERS; i++) {
    heed_msg *go;
    assert_int_equal(heed_msg_alloc(rt, &go, T_GO), 0);
    heed_msg_set_word(go, 1, (uint64_t)i);
    assert_int_equal(heed_actor_send(rt, prod[i], go), 0);
  }
  assert_int_equal(wait_for(&total, want, 100), want);
  double secs = test_now() - t0;
  print_message("%llu messages across 2 loops in %.2f s (%.1f M/s)\n",
                (unsigned long long)want, secs, (double)want / secs / 1e6);
  uv_sleep(20); /* nothing more may arrive */
  assert_int_equal(atomic_load(&total), want);
  assert_int_equal(heed_runtime_stop(rt), 0);
  assert_no_loop_failures();
  uint64_t expect_sum = per_producer / CONSUMERS * (per_producer - 1);
  for (int j = 0; j < CONSUMERS; j++) {
    assert_int_equal(atomic_load(&c[j].received), want / CONSUMERS);
    for (int i = 0; i < PRODUCERS; i++)
      assert_int_equal(c[j].from[i], per_producer / CONSUMERS);
    (void)expect_sum;
  }
  /* Every value 0..per_producer-1 was sent once per producer. */
  assert_int_equal(c[0].sum + c[1].sum,
                   (uint64_t)PRODUCERS * per_producer * (per_producer - 1) / 2);
  teardown_runtime(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ten_million),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
