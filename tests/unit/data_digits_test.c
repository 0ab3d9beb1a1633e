/* data_digits_test.c - scikit-learn digits CSV: values, scaling, bad rows. */
#include "data_test_util.h"

#include <sys/stat.h>

#include "heed/data.h"

/* A CSV of n rows: value j of row i is (i + j) % 17, label i % 10. */
static char *make_csv(size_t n) {
  size_t cap = n * 65 * 4 + 16, len = 0;
  char *s = malloc(cap);
  assert_non_null(s);
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < 64; j++)
      len += (size_t)snprintf(s + len, cap - len, "%zu,", (i + j) % 17);
    len += (size_t)snprintf(s + len, cap - len, "%zu\n", i % 10);
  }
  return s;
}

static void check_csv(const heed_dataset *ds, size_t n) {
  assert_int_equal(ds->n, n);
  assert_int_equal(ds->dim, 64);
  assert_int_equal(ds->rows, 8);
  assert_int_equal(ds->cols, 8);
  assert_int_equal(ds->classes, 10);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(ds->y[i], i % 10);
    for (size_t j = 0; j < 64; j++)
      assert_true(ds->x[i * 64 + j] == (float)((double)((i + j) % 17) / 16.0));
  }
}

static void test_good(void **state) {
  (void)state;
  char *s = make_csv(12);
  write_file(tpath("d.csv"), s, strlen(s));
  write_gzip(tpath("d.csv.gz"), s, strlen(s));
  free(s);
  heed_dataset ds;
  char err[256] = "";
  assert_int_equal(
      heed_dataset_load_digits_csv(&ds, tpath("d.csv"), err, sizeof err), 0);
  check_csv(&ds, 12);
  assert_true(ds.x[16] == 1.0f); /* 16 / 16 */
  heed_dataset_destroy(&ds);
  assert_int_equal(
      heed_dataset_load_digits_csv(&ds, tpath("d.csv.gz"), err, sizeof err), 0);
  check_csv(&ds, 12);
  heed_dataset_destroy(&ds);
}

static void test_crlf_and_blank_lines(void **state) {
  (void)state;
  char *s = make_csv(3);
  /* Windows line ends, a trailing blank line and no final newline. */
  char buf[4096];
  size_t k = 0;
  for (char *p = s; *p; p++) {
    if (*p == '\n')
      buf[k++] = '\r';
    buf[k++] = *p;
  }
  buf[k++] = '\n';
  memcpy(buf + k, s, strchr(s, '\n') - s);
  k += (size_t)(strchr(s, '\n') - s);
  write_file(tpath("crlf.csv"), buf, k);
  free(s);
  heed_dataset ds;
  char err[256] = "";
  assert_int_equal(
      heed_dataset_load_digits_csv(&ds, tpath("crlf.csv"), err, sizeof err), 0);
  assert_int_equal(ds.n, 4);
  assert_int_equal(ds.y[3], 0);
  heed_dataset_destroy(&ds);
}

/* Writes text to name, loads it and expects code and an err naming the
 * file (and line) with reason. */
static void expect_fail(const char *name, const char *text, int code,
                        const char *reason) {
  write_file(tpath(name), text, strlen(text));
  heed_dataset ds;
  char err[512] = "";
  int rc = heed_dataset_load_digits_csv(&ds, tpath(name), err, sizeof err);
  if (rc != code)
    fail_msg("%s: expected %s, got %s: %s", name, heed_err_name(code),
             heed_err_name(rc), err);
  print_message("  %s\n", err);
  assert_err_has(err, name);
  assert_err_has(err, reason);
  assert_null(ds.x);
  assert_int_equal(ds.n, 0);
}

