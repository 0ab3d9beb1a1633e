/* neuron_ops.c - the pieces of the best response that strategies share. */
#include "heed/strategy.h"
#include "net/kernels.h"

void heed_neuron_signal(const heed_neuron *n, float *g) {
  for (uint32_t s = 0; s < n->stride; s++)
    g[s] = n->dphi[s] * n->beta[s];
}

void heed_neuron_grad(const heed_neuron *n, const float *g, float *dw) {
  if (n->xt)
    heed__kernels()->grad_t(g, n->xt, n->fan_in, n->batch, dw);
  else
    heed__kernels()->grad(g, n->x, n->fan_in, n->stride, dw);
}

void heed_neuron_ascend(heed_neuron *n, const float *g, float scale) {
  float *dw = n->scratch;
  heed_neuron_grad(n, g, dw);
  for (uint32_t i = 0; i < n->fan_in; i++)
    n->w[i] += scale * dw[i];
  float gs = 0;
  for (uint32_t s = 0; s < n->stride; s++)
    gs += g[s];
  *n->b += scale * gs;
}
