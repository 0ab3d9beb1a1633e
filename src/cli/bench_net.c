/*
 * bench_net.c - `heed bench net`: training speed of a society of neuron
 * actors beside the same arithmetic as plain loops in this process.
 *
 * The baseline calls the very kernels the neurons call, layer by layer,
 * in cohorts of HEED_COHORT neurons, with no actors, messages or hubs, so the ratio is the cost of the actor
 * machinery itself. Medians of 5 runs (--runs); the machine is shared and
 * noisy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "common/alloc.h"
#include "heed/heed.h"
#include "net/kernels.h"

#define NL 3
/* 784-H1-H2-10; the hidden widths come from --hidden (default 256,256).
 * Set once while parsing arguments, before anything reads them. */
static uint32_t sizes[NL + 1] = {784, 256, 256, 10};

/* Plain-loop SGD for 784-H1-H2-10 relu with softmax cross-entropy. */
typedef struct plain {
  float *w[NL], *b[NL], *a[NL + 1], *at[NL], *z[NL], *d[NL + 1], *dw;
  uint32_t S;
} plain;

static void plain_init(plain *p, uint32_t B) {
  heed_rng r;
  heed_rng_seed(&r, 1);
  p->S = heed__stride(B);
  for (int l = 0; l < NL; l++) {
    size_t n = sizes[l + 1], m = sizes[l];
    p->w[l] = malloc(n * m * sizeof(float));
    p->b[l] = calloc(n, sizeof(float));
    for (size_t i = 0; i < n * m; i++)
      p->w[l][i] = (float)(heed_rng_normal(&r) * 0.05);
    p->z[l] = calloc(n * p->S, sizeof(float));
    p->at[l] = calloc(m * p->S, sizeof(float));
  }
  for (int l = 0; l <= NL; l++) {
    p->a[l] = calloc((size_t)sizes[l] * p->S, sizeof(float));
    p->d[l] = calloc((size_t)sizes[l] * p->S, sizeof(float));
  }
  uint32_t widest = sizes[0];
  for (int l = 1; l < NL; l++)
    widest = sizes[l] > widest ? sizes[l] : widest;
  p->dw = malloc((size_t)HEED_COHORT * widest * sizeof(float));
}

static void plain_free(plain *p) {
  for (int l = 0; l < NL; l++) {
    free(p->w[l]);
    free(p->b[l]);
    free(p->z[l]);
    free(p->at[l]);
  }
  for (int l = 0; l <= NL; l++) {
    free(p->a[l]);
    free(p->d[l]);
  }
  free(p->dw);
}

static void plain_step(plain *p, const heed_kernels *k, const float *x,
                       const uint8_t *y, uint32_t B, float lr) {
  uint32_t S = p->S;
  for (uint32_t i = 0; i < 784; i++)
    for (uint32_t s = 0; s < S; s++)
      p->a[0][i * S + s] = s < B ? x[(size_t)s * 784 + i] : 0.0f;
  for (int l = 0; l < NL; l++) {
    uint32_t n = sizes[l + 1], m = sizes[l], j = 0;
    /* the sample-major copy the gradient kernel reads */
    for (uint32_t i = 0; i < m; i++)
      for (uint32_t s = 0; s < B; s++)
        p->at[l][(size_t)s * m + i] = p->a[l][(size_t)i * S + s];
    if (B <= HEED_NARROW) /* narrow batches: as neurons do, sample by sample */
      for (; j < n; j++)
        for (uint32_t s = 0; s < S; s++)
          p->z[l][(size_t)j * S + s] =
              s < B ? k->dot_in(p->w[l] + (size_t)j * m, m,
                                p->at[l] + (size_t)s * m, 1, p->b[l][j])
                    : p->b[l][j];
    for (; j < n; j += HEED_COHORT) { /* a cohort per pass, as neurons do */
      uint32_t m4 = n - j < HEED_COHORT ? n - j : HEED_COHORT;
      const float *ws[HEED_COHORT];
      float *zs[HEED_COHORT];
      for (uint32_t q = 0; q < m4; q++) {
        ws[q] = p->w[l] + (size_t)(j + q) * m;
        zs[q] = p->z[l] + (size_t)(j + q) * S;
      }
      k->block(ws, m4, 1, m, p->a[l], S, S, p->b[l] + j, zs);
    }
    for (j = 0; j < n; j++) {
      float *z = p->z[l] + (size_t)j * S, *a = p->a[l + 1] + (size_t)j * S;
      for (uint32_t s = 0; s < S; s++)
        a[s] = l + 1 < NL ? (z[s] > 0 ? z[s] : 0) : z[s];
    }
  }
  float *o = p->a[NL], *g = p->d[NL];
  memset(g, 0, 10 * S * sizeof(float));
  for (uint32_t s = 0; s < B; s++) {
    float mx = o[s];
    for (int c = 1; c < 10; c++)
      mx = o[c * S + s] > mx ? o[c * S + s] : mx;
    float sum = 0;
    for (int c = 0; c < 10; c++)
      sum += __builtin_expf(o[c * S + s] - mx);
    for (int c = 0; c < 10; c++)
      g[c * S + s] =
          -(__builtin_expf(o[c * S + s] - mx) / sum - (c == y[s])) / B;
  }
  for (int l = NL - 1; l >= 0; l--) {
    uint32_t n = sizes[l + 1], m = sizes[l];
    float *G = p->d[l + 1];
    for (uint32_t j = 0; j < n; j++) /* g = phi'(z) * beta */
      for (uint32_t s = 0; s < S; s++)
        if (l + 1 < NL && p->z[l][j * S + s] <= 0)
          G[j * S + s] = 0;
    if (l > 0) { /* beta for the layer below, with the weights before update */
      for (uint32_t i = 0; i < m; i += HEED_COHORT) { /* cohorts of inputs */
        uint32_t mi = m - i < HEED_COHORT ? m - i : HEED_COHORT;
        const float *cs[HEED_COHORT];
        float *bs[HEED_COHORT];
        for (uint32_t q = 0; q < mi; q++) {
          cs[q] = p->w[l] + i + q;
          bs[q] = p->d[l] + (size_t)(i + q) * S;
        }
        if (S == 8) /* four chains per sum, one input at a time */
          for (uint32_t q = 0; q < mi; q++)
            k->gather(cs[q], m, G, n, S, bs[q]);
        else
          k->block(cs, mi, m, n, G, S, S, NULL, bs);
      }
    }
    for (uint32_t j = 0; j < n; j += HEED_COHORT) { /* gradients by cohort */
      uint32_t mj = n - j < HEED_COHORT ? n - j : HEED_COHORT;
      const float *gs[HEED_COHORT];
      float *dws[HEED_COHORT];
      for (uint32_t q = 0; q < mj; q++) {
        gs[q] = G + (size_t)(j + q) * S;
        dws[q] = p->dw + (size_t)q * m;
      }
      k->block(gs, mj, 1, B, p->at[l], m, m, NULL, dws);
      for (uint32_t q = 0; q < mj; q++) {
        float gsum = 0;
        k->ascend(p->w[l] + (size_t)(j + q) * m, dws[q], m, lr);
        for (uint32_t s = 0; s < S; s++)
          gsum += gs[q][s];
        p->b[l][j + q] += lr * gsum;
      }
    }
  }
}

