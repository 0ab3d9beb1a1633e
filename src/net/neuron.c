/*
 * neuron.c - the neuron actor.
 *
 * On FORWARD it computes z = w.x + b and y = phi(z) for the batch and sends
 * y to its layer's hub; on BID it sums the attention bid for its output
 * (beta), lets its strategy choose its own bids and update, and sends the
 * bids to the hub. A neuron holds a forward pass until its previous batch's
 * update is done (conditions C1 and C3) unless its strategy is async.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "net/internal.h"
#include "net/trace_hook.h"
#include "strategy/builtin.h"

static int strategy_is_async(const heed_neuron_actor *na) {
  return (na->play->ops->flags & HEED_STRATEGY_ASYNC) != 0;
}

static int can_forward(const heed_neuron_actor *na, uint32_t mode) {
  if (na->inflight == 0)
    return 1;
  if (mode == HEED_MODE_TRAIN && strategy_is_async(na))
    return na->inflight < HEED_NET_SLOTS;
  return 0;
}

static int defer(heed_neuron_actor *na, heed_msg *msg) {
  if (na->ndeferred == na->capdeferred) {
    size_t cap = na->capdeferred ? na->capdeferred * 2 : 4;
    heed_msg **d = heed__realloc(na->deferred, cap * sizeof *d);
    if (!d)
      return HEED_ENOMEM;
    na->deferred = d;
    na->capdeferred = cap;
  }
  na->deferred[na->ndeferred++] = msg;
  return 0;
}

static heed_slot *free_slot(heed_neuron_actor *na) {
  for (int i = 0; i < HEED_NET_SLOTS; i++)
    if (!na->slots[i].busy)
      return &na->slots[i];
  return NULL;
}

static heed_slot *find_slot(heed_neuron_actor *na, uint64_t batch) {
  for (int i = 0; i < HEED_NET_SLOTS; i++)
    if (na->slots[i].busy && na->slots[i].batch == batch)
      return &na->slots[i];
  return NULL;
}

/* z sample by sample, each a dot product vectorized over the inputs: the
 * sample-major copy is read when the block has one, the input-major rows
 * otherwise (the same sum, bitwise). Padding lanes get the bias alone, as
 * dot_rows gives them. */
static void activate_narrow(const heed_net *net, const heed_block *h,
                            const float *w, const float *x, float b,
                            float *z) {
  const float *xt = h->xt ? x + (size_t)h->rows * h->stride : NULL;
  for (uint32_t s = 0; s < h->count; s++)
    z[s] = xt ? net->k->dot_in(w, h->rows, xt + (size_t)s * h->rows, 1, b)
              : net->k->dot_in(w, h->rows, x + s, h->stride, b);
  for (uint32_t s = h->count; s < h->stride; s++)
    z[s] = b;
}

/* A cohort: neurons of one layer on one loop that a blocked kernel call
 * serves together, this neuron first. */
typedef struct cohort {
  heed_neuron_actor *na[HEED_COHORT];
  int n;
} cohort;

/* Neuron j's group: the HEED_COHORT neurons j' = j (mod T) around it, which
 * placement puts on j's loop (net.c: neuron j runs on loop j % T), so one
 * may write into another's cohort buffers without a lock. Fixed groups:
 * which neighbour computes for which depends on arrival order, the
 * results do not (every blocked sum is the one-neuron sum, bitwise). */
static uint32_t group_base(const heed_net *net, uint32_t j) {
  uint32_t T = net->threads;
  return j - ((j / T) % HEED_COHORT) * T;
}

static heed_neuron_actor *group_mate(const heed_neuron_actor *na,
                                     uint32_t base, uint32_t m) {
  heed_layer *L = na->layer;
  uint32_t idx = base + m * na->net->threads;
  if (idx < L->lo || idx >= L->hi || idx == na->index) /* not here */
    return NULL;
  return &L->neurons[idx];
}

/* z for this neuron and batch: precomputed by a cohort neighbour, or
 * computed now together with the neighbours of its group that will need
 * the same block next. Each neighbour must be idle (no batch in flight,
 * nothing deferred) so its weights cannot change before it runs; the
 * blocked kernel gives each z bitwise as the one-neuron kernel does. */
