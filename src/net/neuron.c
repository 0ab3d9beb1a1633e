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

/* z for this neuron and batch: precomputed by a cohort neighbour, or
 * computed now together with up to three neighbours on the same loop that
 * will need the same block next. Each neighbour must be idle (no batch in
 * flight, nothing deferred) so its weights cannot change before it runs;
 * the four-wide kernel gives each z bitwise as the one-wide kernel does. */
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
  uint32_t T = net->threads, j = na->index;
  uint32_t base = j - ((j / T) % 4) * T;
  heed_neuron_actor *mates[4];
  int k = 0;
  for (uint32_t m = 0; m < 4; m++) {
    uint32_t idx = base + m * T;
    if (idx < L->lo || idx >= L->hi || idx == j) /* not here */
      continue;
    heed_neuron_actor *o = &L->neurons[idx];
    if (o->inflight == 0 && o->ndeferred == 0 && o->seen <= h->batch &&
        !(o->pre_valid && o->pre_batch == h->batch) && o->play == na->play)
      mates[k++] = o;
  }
  if (k < 3) {
    net->k->dot_rows(w, L->fan_in, x, h->stride, L->b[j], z);
    return;
  }
  const float *ws[4] = {w};
  float bs[4] = {L->b[j]};
  float *zs[4] = {z};
  for (int m = 0; m < 3; m++) {
    ws[m + 1] = L->w + (size_t)mates[m]->index * L->fan_in;
    bs[m + 1] = L->b[mates[m]->index];
    zs[m + 1] = mates[m]->pre_z;
  }
  net->k->dot_rows4(ws, L->fan_in, x, h->stride, bs, zs);
  for (int m = 0; m < 3; m++) {
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

/* beta: the total attention bid for this neuron's output, summed over the
 * bidders in index order. */
static void attention(const heed_net *net, heed_neuron_actor *na,
                      heed_buf *bids, float *beta) {
  const heed_block *h = heed__block_hdr(bids);
  const float *g = heed__block_data(bids);
  if (h->ldc == 0) { /* the critic: one row per output neuron */
    memcpy(beta, g + (size_t)na->index * h->stride, h->stride * sizeof *beta);
    return;
  }
  if (na->pre_beta_valid && na->pre_beta_batch == h->batch) {
    na->pre_beta_valid = 0; /* a cohort neighbour summed it already */
    memcpy(beta, na->pre_beta, h->stride * sizeof *beta);
    return;
  }
  const float *c = g + (size_t)h->rows * h->stride;
  /* Cohort: neighbours on this loop waiting for this very block get their
   * sums from the same pass over g (read-only work on data they will
   * receive anyway; bitwise as their own gather). */
  heed_layer *L = na->layer;
  uint32_t T = net->threads, j = na->index;
  uint32_t base = j - ((j / T) % 4) * T;
  heed_neuron_actor *mates[3];
  int k = 0;
  for (uint32_t m = 0; m < 4 && k < 3; m++) {
    uint32_t idx = base + m * T;
    if (idx < L->lo || idx >= L->hi || idx == j) /* not here */
      continue;
    heed_neuron_actor *o = &L->neurons[idx];
    int waiting = 0;
    for (int q = 0; q < HEED_NET_SLOTS; q++)
      waiting |= o->slots[q].busy && o->slots[q].batch == h->batch;
    if (waiting && !(o->pre_beta_valid && o->pre_beta_batch == h->batch))
      mates[k++] = o;
  }
  if (k < 3) {
    net->k->gather(c + j, h->ldc, g, h->rows, h->stride, beta);
    return;
  }
  const float *cs[4] = {c + j};
  float *bs[4] = {beta};
  for (int m = 0; m < 3; m++) {
    cs[m + 1] = c + mates[m]->index;
    bs[m + 1] = mates[m]->pre_beta;
  }
  net->k->gather4(cs, h->ldc, g, h->rows, h->stride, bs);
  for (int m = 0; m < 3; m++) {
    mates[m]->pre_beta_valid = 1;
    mates[m]->pre_beta_batch = h->batch;
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
  attention(net, na, bids, beta);
  heed_msg_free(msg);

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
  na->play->ops->respond(&v);

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
