/*
 * sparse.c - scarce attention: a neuron bids only to the top q fraction of
 * its inputs, ranked by their contribution |w_i| * mean_s |x_i[s]| to its
 * output in this batch; the others get no bid (relaxes C2). Its own update
 * is the best response.
 */
#include <math.h>
#include <string.h>

#include "strategy/builtin.h"

/* Returns the k-th largest of v[0..n) (k >= 1), reordering v. */
static float kth_largest(float *v, uint32_t n, uint32_t k) {
  uint32_t lo = 0, hi = n - 1, want = k - 1;
  while (lo < hi) {
    float pivot = v[lo + (hi - lo) / 2];
    uint32_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] > pivot)
        i++;
      while (v[j] < pivot)
        j--;
      if (i <= j) {
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        if (j == 0)
          break;
        j--;
      }
    }
    if (want <= j)
      hi = j;
    else if (want >= i)
      lo = i;
    else
      break;
  }
  return v[want];
}

static uint32_t quota(double q, uint32_t fan_in) {
  double k = ceil(q * fan_in);
  if (k < 1)
    k = 1;
  return k > fan_in ? fan_in : (uint32_t)k;
}

static void sparse_respond(heed_neuron *n) {
  heed_neuron_signal(n, n->g);
  if (n->c) {
    uint32_t k = quota(n->params[0], n->fan_in);
    float *score = n->scratch;
    for (uint32_t i = 0; i < n->fan_in; i++) {
      const float *xi = n->x + (size_t)i * n->stride;
      float m = 0;
      for (uint32_t s = 0; s < n->batch; s++)
        m += fabsf(xi[s]);
      score[i] = fabsf(n->w[i]) * (m / n->batch);
    }
    memcpy(n->c, score, n->fan_in * sizeof *score);
    float t = kth_largest(n->c, n->fan_in, k);
    uint32_t above = 0;
    for (uint32_t i = 0; i < n->fan_in; i++)
      above += score[i] > t;
    /* Ties at the threshold are taken in input order, so exactly k bid. */
    uint32_t ties = k - above;
    for (uint32_t i = 0; i < n->fan_in; i++) {
      int take = score[i] > t || (score[i] == t && ties > 0);
      if (score[i] == t && take)
        ties--;
      n->c[i] = take ? n->w[i] : 0.0f;
    }
  }
  heed_neuron_ascend(n, n->g, n->lr);
}

const heed_strategy_ops heed__strategy_sparse = {
    .abi = HEED_STRATEGY_ABI,
    .name = "sparse",
    .description = "scarce attention: bid only to the top q of inputs by "
                   "|w|*mean|x| (relaxes C2)",
    .nparams = 1,
    /* q: tuned on a validation split of task 1 (heed continual --tune
     * 0.1, Permuted MNIST; docs/forgetting.md): a tie with bp there. */
    .params = {{"q", 0.75, "fraction of inputs that receive a bid", 0, 1}},
    .respond = sparse_respond,
};
