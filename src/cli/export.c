/*
 * export.c - `heed export CKPT --npy DIR`: a checkpoint's weights and
 * biases as NumPy .npy files (format version 1.0), one pair per layer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli/commands.h"
#include "heed/checkpoint.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: heed export CKPT --npy DIR\n\n"
          "Writes the weights and biases of checkpoint CKPT as NumPy files:\n"
          "for each weight layer L (1 = the layer above the input),\n"
          "  DIR/layerL.weight.npy  float32, shape (out, in), C order\n"
          "  DIR/layerL.bias.npy    float32, shape (out,)\n"
          "DIR is created if missing. Load them with numpy.load().\n\n"
          "options:\n"
          "  --npy DIR      output directory (required)\n"
          "  --help         this text\n");
}

/* mkdir -p. */
static int make_dirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0)
      continue;
    char c = buf[i];
    buf[i] = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return -1;
    buf[i] = c;
  }
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* One .npy file: version 1.0, header padded with spaces and ended by a
 * newline so that the data starts at a multiple of 64 bytes. */
static int write_npy(const char *path, const float *data, int ndim,
                     const uint32_t *shape) {
  char dict[160];
  int k;
  if (ndim == 1)
    k = snprintf(dict, sizeof dict,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%u,), }",
                 shape[0]);
  else
    k = snprintf(dict, sizeof dict,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u), }",
                 shape[0], shape[1]);
  if (k < 0 || (size_t)k >= sizeof dict)
    return -1;
  size_t used = 10 + (size_t)k + 1; /* magic+version+len, dict, '\n' */
  size_t hlen = (size_t)k + 1 + (64 - used % 64) % 64;
  char header[256];
  memset(header, ' ', sizeof header);
  memcpy(header, "\x93NUMPY\x01\x00", 8);
  header[8] = (char)(hlen & 0xff);
  header[9] = (char)(hlen >> 8);
  memcpy(header + 10, dict, (size_t)k);
  header[10 + hlen - 1] = '\n';

  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  int ok = fwrite(header, 1, 10 + hlen, f) == 10 + hlen;
  size_t count = ndim == 1 ? shape[0] : (size_t)shape[0] * shape[1];
  unsigned char le[4 * 1024];
  for (size_t i = 0; ok && i < count;) {
    size_t m = 0;
    for (; m < sizeof le / 4 && i < count; m++, i++) {
      uint32_t u;
      memcpy(&u, &data[i], 4);
      le[4 * m] = (unsigned char)u;
      le[4 * m + 1] = (unsigned char)(u >> 8);
      le[4 * m + 2] = (unsigned char)(u >> 16);
      le[4 * m + 3] = (unsigned char)(u >> 24);
    }
    ok = fwrite(le, 4, m, f) == m;
  }
  if (fclose(f) != 0)
    ok = 0;
  return ok ? 0 : -1;
}

int heed_cmd_export(int argc, char **argv) {
  const char *ckpt = NULL, *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--npy")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "heed export: --npy needs a directory\n");
        return 2;
      }
      dir = argv[++i];
      continue;
    }
    if (!strncmp(argv[i], "--npy=", 6)) {
      dir = argv[i] + 6;
      continue;
    }
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "heed export: unknown option '%s' (see --help)\n",
              argv[i]);
      return 2;
    }
    if (ckpt) {
      fprintf(stderr, "heed export: one checkpoint at a time (see --help)\n");
      return 2;
    }
    ckpt = argv[i];
  }
  if (!ckpt || !dir || !dir[0]) {
    fprintf(stderr, "heed export: need CKPT and --npy DIR (see --help)\n");
    return 2;
  }

  char err[512];
  heed_checkpoint *ck = NULL;
  if (heed_checkpoint_load(&ck, ckpt, err, sizeof err) != 0) {
    fprintf(stderr, "heed export: %s\n", err);
    return 1;
  }
  int status = 0;
  if (make_dirs(dir) != 0) {
    fprintf(stderr, "heed export: cannot create %s: %s\n", dir,
            strerror(errno));
    status = 1;
  }
  const uint32_t *sizes = heed_checkpoint_sizes(ck);
  for (size_t l = 1; !status && l < heed_checkpoint_nsizes(ck); l++) {
    char path[4096];
    uint32_t wshape[2] = {sizes[l], sizes[l - 1]};
    snprintf(path, sizeof path, "%s/layer%zu.weight.npy", dir, l);
    if (write_npy(path, heed_checkpoint_weights(ck, l), 2, wshape) == 0) {
      snprintf(path, sizeof path, "%s/layer%zu.bias.npy", dir, l);
      if (write_npy(path, heed_checkpoint_biases(ck, l), 1, &sizes[l]) == 0)
        continue;
    }
    fprintf(stderr, "heed export: cannot write %s: %s\n", path,
            strerror(errno));
    status = 1;
  }
  heed_checkpoint_free(ck);
  return status;
}
