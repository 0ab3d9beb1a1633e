/*
 * remote.c - the network's side of a run spread over processes.
 *
 * Outgoing: a hub hands its process's slice of a layer's block to the
 * transport's send callback, once per reading process and batch, however
 * many neurons read it there (forward: every process hosting neurons of
 * the next layer, or the critic's; bids: every process hosting neurons of
 * the layer below, each given only its own columns). On process 0 a proxy
 * actor stands in for another process's share of a layer and ships the
 * input's, the critic's and the driver's blocks whole. Incoming:
 * heed_net_deliver() checks a block against the slice it claims, rebuilds
 * it in a local buffer and broadcasts it to the local neurons when it is
 * the whole block, or hands it to the local hub that puts the slices side
 * by side; no actor can tell where a message came from. Completion counts
 * (DONE, ACK) and parameters (PARAMS, PULL) travel the same way.
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

/* ---- zeros left out ----------------------------------------------------
 *
 * Activations after relu, and inputs such as MNIST's, are often zeros:
 * a FORWARD whose block is at least a quarter zeros (+0.0, by bits) goes
 * as FORWARD_Z, a bitmap of the values that are not zeros and those
 * values, and is expanded bit for bit on arrival. */

static size_t zwords(size_t n) { return (n + 31) / 32; }

/* Packs m (a FORWARD) into *z and *buf (heed__free it) when that saves at
 * least a quarter: returns 1, or 0 to send m as it is. */
static int zpack(const heed_wire_msg *m, heed_wire_msg *z, float **buf) {
  size_t n = m->nfloats, zeros = 0;
  const uint32_t *u = (const uint32_t *)m->data;
  for (size_t i = 0; i < n; i++)
    zeros += u[i] == 0;
  if (n < 64 || zeros * 4 < n)
    return 0;
  size_t w = zwords(n);
  uint32_t *q = heed__calloc(w + n - zeros, sizeof *q);
  if (!q)
    return 0; /* sent whole instead */
  uint32_t *v = q + w;
  for (size_t i = 0; i < n; i++)
    if (u[i]) {
      q[i / 32] |= 1u << (i % 32);
      *v++ = u[i];
    }
  *z = *m;
  z->kind = HEED_WIRE_FORWARD_Z;
  z->data = (const float *)q;
  z->nfloats = w + n - zeros;
  *buf = (float *)q;
  return 1;
}

/* Whether a FORWARD_Z payload describes exactly n values. */
static int zcheck(const heed_wire_msg *m, size_t n) {
  size_t w = zwords(n), set = 0;
  if (m->nfloats < w || !m->data)
    return 0;
  const uint32_t *q = (const uint32_t *)m->data;
  for (size_t i = 0; i < w; i++)
    set += (size_t)__builtin_popcount(q[i]);
  if (n % 32 && (q[w - 1] >> (n % 32)))
    return 0; /* bits past the block */
  return set == m->nfloats - w;
}

static void zexpand(const heed_wire_msg *m, size_t n, float *out) {
  const uint32_t *q = (const uint32_t *)m->data, *v = q + zwords(n);
  uint32_t *o = (uint32_t *)out;
  for (size_t i = 0; i < n; i++)
    o[i] = q[i / 32] >> (i % 32) & 1 ? *v++ : 0;
}

/* Sends a block to process `to`, its zeros left out when that pays. */
static int send_block(heed_net *net, unsigned to, const heed_wire_msg *m) {
  heed_wire_msg z;
  float *buf = NULL;
  int packed = m->kind == HEED_WIRE_FORWARD && zpack(m, &z, &buf);
  int rv = net->remote.send(net->remote.arg, to, packed ? &z : m);
  heed__free(buf);
  return rv;
}

static heed_await *await_of(heed_net *net, size_t l, unsigned p) {
  return &net->awaits[(l - 1) * net->remote.nprocs + p];
}

