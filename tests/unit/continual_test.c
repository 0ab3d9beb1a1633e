/* continual_test.c - the forgetting benchmark's building blocks: ACC, BWT
 * and F on hand-made accuracy matrices, Permuted and Split MNIST tasks, and
 * the batch order that --compare relies on. */
#include <setjmp.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "heed/data.h"

#define EPS 1e-12
#define assert_close(a, b) assert_true(fabs((double)(a) - (double)(b)) < EPS)

static int is_permutation(const uint32_t *p, size_t n) {
  uint8_t *seen = calloc(n ? n : 1, 1);
  int ok = seen != NULL;
  for (size_t i = 0; i < n && ok; i++) {
    if (p[i] >= n || seen[p[i]])
      ok = 0;
    else
      seen[p[i]] = 1;
  }
  free(seen);
  return ok;
}

/* --- metrics ------------------------------------------------------------ */

static void metrics_three_tasks(void **state) {
  (void)state;
  /* R[i][j]: after task i, accuracy on task j. */
  const double R[9] = {0.90, 0.10, 0.05,  /* after task 1 */
                       0.70, 0.95, 0.10,  /* after task 2 */
                       0.60, 0.80, 0.99}; /* after task 3 */
  double acc, bwt, f;
  assert_int_equal(heed_cl_metrics(R, 3, &acc, &bwt, &f), 0);
  /* ACC = (0.60 + 0.80 + 0.99) / 3 = 2.39 / 3 */
  assert_close(acc, 2.39 / 3);
  /* BWT = ((0.60 - 0.90) + (0.80 - 0.95)) / 2 = (-0.30 - 0.15) / 2 */
  assert_close(bwt, -0.225);
  /* F: task 1 best 0.90 (rows 1..2) -> 0.30; task 2 best 0.95 -> 0.15 */
  assert_close(f, 0.225);
}

static void metrics_forgetting_uses_best_not_diagonal(void **state) {
  (void)state;
  /* Task 1 improves after task 2 (positive transfer), then drops. */
  const double R[9] = {0.50, 0.0, 0.0,
                       0.80, 0.90, 0.0,
                       0.70, 0.90, 0.95};
  double acc, bwt, f;
  assert_int_equal(heed_cl_metrics(R, 3, &acc, &bwt, &f), 0);
  assert_close(acc, (0.70 + 0.90 + 0.95) / 3);
  /* BWT = ((0.70 - 0.50) + (0.90 - 0.90)) / 2 = +0.10 */
  assert_close(bwt, 0.10);
  /* F = ((0.80 - 0.70) + (0.90 - 0.90)) / 2 = 0.05 */
  assert_close(f, 0.05);
}

static void metrics_no_forgetting_and_one_task(void **state) {
  (void)state;
  const double R[4] = {0.9, 0.2, 0.9, 0.8};
  double acc, bwt, f;
  assert_int_equal(heed_cl_metrics(R, 2, &acc, &bwt, &f), 0);
  assert_close(acc, 0.85);
  assert_close(bwt, 0.0);
  assert_close(f, 0.0);
  const double one = 0.75;
  assert_int_equal(heed_cl_metrics(&one, 1, &acc, &bwt, &f), 0);
  assert_close(acc, 0.75);
  assert_close(bwt, 0.0);
  assert_close(f, 0.0);
  assert_int_equal(heed_cl_metrics(R, 2, NULL, NULL, &f), 0);
  assert_int_equal(heed_cl_metrics(NULL, 2, &acc, &bwt, &f), HEED_EINVAL);
  assert_int_equal(heed_cl_metrics(R, 0, &acc, &bwt, &f), HEED_EINVAL);
}

/* --- Permuted MNIST ----------------------------------------------------- */

