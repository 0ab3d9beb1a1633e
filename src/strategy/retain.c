/*
 * retain.c - incumbency: a neuron keeps Omega, the running total of the
 * attention it has earned (sum over batches of mean_s |beta * y|), and
 * steps lr / (1 + lambda * Omega). Valued neurons keep their job; ignored
 * ones stay plastic. Bids are the best response's.
 */
#include <math.h>
#include <string.h>

#include "strategy/builtin.h"

static size_t retain_state(const double *params, uint32_t fan_in) {
  (void)params;
  (void)fan_in;
  return 1; /* Omega */
}

static void retain_respond(heed_neuron *n) {
  heed_neuron_signal(n, n->g);
  if (n->c)
    memcpy(n->c, n->w, n->fan_in * sizeof *n->c);
  float omega = n->state[0];
  float step = n->lr / (1.0f + (float)n->params[0] * omega);
  heed_neuron_ascend(n, n->g, step);
  double earned = 0;
  for (uint32_t s = 0; s < n->batch; s++)
    earned += fabs((double)n->beta[s] * n->y[s]);
  n->state[0] = omega + (float)(earned / n->batch);
}

const heed_strategy_ops heed__strategy_retain = {
    .abi = HEED_STRATEGY_ABI,
    .name = "retain",
    .description = "incumbency: step lr/(1+lambda*Omega), Omega = attention "
                   "earned so far",
    .nparams = 1,
    /* lambda: tuned on a validation split of task 1 (heed continual
     * --tune 0.1, Permuted MNIST; docs/forgetting.md). */
    .params = {{"lambda", 0.3, "how fast earned attention slows a neuron", 0,
                1e6}},
    .state_floats = retain_state,
    .respond = retain_respond,
};
