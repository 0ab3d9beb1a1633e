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
#include <math.h>
#include <string.h>

#include "strategy/builtin.h"

enum { P_C, P_XI, P_AUTO, P_WARM, P_KEEP, P_POW, P_GROW, P_SHARP };
enum { B_ACC, B_OMEGA, B_ANCHOR, B_START, READY, EMA, QUIET, CONS, TAIL };
/* QUIET once a CONSOLIDATE arrived: below any warm, and finite so a
 * checkpoint keeps it; adding 1 per batch leaves it unchanged. */
#define TOLD (-1e30f)

static size_t guard_state(const double *params, uint32_t fan_in) {
  (void)params;
  return 4 * (size_t)fan_in + TAIL;
}

static double earned(float acc, double d, double xi) {
  return acc > 0 ? acc / (d * d + xi) : 0.0;
}

static void consolidate(heed_neuron *n) {
  uint32_t m = n->fan_in;
  float *acc = n->state, *om = acc + m, *anc = om + m, *st = anc + m;
  float *t = st + m;
  double xi = n->params[P_XI], keep = n->params[P_KEEP];
  double pw = n->params[P_POW], sharp = n->params[P_SHARP], scale = 1;
  double sum = 0, sums = 0;
  for (uint32_t i = 0; i < m; i++) {
    double e = earned(acc[i], (double)n->w[i] - st[i], xi);
    sum += e;
    sums += sharp != 1 ? pow(e, sharp) : e;
  }
  if (pw != 1) /* attention-based allocation between neurons */
    scale = sum > 0 ? pow(sum / m, pw - 1) : 0;
  if (sharp != 1) /* allocation within the neuron, same total */
    scale *= sums > 0 ? sum / sums : 0;
  for (uint32_t i = 0; i < m; i++) {
    double e = earned(acc[i], (double)n->w[i] - st[i], xi);
    if (sharp != 1)
      e = pow(e, sharp);
    om[i] = (float)(keep * om[i] + scale * e);
    acc[i] = 0;
    anc[i] = st[i] = n->w[i];
  }
  double e = earned(t[B_ACC], (double)*n->b - t[B_START], xi);
  if (sharp != 1) /* the bias is scaled as a synapse of the same neuron */
    e = pow(e, sharp);
  t[B_OMEGA] = (float)(keep * t[B_OMEGA] + scale * e);
  t[B_ACC] = 0;
  t[B_ANCHOR] = t[B_START] = *n->b;
  t[CONS] += 1;
}

static void guard_respond(heed_neuron *n) {
  uint32_t m = n->fan_in;
  float *acc = n->state, *om = acc + m, *anc = om + m, *st = anc + m;
  float *t = st + m;
  double strength = n->params[P_C], autok = n->params[P_AUTO];

  if (t[READY] == 0) { /* first batch: the account starts here */
    memcpy(anc, n->w, m * sizeof *anc);
    memcpy(st, n->w, m * sizeof *st);
    t[B_ANCHOR] = t[B_START] = *n->b;
    t[READY] = 1;
  }
  if (autok > 0 && t[QUIET] != TOLD) { /* self-detected boundary */
    double mb = 0;
    for (uint32_t s = 0; s < n->batch; s++)
      mb += fabs(n->beta[s]);
    mb /= n->batch;
    if (t[QUIET] >= (float)n->params[P_WARM] && mb > autok * t[EMA]) {
      consolidate(n);
      t[QUIET] = 0;
    }
    t[EMA] = t[QUIET] == 0 ? (float)mb : 0.99f * t[EMA] + 0.01f * (float)mb;
    t[QUIET] += 1;
  }

  if (t[CONS] > 1)
    strength *= 1 + n->params[P_GROW] * (t[CONS] - 1);
  heed_neuron_signal(n, n->g);
  if (n->c)
    memcpy(n->c, n->w, m * sizeof *n->c);
  float *dw = n->scratch;
  heed_neuron_grad(n, n->g, dw);
  /* The anchor's cost is taken as an implicit (proximal) step,
   *   w' = (w + lr*dw + k*anchor) / (1 + k),  k = lr * c * Omega,
   * which never overshoots the anchor however large Omega grows. */
  for (uint32_t i = 0; i < m; i++) {
    float k = n->lr * (float)strength * om[i];
    float next = (n->w[i] + n->lr * dw[i] + k * anc[i]) / (1.0f + k);
    acc[i] += dw[i] * (next - n->w[i]);
    n->w[i] = next;
  }
  float gs = 0;
  for (uint32_t s = 0; s < n->stride; s++)
    gs += n->g[s];
  float k = n->lr * (float)strength * t[B_OMEGA];
  float next = (*n->b + n->lr * gs + k * t[B_ANCHOR]) / (1.0f + k);
  t[B_ACC] += gs * (next - *n->b);
  *n->b = next;
}

static void guard_control(heed_neuron *n, int event) {
  float *t = n->state + 4 * (size_t)n->fan_in;
  if (event != HEED_EVENT_CONSOLIDATE)
    return;
  if (t[READY] != 0)
    consolidate(n);
  t[QUIET] = TOLD; /* the driver marks boundaries: stop detecting them */
}

const heed_strategy_ops heed__strategy_guard = {
    .abi = HEED_STRATEGY_ABI,
    .name = "guard",
    .description = "per-synapse accounting of earned attention; anchors "
                   "important synapses at consolidation points",
    .nparams = 8,
    /* Ranges: xi > 0 keeps the importance denominator off zero; keep in
     * [0, 1] and the caps on pow and sharp keep importances finite. */
    .params = {{"c", 1.0, "strength of the pull back to the anchor", 0, 1e6},
               {"xi", 1e-3, "damping of the importance denominator", 1e-9,
                1e6},
               {"auto", 0.0, "self-detect boundaries when mean|beta| jumps "
                             "by this factor (0: only on CONSOLIDATE)", 0, 1e6},
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
