/* data_idx_test.c - IDX loading: values, gzip, and every kind of bad file. */
#include "data_test_util.h"

#include <sys/stat.h>

#include "common/alloc.h"
#include "heed/data.h"

#define N 5
#define ROWS 3
#define COLS 4

/* Writes a good pair as images/labels (gzipped when gz) under tdir. */
static void write_pair(const char *images, const char *labels, int gz) {
  size_t ilen, llen;
  uint8_t *ib = make_idx_images(N, ROWS, COLS, &ilen);
  uint8_t *lb = make_idx_labels(N, &llen);
  (gz ? write_gzip : write_file)(tpath(images), ib, ilen);
  (gz ? write_gzip : write_file)(tpath(labels), lb, llen);
  free(ib);
  free(lb);
}

static void check_pair(const heed_dataset *ds) {
  assert_int_equal(ds->n, N);
  assert_int_equal(ds->dim, ROWS * COLS);
  assert_int_equal(ds->rows, ROWS);
  assert_int_equal(ds->cols, COLS);
  assert_int_equal(ds->channels, 1);
  assert_int_equal(ds->classes, 10);
  for (size_t i = 0; i < (size_t)N * ROWS * COLS; i++) {
    uint8_t v = (uint8_t)((i * 7 + 3) & 255);
    assert_true(ds->x[i] == (float)v / 255.0f);
    assert_true(ds->x[i] >= 0.0f && ds->x[i] <= 1.0f);
  }
  for (size_t i = 0; i < N; i++)
    assert_int_equal(ds->y[i], i % 10);
}

static void test_raw(void **state) {
  (void)state;
  write_pair("raw-img", "raw-lab", 0);
  heed_dataset ds;
  char err[256] = "";
  assert_int_equal(heed_dataset_load_idx(&ds, tpath("raw-img"),
                                         tpath("raw-lab"), err, sizeof err),
                   0);
  check_pair(&ds);
  heed_dataset_destroy(&ds);
  assert_null(ds.x);
  assert_int_equal(ds.n, 0);
  heed_dataset_destroy(&ds); /* twice is fine */
  heed_dataset_destroy(NULL);
}

static void test_gzip(void **state) {
  (void)state;
  /* Detected by content: one file named .gz, the other not. */
  write_pair("gz-img.gz", "gz-lab", 1);
  heed_dataset ds;
  char err[256] = "";
  assert_int_equal(heed_dataset_load_idx(&ds, tpath("gz-img.gz"),
                                         tpath("gz-lab"), err, sizeof err),
                   0);
  check_pair(&ds);
  heed_dataset_destroy(&ds);
}

/* Loads images/labels expecting code, and an err naming file and reason. */
static void expect_fail(const char *images, const char *labels, int code,
                        const char *file, const char *reason) {
  heed_dataset ds;
  char err[512] = "";
  int rc =
      heed_dataset_load_idx(&ds, tpath(images), tpath(labels), err, sizeof err);
  if (rc != code)
    fail_msg("expected %s, got %s: %s", heed_err_name(code), heed_err_name(rc),
             err);
  print_message("  %s\n", err);
  assert_err_has(err, file);
  assert_err_has(err, reason);
  assert_null(strchr(err, '\n'));
  /* A failed load leaves the struct empty and safe to destroy. */
  assert_null(ds.x);
  assert_null(ds.y);
  assert_int_equal(ds.n, 0);
  heed_dataset_destroy(&ds);
}

static void test_bad_magic(void **state) {
  (void)state;
  write_pair("m-img", "m-lab", 0);
  size_t len;
  uint8_t *b = make_idx_images(N, ROWS, COLS, &len);
  put_be32(b, 0x00000804); /* 4 dimensions */
  write_file(tpath("m-img4"), b, len);
  put_be32(b, 0x00000d03); /* floats */
  write_file(tpath("m-imgf"), b, len);
  free(b);
  expect_fail("m-img4", "m-lab", HEED_EFORMAT, "m-img4", "magic");
  expect_fail("m-imgf", "m-lab", HEED_EFORMAT, "m-imgf", "0x00000d03");
  /* Labels and images swapped. */
  expect_fail("m-lab", "m-img", HEED_EFORMAT, "m-lab", "magic");
  expect_fail("m-img", "m-img", HEED_EFORMAT, "m-img", "magic");
}

