/*
 * remote.c - the network's side of a run spread over processes.
 *
 * Outgoing: a proxy actor stands in for a remote layer (or the critic) and
 * hands every block it receives, whole, to the transport's send callback:
 * one message per layer boundary and batch, however many neurons receive
 * it. Incoming: heed_net_deliver() rebuilds the block in a local buffer and
 * broadcasts it to the local neurons, so no actor can tell where a message
 * came from. Completion counts (DONE, ACK) and parameters (PARAMS, PULL)
 * travel the same way.
 */
#include <string.h>

#include "common/alloc.h"
#include "net/internal.h"

static size_t block_floats(const heed_block *h) {
  return (size_t)h->rows * h->stride + (size_t)h->rows * h->ldc;
}

void heed__proxy_behaviour(heed_runtime *rt, heed_actor self, void *state,
                           heed_msg *msg) {
  heed_proxy *p = state;
  heed_net *net = p->net;
  heed_wire_msg m = {0};
  heed_buf *b = heed_msg_buf(msg);
  (void)rt;
  (void)self;
  m.layer = p->layer;
  m.batch = heed_msg_word(msg, 0);
  switch (heed_msg_type(msg)) {
  case HEED_NET_FORWARD:
  case HEED_NET_BID: {
    if (!b)
      goto bad;
    const heed_block *h = heed__block_hdr(b);
    m.kind = heed_msg_type(msg) == HEED_NET_FORWARD ? HEED_WIRE_FORWARD
                                                    : HEED_WIRE_BID;
    m.batch = h->batch;
    m.mode = h->mode;
    m.count = h->count;
    m.stride = h->stride;
    m.rows = h->rows;
    m.ldc = h->ldc;
    m.data = heed__block_data(b);
    m.nfloats = block_floats(h);
    break;
  }
  case HEED_NET_CONTROL:
    m.kind = HEED_WIRE_CONTROL;
    m.word = heed_msg_word(msg, 1);
    break;
  default:
    goto bad;
  }
  if (net->remote.send(net->remote.arg, p->proc, &m) != 0)
    heed__net_fail(net);
  heed_msg_free(msg);
  return;
bad:
  heed_msg_free(msg);
  heed__net_fail(net);
}

static heed_layer *local_layer(heed_net *net, uint32_t l) {
  if (l < 1 || l > net->nlayers || !net->layers[l - 1].local)
    return NULL;
  return &net->layers[l - 1];
}

/* Floats a PARAMS message for layer L carries: weights, biases, then each
 * neuron's strategy state in index order. */
static size_t params_floats(const heed_layer *L) {
  size_t n = (size_t)L->n * L->fan_in + L->n;
  for (uint32_t j = 0; j < L->n; j++)
    n += L->neurons[j].nstate;
  return n;
}

static int send_params(heed_net *net, unsigned to, heed_layer *L) {
  size_t n = params_floats(L);
  float *buf = heed__malloc(n * sizeof *buf);
  if (!buf)
    return HEED_ENOMEM;
  size_t off = 0;
  memcpy(buf, L->w, (size_t)L->n * L->fan_in * sizeof *buf);
  off += (size_t)L->n * L->fan_in;
  memcpy(buf + off, L->b, L->n * sizeof *buf);
  off += L->n;
  for (uint32_t j = 0; j < L->n; j++) {
    if (L->neurons[j].nstate)
      memcpy(buf + off, L->neurons[j].state,
             L->neurons[j].nstate * sizeof *buf);
    off += L->neurons[j].nstate;
  }
  heed_wire_msg m = {.kind = HEED_WIRE_PARAMS, .layer = L->l, .data = buf,
                     .nfloats = n};
  int rv = net->remote.send(net->remote.arg, to, &m);
  heed__free(buf);
  return rv;
}

