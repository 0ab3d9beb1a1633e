/* idx.c - the IDX format of MNIST and its look-alikes. */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "data/read.h"

/* IDX: two zero bytes, an element type (0x08 = unsigned byte), the number
 * of dimensions, then one big-endian 32-bit size per dimension. */
#define IDX_UBYTE 0x08
#define IDX_CLASSES 10
/* Far above any real set (MNIST is 28x28), low enough that rows * cols
 * fits 32 bits with room to spare. */
#define IDX_MAX_SIDE 4096u

/* Checks the IDX header of buf (len bytes) for ndims dimensions of unsigned
 * bytes and stores the sizes in dims; also checks that the payload is
 * exactly the product of the sizes. Returns the payload offset or a
 * negative error. */
static long idx_header(const char *path, const uint8_t *buf, size_t len,
                       unsigned ndims, uint32_t *dims, char *err,
                       size_t errlen) {
  size_t hdr = 4 + 4 * (size_t)ndims;
  if (len < 4)
    return heed__data_fail(err, errlen, HEED_ETRUNC,
                           "%s: truncated IDX header (%zu bytes)", path, len);
  uint32_t magic = heed__be32(buf);
  uint32_t want = (uint32_t)IDX_UBYTE << 8 | ndims;
  if (magic != want)
    return heed__data_fail(err, errlen, HEED_EFORMAT,
                           "%s: bad IDX magic number 0x%08x (expected 0x%08x: "
                           "unsigned bytes, %u-dimensional)",
                           path, (unsigned)magic, (unsigned)want, ndims);
  if (len < hdr)
    return heed__data_fail(err, errlen, HEED_ETRUNC,
                           "%s: truncated IDX header (%zu of %zu bytes)", path,
                           len, hdr);
  uint64_t payload = 1;
  for (unsigned i = 0; i < ndims; i++) {
    dims[i] = heed__be32(buf + 4 + 4 * i);
    if (i > 0 && (dims[i] == 0 || dims[i] > IDX_MAX_SIDE))
      return heed__data_fail(err, errlen, HEED_ERANGE,
                             "%s: image dimension %s = %u is out of range "
                             "(1..%u)",
                             path, i == 1 ? "rows" : "cols", (unsigned)dims[i],
                             IDX_MAX_SIDE);
    /* The first size is at most 2^32 and the others at most 2^12 each,
     * and ndims <= 3, so the product stays below 2^56: no overflow. */
    payload *= dims[i];
  }
  if (payload != len - hdr) {
    char shape[48];
    if (ndims == 3)
      snprintf(shape, sizeof shape, "%u x %ux%u", (unsigned)dims[0],
               (unsigned)dims[1], (unsigned)dims[2]);
    else
      snprintf(shape, sizeof shape, "%u", (unsigned)dims[0]);
    return heed__data_fail(
        err, errlen, payload > len - hdr ? HEED_ETRUNC : HEED_EFORMAT,
        "%s: header declares %s bytes of data (%llu) but the file holds %zu "
        "(%s)",
        path, shape, (unsigned long long)payload, len - hdr,
        payload > len - hdr ? "truncated" : "trailing bytes");
  }
  return (long)hdr;
}

int heed_dataset_load_idx(heed_dataset *ds, const char *images,
                          const char *labels, char *err, size_t errlen) {
  if (ds == NULL || images == NULL || labels == NULL)
    return heed__data_fail(err, errlen, HEED_EINVAL,
                           "heed_dataset_load_idx: NULL argument");
  memset(ds, 0, sizeof *ds);
  uint8_t *ib = NULL, *lb = NULL;
  size_t ilen = 0, llen = 0;
  uint32_t idims[3] = {0}, ldims[1] = {0};
  int rc =
      heed__data_read_file(images, HEED_DATA_MAX_FILE, &ib, &ilen, err, errlen);
  if (rc < 0)
    goto out;
  long ioff = idx_header(images, ib, ilen, 3, idims, err, errlen);
  if (ioff < 0) {
    rc = (int)ioff;
    goto out;
  }
  rc =
      heed__data_read_file(labels, HEED_DATA_MAX_FILE, &lb, &llen, err, errlen);
  if (rc < 0)
    goto out;
  long loff = idx_header(labels, lb, llen, 1, ldims, err, errlen);
  if (loff < 0) {
    rc = (int)loff;
    goto out;
  }
  if (idims[0] != ldims[0]) {
    rc = heed__data_fail(err, errlen, HEED_EFORMAT,
                         "%s: %u labels for the %u images of %s", labels,
                         (unsigned)ldims[0], (unsigned)idims[0], images);
    goto out;
  }
  size_t n = idims[0];
  const uint8_t *lab = lb + loff;
  for (size_t i = 0; i < n; i++) {
    if (lab[i] >= IDX_CLASSES) {
      rc = heed__data_fail(err, errlen, HEED_ERANGE,
                           "%s: label %u of sample %zu is out of range "
                           "(0..%d)",
                           labels, (unsigned)lab[i], i, IDX_CLASSES - 1);
      goto out;
    }
  }
  size_t dim = (size_t)idims[1] * idims[2];
  rc = heed__dataset_alloc(ds, n, dim);
  if (rc < 0) {
    rc = heed__data_fail(err, errlen, rc, "%s: no memory for %zu x %zu floats",
                         images, n, dim);
    goto out;
  }
  /* A table makes the scaling exact and identical to (float)v / 255. */
  float scale[256];
  for (int v = 0; v < 256; v++)
    scale[v] = (float)v / 255.0f;
  const uint8_t *px = ib + ioff;
  for (size_t i = 0; i < n * dim; i++)
    ds->x[i] = scale[px[i]];
  memcpy(ds->y, lab, n);
  ds->classes = IDX_CLASSES;
  ds->rows = idims[1];
  ds->cols = idims[2];
  ds->channels = 1;
out:
  heed__free(ib);
  heed__free(lb);
  if (rc < 0)
    heed_dataset_destroy(ds);
  return rc;
}
