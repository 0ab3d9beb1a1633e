/*
 * bench_trace.c - `heed bench trace`: what recording costs. Trains
 * 784-256-256-10 (relu, batch 32) on generated data without a tracer, with
 * 1% of the batches sampled, with every message recorded to a file in
 * a temporary folder, and with the observer (heed train --observe: the
 * page's server fed by the tracer, and one client fetching its state every
 * second as the page in a browser does) at 1% and at every message; the
 * cases take turns within each of 5 rounds (the machine is shared and
 * noisy) and the medians are compared with the untraced one. Drops (a
 * writer that could not keep up) are reported.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "heed/heed.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <time.h>

static const uint32_t sizes[4] = {784, 256, 256, 10};
#define NCASES 5

typedef struct tcase {
  const char *name;
  double sample; /* 0: no tracer */
  int observe;   /* the observer instead of a file */
  double sps[16];
  uint64_t recorded, dropped, bytes, gets;
  double drain_s;
} tcase;

/* A browser's page, as far as the server can tell: GET /state.json every
 * second until told to stop. */
typedef struct poller {
  char url[160];
  _Atomic int stop;
  uint64_t gets, bytes;
  pthread_t th;
} poller;

static void *poll_main(void *arg) {
  poller *p = arg;
  nng_url *u = NULL;
  nng_http_client *cli = NULL;
  nng_aio *aio = NULL;
  if (nng_url_parse(&u, p->url) || nng_http_client_alloc(&cli, u) ||
      nng_aio_alloc(&aio, NULL, NULL))
    goto out;
  while (!atomic_load(&p->stop)) {
    nng_http_req *req = NULL;
    nng_http_res *res = NULL;
    if (nng_http_req_alloc(&req, u) == 0 && nng_http_res_alloc(&res) == 0) {
      nng_http_client_transact(cli, req, res, aio);
      nng_aio_wait(aio);
      if (nng_aio_result(aio) == 0 && nng_http_res_get_status(res) == 200) {
        void *d;
        size_t n;
        nng_http_res_get_data(res, &d, &n);
        p->gets++;
        p->bytes += n;
      }
    }
    nng_http_req_free(req);
    nng_http_res_free(res);
    for (int i = 0; i < 100 && !atomic_load(&p->stop); i++) {
      struct timespec ts = {0, 10000000};
      nanosleep(&ts, NULL);
    }
  }
out:
  nng_aio_free(aio);
  nng_http_client_free(cli);
  nng_url_free(u);
  return NULL;
}

/* One training run; returns samples/s or a negative value on error. */
static double run_once(tcase *tc, const char *path, const float *x,
                       const uint8_t *y, uint32_t batch, uint32_t steps,
                       unsigned threads) {
  heed_runtime *rt = NULL;
  heed_net *net = NULL;
  heed_trace *tr = NULL;
  heed_trace_server *srv = NULL;
  poller pl;
  int polling = 0;
  heed_runtime_opts ro = {.threads = threads, .mailbox_limit = 4096};
  heed_net_opts no = {.nsizes = 4, .sizes = sizes, .seed = 1, .lr = 0.05f,
                      .max_batch = batch};
  char err[512];
  double sps = -1;
  int rv;
  if ((rv = heed_runtime_new(&rt, &ro)) != 0 ||
      (rv = heed_runtime_start(rt)) != 0 ||
      (rv = heed_net_new(&net, rt, &no)) != 0) {
    fprintf(stderr, "heed bench trace: %s\n", heed_strerror(rv));
    goto out;
  }
  if (tc->observe) {
    if (heed_trace_server_new(&srv, "127.0.0.1:0", "bench", 1, err,
                              sizeof err) != 0) {
      fprintf(stderr, "heed bench trace: %s\n", err);
      goto out;
    }
    memset(&pl, 0, sizeof pl);
    snprintf(pl.url, sizeof pl.url, "%sstate.json",
             heed_trace_server_url(srv));
    polling = pthread_create(&pl.th, NULL, poll_main, &pl) == 0;
  }
  if (tc->sample > 0) {
    heed_trace_opts to = {.path = tc->observe ? NULL : path,
                          .sample = tc->sample, .run = 1};
    if (tc->observe) {
      to.watch = heed_trace_server_watch;
      to.watch_arg = srv;
    }
    if (heed_trace_new(&tr, &to, err, sizeof err) != 0) {
      fprintf(stderr, "heed bench trace: %s\n", err);
      goto out;
    }
    heed_net_set_trace(net, tr);
  }
  double t0 = heed__now();
  for (uint32_t s = 0; s < steps && rv == 0; s++)
    rv = heed_net_train_batch(net, x + (size_t)s * batch * 784,
                              y + (size_t)s * batch, batch, NULL);
  if (rv == 0)
    rv = heed_net_sync(net);
  double secs = heed__now() - t0;
  if (rv) {
    fprintf(stderr, "heed bench trace: training failed: %s\n",
                heed_strerror(rv));
    goto out;
  }
  sps = (double)batch * steps / secs;
  if (tr) {
    heed_net_set_trace(net, NULL);
    heed_trace_stats st;
    heed_trace_stats_get(tr, &st);
    double d0 = heed__now();
    heed_trace_free(tr);
    tr = NULL;
    tc->drain_s += heed__now() - d0;
    tc->recorded += st.recorded;
    tc->dropped += st.dropped;
    FILE *f = fopen(path, "rb");
    if (f) {
      fseek(f, 0, SEEK_END);
      tc->bytes += (uint64_t)ftell(f);
      fclose(f);
    }
    remove(path);
  }
out:
  if (tr) {
    heed_net_set_trace(net, NULL);
    heed_trace_free(tr);
  }
  if (polling) {
    atomic_store(&pl.stop, 1);
    pthread_join(pl.th, NULL);
    tc->gets += pl.gets;
  }
  heed_trace_server_free(srv);
  heed_net_free(net);
  heed_runtime_free(rt);
  return sps;
}

