/*
 * cluster_fuzz.c - libFuzzer harness for the cluster's readers of outside
 * bytes (meson option fuzz=true, clang). The first byte picks one:
 *   0: the cluster file parser (heed_cluster_file_parse);
 *   1: the launcher-environment parser (heed_launcher_env_parse), the
 *      rest read as NAME=VALUE lines for Open MPI or Slurm;
 *   2: a coordinator's HELLO payload (heed__hello_decode).
 * Any bytes are parsed or refused with a one-line reason; what is
 * accepted keeps the parser's promises (counts, printable URLs, ranks
 * below the size), else the harness aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok)
    abort();
}

static void check_url(const char *u, size_t cap) {
  size_t n = strnlen(u, cap);
  check(n < cap && n >= 7);
  check(!memcmp(u, "tcp://", 6) || !memcmp(u, "ipc://", 6));
  for (size_t i = 0; i < n; i++)
    check(u[i] > 0x20 && u[i] < 0x7f);
}

static void check_reason(const char *err, size_t cap) {
  size_t n = strnlen(err, cap);
  check(n > 0 && n < cap && !memchr(err, '\n', n));
}

static void cluster_file(const uint8_t *p, size_t n) {
  static heed_cluster_file f;
  char err[512];
  if (heed_cluster_file_parse(&f, (const char *)p, n, "fuzz", err,
                              sizeof err)) {
    check_reason(err, sizeof err);
    return;
  }
  check(f.nworkers >= 1 && f.nworkers <= HEED_CLUSTER_MAX_WORKERS);
  for (unsigned i = 0; i < f.nworkers; i++)
    check_url(f.workers[i], sizeof f.workers[i]);
  if (f.coordinator[0])
    check_url(f.coordinator, sizeof f.coordinator);
}

typedef struct env {
  char *names[16], *values[16];
  unsigned n;
} env;

static const char *lookup(void *arg, const char *name) {
  env *e = arg;
  for (unsigned i = 0; i < e->n; i++)
    if (!strcmp(e->names[i], name))
      return e->values[i];
  return NULL;
}

static void launcher(const uint8_t *p, size_t n) {
  if (!n)
    return;
  const char *kind = p[0] & 1 ? "mpi" : "slurm";
  char *text = malloc(n); /* NUL-terminated lines NAME=VALUE */
  memcpy(text, p + 1, n - 1);
  text[n - 1] = 0;
  env e = {0};
  for (char *line = text, *next; line && e.n < 16; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = 0;
    char *eq = strchr(line, '=');
    if (!eq)
      continue;
    *eq = 0;
    e.names[e.n] = line;
    e.values[e.n++] = eq + 1;
  }
  heed_launcher_env le;
  char err[256];
  if (heed_launcher_env_parse(&le, kind, lookup, &e, err, sizeof err)) {
    check_reason(err, sizeof err);
  } else {
    check(le.size >= 2 && le.size <= HEED_CLUSTER_MAX_WORKERS + 1);
    check(le.rank < le.size);
    size_t j = strnlen(le.job, sizeof le.job);
    check(j < sizeof le.job);
    for (size_t i = 0; i < j; i++)
      check(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-", le.job[i]) != NULL);
  }
  free(text);
}

static void hello(const uint8_t *p, size_t n) {
  heed_hello h;
  char why[256];
  if (heed__hello_decode(&h, p, n, why, sizeof why)) {
    check_reason(why, sizeof why);
    return;
  }
  check_url(h.url, sizeof h.url);
  size_t v = strnlen(h.version, sizeof h.version);
  check(v < sizeof h.version);
  for (size_t i = 0; i < v; i++)
    check(h.version[i] >= 0x20 && h.version[i] < 0x7f);
  /* what decodes encodes back to the same bytes */
  uint8_t out[HEED_NONCE_LEN + sizeof h.version + sizeof h.url];
  size_t len;
  check(heed__hello_encode(&h, out, sizeof out, &len) == 0);
  check(len == n && !memcmp(out, p, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  switch (data[0] % 3) {
  case 0:
    cluster_file(data + 1, size - 1);
    break;
  case 1:
    launcher(data + 1, size - 1);
    break;
  default:
    hello(data + 1, size - 1);
  }
  return 0;
}