/* Notes that bids for layer l's training batch are due from process p.
 * Fails only if more batches are in flight than a layer can hold (a
 * bug). */
static int await_bid(heed_net *net, size_t l, unsigned p, uint64_t batch,
                     uint32_t count) {
  heed_await *a = await_of(net, l, p);
  int rv = HEED_ERANGE;
  pthread_mutex_lock(&net->mu);
  for (int i = 0; i < HEED_PROXY_AWAIT && rv; i++)
    if (!a->e[i].used) {
      a->e[i].batch = batch;
      a->e[i].count = count;
      a->e[i].used = 1;
      rv = 0;
    }
  pthread_mutex_unlock(&net->mu);
  return rv;
}

/* Takes the note for batch: 0, HEED_ENOENT (none) or HEED_ERANGE (its
 * forward had another number of samples). */
static int answer_bid(heed_net *net, size_t l, unsigned p, uint64_t batch,
                      uint32_t count) {
  heed_await *a = await_of(net, l, p);
  int rv = HEED_ENOENT;
  pthread_mutex_lock(&net->mu);
  for (int i = 0; i < HEED_PROXY_AWAIT && rv == HEED_ENOENT; i++)
    if (a->e[i].used && a->e[i].batch == batch) {
      rv = a->e[i].count == count ? 0 : HEED_ERANGE;
      a->e[i].used = 0;
    }
  pthread_mutex_unlock(&net->mu);
  return rv;
}

/* Process 0's proxies ship the input's forward blocks (layer 1), the
 * critic's bids (layer L) and the driver's control events whole. */
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
  if (send_block(net, p->proc, &m) != 0)
    heed__net_fail(net);
  heed_msg_free(msg);
  return;
bad:
  heed_msg_free(msg);
  heed__net_fail(net);
}

/* ---- a hub's slice to the processes that read it ---------------------- */

int heed__hub_send_fwd(heed_hub *hub, heed_gather *g) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  if (!heed__net_distributed(net))
    return 0;
  const heed_block *h = heed__block_hdr(g->buf);
  heed_wire_msg m = {.kind = HEED_WIRE_FORWARD, .layer = L->l + 1,
                     .batch = g->batch, .word = L->lo, .mode = h->mode,
                     .count = h->count, .stride = h->stride,
                     .rows = L->hi - L->lo,
                     .data = heed__block_data(g->buf) +
                             (size_t)L->lo * h->stride,
                     .nfloats = (size_t)(L->hi - L->lo) * h->stride};
  int last = (size_t)L->l == net->nlayers, rv = 0;
  heed_wire_msg z;
  float *buf = NULL;
  int packed = 0;
  for (unsigned r = 0; r < net->remote.nprocs && !rv; r++) {
    if (r == net->remote.self ||
        (last ? r != 0 : !heed__share(net, L->l + 1, r)))
      continue;
    if (h->mode == HEED_MODE_TRAIN &&
        (rv = await_bid(net, L->l, r, g->batch, h->count)) != 0)
      break;
    if (!packed)
      packed = zpack(&m, &z, &buf) ? 1 : -1; /* once for every reader */
    rv = net->remote.send(net->remote.arg, r, packed > 0 ? &z : &m);
  }
  heed__free(buf);
  return rv;
}

/* The bid slice for process r: this process's rows of g, then their
 * coefficients for r's neurons of the layer below; straight from the
 * gather when that is the whole block, else packed. */
static void bid_slice(heed_hub *hub, heed_gather *g, unsigned r,
                      heed_wire_msg *m) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  const heed_block *h = heed__block_hdr(g->buf);
  uint32_t rows = L->hi - L->lo, clo = heed__lo(net, L->l - 1, r),
           w = heed__share(net, L->l - 1, r);
  const float *G = heed__block_data(g->buf);
  const float *C = G + (size_t)L->n * h->stride;
  m->rows = rows;
  m->ldc = w;
  m->nfloats = (size_t)rows * (h->stride + w);
  if (rows == L->n && w == L->fan_in) {
    m->data = G;
    return;
  }
  float *q = hub->pack;
  memcpy(q, G + (size_t)L->lo * h->stride,
         (size_t)rows * h->stride * sizeof *q);
  q += (size_t)rows * h->stride;
  for (uint32_t k = L->lo; k < L->hi; k++, q += w)
    memcpy(q, C + (size_t)k * L->fan_in + clo, w * sizeof *q);
  m->data = hub->pack;
}