static void pre_activate(heed_neuron_actor *na, const heed_block *h,
                         const float *x, float *z) {
  heed_net *net = na->net;
  heed_layer *L = na->layer;
  const float *w = L->w + (size_t)na->index * L->fan_in;
  if (na->pre_valid && na->pre_batch == h->batch) {
    na->pre_valid = 0;
    memcpy(z, na->pre_z, h->stride * sizeof *z);
    return;
  }
  if (h->count <= HEED_NARROW) { /* too few samples to fill a vector */
    activate_narrow(net, h, w, x, L->b[na->index], z);
    return;
  }
  uint32_t base = group_base(net, na->index);
  const float *ws[HEED_COHORT] = {w};
  float bs[HEED_COHORT] = {L->b[na->index]};
  float *zs[HEED_COHORT] = {z};
  heed_neuron_actor *mates[HEED_COHORT];
  int k = 0;
  for (uint32_t m = 0; m < HEED_COHORT; m++) {
    heed_neuron_actor *o = group_mate(na, base, m);
    if (o && o->inflight == 0 && o->ndeferred == 0 && o->seen <= h->batch &&
        !(o->pre_valid && o->pre_batch == h->batch) && o->play == na->play) {
      mates[k++] = o;
      ws[k] = L->w + (size_t)o->index * L->fan_in;
      bs[k] = L->b[o->index];
      zs[k] = o->pre_z;
    }
  }
  if (k == 0) {
    net->k->dot_rows(w, L->fan_in, x, h->stride, bs[0], z);
    return;
  }
  net->k->block(ws, (size_t)k + 1, 1, L->fan_in, x, h->stride, h->stride, bs,
                zs);
  for (int m = 0; m < k; m++) {
    mates[m]->pre_valid = 1;
    mates[m]->pre_batch = h->batch;
  }
}

static void forward(heed_runtime *rt, heed_neuron_actor *na, heed_msg *msg) {
  heed_net *net = na->net;
  heed_layer *L = na->layer;
  heed_buf *xb = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(xb);
  const float *x = heed__block_data(xb);
  heed_buf *out = NULL;
  heed_msg *m = NULL;
  uint64_t t0 = heed__trace_begin(net, h->batch, HEED_TRACE_FORWARD);

  /* Blocks from a peer were checked on delivery; this guards the buffers
   * below against any block whose header does not fit this layer. */
  if (h->rows != L->fan_in || h->stride > net->max_stride || h->ldc ||
      h->count == 0 || h->count > h->stride ||
      (h->mode == HEED_MODE_TRAIN &&
       (find_slot(na, h->batch) || !free_slot(na)))) {
    heed__net_fail(net);
    return;
  }
  if (heed__block_alloc(rt, h->batch, h->mode, h->count, h->stride, 1, 0,
                        &out) != 0 ||
      heed_msg_alloc(rt, &m, HEED_NET_FORWARD) != 0) {
    heed_buf_release(out);
    heed__net_fail(net);
    return;
  }
  float *y = heed__block_data(out);
  if (h->mode == HEED_MODE_TRAIN) {
    heed_slot *s = free_slot(na);
    pre_activate(na, h, x, s->z);
    heed__activate(L->act, s->z, s->y, s->dphi, h->stride);
    for (uint32_t i = h->count; i < h->stride; i++)
      s->y[i] = s->dphi[i] = 0.0f;
    memcpy(y, s->y, h->stride * sizeof *y);
    s->batch = h->batch;
    s->count = h->count;
    s->stride = h->stride;
    s->x = heed_buf_hold(xb);
    s->busy = 1;
    na->inflight++;
    uint32_t seen = atomic_load_explicit(&net->max_overlap,
                                         memory_order_relaxed);
    while (na->inflight > seen &&
           !atomic_compare_exchange_weak(&net->max_overlap, &seen,
                                         na->inflight))
      ;
  } else {
    pre_activate(na, h, x, y);
    heed__activate(L->act, y, y, NULL, h->stride);
    for (uint32_t i = h->count; i < h->stride; i++)
      y[i] = 0.0f;
  }
  na->seen = h->batch + 1;
  heed__trace_end(net, t0, h->batch, HEED_TRACE_FORWARD,
                  L->l == 1 ? heed__who(HEED_ROLE_INPUT, 0, 0)
                            : heed__who(HEED_ROLE_HUB, L->l - 1,
                                        HEED_TRACE_ALL_NEURONS),
                  heed__who(HEED_ROLE_NEURON, L->l, na->index), L->n, NULL, 0);
  heed_msg_set_word(m, 0, h->batch);
  heed_msg_set_word(m, 1, na->index);
  heed_msg_set_buf(m, out);
  if (heed_actor_send(rt, L->hub.self, m) != 0) {
    heed_msg_free(m);
    heed__net_fail(net);
  }
}

