/* data_split_test.c - seeded split, per-epoch shuffle order, gather, rng. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "heed/data.h"
#include "heed/rng.h"

/* A dataset of n samples of dim 3 whose features encode the sample index,
 * so any copy can be traced back to its origin. */
static void make(heed_dataset *ds, size_t n) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->dim = 3;
  ds->classes = 10;
  ds->rows = 1;
  ds->cols = 3;
  ds->channels = 1;
  ds->x = heed__malloc(n * 3 * sizeof(float));
  ds->y = heed__malloc(n);
  assert_non_null(ds->x);
  assert_non_null(ds->y);
  for (size_t i = 0; i < n; i++) {
    ds->x[i * 3] = (float)i;
    ds->x[i * 3 + 1] = (float)i + 0.5f;
    ds->x[i * 3 + 2] = -(float)i;
    ds->y[i] = (uint8_t)(i % 10);
  }
}

static int is_permutation(const uint32_t *order, size_t n) {
  uint8_t *seen = calloc(n ? n : 1, 1);
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++) {
    if (order[i] >= n || seen[order[i]])
      ok = 0;
    else
      seen[order[i]] = 1;
  }
  free(seen);
  return ok;
}

static void test_shuffle_order(void **state) {
  (void)state;
  enum { N = 1000 };
  static uint32_t a[N], b[N], c[N], d[N];
  assert_int_equal(heed_dataset_shuffle_order(N, 42, 0, a), 0);
  assert_int_equal(heed_dataset_shuffle_order(N, 42, 0, b), 0);
  assert_int_equal(heed_dataset_shuffle_order(N, 42, 1, c), 0);
  assert_int_equal(heed_dataset_shuffle_order(N, 43, 0, d), 0);
  assert_true(is_permutation(a, N));
  assert_true(is_permutation(c, N));
  assert_true(is_permutation(d, N));
  assert_memory_equal(a, b, sizeof a);     /* same seed and epoch */
  assert_memory_not_equal(a, c, sizeof a); /* next epoch */
  assert_memory_not_equal(a, d, sizeof a); /* other seed */
  size_t fixed = 0;
  for (size_t i = 0; i < N; i++)
    fixed += a[i] == i;
  assert_true(fixed < 10); /* shuffled, not the identity (expected 1) */
  /* Edge cases. */
  assert_int_equal(heed_dataset_shuffle_order(0, 1, 0, NULL), 0);
  uint32_t one = 7;
  assert_int_equal(heed_dataset_shuffle_order(1, 1, 0, &one), 0);
  assert_int_equal(one, 0);
  assert_int_equal(heed_dataset_shuffle_order(5, 1, 0, NULL), HEED_EINVAL);
#if SIZE_MAX > UINT32_MAX
  assert_int_equal(heed_dataset_shuffle_order((size_t)UINT32_MAX + 2, 1, 0, a),
                   HEED_EINVAL);
#endif
}

