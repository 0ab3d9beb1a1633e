/* net_test_util.h - shared helpers for the network tests. */
#ifndef HEED_TESTS_NET_UTIL_H
#define HEED_TESTS_NET_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "heed/heed.h"

/* Deterministic test data: inputs in [0,1], labels 0..C-1, with a weak
 * signal so the networks have something to learn. */
static inline void gen_data(uint64_t seed, int n, int dim, int C, float *x,
                     uint8_t *y) {
  heed_rng r;
  heed_rng_seed(&r, seed);
  for (int s = 0; s < n; s++) {
    y[s] = (uint8_t)heed_rng_below(&r, (uint64_t)C);
    for (int i = 0; i < dim; i++) {
      double v = heed_rng_uniform(&r);
      if (i % C == y[s])
        v = 0.5 + 0.5 * v;
      x[(size_t)s * dim + i] = (float)v;
    }
  }
}

static inline heed_runtime *make_rt(unsigned threads) {
  heed_runtime *rt = NULL;
  heed_runtime_opts o = {.threads = threads, .mailbox_limit = 4096};
  if (heed_runtime_new(&rt, &o) != 0 || heed_runtime_start(rt) != 0)
    abort();
  return rt;
}

static inline heed_net *make_net(heed_runtime *rt, size_t nsizes,
                          const uint32_t *sizes, const heed_activation *acts,
                          const char *strategy, float lr, uint64_t seed) {
  heed_strategy *s = NULL;
  char err[256];
  if (heed_strategy_new(&s, strategy, err, sizeof err) != 0)
    abort();
  heed_net_opts o = {.nsizes = nsizes, .sizes = sizes, .acts = acts,
                     .seed = seed, .lr = lr, .max_batch = 256,
                     .strategy = s};
  heed_net *net = NULL;
  if (heed_net_new(&net, rt, &o) != 0)
    abort();
  heed_strategy_free(s);
  return net;
}

#endif
