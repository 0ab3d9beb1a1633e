/*
 * worker.c - `heed worker --listen URL`: flags over heed_worker_serve
 * (heed/cluster.h), which hosts this process's layers of distributed runs
 * one after another (docs/distributed.md). SIGTERM, SIGINT and SIGHUP end
 * the worker after its run is freed.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/distributed.h"
#include "heed/cluster.h"
#include "transport/wire.h"

static volatile sig_atomic_t quit;

/* Atomic: the signal lands on any thread (include/heed/cluster.h). */
static void on_signal(int sig) { __atomic_store_n(&quit, sig, __ATOMIC_RELAXED); }

static void usage(FILE *f) {
  fprintf(f,
      "usage: heed worker --listen URL [options]\n\n"
      "Hosts part of a network for `heed train --workers N` or "
      "`--cluster FILE`.\n\noptions:\n"
      "  --listen URL        ipc:///path or tcp://HOST:PORT (tcp://:PORT "
      "binds to\n"
      "                      127.0.0.1; name an address to listen on others)\n"
      "  --secret-file FILE  shared secret the coordinator must prove it "
      "holds\n"
      "                      (default $HEED_SECRET); required on non-loopback "
      "URLs\n"
      "  --insecure          listen on a non-loopback URL without a secret\n"
      "  --max-frame BYTES   largest frame accepted (default 64 MiB)\n"
      "  --threads N         runtime threads (default: the coordinator's)\n"
      "  --allow-plugins     load the strategy plugins a run names (off: "
      "runs that\n"
      "                      need a plugin are refused)\n"
      "  --once              exit after one run\n"
      "  --quiet             log only problems\n"
      "  -h, --help          this help\n");
}

static void log_line(void *arg, const char *line) {
  (void)arg;
  fprintf(stderr, "heed worker: %s\n", line);
}

static int parse(heed_worker_opts *o, const char **secret_file, int argc,
                 char **argv) {
  uint64_t u;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--listen")) {
      if (!(o->listen_url = heed__arg_value("worker", argc, argv, &i)))
        return 2;
    } else if (!strcmp(a, "--secret-file")) {
      if (!(*secret_file = heed__arg_value("worker", argc, argv, &i)))
        return 2;
    } else if (!strcmp(a, "--max-frame")) {
      if (!(v = heed__arg_value("worker", argc, argv, &i)) ||
          heed__arg_u64("worker", a, v, HEED_WIRE_MIN_FRAME,
                        (uint64_t)1 << 34, &u))
        return 2;
      o->max_frame = (size_t)u;
    } else if (!strcmp(a, "--threads")) {
      if (!(v = heed__arg_value("worker", argc, argv, &i)) ||
          heed__arg_u64("worker", a, v, 1, 256, &u))
        return 2;
      o->threads = (unsigned)u;
    } else if (!strcmp(a, "--allow-plugins")) {
      o->allow_plugins = 1;
    } else if (!strcmp(a, "--insecure")) {
      o->insecure = 1;
    } else if (!strcmp(a, "--once")) {
      o->runs = 1;
    } else if (!strcmp(a, "--quiet")) {
      o->verbose = 0;
    } else {
      fprintf(stderr, "heed worker: unknown option '%s' (see 'heed worker "
                      "--help')\n", a);
      return 2;
    }
  }
  if (!o->listen_url) {
    fprintf(stderr, "heed worker: --listen URL is required\n");
    return 2;
  }
  return -1;
}

int heed_cmd_worker(int argc, char **argv) {
  static uint8_t secret[HEED_CLUSTER_SECRET_MAX];
  const char *secret_file = NULL;
  heed_worker_opts o = {.verbose = 1, .stop = &quit, .log = log_line};
  int rc = parse(&o, &secret_file, argc, argv);
  if (rc >= 0)
    return rc;
  int n = heed__dist_secret("worker", secret_file, secret, sizeof secret);
  if (n < 0)
    return 2;
  o.secret = n ? secret : NULL;
  o.secret_len = (size_t)n;
  heed__dist_catch_signals(on_signal);
  char err[512];
  if (heed_worker_serve(&o, err, sizeof err)) {
    fprintf(stderr, "heed worker: %s\n", err);
    return 1;
  }
  return 0;
}
