/*
 * hub.c - a layer's hub actor: gathers the layer's per-neuron messages for
 * one batch into a single block and broadcasts it.
 *
 * Upward, rows y_j become the block X of the next layer (or the critic's
 * logits). Downward, each neuron's bid (g_j, c_j) becomes a row of G and a
 * row of C; the layer below reads beta_i = sum_j c_ji g_j from the shared
 * block. Rows are stored by sender index, so the block never depends on the
 * order in which the neurons' messages arrive.
 */
#include <string.h>

#include "net/internal.h"
#include "net/trace_hook.h"

static heed_gather *gather_for(heed_gather *g, uint64_t batch) {
  heed_gather *free_one = NULL;
  for (int i = 0; i < HEED_HUB_GATHERS; i++) {
    if (g[i].used && g[i].batch == batch)
      return &g[i];
    if (!g[i].used && !free_one)
      free_one = &g[i];
  }
  return free_one;
}

static void broadcast(heed_runtime *rt, heed_net *net, const heed_actor *to,
                      size_t n, uint32_t type, heed_gather *g) {
  if (heed_actor_broadcast(rt, to, n, type, g->batch, 0, g->buf) != 0)
    heed__net_fail(net);
  heed_buf_release(g->buf);
  g->buf = NULL;
  g->used = 0;
  g->have = 0;
}

static void on_forward(heed_runtime *rt, heed_hub *hub, heed_msg *msg) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  heed_buf *row = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(row);
  uint64_t j = heed_msg_word(msg, 1);
  heed_gather *g = gather_for(hub->fwd, h->batch);
  uint64_t t0 = heed__trace_begin(net, h->batch, HEED_TRACE_FORWARD);

  if (!g || j >= L->n) {
    heed__net_fail(net);
    return;
  }
  if (!g->used) {
    if (heed__block_alloc(rt, h->batch, h->mode, h->count, h->stride, L->n,
                          (size_t)h->count * L->n, &g->buf) != 0) {
      heed__net_fail(net);
      return;
    }
    g->used = 1;
    g->batch = h->batch;
  }
  memcpy(heed__block_data(g->buf) + j * h->stride, heed__block_data(row),
         h->stride * sizeof(float));
  heed__trace_end(net, t0, h->batch, HEED_TRACE_FORWARD,
                  heed__who(HEED_ROLE_NEURON, L->l, (uint32_t)j),
                  heed__who(HEED_ROLE_HUB, L->l, 0), 1, heed__block_data(row),
                  h->count);
  if (++g->have < L->n)
    return;
  if (h->mode == HEED_MODE_TRAIN)
    heed__block_fill_xt(g->buf);
  if ((size_t)L->l == net->nlayers)
    broadcast(rt, net, &net->critic_target, 1, HEED_NET_FORWARD, g);
  else
    broadcast(rt, net, net->layers[L->l].targets, net->layers[L->l].ntargets,
              HEED_NET_FORWARD, g);
}

static void on_bid(heed_runtime *rt, heed_hub *hub, heed_msg *msg) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  heed_buf *row = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(row);
  uint64_t j = heed_msg_word(msg, 1);
  heed_gather *g = gather_for(hub->bid, h->batch);
  uint64_t t0 = heed__trace_begin(net, h->batch, HEED_TRACE_BID);

  if (!g || j >= L->n || L->l < 2) {
    heed__net_fail(net);
    return;
  }
  if (!g->used) {
    if (heed__block_alloc(rt, h->batch, h->mode, h->count, h->stride, L->n,
                          (size_t)L->n * L->fan_in, &g->buf) != 0) {
      heed__net_fail(net);
      return;
    }
    heed__block_hdr(g->buf)->ldc = L->fan_in;
    g->used = 1;
    g->batch = h->batch;
  }
  float *G = heed__block_data(g->buf);
  float *C = G + (size_t)L->n * h->stride;
  const float *src = heed__block_data(row);
  memcpy(G + j * h->stride, src, h->stride * sizeof(float));
  memcpy(C + j * L->fan_in, src + h->stride, L->fan_in * sizeof(float));
  heed__trace_end(net, t0, h->batch, HEED_TRACE_BID,
                  heed__who(HEED_ROLE_NEURON, L->l, (uint32_t)j),
                  heed__who(HEED_ROLE_HUB, L->l, 0), 1, src, h->count);
  if (++g->have < L->n)
    return;
  heed_layer *below = &net->layers[L->l - 2];
  broadcast(rt, net, below->targets, below->ntargets, HEED_NET_BID, g);
}

void heed__hub_behaviour(heed_runtime *rt, heed_actor self, void *state,
                         heed_msg *msg) {
  heed_hub *hub = state;
  (void)self;
  hub->handled++;
  switch (heed_msg_type(msg)) {
  case HEED_NET_FORWARD:
    on_forward(rt, hub, msg);
    break;
  case HEED_NET_BID:
    on_bid(rt, hub, msg);
    break;
  default:
    heed__net_fail(hub->net);
  }
  heed_msg_free(msg);
}
