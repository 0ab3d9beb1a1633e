/* data_cifar_test.c - CIFAR-10 binary batches: values, layout, bad files. */
#include "data_test_util.h"

#include <sys/stat.h>

#include "heed/data.h"

#define RECORD 3073

/* A batch of n records: label (i + first) % 10, pixel j of record i equal to
 * (i * 31 + j) & 255. free() the result. */
static uint8_t *make_batch(size_t n, size_t first) {
  uint8_t *b = malloc(n * RECORD);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) {
    b[i * RECORD] = (uint8_t)((i + first) % 10);
    for (size_t j = 0; j < 3072; j++)
      b[i * RECORD + 1 + j] = (uint8_t)(((i + first) * 31 + j) & 255);
  }
  return b;
}

static void check_batch(const heed_dataset *ds, size_t n) {
  assert_int_equal(ds->n, n);
  assert_int_equal(ds->dim, 3072);
  assert_int_equal(ds->rows, 32);
  assert_int_equal(ds->cols, 32);
  assert_int_equal(ds->channels, 3);
  assert_int_equal(ds->classes, 10);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(ds->y[i], i % 10);
    for (size_t j = 0; j < 3072; j++) {
      uint8_t v = (uint8_t)((i * 31 + j) & 255);
      assert_true(ds->x[i * 3072 + j] == (float)v / 255.0f);
    }
  }
}

static void test_good(void **state) {
  (void)state;
  uint8_t *a = make_batch(4, 0), *b = make_batch(3, 4);
  write_file(tpath("a.bin"), a, 4 * RECORD);
  write_gzip(tpath("b.bin"), b, 3 * RECORD);
  free(a);
  free(b);
  heed_dataset ds;
  char err[256] = "";
  const char *files[] = {tpath("a.bin"), tpath("b.bin")};
  assert_int_equal(heed_dataset_load_cifar10(&ds, files, 2, err, sizeof err),
                   0);
  check_batch(&ds, 7); /* concatenated in order */
  heed_dataset_destroy(&ds);
}

static void expect_fail(const char *const *files, size_t nfiles, int code,
                        const char *file, const char *reason) {
  heed_dataset ds;
  char err[512] = "";
  int rc = heed_dataset_load_cifar10(&ds, files, nfiles, err, sizeof err);
  if (rc != code)
    fail_msg("expected %s, got %s: %s", heed_err_name(code), heed_err_name(rc),
             err);
  print_message("  %s\n", err);
  assert_err_has(err, file);
  assert_err_has(err, reason);
  assert_null(ds.x);
  assert_int_equal(ds.n, 0);
}

static void test_bad(void **state) {
  (void)state;
  uint8_t *a = make_batch(3, 0);
  write_file(tpath("good.bin"), a, 3 * RECORD);
  write_file(tpath("short.bin"), a, 3 * RECORD - 100);
  write_file(tpath("empty.bin"), a, 0);
  a[RECORD] = 10;
  write_file(tpath("label.bin"), a, 3 * RECORD);
  free(a);
  const char *f1[] = {tpath("good.bin"), tpath("short.bin")};
  expect_fail(f1, 2, HEED_ETRUNC, "short.bin", "truncated");
  const char *f2[] = {tpath("empty.bin")};
  expect_fail(f2, 1, HEED_ETRUNC, "empty.bin", "records");
  const char *f3[] = {tpath("label.bin")};
  expect_fail(f3, 1, HEED_ERANGE, "label.bin", "label 10 of record 1");
  const char *f4[] = {tpath("good.bin"), tpath("absent.bin")};
  expect_fail(f4, 2, HEED_ENOENT, "absent.bin", "open");
  heed_dataset ds;
  assert_int_equal(heed_dataset_load_cifar10(&ds, NULL, 0, NULL, 0),
                   HEED_EINVAL);
}

/* heed_data_load("cifar10"): five training batches and one test batch. */
static void test_named(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/cifar10", tdir);
  assert_int_equal(mkdir(dir, 0755), 0);
  uint8_t *a = make_batch(2, 0);
  for (int i = 1; i <= 5; i++) {
    char name[64];
    snprintf(name, sizeof name, "cifar10/data_batch_%d.bin", i);
    write_file(tpath(name), a, 2 * RECORD);
  }
  heed_dataset train, test;
  char err[512] = "";
  assert_int_equal(
      heed_data_load("cifar10", tdir, &train, &test, err, sizeof err),
      HEED_ENOENT);
  assert_err_has(err, "test_batch.bin");
  write_file(tpath("cifar10/test_batch.bin"), a, 2 * RECORD);
  free(a);
  assert_int_equal(
      heed_data_load("cifar10", tdir, &train, &test, err, sizeof err), 0);
  assert_int_equal(train.n, 10);
  check_batch(&test, 2);
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_bad),
      cmocka_unit_test(test_named),
  };
  return cmocka_run_group_tests(tests, tdir_setup, tdir_teardown);
}
