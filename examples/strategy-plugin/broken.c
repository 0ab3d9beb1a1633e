/* broken.c - a plugin built against a future strategy ABI: heed must
 * refuse it with a one-line error (tests/integration use it). */
#include <heed/strategy.h>

static void respond(heed_neuron *n) { (void)n; }

static const heed_strategy_ops future = {
    .abi = HEED_STRATEGY_ABI + 1,
    .name = "future",
    .description = "built for another ABI",
    .respond = respond,
};

__attribute__((visibility("default"))) const heed_strategy_ops *
heed_strategy_plugin_v1(void) {
  return &future;
}