/* "A,B": both widths 1..4096, nothing else. */
static int parse_hidden(const char *s) {
  char *end;
  long a = strtol(s, &end, 10);
  if (end == s || *end != ',' || a < 1 || a > 4096)
    return -1;
  const char *t = end + 1;
  long b = strtol(t, &end, 10);
  if (end == t || *end || b < 1 || b > 4096)
    return -1;
  sizes[1] = (uint32_t)a;
  sizes[2] = (uint32_t)b;
  return 0;
}

typedef struct bench_cfg {
  uint32_t batch, steps;
  int runs, json;
  unsigned tlo, thi; /* the thread counts run, tlo..thi */
  int spin_us;       /* heed_runtime_opts.spin_us */
} bench_cfg;

/* Processor seconds of the process so far, every thread (user + system):
 * not stretched by other jobs as the clock is, and it counts what idle
 * loops spend polling. */
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void report(const bench_cfg *c, const char *name, unsigned threads,
                   double sps, double base, double cps) {
  if (c->json)
    printf("{\"case\":\"%s\",\"threads\":%u,\"batch\":%u,"
           "\"hidden\":[%u,%u],\"samples_per_s\":%.0f,"
           "\"samples_per_cpu_s\":%.0f,\"ratio_vs_plain\":%.3f}\n",
           name, threads, c->batch, sizes[1], sizes[2], sps, cps, base / sps);
  else
    printf("%-22s threads %u  %10.0f samples/s  %10.0f per cpu-s   "
           "plain/this %.2fx\n",
           name, threads, sps, cps, base / sps);
}

