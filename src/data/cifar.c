/* cifar.c - CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin). */
#include <string.h>

#include "common/alloc.h"
#include "data/read.h"

#define CIFAR_SIDE 32
#define CIFAR_CHANNELS 3
#define CIFAR_PIXELS (CIFAR_SIDE * CIFAR_SIDE * CIFAR_CHANNELS)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10

/* Appends the records of one batch file to ds, growing x and y. */
static int cifar_append(heed_dataset *ds, const char *path, char *err,
                        size_t errlen) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc =
      heed__data_read_file(path, HEED_DATA_MAX_FILE, &buf, &len, err, errlen);
  if (rc < 0)
    return rc;
  if (len == 0 || len % CIFAR_RECORD != 0) {
    rc = heed__data_fail(err, errlen, HEED_ETRUNC,
                         "%s: %zu bytes is not a whole number of %d-byte "
                         "CIFAR-10 records (truncated?)",
                         path, len, CIFAR_RECORD);
    goto out;
  }
  size_t add = len / CIFAR_RECORD;
  for (size_t i = 0; i < add; i++) {
    uint8_t label = buf[i * CIFAR_RECORD];
    if (label >= CIFAR_CLASSES) {
      rc = heed__data_fail(err, errlen, HEED_ERANGE,
                           "%s: label %u of record %zu is out of range "
                           "(0..%d)",
                           path, (unsigned)label, i, CIFAR_CLASSES - 1);
      goto out;
    }
  }
  /* len <= HEED_DATA_MAX_FILE and the total stays far from SIZE_MAX on
   * 64-bit; still check, for 32-bit hosts. */
  size_t n = ds->n + add;
  if (n < ds->n || n > SIZE_MAX / sizeof(float) / CIFAR_PIXELS) {
    rc = heed__data_fail(err, errlen, HEED_ERANGE,
                         "%s: too many records in total", path);
    goto out;
  }
  float *x = heed__realloc(ds->x, n * CIFAR_PIXELS * sizeof(float));
  if (x != NULL)
    ds->x = x;
  uint8_t *y = heed__realloc(ds->y, n);
  if (y != NULL)
    ds->y = y;
  if (x == NULL || y == NULL) {
    rc = heed__data_fail(err, errlen, HEED_ENOMEM,
                         "%s: no memory for %zu samples", path, n);
    goto out;
  }
  float scale[256];
  for (int v = 0; v < 256; v++)
    scale[v] = (float)v / 255.0f;
  for (size_t i = 0; i < add; i++) {
    const uint8_t *rec = buf + i * CIFAR_RECORD;
    float *dst = ds->x + (ds->n + i) * CIFAR_PIXELS;
    ds->y[ds->n + i] = rec[0];
    for (size_t j = 0; j < CIFAR_PIXELS; j++)
      dst[j] = scale[rec[1 + j]];
  }
  ds->n = n;
out:
  heed__free(buf);
  return rc;
}

int heed_dataset_load_cifar10(heed_dataset *ds, const char *const *files,
                              size_t nfiles, char *err, size_t errlen) {
  if (ds == NULL || (files == NULL && nfiles > 0) || nfiles == 0)
    return heed__data_fail(err, errlen, HEED_EINVAL,
                           "heed_dataset_load_cifar10: no files given");
  memset(ds, 0, sizeof *ds);
  ds->dim = CIFAR_PIXELS;
  ds->classes = CIFAR_CLASSES;
  ds->rows = CIFAR_SIDE;
  ds->cols = CIFAR_SIDE;
  ds->channels = CIFAR_CHANNELS;
  for (size_t f = 0; f < nfiles; f++) {
    int rc = files[f] == NULL
                 ? heed__data_fail(err, errlen, HEED_EINVAL,
                                   "heed_dataset_load_cifar10: file %zu is "
                                   "NULL",
                                   f)
                 : cifar_append(ds, files[f], err, errlen);
    if (rc < 0) {
      heed_dataset_destroy(ds);
      return rc;
    }
  }
  return 0;
}
