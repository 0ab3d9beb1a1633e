/*
 * checkpoint_fuzz.c - libFuzzer harness for the checkpoint loader
 * (heed_checkpoint_load_mem, the same checks as loading a file): any bytes
 * must load or be refused with a one-line, printable reason naming the
 * file; whatever loads must answer every accessor within bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heed/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *s) {
  if (strncmp(s, "fuzz.ck: ", 9))
    abort();
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  heed_checkpoint *ck = NULL;
  char err[1024] = "", spec[1024];
  int rv = heed_checkpoint_load_mem(&ck, data, size, "fuzz.ck", err,
                                    sizeof err);
  if (rv) {
    if (ck || !err[0])
      abort();
    one_line(err);
    return 0;
  }
  size_t ns = heed_checkpoint_nsizes(ck);
  const uint32_t *sz = heed_checkpoint_sizes(ck);
  if (ns < 2 || ns > HEED_CHECKPOINT_MAX_LAYERS + 1 || !sz)
    abort();
  volatile float sink = heed_checkpoint_lr(ck);
  for (size_t l = 1; l < ns; l++) {
    const float *w = heed_checkpoint_weights(ck, l);
    const float *b = heed_checkpoint_biases(ck, l);
    if (!w || !b)
      abort();
    sink += w[(size_t)sz[l] * sz[l - 1] - 1] + b[sz[l] - 1];
    (void)heed_checkpoint_activation(ck, l);
    for (uint32_t j = 0; j < sz[l] && j < 64; j++)
      if (heed_checkpoint_strategy(ck, l, j, spec, sizeof spec) == 0 &&
          !spec[0])
        abort();
  }
  const heed_checkpoint_meta *m = heed_checkpoint_meta_of(ck);
  for (size_t i = 0; i < m->ncurve; i++)
    sink += (float)m->curve[i].loss;
  if (heed_checkpoint_weights(ck, 0) || heed_checkpoint_weights(ck, ns))
    abort();
  (void)sink;
  heed_checkpoint_free(ck);
  return 0;
}
