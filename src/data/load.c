/* load.c - named datasets and where their files live under the data dir. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/read.h"

#define PATH_LEN 4096
#define FETCH_HINT "run tools/fetch-data to download the standard datasets"

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Writes dir/name to out, or dir/name.gz when only that exists: sources
 * ship the same IDX file compressed or not. */
static int find_file(const char *dir, const char *name, char *out, char *err,
                     size_t errlen) {
  int len = snprintf(out, PATH_LEN, "%s/%s", dir, name);
  if (len < 0 || len >= PATH_LEN - 3)
    return heed__data_fail(err, errlen, HEED_EINVAL, "%s: path too long", dir);
  if (is_file(out))
    return 0;
  memcpy(out + len, ".gz", 4);
  if (is_file(out))
    return 0;
  out[len] = '\0';
  return heed__data_fail(err, errlen, HEED_ENOENT, "%s[.gz]: not found; %s",
                         out, FETCH_HINT);
}

static int load_idx_dir(const char *dir, uint64_t split_seed,
                        heed_dataset *train, heed_dataset *test, char *err,
                        size_t errlen) {
  (void)split_seed; /* IDX sets come split */
  static const char *const names[4] = {
      "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char path[4][PATH_LEN];
  for (int i = 0; i < 4; i++) {
    int rc = find_file(dir, names[i], path[i], err, errlen);
    if (rc < 0)
      return rc;
  }
  int rc = heed_dataset_load_idx(train, path[0], path[1], err, errlen);
  if (rc < 0)
    return rc;
  /* A set of 0 samples is a valid IDX file but no training or test set:
   * it would divide by zero in an epoch or report an accuracy of 0/0. */
  if (train->n == 0)
    return heed__data_fail(err, errlen, HEED_EFORMAT,
                           "%s: no samples (0 images): nothing to train on",
                           path[0]);
  rc = heed_dataset_load_idx(test, path[2], path[3], err, errlen);
  if (rc == 0 && test->n == 0)
    rc = heed__data_fail(err, errlen, HEED_EFORMAT,
                         "%s: no samples (0 images): nothing to test on",
                         path[2]);
  else if (rc == 0 && (test->rows != train->rows || test->cols != train->cols))
    rc = heed__data_fail(err, errlen, HEED_EFORMAT,
                         "%s: %ux%u images, but the training set's are %ux%u",
                         path[2], (unsigned)test->rows, (unsigned)test->cols,
                         (unsigned)train->rows, (unsigned)train->cols);
  return rc;
}

static int load_digits(const char *dir, uint64_t split_seed,
                       heed_dataset *train, heed_dataset *test, char *err,
                       size_t errlen) {
  char path[PATH_LEN];
  int rc = find_file(dir, "digits.csv", path, err, errlen);
  if (rc < 0)
    return rc;
  heed_dataset all;
  rc = heed_dataset_load_digits_csv(&all, path, err, errlen);
  if (rc < 0)
    return rc;
  if (split_seed == 0)
    split_seed = HEED_DIGITS_SPLIT_SEED;
  rc = heed_dataset_split(&all, split_seed, HEED_DIGITS_TEST_FRACTION, train,
                          test);
  if (rc < 0)
    heed__data_fail(err, errlen, rc, "%s: cannot split %zu samples: %s", path,
                    all.n, heed_strerror(rc));
  heed_dataset_destroy(&all);
  return rc;
}

static int load_cifar10(const char *dir, uint64_t split_seed,
                        heed_dataset *train, heed_dataset *test, char *err,
                        size_t errlen) {
  (void)split_seed; /* CIFAR-10 comes split */
  char path[6][PATH_LEN];
  const char *files[6];
  for (int i = 0; i < 6; i++) {
    char name[32];
    if (i < 5)
      snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
    else
      snprintf(name, sizeof name, "test_batch.bin");
    int rc = find_file(dir, name, path[i], err, errlen);
    if (rc < 0)
      return rc;
    files[i] = path[i];
  }
  int rc = heed_dataset_load_cifar10(train, files, 5, err, errlen);
  if (rc == 0)
    rc = heed_dataset_load_cifar10(test, files + 5, 1, err, errlen);
  return rc;
}

int heed_data_load(const char *spec, const char *data_dir, heed_dataset *train,
                   heed_dataset *test, char *err, size_t errlen) {
  return heed_data_load_split(spec, data_dir, 0, train, test, err, errlen);
}

/* Where named sets are looked for when no directory is given: $HEED_DATA;
 * else data/ in the working directory when there is one (a source tree);
 * else the per-user directory $XDG_DATA_HOME/heed (~/.local/share/heed)
 * when it exists (tools/fetch-data --user fills it), so heed works from
 * any directory; else data/, whose absence the error then names. */
static const char *default_dir(char *buf, size_t len) {
  const char *env = getenv("HEED_DATA");
  if (env && *env)
    return env;
  if (is_dir("data"))
    return "data";
  const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
  int n = xdg && xdg[0] == '/' ? snprintf(buf, len, "%s/heed", xdg)
          : home && *home      ? snprintf(buf, len, "%s/.local/share/heed",
                                          home)
                               : -1;
  return n > 0 && (size_t)n < len && is_dir(buf) ? buf : "data";
}

int heed_data_load_split(const char *spec, const char *data_dir,
                         uint64_t split_seed, heed_dataset *train,
                         heed_dataset *test, char *err, size_t errlen) {
  if (spec == NULL || train == NULL || test == NULL || train == test)
    return heed__data_fail(err, errlen, HEED_EINVAL,
                           "heed_data_load: NULL argument");
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char user_dir[PATH_LEN];
  if (data_dir == NULL)
    data_dir = default_dir(user_dir, sizeof user_dir);
  /* Named sets first, so a stray folder called "mnist" in the working
   * directory does not shadow the real one under data_dir. */
  static const struct {
    const char *name, *sub;
    int (*load)(const char *, uint64_t, heed_dataset *, heed_dataset *, char *,
                size_t);
  } sets[] = {
      {"mnist", "mnist", load_idx_dir},
      {"fashion", "fashion", load_idx_dir},
      {"fashion-mnist", "fashion", load_idx_dir},
      {"digits", "digits", load_digits},
      {"cifar10", "cifar10", load_cifar10},
      {"cifar-10", "cifar10", load_cifar10},
  };
  int rc = HEED_EINVAL;
  int known = 0;
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    if (strcmp(spec, sets[i].name) != 0)
      continue;
    char dir[PATH_LEN];
    int len = snprintf(dir, sizeof dir, "%s/%s", data_dir, sets[i].sub);
    if (len < 0 || len >= (int)sizeof dir)
      return heed__data_fail(err, errlen, HEED_EINVAL, "%s: path too long",
                             data_dir);
    if (!is_dir(dir))
      return heed__data_fail(err, errlen, HEED_ENOENT,
                             "%s: no such directory; %s", dir, FETCH_HINT);
    rc = sets[i].load(dir, split_seed, train, test, err, errlen);
    known = 1;
    break;
  }
  if (!known) {
    if (!is_dir(spec))
      return heed__data_fail(err, errlen, HEED_EINVAL,
                             "unknown dataset '%s' (expected mnist, fashion, "
                             "digits, cifar10 or a directory of IDX files)",
                             spec);
    rc = load_idx_dir(spec, 0, train, test, err, errlen);
  }
  if (rc < 0) {
    heed_dataset_destroy(train);
    heed_dataset_destroy(test);
  }
  return rc;
}
