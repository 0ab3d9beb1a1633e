/* anchor.c - per-synapse anchoring shared by guard and claim (anchor.h). */
#include <math.h>
#include <string.h>

#include "strategy/anchor.h"

enum { B_ACC, B_OMEGA, B_ANCHOR, B_START, READY, EMA, QUIET, CONS, TAIL };
/* QUIET once a CONSOLIDATE arrived: below any warm, and finite so a
 * checkpoint keeps it; adding 1 per batch leaves it unchanged. */
#define TOLD (-1e30f)

size_t heed__anchor_floats(uint32_t fan_in) { return 4 * (size_t)fan_in + TAIL; }

static float *tail(const heed_neuron *n) {
  return n->state + 4 * (size_t)n->fan_in;
}

static double earned(float acc, double d, double xi) {
  return acc > 0 ? acc / (d * d + xi) : 0.0;
}

int heed__anchor_ready(const heed_neuron *n) { return tail(n)[READY] != 0; }

void heed__anchor_begin(heed_neuron *n) {
  uint32_t m = n->fan_in;
  float *anc = n->state + 2 * (size_t)m, *st = anc + m, *t = tail(n);
  if (t[READY] != 0)
    return;
  memcpy(anc, n->w, m * sizeof *anc);
  memcpy(st, n->w, m * sizeof *st);
  t[B_ANCHOR] = t[B_START] = *n->b;
  t[READY] = 1;
}

void heed__anchor_consolidate(heed_neuron *n, const heed__anchor_cfg *cfg) {
  uint32_t m = n->fan_in;
  float *acc = n->state, *om = acc + m, *anc = om + m, *st = anc + m;
  float *t = st + m;
  double xi = cfg->xi, keep = cfg->keep, pw = cfg->pow, sharp = cfg->sharp;
  double scale = 1, sum = 0, sums = 0;
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

void heed__anchor_detect(heed_neuron *n, const heed__anchor_cfg *cfg,
                         double autok, double warm) {
  float *t = tail(n);
  if (autok <= 0 || t[QUIET] == TOLD)
    return;
  double mb = 0;
  for (uint32_t s = 0; s < n->batch; s++)
    mb += fabs(n->beta[s]);
  mb /= n->batch;
  if (t[QUIET] >= (float)warm && mb > autok * t[EMA]) {
    heed__anchor_consolidate(n, cfg);
    t[QUIET] = 0;
  }
  t[EMA] = t[QUIET] == 0 ? (float)mb : 0.99f * t[EMA] + 0.01f * (float)mb;
  t[QUIET] += 1;
}

void heed__anchor_control(heed_neuron *n, const heed__anchor_cfg *cfg,
                          int event) {
  if (event != HEED_EVENT_CONSOLIDATE)
    return;
  if (heed__anchor_ready(n))
    heed__anchor_consolidate(n, cfg);
  tail(n)[QUIET] = TOLD; /* the driver marks boundaries: stop detecting */
}

double heed__anchor_strength(const heed_neuron *n, double c, double grow) {
  float cons = tail(n)[CONS];
  return cons > 1 ? c * (1 + grow * (cons - 1)) : c;
}

void heed__anchor_step(heed_neuron *n, const float *g, double strength) {
  uint32_t m = n->fan_in;
  float *acc = n->state, *om = acc + m, *anc = om + m, *t = tail(n);
  float *dw = n->scratch;
  heed_neuron_grad(n, g, dw);
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
    gs += g[s];
  float k = n->lr * (float)strength * t[B_OMEGA];
  float next = (*n->b + n->lr * gs + k * t[B_ANCHOR]) / (1.0f + k);
  t[B_ACC] += gs * (next - *n->b);
  *n->b = next;
}
