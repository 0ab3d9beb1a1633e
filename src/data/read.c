/* read.c - read a raw or gzip file whole, with a hard size cap. */
#include "data/read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "common/alloc.h"

int heed__data_fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

int heed__dataset_alloc(heed_dataset *ds, size_t n, size_t dim) {
  if (dim != 0 && n > SIZE_MAX / sizeof(float) / dim)
    return HEED_ERANGE;
  ds->x = heed__malloc(n * dim * sizeof(float) + 1); /* +1: n may be 0 */
  ds->y = heed__malloc(n + 1);
  if (ds->x == NULL || ds->y == NULL) {
    heed__free(ds->x);
    heed__free(ds->y);
    ds->x = NULL;
    ds->y = NULL;
    return HEED_ENOMEM;
  }
  ds->n = n;
  ds->dim = dim;
  return 0;
}

/* Is the file a gzip stream? Decided by its first two bytes, because
 * sources disagree on whether a compressed file is named .gz. */
static int is_gzip(FILE *f) {
  uint8_t m[2];
  size_t got = fread(m, 1, 2, f);
  rewind(f);
  return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int read_raw(FILE *f, const char *path, size_t max, uint8_t **buf,
                    size_t *len, char *err, size_t errlen) {
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    return heed__data_fail(err, errlen, HEED_EIO, "%s: not a regular file",
                           path);
  if ((uint64_t)st.st_size > (uint64_t)max)
    return heed__data_fail(err, errlen, HEED_ERANGE,
                           "%s: file of %lld bytes is over the %zu-byte limit",
                           path, (long long)st.st_size, max);
  size_t size = (size_t)st.st_size;
  uint8_t *b = heed__malloc(size + 1);
  if (b == NULL)
    return heed__data_fail(err, errlen, HEED_ENOMEM,
                           "%s: out of memory reading %zu bytes", path, size);
  if (fread(b, 1, size, f) != size) {
    heed__free(b);
    return heed__data_fail(err, errlen, HEED_EIO, "%s: read error", path);
  }
  b[size] = 0;
  *buf = b;
  *len = size;
  return 0;
}

/* gzerror() prefixes its text with the path, which ours already names. */
static const char *gz_reason(gzFile gz, const char *path, int *zerr) {
  const char *msg = gzerror(gz, zerr);
  size_t n = strlen(path);
  if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
    msg += n + 2;
  return msg;
}

static int read_gzip(const char *path, size_t max, uint8_t **buf, size_t *len,
                     char *err, size_t errlen) {
  gzFile gz = gzopen(path, "rb");
  if (gz == NULL)
    return heed__data_fail(err, errlen, HEED_EIO, "%s: cannot open: %s", path,
                           strerror(errno));
  size_t cap = 1 << 20, size = 0;
  uint8_t *b = heed__malloc(cap + 1);
  int rc = 0;
  if (b == NULL) {
    rc = heed__data_fail(err, errlen, HEED_ENOMEM, "%s: out of memory", path);
    goto out;
  }
  for (;;) {
    if (size == cap) {
      if (cap >= max + 1) {
        rc = heed__data_fail(err, errlen, HEED_ERANGE,
                             "%s: decompresses to over the %zu-byte limit",
                             path, max);
        goto out;
      }
      /* Grow by doubling, stopping one byte past max so that reading
       * that byte proves the file is too large. */
      size_t ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
      uint8_t *nb = heed__realloc(b, ncap + 1);
      if (nb == NULL) {
        rc = heed__data_fail(err, errlen, HEED_ENOMEM,
                             "%s: out of memory after %zu bytes", path, size);
        goto out;
      }
      b = nb;
      cap = ncap;
    }
    size_t want = cap - size;
    if (want > (1u << 30))
      want = 1u << 30;
    int got = gzread(gz, b + size, (unsigned)want);
    if (got < 0) {
      int zerr = Z_OK;
      const char *msg = gz_reason(gz, path, &zerr);
      /* zlib reports a stream cut short as Z_BUF_ERROR. */
      rc = heed__data_fail(err, errlen,
                           zerr == Z_BUF_ERROR ? HEED_ETRUNC : HEED_EFORMAT,
                           "%s: %s gzip stream: %s", path,
                           zerr == Z_BUF_ERROR ? "truncated" : "corrupt", msg);
      goto out;
    }
    if (got == 0)
      break;
    size += (size_t)got;
  }
  /* gzread() ends a stream cut short like a clean end of file (it returns
   * 0, not -1) and only leaves Z_BUF_ERROR behind: ask for it. */
  int zerr = Z_OK;
  const char *zmsg = gz_reason(gz, path, &zerr);
  if (zerr != Z_OK) {
    rc = heed__data_fail(err, errlen,
                         zerr == Z_BUF_ERROR ? HEED_ETRUNC : HEED_EFORMAT,
                         "%s: %s gzip stream: %s", path,
                         zerr == Z_BUF_ERROR ? "truncated" : "corrupt", zmsg);
    goto out;
  }
  if (size > max) {
    rc = heed__data_fail(err, errlen, HEED_ERANGE,
                         "%s: decompresses to over the %zu-byte limit", path,
                         max);
    goto out;
  }
  b[size] = 0;
  *buf = b;
  *len = size;
  b = NULL;
out:
  heed__free(b);
  gzclose(gz);
  return rc;
}

int heed__data_read_file(const char *path, size_t max, uint8_t **buf,
                         size_t *len, char *err, size_t errlen) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return heed__data_fail(err, errlen,
                           errno == ENOENT ? HEED_ENOENT : HEED_EIO,
                           "%s: cannot open: %s", path, strerror(errno));
  int rc;
  if (is_gzip(f)) {
    fclose(f);
    rc = read_gzip(path, max, buf, len, err, errlen);
  } else {
    rc = read_raw(f, path, max, buf, len, err, errlen);
    fclose(f);
  }
  return rc;
}
