/*
 * wire_test.c - the frame codec: round trips bit for bit, every truncation
 * point, garbage, other versions, runs and receivers, oversized frames,
 * hostile lengths, the run config, and frames msgpack-c reads as valid
 * MessagePack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "heed/error.h"
#include "transport/wire.h"

static const heed_frame_hdr HDR = {HEED_WIRE_VERSION, 0x1234567890abcdefull,
                                   0, 2, 77};

/* A frame of a FORWARD (with floats), a DONE and a PING. */
static void sample(heed_wbuf *b, float *fl, size_t nfl) {
  for (size_t i = 0; i < nfl; i++)
    fl[i] = (float)i * 0.25f - 3.0f;
  fl[1] = -0.0f;
  heed_frame_msg m[3];
  memset(m, 0, sizeof m);
  m[0].m = (heed_wire_msg){.kind = HEED_WIRE_FORWARD, .layer = 2,
                           .batch = 300, .word = 1ull << 40, .mode = 1,
                           .count = 3, .stride = 8, .rows = 2, .ldc = 0,
                           .data = fl, .nfloats = nfl};
  m[1].m = (heed_wire_msg){.kind = HEED_WIRE_DONE, .batch = 300, .word = 70};
  m[2].m = (heed_wire_msg){.kind = HEED_SESS_PING, .word = 5};
  m[2].bytes = (const uint8_t *)"hi";
  m[2].nbytes = 2;
  assert_int_equal(heed_wire_frame(b, &HDR, m, 3), 0);
}

static void round_trip(void **state) {
  (void)state;
  heed_wbuf b = {0};
  float fl[16];
  sample(&b, fl, 16);
  heed_frame f = {0};
  char why[256];
  heed_wire_expect ex = {0, 1, HDR.run_id, 1, 2};
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, &ex, why, sizeof why), 0);
  assert_int_equal(f.h.version, HEED_WIRE_VERSION);
  assert_true(f.h.run_id == HDR.run_id);
  assert_int_equal(f.h.from, 0);
  assert_int_equal(f.h.to, 2);
  assert_int_equal(f.h.seq, 77);
  assert_int_equal(f.nmsgs, 3);
  heed_wire_msg *m = &f.msgs[0].m;
  assert_int_equal(m->kind, HEED_WIRE_FORWARD);
  assert_int_equal(m->layer, 2);
  assert_int_equal(m->batch, 300);
  assert_true(m->word == 1ull << 40);
  assert_int_equal(m->mode, 1);
  assert_int_equal(m->count, 3);
  assert_int_equal(m->stride, 8);
  assert_int_equal(m->rows, 2);
  assert_int_equal(m->nfloats, 16);
  assert_memory_equal(m->data, fl, sizeof fl); /* bitwise, -0.0 too */
  assert_int_equal((uintptr_t)m->data % sizeof(float), 0);
  assert_int_equal(f.msgs[1].m.kind, HEED_WIRE_DONE);
  assert_int_equal(f.msgs[1].m.word, 70);
  assert_null(f.msgs[1].m.data);
  assert_int_equal(f.msgs[2].m.kind, HEED_SESS_PING);
  assert_int_equal(f.msgs[2].m.word, 5);
  assert_int_equal(f.msgs[2].nbytes, 2);
  assert_memory_equal(f.msgs[2].bytes, "hi", 2);
  /* Big values take every integer width. */
  heed_frame_msg big = {0};
  big.m = (heed_wire_msg){.kind = HEED_WIRE_CONTROL, .layer = 65,
                          .batch = UINT64_MAX, .word = 65536,
                          .mode = UINT32_MAX, .count = 200, .ldc = 256};
  heed_frame_hdr h2 = HDR;
  h2.seq = UINT64_MAX;
  heed_wbuf b2 = {0};
  assert_int_equal(heed_wire_frame(&b2, &h2, &big, 1), 0);
  assert_int_equal(heed_wire_decode(&f, b2.p, b2.len, NULL, why, sizeof why),
                   0);
  assert_true(f.msgs[0].m.batch == UINT64_MAX);
  assert_true(f.h.seq == UINT64_MAX);
  assert_int_equal(f.msgs[0].m.mode, UINT32_MAX);
  assert_int_equal(f.msgs[0].m.ldc, 256);
  heed_wbuf_free(&b2);
  heed_wbuf_free(&b);
  heed_frame_free(&f);
}

