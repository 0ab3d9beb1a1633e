/*
 * cluster.c - one network over three processes through heed/cluster.h
 * alone: this process coordinates, two local workers (forked by
 * heed_cluster_start) host the weight layers. It trains on generated
 * data, checks that the loss falls, pulls the workers' weights and checks
 * they are bitwise those of the same network trained in one process.
 *
 *   build/examples/cluster      (exit 0: all checks passed)
 */
#include <heed/heed.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN 16
#define CLASSES 4
#define BATCH 32
#define STEPS 60

static const uint32_t sizes[] = {IN, 24, 12, CLASSES};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Four Gaussian blobs, drawn from heed's seeded generator. */
static void make_batch(heed_rng *r, float *x, uint8_t *y) {
  for (int s = 0; s < BATCH; s++) {
    uint8_t c = (uint8_t)(heed_rng_next(r) % CLASSES);
    y[s] = c;
    for (int k = 0; k < IN; k++)
      x[s * IN + k] = (float)(0.5 * heed_rng_normal(r)) +
                      (k % CLASSES == c ? 1.5f : 0.0f);
  }
}

/* Trains STEPS batches; first and last loss out. */
static int train(heed_net *net, double *first, double *last) {
  static float x[BATCH * IN];
  static uint8_t y[BATCH];
  heed_rng r;
  heed_rng_seed(&r, 7);
  for (int i = 0; i < STEPS; i++) {
    heed_batch_stats st;
    make_batch(&r, x, y);
    int rv = heed_net_train_batch(net, x, y, BATCH, &st);
    if (rv) {
      fprintf(stderr, "cluster: step %d: %s\n", i, heed_strerror(rv));
      return rv;
    }
    if (i == 0)
      *first = st.loss;
    *last = st.loss;
  }
  return heed_net_sync(net);
}

/* All weights and biases, layer after layer. */
static size_t params(const heed_net *net, float *out) {
  size_t n = 0;
  for (size_t l = 1; l < NSIZES; l++) {
    heed_net_params_get(net, l, out + n, out + n + sizes[l] * sizes[l - 1]);
    n += (size_t)sizes[l] * sizes[l - 1] + sizes[l];
  }
  return n;
}

static void on_failure(void *arg, unsigned worker, const char *why) {
  (void)arg;
  fprintf(stderr, "cluster: worker %u failed: %s\n", worker, why);
}

int main(void) {
  static float dist[4096], local[4096];
  char err[512];
  double f0 = 0, f1 = 0, l0 = 0, l1 = 0;
  heed_net_opts no = {.nsizes = NSIZES, .sizes = sizes, .seed = 3,
                      .lr = 0.1f, .max_batch = BATCH};
  heed_runtime_opts ro = {.threads = 1};

  /* Three processes: workers first, before this process has threads. */
  heed_cluster *c;
  heed_cluster_opts co = {.local_workers = 2, .on_failure = on_failure};
  if (heed_cluster_start(&c, &co, err, sizeof err)) {
    fprintf(stderr, "cluster: %s\n", err);
    return 1;
  }
  heed_runtime *rt = NULL;
  heed_net *net = NULL;
  heed_cluster_net_opts cno = {.net = &no, .strategy = "bp"};
  int rv = heed_runtime_new(&rt, &ro);
  if (!rv)
    rv = heed_runtime_start(rt);
  if (!rv && (rv = heed_cluster_net_new(c, rt, &cno, &net)) != 0)
    fprintf(stderr, "cluster: %s\n", heed_cluster_error(c));
  if (!rv)
    rv = train(net, &f0, &l0);
  if (!rv && (rv = heed_cluster_pull(c)) != 0)
    fprintf(stderr, "cluster: %s\n", heed_cluster_error(c));
  size_t n = rv ? 0 : params(net, dist);
  printf("3 processes: neurons per process");
  for (size_t l = 1; l < NSIZES; l++)
    for (unsigned p = 0; p <= heed_cluster_nworkers(c); p++)
      if (heed_cluster_share(c, l, p))
        printf(" %zu:%u=%u", l, p, heed_cluster_share(c, l, p));
  printf("; loss %.4f -> %.4f\n", f0, l0);
  heed_cluster_stop(c);
  heed_net_free(net);
  heed_runtime_free(rt);
  heed_cluster_free(c);
  if (rv)
    return 1;

  /* The same network in one process. */
  if (heed_runtime_new(&rt, &ro) || heed_runtime_start(rt) ||
      heed_net_new(&net, rt, &no) || train(net, &f1, &l1))
    return 1;
  params(net, local);
  heed_net_free(net);
  heed_runtime_free(rt);
  printf("1 process:   loss %.4f -> %.4f\n", f1, l1);

  if (!(l0 < 0.5 * f0)) {
    fprintf(stderr, "cluster: the loss did not fall enough\n");
    return 1;
  }
  if (memcmp(dist, local, n * sizeof *dist)) {
    fprintf(stderr, "cluster: weights differ from one process\n");
    return 1;
  }
  printf("%zu weights bitwise equal to one process\n", n);
  return 0;
}
