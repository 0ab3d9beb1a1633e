/*
 * heed/data.h - datasets: loading MNIST-like IDX files, CIFAR-10 binaries
 * and scikit-learn's digits, splitting them and shuffling them.
 *
 * A heed_dataset is a plain owning struct: n samples of dim floats each,
 * row-major in x, scaled to [0, 1], and n labels in y. Loaders fill a
 * caller-provided struct and the caller releases it with
 * heed_dataset_destroy(). On failure a loader returns a negative HEED_E*
 * code, leaves the struct empty (all zero, safe to destroy), and, when err
 * is not NULL, writes one line naming the file and what is wrong with it.
 *
 * Every count and length read from a file is checked against the file's
 * real size before any memory is sized from it, so a corrupt or hostile
 * file gives an error, never a crash or a multi-gigabyte allocation.
 * Files may be raw or gzip-compressed (detected by content, not by name).
 *
 * Threads: loaders and helpers keep no global state; distinct datasets may
 * be used from distinct threads.
 */
#ifndef HEED_DATA_H
#define HEED_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct heed_dataset {
  size_t n;         /* samples */
  size_t dim;       /* features per sample: rows * cols * channels */
  uint32_t classes; /* labels are in [0, classes) */
  uint32_t rows;    /* image shape, for information and display */
  uint32_t cols;
  uint32_t channels; /* CIFAR-10 keeps its planar layout: all R, G, then B */
  float *x;          /* n * dim features, row-major, in [0, 1] */
  uint8_t *y;        /* n labels */
} heed_dataset;

/* Largest file (after decompression) a loader will read: 1 GiB. */
#define HEED_DATA_MAX_FILE ((size_t)1 << 30)

/* Seed and test fraction of the fixed digits train/test split. */
#define HEED_DIGITS_SPLIT_SEED 20240601u
#define HEED_DIGITS_TEST_FRACTION 0.2

/* Loads an IDX pair (MNIST layout): images of magic 0x00000803 (unsigned
 * bytes, 3 dimensions n x rows x cols) and labels of magic 0x00000801.
 * Pixels are scaled by 1/255. IDX sets are 10-class (MNIST, Fashion-MNIST,
 * KMNIST): a label >= 10 is HEED_ERANGE. */
HEED_API int heed_dataset_load_idx(heed_dataset *ds, const char *images,
                                   const char *labels, char *err,
                                   size_t errlen);

/* Loads and concatenates CIFAR-10 binary batches: records of 1 label byte
 * and 3072 pixel bytes (32x32, planar R, G, B). Pixels are scaled by 1/255. */
HEED_API int heed_dataset_load_cifar10(heed_dataset *ds,
                                       const char *const *files, size_t nfiles,
                                       char *err, size_t errlen);

/* Loads scikit-learn's digits.csv[.gz]: one sample a line, 64 values in
 * [0, 16] (an 8x8 image) then the label in [0, 9]. Values are scaled by
 * 1/16. */
HEED_API int heed_dataset_load_digits_csv(heed_dataset *ds, const char *path,
                                          char *err, size_t errlen);

/* Splits all into train and test copies: a seeded shuffle, the first
 * round(n * test_fraction) samples to test and the rest to train, each
 * keeping the shuffled order. The same seed gives the same split.
 * test_fraction must be in (0, 1) and leave both parts non-empty. */
HEED_API int heed_dataset_split(const heed_dataset *all, uint64_t seed,
                                double test_fraction, heed_dataset *train,
                                heed_dataset *test);

/* Loads the train and test sets named by spec: "mnist", "fashion",
 * "digits" (split 80/20 with HEED_DIGITS_SPLIT_SEED), "cifar10", or the
 * path of a directory holding train-images-idx3-ubyte[.gz],
 * train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and
 * t10k-labels-idx1-ubyte[.gz]. Named sets live under data_dir as mnist/,
 * fashion/, digits/digits.csv.gz and cifar10/{data_batch_1..5,test_batch}.bin;
 * data_dir NULL means $HEED_DATA; when that is unset, data/ in the working
 * directory if it exists, else $XDG_DATA_HOME/heed (default
 * ~/.local/share/heed, what `tools/fetch-data --user` fills) if that
 * exists, else data/. A missing
 * file is HEED_ENOENT with a message that says to run tools/fetch-data; a
 * training or test set of 0 samples is HEED_EFORMAT naming its file. */
