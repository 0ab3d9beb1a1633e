/*
 * tasks.c - continual-learning task construction: Permuted MNIST (a fixed
 * pixel permutation per task), Split MNIST (disjoint groups of classes), the
 * batch order of a task's epoch, and the ACC/BWT/F metrics of an accuracy
 * matrix.
 */
#include <string.h>

#include "common/alloc.h"
#include "data/read.h"
#include "heed/rng.h"

/* Distinct mixing constants keep the permutation and order streams apart
 * from the shuffle streams of heed_dataset_shuffle_order for one seed. */
#define PERM_SALT 0x9e3779b97f4a7c15ULL
#define ORDER_SALT 0xbf58476d1ce4e5b9ULL

int heed_task_permutation(uint32_t dim, uint64_t seed, uint32_t task,
                          uint32_t *perm) {
  if (task == 0 || (perm == NULL && dim > 0))
    return HEED_EINVAL;
  for (uint32_t i = 0; i < dim; i++)
    perm[i] = i;
  if (task == 1)
    return 0;
  heed_rng rng;
  heed_rng_seed(&rng, seed ^ PERM_SALT);
  uint64_t mixed =
      heed_rng_next(&rng) ^ ((uint64_t)task * 0xd1342543de82ef95ULL);
  heed_rng_seed(&rng, mixed);
  for (uint32_t i = dim; i > 1; i--) {
    uint32_t j = (uint32_t)heed_rng_below(&rng, i);
    uint32_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  return 0;
}

void heed_task_permute_rows(const float *x, size_t n, size_t dim,
                            const uint32_t *perm, float *out) {
  for (size_t s = 0; s < n; s++) {
    const float *src = x + s * dim;
    float *dst = out + s * dim;
    for (size_t k = 0; k < dim; k++)
      dst[k] = src[perm[k]];
  }
}

int heed_dataset_permute(const heed_dataset *ds, const uint32_t *perm,
                         heed_dataset *out) {
  if (ds == NULL || out == NULL || ds == out || (perm == NULL && ds->dim > 0))
    return HEED_EINVAL;
  memset(out, 0, sizeof *out);
  int rc = heed__dataset_alloc(out, ds->n, ds->dim);
  if (rc < 0)
    return rc;
  out->classes = ds->classes;
  out->rows = ds->rows;
  out->cols = ds->cols;
  out->channels = ds->channels;
  heed_task_permute_rows(ds->x, ds->n, ds->dim, perm, out->x);
  if (ds->n)
    memcpy(out->y, ds->y, ds->n);
  return 0;
}

int heed_task_split(const heed_dataset *all, uint32_t task,
                    uint32_t classes_per_task, heed_dataset *out) {
  if (all == NULL || out == NULL || all == out || task == 0 ||
      classes_per_task == 0)
    return HEED_EINVAL;
  memset(out, 0, sizeof *out);
  uint64_t lo = (uint64_t)(task - 1) * classes_per_task,
           hi = lo + classes_per_task;
  if (hi > all->classes)
    return HEED_ERANGE;
  size_t count = 0;
  for (size_t i = 0; i < all->n; i++)
    count += all->y[i] >= lo && all->y[i] < hi;
  int rc = heed__dataset_alloc(out, count, all->dim);
  if (rc < 0)
    return rc;
  out->classes = all->classes;
  out->rows = all->rows;
  out->cols = all->cols;
  out->channels = all->channels;
  size_t k = 0;
  for (size_t i = 0; i < all->n; i++)
    if (all->y[i] >= lo && all->y[i] < hi) {
      memcpy(out->x + k * all->dim, all->x + i * all->dim,
             all->dim * sizeof(float));
      out->y[k++] = all->y[i];
    }
  return 0;
}

int heed_task_batch_order(size_t n, uint64_t seed, uint32_t task,
                          uint32_t epoch, uint32_t *order) {
  if (task == 0)
    return HEED_EINVAL;
  heed_rng rng;
  heed_rng_seed(&rng, seed ^ ORDER_SALT);
  uint64_t mixed =
      heed_rng_next(&rng) ^ ((uint64_t)task * 0x94d049bb133111ebULL);
  return heed_dataset_shuffle_order(n, mixed, epoch, order);
}

int heed_cl_metrics(const double *R, uint32_t T, double *acc, double *bwt,
                    double *forgetting) {
  if (R == NULL || T == 0)
    return HEED_EINVAL;
  const double *last = R + (size_t)(T - 1) * T;
  double a = 0, b = 0, f = 0;
  for (uint32_t j = 0; j < T; j++)
    a += last[j];
  for (uint32_t j = 0; j + 1 < T; j++) {
    b += last[j] - R[(size_t)j * T + j];
    double best = R[(size_t)j * T + j];
    for (uint32_t i = 0; i + 1 < T; i++)
      if (R[(size_t)i * T + j] > best)
        best = R[(size_t)i * T + j];
    f += best - last[j];
  }
  if (acc)
    *acc = a / T;
  if (bwt)
    *bwt = T > 1 ? b / (T - 1) : 0;
  if (forgetting)
    *forgetting = T > 1 ? f / (T - 1) : 0;
  return 0;
}
