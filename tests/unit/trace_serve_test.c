/* trace_serve_test.c - the observer's server (heed_trace_server): its
 * state after real and hostile records, read over HTTP as the page reads
 * it, its page, and bounded work for records from any bytes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "heed/trace.h"

/* GET url; the body (malloc'd, NUL-terminated) and the status. */
static char *get(const char *url, int *status) {
  nng_url *u;
  nng_http_client *cli;
  nng_http_req *req;
  nng_http_res *res;
  nng_aio *aio;
  assert_int_equal(nng_url_parse(&u, url), 0);
  assert_int_equal(nng_http_client_alloc(&cli, u), 0);
  assert_int_equal(nng_http_req_alloc(&req, u), 0);
  assert_int_equal(nng_http_res_alloc(&res), 0);
  assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
  nng_aio_set_timeout(aio, 10000);
  nng_http_client_transact(cli, req, res, aio);
  nng_aio_wait(aio);
  assert_int_equal(nng_aio_result(aio), 0);
  *status = nng_http_res_get_status(res);
  void *d;
  size_t n;
  nng_http_res_get_data(res, &d, &n);
  char *body = malloc(n + 1);
  assert_non_null(body);
  memcpy(body, d, n);
  body[n] = '\0';
  nng_aio_free(aio);
  nng_http_res_free(res);
  nng_http_req_free(req);
  nng_http_client_free(cli);
  nng_url_free(u);
  return body;
}

static char *state(heed_trace_server *s) {
  char url[200];
  snprintf(url, sizeof url, "%sstate.json", heed_trace_server_url(s));
  int st;
  char *b = get(url, &st);
  assert_int_equal(st, 200);
  size_t n = strlen(b);
  assert_true(n > 2 && b[0] == '{' && b[n - 1] == '}');
  return b;
}

/* The number after "key": in the JSON text. */
static double num(const char *json, const char *key) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *p = strstr(json, k);
  assert_non_null(p);
  return strtod(p + strlen(k), NULL);
}

static heed_trace_rec bid(uint64_t t, uint64_t batch, uint32_t layer,
                          uint32_t j, double att) {
  heed_trace_rec r;
  memset(&r, 0, sizeof r);
  r.kind = HEED_TRACE_BID;
  r.t_ns = t;
  r.batch = batch;
  r.sender = (heed_trace_who){HEED_ROLE_HUB, layer + 1, HEED_TRACE_ALL_NEURONS};
  r.receiver = (heed_trace_who){HEED_ROLE_NEURON, layer, j};
  r.fanout = 4;
  r.count = 8;
  r.mean_abs = att;
  return r;
}