static void test_split(void **state) {
  (void)state;
  heed_dataset all, tr, te, tr2, te2;
  make(&all, 1797); /* the size of sklearn's digits */
  assert_int_equal(heed_dataset_split(&all, 7, 0.2, &tr, &te), 0);
  assert_int_equal(te.n, 359); /* round(1797 * 0.2) */
  assert_int_equal(tr.n, 1438);
  assert_int_equal(tr.dim, 3);
  assert_int_equal(te.classes, 10);
  assert_int_equal(te.cols, 3);
  /* Disjoint and covering: every index exactly once, rows intact. */
  uint8_t *seen = calloc(all.n, 1);
  const heed_dataset *parts[2] = {&tr, &te};
  for (int p = 0; p < 2; p++) {
    for (size_t i = 0; i < parts[p]->n; i++) {
      const float *row = parts[p]->x + i * 3;
      size_t k = (size_t)row[0];
      assert_true(k < all.n);
      assert_false(seen[k]);
      seen[k] = 1;
      assert_true(row[1] == (float)k + 0.5f);
      assert_true(row[2] == -(float)k);
      assert_int_equal(parts[p]->y[i], k % 10);
    }
  }
  for (size_t k = 0; k < all.n; k++)
    assert_true(seen[k]);
  free(seen);
  /* Deterministic per seed, different across seeds. */
  assert_int_equal(heed_dataset_split(&all, 7, 0.2, &tr2, &te2), 0);
  assert_memory_equal(te.x, te2.x, te.n * 3 * sizeof(float));
  assert_memory_equal(tr.y, tr2.y, tr.n);
  heed_dataset_destroy(&tr2);
  heed_dataset_destroy(&te2);
  assert_int_equal(heed_dataset_split(&all, 8, 0.2, &tr2, &te2), 0);
  assert_memory_not_equal(te.x, te2.x, te.n * 3 * sizeof(float));
  heed_dataset_destroy(&tr2);
  heed_dataset_destroy(&te2);
  heed_dataset_destroy(&tr);
  heed_dataset_destroy(&te);

  /* Bad fractions and sizes leave the outputs empty. */
  assert_int_equal(heed_dataset_split(&all, 1, 0.0, &tr, &te), HEED_EINVAL);
  assert_int_equal(heed_dataset_split(&all, 1, 1.0, &tr, &te), HEED_EINVAL);
  assert_int_equal(heed_dataset_split(&all, 1, 0.0001, &tr, &te), HEED_EINVAL);
  assert_int_equal(heed_dataset_split(&all, 1, 0.2, &tr, &tr), HEED_EINVAL);
  assert_int_equal(heed_dataset_split(&all, 1, 0.2, &all, &te), HEED_EINVAL);
  assert_null(tr.x);
  assert_null(te.x);
  /* Allocation failures: clean HEED_ENOMEM, no leak (ASan). */
  for (long k = 0; k < 3; k++) {
    heed__alloc_fail_after(k);
    assert_int_equal(heed_dataset_split(&all, 1, 0.2, &tr, &te), HEED_ENOMEM);
    heed__alloc_fail_after(-1);
    assert_null(tr.x);
    assert_null(te.x);
  }
  heed_dataset_destroy(&all);
}

static void test_gather(void **state) {
  (void)state;
  heed_dataset all;
  make(&all, 20);
  uint32_t idx[4] = {19, 0, 7, 7};
  float x[12];
  uint8_t y[4];
  heed_dataset_gather(&all, idx, 4, x, y);
  for (int i = 0; i < 4; i++) {
    assert_true(x[i * 3] == (float)idx[i]);
    assert_true(x[i * 3 + 2] == -(float)idx[i]);
    assert_int_equal(y[i], idx[i] % 10);
  }
  heed_dataset_gather(&all, idx, 2, x, NULL); /* labels optional */
  heed_dataset_destroy(&all);
}

static void test_rng(void **state) {
  (void)state;
  heed_rng a, b;
  heed_rng_seed(&a, 0);
  heed_rng_seed(&b, 0);
  for (int i = 0; i < 100; i++)
    assert_true(heed_rng_next(&a) == heed_rng_next(&b));
  heed_rng_seed(&b, 1);
  assert_true(heed_rng_next(&a) != heed_rng_next(&b));
  double sum = 0, sq = 0;
  int counts[7] = {0};
  enum { M = 100000 };
  for (int i = 0; i < M; i++) {
    double u = heed_rng_uniform(&a);
    assert_true(u >= 0.0 && u < 1.0);
    uint64_t k = heed_rng_below(&a, 7);
    assert_true(k < 7);
    counts[k]++;
    double z = heed_rng_normal(&a);
    sum += z;
    sq += z * z;
  }
  assert_true(sum / M > -0.02 && sum / M < 0.02); /* mean 0 */
  assert_true(sq / M > 0.97 && sq / M < 1.03);    /* variance 1 */
  for (int k = 0; k < 7; k++)
    assert_true(counts[k] > M / 7 - 700 && counts[k] < M / 7 + 700);
  assert_true(heed_rng_below(&a, 0) == 0);
  assert_true(heed_rng_below(&a, 1) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shuffle_order),
      cmocka_unit_test(test_split),
      cmocka_unit_test(test_gather),
      cmocka_unit_test(test_rng),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
