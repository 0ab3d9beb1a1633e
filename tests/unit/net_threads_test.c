/*
 * net_threads_test.c - what the driver shares with the loops and with other
 * threads, exercised from several threads at once. Each test passes in any
 * build; under ThreadSanitizer (tools/test with HEED_TSAN=1) it also fails
 * on a data race: the driver's step or the actors' message counters read
 * while they change, `failed` read without the lock, or an actor reading
 * the tracer after the batch it works on has completed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "net_test_util.h"

#define DIM 12
#define CLASSES 4
#define N 64
#define B 16

static float x[N * DIM];
static uint8_t y[N];
static const uint32_t sizes[] = {DIM, 24, 16, CLASSES};

static heed_net *new_net(heed_runtime *rt) {
  return make_net(rt, 4, sizes, NULL, "bp", 0.05f, 7);
}

/* ---- a monitor reading step and counters while the driver trains -------- */

struct monitor {
  heed_net *net;
  _Atomic int stop;
  uint64_t reads, last_step, backwards;
};

static void monitor_main(void *arg) {
  struct monitor *m = arg;
  while (!atomic_load(&m->stop)) {
    uint64_t s = heed_net_step(m->net);
    heed_net_counters c;
    heed_net_counters_get(m->net, &c);
    if (s < m->last_step)
      m->backwards++;
    m->last_step = s;
    m->reads++;
    sched_yield();
  }
}

static void test_monitor_reads_while_training(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(2);
  heed_net *net = new_net(rt);
  struct monitor m = {.net = net};
  uv_thread_t th;
  assert_int_equal(uv_thread_create(&th, monitor_main, &m), 0);
  for (int k = 0; k < 200; k++)
    assert_int_equal(
        heed_net_train_batch(net, x + (k % (N / B)) * B * DIM,
                             y + (k % (N / B)) * B, B, NULL),
        0);
  atomic_store(&m.stop, 1);
  uv_thread_join(&th);
  assert_int_equal(m.backwards, 0);
  assert_true(m.reads > 0);
  assert_int_equal(heed_net_step(net), 200);
  heed_net_counters c;
  heed_net_counters_get(net, &c);
  assert_true(c.messages > 0);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* ---- a tracer attached and freed around every batch --------------------- */

static char tmpdir[256];

/* Detaching a tracer right after a batch and freeing it is what the CLI
 * does at the end of a run: no actor may still be recording into it. */
static void test_trace_detached_after_each_batch(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(2);
  heed_net *net = new_net(rt);
  char path[512];
  snprintf(path, sizeof path, "%s/t.trace", tmpdir);
  heed_batch_stats st;
  for (int k = 0; k < 40; k++) {
    heed_trace_opts o = {.path = path, .values = k % 2, .run = 1};
    heed_trace *t = NULL;
    char err[256];
    assert_int_equal(heed_trace_new(&t, &o, err, sizeof err), 0);
    assert_int_equal(heed_net_set_trace(net, t), 0);
    if (k % 4 == 3)
      assert_int_equal(heed_net_eval(net, x, y, N, &st), 0);
    else
      assert_int_equal(heed_net_train_batch(net, x, y, B, &st), 0);
    assert_int_equal(heed_net_set_trace(net, NULL), 0);
    heed_trace_stats ts;
    heed_trace_stats_get(t, &ts);
    assert_true(ts.recorded > 0);
    heed_trace_free(t);
  }
  unlink(path);
  heed_net_free(net);
  heed_runtime_free(rt);
}

/* ---- a failure raised by another thread while the driver runs ----------- */

struct aborter {
  heed_net *net;
  _Atomic int go;
};

static void aborter_main(void *arg) {
  struct aborter *a = arg;
  while (!atomic_load(&a->go))
    sched_yield();
  uv_sleep(5);
  heed_net_abort(a->net);
}

static void test_abort_from_another_thread(void **state) {
  (void)state;
  heed_runtime *rt = make_rt(2);
  heed_net *net = new_net(rt);
  struct aborter a = {.net = net};
  uv_thread_t th;
  assert_int_equal(uv_thread_create(&th, aborter_main, &a), 0);
  atomic_store(&a.go, 1);
  int rv = 0;
  /* The driver reads `failed` before each batch, while the aborter sets
   * it; it must stop with HEED_EPEER, neither hang nor go on. */
  for (int k = 0; k < 1000000 && rv == 0; k++)
    rv = heed_net_train_batch(net, x, y, B, NULL);
  uv_thread_join(&th);
  assert_int_equal(rv, HEED_EPEER);
  assert_int_equal(heed_net_train_batch(net, x, y, B, NULL), HEED_EPEER);
  heed_net_free(net);
  heed_runtime_free(rt);
}

int main(void) {
  gen_data(3, N, DIM, CLASSES, x, y);
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/heed-net-threads-XXXXXX",
           base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_monitor_reads_while_training),
      cmocka_unit_test(test_trace_detached_after_each_batch),
      cmocka_unit_test(test_abort_from_another_thread),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  rmdir(tmpdir);
  return rc;
}
