/*
 * data_test_util.h - helpers for the dataset tests: a private temporary
 * directory and writers for raw, gzip and IDX files in it.
 */
#ifndef HEED_TESTS_DATA_TEST_UTIL_H
#define HEED_TESTS_DATA_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

static char tdir[256];

/* Creates the temporary directory (cmocka group setup). */
static inline int tdir_setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tdir, sizeof tdir, "%s/heed-data-XXXXXX", base ? base : "/tmp");
  return mkdtemp(tdir) == NULL ? -1 : 0;
}

/* Removes the temporary directory and what the tests left in it. */
static inline int tdir_teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Path of name inside the temporary directory (a static buffer per call
 * slot, so up to four can be alive at once). */
static inline const char *tpath(const char *name) {
  static char bufs[4][512];
  static int slot;
  char *b = bufs[slot++ & 3];
  snprintf(b, 512, "%s/%s", tdir, name);
  return b;
}

static inline void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (len > 0)
    assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static inline void write_gzip(const char *path, const void *data, size_t len) {
  gzFile gz = gzopen(path, "wb");
  assert_non_null(gz);
  if (len > 0)
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
  assert_int_equal(gzclose(gz), Z_OK);
}

static inline void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* An IDX image file image in memory: header n x rows x cols, then pixels
 * equal to (i * 7 + 3) & 255 for byte i, so every value is checkable.
 * *len receives the size; free() the result. */
static inline uint8_t *make_idx_images(uint32_t n, uint32_t rows, uint32_t cols,
                                       size_t *len) {
  size_t px = (size_t)n * rows * cols;
  uint8_t *b = malloc(16 + px);
  assert_non_null(b);
  put_be32(b, 0x00000803);
  put_be32(b + 4, n);
  put_be32(b + 8, rows);
  put_be32(b + 12, cols);
  for (size_t i = 0; i < px; i++)
    b[16 + i] = (uint8_t)((i * 7 + 3) & 255);
  *len = 16 + px;
  return b;
}

/* An IDX label file of n labels i % 10. */
static inline uint8_t *make_idx_labels(uint32_t n, size_t *len) {
  uint8_t *b = malloc(8 + (size_t)n);
  assert_non_null(b);
  put_be32(b, 0x00000801);
  put_be32(b + 4, n);
  for (uint32_t i = 0; i < n; i++)
    b[8 + i] = (uint8_t)(i % 10);
  *len = 8 + (size_t)n;
  return b;
}

/* Asserts that err mentions needle (a file name, a reason). */
#define assert_err_has(err, needle)                                            \
  do {                                                                         \
    if (strstr((err), (needle)) == NULL)                                       \
      fail_msg("error '%s' does not mention '%s'", (err), (needle));           \
  } while (0)

#endif
