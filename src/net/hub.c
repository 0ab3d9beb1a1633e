/*
 * hub.c - a layer's hub actor: gathers the layer's per-neuron messages for
 * one batch into a single block and broadcasts it.
 *
 * Upward, rows y_j become the block X of the next layer (or the critic's
 * logits). Downward, each neuron's bid (g_j, c_j) becomes a row of G and a
 * row of C; the layer below reads beta_i = sum_j c_ji g_j from the shared
 * block. Rows are stored by sender index, so the block never depends on the
 * order in which the neurons' messages arrive.
 *
 * When a layer is spread over processes, each process's hub gathers its
 * own neurons' rows, sends that slice on as soon as it is complete
 * (net/remote.c), and puts the slices other processes send it in their
 * places: the block its readers get is the very block of one process.
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

static void release(heed_gather *g) {
  heed_buf_release(g->buf);
  g->buf = NULL;
  g->used = 0;
  g->have = 0;
  g->local = 0;
  g->peers = 0;
}

/* The block is whole (or, with no reader here, this process's slice has
 * left): hand it to the readers on this process. */
static void finish_fwd(heed_runtime *rt, heed_hub *hub, heed_gather *g) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  const heed_actor *to = NULL;
  size_t n = 0;
  if ((size_t)L->l == net->nlayers) {
    if (net->remote.self == 0) {
      to = &net->critic.self;
      n = 1;
    }
  } else {
    heed_layer *next = &net->layers[L->l];
    to = next->handles + next->lo;
    n = next->hi - next->lo;
  }
  if (n) {
    if (heed__block_hdr(g->buf)->mode == HEED_MODE_TRAIN)
      heed__block_fill_xt(g->buf);
    if (heed_actor_broadcast(rt, to, n, HEED_NET_FORWARD, g->batch, 0,
                             g->buf) != 0)
      heed__net_fail(net);
  }
  release(g);
}

static void finish_bid(heed_runtime *rt, heed_hub *hub, heed_gather *g) {
  heed_net *net = hub->net;
  heed_layer *below = &net->layers[hub->layer->l - 2];
  if (below->local &&
      heed_actor_broadcast(rt, below->handles + below->lo,
                           below->hi - below->lo, HEED_NET_BID, g->batch, 0,
                           g->buf) != 0)
    heed__net_fail(net);
  release(g);
}

/* The gather for a forward block of this layer: rows for all n neurons,
 * room for the sample-major copy. */
static heed_gather *fwd_gather(heed_runtime *rt, heed_hub *hub,
                               const heed_block *h) {
  heed_layer *L = hub->layer;
  heed_gather *g = gather_for(hub->fwd, h->batch);
  if (!g)
    return NULL;
  if (!g->used) {
    if (heed__block_alloc(rt, h->batch, h->mode, h->count, h->stride, L->n,
                          (size_t)h->count * L->n, &g->buf) != 0)
      return NULL;
    g->used = 1;
    g->batch = h->batch;
  }
  return heed__block_hdr(g->buf)->count == h->count &&
                 heed__block_hdr(g->buf)->mode == h->mode
             ? g
             : NULL;
}

/* The gather for a bid block: n rows of g, n rows of coefficients. */
static heed_gather *bid_gather(heed_runtime *rt, heed_hub *hub,
                               const heed_block *h) {
  heed_layer *L = hub->layer;
  heed_gather *g = gather_for(hub->bid, h->batch);
  if (!g)
    return NULL;
  if (!g->used) {
    if (heed__block_alloc(rt, h->batch, h->mode, h->count, h->stride, L->n,
                          (size_t)L->n * L->fan_in, &g->buf) != 0)
      return NULL;
    heed__block_hdr(g->buf)->ldc = L->fan_in;
    g->used = 1;
    g->batch = h->batch;
  }
  return heed__block_hdr(g->buf)->count == h->count ? g : NULL;
}

/* A row from one of this process's neurons. */
static void on_forward(heed_runtime *rt, heed_hub *hub, heed_msg *msg) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  heed_buf *row = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(row);
  uint64_t j = heed_msg_word(msg, 1);
  uint64_t t0 = heed__trace_begin(net, h->batch, HEED_TRACE_FORWARD);
  heed_gather *g = j >= L->lo && j < L->hi ? fwd_gather(rt, hub, h) : NULL;
  if (!g) {
    heed__net_fail(net);
    return;
  }
  memcpy(heed__block_data(g->buf) + j * h->stride, heed__block_data(row),
         h->stride * sizeof(float));
  heed__trace_end(net, t0, h->batch, HEED_TRACE_FORWARD,
                  heed__who(HEED_ROLE_NEURON, L->l, (uint32_t)j),
                  heed__who(HEED_ROLE_HUB, L->l, 0), 1, heed__block_data(row),
                  h->count);
  g->have++;
  if (++g->local == L->hi - L->lo && heed__hub_send_fwd(hub, g) != 0)
    heed__net_fail(net);
  if (g->have == hub->need_fwd)
    finish_fwd(rt, hub, g);
}