static void on_forward(heed_runtime *rt, heed_neuron_actor *na,
                       heed_msg *msg) {
  const heed_block *h = heed__block_hdr(heed_msg_buf(msg));
  if (!can_forward(na, h->mode)) {
    if (defer(na, msg) != 0) {
      heed_msg_free(msg);
      heed__net_fail(na->net);
    }
    return;
  }
  forward(rt, na, msg);
  heed_msg_free(msg);
}

/* Whether attention() stays inside a bid block: a critic block (ldc 0)
 * needs a row for this neuron; a hub block needs a coefficient column
 * per neuron of this layer (cohort neighbours read theirs too). */
static int bid_fits(const heed_neuron_actor *na, const heed_block *h) {
  return h->ldc == 0 ? na->index < h->rows : h->ldc == na->layer->n;
}

/* Whether o waits for the bids of this batch and has no beta for them. */
static int waits_for(const heed_neuron_actor *o, uint64_t batch) {
  int waiting = 0;
  for (int q = 0; q < HEED_NET_SLOTS; q++)
    waiting |= o->slots[q].busy && o->slots[q].batch == batch;
  return waiting && !(o->pre_beta_valid && o->pre_beta_batch == batch);
}

/* beta: the total attention bid for this neuron's output, summed over the
 * bidders in index order. Neighbours of its group on this loop waiting for
 * this very block get theirs from the same pass over it (read-only work
 * on data they will receive anyway; bitwise as their own sum); c lists
 * this neuron and them, or is empty when a neighbour did this one's. */
static void attention(const heed_net *net, heed_neuron_actor *na,
                      heed_buf *bids, float *beta, cohort *c) {
  const heed_block *h = heed__block_hdr(bids);
  const float *g = heed__block_data(bids);
  c->n = 0;
  if (na->pre_beta_valid && na->pre_beta_batch == h->batch) {
    na->pre_beta_valid = 0; /* a cohort neighbour summed it already */
    memcpy(beta, na->pre_beta, h->stride * sizeof *beta);
    return;
  }
  uint32_t base = group_base(net, na->index);
  c->na[c->n++] = na;
  for (uint32_t m = 0; m < HEED_COHORT; m++) {
    heed_neuron_actor *o = group_mate(na, base, m);
    if (o && waits_for(o, h->batch) && bid_fits(o, h))
      c->na[c->n++] = o;
  }
  float *out[HEED_COHORT] = {beta};
  for (int q = 1; q < c->n; q++)
    out[q] = c->na[q]->pre_beta;
  if (h->ldc == 0) { /* the critic: one row per output neuron */
    for (int q = 0; q < c->n; q++)
      memcpy(out[q], g + (size_t)c->na[q]->index * h->stride,
             h->stride * sizeof *beta);
  } else {
    const float *cs[HEED_COHORT], *cc = g + (size_t)h->rows * h->stride;
    for (int q = 0; q < c->n; q++)
      cs[q] = cc + c->na[q]->index;
    if (h->stride == 8) /* four chains per sum (gather8), one neuron each */
      for (int q = 0; q < c->n; q++)
        net->k->gather(cs[q], h->ldc, g, h->rows, h->stride, out[q]);
    else
      net->k->block(cs, (size_t)c->n, h->ldc, h->rows, g, h->stride,
                    h->stride, NULL, out);
  }
  for (int q = 1; q < c->n; q++) {
    c->na[q]->pre_beta_valid = 1;
    c->na[q]->pre_beta_batch = h->batch;
  }
}

