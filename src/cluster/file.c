/*
 * file.c - the cluster file (worker URLs) and the shared-secret file.
 * Both are read from outside, so every line and length is checked before
 * use; tests/fuzz/cluster_fuzz.c fuzzes the parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/internal.h"

#define LINE_MAX_BYTES 1024

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits line[0..n) into at most 3 words (the third means "too many"). */
static unsigned words(const char *p, size_t n, const char *w[3],
                      size_t wl[3]) {
  unsigned k = 0;
  size_t i = 0;
  while (i < n && k < 3) {
    while (i < n && is_space(p[i]))
      i++;
    if (i == n)
      break;
    w[k] = p + i;
    while (i < n && !is_space(p[i]))
      i++;
    wl[k] = (size_t)(p + i - w[k]);
    k++;
  }
  return k;
}

static int good_url(const char *u, size_t n) {
  if (n < 7 || n >= HEED_CLUSTER_URL_MAX ||
      (memcmp(u, "tcp://", 6) && memcmp(u, "ipc://", 6)))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)u[i] < 0x21 || (unsigned char)u[i] > 0x7e)
      return 0;
  return 1;
}

static int parse_line(heed_cluster_file *f, const char *p, size_t n,
                      const char *name, unsigned lineno, char *err,
                      size_t errlen) {
  const char *hash = memchr(p, '#', n);
  if (hash)
    n = (size_t)(hash - p);
  const char *w[3];
  size_t wl[3];
  unsigned k = words(p, n, w, wl);
  if (k == 0)
    return 0;
  int coord = k == 2 && wl[0] == 11 && !memcmp(w[0], "coordinator", 11);
  int worker = k == 1 || (k == 2 && wl[0] == 6 && !memcmp(w[0], "worker", 6));
  const char *u = w[k - 1];
  size_t ul = wl[k - 1];
  if (k > 2 || (!coord && !worker) || !good_url(u, ul)) {
    snprintf(err, errlen, "%s:%u: expected 'worker URL' or 'coordinator "
             "URL' (tcp:// or ipc://, under %d bytes)", name, lineno,
             HEED_CLUSTER_URL_MAX);
    return HEED_EFORMAT;
  }
  if (coord) {
    if (f->coordinator[0]) {
      snprintf(err, errlen, "%s:%u: a second coordinator line", name, lineno);
      return HEED_EFORMAT;
    }
    memcpy(f->coordinator, u, ul);
    f->coordinator[ul] = 0;
    return 0;
  }
  if (f->nworkers >= HEED_CLUSTER_MAX_WORKERS) {
    snprintf(err, errlen, "%s:%u: more than %d workers", name, lineno,
             HEED_CLUSTER_MAX_WORKERS);
    return HEED_ERANGE;
  }
  memcpy(f->workers[f->nworkers], u, ul);
  f->workers[f->nworkers++][ul] = 0;
  return 0;
}

int heed_cluster_file_parse(heed_cluster_file *f, const char *text,
                            size_t len, const char *name, char *err,
                            size_t errlen) {
  if (!f || (!text && len))
    return HEED_EINVAL;
  if (!name)
    name = "cluster file";
  memset(f, 0, sizeof *f);
  unsigned lineno = 0;
  size_t i = 0;
  while (i < len) {
    const char *nl = memchr(text + i, '\n', len - i);
    size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
    lineno++;
    if (n > LINE_MAX_BYTES) {
      snprintf(err, errlen, "%s:%u: line longer than %d bytes", name, lineno,
               LINE_MAX_BYTES);
      return HEED_ERANGE;
    }
    if (memchr(text + i, 0, n)) {
      snprintf(err, errlen, "%s:%u: a NUL byte", name, lineno);
      return HEED_EFORMAT;
    }
    int rv = parse_line(f, text + i, n, name, lineno, err, errlen);
    if (rv)
      return rv;
    i += n + (nl != NULL);
  }
  if (f->nworkers == 0) {
    snprintf(err, errlen, "%s lists no workers", name);
    return HEED_EFORMAT;
  }
  return 0;
}

/* Reads a whole small file (at most cap bytes) into buf. */
static int slurp(const char *path, char *buf, size_t cap, size_t *n,
                 struct stat *st, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat(fd, st) != 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return HEED_EIO;
  }
  if (!S_ISREG(st->st_mode) || (size_t)st->st_size > cap) {
    snprintf(err, errlen, "%s: %s", path,
             S_ISREG(st->st_mode) ? "too large" : "not a regular file");
    close(fd);
    return HEED_ERANGE;
  }
  size_t got = 0;
  ssize_t k;
  while (got < cap && (k = read(fd, buf + got, cap - got)) > 0)
    got += (size_t)k;
  close(fd);
  *n = got;
  return 0;
}

int heed_cluster_file_load(heed_cluster_file *f, const char *path, char *err,
                           size_t errlen) {
  static _Thread_local char buf[HEED_CLUSTER_MAX_WORKERS * 2 * LINE_MAX_BYTES];
  size_t n;
  struct stat st;
  int rv = slurp(path, buf, sizeof buf, &n, &st, err, errlen);
  return rv ? rv : heed_cluster_file_parse(f, buf, n, path, err, errlen);
}

int heed_cluster_secret_load(const char *path, void *out, size_t cap,
                             char *err, size_t errlen) {
  char buf[HEED_CLUSTER_SECRET_MAX + 2];
  size_t n;
  struct stat st;
  int rv = slurp(path, buf, sizeof buf, &n, &st, err, errlen);
  if (rv)
    return rv;
  if (st.st_mode & 077) {
    snprintf(err, errlen, "%s: group or others may read it (chmod 600)",
             path);
    return HEED_EINVAL;
  }
  if (n && buf[n - 1] == '\n')
    n--;
  if (n && buf[n - 1] == '\r')
    n--;
  if (n < HEED_CLUSTER_SECRET_MIN || n > HEED_CLUSTER_SECRET_MAX || n > cap) {
    snprintf(err, errlen, "%s: a secret has %d to %d bytes, this has %zu",
             path, HEED_CLUSTER_SECRET_MIN, HEED_CLUSTER_SECRET_MAX, n);
    return HEED_ERANGE;
  }
  memcpy(out, buf, n);
  memset(buf, 0, sizeof buf);
  return (int)n;
}
