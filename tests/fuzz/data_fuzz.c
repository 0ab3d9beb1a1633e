/*
 * data_fuzz.c - libFuzzer harness for the data readers: the first input
 * byte picks the reader (IDX pair, digits CSV, CIFAR-10, the raw/gzip file
 * reader itself), the rest is the file. Inputs starting (after the selector)
 * with the gzip magic go through the gzip path of every reader. Any bytes
 * must load or be refused with a one-line reason naming the file; whatever
 * loads must hold labels below its class count and features in [0, 1].
 * Files live in memfds, named by their /proc/self/fd path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/alloc.h"
#include "data/read.h"
#include "heed/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memfd holding n bytes of p; its path in path. -1 on failure. */
static int memfile(const uint8_t *p, size_t n, char *path, size_t cap) {
  int fd = memfd_create("heed-fuzz", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t off = 0;
  while (off < n) {
    ssize_t k = write(fd, p + off, n - off);
    if (k <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)k;
  }
  snprintf(path, cap, "/proc/self/fd/%d", fd);
  return fd;
}

/* A loaded set must be well formed; a refusal must say why and where. */
static void check(int rc, const heed_dataset *ds, const char *err,
                  const char *path) {
  if (rc < 0) {
    if (!err[0] || !strstr(err, path) || strchr(err, '\n'))
      abort();
    if (ds->n || ds->x || ds->y)
      abort(); /* a failed load leaves the struct empty */
    return;
  }
  if (!ds->classes || (ds->n && (!ds->x || !ds->y)))
    abort();
  for (size_t i = 0; i < ds->n; i++)
    if (ds->y[i] >= ds->classes)
      abort();
  for (size_t i = 0; i < ds->n * ds->dim; i++)
    if (!(ds->x[i] >= 0 && ds->x[i] <= 1))
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned mode = data[0] % 4;
  data++;
  size--;
  char p1[64], p2[64], err[512] = "";
  heed_dataset ds;
  memset(&ds, 0, sizeof ds);
  int rc, fd1 = -1, fd2 = -1;
  if (mode == 0) { /* IDX: 2 bytes give where the labels file starts */
    if (size < 2)
      return 0;
    size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    data += 2;
    size -= 2;
    if (cut > size)
      cut = size;
    fd1 = memfile(data, cut, p1, sizeof p1);
    fd2 = memfile(data + cut, size - cut, p2, sizeof p2);
    if (fd1 < 0 || fd2 < 0)
      goto out;
    rc = heed_dataset_load_idx(&ds, p1, p2, err, sizeof err);
    if (rc < 0 && !strstr(err, p1) && !strstr(err, p2))
      abort();
    check(rc, &ds, err, rc < 0 && strstr(err, p1) ? p1 : p2);
  } else if (mode == 1) {
    if ((fd1 = memfile(data, size, p1, sizeof p1)) < 0)
      goto out;
    rc = heed_dataset_load_digits_csv(&ds, p1, err, sizeof err);
    check(rc, &ds, err, p1);
  } else if (mode == 2) {
    if ((fd1 = memfile(data, size, p1, sizeof p1)) < 0)
      goto out;
    const char *files[2] = {p1, p1};
    rc = heed_dataset_load_cifar10(&ds, files, 1 + (size & 1), err,
                                   sizeof err);
    check(rc, &ds, err, p1);
  } else {
    if ((fd1 = memfile(data, size, p1, sizeof p1)) < 0)
      goto out;
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = heed__data_read_file(p1, 1 << 20, &buf, &len, err, sizeof err);
    if (rc < 0 ? (!err[0] || buf) : (!buf || buf[len] != 0))
      abort();
    heed__free(buf);
  }
  if (rc == 0 && ds.n >= 2) { /* what loaded can be split and batched */
    heed_dataset tr, te;
    if (heed_dataset_split(&ds, 1, 0.5, &tr, &te) == 0) {
      uint32_t order[4];
      float x[4 * 3072];
      uint8_t y[4];
      size_t k = tr.n < 4 ? tr.n : 4;
      if (tr.dim <= 3072 &&
          heed_dataset_shuffle_order(k, 7, 1, order) == 0)
        heed_dataset_gather(&tr, order, k, x, y);
      heed_dataset_destroy(&tr);
      heed_dataset_destroy(&te);
    }
  }
out:
  heed_dataset_destroy(&ds);
  if (fd1 >= 0)
    close(fd1);
  if (fd2 >= 0)
    close(fd2);
  return 0;
}