/* Every proper prefix is refused, none crashes, none reads past the end
 * (each prefix is copied into an exact-size allocation for ASan). */
static void every_truncation(void **state) {
  (void)state;
  heed_wbuf b = {0};
  float fl[16];
  sample(&b, fl, 16);
  heed_frame f = {0};
  char why[256];
  for (size_t n = 0; n < b.len; n++) {
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, b.p, n);
    int rv = heed_wire_decode(&f, n ? p : NULL, n, NULL, why, sizeof why);
    assert_true(rv == HEED_ETRUNC || rv == HEED_EFORMAT);
    if (n > 8) /* past the magic, a cut is reported as one */
      assert_int_equal(rv, HEED_ETRUNC);
    assert_true(why[0] != 0);
    free(p);
  }
  heed_wbuf_free(&b);
  heed_frame_free(&f);
}

static void garbage(void **state) {
  (void)state;
  heed_frame f = {0};
  char why[256];
  const char *texts[] = {"garbage", "\x97\xa4heex\x01",
                         "\x96\xa4heed\x01", "\x97\x01\x02\x03"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int rv = heed_wire_decode(&f, (const uint8_t *)texts[i], strlen(texts[i]),
                              NULL, why, sizeof why);
    assert_int_equal(rv, HEED_EFORMAT);
    assert_non_null(strstr(why, "garbage"));
  }
  /* Trailing bytes, an unknown kind, a wrong field count, float data that
   * is not whole floats. */
  heed_wbuf b = {0};
  float fl[16];
  sample(&b, fl, 16);
  uint8_t *p = malloc(b.len + 1);
  memcpy(p, b.p, b.len);
  p[b.len] = 0xc0;
  assert_int_equal(heed_wire_decode(&f, p, b.len + 1, NULL, why, sizeof why),
                   HEED_EFORMAT);
  free(p);
  heed_wbuf_free(&b);
  uint8_t hdr[HEED_WIRE_HDR_MAX];
  size_t hl = heed_wire_header(hdr, &HDR, 1);
  uint8_t buf[128];
  memcpy(buf, hdr, hl);
  const uint8_t unknown[] = {0x93, 99, 0, 0xc4, 0};
  memcpy(buf + hl, unknown, sizeof unknown);
  assert_int_equal(heed_wire_decode(&f, buf, hl + sizeof unknown, NULL, why,
                                    sizeof why), HEED_EFORMAT);
  const uint8_t short_fwd[] = {0x93, 1, 0, 0xc4, 0};
  memcpy(buf + hl, short_fwd, sizeof short_fwd);
  assert_int_equal(heed_wire_decode(&f, buf, hl + sizeof short_fwd, NULL, why,
                                    sizeof why), HEED_EFORMAT);
  const uint8_t odd[] = {0x9a, 4, 0, 0, 1, 0, 0, 0, 0, 0, 0xc4, 3, 1, 2, 3};
  memcpy(buf + hl, odd, sizeof odd);
  assert_int_equal(heed_wire_decode(&f, buf, hl + sizeof odd, NULL, why,
                                    sizeof why), HEED_EFORMAT);
  /* A block whose rows * stride overruns its floats. */
  const uint8_t over[] = {0x9a, 1, 1, 0, 0, 1, 1, 8, 2, 0, 0xc4, 4, 0, 0, 0, 0};
  memcpy(buf + hl, over, sizeof over);
  assert_int_equal(heed_wire_decode(&f, buf, hl + sizeof over, NULL, why,
                                    sizeof why), HEED_ERANGE);
  heed_frame_free(&f);
}

/* Lengths from the wire are checked before use: a huge message count or
 * bin length in a small frame is truncation, not an allocation. */
static void hostile_lengths(void **state) {
  (void)state;
  heed_frame f = {0};
  char why[256];
  uint8_t hdr[HEED_WIRE_HDR_MAX];
  size_t hl = heed_wire_header(hdr, &HDR, 0xffffffffu);
  assert_int_equal(heed_wire_decode(&f, hdr, hl, NULL, why, sizeof why),
                   HEED_ETRUNC);
  assert_true(f.mcap < 1000);
  hl = heed_wire_header(hdr, &HDR, 1);
  uint8_t buf[128];
  memcpy(buf, hdr, hl);
  const uint8_t bigbin[] = {0x9a, 1, 1, 0, 0, 1, 1, 8, 1, 0,
                            0xc6, 0xff, 0xff, 0xff, 0xf0, 0, 0};
  memcpy(buf + hl, bigbin, sizeof bigbin);
  assert_int_equal(heed_wire_decode(&f, buf, hl + sizeof bigbin, NULL, why,
                                    sizeof why), HEED_ETRUNC);
  heed_frame_free(&f);
}