static void test_state(void **st) {
  (void)st;
  heed_trace_server *s;
  char err[256];
  assert_int_equal(heed_trace_server_new(&s, "127.0.0.1:0", "unit \"test\"",
                                         1, err, sizeof err), 0);
  assert_true(strncmp(heed_trace_server_url(s), "http://127.0.0.1:", 17) == 0);
  heed_trace_rec h;
  memset(&h, 0, sizeof h);
  h.run = 9;
  h.sample = 1;
  h.config = "heed train </script>";
  heed_trace_server_add(s, &h);
  for (uint64_t b = 0; b < 10; b++) {
    for (uint32_t j = 0; j < 4; j++) {
      heed_trace_rec r = bid(b * 1000000, b, 1, j, 0.1 * (j + 1));
      heed_trace_server_add(s, &r);
    }
    heed_trace_rec m;
    memset(&m, 0, sizeof m);
    m.kind = HEED_TRACE_METRIC;
    m.t_ns = b * 1000000 + 500;
    m.batch = b + 1;
    m.loss = 2.0 / (b + 1);
    m.acc = 0.5;
    m.count = 32;
    heed_trace_server_add(s, &m);
  }
  heed_trace_rec mk;
  memset(&mk, 0, sizeof mk);
  mk.kind = HEED_TRACE_MARK;
  mk.batch = 5;
  mk.mark = "task";
  mk.value = 2;
  heed_trace_server_add(s, &mk);
  const uint64_t lp[2][4] = {{100, 40, 3, 9}, {50, 20, 0, 2}};
  heed_trace_rec lr;
  memset(&lr, 0, sizeof lr);
  lr.kind = HEED_TRACE_LOOPS;
  lr.t_ns = 2000000;
  lr.nloops = 2;
  lr.loops = lp;
  heed_trace_server_add(s, &lr);
  char *j = state(s);
  assert_non_null(strstr(j, "\"rt_loops\":[{\"turns\":["));
  assert_non_null(strstr(j, "\"queued\":[3],\"peak\":[9]}"));
  assert_true(num(j, "run") == 9);
  assert_true(num(j, "records") == 53); /* header, 40 bids, 10 metrics,
                                           a mark, a loops record */
  assert_true(num(j, "events") == 40);
  assert_true(num(j, "metrics") == 10);
  assert_true(num(j, "step") == 10);
  assert_true(fabs(num(j, "loss_last") - 0.2) < 1e-9);
  assert_non_null(strstr(j, "\"done\":false"));
  /* outside text is escaped, also for the page's HTML */
  assert_non_null(strstr(j, "\"source\":\"unit \\\"test\\\"\""));
  assert_null(strstr(j, "</script>"));
  /* layer 1's most attended neuron first */
  assert_non_null(strstr(j, "\"layer\":1,\"neurons\":4,\"top\":[3,2,1,0]"));
  assert_non_null(strstr(j, "\"name\":\"task\""));
  free(j);
  /* the last drops record of process 0 ends the run */
  heed_trace_rec d;
  memset(&d, 0, sizeof d);
  d.kind = HEED_TRACE_DROPS;
  d.recorded = 40;
  d.end = 1;
  heed_trace_server_add(s, &d);
  j = state(s);
  assert_non_null(strstr(j, "\"done\":true"));
  free(j);
  /* the page itself */
  int status;
  j = get(heed_trace_server_url(s), &status);
  assert_int_equal(status, 200);
  assert_non_null(strstr(j, "heed observer"));
  assert_non_null(strstr(j, "state.json"));
  assert_null(strstr(j, "http://")); /* nothing fetched from elsewhere */
  free(j);
  heed_trace_server_free(s);
}

/* Records no heed writes, and times as far as they go: counted or kept
 * within bounds, never a crash or a table grown by what they claim. */
static void test_hostile(void **st) {
  (void)st;
  heed_trace_server *s;
  char err[256];
  assert_int_equal(heed_trace_server_new(&s, "0", "hostile", 1, err,
                                         sizeof err), 0);
  heed_trace_rec r = bid(UINT64_MAX, 1, 1, 5, 1);
  heed_trace_server_add(s, &r); /* the last moment: buckets merge */
  r = bid(0, 2, 1, (1u << 24) - 1, 1); /* an index past the heat map */
  heed_trace_server_add(s, &r);
  r = bid(0, 3, 64, 1, 1); /* a layer past the heat maps */
  heed_trace_server_add(s, &r);
  r = bid(0, 4, 1, 2, NAN); /* a diverging run */
  heed_trace_server_add(s, &r);
  r = bid(5, 5, 1, 1, 1);
  r.loop = 1000000; /* a loop past the table */
  heed_trace_server_add(s, &r);
  r.kind = 3; /* two kinds: not a record */
  heed_trace_server_add(s, &r);
  r = bid(0, 6, 1, 1, 1);
  r.receiver.layer = 66; /* beyond any heed network: refused */
  heed_trace_server_add(s, &r);
  r = bid(0, 6, 1, 1, 1);
  r.proc = 64;
  heed_trace_server_add(s, &r);
  heed_trace_server_sink(s, "\xc1garbage", 8); /* not msgpack */
  heed_trace_server_sink(s, NULL, 0);
  heed_trace_server_add(s, NULL);
  char *j = state(s);
  assert_true(num(j, "bad") == 4);
  assert_true(num(j, "events") == 5);
  assert_true(num(j, "nb") <= 240);
  assert_null(strstr(j, "nan"));
  assert_null(strstr(j, "inf"));
  free(j);
  heed_trace_server_free(s);
  heed_trace_server_free(NULL);
  /* an address that is not one */
  assert_int_equal(heed_trace_server_new(&s, "tcp://127.0.0.1:1", "x", 0, err,
                                         sizeof err), HEED_EINVAL);
  assert_non_null(strstr(err, "not an address"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state),
      cmocka_unit_test(test_hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
