/*
 * run.c - a run configuration (what BUILD carries) turned into this
 * process's part of the network, and the placements (whole layers,
 * slices). The
 * coordinator and every worker build through heed__run_net, so all of
 * them build the same network from the same bytes.
 */
#include <stdio.h>

#include "cluster/internal.h"

/* The config's strategy assignments, in order, on every process alike so
 * each neuron's state has the same size wherever it is copied. */
static int assign(const heed_run_config *c, heed_net *net, char *why,
                  size_t whylen) {
  for (uint32_t i = 0; i < c->nassign; i++) {
    const heed_wire_assign *a = &c->assign[i];
    heed_strategy *s = NULL;
    char err[256];
    int rv = heed_strategy_new(&s, a->spec, err, sizeof err);
    if (rv) {
      snprintf(why, whylen, "layer %u: %s", a->layer, err);
      return rv;
    }
    if (!a->count)
      rv = heed_net_set_strategy(net, a->layer, -1, s);
    for (uint32_t j = a->lo; a->count && j < a->lo + a->count && !rv; j++)
      rv = heed_net_set_strategy(net, a->layer, (long)j, s);
    heed_strategy_free(s);
    if (rv) {
      snprintf(why, whylen, "layer %u: cannot set strategy %s: %s", a->layer,
               a->spec, heed_strerror(rv));
      return rv;
    }
  }
  return 0;
}

int heed__run_net(const heed_run_config *c, heed_runtime *rt,
                  heed__send_fn send, void *arg, heed_net **np, char *why,
                  size_t whylen) {
  heed_strategy *s = NULL;
  heed_activation acts[HEED_WIRE_MAX_LAYERS];
  int rv = heed_strategy_new(&s, c->strategy, why, whylen);
  if (rv)
    return rv;
  for (unsigned l = 0; l + 1 < c->nsizes; l++)
    acts[l] = (heed_activation)c->acts[l];
  unsigned procs[HEED_WIRE_MAX_LAYERS];
  for (unsigned l = 0; l + 1 < c->nsizes; l++)
    procs[l] = c->layer_proc[l];
  heed_net_opts no = {.nsizes = c->nsizes, .sizes = c->sizes, .acts = acts,
                      .init = (heed_init)c->init, .seed = c->seed,
                      .lr = (float)c->lr, .max_batch = c->max_batch,
                      .strategy = s};
  heed_net_remote rem = {.nprocs = c->nprocs, .self = c->self,
                         .layer_proc = procs, .send = send, .arg = arg,
                         .share = c->nshare ? c->share : NULL};
  rv = heed_net_new_remote(np, rt, &no, &rem);
  heed_strategy_free(s);
  if (rv) {
    snprintf(why, whylen, "cannot build the network: %s", heed_strerror(rv));
    return rv;
  }
  if ((rv = assign(c, *np, why, whylen)) != 0) {
    heed_net_free(*np);
    *np = NULL;
  }
  return rv;
}

/* Contiguous layers per worker, the heaviest worker as light as possible
 * (cost of a layer: its weights and biases). */
void heed__place_layers(const uint32_t *sizes, unsigned nl, unsigned nw,
                        uint32_t *layer_proc) {
  if (nw >= nl) {
    for (unsigned l = 0; l < nl; l++)
      layer_proc[l] = l + 1;
    return;
  }
  double cost[HEED_WIRE_MAX_LAYERS + 1] = {0};
  for (unsigned l = 0; l < nl; l++)
    cost[l + 1] = cost[l] + (double)sizes[l] * sizes[l + 1] + sizes[l + 1];
  /* best[k][j]: first j layers on k workers; cut[k][j] where the last
   * worker's part starts. */
  static _Thread_local double best[HEED_WIRE_MAX_PROCS + 1]
                                  [HEED_WIRE_MAX_LAYERS + 1];
  static _Thread_local unsigned cut[HEED_WIRE_MAX_PROCS + 1]
                                   [HEED_WIRE_MAX_LAYERS + 1];
  for (unsigned j = 0; j <= nl; j++)
    best[1][j] = cost[j];
  for (unsigned k = 2; k <= nw; k++)
    for (unsigned j = k; j <= nl; j++) {
      best[k][j] = 1e300;
      for (unsigned i = k - 1; i < j; i++) {
        double c = best[k - 1][i] > cost[j] - cost[i] ? best[k - 1][i]
                                                      : cost[j] - cost[i];
        if (c < best[k][j]) {
          best[k][j] = c;
          cut[k][j] = i;
        }
      }
    }
  unsigned j = nl;
  for (unsigned k = nw; k >= 1; k--) {
    unsigned i = k == 1 ? 0 : cut[k][j];
    for (unsigned l = i; l < j; l++)
      layer_proc[l] = k;
    j = i;
  }
}

void heed__place_slices(const uint32_t *sizes, unsigned nl, unsigned nprocs,
                        unsigned from, uint32_t *share) {
  unsigned k = nprocs - from;
  double hidden = 0;
  for (unsigned l = 0; l + 1 < nl; l++)
    hidden += (double)sizes[l] * sizes[l + 1];
  /* The output layer feeds the critic on process 0: kept whole there, a
   * batch crosses between processes four times (the hidden layers'
   * slices, the last hidden layer to process 0, the output's bids back,
   * the bids between slices) instead of six, as long as its weights are
   * no more work than a worker's share of the hidden layers. */
  int out_on_0 = nl > 1 && (double)sizes[nl - 1] * sizes[nl] <= hidden / k;
  for (unsigned l = 0; l < nl; l++)
    for (unsigned p = 0; p < nprocs; p++) {
      uint32_t n = sizes[l + 1], i = p - from;
      if (l + 1 == nl && out_on_0)
        share[l * nprocs + p] = p == 0 ? n : 0;
      else
        share[l * nprocs + p] = p < from ? 0 : n / k + (i < n % k);
    }
}