int heed_cmd_bench_net(int argc, char **argv) {
  bench_cfg c = {32, 200, 5, 0, 1, 2, 0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      c.json = 1;
    else if (!strcmp(argv[i], "--quick"))
      c.steps = 40, c.runs = 3;
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc &&
             atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 100000)
      c.steps = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc &&
             atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 1024)
      c.batch = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--hidden") && i + 1 < argc) {
      if (parse_hidden(argv[++i]) != 0) {
        fprintf(stderr, "heed bench net: --hidden '%s': two widths A,B of "
                        "1..4096\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc &&
             (!strcmp(argv[i + 1], "1") || !strcmp(argv[i + 1], "2")))
      c.tlo = c.thi = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--spin-us") && i + 1 < argc &&
             strspn(argv[i + 1], "0123456789") == strlen(argv[i + 1]) &&
             strlen(argv[i + 1]) > 0 && strlen(argv[i + 1]) <= 7) {
      int u = atoi(argv[++i]);
      c.spin_us = u ? u : -1;
    } else if (!strcmp(argv[i], "--runs") && i + 1 < argc &&
             atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 15)
      c.runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: heed bench net [--json] [--quick] [--batch N] "
             "[--hidden A,B] [--threads N] [--steps N] [--runs N]\n\n"
             "Trains 784-A-B-10 (relu, plain SGD) on generated "
             "data and prints\nsamples/s (median of the runs) for the bp "
             "society of actors with 1 and 2 threads,\nbeside the same "
             "kernels run as plain loops without actors.\n"
             "tools/bench-vs-torch runs it beside PyTorch and a plain C "
             "program.\n\n"
             "  --batch N   samples per step (default 32; 1..1024)\n"
             "  --hidden A,B the hidden widths (default 256,256; 1..4096 "
             "each)\n"
             "  --threads N run the actors on N threads only (1 or 2; "
             "default both)\n"
             "  --steps N   training steps per run (default 200; 1..100000)\n"
             "  --runs N    runs per case, the median is quoted (default 5; "
             "1..15)\n"
             "  --spin-us N how long an idle loop polls before it sleeps "
             "(default 200; 0: at once)\n"
             "  --quick     40 steps, 3 runs\n"
             "  --json      one JSON object\n");
      return 0;
    } else {
      fprintf(stderr, "heed bench net: unknown option '%s' (see --help)\n",
              argv[i]);
      return 2;
    }
  }
  size_t nsamp = (size_t)c.batch * c.steps;
  /* At most 200 distinct batches, cycled: long runs need no more memory. */
  uint32_t nb = c.steps < 200 ? c.steps : 200;
  size_t ngen = (size_t)c.batch * nb;
  float *x = malloc(ngen * 784 * sizeof(float));
  uint8_t *y = malloc(ngen);
  if (!x || !y) {
    fprintf(stderr, "heed bench net: out of memory\n");
    free(x);
    free(y);
    return 1;
  }
  heed_rng r;
  heed_rng_seed(&r, 3);
  for (size_t i = 0; i < ngen * 784; i++)
    x[i] = (float)heed_rng_uniform(&r);
  for (size_t i = 0; i < ngen; i++)
    y[i] = (uint8_t)heed_rng_below(&r, 10);

  const heed_kernels *k = heed__kernels();
  if (!c.json)
    printf("heed bench net: 784-%u-%u-10 relu, batch %u, %u steps per run, "
           "median of %d, kernels %s\n",
           sizes[1], sizes[2], c.batch, c.steps, c.runs, k->name);
  /* The three cases take turns, run by run, so a change in the machine's
   * load hits them alike; each case's figure is its median. */
  double t[3][16], cpu[3][16];
  int rc = 0;
  for (int run = 0; run < c.runs; run++) {
    plain p;
    plain_init(&p, c.batch);
    double t0 = heed__now(), c0 = cpu_seconds();
    for (uint32_t s = 0; s < c.steps; s++)
      plain_step(&p, k, x + (size_t)(s % nb) * c.batch * 784,
                 y + (size_t)(s % nb) * c.batch, c.batch, 0.05f);
    t[0][run] = nsamp / (heed__now() - t0);
    cpu[0][run] = nsamp / (cpu_seconds() - c0);
    plain_free(&p);
    for (unsigned threads = c.tlo; threads <= c.thi; threads++) {
      heed_runtime *rt = NULL;
      heed_net *net = NULL;
      heed_runtime_opts ro = {.threads = threads, .mailbox_limit = 4096,
                              .spin_us = c.spin_us};
      heed_net_opts no = {.nsizes = 4, .sizes = sizes, .seed = 1,
                          .lr = 0.05f, .max_batch = c.batch};
      int rv;
      if ((rv = heed_runtime_new(&rt, &ro)) != 0 ||
          (rv = heed_runtime_start(rt)) != 0 ||
          (rv = heed_net_new(&net, rt, &no)) != 0) {
        fprintf(stderr, "heed bench net: %s\n", heed_strerror(rv));
        heed_runtime_free(rt);
        rc = 1;
        goto out;
      }
      t0 = heed__now();
      c0 = cpu_seconds();
      for (uint32_t s = 0; s < c.steps && rv == 0; s++)
        rv = heed_net_train_batch(net, x + (size_t)(s % nb) * c.batch * 784,
                                  y + (size_t)(s % nb) * c.batch, c.batch,
                                  NULL);
      t[threads][run] = nsamp / (heed__now() - t0);
      cpu[threads][run] = nsamp / (cpu_seconds() - c0);
      heed_net_free(net);
      heed_runtime_free(rt);
      if (rv) {
        fprintf(stderr, "heed bench net: training failed: %s\n",
                heed_strerror(rv));
        rc = 1;
        goto out;
      }
    }
  }
  double base = heed__median(t[0], c.runs);
  report(&c, "plain-loops", 1, base, base, heed__median(cpu[0], c.runs));
  for (unsigned threads = c.tlo; threads <= c.thi; threads++)
    report(&c, "bp-actors", threads, heed__median(t[threads], c.runs), base,
           heed__median(cpu[threads], c.runs));
out:
  free(x);
  free(y);
  return rc;
}