static void version_run_receiver(void **state) {
  (void)state;
  heed_frame f = {0};
  char why[256];
  heed_wbuf b = {0};
  heed_frame_hdr h = HDR;
  h.version = HEED_WIRE_VERSION + 1;
  heed_frame_msg m = {0};
  m.m.kind = HEED_SESS_STOP;
  assert_int_equal(heed_wire_frame(&b, &h, &m, 1), 0);
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, NULL, why, sizeof why),
                   HEED_EVERSION);
  char want[32];
  snprintf(want, sizeof want, "version %d", HEED_WIRE_VERSION + 1);
  assert_non_null(strstr(why, want));
  b.len = 0;
  assert_int_equal(heed_wire_frame(&b, &HDR, &m, 1), 0);
  heed_wire_expect ex = {0, 1, 42, 0, 0};
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, &ex, why, sizeof why),
                   HEED_EPROTO);
  assert_non_null(strstr(why, "run"));
  ex = (heed_wire_expect){0, 1, HDR.run_id, 1, 3};
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, &ex, why, sizeof why),
                   HEED_EPROTO);
  assert_non_null(strstr(why, "process 3"));
  ex.to = 2;
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, &ex, why, sizeof why), 0);
  heed_wbuf_free(&b);
  heed_frame_free(&f);
}

static void oversized(void **state) {
  (void)state;
  heed_frame f = {0};
  char why[256];
  heed_wbuf b = {0};
  size_t nfl = 1000;
  float *fl = calloc(nfl, sizeof *fl);
  heed_frame_msg m = {0};
  m.m = (heed_wire_msg){.kind = HEED_WIRE_PARAMS, .layer = 1, .data = fl,
                        .nfloats = nfl};
  assert_int_equal(heed_wire_frame(&b, &HDR, &m, 1), 0);
  heed_wire_expect ex = {.max_frame = 2048};
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, &ex, why, sizeof why),
                   HEED_ERANGE);
  assert_non_null(strstr(why, "oversized"));
  ex.max_frame = b.len;
  assert_int_equal(heed_wire_decode(&f, b.p, b.len, &ex, why, sizeof why), 0);
  assert_int_equal(f.msgs[0].m.nfloats, nfl);
  free(fl);
  heed_wbuf_free(&b);
  heed_frame_free(&f);
}

