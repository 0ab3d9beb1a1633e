/*
 * noisy_sign.c - an example strategy plugin: "signbid".
 *
 * A neuron that bids like bp but tells its inputs only the sign of its
 * weights (c_i = sign(w_i) * mean|w|), and steps with a learning rate
 * scaled by a parameter. It is compiled outside heed and loaded with
 *
 *   heed train --strategy-plugin build/examples/strategy-plugin/libsignbid.so \
 *              --strategy signbid:scale=1
 *
 * Everything a plugin needs is in <heed/strategy.h>; see docs/strategies.md.
 */
#include <math.h>
#include <string.h>

#include <heed/strategy.h>

static void signbid_respond(heed_neuron *n) {
  heed_neuron_signal(n, n->g); /* g = phi'(z) * beta, the best response */
  if (n->c) {
    float mean = 0;
    for (uint32_t i = 0; i < n->fan_in; i++)
      mean += fabsf(n->w[i]);
    mean /= (float)n->fan_in;
    for (uint32_t i = 0; i < n->fan_in; i++)
      n->c[i] = n->w[i] > 0 ? mean : n->w[i] < 0 ? -mean : 0.0f;
  }
  heed_neuron_ascend(n, n->g, n->lr * (float)n->params[0]);
}

static const heed_strategy_ops signbid = {
    .abi = HEED_STRATEGY_ABI,
    .name = "signbid",
    .description = "example plugin: bids sign(w)*mean|w|, steps lr*scale",
    .nparams = 1,
    .params = {{"scale", 1.0, "multiplies the learning rate", 0, 100}},
    .respond = signbid_respond,
};

/* The versioned entry point heed looks up with dlsym. */
__attribute__((visibility("default"))) const heed_strategy_ops *
heed_strategy_plugin_v1(void) {
  return &signbid;
}
