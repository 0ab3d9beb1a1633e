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
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "net/internal.h"
#include "transport/wire.h"

static size_t block_floats(const heed_block *h) {
  return (size_t)h->rows * h->stride + (size_t)h->rows * h->ldc;
}

/* Notes that bids for a training batch sent forward are due. Fails only
 * if more batches are in flight than a layer can hold (a bug). */
static int await_bid(heed_proxy *p, uint64_t batch, uint32_t count) {
  int rv = HEED_ERANGE;
  pthread_mutex_lock(&p->net->mu);
  for (int i = 0; i < HEED_PROXY_AWAIT && rv; i++)
    if (!p->awaiting[i].used) {
      p->awaiting[i].batch = batch;
      p->awaiting[i].count = count;
      p->awaiting[i].used = 1;
      rv = 0;
    }
  pthread_mutex_unlock(&p->net->mu);
  return rv;
}

/* Takes the note for batch: 0, HEED_ENOENT (none) or HEED_ERANGE (its
 * forward had another number of samples). */
static int answer_bid(heed_proxy *p, uint64_t batch, uint32_t count) {
  int rv = HEED_ENOENT;
  pthread_mutex_lock(&p->net->mu);
  for (int i = 0; i < HEED_PROXY_AWAIT && rv == HEED_ENOENT; i++)
    if (p->awaiting[i].used && p->awaiting[i].batch == batch) {
      rv = p->awaiting[i].count == count ? 0 : HEED_ERANGE;
      p->awaiting[i].used = 0;
    }
  pthread_mutex_unlock(&p->net->mu);
  return rv;
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
    /* layer 1 answers nobody: the input takes no bids */
    if (m.kind == HEED_WIRE_FORWARD && m.mode == HEED_MODE_TRAIN &&
        p->layer > 1 && await_bid(p, m.batch, m.count) != 0)
      goto bad;
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

/* m has been checked: params_floats(L) floats. */
static void take_params(heed_layer *L, const heed_wire_msg *m) {
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
}

/* ---- checking what a peer sends ---------------------------------------
 *
 * A peer is trusted with nothing: every block is checked against the layer
 * it claims (shape, sender, batch) before any actor sees it, so a bad or
 * hostile peer cannot make an actor read past a buffer or corrupt a batch.
 * A refusal ends the run: the net fails as if the peer had died, and the
 * caller gets a one-line reason to log and pass on.
 */

typedef struct heed_why {
  char *buf;
  size_t len;
} heed_why;

static int refuse(heed_net *net, heed_why *why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(heed_net *net, heed_why *why, const char *fmt, ...) {
  if (why->buf && why->len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->buf, why->len, fmt, ap);
    va_end(ap);
  }
  heed_net_abort(net);
  return HEED_EPROTO;
}

/* The process hosting layer l (1..L); the input and critic are on 0. */
static unsigned host_of(const heed_net *net, size_t l) {
  return l >= 1 && l <= net->nlayers ? net->layer_proc[l - 1] : 0;
}

/* Neurons process p hosts. */
static uint32_t hosted(const heed_net *net, unsigned p) {
  uint32_t n = 0;
  for (size_t l = 0; l < net->nlayers; l++)
    if (net->layer_proc[l] == p)
      n += net->layers[l].n;
  return n;
}

/* What a block for m's layer must look like, and who may send it. */
typedef struct heed_shape {
  uint32_t rows, ldc;
  unsigned from;
  heed_proxy *answers; /* BID: the proxy whose forward it answers */
} heed_shape;

static int block_shape(heed_net *net, const heed_wire_msg *m, heed_shape *s,
                       heed_why *why) {
  size_t L = net->nlayers, l = m->layer;
  const char *k = heed_wire_kind_name(m->kind);
  if (m->kind == HEED_WIRE_FORWARD && l == L + 1) {
    if (net->remote.self != 0)
      return refuse(net, why, "FORWARD for the critic, which lives on "
                              "process 0");
    *s = (heed_shape){net->sizes[L], 0, host_of(net, L), NULL};
    return 0;
  }
  if (l < 1 || l > L)
    return refuse(net, why, "%s for layer %zu of a net of %zu layers", k, l,
                  L);
  if (!net->layers[l - 1].local)
    return refuse(net, why, "%s for layer %zu, which process %u hosts", k, l,
                  host_of(net, l));
  if (m->kind == HEED_WIRE_FORWARD) {
    *s = (heed_shape){net->sizes[l - 1], 0, host_of(net, l - 1), NULL};
    return 0;
  }
  if (l == L) /* bids from the critic, one row per output */
    *s = (heed_shape){net->sizes[L], 0, 0, &net->proxies[L]};
  else /* bids from hub l+1: g rows and coefficient rows over layer l */
    *s = (heed_shape){net->sizes[l + 1], net->sizes[l], host_of(net, l + 1),
                      &net->proxies[l]};
  return 0;
}

static int check_block(heed_net *net, unsigned from, const heed_wire_msg *m,
                       heed_shape *s, heed_why *why) {
  int rv = block_shape(net, m, s, why);
  if (rv)
    return rv;
  const char *k = heed_wire_kind_name(m->kind);
  uint32_t l = m->layer;
  if (from != s->from)
    return refuse(net, why, "%s for layer %u from process %u; only process "
                  "%u sends those", k, l, from, s->from);
  if (m->mode != HEED_MODE_TRAIN &&
      (m->mode != HEED_MODE_EVAL || m->kind == HEED_WIRE_BID))
    return refuse(net, why, "%s for layer %u with mode %u", k, l, m->mode);
  if (m->count == 0 || m->count > net->max_batch ||
      m->stride != heed__stride(m->count))
    return refuse(net, why, "%s for layer %u: %u samples in rows of %u "
                  "(the batch limit is %u)", k, l, m->count, m->stride,
                  net->max_batch);
  if (m->rows != s->rows || m->ldc != s->ldc)
    return refuse(net, why, "%s for layer %u: %u rows, ldc %u; the layer "
                  "takes %u rows, ldc %u", k, l, m->rows, m->ldc, s->rows,
                  s->ldc);
  if (m->nfloats != (size_t)m->rows * (m->stride + (size_t)m->ldc) ||
      (m->nfloats && !m->data))
    return refuse(net, why, "%s for layer %u: %zu floats for a block of %zu",
                  k, l, m->nfloats, (size_t)m->rows * (m->stride + m->ldc));
  if (net->remote.self == 0) { /* the driver knows what is in flight */
    pthread_mutex_lock(&net->mu);
    int known = net->done[m->batch % HEED_HUB_GATHERS].batch == m->batch;
    pthread_mutex_unlock(&net->mu);
    if (!known)
      return refuse(net, why, "%s for layer %u of batch %llu, which is not "
                    "in flight", k, l, (unsigned long long)m->batch);
  }
  int a = s->answers ? answer_bid(s->answers, m->batch, m->count) : 0;
  if (a == HEED_ENOENT)
    return refuse(net, why, "BID for layer %u of batch %llu, which was not "
                  "sent forward or was answered already", l,
                  (unsigned long long)m->batch);
  if (a)
    return refuse(net, why, "BID for layer %u of batch %llu with %u "
                  "samples, not those its forward had", l,
                  (unsigned long long)m->batch, m->count);
  return 0;
}

/* Rebuilds a block from the wire and broadcasts it to local actors. */
static int deliver_block(heed_net *net, unsigned from, const heed_wire_msg *m,
                         heed_why *why) {
  heed_shape s = {0};
  int rv = check_block(net, from, m, &s, why);
  if (rv)
    return rv;
  uint32_t type = m->kind == HEED_WIRE_FORWARD ? HEED_NET_FORWARD
                                               : HEED_NET_BID;
  int to_critic = m->kind == HEED_WIRE_FORWARD && m->layer == net->nlayers + 1;
  int fwd = m->kind == HEED_WIRE_FORWARD;
  size_t extra = fwd ? (size_t)m->count * m->rows : (size_t)m->rows * m->ldc;
  heed_buf *b;
  if ((rv = heed__block_alloc(net->rt, m->batch, m->mode, m->count, m->stride,
                              m->rows, extra, &b)) != 0)
    return rv;
  heed__block_hdr(b)->ldc = m->ldc;
  memcpy(heed__block_data(b), m->data, m->nfloats * sizeof(float));
  if (fwd && m->mode == HEED_MODE_TRAIN) /* rebuilt here, not sent */
    heed__block_fill_xt(b);
  heed_layer *L = to_critic ? NULL : &net->layers[m->layer - 1];
  if (to_critic)
    rv = heed_actor_broadcast(net->rt, &net->critic.self, 1, type, m->batch,
                              0, b);
  else
    rv = heed_actor_broadcast(net->rt, L->handles, L->n, type, m->batch, 0, b);
  heed_buf_release(b);
  return rv;
}

static int deliver_done(heed_net *net, unsigned from, const heed_wire_msg *m,
                        heed_why *why) {
  uint32_t share = from ? hosted(net, from) : 0;
  if (net->remote.self != 0 || share == 0 || m->word != share)
    return refuse(net, why, "DONE for %llu neurons from process %u, which "
                  "hosts %u (only workers report to process 0)",
                  (unsigned long long)m->word, from, share);
  heed_batch_done *d = &net->done[m->batch % HEED_HUB_GATHERS];
  pthread_mutex_lock(&net->mu);
  int ok = d->batch == m->batch &&
           atomic_load(&d->updated) + share <= net->total_neurons;
  uint32_t now = ok ? atomic_fetch_add(&d->updated, share) + share : 0;
  if (now == net->total_neurons)
    pthread_cond_broadcast(&net->cv);
  pthread_mutex_unlock(&net->mu);
  if (!ok)
    return refuse(net, why, "DONE of batch %llu, which is not in flight or "
                  "was reported already", (unsigned long long)m->batch);
  return 0;
}

static int deliver_ack(heed_net *net, unsigned from, const heed_wire_msg *m,
                       heed_why *why) {
  uint32_t share = from ? hosted(net, from) : 0;
  if (net->remote.self != 0 || m->word == 0 || m->word > share)
    return refuse(net, why, "ACK for %llu neurons from process %u, which "
                  "hosts %u", (unsigned long long)m->word, from, share);
  pthread_mutex_lock(&net->mu);
  int ok = net->control_acks + m->word <= net->total_neurons;
  if (ok)
    net->control_acks += (uint32_t)m->word;
  pthread_cond_broadcast(&net->cv);
  pthread_mutex_unlock(&net->mu);
  if (!ok)
    return refuse(net, why, "more ACKs than the net has neurons");
  return 0;
}

static int deliver_params(heed_net *net, unsigned from, const heed_wire_msg *m,
                          heed_why *why) {
  if (m->layer < 1 || m->layer > net->nlayers)
    return refuse(net, why, "PARAMS for layer %u of a net of %zu layers",
                  m->layer, net->nlayers);
  heed_layer *L = &net->layers[m->layer - 1];
  int coord = net->remote.self == 0;
  unsigned want = coord ? host_of(net, L->l) : 0;
  if (coord && L->local)
    return refuse(net, why, "PARAMS for layer %u, which process 0 hosts "
                  "itself", L->l);
  if (!coord && !L->local)
    return refuse(net, why, "PARAMS for layer %u, which this worker does "
                  "not host", L->l);
  if (from != want)
    return refuse(net, why, "PARAMS for layer %u from process %u; only "
                  "process %u sends those", L->l, from, want);
  if (!m->data || m->nfloats != params_floats(L))
    return refuse(net, why, "PARAMS for layer %u: %zu floats, the layer has "
                  "%zu", L->l, m->nfloats, params_floats(L));
  if (!coord) { /* a push from the coordinator */
    take_params(L, m);
    heed_wire_msg ack = {.kind = HEED_WIRE_ACK, .layer = L->l, .word = L->n};
    return net->remote.send(net->remote.arg, 0, &ack);
  }
  /* The answer to a pull: once per layer, and only when asked. */
  heed_proxy *p = &net->proxies[m->layer - 1];
  pthread_mutex_lock(&net->mu);
  int asked = p->pulling;
  p->pulling = 0;
  pthread_mutex_unlock(&net->mu);
  if (!asked)
    return refuse(net, why, "PARAMS for layer %u that nobody asked for",
                  L->l);
  take_params(L, m);
  pthread_mutex_lock(&net->mu);
  if (net->pull_pending)
    net->pull_pending--;
  pthread_cond_broadcast(&net->cv);
  pthread_mutex_unlock(&net->mu);
  return 0;
}

static int deliver_control(heed_net *net, unsigned from,
                           const heed_wire_msg *m, heed_why *why) {
  if (from != 0 || m->word > INT_MAX)
    return refuse(net, why, "CONTROL event %llu from process %u",
                  (unsigned long long)m->word, from);
  heed_layer *L = local_layer(net, m->layer);
  if (!L)
    return refuse(net, why, "CONTROL for layer %u, not hosted here",
                  m->layer);
  return heed_actor_broadcast(net->rt, L->handles, L->n, HEED_NET_CONTROL, 0,
                              m->word, NULL);
}

static int deliver_pull(heed_net *net, unsigned from, heed_why *why) {
  if (net->remote.self == 0 || from != 0)
    return refuse(net, why, "PULL from process %u", from);
  for (size_t l = 0; l < net->nlayers; l++)
    if (net->layers[l].local) {
      int rv = send_params(net, 0, &net->layers[l]);
      if (rv)
        return rv;
    }
  return 0;
}

int heed_net_deliver_why(heed_net *net, unsigned from, const heed_wire_msg *m,
                         char *whybuf, size_t whylen) {
  heed_why why = {whybuf, whylen};
  if (whybuf && whylen)
    whybuf[0] = '\0';
  if (!net || !m || !heed__net_distributed(net))
    return HEED_EINVAL;
  if (from >= net->remote.nprocs || from == net->remote.self)
    return refuse(net, &why, "a message from process %u in a run of %u "
                  "processes (this is %u)", from, net->remote.nprocs,
                  net->remote.self);
  switch (m->kind) {
  case HEED_WIRE_FORWARD:
  case HEED_WIRE_BID:
    return deliver_block(net, from, m, &why);
  case HEED_WIRE_CONTROL:
    return deliver_control(net, from, m, &why);
  case HEED_WIRE_DONE:
    return deliver_done(net, from, m, &why);
  case HEED_WIRE_ACK:
    return deliver_ack(net, from, m, &why);
  case HEED_WIRE_PARAMS:
    return deliver_params(net, from, m, &why);
  case HEED_WIRE_PULL:
    return deliver_pull(net, from, &why);
  default:
    return refuse(net, &why, "a message of unknown kind %u", m->kind);
  }
}

int heed_net_deliver(heed_net *net, unsigned from, const heed_wire_msg *m) {
  return heed_net_deliver_why(net, from, m, NULL, 0);
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
  for (size_t l = 0; l < net->nlayers; l++)
    net->proxies[l].pulling = !net->layers[l].local;
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
