/*
 * distributed.c - `heed train`'s flags for a run spread over processes,
 * over heed/cluster.h: it parses, reads the secret, installs the signal
 * handlers and prints; the cluster library does the rest.
 */
#include "cli/distributed.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "transport/wire.h"

struct heed_dist {
  heed_cluster *c;
  const char *cmd;
  heed_net *net;
  heed_placement placement;
};

static volatile sig_atomic_t got_signal;

/* Atomic: the signal lands on any thread, the cluster's monitor reads it
 * on its own (include/heed/cluster.h). */
static void on_signal(int sig) {
  __atomic_store_n(&got_signal, sig, __ATOMIC_RELAXED);
}

double heed__dist_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void heed__dist_usage(FILE *f) {
  fprintf(f,
      "  --workers N            spread the layers over N local worker "
      "processes (ipc://)\n"
      "  --cluster FILE         use the workers FILE lists (one URL a line; "
      "see\n"
      "                         docs/distributed.md)\n"
      "  --launcher mpi|slurm   started by mpirun or srun: rank 0 "
      "coordinates, the\n"
      "                         other ranks serve as workers\n"
      "  --join URL             launchers: where rank 0 listens (default: a "
      "rendezvous\n"
      "                         file heed-JOB.rendezvous in the current "
      "folder)\n"
      "  --secret-file FILE     shared secret that authenticates coordinator "
      "and\n"
      "                         workers (default $HEED_SECRET)\n"
      "  --insecure             allow non-loopback addresses without a "
      "secret\n"
      "  --placement layers|slices  whole layers per worker, or a slice of "
      "every layer\n"
      "                         on every worker (default: slices)\n"
      "  --checkpoint-every K   also write --checkpoint every K steps\n"
      "  --max-frame BYTES      largest frame accepted (default 64 MiB)\n");
}

int heed__dist_parse(const char *cmd, heed_dist_opts *d, int argc,
                     char **argv, int *i) {
  const char *a = argv[*i], *v;
  uint64_t u;
  d->argc = argc;
  d->argv = argv;
  if (!strcmp(a, "--insecure")) {
    d->insecure = 1;
    return 1;
  }
  const char **dst = !strcmp(a, "--cluster")       ? &d->cluster
                     : !strcmp(a, "--launcher")    ? &d->launcher
                     : !strcmp(a, "--join")        ? &d->join
                     : !strcmp(a, "--secret-file") ? &d->secret_file
                     : !strcmp(a, "--placement")   ? &d->placement
                                                   : NULL;
  if (!dst && strcmp(a, "--workers") && strcmp(a, "--checkpoint-every") &&
      strcmp(a, "--max-frame"))
    return 0;
  if (!(v = heed__arg_value(cmd, argc, argv, i)))
    return -1;
  if (dst) {
    *dst = v;
    if (dst == &d->launcher && strcmp(v, "mpi") && strcmp(v, "slurm")) {
      fprintf(stderr, "heed %s: --launcher wants mpi or slurm, got '%s'\n",
              cmd, v);
      return -1;
    }
    if (dst == &d->placement && strcmp(v, "layers") && strcmp(v, "slices")) {
      fprintf(stderr, "heed %s: --placement wants layers or slices, got "
              "'%s'\n", cmd, v);
      return -1;
    }
  } else if (!strcmp(a, "--workers")) {
    if (heed__arg_u64(cmd, a, v, 0, HEED_CLUSTER_MAX_WORKERS, &u))
      return -1;
    d->workers = (unsigned)u;
  } else if (!strcmp(a, "--checkpoint-every")) {
    if (heed__arg_u64(cmd, a, v, 1, UINT64_MAX, &d->checkpoint_every))
      return -1;
  } else {
    if (heed__arg_u64(cmd, a, v, HEED_WIRE_MIN_FRAME, (uint64_t)1 << 34, &u))
      return -1;
    d->max_frame = (size_t)u;
  }
  return 1;
}

int heed__dist_enabled(const heed_dist_opts *d) {
  return d->workers > 0 || d->cluster || d->launcher;
}