static int take_params(heed_layer *L, const heed_wire_msg *m) {
  if (!m->data || m->nfloats != params_floats(L))
    return HEED_EPROTO;
  size_t off = (size_t)L->n * L->fan_in;
  memcpy(L->w, m->data, off * sizeof *L->w);
  memcpy(L->b, m->data + off, L->n * sizeof *L->b);
  off += L->n;
  for (uint32_t j = 0; j < L->n; j++) {
    if (L->neurons[j].nstate)
      memcpy(L->neurons[j].state, m->data + off,
             L->neurons[j].nstate * sizeof(float));
    off += L->neurons[j].nstate;
  }
  return 0;
}

/* Rebuilds a block from the wire and broadcasts it to local actors. */
static int deliver_block(heed_net *net, const heed_wire_msg *m) {
  uint32_t type = m->kind == HEED_WIRE_FORWARD ? HEED_NET_FORWARD
                                               : HEED_NET_BID;
  int to_critic = m->kind == HEED_WIRE_FORWARD && m->layer == net->nlayers + 1;
  heed_layer *L = to_critic ? NULL : local_layer(net, m->layer);
  if (!to_critic && !L)
    return HEED_EPROTO;
  if (to_critic && net->remote.self != 0)
    return HEED_EPROTO;
  if (m->stride == 0 || m->stride % HEED_LANES || m->stride > net->max_stride ||
      m->count > m->stride || m->rows == 0 || m->rows > (1u << 24) ||
      m->ldc > (1u << 24) ||
      m->nfloats != (size_t)m->rows * m->stride + (size_t)m->rows * m->ldc ||
      (m->nfloats && !m->data) ||
      (m->mode != HEED_MODE_TRAIN && m->mode != HEED_MODE_EVAL))
    return HEED_EPROTO;
  heed_buf *b;
  int fwd = m->kind == HEED_WIRE_FORWARD && m->ldc == 0;
  size_t extra = fwd ? (size_t)m->count * m->rows : (size_t)m->rows * m->ldc;
  int rv = heed__block_alloc(net->rt, m->batch, m->mode, m->count, m->stride,
                             m->rows, extra, &b);
  if (rv)
    return rv;
  heed__block_hdr(b)->ldc = m->ldc;
  memcpy(heed__block_data(b), m->data, m->nfloats * sizeof(float));
  if (fwd && m->mode == HEED_MODE_TRAIN) /* rebuilt here, not sent */
    heed__block_fill_xt(b);
  if (to_critic)
    rv = heed_actor_broadcast(net->rt, &net->critic.self, 1, type, m->batch,
                              0, b);
  else
    rv = heed_actor_broadcast(net->rt, L->handles, L->n, type, m->batch, 0, b);
  heed_buf_release(b);
  return rv;
}

int heed_net_deliver(heed_net *net, unsigned from, const heed_wire_msg *m) {
  if (!net || !m || !heed__net_distributed(net) || from >= net->remote.nprocs)
    return HEED_EINVAL;
  int coord = net->remote.self == 0;
  switch (m->kind) {
  case HEED_WIRE_FORWARD:
  case HEED_WIRE_BID:
    return deliver_block(net, m);
  case HEED_WIRE_CONTROL: {
    heed_layer *L = local_layer(net, m->layer);
    if (!L)
      return HEED_EPROTO;
    return heed_actor_broadcast(net->rt, L->handles, L->n, HEED_NET_CONTROL,
                                0, m->word, NULL);
  }
  case HEED_WIRE_DONE: {
    if (!coord || m->word == 0 || m->word > net->total_neurons)
      return HEED_EPROTO;
    heed_batch_done *d = &net->done[m->batch % HEED_HUB_GATHERS];
    if (atomic_fetch_add(&d->updated, (uint32_t)m->word) + m->word ==
        net->total_neurons) {
      pthread_mutex_lock(&net->mu);
      pthread_cond_broadcast(&net->cv);
      pthread_mutex_unlock(&net->mu);
    }
    return 0;
  }
  case HEED_WIRE_ACK:
    if (!coord || m->word > net->total_neurons)
      return HEED_EPROTO;
    pthread_mutex_lock(&net->mu);
    net->control_acks += (uint32_t)m->word;
    pthread_cond_broadcast(&net->cv);
    pthread_mutex_unlock(&net->mu);
    return 0;
  case HEED_WIRE_PARAMS: {
    if (m->layer < 1 || m->layer > net->nlayers)
      return HEED_EPROTO;
    heed_layer *L = &net->layers[m->layer - 1];
    if (coord) { /* the answer to a pull */
      if (L->local)
        return HEED_EPROTO;
      int rv = take_params(L, m);
      pthread_mutex_lock(&net->mu);
      if (net->pull_pending)
        net->pull_pending--;
      pthread_cond_broadcast(&net->cv);
      pthread_mutex_unlock(&net->mu);
      return rv;
    }
    if (!L->local) /* a push from the coordinator */
      return HEED_EPROTO;
    int rv = take_params(L, m);
    heed_wire_msg ack = {.kind = HEED_WIRE_ACK, .layer = L->l, .word = L->n};
    if (rv == 0)
      rv = net->remote.send(net->remote.arg, 0, &ack);
    return rv;
  }
  case HEED_WIRE_PULL:
    if (coord)
      return HEED_EPROTO;
    for (size_t l = 0; l < net->nlayers; l++)
      if (net->layers[l].local) {
        int rv = send_params(net, 0, &net->layers[l]);
        if (rv)
          return rv;
      }
    return 0;
  default:
    return HEED_EPROTO;
  }
}