int heed__hub_send_bid(heed_hub *hub, heed_gather *g) {
  heed_net *net = hub->net;
  heed_layer *L = hub->layer;
  if (!heed__net_distributed(net))
    return 0;
  const heed_block *h = heed__block_hdr(g->buf);
  heed_wire_msg m = {.kind = HEED_WIRE_BID, .layer = L->l - 1,
                     .batch = g->batch, .word = L->lo, .mode = h->mode,
                     .count = h->count, .stride = h->stride};
  for (unsigned r = 0; r < net->remote.nprocs; r++) {
    if (r == net->remote.self || !heed__share(net, L->l - 1, r))
      continue;
    bid_slice(hub, g, r, &m);
    int rv = net->remote.send(net->remote.arg, r, &m);
    if (rv)
      return rv;
  }
  return 0;
}

static heed_layer *local_layer(heed_net *net, uint32_t l) {
  if (l < 1 || l > net->nlayers || !net->layers[l - 1].local)
    return NULL;
  return &net->layers[l - 1];
}

/* Floats a PARAMS message for neurons [lo, hi) of layer L carries: their
 * weights, biases, then each neuron's strategy state in index order. */
static size_t params_floats(const heed_layer *L, uint32_t lo, uint32_t hi) {
  size_t n = (size_t)(hi - lo) * L->fan_in + (hi - lo);
  for (uint32_t j = lo; j < hi; j++)
    n += L->neurons[j].nstate;
  return n;
}

static int send_params(heed_net *net, unsigned to, heed_layer *L, uint32_t lo,
                       uint32_t hi) {
  size_t n = params_floats(L, lo, hi);
  float *buf = heed__malloc(n * sizeof *buf);
  if (!buf)
    return HEED_ENOMEM;
  size_t off = (size_t)(hi - lo) * L->fan_in;
  memcpy(buf, L->w + (size_t)lo * L->fan_in, off * sizeof *buf);
  memcpy(buf + off, L->b + lo, (hi - lo) * sizeof *buf);
  off += hi - lo;
  for (uint32_t j = lo; j < hi; j++) {
    if (L->neurons[j].nstate)
      memcpy(buf + off, L->neurons[j].state,
             L->neurons[j].nstate * sizeof *buf);
    off += L->neurons[j].nstate;
  }
  heed_wire_msg m = {.kind = HEED_WIRE_PARAMS, .layer = L->l, .word = lo,
                     .data = buf, .nfloats = n};
  int rv = net->remote.send(net->remote.arg, to, &m);
  heed__free(buf);
  return rv;
}