int heed__dist_secret(const char *cmd, const char *file, uint8_t *out,
                      size_t cap) {
  char err[512];
  if (file) {
    int n = heed_cluster_secret_load(file, out, cap, err, sizeof err);
    if (n < 0)
      fprintf(stderr, "heed %s: --secret-file %s\n", cmd, err);
    return n < 0 ? -1 : n;
  }
  const char *env = getenv("HEED_SECRET");
  if (!env || !env[0])
    return 0;
  size_t n = strlen(env);
  if (n < HEED_CLUSTER_SECRET_MIN || n > cap) {
    fprintf(stderr, "heed %s: HEED_SECRET has %zu bytes; a secret has %d to "
                    "%zu\n", cmd, n, HEED_CLUSTER_SECRET_MIN, cap);
    return -1;
  }
  memcpy(out, env, n);
  return (int)n;
}

void heed__dist_catch_signals(void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a dead peer is an error return, not a death */
}

static void on_failure(void *arg, unsigned worker, const char *why) {
  heed_dist *d = arg;
  (void)worker;
  int sig = __atomic_load_n(&got_signal, __ATOMIC_RELAXED);
  if (sig)
    fprintf(stderr, "heed %s: %s by %s; stopping the workers\n", d->cmd, why,
            sig == SIGINT    ? "SIGINT"
            : sig == SIGTERM ? "SIGTERM"
                             : "SIGHUP");
  else
    fprintf(stderr, "heed %s: %s; stopping\n", d->cmd, why);
}

static void log_line(void *arg, const char *line) {
  fprintf(stderr, "heed %s: %s\n", (const char *)arg, line);
}

/* --launcher: rank and size from the environment. */
static int launcher_env(const char *cmd, const heed_dist_opts *d,
                        heed_launcher_env *e, char *rdv, size_t rdvlen) {
  char err[256];
  if (heed_launcher_env_parse(e, d->launcher, NULL, NULL, err, sizeof err)) {
    fprintf(stderr, "heed %s: --launcher %s: %s\n", cmd, d->launcher, err);
    return -1;
  }
  rdv[0] = 0;
  if (!d->join) {
    if (!e->job[0]) {
      fprintf(stderr, "heed %s: --launcher %s: no job id in the "
                      "environment; give --join URL\n", cmd, d->launcher);
      return -1;
    }
    snprintf(rdv, rdvlen, "heed-%s.rendezvous", e->job);
  }
  return 0;
}

/* Flags that only make sense together, or not at all. */
static int check_flags(const char *cmd, const heed_dist_opts *d) {
  if (!!d->workers + !!d->cluster + !!d->launcher > 1) {
    fprintf(stderr, "heed %s: --workers, --cluster and --launcher exclude "
                    "each other\n", cmd);
    return -1;
  }
  if (d->join && !d->launcher) {
    fprintf(stderr, "heed %s: --join goes with --launcher\n", cmd);
    return -1;
  }
  return 0;
}

int heed__dist_launch(const char *cmd, const heed_dist_opts *d) {
  heed_launcher_env e;
  char rdv[128], err[512];
  uint8_t secret[HEED_CLUSTER_SECRET_MAX];
  if (check_flags(cmd, d))
    return 2;
  if (!d->launcher)
    return -1;
  if (launcher_env(cmd, d, &e, rdv, sizeof rdv))
    return 1;
  if (e.rank == 0)
    return -1;
  int n = heed__dist_secret(cmd, d->secret_file, secret, sizeof secret);
  if (n < 0)
    return 1;
  heed__dist_catch_signals(on_signal);
  heed_worker_opts wo = {.join_url = d->join, .rendezvous = rdv[0] ? rdv : NULL,
                         .rank = e.rank, .max_frame = d->max_frame,
                         .allow_plugins = 1, .secret = n ? secret : NULL,
                         .secret_len = (size_t)n, .insecure = d->insecure,
                         .runs = 1, .stop = &got_signal, .log = log_line,
                         .log_arg = "worker"};
  int rv = heed_worker_serve(&wo, err, sizeof err);
  if (rv)
    fprintf(stderr, "heed %s: rank %u: %s\n", cmd, e.rank, err);
  return rv ? 1 : 0;
}