/* What pull and push both start with: only the coordinator of a
 * distributed run moves parameters, and only with nothing in flight.
 * Returns 1 when there is nothing to do, 0 to go on, or an error. */
static int coord_begin(heed_net *net) {
  if (!net)
    return HEED_EINVAL;
  if (!heed__net_distributed(net))
    return 1;
  if (net->remote.self != 0)
    return HEED_ESTATE;
  return heed_net_sync(net);
}

/* Waits until *left reaches 0 (pull) or *have reaches want (push). */
static int coord_wait(heed_net *net, const uint32_t *left,
                      const uint32_t *have, uint32_t want) {
  pthread_mutex_lock(&net->mu);
  while (!net->failed && (left ? *left > 0 : *have < want))
    pthread_cond_wait(&net->cv, &net->mu);
  int rv = net->failed ? HEED_EPEER : 0;
  pthread_mutex_unlock(&net->mu);
  return rv;
}

int heed_net_pull(heed_net *net) {
  int rv = coord_begin(net);
  if (rv)
    return rv > 0 ? 0 : rv;
  uint32_t want = 0;
  for (size_t l = 0; l < net->nlayers; l++)
    want += !net->layers[l].local;
  pthread_mutex_lock(&net->mu);
  net->pull_pending = want;
  pthread_mutex_unlock(&net->mu);
  for (unsigned p = 1; p < net->remote.nprocs; p++) {
    int hosts = 0;
    for (size_t l = 0; l < net->nlayers; l++)
      hosts |= net->layer_proc[l] == p;
    heed_wire_msg m = {.kind = HEED_WIRE_PULL};
    if (hosts && (rv = net->remote.send(net->remote.arg, p, &m)) != 0)
      return rv;
  }
  return coord_wait(net, &net->pull_pending, NULL, 0);
}

int heed_net_push(heed_net *net) {
  int rv = coord_begin(net);
  if (rv)
    return rv > 0 ? 0 : rv;
  uint32_t want = 0;
  pthread_mutex_lock(&net->mu);
  net->control_acks = 0;
  pthread_mutex_unlock(&net->mu);
  for (size_t l = 0; l < net->nlayers; l++) {
    heed_layer *L = &net->layers[l];
    if (L->local)
      continue;
    want += L->n;
    if ((rv = send_params(net, net->layer_proc[l], L)) != 0)
      return rv;
  }
  return coord_wait(net, NULL, &net->control_acks, want);
}

void heed_net_abort(heed_net *net) {
  if (!net)
    return;
  pthread_mutex_lock(&net->mu);
  net->aborted = 1;
  pthread_mutex_unlock(&net->mu);
  heed__net_fail(net);
}