/* Strategies known to bid g = phi' * beta (heed_neuron_signal) and take
 * the gradient of that g: a cohort computes their gradients ahead. Any
 * other strategy would only waste the work (a gradient computed ahead is
 * used only for exactly the g it was computed from). */
static int signals_best_response(const heed_strategy_ops *ops) {
  return ops == &heed__strategy_bp || ops == &heed__strategy_sparse ||
         ops == &heed__strategy_retain || ops == &heed__strategy_guard ||
         ops == &heed__strategy_async;
}

/* The gradients of the cohort c (beta known for each) in one blocked pass
 * over the sample-major inputs: each member's predicted signal g = dphi *
 * beta goes to its pre_g and <g, x_i> to its pre_dw, which
 * heed_neuron_grad takes when the strategy asks for the gradient of that
 * very g and x (bitwise grad_t's sums, so nothing else changes). */
static void grad_ahead(const heed_net *net, heed_neuron_actor *na,
                       const heed_slot *s, cohort *c) {
  const float *xt = heed__block_xt(s->x);
  /* A few samples: grad_t sweeps each neuron's dw once per sample, which
   * costs less than the tiles' set-up (callgrind at batch 1: 11 M
   * instructions for grad_t against 19 M for the blocked pass). */
  if (c->n < 2 || !xt || s->count <= HEED_NARROW)
    return;
  const float *gs[HEED_COHORT];
  float *dws[HEED_COHORT];
  heed_neuron_actor *in[HEED_COHORT];
  int m = 0;
  for (int q = 0; q < c->n; q++) {
    heed_neuron_actor *o = c->na[q];
    const heed_slot *so = find_slot(o, s->batch);
    if (!so || so->x != s->x || !signals_best_response(o->play->ops))
      continue;
    const float *beta = o == na ? na->beta : o->pre_beta;
    for (uint32_t i = 0; i < s->stride; i++) /* as heed_neuron_signal */
      o->pre_g[i] = so->dphi[i] * beta[i];
    in[m] = o;
    gs[m] = o->pre_g;
    dws[m++] = o->pre_dw;
  }
  if (m < 2)
    return;
  uint32_t n = na->layer->fan_in;
  net->k->block(gs, (size_t)m, 1, s->count, xt, n, n, NULL, dws);
  for (int q = 0; q < m; q++) {
    in[q]->pre_dw_valid = 1;
    in[q]->pre_dw_batch = s->batch;
  }
}

static void drain_deferred(heed_runtime *rt, heed_neuron_actor *na) {
  size_t i = 0;
  while (i < na->ndeferred) {
    heed_msg *m = na->deferred[i];
    const heed_block *h = heed__block_hdr(heed_msg_buf(m));
    if (!can_forward(na, h->mode))
      break;
    forward(rt, na, m);
    heed_msg_free(m);
    i++;
  }
  if (i == 0)
    return; /* also keeps memmove away from a NULL list */
  memmove(na->deferred, na->deferred + i,
          (na->ndeferred - i) * sizeof *na->deferred);
  na->ndeferred -= i;
}

