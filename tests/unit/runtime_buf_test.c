/* runtime_buf_test.c - buffers: alignment, size classes, and reference
 * counts under broadcast (one buffer, n references, nothing copied). */
#include <string.h>

#include "runtime_test_util.h"

#define N 64

static _Atomic uint64_t seen;
static _Atomic uint64_t bad;
static heed_buf *shared;

static void reader(heed_runtime *rt, heed_actor self, void *state,
                   heed_msg *m) {
  (void)rt;
  (void)self;
  (void)state;
  heed_buf *b = heed_msg_buf(m);
  /* Same buffer, not a copy, with the contents written before the send. */
  const unsigned char *d = heed_buf_data(b);
  if (b != shared || heed_buf_size(b) != 1000 || d[0] != 0xAB ||
      d[999] != 0xCD || heed_msg_word(m, 0) != 7 || heed_msg_word(m, 1) != 9 ||
      heed_msg_type(m) != 42)
    atomic_fetch_add(&bad, 1);
  heed_msg_free(m);
  atomic_fetch_add(&seen, 1);
}

static void test_broadcast_refcounts(void **unused) {
  (void)unused;
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = 2};
  assert_int_equal(heed_runtime_new(&rt, &o), 0);
  heed_actor to[N];
  heed_actor_spec s = {reader, NULL, NULL, -1};
  for (int i = 0; i < N; i++)
    assert_int_equal(heed_actor_spawn(rt, &s, &to[i]), 0);
  assert_int_equal(heed_buf_alloc(rt, 1000, &shared), 0);
  unsigned char *d = heed_buf_data(shared);
  memset(d, 0, 1000);
  d[0] = 0xAB;
  d[999] = 0xCD;
  assert_int_equal(heed_buf_refs(shared), 1);
  /* Not started yet: every message is queued and holds its reference. */
  assert_int_equal(heed_actor_broadcast(rt, to, N, 42, 7, 9, shared), 0);
  assert_int_equal(heed_buf_refs(shared), N + 1);
  assert_int_equal(heed_runtime_start(rt), 0);
  assert_int_equal(wait_for(&seen, N, 20), N);
  assert_int_equal(atomic_load(&bad), 0);
  assert_int_equal(heed_buf_refs(shared), 1);
  heed_buf_release(shared);
  teardown_runtime(rt);
}

static void test_alignment_and_classes(void **unused) {
  (void)unused;
  heed_runtime *rt;
  assert_int_equal(heed_runtime_new(&rt, NULL), 0);
  static const size_t sizes[] = {0,       1,       63,           64,
                                 65,      255,     1024,         4097,
                                 65536,   65537,   1 << 20,      (4 << 20) + 1};
  heed_buf *b[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    assert_int_equal(heed_buf_alloc(rt, sizes[i], &b[i]), 0);
    assert_int_equal((uintptr_t)heed_buf_data(b[i]) % 64, 0);
    assert_int_equal(heed_buf_size(b[i]), sizes[i]);
    memset(heed_buf_data(b[i]), 0x5A, sizes[i]); /* ASan checks the bounds */
  }
  size_t big = heed_runtime_mem_bytes(rt);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    heed_buf_release(b[i]);
  /* Buffers above the largest class (4 MiB) go back to the system at once. */
  assert_true(heed_runtime_mem_bytes(rt) <= big - (4 << 20));
  assert_int_equal(heed__runtime_bufs_outstanding(rt), 0);
  teardown_runtime(rt);
}

static void test_msg_buf_ownership(void **unused) {
  (void)unused;
  heed_runtime *rt;
  assert_int_equal(heed_runtime_new(&rt, NULL), 0);
  heed_buf *a, *b;
  heed_msg *m;
  assert_int_equal(heed_buf_alloc(rt, 10, &a), 0);
  assert_int_equal(heed_buf_alloc(rt, 10, &b), 0);
  assert_int_equal(heed_msg_alloc(rt, &m, 3), 0);
  assert_null(heed_msg_buf(m));
  heed_msg_set_buf(m, heed_buf_hold(a)); /* msg takes the new reference */
  assert_int_equal(heed_buf_refs(a), 2);
  heed_msg_set_buf(m, heed_buf_hold(b)); /* replacing releases a */
  assert_int_equal(heed_buf_refs(a), 1);
  assert_int_equal(heed_buf_refs(b), 2);
  assert_ptr_equal(heed_msg_buf(m), b);
  heed_msg_set_buf(m, heed_buf_hold(b)); /* same buffer: still one ref */
  assert_int_equal(heed_buf_refs(b), 2);
  heed_msg_free(m); /* releases b's message reference */
  assert_int_equal(heed_buf_refs(b), 1);
  heed_buf_release(a);
  heed_buf_release(b);
  teardown_runtime(rt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_broadcast_refcounts),
      cmocka_unit_test(test_alignment_and_classes),
      cmocka_unit_test(test_msg_buf_ownership),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