/* --strategy-plugin paths, absolute, for the workers to load. */
static unsigned plugins(const heed_dist_opts *o, char (*abs)[PATH_MAX],
                        const char **out) {
  unsigned n = 0;
  for (int i = 1; i + 1 < o->argc; i++)
    if (!strcmp(o->argv[i], "--strategy-plugin") && n < HEED_WIRE_MAX_PLUGINS) {
      const char *p = realpath(o->argv[i + 1], abs[n]) ? abs[n]
                                                       : o->argv[i + 1];
      out[n++] = p;
    }
  return n;
}

/* The cluster's options from the flags; the secret is read into secret. */
static int cluster_opts(const char *cmd, const heed_dist_opts *o,
                        heed_cluster_opts *co, heed_cluster_file *cf,
                        const char **urls, uint8_t *secret, char *rdv,
                        size_t rdvlen) {
  char err[512];
  int n = heed__dist_secret(cmd, o->secret_file, secret,
                            HEED_CLUSTER_SECRET_MAX);
  if (n < 0)
    return -1;
  co->secret = n ? secret : NULL;
  co->secret_len = (size_t)n;
  co->insecure = o->insecure;
  co->max_frame = o->max_frame;
  co->exit_after_ms = 3000;
  co->stop = &got_signal;
  if (o->launcher) {
    heed_launcher_env e;
    if (launcher_env(cmd, o, &e, rdv, rdvlen))
      return -1;
    co->join_workers = e.size - 1;
    co->listen_url = o->join ? o->join
                     : e.one_node ? "tcp://127.0.0.1:0" : NULL;
    co->rendezvous = rdv[0] ? rdv : NULL;
  } else if (o->cluster) {
    if (heed_cluster_file_load(cf, o->cluster, err, sizeof err)) {
      fprintf(stderr, "heed %s: %s\n", cmd, err);
      return -1;
    }
    for (unsigned i = 0; i < cf->nworkers; i++)
      urls[i] = cf->workers[i];
    co->worker_urls = urls;
    co->nworker_urls = cf->nworkers;
    co->listen_url = cf->coordinator[0] ? cf->coordinator : NULL;
  } else {
    co->local_workers = o->workers;
    co->worker_program = "/proc/self/exe";
  }
  return 0;
}

static void print_placement(heed_dist *d, const heed_exp_opts *eo,
                            size_t nl) {
  unsigned nw = heed_cluster_nworkers(d->c);
  if (eo->quiet)
    return;
  if (nw > nl && d->placement == HEED_PLACE_LAYERS)
    fprintf(stderr, "heed %s: %u workers for %zu layers: %zu will idle\n",
            d->cmd, nw, nl, nw - nl);
  if (d->placement != HEED_PLACE_LAYERS) {
    fprintf(stderr, "heed %s: %u worker(s), run %016llx; neurons per worker",
            d->cmd, nw, (unsigned long long)heed_cluster_run_id(d->c));
    for (size_t l = 1; l <= nl; l++)
      for (unsigned p = 0; p <= nw; p++)
        if (heed_cluster_share(d->c, l, p))
          fprintf(stderr, " %zu:w%u=%u", l, p, heed_cluster_share(d->c, l, p));
    fprintf(stderr, "\n");
    return;
  }
  fprintf(stderr, "heed %s: %u worker(s), run %016llx; layers on", d->cmd, nw,
          (unsigned long long)heed_cluster_run_id(d->c));
  for (size_t l = 1; l <= nl; l++)
    fprintf(stderr, " %zu:w%u", l, heed_cluster_layer_proc(d->c, l));
  fprintf(stderr, "\n");
}

static int fail_build(heed_dist *d, heed_runtime **rtp) {
  heed_cluster_stop(d->c);
  heed_runtime_free(*rtp);
  *rtp = NULL;
  heed_cluster_free(d->c);
  free(d);
  return 1;
}

typedef struct assign_list {
  heed_cluster_assign *v;
  char (*spec)[256];
  size_t n;
} assign_list;

static int add_assign(const char *cmd, assign_list *a, size_t layer,
                      uint32_t first, uint32_t count, const char *spec) {
  if (a->n == HEED_WIRE_MAX_ASSIGN) {
    fprintf(stderr, "heed %s: more than %d groups of neurons with one "
                    "strategy; a run over processes takes at most that\n",
            cmd, HEED_WIRE_MAX_ASSIGN);
    return -1;
  }
  snprintf(a->spec[a->n], sizeof a->spec[0], "%s", spec);
  a->v[a->n] = (heed_cluster_assign){layer, first, count, a->spec[a->n]};
  a->n++;
  return 0;
}