static void on_bid(heed_runtime *rt, heed_neuron_actor *na, heed_msg *msg) {
  heed_net *net = na->net;
  heed_layer *L = na->layer;
  heed_buf *bids = heed_msg_buf(msg);
  const heed_block *h = heed__block_hdr(bids);
  heed_slot *s = find_slot(na, h->batch);
  heed_buf *out = NULL;
  heed_msg *m = NULL;

  if (!s || h->stride != s->stride || h->count != s->count ||
      !bid_fits(na, h)) {
    heed_msg_free(msg);
    heed__net_fail(net);
    return;
  }
  uint64_t t0 = heed__trace_begin(net, h->batch, HEED_TRACE_BID);
  heed_trace_who from =
      h->ldc == 0 ? heed__who(HEED_ROLE_CRITIC, (uint32_t)net->nlayers + 1, 0)
                  : heed__who(HEED_ROLE_HUB, L->l + 1, HEED_TRACE_ALL_NEURONS);
  uint32_t fanout = L->n;
  int output = h->ldc == 0; /* the critic bids output neurons */
  float *beta = na->beta;
  cohort co;
  attention(net, na, bids, beta, &co);
  heed_msg_free(msg);
  grad_ahead(net, na, s, &co);

  int talks = L->l > 1; /* the input layer does not take bids */
  float *g = na->g_local;
  float *c = NULL;
  if (talks) {
    if (heed__block_alloc(rt, s->batch, HEED_MODE_TRAIN, s->count, s->stride,
                          1, L->fan_in, &out) != 0 ||
        heed_msg_alloc(rt, &m, HEED_NET_BID) != 0) {
      heed_buf_release(out);
      heed__net_fail(net);
      return;
    }
    g = heed__block_data(out);
    c = g + s->stride;
  }
  memset(g, 0, s->stride * sizeof *g);

  heed_neuron v = {
      .layer = L->l,
      .index = na->index,
      .fan_in = L->fan_in,
      .batch = s->count,
      .stride = s->stride,
      .w = L->w + (size_t)na->index * L->fan_in,
      .b = L->b + na->index,
      .x = heed__block_data(s->x),
      .z = s->z,
      .y = s->y,
      .dphi = s->dphi,
      .beta = beta,
      .g = g,
      .c = c,
      .scratch = na->scratch,
      .state = na->state,
      .params = na->play->params,
      .lr = net->lr,
      .step = na->step,
      .seed = net->seed,
      .xt = heed__block_xt(s->x),
      .output = (uint32_t)output,
  };
  heed_grad_hint hint = {v.xt, na->pre_g, na->pre_dw, v.fan_in, v.stride};
  if (na->pre_dw_valid && na->pre_dw_batch == s->batch)
    heed__grad_hint = &hint; /* for heed_neuron_grad, this call only */
  na->pre_dw_valid = 0;
  na->play->ops->respond(&v);
  heed__grad_hint = NULL;

  uint64_t batch = s->batch;
  heed__trace_end(net, t0, batch, HEED_TRACE_BID, from,
                  heed__who(HEED_ROLE_NEURON, L->l, na->index), fanout, beta,
                  s->count);
  heed_buf_release(s->x);
  s->x = NULL;
  s->busy = 0;
  na->inflight--;
  na->step++;

  if (talks) {
    heed_msg_set_word(m, 0, batch);
    heed_msg_set_word(m, 1, na->index);
    heed_msg_set_buf(m, out);
    if (heed_actor_send(rt, L->hub.self, m) != 0) {
      heed_msg_free(m);
      heed__net_fail(net);
    }
  }
  heed__net_neuron_done(net, batch);
  drain_deferred(rt, na);
}

static void on_control(heed_neuron_actor *na, int event) {
  heed_layer *L = na->layer;
  uint64_t t0 = heed__trace_begin(na->net, 0, HEED_TRACE_CONTROL);
  if (na->play->ops->control) {
    heed_neuron v = {
        .layer = L->l,
        .index = na->index,
        .fan_in = L->fan_in,
        .w = L->w + (size_t)na->index * L->fan_in,
        .b = L->b + na->index,
        .state = na->state,
        .params = na->play->params,
        .lr = na->net->lr,
        .step = na->step,
        .seed = na->net->seed,
        .output = (size_t)L->l == na->net->nlayers,
    };
    na->play->ops->control(&v, event);
  }
  heed__trace_end(na->net, t0, 0, HEED_TRACE_CONTROL,
                  heed__who(HEED_ROLE_DRIVER, 0, 0),
                  heed__who(HEED_ROLE_NEURON, L->l, na->index),
                  na->net->total_neurons, NULL, 0);
  heed__net_control_ack(na->net);
}

void heed__neuron_behaviour(heed_runtime *rt, heed_actor self, void *state,
                            heed_msg *msg) {
  heed_neuron_actor *na = state;
  (void)self;
  heed__count(&na->handled);
  switch (heed_msg_type(msg)) {
  case HEED_NET_FORWARD:
    on_forward(rt, na, msg);
    return;
  case HEED_NET_BID:
    on_bid(rt, na, msg);
    return;
  case HEED_NET_CONTROL:
    on_control(na, (int)heed_msg_word(msg, 1));
    heed_msg_free(msg);
    return;
  default:
    heed_msg_free(msg);
    heed__net_fail(na->net);
  }
}