/* Rows [first, first + rows) of this layer from another process (checked
 * on delivery). */
static void on_slice_fwd(heed_runtime *rt, heed_hub *hub, heed_msg *msg) {
  heed_layer *L = hub->layer;
  heed_buf *b = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(b);
  uint64_t first = heed_msg_word(msg, 1) & UINT32_MAX;
  uint64_t peer = 1ull << (heed_msg_word(msg, 1) >> 32);
  heed_gather *g = first + h->rows <= L->n ? fwd_gather(rt, hub, h) : NULL;
  if (!g || g->have + h->rows > hub->need_fwd || (g->peers & peer)) {
    heed__net_fail(hub->net); /* a slice twice: the block would miss one */
    return;
  }
  g->peers |= peer;
  memcpy(heed__block_data(g->buf) + first * h->stride, heed__block_data(b),
         (size_t)h->rows * h->stride * sizeof(float));
  g->have += h->rows;
  if (g->have == hub->need_fwd)
    finish_fwd(rt, hub, g);
}

static void on_bid(heed_runtime *rt, heed_hub *hub, heed_msg *msg) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  heed_buf *row = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(row);
  uint64_t j = heed_msg_word(msg, 1);
  uint64_t t0 = heed__trace_begin(net, h->batch, HEED_TRACE_BID);
  heed_gather *g = j >= L->lo && j < L->hi && L->l >= 2
                       ? bid_gather(rt, hub, h)
                       : NULL;
  if (!g) {
    heed__net_fail(net);
    return;
  }
  float *G = heed__block_data(g->buf);
  float *C = G + (size_t)L->n * h->stride;
  const float *src = heed__block_data(row);
  memcpy(G + j * h->stride, src, h->stride * sizeof(float));
  memcpy(C + j * L->fan_in, src + h->stride, L->fan_in * sizeof(float));
  heed__trace_end_coef(net, t0, h->batch, HEED_TRACE_BID,
                       heed__who(HEED_ROLE_NEURON, L->l, (uint32_t)j),
                       heed__who(HEED_ROLE_HUB, L->l, 0), 1, src, h->count,
                       src + h->stride, L->fan_in);
  g->have++;
  if (++g->local == L->hi - L->lo && heed__hub_send_bid(hub, g) != 0)
    heed__net_fail(net);
  if (g->have == hub->need_bid)
    finish_bid(rt, hub, g);
}

/* Rows [first, first + rows) of g from another process, with their
 * coefficients for this process's neurons of the layer below only (the
 * other columns of those rows stay unread). */
static void on_slice_bid(heed_runtime *rt, heed_hub *hub, heed_msg *msg) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  heed_buf *b = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(b);
  uint64_t first = heed_msg_word(msg, 1) & UINT32_MAX;
  uint64_t peer = 1ull << (heed_msg_word(msg, 1) >> 32);
  heed_layer *below = L->l >= 2 ? &net->layers[L->l - 2] : NULL;
  heed_gather *g = below && first + h->rows <= L->n &&
                           h->ldc == below->hi - below->lo
                       ? bid_gather(rt, hub, h)
                       : NULL;
  if (!g || g->have + h->rows > hub->need_bid || (g->peers & peer)) {
    heed__net_fail(net);
    return;
  }
  g->peers |= peer;
  float *G = heed__block_data(g->buf);
  float *C = G + (size_t)L->n * h->stride;
  const float *src = heed__block_data(b);
  memcpy(G + first * h->stride, src, (size_t)h->rows * h->stride *
                                         sizeof(float));
  src += (size_t)h->rows * h->stride;
  for (uint32_t k = 0; k < h->rows; k++)
    memcpy(C + (first + k) * L->fan_in + below->lo, src + (size_t)k * h->ldc,
           h->ldc * sizeof(float));
  g->have += h->rows;
  if (g->have == hub->need_bid)
    finish_bid(rt, hub, g);
}

void heed__hub_behaviour(heed_runtime *rt, heed_actor self, void *state,
                         heed_msg *msg) {
  heed_hub *hub = state;
  (void)self;
  heed__count(&hub->handled);
  switch (heed_msg_type(msg)) {
  case HEED_NET_FORWARD:
    on_forward(rt, hub, msg);
    break;
  case HEED_NET_BID:
    on_bid(rt, hub, msg);
    break;
  case HEED_NET_SLICE_FWD:
    on_slice_fwd(rt, hub, msg);
    break;
  case HEED_NET_SLICE_BID:
    on_slice_bid(rt, hub, msg);
    break;
  default:
    heed__net_fail(hub->net);
  }
  heed_msg_free(msg);
}
