/*
 * guard.c - a neuron that guards the synapses that earned it attention.
 *
 * Each neuron keeps, per incoming synapse, an account of how much its
 * utility (the attention it receives) rose through that synapse: the sum
 * over steps of (utility gradient x weight change). At a consolidation
 * point it turns the account into an importance
 *     Omega_i += max(account_i, 0) / ((w_i - w_i at last point)^2 + xi)
 * remembers its weights there (the anchor), and from then on its best
 * response carries a quadratic cost c/2 * sum_i Omega_i (w_i - anchor_i)^2:
 * important synapses are pulled back to their anchor instead of being
 * slowed down. The cost enters as a proximal step, stable for any Omega. This is a neuron-local form of Synaptic Intelligence.
 *
 * The consolidation point comes from a CONSOLIDATE control message (a task
 * boundary) or, when auto > 0, from the neuron itself: if the mean |beta|
 * of a batch exceeds auto times its running average, the market for the
 * neuron's output has changed and it consolidates on its own. A neuron
 * detects only until the first CONSOLIDATE reaches it: once the driver
 * marks boundaries, a detection of its own would consolidate twice at each
 * one (or at a false alarm), so it trusts the driver from then on. The
 * defaults (c, auto) are the values docs/forgetting.md tuned without the
 * test sets, so plain "guard" works with and without boundaries.
 *
 * State layout (floats): account[n] omega[n] anchor[n] start[n], then for
 * the bias: account omega anchor start, then: ready, ema_beta, quiet,
 * consolidations.
 *
 * Variants (defaults reproduce the plain form): keep scales the old
 * importance at each consolidation (1: accumulate, 0: replace); pow
 * rescales a consolidation's new importances by the neuron's mean new
 * importance to the power pow - 1 (1: as is; 0: every neuron gets mean 1;
 * > 1: neurons that earned much attention protect more); grow makes the
 * strength c * (1 + grow * (consolidations - 1)); sharp redistributes a
 * consolidation's new importances within the neuron as e_i^sharp, keeping
 * their sum (> 1: the synapses that earned most are guarded harder and
 * the others freed).
 */
#include <string.h>

#include "strategy/anchor.h"
#include "strategy/builtin.h"

enum { P_C, P_XI, P_AUTO, P_WARM, P_KEEP, P_POW, P_GROW, P_SHARP };

static size_t guard_state(const double *params, uint32_t fan_in) {
  (void)params;
  return heed__anchor_floats(fan_in);
}

static heed__anchor_cfg cfg_of(const heed_neuron *n) {
  return (heed__anchor_cfg){n->params[P_XI], n->params[P_KEEP],
                            n->params[P_POW], n->params[P_SHARP]};
}

static void guard_respond(heed_neuron *n) {
  heed__anchor_cfg cfg = cfg_of(n);
  heed__anchor_begin(n); /* first batch: the account starts here */
  /* self-detected task boundary: attention jumped */
  heed__anchor_detect(n, &cfg, n->params[P_AUTO], n->params[P_WARM]);
  double strength =
      heed__anchor_strength(n, n->params[P_C], n->params[P_GROW]);
  heed_neuron_signal(n, n->g);
  if (n->c)
    memcpy(n->c, n->w, n->fan_in * sizeof *n->c);
  heed__anchor_step(n, n->g, strength);
}

static void guard_control(heed_neuron *n, int event) {
  heed__anchor_cfg cfg = cfg_of(n);
  heed__anchor_control(n, &cfg, event);
}

const heed_strategy_ops heed__strategy_guard = {
    .abi = HEED_STRATEGY_ABI,
    .name = "guard",
    .description = "per-synapse accounting of earned attention; anchors "
                   "important synapses at consolidation points",
    .nparams = 8,
    /* Ranges: xi > 0 keeps the importance denominator off zero; keep in
     * [0, 1] and the caps on pow and sharp keep importances finite. */
    /* c and auto: tuned on a validation split of task 1 (heed continual
     * --tune 0.1, Permuted MNIST, seeds 1-3; docs/forgetting.md). */
    .params = {{"c", 0.01, "strength of the pull back to the anchor", 0, 1e6},
               {"xi", 1e-3, "damping of the importance denominator", 1e-9,
                1e6},
               {"auto", 4.0, "self-detect boundaries when mean|beta| jumps "
                             "by this factor, until the first CONSOLIDATE "
                             "(0: only on CONSOLIDATE)", 0, 1e6},
               {"warm", 50.0, "batches after a boundary before detecting "
                              "another", 0, 1e9},
               {"keep", 1.0, "old importance kept at a consolidation "
                             "(1: accumulate, 0: replace)", 0, 1},
               {"pow", 1.0, "new importance scaled by the neuron's mean "
                            "new importance^(pow-1)", 0, 8},
               {"grow", 0.0, "strength c*(1+grow*(consolidations-1))", 0,
                1e3},
               {"sharp", 1.0, "new importances within the neuron as "
                              "e^sharp, same sum", 0, 8}},
    .state_floats = guard_state,
    .respond = guard_respond,
    .control = guard_control,
};
