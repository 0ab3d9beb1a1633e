/* runtime_invalid_test.c - misuse returns errors, never crashes. */
#include "runtime_test_util.h"

static void nop(heed_runtime *rt, heed_actor self, void *state, heed_msg *m) {
  (void)rt;
  (void)self;
  (void)state;
  heed_msg_free(m);
}

static void test_null_args(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_actor a;
  heed_msg *m;
  heed_buf *b;
  heed_actor_spec s = {nop, NULL, NULL, -1};
  assert_int_equal(heed_runtime_new(NULL, NULL), HEED_EINVAL);
  heed_runtime_opts big = {.threads = 100000};
  assert_int_equal(heed_runtime_new(&rt, &big), HEED_EINVAL);
  assert_null(rt);
  assert_int_equal(heed_runtime_start(NULL), HEED_EINVAL);
  assert_int_equal(heed_runtime_stop(NULL), HEED_EINVAL);
  heed_runtime_free(NULL);
  assert_int_equal(heed_runtime_threads(NULL), 0);
  assert_int_equal(heed_runtime_current_loop(NULL), -1);
  assert_int_equal(heed_runtime_mem_bytes(NULL), 0);
  assert_int_equal(heed_actor_spawn(NULL, &s, &a), HEED_EINVAL);
  assert_int_equal(heed_msg_alloc(NULL, &m, 0), HEED_EINVAL);
  assert_int_equal(heed_buf_alloc(NULL, 8, &b), HEED_EINVAL);
  assert_int_equal(heed_actor_send(NULL, a, NULL), HEED_EINVAL);
  assert_int_equal(heed_actor_try_send(NULL, a, NULL), HEED_EINVAL);
  assert_int_equal(heed_actor_stop(NULL, a), HEED_EINVAL);
  assert_int_equal(heed_actor_loop(NULL, a), HEED_EINVAL);
  assert_int_equal(heed_actor_broadcast(NULL, &a, 1, 0, 0, 0, NULL),
                   HEED_EINVAL);
  heed_msg_free(NULL);
  heed_buf_release(NULL);
  assert_null(heed_buf_hold(NULL));
  assert_null(heed_buf_data(NULL));
  assert_int_equal(heed_buf_refs(NULL), 0);
  assert_int_equal(heed_msg_type(NULL), 0);
  assert_null(heed_msg_buf(NULL));
  assert_int_equal(heed_msg_sender(NULL).id, 0);
  assert_int_equal(heed_actor_self().id, 0); /* not an actor */

  assert_int_equal(heed_runtime_new(&rt, NULL), 0);
  assert_int_equal(heed_runtime_threads(rt), 1);
  assert_int_equal(heed_runtime_current_loop(rt), -1);
  assert_int_equal(heed_actor_spawn(rt, NULL, &a), HEED_EINVAL);
  assert_int_equal(heed_actor_spawn(rt, &s, NULL), HEED_EINVAL);
  heed_actor_spec nofn = {NULL, NULL, NULL, 0};
  assert_int_equal(heed_actor_spawn(rt, &nofn, &a), HEED_EINVAL);
  assert_int_equal(a.id, 0);
  heed_actor_spec badloop = {nop, NULL, NULL, 1};
  assert_int_equal(heed_actor_spawn(rt, &badloop, &a), HEED_EINVAL);
  badloop.loop = -2;
  assert_int_equal(heed_actor_spawn(rt, &badloop, &a), HEED_EINVAL);
  assert_int_equal(heed_actor_spawn(rt, &s, &a), 0);
  assert_int_equal(heed_actor_send(rt, a, NULL), HEED_EINVAL);
  assert_int_equal(heed_msg_alloc(rt, NULL, 0), HEED_EINVAL);
  assert_int_equal(heed_buf_alloc(rt, 8, NULL), HEED_EINVAL);
  assert_int_equal(heed_actor_broadcast(rt, NULL, 3, 0, 0, 0, NULL),
                   HEED_EINVAL);
  assert_int_equal(heed_actor_broadcast(rt, NULL, 0, 0, 0, 0, NULL), 0);
  heed_msg_set_word(NULL, 0, 1);
  assert_int_equal(heed_msg_alloc(rt, &m, 5), 0);
  heed_msg_set_word(m, 2, 99); /* out of range: ignored */
  assert_int_equal(heed_msg_word(m, 2), 0);
  assert_int_equal(heed_msg_word(m, -1), 0);
  heed_msg_free(m);
  teardown_runtime(rt);
}

