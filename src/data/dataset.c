/* dataset.c - owning, splitting, shuffling and batching datasets. */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "data/read.h"
#include "heed/rng.h"

void heed_dataset_destroy(heed_dataset *ds) {
  if (ds == NULL)
    return;
  heed__free(ds->x);
  heed__free(ds->y);
  memset(ds, 0, sizeof *ds);
}

/* One stream per (seed, epoch): the epoch is folded into a mixed seed
 * rather than added to it, so nearby seeds and epochs do not give
 * overlapping splitmix64 sequences. */
static void rng_for_epoch(heed_rng *rng, uint64_t seed, uint32_t epoch) {
  heed_rng_seed(rng, seed);
  uint64_t mixed =
      heed_rng_next(rng) ^ ((uint64_t)epoch * 0xd1342543de82ef95ULL);
  heed_rng_seed(rng, mixed);
}

int heed_dataset_shuffle_order(size_t n, uint64_t seed, uint32_t epoch,
                               uint32_t *order) {
  if (n > UINT32_MAX || (order == NULL && n > 0))
    return HEED_EINVAL;
  for (size_t i = 0; i < n; i++)
    order[i] = (uint32_t)i;
  heed_rng rng;
  rng_for_epoch(&rng, seed, epoch);
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)heed_rng_below(&rng, i);
    uint32_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  return 0;
}

void heed_dataset_gather(const heed_dataset *ds, const uint32_t *idx,
                         size_t count, float *x_out, uint8_t *y_out) {
  for (size_t i = 0; i < count; i++) {
    size_t k = idx[i];
    memcpy(x_out + i * ds->dim, ds->x + k * ds->dim, ds->dim * sizeof(float));
    if (y_out != NULL)
      y_out[i] = ds->y[k];
  }
}

/* Fills part with the samples order[0..count) of all (same shape). */
static int take(const heed_dataset *all, const uint32_t *order, size_t count,
                heed_dataset *part) {
  int rc = heed__dataset_alloc(part, count, all->dim);
  if (rc < 0)
    return rc;
  part->classes = all->classes;
  part->rows = all->rows;
  part->cols = all->cols;
  part->channels = all->channels;
  heed_dataset_gather(all, order, count, part->x, part->y);
  return 0;
}

int heed_dataset_split(const heed_dataset *all, uint64_t seed,
                       double test_fraction, heed_dataset *train,
                       heed_dataset *test) {
  if (all == NULL || train == NULL || test == NULL || train == test ||
      all == train || all == test ||
      !(test_fraction > 0.0 && test_fraction < 1.0))
    return HEED_EINVAL;
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  size_t n_test = (size_t)llround((double)all->n * test_fraction);
  if (n_test == 0 || n_test >= all->n || all->n > UINT32_MAX)
    return HEED_EINVAL;
  uint32_t *order = heed__malloc(all->n * sizeof *order);
  if (order == NULL)
    return HEED_ENOMEM;
  int rc = heed_dataset_shuffle_order(all->n, seed, 0, order);
  if (rc == 0)
    rc = take(all, order, n_test, test);
  if (rc == 0)
    rc = take(all, order + n_test, all->n - n_test, train);
  heed__free(order);
  if (rc < 0) {
    heed_dataset_destroy(train);
    heed_dataset_destroy(test);
  }
  return rc;
}