/* m has been checked: params_floats(L, lo, hi) floats. */
static void take_params(heed_layer *L, uint32_t lo, uint32_t hi,
                        const heed_wire_msg *m) {
  size_t off = (size_t)(hi - lo) * L->fan_in;
  memcpy(L->w + (size_t)lo * L->fan_in, m->data, off * sizeof *L->w);
  memcpy(L->b + lo, m->data + off, (hi - lo) * sizeof *L->b);
  off += hi - lo;
  for (uint32_t j = lo; j < hi; j++) {
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

/* Neurons process p hosts. */
static uint32_t hosted(const heed_net *net, unsigned p) {
  uint32_t n = 0;
  for (size_t l = 1; l <= net->nlayers; l++)
    n += heed__share(net, l, p);
  return n;
}

/* The one process hosting all of layer l (1..L), or -1 when it is
 * sliced (or l is the input or critic: 0). */
static int sole_host(const heed_net *net, size_t l) {
  if (l < 1 || l > net->nlayers)
    return 0;
  for (unsigned p = 0; p < net->remote.nprocs; p++)
    if (heed__share(net, l, p) == net->sizes[l])
      return (int)p;
  return -1;
}

/* "only process 2 sends those" (or who does) for a message from layer l. */
static const char *only_from(const heed_net *net, size_t l, char *buf,
                             size_t len) {
  int h = sole_host(net, l);
  if (h >= 0)
    snprintf(buf, len, "only process %d sends those", h);
  else
    snprintf(buf, len, "only the processes hosting its neurons send those");
  return buf;
}

/* What a block for m's layer must look like, and who may send it: the
 * slice [first, first + rows) of the sending layer that process `from`
 * hosts, with ldc coefficient columns; `whole` when that is the block the
 * readers take as is. */
typedef struct heed_shape {
  uint32_t first, rows, ldc;
  int whole;
  size_t sender;  /* the sending layer (0: the input, L+1: the critic) */
  int bids;       /* a BID: it must answer a forward sent to `from` */
} heed_shape;

static int block_shape(heed_net *net, unsigned from, const heed_wire_msg *m,
                       heed_shape *s, heed_why *why) {
  size_t L = net->nlayers, l = m->layer;
  unsigned self = net->remote.self;
  const char *k = heed_wire_kind_name(m->kind);
  int fwd = m->kind != HEED_WIRE_BID;
  char only[64];
  if (fwd && l == L + 1) {
    if (self != 0)
      return refuse(net, why, "FORWARD for the critic, which lives on "
                              "process 0");
  } else if (l < 1 || l > L) {
    return refuse(net, why, "%s for layer %zu of a net of %zu layers", k, l,
                  L);
  } else if (!net->layers[l - 1].local) {
    int h = sole_host(net, l);
    if (h >= 0)
      return refuse(net, why, "%s for layer %zu, which process %d hosts", k,
                    l, h);
    return refuse(net, why, "%s for layer %zu, which has no neurons on "
                  "process %u", k, l, self);
  }
  *s = (heed_shape){0};
  s->sender = fwd ? l - 1 : l + 1;
  s->bids = !fwd;
  if (s->sender == 0 || s->sender == L + 1) { /* the input, the critic */
    if (from != 0)
      return refuse(net, why, "%s for layer %zu from process %u; only "
                    "process 0 sends those", k, l, from);
    s->rows = net->sizes[fwd ? 0 : L];
    s->whole = 1;
    return 0;
  }
  uint32_t n = net->sizes[s->sender];
  s->first = heed__lo(net, s->sender, from);
  s->rows = heed__share(net, s->sender, from);
  if (!s->rows)
    return refuse(net, why, "%s for layer %zu from process %u; %s", k, l,
                  from, only_from(net, s->sender, only, sizeof only));
  if (!fwd) /* this process's columns of the coefficients */
    s->ldc = net->layers[l - 1].hi - net->layers[l - 1].lo;
  s->whole = s->rows == n && (fwd || s->ldc == net->sizes[l]);
  return 0;
}

static int check_block(heed_net *net, unsigned from, const heed_wire_msg *m,
                       heed_shape *s, heed_why *why) {
  int rv = block_shape(net, from, m, s, why);
  if (rv)
    return rv;
  const char *k = heed_wire_kind_name(m->kind);
  uint32_t l = m->layer;
  if (m->mode != HEED_MODE_TRAIN &&
      (m->mode != HEED_MODE_EVAL || m->kind == HEED_WIRE_BID))
    return refuse(net, why, "%s for layer %u with mode %u", k, l, m->mode);
  if (m->count == 0 || m->count > net->max_batch ||
      m->stride != heed__stride(m->count))
    return refuse(net, why, "%s for layer %u: %u samples in rows of %u "
                  "(the batch limit is %u)", k, l, m->count, m->stride,
                  net->max_batch);
  if (m->word != s->first || m->rows != s->rows || m->ldc != s->ldc)
    return refuse(net, why, "%s for layer %u: %u rows, ldc %u; the layer "
                  "takes %u rows, ldc %u (from row %u) from process %u, not "
                  "from row %llu", k, l, m->rows, m->ldc, s->rows, s->ldc,
                  s->first, from, (unsigned long long)m->word);
  size_t n = (size_t)m->rows * (m->stride + (size_t)m->ldc);
  if (m->kind == HEED_WIRE_FORWARD_Z ? !zcheck(m, n)
                                     : m->nfloats != n ||
                                           (m->nfloats && !m->data))
    return refuse(net, why, "%s for layer %u: %zu floats for a block of %zu",
                  k, l, m->nfloats, n);
  if (net->remote.self == 0) { /* the driver knows what is in flight */
    pthread_mutex_lock(&net->mu);
    int known = net->done[m->batch % HEED_HUB_GATHERS].batch == m->batch;
    pthread_mutex_unlock(&net->mu);
    if (!known)
      return refuse(net, why, "%s for layer %u of batch %llu, which is not "
                    "in flight", k, l, (unsigned long long)m->batch);
  }
  int a = s->bids ? answer_bid(net, l, from, m->batch, m->count) : 0;
  if (a == HEED_ENOENT)
    return refuse(net, why, "BID for layer %u of batch %llu, which was not "
                  "sent forward to process %u or was answered already", l,
                  (unsigned long long)m->batch, from);
  if (a)
    return refuse(net, why, "BID for layer %u of batch %llu with %u "
                  "samples, not those its forward had", l,
                  (unsigned long long)m->batch, m->count);
  return 0;
}

/* Rebuilds a block from the wire; a whole block goes to the local readers
 * at once, a slice to the hub of its sending layer here, which puts it in
 * place. */
static int deliver_block(heed_net *net, unsigned from, const heed_wire_msg *m,
                         heed_why *why) {
  heed_shape s = {0};
  int rv = check_block(net, from, m, &s, why);
  if (rv)
    return rv;
  int fwd = m->kind != HEED_WIRE_BID;
  int to_critic = fwd && m->layer == net->nlayers + 1;
  size_t extra = !fwd      ? (size_t)m->rows * m->ldc /* coefficients */
                 : s.whole ? (size_t)m->count * m->rows /* sample-major */
                           : 0;
  heed_buf *b;
  if ((rv = heed__block_alloc(net->rt, m->batch, m->mode, m->count, m->stride,
                              m->rows, extra, &b)) != 0)
    return rv;
  heed__block_hdr(b)->ldc = m->ldc;
  if (m->kind == HEED_WIRE_FORWARD_Z)
    zexpand(m, (size_t)m->rows * m->stride, heed__block_data(b));
  else
    memcpy(heed__block_data(b), m->data, m->nfloats * sizeof(float));
  if (!s.whole) {
    heed_hub *hub = &net->layers[s.sender - 1].hub;
    rv = heed_actor_broadcast(net->rt, &hub->self, 1,
                              fwd ? HEED_NET_SLICE_FWD : HEED_NET_SLICE_BID,
                              m->batch, m->word | (uint64_t)from << 32, b);
  } else if (to_critic) {
    rv = heed_actor_broadcast(net->rt, &net->critic.self, 1, HEED_NET_FORWARD,
                              m->batch, 0, b);
  } else {
    heed_layer *L = &net->layers[m->layer - 1];
    if (fwd && m->mode == HEED_MODE_TRAIN) /* rebuilt here, not sent */
      heed__block_fill_xt(b);
    rv = heed_actor_broadcast(net->rt, L->handles + L->lo, L->hi - L->lo,
                              fwd ? HEED_NET_FORWARD : HEED_NET_BID, m->batch,
                              0, b);
  }
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
  char only[64];
  /* A worker takes its own neurons from process 0; process 0 takes a
   * worker's neurons from that worker. */
  if (coord && sole_host(net, L->l) == 0)
    return refuse(net, why, "PARAMS for layer %u, which process 0 hosts "
                  "itself", L->l);
  if (!coord && !L->local)
    return refuse(net, why, "PARAMS for layer %u, which this worker does "
                  "not host", L->l);
  unsigned owner = coord ? from : net->remote.self;
  uint32_t lo = heed__lo(net, L->l, owner), hi = heed__hi(net, L->l, owner);
  if (coord ? from == 0 || lo == hi : from != 0)
    return refuse(net, why, "PARAMS for layer %u from process %u; %s", L->l,
                  from, coord ? only_from(net, L->l, only, sizeof only)
                              : "only process 0 sends those");
  if (!m->data || m->nfloats != params_floats(L, lo, hi))
    return refuse(net, why, "PARAMS for layer %u: %zu floats, the layer has "
                  "%zu on process %u", L->l, m->nfloats,
                  params_floats(L, lo, hi), owner);
  if (m->word != lo)
    return refuse(net, why, "PARAMS for layer %u from neuron %llu; process "
                  "%u hosts it from neuron %u", L->l,
                  (unsigned long long)m->word, owner, lo);
  if (!coord) { /* a push from the coordinator */
    take_params(L, lo, hi, m);
    heed_wire_msg ack = {.kind = HEED_WIRE_ACK, .layer = L->l,
                         .word = hi - lo};
    return net->remote.send(net->remote.arg, 0, &ack);
  }
  /* The answer to a pull: once per layer and worker, and only when
   * asked. */
  heed_proxy *p = &net->proxies[(L->l - 1) * net->remote.nprocs + from];
  pthread_mutex_lock(&net->mu);
  int asked = p->pulling;
  p->pulling = 0;
  pthread_mutex_unlock(&net->mu);
  if (!asked)
    return refuse(net, why, "PARAMS for layer %u that nobody asked for",
                  L->l);
  take_params(L, lo, hi, m);
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
  return heed_actor_broadcast(net->rt, L->handles + L->lo, L->hi - L->lo,
                              HEED_NET_CONTROL, 0, m->word, NULL);
}

static int deliver_pull(heed_net *net, unsigned from, heed_why *why) {
  if (net->remote.self == 0 || from != 0)
    return refuse(net, why, "PULL from process %u", from);
  heed__net_handoff(net); /* after the loops' DONE/ACK: see internal.h */
  for (size_t l = 0; l < net->nlayers; l++) {
    heed_layer *L = &net->layers[l];
    if (L->local) {
      int rv = send_params(net, 0, L, L->lo, L->hi);
      if (rv)
        return rv;
    }
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
  case HEED_WIRE_FORWARD_Z:
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
  unsigned P = net->remote.nprocs;
  uint32_t want = 0;
  pthread_mutex_lock(&net->mu);
  for (size_t l = 1; l <= net->nlayers; l++)
    for (unsigned p = 1; p < P; p++) {
      int asked = heed__share(net, l, p) > 0;
      net->proxies[(l - 1) * P + p].pulling = asked;
      want += (uint32_t)asked;
    }
  net->pull_pending = want;
  pthread_mutex_unlock(&net->mu);
  for (unsigned p = 1; p < P; p++) {
    heed_wire_msg m = {.kind = HEED_WIRE_PULL};
    if (hosted(net, p) && (rv = net->remote.send(net->remote.arg, p, &m)) != 0)
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
  for (size_t l = 1; l <= net->nlayers; l++)
    for (unsigned p = 1; p < net->remote.nprocs; p++) {
      uint32_t lo = heed__lo(net, l, p), hi = heed__hi(net, l, p);
      if (lo == hi)
        continue;
      want += hi - lo;
      if ((rv = send_params(net, p, &net->layers[l - 1], lo, hi)) != 0)
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