/* A checkpoint's strategies as runs of neighbours playing one spec. */
static int checkpoint_assign(const char *cmd, const heed_checkpoint *ck,
                             assign_list *a) {
  const uint32_t *sz = heed_checkpoint_sizes(ck);
  char run[256], spec[256];
  for (size_t l = 1; l < heed_checkpoint_nsizes(ck); l++) {
    uint32_t first = 0;
    for (uint32_t j = 0; j <= sz[l]; j++) {
      if (j < sz[l] &&
          heed_checkpoint_strategy(ck, l, j, spec, sizeof spec) != 0) {
        fprintf(stderr, "heed %s: the checkpoint's layer %zu neuron %u has "
                        "no strategy spec\n", cmd, l, j);
        return -1;
      }
      if (j && (j == sz[l] || strcmp(spec, run))) {
        uint32_t count = first == 0 && j == sz[l] ? 0 : j - first;
        if (add_assign(cmd, a, l, first, count, run))
          return -1;
        first = j;
      }
      if (j < sz[l])
        memcpy(run, spec, sizeof run);
    }
  }
  return 0;
}

/* What every process applies after the first layer's spec: the other
 * layers' specs ("bp;guard;bp"), then the society file's lines. */
static int flag_assign(const char *cmd, const heed_exp_opts *eo,
                       size_t nlayers, assign_list *a) {
  const char *p = eo->build_strategy ? eo->build_strategy : eo->strategy;
  char spec[256];
  for (size_t l = 1; strchr(p, ';') && l < nlayers; l++)
    if (heed__exp_layer_spec(cmd, eo, l, nlayers, spec, sizeof spec) ||
        add_assign(cmd, a, l + 1, 0, 0, spec))
      return -1;
  for (size_t i = 0; i < eo->society.n; i++) {
    const heed_society_line *s = &eo->society.v[i];
    if (add_assign(cmd, a, s->layer, s->whole ? 0 : s->lo,
                   s->whole ? 0 : s->hi - s->lo + 1, s->spec))
      return -1;
  }
  return 0;
}

