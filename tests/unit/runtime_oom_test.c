/* runtime_oom_test.c - every allocation in runtime creation, spawning and
 * the pools may fail: the call returns HEED_ENOMEM and leaks nothing
 * (LeakSanitizer checks the leaks), as libuv's test-loop-oom does. */
#include "runtime_test_util.h"

void heed__alloc_fail_after(long n);

static void nop(heed_runtime *rt, heed_actor self, void *state, heed_msg *m) {
  (void)rt;
  (void)self;
  (void)state;
  heed_msg_free(m);
}

static void fini_nop(void *state) { (void)state; }

static void test_runtime_new_oom(void **unused) {
  (void)unused;
  int failures = 0;
  for (long n = 0; n < 200; n++) {
    heed_runtime *rt = (heed_runtime *)1;
    heed_runtime_opts o = {.threads = 2};
    heed__alloc_fail_after(n);
    int rc = heed_runtime_new(&rt, &o);
    heed__alloc_fail_after(-1);
    if (rc != 0) {
      assert_int_equal(rc, HEED_ENOMEM);
      assert_null(rt);
      failures++;
      continue;
    }
    assert_true(failures > 0); /* allocation 0 at least must have failed */
    teardown_runtime(rt);
    return;
  }
  fail_msg("heed_runtime_new never succeeded");
}

static void test_spawn_and_pools_oom(void **unused) {
  (void)unused;
  heed_runtime *rt;
  assert_int_equal(heed_runtime_new(&rt, NULL), 0);
  heed_actor_spec s = {nop, NULL, NULL, 0};
  heed_actor a;
  /* Fill the first chunk so the next spawn needs an allocation. */
  for (int i = 0; i < 4096; i++)
    assert_int_equal(heed_actor_spawn(rt, &s, &a), 0);
  heed__alloc_fail_after(0);
  assert_int_equal(heed_actor_spawn(rt, &s, &a), HEED_ENOMEM);
  assert_int_equal(a.id, 0);
  heed_msg *m;
  assert_int_equal(heed_msg_alloc(rt, &m, 1), HEED_ENOMEM); /* pool empty */
  assert_null(m);
  heed_buf *b;
  assert_int_equal(heed_buf_alloc(rt, 100, &b), HEED_ENOMEM);
  assert_int_equal(heed_buf_alloc(rt, 1 << 20, &b), HEED_ENOMEM);
  /* Interning a new fini may fail too. */
  heed_actor_spec f = {nop, NULL, fini_nop, 0};
  assert_int_equal(heed_actor_spawn(rt, &f, &a), HEED_ENOMEM);
  heed__alloc_fail_after(-1);
  /* After the failures everything works again. */
  assert_int_equal(heed_actor_spawn(rt, &s, &a), 0);
  assert_int_equal(heed_msg_alloc(rt, &m, 1), 0);
  assert_int_equal(heed_buf_alloc(rt, 100, &b), 0);
  heed_msg_set_buf(m, b);
  assert_int_equal(heed_runtime_start(rt), 0);
  assert_int_equal(heed_actor_send(rt, a, m), 0);
  teardown_runtime(rt);
}

static void test_broadcast_oom_midway(void **unused) {
  (void)unused;
  heed_runtime *rt;
  assert_int_equal(heed_runtime_new(&rt, NULL), 0);
  heed_actor to[600];
  heed_actor_spec s = {nop, NULL, NULL, 0};
  for (int i = 0; i < 600; i++)
    assert_int_equal(heed_actor_spawn(rt, &s, &to[i]), 0);
  heed_buf *b;
  assert_int_equal(heed_buf_alloc(rt, 64, &b), 0);
  /* Enough for one message slab (256) and then nothing. */
  heed__alloc_fail_after(1);
  assert_int_equal(heed_actor_broadcast(rt, to, 600, 1, 0, 0, b),
                   HEED_ENOMEM);
  heed__alloc_fail_after(-1);
  assert_true(heed_buf_refs(b) > 1); /* the sent ones hold references */
  assert_int_equal(heed_runtime_stop(rt), 0); /* frees the queued ones */
  assert_int_equal(heed_buf_refs(b), 1);
  heed_buf_release(b);
  teardown_runtime(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runtime_new_oom),
      cmocka_unit_test(test_spawn_and_pools_oom),
      cmocka_unit_test(test_broadcast_oom_midway),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
