/*
 * data_real_test.c - the real datasets that tools/fetch-data downloads,
 * read from $HEED_DATA (tests/meson.build points it at the repo's data/).
 * tools/test fetches them first; a missing set fails with the fetch hint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "heed/data.h"

static void check(const heed_dataset *ds, size_t n, size_t dim,
                  uint32_t classes) {
  assert_int_equal(ds->n, n);
  assert_int_equal(ds->dim, dim);
  assert_int_equal(ds->classes, classes);
  size_t per_class[256] = {0};
  for (size_t i = 0; i < ds->n; i++) {
    assert_true(ds->y[i] < classes);
    per_class[ds->y[i]]++;
  }
  for (uint32_t c = 0; c < classes; c++)
    assert_true(per_class[c] > n / classes / 2); /* every class present */
  float lo = 1, hi = 0;
  double sum = 0;
  for (size_t i = 0; i < ds->n * ds->dim; i++) {
    float v = ds->x[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    sum += v;
  }
  assert_true(lo == 0.0f);
  assert_true(hi == 1.0f);
  double mean = sum / (double)(ds->n * ds->dim);
  assert_true(mean > 0.05 && mean < 0.6);
}

static void load(const char *spec, heed_dataset *train, heed_dataset *test) {
  char err[512] = "";
  int rc = heed_data_load(spec, NULL, train, test, err, sizeof err);
  if (rc != 0)
    fail_msg("%s: %s (%s)", spec, err, heed_err_name(rc));
}

static void test_mnist(void **state) {
  (void)state;
  heed_dataset train, test;
  load("mnist", &train, &test);
  check(&train, 60000, 784, 10);
  check(&test, 10000, 784, 10);
  assert_int_equal(train.rows, 28);
  assert_int_equal(train.cols, 28);
  /* The first training digit of MNIST is a 5, the first test digit a 7. */
  assert_int_equal(train.y[0], 5);
  assert_int_equal(test.y[0], 7);
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
}

static void test_fashion(void **state) {
  (void)state;
  heed_dataset train, test;
  load("fashion", &train, &test);
  check(&train, 60000, 784, 10);
  check(&test, 10000, 784, 10);
  assert_int_equal(train.y[0], 9); /* an ankle boot */
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
}

static void test_digits(void **state) {
  (void)state;
  heed_dataset train, test;
  load("digits", &train, &test);
  check(&train, 1438, 64, 10);
  check(&test, 359, 64, 10);
  heed_dataset_destroy(&train);
  heed_dataset_destroy(&test);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mnist),
      cmocka_unit_test(test_fashion),
      cmocka_unit_test(test_digits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
