/*
 * transport_oom_test.c - every allocation the transport makes (frame
 * encoding and decoding, the run config, a link's sockets, peers and
 * outboxes) may fail: the call returns HEED_ENOMEM, nothing leaks
 * (LeakSanitizer checks in the ASan build), and once memory is back the
 * same call works. The transport allocates through src/common/alloc.h, so
 * heed__alloc_fail_after reaches it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "heed/error.h"
#include "transport/link.h"
#include "transport/wire.h"

#define NFL 3000 /* floats: big enough that the buffers grow several times */

static float fl[NFL];

static void sample_msgs(heed_frame_msg m[3]) {
  for (size_t i = 0; i < NFL; i++)
    fl[i] = (float)i * 0.5f;
  memset(m, 0, 3 * sizeof *m);
  m[0].m = (heed_wire_msg){.kind = HEED_WIRE_BID, .layer = 2, .batch = 9,
                           .mode = 1, .count = 8, .stride = 8, .rows = 10,
                           .ldc = 292, .data = fl, .nfloats = NFL};
  m[1].m = (heed_wire_msg){.kind = HEED_WIRE_DONE, .batch = 9, .word = 7};
  m[2].m = (heed_wire_msg){.kind = HEED_SESS_ERROR};
  m[2].bytes = (const uint8_t *)"why";
  m[2].nbytes = 3;
}

static const heed_frame_hdr HDR = {HEED_WIRE_VERSION, 42, 0, 1, 3};

/* Runs op with the Nth allocation failing, N = 0, 1, ... until it
 * succeeds; returns how many runs failed. op must return 0 or ENOMEM and
 * release what it allocated either way. */
static int until_success(int (*op)(void *), void *arg) {
  for (long n = 0; n < 1000; n++) {
    heed__alloc_fail_after(n);
    int rv = op(arg);
    heed__alloc_fail_after(-1);
    if (rv == 0)
      return (int)n;
    if (rv != HEED_ENOMEM)
      fail_msg("allocation %ld failing gave %d, not HEED_ENOMEM", n, rv);
  }
  fail_msg("never succeeded");
  return -1;
}

static heed_wbuf reference;

static int encode_op(void *arg) {
  (void)arg;
  heed_frame_msg m[3];
  sample_msgs(m);
  heed_wbuf b = {0};
  int rv = heed_wire_frame(&b, &HDR, m, 3);
  if (rv == 0) {
    assert_int_equal(b.len, reference.len);
    assert_memory_equal(b.p, reference.p, b.len);
  }
  heed_wbuf_free(&b);
  return rv;
}

static void test_encode_oom(void **state) {
  (void)state;
  heed_frame_msg m[3];
  sample_msgs(m);
  assert_int_equal(heed_wire_frame(&reference, &HDR, m, 3), 0);
  /* the header's 256 bytes, then room for the floats */
  assert_int_equal(until_success(encode_op, NULL), 2);
  heed_wbuf_free(&reference);
}

static int decode_op(void *arg) {
  heed_wbuf *b = arg;
  heed_frame f = {0};
  char why[128] = "";
  heed_wire_expect ex = {0};
  int rv = heed_wire_decode(&f, b->p, b->len, &ex, why, sizeof why);
  if (rv == HEED_ENOMEM)
    assert_string_equal(why, "out of memory");
  if (rv == 0) {
    assert_int_equal(f.nmsgs, 3);
    assert_int_equal(f.msgs[0].m.nfloats, NFL);
    assert_memory_equal(f.msgs[0].m.data, fl, sizeof fl);
    assert_int_equal(f.msgs[1].m.word, 7);
  }
  heed_frame_free(&f);
  return rv;
}

static void test_decode_oom(void **state) {
  (void)state;
  heed_frame_msg m[3];
  sample_msgs(m);
  heed_wbuf b = {0};
  assert_int_equal(heed_wire_frame(&b, &HDR, m, 3), 0);
  assert_int_equal(until_success(decode_op, &b), 2); /* messages, arena */
  heed_wbuf_free(&b);
}

static int config_op(void *arg) {
  const heed_run_config *c = arg;
  heed_wbuf b = {0};
  int rv = heed_wire_config_encode(&b, c);
  if (rv == 0) {
    heed_run_config back;
    char why[128];
    assert_int_equal(heed_wire_config_decode(&back, b.p, b.len, why,
                                             sizeof why), 0);
    assert_int_equal(back.nsizes, c->nsizes);
    assert_string_equal(back.urls[1], c->urls[1]);
  }
  heed_wbuf_free(&b);
  return rv;
}