static void config(void **state) {
  (void)state;
  heed_run_config *c = calloc(1, sizeof *c), *d = calloc(1, sizeof *d);
  c->run_id = 99;
  c->seed = 7;
  c->max_frame = 1 << 20;
  c->nprocs = 3;
  c->self = 2;
  c->threads = 2;
  c->max_batch = 1000;
  c->lr = 0.05f;
  c->nsizes = 4;
  uint32_t sz[] = {784, 256, 256, 10};
  memcpy(c->sizes, sz, sizeof sz);
  c->acts[0] = c->acts[1] = 1;
  c->layer_proc[0] = 1;
  c->layer_proc[1] = c->layer_proc[2] = 2;
  strcpy(c->strategy, "retain:lambda=2");
  strcpy(c->urls[0], "ipc:///tmp/x/c0");
  strcpy(c->urls[1], "tcp://127.0.0.1:5601");
  strcpy(c->urls[2], "tcp://10.0.0.3:5601");
  c->nplugins = 1;
  strcpy(c->plugins[0], "/opt/p.so");
  c->nassign = 2;
  c->assign[0] = (heed_wire_assign){2, 0, 0, "guard:c=0.01"};
  c->assign[1] = (heed_wire_assign){1, 250, 6, "sparse:q=0.5"};
  heed_wbuf b = {0};
  assert_int_equal(heed_wire_config_encode(&b, c), 0);
  char why[256];
  assert_int_equal(heed_wire_config_decode(d, b.p, b.len, why, sizeof why), 0);
  assert_memory_equal(c, d, sizeof *c);
  for (size_t n = 0; n < b.len; n++)
    assert_int_not_equal(heed_wire_config_decode(d, b.p, n, why, sizeof why),
                         0);
  /* A placement naming a process that is not in the run. */
  c->layer_proc[2] = 3;
  b.len = 0;
  assert_int_equal(heed_wire_config_encode(&b, c), 0);
  assert_int_equal(heed_wire_config_decode(d, b.p, b.len, why, sizeof why),
                   HEED_ERANGE);
  c->layer_proc[2] = 2;
  /* Assignments name neurons the net has: a range past its layer, layer
   * 0 (the input) and a "whole layer" that starts inside it are refused. */
  static const heed_wire_assign bad[] = {
      {1, 250, 7, "bp"}, {0, 0, 0, "bp"}, {3, 2, 0, "bp"}, {4, 0, 0, "bp"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    heed_wire_assign keep = c->assign[1];
    c->assign[1] = bad[i];
    b.len = 0;
    assert_int_equal(heed_wire_config_encode(&b, c), 0);
    assert_int_equal(heed_wire_config_decode(d, b.p, b.len, why, sizeof why),
                     HEED_ERANGE);
    assert_non_null(strstr(why, "assignment"));
    c->assign[1] = keep;
  }
  /* Sliced placement: shares of every layer round-trip; shares that do
   * not add up to a layer's size are refused. */
  uint32_t sh[9] = {0, 128, 128, 0, 128, 128, 0, 5, 5};
  c->nshare = 9;
  memcpy(c->share, sh, sizeof sh);
  b.len = 0;
  assert_int_equal(heed_wire_config_encode(&b, c), 0);
  assert_int_equal(heed_wire_config_decode(d, b.p, b.len, why, sizeof why), 0);
  assert_memory_equal(c, d, sizeof *c);
  c->share[4] = 127;
  b.len = 0;
  assert_int_equal(heed_wire_config_encode(&b, c), 0);
  assert_int_equal(heed_wire_config_decode(d, b.p, b.len, why, sizeof why),
                   HEED_ERANGE);
  assert_non_null(strstr(why, "slices of layer 2"));
  c->share[4] = 300; /* past the layer's size */
  b.len = 0;
  assert_int_equal(heed_wire_config_encode(&b, c), 0);
  assert_int_not_equal(heed_wire_config_decode(d, b.p, b.len, why,
                                               sizeof why), 0);
  c->nshare = 4; /* not one per layer and process */
  b.len = 0;
  assert_int_equal(heed_wire_config_encode(&b, c), HEED_EINVAL);
  heed_wbuf_free(&b);
  free(c);
  free(d);
}

/* msgpack-c reads a frame as one well-formed object of the documented
 * shape: this is MessagePack, not a look-alike. */
static void msgpack_c_agrees(void **state) {
  (void)state;
  heed_wbuf b = {0};
  float fl[16];
  sample(&b, fl, 16);
  msgpack_zone z;
  msgpack_zone_init(&z, 2048);
  msgpack_object o;
  size_t off = 0;
  assert_int_equal(msgpack_unpack((const char *)b.p, b.len, &off, &z, &o),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, b.len);
  assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(o.via.array.size, 7);
  assert_int_equal(o.via.array.ptr[0].type, MSGPACK_OBJECT_STR);
  assert_memory_equal(o.via.array.ptr[0].via.str.ptr, "heed", 4);
  assert_true(o.via.array.ptr[2].via.u64 == HDR.run_id);
  msgpack_object msgs = o.via.array.ptr[6];
  assert_int_equal(msgs.via.array.size, 3);
  msgpack_object fwd = msgs.via.array.ptr[0];
  assert_int_equal(fwd.via.array.size, 10);
  assert_int_equal(fwd.via.array.ptr[9].type, MSGPACK_OBJECT_BIN);
  assert_int_equal(fwd.via.array.ptr[9].via.bin.size, sizeof fl);
  msgpack_zone_destroy(&z);
  heed_wbuf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(every_truncation),
      cmocka_unit_test(garbage),
      cmocka_unit_test(hostile_lengths),
      cmocka_unit_test(version_run_receiver),
      cmocka_unit_test(oversized),
      cmocka_unit_test(config),
      cmocka_unit_test(msgpack_c_agrees),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