static void test_unknown_and_stopped(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  heed_actor a, b;
  heed_actor_spec s = {nop, NULL, NULL, -1};
  assert_int_equal(heed_actor_spawn(rt, &s, &a), 0);
  assert_int_equal(heed_actor_spawn(rt, &s, &b), 0);
  assert_int_not_equal(a.id, 0);
  assert_int_not_equal(a.id, b.id);
  assert_int_equal(heed_runtime_start(rt), 0);
  assert_int_equal(heed_runtime_start(rt), HEED_ESTATE);
  heed_msg *m;
  assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
  assert_int_equal(heed_actor_send(rt, HEED_ACTOR_NONE, m), HEED_ENOENT);
  assert_int_equal(heed_actor_send(rt, (heed_actor){0xdeadbeefcafe}, m),
                   HEED_ENOENT);
  assert_int_equal(heed_actor_send(rt, (heed_actor){(1ull << 32) | 4095}, m),
                   HEED_ENOENT); /* allocated chunk, never-spawned slot */
  assert_int_equal(heed_actor_send(rt, (heed_actor){(1ull << 32) | 0xFFFFFFF},
                                   m),
                   HEED_ENOENT);
  assert_int_equal(heed_actor_stop(rt, HEED_ACTOR_NONE), HEED_ENOENT);
  assert_int_equal(heed_actor_loop(rt, HEED_ACTOR_NONE), HEED_ENOENT);
  /* Stop a; once destroyed its slot may be reused by a new actor, and the
   * old handle must still fail rather than reach the new one. */
  assert_int_equal(heed_actor_stop(rt, a), 0);
  while (heed_actor_send(rt, a, m) == 0)
    assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
  assert_int_equal(heed_actor_send(rt, a, m), HEED_ECLOSED);
  assert_int_equal(heed_actor_try_send(rt, a, m), HEED_ECLOSED);
  assert_int_equal(heed_actor_stop(rt, a), 0);
  uv_sleep(50); /* let the loop destroy it and free the slot */
  heed_actor c;
  assert_int_equal(heed_actor_spawn(rt, &s, &c), 0);
  assert_int_not_equal(c.id, a.id);
  assert_int_equal(heed_actor_send(rt, a, m), HEED_ECLOSED);
  assert_int_equal(heed_actor_broadcast(rt, &a, 1, 0, 0, 0, NULL),
                   HEED_ECLOSED);
  assert_int_equal(heed_actor_send(rt, c, m), 0);
  teardown_runtime(rt);
}

/* A token bounced between two actors on two loops: every hand-off crosses
 * loops, so the receiver is either polling (spin) or asleep (no spin). */
static _Atomic uint64_t hops;
static heed_actor pong_peer[2];

static void pong(heed_runtime *rt, heed_actor self, void *state,
                 heed_msg *m) {
  (void)self;
  int me = (int)(intptr_t)state;
  uint64_t left = heed_msg_word(m, 0);
  atomic_fetch_add(&hops, 1);
  if (left == 0) {
    heed_msg_free(m);
    return;
  }
  heed_msg_set_word(m, 0, left - 1);
  if (!check_int_equal(heed_actor_send(rt, pong_peer[!me], m), 0))
    heed_msg_free(m);
}

static void test_spin_option(void **unused) {
  (void)unused;
  heed_runtime *rt;
  int spins[] = {0, -1, 50};
  long want_ns[] = {200000, 0, 50000};
  for (int k = 0; k < 3; k++) {
    heed_runtime_opts o = {.threads = 2, .spin_us = spins[k]};
    assert_int_equal(heed_runtime_new(&rt, &o), 0);
    assert_int_equal(heed_runtime_spin_ns(rt), want_ns[k]);
    for (int i = 0; i < 2; i++) {
      heed_actor_spec s = {pong, (void *)(intptr_t)i, NULL, i};
      assert_int_equal(heed_actor_spawn(rt, &s, &pong_peer[i]), 0);
    }
    assert_int_equal(heed_runtime_start(rt), 0);
    atomic_store(&hops, 0);
    /* Rounds with pauses longer than the polling window in between, so
     * both the polling and the sleeping path hand the token over. */
    for (int round = 0; round < 5; round++) {
      heed_msg *m;
      assert_int_equal(heed_msg_alloc(rt, &m, 0), 0);
      heed_msg_set_word(m, 0, 999);
      assert_int_equal(heed_actor_send(rt, pong_peer[0], m), 0);
      assert_int_equal(wait_for(&hops, 1000u * (round + 1), 30),
                       1000u * (round + 1));
      uv_sleep(2);
    }
    teardown_runtime(rt);
  }
  assert_int_equal(heed_runtime_spin_ns(NULL), 0);
}

/* A check that fails in a behaviour (on a loop thread) is recorded, the
 * behaviour goes on, and the test thread sees the first failure described;
 * a cmocka assertion there would longjmp across the loop's stack. */
static _Atomic uint64_t checked;

static void failing_checks(heed_runtime *rt, heed_actor self, void *state,
                           heed_msg *m) {
  (void)rt;
  (void)self;
  (void)state;
  heed_msg_free(m);
  int two = 2;
  if (!check_int_equal(two, 3))
    atomic_fetch_add(&checked, 1);
  if (!check_true(two == 5))
    atomic_fetch_add(&checked, 1);
  if (check_int_equal(two, 2) && check_true(two > 1))
    atomic_fetch_add(&checked, 1);
}

static void test_loop_checks_reach_the_test_thread(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  heed_actor a;
  heed_actor_spec s = {failing_checks, NULL, NULL, 1};
  assert_int_equal(heed_actor_spawn(rt, &s, &a), 0);
  assert_int_equal(heed_runtime_start(rt), 0);
  heed_msg *m;
  assert_int_equal(heed_msg_alloc(rt, &m, 0), 0);
  assert_int_equal(heed_actor_send(rt, a, m), 0);
  /* Not wait_for(): it would report the failures this test provokes. */
  double end = test_now() + 30;
  while (atomic_load(&checked) < 3 && test_now() < end)
    uv_sleep(1);
  assert_int_equal(atomic_load(&checked), 3);
  assert_int_equal(heed_runtime_stop(rt), 0);
  loop_failures *f = &test_loop_failures;
  assert_int_equal(atomic_load(&f->count), 2);
  assert_int_equal(atomic_load(&f->described), 1);
  assert_non_null(strstr(f->first, "two == 3: 2 != 3"));
  assert_non_null(strstr(f->first, "runtime_invalid_test.c:"));
  atomic_store(&f->count, 0); /* consumed: teardown must find none */
  atomic_store(&f->described, 0);
  teardown_runtime(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_null_args),
      cmocka_unit_test(test_spin_option),
      cmocka_unit_test(test_unknown_and_stopped),
      cmocka_unit_test(test_loop_checks_reach_the_test_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
