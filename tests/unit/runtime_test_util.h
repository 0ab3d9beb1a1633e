/* runtime_test_util.h - helpers shared by the runtime_*_test.c files (and
 * the net tests, for checks on loop threads). */
#ifndef HEED_TEST_RUNTIME_UTIL_H
#define HEED_TEST_RUNTIME_UTIL_H

#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "heed/runtime.h"

/* Internal counters (hidden symbols, reachable through the static lib). */
size_t heed__runtime_msgs_outstanding(heed_runtime *rt);
size_t heed__runtime_bufs_outstanding(heed_runtime *rt);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEED_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEED_TEST_SANITIZED 1
#endif
#endif
#ifndef HEED_TEST_SANITIZED
#define HEED_TEST_SANITIZED 0
#endif

/* ---- checks on loop threads ---------------------------------------------
 *
 * A cmocka assertion that fails inside a behaviour (or a fini, or any
 * callback on a loop thread) longjmps across the loop's stack from a thread
 * cmocka knows nothing of: it crashes instead of reporting. Behaviours use
 * these checks instead: a failure is counted and the first one described
 * (atomics, so any loop may fail at any time), the check returns 0 so the
 * behaviour can stop, and the test thread reports it through
 * assert_no_loop_failures(), which wait_for() and teardown_runtime() call. */

typedef struct loop_failures {
  _Atomic unsigned count;
  _Atomic int described; /* `first` is complete (release/acquire) */
  char first[256];
} loop_failures;

static loop_failures test_loop_failures;

static inline int loop_fail(const char *file, int line, const char *fmt,
                            ...) {
  loop_failures *f = &test_loop_failures;
  if (atomic_fetch_add(&f->count, 1) == 0) {
    int n = snprintf(f->first, sizeof f->first, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof f->first)
      vsnprintf(f->first + n, sizeof f->first - (size_t)n, fmt, ap);
    va_end(ap);
    atomic_store_explicit(&f->described, 1, memory_order_release);
  }
  return 0;
}

/* Each evaluates to 1 when the check holds, else records it and gives 0. */
#define check_true(c)                                                       \
  ((c) ? 1 : loop_fail(__FILE__, __LINE__, "%s is false", #c))
#define check_int_equal(a, b)                                               \
  check_int_equal_((long long)(a), (long long)(b), #a, #b, __FILE__,        \
                   __LINE__)

static inline int check_int_equal_(long long a, long long b, const char *as,
                                   const char *bs, const char *file,
                                   int line) {
  return a == b ? 1
                : loop_fail(file, line, "%s == %s: %lld != %lld", as, bs, a,
                            b);
}

/* On the test thread: fails the test if a loop-thread check failed (and
 * clears the record for the next test). */
static inline void assert_no_loop_failures(void) {
  loop_failures *f = &test_loop_failures;
  unsigned n = atomic_load(&f->count);
  if (n == 0)
    return;
  /* The first failing thread is at most a snprintf away from done. */
  char first[sizeof f->first] = "(not described yet)";
  for (int i = 0; i < 100000; i++)
    if (atomic_load_explicit(&f->described, memory_order_acquire)) {
      memcpy(first, f->first, sizeof first);
      break;
    } else {
      sched_yield();
    }
  atomic_store(&f->described, 0);
  atomic_store(&f->count, 0);
  fail_msg("%u check(s) failed on loop threads; the first: %s", n, first);
}

static inline double test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits until *v >= want or `seconds` pass; returns the last value seen.
 * Fails at once if a check on a loop thread failed meanwhile. */
static inline uint64_t wait_for(_Atomic uint64_t *v, uint64_t want,
                                double seconds) {
  double end = test_now() + seconds;
  uint64_t x;
  while ((x = atomic_load(v)) < want && test_now() < end) {
    assert_no_loop_failures();
    uv_sleep(1);
  }
  assert_no_loop_failures();
  return x;
}

/* Stops rt, asserts the loops closed cleanly (uv_loop_close() == 0 inside
 * heed_runtime_stop) and that no message or buffer is left allocated, then
 * frees it. */
static inline void teardown_runtime(heed_runtime *rt) {
  assert_int_equal(heed_runtime_stop(rt), 0);
  assert_no_loop_failures();
  assert_int_equal(heed__runtime_msgs_outstanding(rt), 0);
  assert_int_equal(heed__runtime_bufs_outstanding(rt), 0);
  heed_runtime_free(rt);
}

#endif