static void test_truncated(void **state) {
  (void)state;
  write_pair("t-img", "t-lab", 0);
  size_t ilen, llen;
  uint8_t *ib = make_idx_images(N, ROWS, COLS, &ilen);
  uint8_t *lb = make_idx_labels(N, &llen);
  write_file(tpath("t-img-short"), ib, ilen - 1);
  write_file(tpath("t-img-hdr"), ib, 10);
  write_file(tpath("t-img-2"), ib, 2);
  write_file(tpath("t-img-0"), ib, 0);
  write_file(tpath("t-lab-short"), lb, llen - 1);
  write_file(tpath("t-img-long"), ib, ilen); /* rewritten below */
  uint8_t *longer = malloc(ilen + 3);
  memcpy(longer, ib, ilen);
  memset(longer + ilen, 0, 3);
  write_file(tpath("t-img-long"), longer, ilen + 3);
  free(longer);
  expect_fail("t-img-short", "t-lab", HEED_ETRUNC, "t-img-short", "truncated");
  expect_fail("t-img-hdr", "t-lab", HEED_ETRUNC, "t-img-hdr", "header");
  expect_fail("t-img-2", "t-lab", HEED_ETRUNC, "t-img-2", "header");
  expect_fail("t-img-0", "t-lab", HEED_ETRUNC, "t-img-0", "header");
  expect_fail("t-img", "t-lab-short", HEED_ETRUNC, "t-lab-short", "truncated");
  expect_fail("t-img-long", "t-lab", HEED_EFORMAT, "t-img-long", "trailing");

  /* A gzip stream cut short, and one with a corrupted body. */
  write_gzip(tpath("t-img.gz"), ib, ilen);
  FILE *f = fopen(tpath("t-img.gz"), "rb");
  uint8_t gz[4096];
  size_t gzlen = fread(gz, 1, sizeof gz, f);
  fclose(f);
  assert_true(gzlen > 20);
  write_file(tpath("t-img-cut.gz"), gz, gzlen - 12);
  expect_fail("t-img-cut.gz", "t-lab", HEED_ETRUNC, "t-img-cut.gz", "gzip");
  gz[gzlen - 6] ^= 0xff; /* the stored CRC: a trailer mismatch */
  write_file(tpath("t-img-bad.gz"), gz, gzlen);
  expect_fail("t-img-bad.gz", "t-lab", HEED_EFORMAT, "t-img-bad.gz", "gzip");
  free(ib);
  free(lb);
}

static void test_mismatch_and_range(void **state) {
  (void)state;
  write_pair("r-img", "r-lab", 0);
  size_t llen;
  uint8_t *lb = make_idx_labels(N - 1, &llen);
  write_file(tpath("r-lab4"), lb, llen);
  free(lb);
  expect_fail("r-img", "r-lab4", HEED_EFORMAT, "r-lab4", "4 labels");
  lb = make_idx_labels(N, &llen);
  lb[8 + 3] = 10;
  write_file(tpath("r-lab10"), lb, llen);
  free(lb);
  expect_fail("r-img", "r-lab10", HEED_ERANGE, "r-lab10", "label 10");
  expect_fail("r-img", "r-missing", HEED_ENOENT, "r-missing", "open");
}

static void test_huge_counts(void **state) {
  (void)state;
  write_pair("h-img", "h-lab", 0);
  /* Declares 4 billion 28x28 images but holds 16 bytes of them: must be
   * refused from the header and the file size, not by allocating. */
  uint8_t b[32] = {0};
  put_be32(b, 0x00000803);
  put_be32(b + 4, 0xffffffffu);
  put_be32(b + 8, 28);
  put_be32(b + 12, 28);
  write_file(tpath("h-n"), b, sizeof b);
  write_gzip(tpath("h-n.gz"), b, sizeof b);
  expect_fail("h-n", "h-lab", HEED_ETRUNC, "h-n", "declares");
  expect_fail("h-n.gz", "h-lab", HEED_ETRUNC, "h-n.gz", "declares");
  /* Sides whose product would overflow 32 bits. */
  put_be32(b + 4, 2);
  put_be32(b + 8, 0xffffffffu);
  put_be32(b + 12, 0xffffffffu);
  write_file(tpath("h-side"), b, sizeof b);
  expect_fail("h-side", "h-lab", HEED_ERANGE, "h-side", "rows");
  put_be32(b + 8, 0);
  write_file(tpath("h-zero"), b, sizeof b);
  expect_fail("h-zero", "h-lab", HEED_ERANGE, "h-zero", "dimension");
  /* A label file declaring more labels than it holds. */
  uint8_t l[12] = {0};
  put_be32(l, 0x00000801);
  put_be32(l + 4, 0x7fffffffu);
  write_file(tpath("h-lab-big"), l, sizeof l);
  expect_fail("h-img", "h-lab-big", HEED_ETRUNC, "h-lab-big", "declares");
}

