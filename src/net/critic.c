/*
 * critic.c - the critic actor: softmax cross-entropy on the output layer.
 *
 * It is the last "next layer": for each output neuron j it bids
 * beta_j = -(p_j - t_j) / B, which is -dL/dy_j (condition C4). It also
 * reports the batch's loss and accuracy to the driver. A class mask in the
 * labels block restricts the softmax to some outputs (task-incremental
 * heads); masked-out outputs get no bid.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "net/internal.h"
#include "net/trace_hook.h"

static int slot_for(heed_critic *c, uint64_t batch) {
  int free_one = -1;
  for (int i = 0; i < HEED_HUB_GATHERS; i++) {
    if (c->pending[i].used && c->pending[i].batch == batch)
      return i;
    if (!c->pending[i].used && free_one < 0)
      free_one = i;
  }
  return free_one;
}

/* Scores the batch in slot i into *st; returns 1 when it is to be reported
 * (the caller does, after its trace event: see trace_hook.h). */
static int judge(heed_runtime *rt, heed_critic *c, int i,
                 heed_batch_stats *st_out) {
  heed_net *net = c->net;
  heed_buf *lb = c->pending[i].labels, *zb = c->pending[i].logits;
  const heed_block *h = heed__block_hdr(zb);
  const float *z = heed__block_data(zb);
  const uint8_t *y = (const uint8_t *)heed__block_data(lb);
  const uint8_t *mask = y + heed__block_hdr(lb)->count;
  uint32_t C = h->rows, B = h->count, S = h->stride;
  heed_batch_stats st = {0, 0, B};
  heed_buf *bid = NULL;
  float *beta = NULL;
  int judged = 0;

  /* The labels block holds B labels and a mask of the net's outputs; the
   * logits must match it, whoever sent them. */
  if (C != net->sizes[net->nlayers] || B == 0 || B > S ||
      B != heed__block_hdr(lb)->count || h->ldc != 0) {
    heed__net_fail(net);
    goto out;
  }

  if (h->mode == HEED_MODE_TRAIN) {
    if (heed__block_alloc(rt, h->batch, h->mode, B, S, C, 0, &bid) != 0) {
      heed__net_fail(net);
      goto out;
    }
    beta = heed__block_data(bid);
    memset(beta, 0, (size_t)C * S * sizeof *beta);
  }
  for (uint32_t s = 0; s < B; s++) {
    float zmax = -FLT_MAX;
    uint32_t arg = 0;
    for (uint32_t k = 0; k < C; k++)
      if (mask[k] && z[k * S + s] > zmax) {
        zmax = z[k * S + s];
        arg = k;
      }
    double sum = 0;
    for (uint32_t k = 0; k < C; k++)
      if (mask[k])
        sum += exp((double)z[k * S + s] - zmax);
    uint32_t t = y[s];
    double logp = (double)z[t * S + s] - zmax - log(sum);
    st.loss -= logp;
    st.correct += arg == t;
    if (beta)
      for (uint32_t k = 0; k < C; k++)
        if (mask[k]) {
          double p = exp((double)z[k * S + s] - zmax) / sum;
          beta[k * S + s] = (float)(-(p - (k == t)) / B);
        }
  }
  st.loss /= B;
  if (bid) {
    heed_layer *out = &net->layers[net->nlayers - 1];
    if (heed_actor_broadcast(rt, out->targets, out->ntargets, HEED_NET_BID,
                             h->batch, 0, bid) != 0)
      heed__net_fail(net);
    heed_buf_release(bid);
  }
  *st_out = st;
  judged = 1;
out:
  heed_buf_release(lb);
  heed_buf_release(zb);
  c->pending[i].labels = c->pending[i].logits = NULL;
  c->pending[i].used = 0;
  return judged;
}

void heed__critic_behaviour(heed_runtime *rt, heed_actor self, void *state,
                            heed_msg *msg) {
  heed_critic *c = state;
  uint32_t type = heed_msg_type(msg);
  heed_buf *b = heed_msg_buf(msg);
  (void)self;
  heed__count(&c->handled);
  if ((type != HEED_NET_LABELS && type != HEED_NET_FORWARD) || !b) {
    heed__net_fail(c->net);
    heed_msg_free(msg);
    return;
  }
  uint64_t batch = heed__block_hdr(b)->batch;
  uint32_t kind = type == HEED_NET_LABELS ? HEED_TRACE_LABELS
                                          : HEED_TRACE_FORWARD;
  uint64_t t0 = heed__trace_begin(c->net, batch, kind);
  int i = slot_for(c, batch);
  if (i < 0) {
    heed__net_fail(c->net);
    heed_msg_free(msg);
    return;
  }
  heed_buf **have = type == HEED_NET_LABELS ? &c->pending[i].labels
                                           : &c->pending[i].logits;
  if (*have) { /* a second block for one batch */
    heed__net_fail(c->net);
    heed_msg_free(msg);
    return;
  }
  c->pending[i].used = 1;
  c->pending[i].batch = batch;
  if (type == HEED_NET_LABELS)
    c->pending[i].labels = heed_buf_hold(b);
  else
    c->pending[i].logits = heed_buf_hold(b);
  heed_msg_free(msg);
  heed_batch_stats st;
  int judged = c->pending[i].labels && c->pending[i].logits &&
               judge(rt, c, i, &st);
  uint32_t L = (uint32_t)c->net->nlayers;
  heed__trace_end(c->net, t0, batch, kind,
                  kind == HEED_TRACE_LABELS
                      ? heed__who(HEED_ROLE_DRIVER, 0, 0)
                      : heed__who(HEED_ROLE_HUB, L, HEED_TRACE_ALL_NEURONS),
                  heed__who(HEED_ROLE_CRITIC, L + 1, 0), 1, NULL, 0);
  if (judged)
    heed__net_critic_done(c->net, batch, &st);
}

void heed__input_behaviour(heed_runtime *rt, heed_actor self, void *state,
                           heed_msg *msg) {
  heed_input *in = state;
  heed_net *net = in->net;
  (void)self;
  heed__count(&in->handled);
  uint64_t t0 = heed__trace_begin(net, heed_msg_word(msg, 0),
                                  HEED_TRACE_BATCH);
  /* Traced before the broadcast: once it is out, the batch may finish and
   * the driver stop tracing (trace_hook.h). */
  heed__trace_end(net, t0, heed_msg_word(msg, 0), HEED_TRACE_BATCH,
                  heed__who(HEED_ROLE_DRIVER, 0, 0),
                  heed__who(HEED_ROLE_INPUT, 0, 0), 1, NULL, 0);
  if (heed_msg_type(msg) != HEED_NET_BATCH || !heed_msg_buf(msg)) {
    heed__net_fail(net);
  } else if (heed_actor_broadcast(rt, net->layers[0].targets,
                                  net->layers[0].ntargets, HEED_NET_FORWARD,
                                  heed_msg_word(msg, 0), 0,
                                  heed_msg_buf(msg)) != 0) {
    heed__net_fail(net);
  }
  heed_msg_free(msg);
}
