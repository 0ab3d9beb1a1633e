/*
 * checkpoint_fuzz.c - libFuzzer harness for the checkpoint loader
 * (heed_checkpoint_load_mem, the same checks as loading a file): any bytes
 * must load or be refused with a one-line, printable reason naming the
 * file; whatever loads must answer every accessor within bounds. One input
 * in 32 (by a hash of its bytes, so runs repeat) that loads and is small is
 * also applied to a network of its shape (strategies rebuilt from their
 * specs, state lengths checked) or refused the same way, and an applied
 * network trains one batch: building a network costs ~10x a load.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heed/heed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *s) {
  if (strncmp(s, "fuzz.ck: ", 9))
    abort();
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      abort();
}

/* Builds a net of ck's shape and applies ck to it; small nets only. */
static void try_apply(const heed_checkpoint *ck) {
  static heed_runtime *rt;
  size_t ns = heed_checkpoint_nsizes(ck);
  const uint32_t *sz = heed_checkpoint_sizes(ck);
  uint64_t cells = 0, units = 0;
  for (size_t l = 1; l < ns; l++) {
    cells += (uint64_t)sz[l] * sz[l - 1];
    units += sz[l];
  }
  if (ns > 6 || units > 64 || cells > 4096 || sz[0] > 256)
    return;
  heed_runtime_opts ro = {.threads = 1, .mailbox_limit = 4096};
  if (!rt && (heed_runtime_new(&rt, &ro) || heed_runtime_start(rt)))
    abort();
  heed_activation acts[8];
  for (size_t l = 1; l < ns; l++)
    acts[l - 1] = heed_checkpoint_activation(ck, l);
  heed_strategy *s = NULL;
  if (heed_strategy_new(&s, "bp", NULL, 0))
    abort();
  heed_net_opts o = {.nsizes = ns, .sizes = sz, .acts = acts, .seed = 1,
                     .lr = 0.1f, .max_batch = 4, .strategy = s};
  heed_net *net = NULL;
  if (heed_net_new(&net, rt, &o) != 0)
    abort();
  heed_strategy_free(s);
  char err[1024] = "";
  if (heed_checkpoint_apply(ck, net, err, sizeof err) != 0) {
    one_line(err);
  } else {
    float x[4 * 256] = {0};
    uint8_t y[4] = {0};
    for (size_t i = 0; i < 4 * (size_t)sz[0]; i++)
      x[i] = (float)(i % 7) / 7;
    if (sz[ns - 1] <= 256)
      heed_net_train_batch(net, x, y, 4, NULL);
  }
  heed_net_free(net);
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
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * 16777619u;
  if (h % 32 == 0)
    try_apply(ck);
  heed_checkpoint_free(ck);
  return 0;
}