static void test_bad_args(void **state) {
  (void)state;
  heed_dataset ds;
  char err[128] = "";
  assert_int_equal(heed_dataset_load_idx(NULL, "a", "b", err, sizeof err),
                   HEED_EINVAL);
  assert_int_equal(heed_dataset_load_idx(&ds, NULL, "b", NULL, 0), HEED_EINVAL);
  /* A tiny err buffer is truncated, never overrun. */
  char small[8];
  assert_int_equal(heed_dataset_load_idx(&ds, tpath("nope"), tpath("nope"),
                                         small, sizeof small),
                   HEED_ENOENT);
  assert_int_equal(strlen(small), sizeof small - 1);
}

/* Every allocation failing in turn gives HEED_ENOMEM cleanly (ASan checks
 * that nothing leaks), and the load succeeds once allocations do. */
static void test_alloc_failure(void **state) {
  (void)state;
  write_pair("a-img.gz", "a-lab", 1);
  int ok = 0;
  for (long k = 0; k < 20 && !ok; k++) {
    heed_dataset ds;
    char err[256] = "";
    heed__alloc_fail_after(k);
    int rc = heed_dataset_load_idx(&ds, tpath("a-img.gz"), tpath("a-lab"), err,
                                   sizeof err);
    heed__alloc_fail_after(-1);
    if (rc == 0) {
      check_pair(&ds);
      ok = 1;
    } else {
      assert_int_equal(rc, HEED_ENOMEM);
      assert_err_has(err, "a-");
    }
    heed_dataset_destroy(&ds);
  }
  assert_true(ok);
}

/* heed_data_load: named sets under a data dir, a directory of IDX files,
 * and the hints it gives when files are missing. */
static void test_data_load(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/mnist", tdir);
  assert_int_equal(mkdir(dir, 0755), 0);
  write_pair("mnist/train-images-idx3-ubyte", "mnist/train-labels-idx1-ubyte",
             0);
  heed_dataset train, test;
  char err[512] = "";
  /* The test set is missing: the hint names the file and fetch-data. */
  assert_int_equal(
      heed_data_load("mnist", tdir, &train, &test, err, sizeof err),
      HEED_ENOENT);
  assert_err_has(err, "t10k-images-idx3-ubyte");
  assert_err_has(err, "tools/fetch-data");
  assert_null(train.x);
  write_pair("mnist/t10k-images-idx3-ubyte.gz",
             "mnist/t10k-labels-idx1-ubyte.gz", 1);
  assert_int_equal(
      heed_data_load("mnist", tdir, &train, &test, err, sizeof err), 0);
  check_pair(&train);
  check_pair(&test);
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
  /* The same directory by path. */
  assert_int_equal(
      heed_data_load(dir, "/nonexistent", &train, &test, err, sizeof err), 0);
  check_pair(&test);
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
  /* $HEED_DATA is the default data dir. */
  setenv("HEED_DATA", tdir, 1);
  assert_int_equal(
      heed_data_load("mnist", NULL, &train, &test, err, sizeof err), 0);
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
  assert_int_equal(
      heed_data_load("fashion", NULL, &train, &test, err, sizeof err),
      HEED_ENOENT);
  assert_err_has(err, "fashion");
  assert_err_has(err, "tools/fetch-data");
  assert_int_equal(
      heed_data_load("imagenet", NULL, &train, &test, err, sizeof err),
      HEED_EINVAL);
  assert_err_has(err, "imagenet");
  assert_int_equal(
      heed_data_load("mnist", NULL, &train, &train, err, sizeof err),
      HEED_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_raw),
      cmocka_unit_test(test_gzip),
      cmocka_unit_test(test_bad_magic),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_mismatch_and_range),
      cmocka_unit_test(test_huge_counts),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_alloc_failure),
      cmocka_unit_test(test_data_load),
  };
  return cmocka_run_group_tests(tests, tdir_setup, tdir_teardown);
}