HEED_API int heed_data_load(const char *spec, const char *data_dir,
                            heed_dataset *train, heed_dataset *test, char *err,
                            size_t errlen);

/* heed_data_load with another seed for the digits split (0: the fixed
 * HEED_DIGITS_SPLIT_SEED); the other sets come split and ignore it. Lets an
 * experiment average over splits of a test set as small as digits' 360. */
HEED_API int heed_data_load_split(const char *spec, const char *data_dir,
                                  uint64_t split_seed, heed_dataset *train,
                                  heed_dataset *test, char *err,
                                  size_t errlen);

/* Frees what ds owns and zeroes it; NULL and empty datasets are fine. */
HEED_API void heed_dataset_destroy(heed_dataset *ds);

/* Writes a permutation of [0, n) to order (Fisher-Yates): the same seed and
 * epoch always give the same order, distinct epochs give distinct ones.
 * HEED_EINVAL if n does not fit in 32 bits or order is NULL with n > 0. */
HEED_API int heed_dataset_shuffle_order(size_t n, uint64_t seed, uint32_t epoch,
                                        uint32_t *order);

/* Copies the samples idx[0..count) of ds into x_out (count * dim floats)
 * and, when y_out is not NULL, their labels into y_out: one mini-batch.
 * Indices must be < ds->n. */
HEED_API void heed_dataset_gather(const heed_dataset *ds, const uint32_t *idx,
                                  size_t count, float *x_out, uint8_t *y_out);

/* Continual learning: tasks built from one data set.
 *
 * Permuted MNIST: task t (1-based) shows every image through a fixed pixel
 * permutation, x'[k] = x[perm[k]]. Task 1 is the identity; task t > 1 is a
 * Fisher-Yates permutation drawn from (seed, t): the same seed and task
 * always give the same permutation. HEED_EINVAL for task 0. */
HEED_API int heed_task_permutation(uint32_t dim, uint64_t seed, uint32_t task,
                                   uint32_t *perm);
/* Applies perm to n rows of dim floats: out[s][k] = x[s][perm[k]]. */
HEED_API void heed_task_permute_rows(const float *x, size_t n, size_t dim,
                                     const uint32_t *perm, float *out);
/* A permuted copy of ds (labels unchanged). */
HEED_API int heed_dataset_permute(const heed_dataset *ds, const uint32_t *perm,
                                  heed_dataset *out);
/* Split MNIST: task t (1-based) holds exactly the samples of all whose label
 * is in [(t-1)*classes_per_task, t*classes_per_task), in file order, labels
 * unchanged (one 10-way head; mask it for task-incremental use).
 * HEED_ERANGE when the task's classes go past all->classes. */
HEED_API int heed_task_split(const heed_dataset *all, uint32_t task,
                             uint32_t classes_per_task, heed_dataset *out);
/* The order in which a task's n training samples are visited in an epoch:
 * a function of (seed, task, epoch) only, so every strategy of a comparison
 * sees the same batches in the same order. */
HEED_API int heed_task_batch_order(size_t n, uint64_t seed, uint32_t task,
                                   uint32_t epoch, uint32_t *order);
/* Metrics of a T x T accuracy matrix R (row-major; R[i*T+j] = accuracy on
 * task j after training task i):
 *   acc = mean_j R[T-1][j]
 *   bwt = mean_{j<T-1} (R[T-1][j] - R[j][j])                    (0 if T = 1)
 *   forgetting = mean_{j<T-1} (max_{i<T-1} R[i][j] - R[T-1][j]) (0 if T = 1)
 * Any output pointer may be NULL. */
HEED_API int heed_cl_metrics(const double *R, uint32_t T, double *acc,
                             double *bwt, double *forgetting);

#ifdef __cplusplus
}
#endif
#endif /* HEED_DATA_H */
