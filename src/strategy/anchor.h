/*
 * anchor.h - per-synapse anchoring, shared by guard and claim (internal).
 *
 * A neuron accounts, synapse by synapse, for how much its utility rose
 * through each weight (sum over steps of utility gradient x weight change).
 * At a consolidation point it turns the account into an importance
 *     Omega_i = keep * Omega_i + max(account_i, 0) / ((w_i - w_i start)^2 + xi)
 * (reshaped by pow and sharp, see guard.c), remembers its weights (the
 * anchor), and from then on steps with a quadratic cost c/2 * sum_i Omega_i
 * (w_i - anchor_i)^2 taken as a proximal step.
 *
 * The anchor owns the first heed__anchor_floats(fan_in) floats of a
 * neuron's state: account[n] omega[n] anchor[n] start[n], then the bias's
 * account omega anchor start, then ready, ema_beta, quiet, consolidations.
 * A strategy that anchors puts its own state after them.
 */
#ifndef HEED_STRATEGY_ANCHOR_H
#define HEED_STRATEGY_ANCHOR_H

#include "heed/strategy.h"

/* How a consolidation turns the account into importance. */
typedef struct heed__anchor_cfg {
  double xi;    /* damping of the importance denominator (> 0) */
  double keep;  /* old importance kept at a consolidation, in [0, 1] */
  double pow;   /* new importance times the neuron's mean^(pow - 1) */
  double sharp; /* new importances within the neuron as e^sharp, same sum */
} heed__anchor_cfg;

size_t heed__anchor_floats(uint32_t fan_in);
/* First batch: anchor and account start at the current weights. */
void heed__anchor_begin(heed_neuron *n);
/* Whether heed__anchor_begin has run (a consolidation before it is moot). */
int heed__anchor_ready(const heed_neuron *n);
void heed__anchor_consolidate(heed_neuron *n, const heed__anchor_cfg *cfg);
/* Self-detected boundary: consolidates when the batch's mean |beta|
 * exceeds autok times its running average, at least warm batches after
 * the last detection. Does nothing when autok is 0, or once a CONSOLIDATE
 * has arrived: when the driver marks boundaries, a detection of the
 * neuron's own would consolidate twice at each one (or at a false alarm). */
void heed__anchor_detect(heed_neuron *n, const heed__anchor_cfg *cfg,
                         double autok, double warm);
/* A control event: CONSOLIDATE consolidates (once the anchor is ready)
 * and stops self-detection for good. */
void heed__anchor_control(heed_neuron *n, const heed__anchor_cfg *cfg,
                          int event);
/* c * (1 + grow * (consolidations - 1)) once there were two or more. */
double heed__anchor_strength(const heed_neuron *n, double c, double grow);
/* The update for bid signal g: w' = (w + lr*<g,x> + k*anchor) / (1 + k),
 * k = lr * strength * Omega (bias alike), with the account advanced. Uses
 * n->scratch. Does not touch n->g or n->c. */
void heed__anchor_step(heed_neuron *n, const float *g, double strength);

#endif
