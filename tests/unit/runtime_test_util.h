/* runtime_test_util.h - helpers shared by the runtime_*_test.c files. */
#ifndef HEED_TEST_RUNTIME_UTIL_H
#define HEED_TEST_RUNTIME_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "heed/runtime.h"

/* Internal counters (hidden symbols, reachable through the static lib). */
size_t heed__runtime_msgs_outstanding(heed_runtime *rt);
size_t heed__runtime_bufs_outstanding(heed_runtime *rt);

#if defined(__SANITIZE_ADDRESS__)
#define HEED_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEED_TEST_SANITIZED 1
#endif
#endif
#ifndef HEED_TEST_SANITIZED
#define HEED_TEST_SANITIZED 0
#endif

static inline double test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits until *v >= want or `seconds` pass; returns the last value seen. */
static inline uint64_t wait_for(_Atomic uint64_t *v, uint64_t want,
                                double seconds) {
  double end = test_now() + seconds;
  uint64_t x;
  while ((x = atomic_load(v)) < want && test_now() < end)
    uv_sleep(1);
  return x;
}

/* Stops rt, asserts the loops closed cleanly (uv_loop_close() == 0 inside
 * heed_runtime_stop) and that no message or buffer is left allocated, then
 * frees it. */
static inline void teardown_runtime(heed_runtime *rt) {
  assert_int_equal(heed_runtime_stop(rt), 0);
  assert_int_equal(heed__runtime_msgs_outstanding(rt), 0);
  assert_int_equal(heed__runtime_bufs_outstanding(rt), 0);
  heed_runtime_free(rt);
}

#endif
