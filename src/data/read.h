/*
 * read.h - whole-file reading and error text shared by the loaders
 * (internal).
 */
#ifndef HEED_DATA_READ_H
#define HEED_DATA_READ_H

#include <stddef.h>
#include <stdint.h>

#include "heed/data.h"

/* Reads all of path, gunzipping it if it starts with the gzip magic
 * (1f 8b), into a fresh heed__malloc'd buffer of *len bytes plus a NUL
 * terminator (so text parsers may use strtod). At most max bytes are
 * accepted: memory follows the bytes really present, never a declared
 * count. On failure returns HEED_ENOENT, HEED_EIO, HEED_EFORMAT (corrupt
 * gzip), HEED_ETRUNC (gzip cut short), HEED_ERANGE (over max) or
 * HEED_ENOMEM and writes the reason to err. */
int heed__data_read_file(const char *path, size_t max, uint8_t **buf,
                         size_t *len, char *err, size_t errlen);

/* Formats one line into err (if err and errlen allow) and returns code. */
int heed__data_fail(char *err, size_t errlen, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Allocates x (n * dim floats) and y (n labels) of ds, which must be
 * empty, after checking that n * dim * sizeof(float) does not overflow.
 * Returns 0, HEED_ERANGE or HEED_ENOMEM. */
int heed__dataset_alloc(heed_dataset *ds, size_t n, size_t dim);

/* Big-endian 32-bit word at p (IDX headers). */
static inline uint32_t heed__be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

#endif