static void test_malformed(void **state) {
  (void)state;
  char *good = make_csv(2);
  char line2[1024];
  size_t l1 = (size_t)(strchr(good, '\n') - good) + 1;
  strcpy(line2, good + l1); /* row 1, with its newline */
  char buf[4096];

  /* Too few fields on line 2. */
  snprintf(buf, sizeof buf, "%.*s1,2,3\n", (int)l1, good);
  expect_fail("few.csv", buf, HEED_EFORMAT, "few.csv:2");
  /* Too many. */
  snprintf(buf, sizeof buf, "%.*s,7\n", (int)(l1 - 1), good);
  expect_fail("many.csv", buf, HEED_EFORMAT, "many.csv:1");
  /* Not a number. */
  snprintf(buf, sizeof buf, "x%s", good);
  expect_fail("nan.csv", buf, HEED_EFORMAT, "not a number");
  /* An empty field, and a field whose value would be on the next line. */
  snprintf(buf, sizeof buf, ",%s", good);
  expect_fail("empty.csv", buf, HEED_EFORMAT, "empty");
  /* 64 values, then the label left out: strtod must not take the next
   * line's first value as the label. */
  size_t last_comma = (size_t)(strrchr(line2, ',') - line2);
  snprintf(buf, sizeof buf, "%.*s \n%s", (int)last_comma + 1, line2, line2);
  expect_fail("wrap.csv", buf, HEED_EFORMAT, "wrap.csv:1: field 65 is empty");
  /* Values out of range. */
  snprintf(buf, sizeof buf, "17%s", good + 1);
  expect_fail("big.csv", buf, HEED_ERANGE, "value 17");
  snprintf(buf, sizeof buf, "-1%s", good + 1);
  expect_fail("neg.csv", buf, HEED_ERANGE, "out of range");
  /* Labels out of range or not whole. */
  snprintf(buf, sizeof buf, "%.*s10\n", (int)(l1 - 2), good);
  expect_fail("lab.csv", buf, HEED_ERANGE, "label 10");
  snprintf(buf, sizeof buf, "%.*s1.5\n", (int)(l1 - 2), good);
  expect_fail("half.csv", buf, HEED_ERANGE, "label 1.5");
  expect_fail("blank.csv", "\n\n", HEED_EFORMAT, "no samples");
  expect_fail("zero.csv", "", HEED_EFORMAT, "no samples");
  /* A NUL byte inside: binary junk, not text. */
  memcpy(buf, good, strlen(good) + 1);
  buf[5] = '\0';
  write_file(tpath("nul.csv"), buf, strlen(good));
  heed_dataset nul;
  char err[256] = "";
  assert_int_equal(
      heed_dataset_load_digits_csv(&nul, tpath("nul.csv"), err, sizeof err),
      HEED_EFORMAT);
  assert_err_has(err, "NUL");
  free(good);
  heed_dataset ds;
  assert_int_equal(
      heed_dataset_load_digits_csv(&ds, tpath("absent.csv"), NULL, 0),
      HEED_ENOENT);
}

/* heed_data_load("digits"): a fixed 80/20 split of the CSV. */
static void test_named(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/digits", tdir);
  assert_int_equal(mkdir(dir, 0755), 0);
  char *s = make_csv(100);
  write_gzip(tpath("digits/digits.csv.gz"), s, strlen(s));
  free(s);
  heed_dataset tr1, te1, tr2, te2;
  char err[256] = "";
  assert_int_equal(heed_data_load("digits", tdir, &tr1, &te1, err, sizeof err),
                   0);
  assert_int_equal(tr1.n, 80);
  assert_int_equal(te1.n, 20);
  assert_int_equal(te1.dim, 64);
  assert_int_equal(heed_data_load("digits", tdir, &tr2, &te2, err, sizeof err),
                   0);
  assert_memory_equal(te1.x, te2.x, 20 * 64 * sizeof(float));
  assert_memory_equal(tr1.y, tr2.y, 80);
  heed_dataset_destroy(&tr2);
  heed_dataset_destroy(&te2);

  /* Split seed 0 is the fixed split; another seed draws another 80/20
   * partition of the same 100 samples. */
  assert_int_equal(heed_data_load_split("digits", tdir, 0, &tr2, &te2, err,
                                        sizeof err), 0);
  assert_memory_equal(te1.x, te2.x, 20 * 64 * sizeof(float));
  heed_dataset_destroy(&tr2);
  heed_dataset_destroy(&te2);
  assert_int_equal(heed_data_load_split("digits", tdir, 7, &tr2, &te2, err,
                                        sizeof err), 0);
  assert_int_equal(tr2.n, 80);
  assert_int_equal(te2.n, 20);
  assert_true(memcmp(te1.x, te2.x, 20 * 64 * sizeof(float)) != 0);
  /* still a partition: the pixel sums of train + test agree */
  double s1 = 0, s2 = 0;
  for (size_t i = 0; i < 80 * 64; i++) {
    s1 += tr1.x[i];
    s2 += tr2.x[i];
  }
  for (size_t i = 0; i < 20 * 64; i++) {
    s1 += te1.x[i];
    s2 += te2.x[i];
  }
  assert_true(s1 - s2 < 1e-6 && s2 - s1 < 1e-6);
  heed_dataset_destroy(&tr1);
  heed_dataset_destroy(&te1);
  heed_dataset_destroy(&tr2);
  heed_dataset_destroy(&te2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_crlf_and_blank_lines),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_named),
  };
  return cmocka_run_group_tests(tests, tdir_setup, tdir_teardown);
}