static void permutation_fixed_bijective_identity(void **state) {
  (void)state;
  enum { D = 784 };
  uint32_t *a = malloc(D * sizeof *a), *b = malloc(D * sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(heed_task_permutation(D, 7, 1, a), 0);
  for (uint32_t i = 0; i < D; i++)
    assert_int_equal(a[i], i);
  for (uint32_t t = 2; t <= 10; t++) {
    assert_int_equal(heed_task_permutation(D, 7, t, a), 0);
    assert_true(is_permutation(a, D));
    assert_int_equal(heed_task_permutation(D, 7, t, b), 0);
    assert_memory_equal(a, b, D * sizeof *a); /* fixed per (seed, task) */
    size_t moved = 0;
    for (uint32_t i = 0; i < D; i++)
      moved += a[i] != i;
    assert_true(moved > D / 2);
  }
  /* different tasks, and different seeds, differ */
  heed_task_permutation(D, 7, 2, a);
  heed_task_permutation(D, 7, 3, b);
  assert_memory_not_equal(a, b, D * sizeof *a);
  heed_task_permutation(D, 8, 2, b);
  assert_memory_not_equal(a, b, D * sizeof *a);
  assert_int_equal(heed_task_permutation(D, 7, 0, a), HEED_EINVAL);
  free(a);
  free(b);
}

/* heed continual --tune draws its permutations from seed ^ 0x54554e4531
 * (TUNE_SALT in src/cli/continual.c): task 1 stays the identity, and no
 * tuning permutation is one of the evaluation permutations of seeds 1..50. */
static void tuning_permutations_are_not_evaluation_ones(void **state) {
  (void)state;
  enum { D = 784 };
  const uint64_t salt = 0x54554e4531ULL;
  uint32_t *a = malloc(D * sizeof *a), *b = malloc(D * sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  for (uint64_t seed = 1; seed <= 5; seed++) {
    assert_int_equal(heed_task_permutation(D, seed ^ salt, 1, a), 0);
    for (uint32_t i = 0; i < D; i++)
      assert_int_equal(a[i], i);
    for (uint32_t t = 2; t <= 5; t++) {
      assert_int_equal(heed_task_permutation(D, seed ^ salt, t, a), 0);
      assert_true(is_permutation(a, D));
      for (uint64_t s = 1; s <= 50; s++)
        for (uint32_t u = 2; u <= 5; u++) {
          heed_task_permutation(D, s, u, b);
          assert_memory_not_equal(a, b, D * sizeof *a);
        }
    }
  }
  free(a);
  free(b);
}

static void permute_dataset(void **state) {
  (void)state;
  heed_dataset ds = {0}, out = {0};
  ds.n = 3;
  ds.dim = 4;
  ds.classes = 10;
  ds.x = heed__malloc(12 * sizeof(float));
  ds.y = heed__malloc(3);
  for (int i = 0; i < 12; i++)
    ds.x[i] = (float)i;
  ds.y[0] = 3, ds.y[1] = 1, ds.y[2] = 4;
  const uint32_t perm[4] = {2, 0, 3, 1};
  assert_int_equal(heed_dataset_permute(&ds, perm, &out), 0);
  assert_int_equal(out.n, 3);
  assert_int_equal(out.dim, 4);
  for (size_t s = 0; s < 3; s++) {
    for (size_t k = 0; k < 4; k++)
      assert_true(out.x[s * 4 + k] == ds.x[s * 4 + perm[k]]);
    assert_int_equal(out.y[s], ds.y[s]);
  }
  heed_dataset_destroy(&out);
  heed_dataset_destroy(&ds);
}

/* --- Split MNIST -------------------------------------------------------- */

static void split_tasks_hold_their_digits(void **state) {
  (void)state;
  enum { N = 1000 };
  heed_dataset all = {0};
  all.n = N;
  all.dim = 2;
  all.classes = 10;
  all.x = heed__malloc(N * 2 * sizeof(float));
  all.y = heed__malloc(N);
  size_t per_class[10] = {0};
  for (size_t i = 0; i < N; i++) {
    all.y[i] = (uint8_t)((i * 7 + i / 13) % 10);
    all.x[2 * i] = (float)i; /* traceable */
    all.x[2 * i + 1] = (float)all.y[i];
    per_class[all.y[i]]++;
  }
  size_t total = 0;
  for (uint32_t t = 1; t <= 5; t++) {
    heed_dataset part;
    assert_int_equal(heed_task_split(&all, t, 2, &part), 0);
    uint8_t lo = (uint8_t)(2 * (t - 1)), hi = (uint8_t)(lo + 1);
    assert_int_equal(part.n, per_class[lo] + per_class[hi]); /* all of them */
    assert_int_equal(part.dim, 2);
    size_t prev = 0;
    for (size_t i = 0; i < part.n; i++) {
      assert_true(part.y[i] == lo || part.y[i] == hi); /* only them */
      size_t src = (size_t)part.x[2 * i];
      assert_int_equal(all.y[src], part.y[i]);
      assert_true(part.x[2 * i + 1] == (float)part.y[i]);
      if (i)
        assert_true(src > prev); /* file order, no duplicates */
      prev = src;
    }
    total += part.n;
    heed_dataset_destroy(&part);
  }
  assert_int_equal(total, N);
  heed_dataset part;
  assert_int_equal(heed_task_split(&all, 6, 2, &part), HEED_ERANGE);
  assert_int_equal(heed_task_split(&all, 0, 2, &part), HEED_EINVAL);
  heed_dataset_destroy(&all);
}

/* --- the batch order every strategy of a comparison shares --------------- */

static void batch_order_depends_on_seed_task_epoch_only(void **state) {
  (void)state;
  enum { N = 5000 };
  uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  for (uint32_t t = 1; t <= 3; t++)
    for (uint32_t e = 0; e < 3; e++) {
      assert_int_equal(heed_task_batch_order(N, 42, t, e, a), 0);
      assert_true(is_permutation(a, N));
      /* recomputed later (as for the next strategy of --compare): same */
      memset(b, 0, N * sizeof *b);
      assert_int_equal(heed_task_batch_order(N, 42, t, e, b), 0);
      assert_memory_equal(a, b, N * sizeof *a);
    }
  heed_task_batch_order(N, 42, 1, 0, a);
  heed_task_batch_order(N, 42, 2, 0, b);
  assert_memory_not_equal(a, b, N * sizeof *a); /* tasks differ */
  heed_task_batch_order(N, 42, 1, 1, b);
  assert_memory_not_equal(a, b, N * sizeof *a); /* epochs differ */
  heed_task_batch_order(N, 43, 1, 0, b);
  assert_memory_not_equal(a, b, N * sizeof *a); /* seeds differ */
  /* not the plain epoch shuffle of heed train for the same seed */
  heed_dataset_shuffle_order(N, 42, 0, b);
  assert_memory_not_equal(a, b, N * sizeof *a);
  assert_int_equal(heed_task_batch_order(N, 42, 0, 0, a), HEED_EINVAL);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(metrics_three_tasks),
      cmocka_unit_test(metrics_forgetting_uses_best_not_diagonal),
      cmocka_unit_test(metrics_no_forgetting_and_one_task),
      cmocka_unit_test(permutation_fixed_bijective_identity),
      cmocka_unit_test(tuning_permutations_are_not_evaluation_ones),
      cmocka_unit_test(permute_dataset),
      cmocka_unit_test(split_tasks_hold_their_digits),
      cmocka_unit_test(batch_order_depends_on_seed_task_epoch_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
