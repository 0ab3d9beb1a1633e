/*
 * async.c - the best response without a barrier. The neuron updates as soon
 * as its bids arrive, and the next batch's forward pass may run before this
 * batch's bids return (relaxes C1 and C3): bids and updates then use
 * weights that moved since the forward pass. Results depend on timing.
 */
#include "strategy/builtin.h"

const heed_strategy_ops heed__strategy_async = {
    .abi = HEED_STRATEGY_ABI,
    .name = "async",
    .description = "best response with no barrier: batches overlap, "
                   "gradients may be stale (relaxes C1, C3)",
    .flags = HEED_STRATEGY_ASYNC,
    .respond = heed__strategy_bp_respond,
};
