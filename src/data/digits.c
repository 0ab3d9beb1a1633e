/* digits.c - scikit-learn's digits.csv: 8x8 images with values 0..16. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "data/read.h"

#define DIGITS_SIDE 8
#define DIGITS_DIM (DIGITS_SIDE * DIGITS_SIDE)
#define DIGITS_MAX 16.0
#define DIGITS_CLASSES 10

/* Parses one number of line (1-based) at *p, ending at ',' (when more
 * follow) or at the end of the line, into *out, and moves *p past it. */
static int parse_field(const char *path, size_t line, size_t field, int last,
                       char **p, double *out, char *err, size_t errlen) {
  char *s = *p, *end;
  while (*s == ' ' || *s == '\t')
    s++;
  /* strtod would skip a newline as leading space and read the next line's
   * first value: refuse empty fields first. */
  if (*s == ',' || *s == '\n' || *s == '\r' || *s == '\0')
    return heed__data_fail(err, errlen, HEED_EFORMAT,
                           "%s:%zu: field %zu is empty (expected %d values "
                           "and a label)",
                           path, line, field + 1, DIGITS_DIM);
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno != 0 || !isfinite(v))
    return heed__data_fail(err, errlen, HEED_EFORMAT,
                           "%s:%zu: field %zu is not a number", path, line,
                           field + 1);
  while (*end == ' ' || *end == '\t')
    end++;
  if (last) {
    if (*end == '\r')
      end++;
    if (*end != '\n' && *end != '\0')
      return heed__data_fail(err, errlen, HEED_EFORMAT,
                             "%s:%zu: more than %d fields (expected %d values "
                             "and a label)",
                             path, line, DIGITS_DIM + 1, DIGITS_DIM);
  } else {
    if (*end != ',')
      return heed__data_fail(err, errlen, HEED_EFORMAT,
                             "%s:%zu: only %zu fields (expected %d values and "
                             "a label)",
                             path, line, field + 1, DIGITS_DIM);
    end++;
  }
  *p = end;
  *out = v;
  return 0;
}

/* Is the line starting at p blank (only spaces up to its end)? */
static int blank_line(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\r')
    p++;
  return *p == '\n' || *p == '\0';
}

int heed_dataset_load_digits_csv(heed_dataset *ds, const char *path, char *err,
                                 size_t errlen) {
  if (ds == NULL || path == NULL)
    return heed__data_fail(err, errlen, HEED_EINVAL,
                           "heed_dataset_load_digits_csv: NULL argument");
  memset(ds, 0, sizeof *ds);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc =
      heed__data_read_file(path, HEED_DATA_MAX_FILE, &buf, &len, err, errlen);
  if (rc < 0)
    return rc;
  if (memchr(buf, '\0', len) != NULL) {
    rc = heed__data_fail(err, errlen, HEED_EFORMAT,
                         "%s: NUL byte in a text file", path);
    goto out;
  }
  /* Lines bound the sample count, so x is sized from the bytes present. */
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += buf[i] == '\n';
  rc = heed__dataset_alloc(ds, lines, DIGITS_DIM);
  if (rc < 0) {
    rc = heed__data_fail(err, errlen, rc, "%s: no memory for %zu samples", path,
                         lines);
    goto out;
  }
  size_t n = 0, line = 0;
  char *p = (char *)buf, *stop = (char *)buf + len;
  while (p < stop) {
    line++;
    if (!blank_line(p)) {
      for (int f = 0; f <= DIGITS_DIM; f++) {
        double v = 0;
        rc = parse_field(path, line, (size_t)f, f == DIGITS_DIM, &p, &v, err,
                         errlen);
        if (rc < 0)
          goto out;
        if (f < DIGITS_DIM) {
          if (v < 0 || v > DIGITS_MAX) {
            rc = heed__data_fail(err, errlen, HEED_ERANGE,
                                 "%s:%zu: value %g of field %d is out of "
                                 "range (0..16)",
                                 path, line, v, f + 1);
            goto out;
          }
          ds->x[n * DIGITS_DIM + (size_t)f] = (float)(v / DIGITS_MAX);
        } else {
          if (v < 0 || v >= DIGITS_CLASSES || v != floor(v)) {
            rc = heed__data_fail(err, errlen, HEED_ERANGE,
                                 "%s:%zu: label %g is out of range (0..%d)",
                                 path, line, v, DIGITS_CLASSES - 1);
            goto out;
          }
          ds->y[n] = (uint8_t)v;
        }
      }
      n++;
    }
    char *nl = memchr(p, '\n', (size_t)(stop - p));
    p = nl != NULL ? nl + 1 : stop;
  }
  if (n == 0) {
    rc = heed__data_fail(err, errlen, HEED_EFORMAT, "%s: no samples", path);
    goto out;
  }
  ds->n = n;
  ds->classes = DIGITS_CLASSES;
  ds->rows = DIGITS_SIDE;
  ds->cols = DIGITS_SIDE;
  ds->channels = 1;
out:
  heed__free(buf);
  if (rc < 0)
    heed_dataset_destroy(ds);
  return rc;
}