int heed_cmd_bench_trace(int argc, char **argv) {
  uint32_t batch = 32, steps = 200;
  int runs = 5, json = 0;
  unsigned threads = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--quick"))
      steps = 40, runs = 3;
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc &&
             atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 64)
      threads = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: heed bench trace [--json] [--quick] [--threads N]\n\n"
             "Trains 784-256-256-10 (relu, batch 32, 200 steps) on generated "
             "data without a\ntracer, with --trace-sample 0.01 and with every "
             "message traced to a file in a\ntemporary folder, and with the "
             "observer (its page's server, polled every\nsecond as by a "
             "browser) at 0.01 and at every message; prints "
             "samples/s (median of 5 rounds), the ratio to the\nuntraced "
             "run, and what the tracer recorded and dropped.\n");
      return 0;
    } else {
      fprintf(stderr, "heed bench trace: unknown option '%s' (see --help)\n",
              argv[i]);
      return 2;
    }
  }
  char dir[] = "/tmp/heed-bench-trace-XXXXXX", path[64];
  if (!mkdtemp(dir)) {
    fprintf(stderr, "heed bench trace: cannot make a temporary folder\n");
    return 1;
  }
  snprintf(path, sizeof path, "%s/run.trace", dir);
  size_t nsamp = (size_t)batch * steps;
  float *x = malloc(nsamp * 784 * sizeof(float));
  uint8_t *y = malloc(nsamp);
  int rc = 0;
  if (!x || !y) {
    fprintf(stderr, "heed bench trace: out of memory\n");
    rc = 1;
    goto out;
  }
  heed_rng r;
  heed_rng_seed(&r, 3);
  for (size_t i = 0; i < nsamp * 784; i++)
    x[i] = (float)heed_rng_uniform(&r);
  for (size_t i = 0; i < nsamp; i++)
    y[i] = (uint8_t)heed_rng_below(&r, 10);

  tcase cases[NCASES] = {{.name = "untraced", .sample = 0},
                         {.name = "sample-0.01", .sample = 0.01},
                         {.name = "full", .sample = 1},
                         {.name = "observe-0.01", .sample = 0.01,
                          .observe = 1},
                         {.name = "observe-full", .sample = 1, .observe = 1}};
  /* Round -1 warms the machine up and is not counted: the first case of
   * the first round ran slower than the others here, whichever it was. */
  tcase warm[NCASES];
  memcpy(warm, cases, sizeof warm);
  for (int run = -1; run < runs; run++)
    for (int c = 0; c < NCASES; c++) {
      tcase *tc = run < 0 ? &warm[c] : &cases[c];
      double sps = run_once(tc, path, x, y, batch, steps, threads);
      if (sps < 0) {
        rc = 1;
        goto out;
      }
      if (run >= 0)
        cases[c].sps[run] = sps;
    }
  double base = heed__median(cases[0].sps, runs);
  for (int c = 0; c < NCASES; c++) {
    tcase *t = &cases[c];
    double m = c ? heed__median(t->sps, runs) : base;
    if (json)
      printf("{\"case\":\"%s\",\"threads\":%u,\"batch\":%u,"
             "\"samples_per_s\":%.0f,\"ratio_vs_untraced\":%.3f,"
             "\"recorded_per_run\":%.0f,\"dropped_per_run\":%.0f,"
             "\"bytes_per_run\":%.0f,\"drain_s_per_run\":%.4f,"
             "\"page_gets\":%llu}\n",
             t->name, threads, batch, m, m / base,
             (double)t->recorded / runs, (double)t->dropped / runs,
             (double)t->bytes / runs, t->drain_s / runs,
             (unsigned long long)t->gets);
    else
      printf("%-12s threads %u  %9.0f samples/s  %6.1f%% of untraced"
             "  recorded %9.0f  dropped %9.0f  %7.1f MB  drain %.3f s%s\n",
             t->name, threads, m, 100 * m / base,
             (double)t->recorded / runs, (double)t->dropped / runs,
             (double)t->bytes / runs / 1e6, t->drain_s / runs,
             t->observe ? (t->gets ? "  page polled" : "  page NOT polled")
                        : "");
  }
out:
  free(x);
  free(y);
  rmdir(dir);
  return rc;
}
