/*
 * bp.c - the best response to the attention game, which is exactly
 * error-backpropagation under conditions C1-C4 (docs/algorithm.md).
 */
#include <string.h>

#include "strategy/builtin.h"

void heed__strategy_bp_respond(heed_neuron *n) {
  heed_neuron_signal(n, n->g);
  if (n->c) /* C1: bid with the weights of the forward pass, before updating */
    memcpy(n->c, n->w, n->fan_in * sizeof *n->c);
  heed_neuron_ascend(n, n->g, n->lr);
}

const heed_strategy_ops heed__strategy_bp = {
    .abi = HEED_STRATEGY_ABI,
    .name = "bp",
    .description = "best response: bid g*w, step lr*<g,x>; exactly "
                   "backpropagation (C1-C4)",
    .respond = heed__strategy_bp_respond,
};
