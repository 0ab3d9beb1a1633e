/* builtin.h - the strategies compiled into heed (internal). */
#ifndef HEED_STRATEGY_BUILTIN_H
#define HEED_STRATEGY_BUILTIN_H

#include "heed/strategy.h"

extern const heed_strategy_ops heed__strategy_bp;
extern const heed_strategy_ops heed__strategy_sparse;
extern const heed_strategy_ops heed__strategy_retain;
extern const heed_strategy_ops heed__strategy_guard;
extern const heed_strategy_ops heed__strategy_async;
extern const heed_strategy_ops heed__strategy_claim;

/* The best response: bids c = w (before the update), g = phi' * beta, then
 * w += lr * <g, x>. Shared by bp and async. */
void heed__strategy_bp_respond(heed_neuron *n);

/* Checks what registering ops needs (name, respond, parameter count and
 * ranges): 0, or HEED_EINVAL with a one-line reason in err. */
int heed__strategy_ops_check(const heed_strategy_ops *ops, char *err,
                             size_t errlen);

#endif
