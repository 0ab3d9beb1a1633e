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
 * neuron's output has changed and it consolidates on its own.
 *
 * State layout (floats): account[n] omega[n] anchor[n] start[n], then for
 * the bias: account omega anchor start, then: ready, ema_beta, quiet.
 */
#include <math.h>
#include <string.h>

#include "strategy/builtin.h"

enum { P_C, P_XI, P_AUTO, P_WARM };
enum { B_ACC, B_OMEGA, B_ANCHOR, B_START, READY, EMA, QUIET, TAIL };

static size_t guard_state(const double *params, uint32_t fan_in) {
  (void)params;
  return 4 * (size_t)fan_in + TAIL;
}

static void consolidate(heed_neuron *n, double xi) {
  uint32_t m = n->fan_in;
  float *acc = n->state, *om = acc + m, *anc = om + m, *st = anc + m;
  float *t = st + m;
  for (uint32_t i = 0; i < m; i++) {
    double d = (double)n->w[i] - st[i];
    if (acc[i] > 0)
      om[i] += (float)(acc[i] / (d * d + xi));
    acc[i] = 0;
    anc[i] = st[i] = n->w[i];
  }
  double d = (double)*n->b - t[B_START];
  if (t[B_ACC] > 0)
    t[B_OMEGA] += (float)(t[B_ACC] / (d * d + xi));
  t[B_ACC] = 0;
  t[B_ANCHOR] = t[B_START] = *n->b;
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
  if (autok > 0) { /* self-detected task boundary: attention jumped */
    double mb = 0;
    for (uint32_t s = 0; s < n->batch; s++)
      mb += fabs(n->beta[s]);
    mb /= n->batch;
    if (t[QUIET] >= (float)n->params[P_WARM] && mb > autok * t[EMA]) {
      consolidate(n, n->params[P_XI]);
      t[QUIET] = 0;
    }
    t[EMA] = t[QUIET] == 0 ? (float)mb : 0.99f * t[EMA] + 0.01f * (float)mb;
    t[QUIET] += 1;
  }

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
  if (event == HEED_EVENT_CONSOLIDATE && t[READY] != 0)
    consolidate(n, n->params[P_XI]);
}

const heed_strategy_ops heed__strategy_guard = {
    .abi = HEED_STRATEGY_ABI,
    .name = "guard",
    .description = "per-synapse accounting of earned attention; anchors "
                   "important synapses at consolidation points",
    .nparams = 4,
    .params = {{"c", 1.0, "strength of the pull back to the anchor"},
               {"xi", 1e-3, "damping of the importance denominator"},
               {"auto", 0.0, "self-detect boundaries when mean|beta| jumps "
                             "by this factor (0: only on CONSOLIDATE)"},
               {"warm", 50.0, "batches after a boundary before detecting "
                              "another"}},
    .state_floats = guard_state,
    .respond = guard_respond,
    .control = guard_control,
};