static void test_config_oom(void **state) {
  (void)state;
  static heed_run_config c;
  memset(&c, 0, sizeof c);
  c.run_id = 5;
  c.nprocs = 2;
  c.max_batch = 32;
  c.nsizes = 3;
  c.sizes[0] = 4;
  c.sizes[1] = 3;
  c.sizes[2] = 2;
  c.layer_proc[1] = 1;
  snprintf(c.strategy, sizeof c.strategy, "bp");
  snprintf(c.urls[0], sizeof c.urls[0], "ipc:///tmp/a");
  snprintf(c.urls[1], sizeof c.urls[1], "ipc:///tmp/b");
  assert_true(until_success(config_op, &c) >= 1);
}

/* ---- a link over ipc:// ------------------------------------------------- */

static char dir[64];

static void url_of(char *out, size_t n, const char *name) {
  snprintf(out, n, "ipc://%s/%s", dir, name);
}

static int open_op(void *arg) {
  char url[128];
  url_of(url, sizeof url, arg);
  heed_link *l = NULL;
  char err[128];
  int rv = heed_link_open(&l, url, 0, "test", err, sizeof err);
  if (rv == 0)
    heed_link_close(l);
  else
    assert_null(l);
  return rv;
}

typedef struct pair {
  heed_link *a, *b; /* a sends to b (process 1) */
  char burl[128];
} pair;

static int add_peer_op(void *arg) {
  pair *p = arg;
  char err[128];
  int rv = heed_link_add_peer(p->a, 1, p->burl, 0, err, sizeof err);
  if (rv == 0)
    heed_link_drop_peers(p->a);
  return rv;
}

static int send_op(void *arg) {
  pair *p = arg;
  heed_frame_msg m[3];
  sample_msgs(m);
  return heed_link_send(p->a, 1, &m[0].m);
}

static void test_link_oom(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/heed-oom-XXXXXX");
  assert_non_null(mkdtemp(dir));
  assert_true(until_success(open_op, "x") >= 1);
  pair p;
  char aurl[128];
  url_of(aurl, sizeof aurl, "a");
  url_of(p.burl, sizeof p.burl, "b");
  char err[128];
  assert_int_equal(heed_link_open(&p.a, aurl, 0, "a", err, sizeof err), 0);
  assert_int_equal(heed_link_open(&p.b, p.burl, 0, "b", err, sizeof err), 0);
  heed_link_set_run(p.a, 42, 0);
  /* (a peer closed while it is still connecting can cost the next
   * socket that dials the same listener its first frame under nng 1.5.2,
   * so this dance dials a link of its own) */
  pair q;
  char curl[128];
  url_of(curl, sizeof curl, "c");
  url_of(q.burl, sizeof q.burl, "d");
  assert_int_equal(heed_link_open(&q.a, curl, 0, "c", err, sizeof err), 0);
  assert_int_equal(heed_link_open(&q.b, q.burl, 0, "d", err, sizeof err), 0);
  assert_true(until_success(add_peer_op, &q) >= 1);
  heed_link_close(q.a);
  heed_link_close(q.b);
  assert_int_equal(heed_link_add_peer(p.a, 1, p.burl, 0, err, sizeof err), 0);
  /* every send that failed sent nothing; the one that worked arrives
   * whole, and receiving it may fail for memory too */
  int failed = until_success(send_op, &p);
  assert_true(failed >= 1);
  heed_frame f = {0};
  heed_wire_expect ex = {0, 1, 42, 1, 1};
  int rv;
  for (long n = 0;; n++) {
    heed__alloc_fail_after(n);
    rv = heed_link_recv(p.b, &f, &ex, 5000);
    heed__alloc_fail_after(-1);
    if (rv != HEED_ENOMEM)
      break;
    /* the frame is gone with the failure: send it again */
    assert_int_equal(send_op(&p), 0);
  }
  assert_int_equal(rv, 0);
  assert_int_equal(f.nmsgs, 1);
  assert_int_equal(f.msgs[0].m.nfloats, NFL);
  assert_memory_equal(f.msgs[0].m.data, fl, sizeof fl);
  /* nothing else came: the failed sends left no half message behind */
  assert_int_equal(heed_link_recv(p.b, &f, &ex, 200), HEED_ETIMEDOUT);
  heed_frame_free(&f);
  heed_link_close(p.a);
  heed_link_close(p.b);
  char path[128];
  snprintf(path, sizeof path, "%s/a", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/b", dir);
  unlink(path);
  for (const char *c = "xcd"; *c; c++) {
    snprintf(path, sizeof path, "%s/%c", dir, *c);
    unlink(path);
  }
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_oom),
      cmocka_unit_test(test_decode_oom),
      cmocka_unit_test(test_config_oom),
      cmocka_unit_test(test_link_oom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