int heed__dist_build(heed_dist **dp, const char *cmd, const heed_dist_opts *o,
                     const heed_exp_opts *eo, const heed_checkpoint *ck,
                     uint32_t in, uint32_t classes, heed_runtime **rtp,
                     heed_net **netp) {
  static heed_cluster_file cf;
  static uint8_t secret[HEED_CLUSTER_SECRET_MAX];
  const char *urls[HEED_CLUSTER_MAX_WORKERS];
  char rdv[128] = "", err[512];
  heed_dist *d = calloc(1, sizeof *d);
  *dp = NULL;
  if (!d) {
    fprintf(stderr, "heed %s: out of memory\n", cmd);
    return 1;
  }
  d->cmd = cmd;
  d->placement = !o->placement                 ? HEED_PLACE_AUTO
                 : !strcmp(o->placement, "layers") ? HEED_PLACE_LAYERS
                                                   : HEED_PLACE_SLICES;
  heed_cluster_opts co = {.on_failure = on_failure, .failure_arg = d};
  if (cluster_opts(cmd, o, &co, &cf, urls, secret, rdv, sizeof rdv)) {
    free(d);
    return 1;
  }
  heed__dist_catch_signals(on_signal);
  if (heed_cluster_start(&d->c, &co, err, sizeof err)) {
    fprintf(stderr, "heed %s: %s\n", cmd, err);
    free(d);
    return 1;
  }
  memset(secret, 0, sizeof secret);

  uint32_t sizes[HEED_EXP_MAX_LAYERS + 1];
  heed_activation acts[HEED_EXP_MAX_LAYERS];
  size_t ns = 0;
  sizes[ns++] = in;
  for (size_t i = 0; i < eo->nhidden; i++)
    sizes[ns++] = eo->hidden[i];
  sizes[ns++] = classes;
  for (size_t i = 0; i + 1 < ns; i++)
    acts[i] = i + 2 == ns ? HEED_ACT_IDENTITY : eo->act;
  char abs[HEED_WIRE_MAX_PLUGINS][PATH_MAX];
  const char *plug[HEED_WIRE_MAX_PLUGINS];
  heed_net_opts no = {.nsizes = ns, .sizes = sizes, .acts = acts,
                      .init = eo->init, .seed = eo->seed, .lr = (float)eo->lr,
                      .max_batch = eo->batch > 1000 ? eo->batch : 1000};
  static heed_cluster_assign as[HEED_WIRE_MAX_ASSIGN];
  static char specs[HEED_WIRE_MAX_ASSIGN][256];
  assign_list al = {as, specs, 0};
  char spec[256];
  if (heed__exp_layer_spec(cmd, eo, 0, ns - 1, spec, sizeof spec) ||
      (ck ? checkpoint_assign(cmd, ck, &al)
          : flag_assign(cmd, eo, ns - 1, &al)))
    return fail_build(d, rtp);
  heed_cluster_net_opts cno = {.net = &no, .strategy = spec,
                               .assign = as, .nassign = al.n,
                               .plugins = plug,
                               .nplugins = plugins(o, abs, plug),
                               .worker_threads = eo->threads,
                               .placement = d->placement};
  heed_runtime_opts ro = {.threads = eo->threads, .mailbox_limit = 4096,
                          .spin_us = eo->spin_us};
  int rv;
  if ((rv = heed_runtime_new(rtp, &ro)) != 0 ||
      (rv = heed_runtime_start(*rtp)) != 0) {
    fprintf(stderr, "heed %s: cannot start the runtime: %s\n", cmd,
            heed_strerror(rv));
    return fail_build(d, rtp);
  }
  if ((rv = heed_cluster_net_new(d->c, *rtp, &cno, netp)) != 0) {
    if (!heed_cluster_failed(d->c, NULL, 0)) /* else on_failure printed it */
      fprintf(stderr, "heed %s: %s\n", cmd, heed_cluster_error(d->c));
    return fail_build(d, rtp);
  }
  d->net = *netp;
  print_placement(d, eo, ns - 1);
  *dp = d;
  return 0;
}

int heed__dist_pull(heed_dist *d) {
  if (!d)
    return 0;
  int rv = heed_cluster_pull(d->c);
  if (rv && !heed_cluster_failed(d->c, NULL, 0))
    fprintf(stderr, "heed %s: %s\n", d->cmd, heed_cluster_error(d->c));
  return rv;
}

int heed__dist_push(heed_dist *d) {
  if (!d)
    return 0;
  int rv = heed_cluster_push(d->c);
  if (rv && !heed_cluster_failed(d->c, NULL, 0))
    fprintf(stderr, "heed %s: %s\n", d->cmd, heed_cluster_error(d->c));
  return rv;
}

/* Each worker's clock offset and its error bound, as the trace used them. */
static void print_clocks(const heed_dist *d) {
  for (unsigned i = 1; i <= heed_cluster_nworkers(d->c); i++) {
    int64_t off;
    uint64_t bound;
    if (heed_cluster_clock(d->c, i, &off, &bound) == 0)
      fprintf(stderr, "heed %s: trace: worker %u's clock is %+.1f us from "
              "this one's, within %.1f us\n", d->cmd, i, off / 1e3,
              bound / 1e3);
  }
}

int heed__dist_trace(heed_dist *d, struct heed_trace *t) {
  if (!d)
    return 0;
  if (!t)
    print_clocks(d);
  int rv = heed_cluster_set_trace(d->c, t);
  if (rv && !heed_cluster_failed(d->c, NULL, 0))
    fprintf(stderr, "heed %s: trace: %s\n", d->cmd,
            heed_cluster_error(d->c));
  return rv;
}

unsigned heed__dist_procs(const heed_dist *d) {
  return d ? heed_cluster_nworkers(d->c) + 1 : 1;
}

int heed__dist_failed(const heed_dist *d) {
  return d ? heed_cluster_failed(d->c, NULL, 0) : 0;
}

void heed__dist_stop(heed_dist *d) {
  if (d)
    heed_cluster_stop(d->c);
}

void heed__dist_free(heed_dist *d) {
  if (!d)
    return;
  heed_cluster_free(d->c);
  free(d);
}
