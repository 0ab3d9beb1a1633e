/*
 * net.c - building a network of neuron actors and driving it.
 *
 * The driver functions run on the caller's thread: they turn a mini-batch
 * into a block buffer, send it to the input actor and the labels to the
 * critic, then wait on a condition variable until every neuron has updated
 * and the critic has judged the batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "heed/rng.h"
#include "net/internal.h"
#include "trace/internal.h"

int heed__block_alloc(heed_runtime *rt, uint64_t batch, uint32_t mode,
                      uint32_t count, uint32_t stride, uint32_t rows,
                      size_t extra, heed_buf **out) {
  size_t floats = (size_t)rows * stride + extra;
  int rv = heed_buf_alloc(rt, HEED_BLOCK_HDR + floats * sizeof(float), out);
  if (rv != 0) {
    *out = NULL;
    return rv;
  }
  heed_block *h = heed__block_hdr(*out);
  memset(h, 0, sizeof *h);
  h->batch = batch;
  h->mode = mode;
  h->count = count;
  h->stride = stride;
  h->rows = rows;
  return 0;
}

/* ---- completion ------------------------------------------------------- */

static heed_batch_done *done_of(heed_net *net, uint64_t batch) {
  return &net->done[batch % HEED_HUB_GATHERS];
}

void heed__net_neuron_done(heed_net *net, uint64_t batch) {
  if (heed__net_distributed(net) && net->remote.self != 0) {
    /* A worker reports its whole share of the batch in one message. */
    _Atomic uint32_t *c = &net->worker_done[batch % HEED_HUB_GATHERS];
    if (atomic_fetch_add(c, 1) + 1 == net->local_neurons) {
      atomic_store(c, 0);
      heed__net_handoff(net);
      heed_wire_msg m = {.kind = HEED_WIRE_DONE, .batch = batch,
                         .word = net->local_neurons};
      if (net->remote.send(net->remote.arg, 0, &m) != 0)
        heed__net_fail(net);
    }
    return;
  }
  heed_batch_done *d = done_of(net, batch);
  if (atomic_fetch_add(&d->updated, 1) + 1 == net->total_neurons) {
    pthread_mutex_lock(&net->mu);
    pthread_cond_broadcast(&net->cv);
    pthread_mutex_unlock(&net->mu);
  }
}

void heed__net_critic_done(heed_net *net, uint64_t batch,
                           const heed_batch_stats *st) {
  heed_batch_done *d = done_of(net, batch);
  pthread_mutex_lock(&net->mu);
  d->stats = *st;
  atomic_store(&d->critic_done, 1);
  pthread_cond_broadcast(&net->cv);
  pthread_mutex_unlock(&net->mu);
}

void heed__net_control_ack(heed_net *net) {
  if (heed__net_distributed(net) && net->remote.self != 0) {
    if (atomic_fetch_add(&net->worker_acks, 1) + 1 == net->local_neurons) {
      atomic_store(&net->worker_acks, 0);
      heed__net_handoff(net);
      heed_wire_msg m = {.kind = HEED_WIRE_ACK, .word = net->local_neurons};
      if (net->remote.send(net->remote.arg, 0, &m) != 0)
        heed__net_fail(net);
    }
    return;
  }
  pthread_mutex_lock(&net->mu);
  if (++net->control_acks == net->total_neurons)
    pthread_cond_broadcast(&net->cv);
  pthread_mutex_unlock(&net->mu);
}

void heed__net_handoff(heed_net *net) {
  pthread_mutex_lock(&net->mu);
  pthread_mutex_unlock(&net->mu);
}

void heed__net_fail(heed_net *net) {
  pthread_mutex_lock(&net->mu); /* a waiter checks `failed` under mu */
  atomic_store_explicit(&net->failed, 1, memory_order_release);
  pthread_cond_broadcast(&net->cv);
  pthread_mutex_unlock(&net->mu);
}

/* ---- building --------------------------------------------------------- */

static int add_play(heed_net *net, const heed_strategy_ops *ops,
                    const double *params, const heed_net_play **out) {
  for (size_t i = 0; i < net->nplays; i++)
    if (net->plays[i].ops == ops &&
        !memcmp(net->plays[i].params, params,
                sizeof(double) * HEED_STRATEGY_MAX_PARAMS)) {
      *out = &net->plays[i];
      return 0;
    }
  if (net->nplays == net->capplays)
    return HEED_ENOMEM; /* plays are preallocated, never moved */
  heed_net_play *p = &net->plays[net->nplays++];
  p->ops = ops;
  memcpy(p->params, params, sizeof(double) * HEED_STRATEGY_MAX_PARAMS);
  *out = p;
  return 0;
}

static int give_strategy(heed_net *net, heed_neuron_actor *na,
                         const heed_net_play *play) {
  size_t n = play->ops->state_floats
                 ? play->ops->state_floats(play->params, na->layer->fan_in)
                 : 0;
  float *st = NULL;
  if (n) {
    st = heed__calloc(n, sizeof *st);
    if (!st)
      return HEED_ENOMEM;
  }
  heed__free(na->state);
  na->state = st;
  na->nstate = n;
  na->play = play;
  (void)net;
  return 0;
}

static void init_weights(heed_net *net, heed_init how) {
  heed_rng rng;
  heed_rng_seed(&rng, net->seed);
  for (size_t l = 0; l < net->nlayers; l++) {
    heed_layer *L = &net->layers[l];
    heed_init kind = how;
    if (kind == HEED_INIT_AUTO)
      kind = L->act == HEED_ACT_RELU ? HEED_INIT_HE : HEED_INIT_XAVIER;
    double he = sqrt(2.0 / L->fan_in);
    double xa = sqrt(6.0 / (L->fan_in + L->n));
    double to = 1.0 / sqrt(L->fan_in);
    for (size_t i = 0; i < (size_t)L->n * L->fan_in; i++)
      L->w[i] = kind == HEED_INIT_HE
                    ? (float)(heed_rng_normal(&rng) * he)
                    : (float)((2.0 * heed_rng_uniform(&rng) - 1.0) *
                              (kind == HEED_INIT_TORCH ? to : xa));
    for (uint32_t j = 0; j < L->n; j++)
      L->b[j] = kind == HEED_INIT_TORCH
                    ? (float)((2.0 * heed_rng_uniform(&rng) - 1.0) * to)
                    : 0.0f;
  }
}

static void free_neuron(heed_neuron_actor *na) {
  for (int i = 0; i < HEED_NET_SLOTS; i++) {
    heed__free_aligned(na->slots[i].z);
    heed_buf_release(na->slots[i].x);
  }
  for (size_t i = 0; i < na->ndeferred; i++)
    heed_msg_free(na->deferred[i]);
  heed__free(na->deferred);
  heed__free_aligned(na->beta);
  heed__free(na->state);
}

static int build_neuron(heed_net *net, heed_layer *L, uint32_t j) {
  heed_neuron_actor *na = &L->neurons[j];
  size_t S = net->max_stride;
  na->net = net;
  na->layer = L;
  na->index = j;
  for (int i = 0; i < HEED_NET_SLOTS; i++) {
    float *z = heed__malloc_aligned(3 * S * sizeof(float));
    if (!z)
      return HEED_ENOMEM;
    memset(z, 0, 3 * S * sizeof(float));
    na->slots[i].z = z;
    na->slots[i].y = z + S;
    na->slots[i].dphi = z + 2 * S;
  }
  na->beta = heed__malloc_aligned((5 * S + 2 * (size_t)L->fan_in) *
                                  sizeof(float));
  if (!na->beta)
    return HEED_ENOMEM;
  na->g_local = na->beta + S;
  na->pre_z = na->beta + 2 * S;
  na->pre_beta = na->beta + 3 * S;
  na->pre_g = na->beta + 4 * S;
  na->scratch = na->beta + 5 * S;
  na->pre_dw = na->scratch + L->fan_in;
  return 0;
}

static int spawn(heed_net *net, heed_behaviour_fn fn, void *state, int loop,
                 heed_actor *out) {
  heed_actor_spec spec = {fn, state, NULL, loop};
  return heed_actor_spawn(net->rt, &spec, out);
}

int heed_net_new(heed_net **np, heed_runtime *rt, const heed_net_opts *o) {
  return heed_net_new_remote(np, rt, o, NULL);
}

static int check_remote(const heed_net_remote *r, const uint32_t *sizes,
                        size_t nlayers) {
  if (!r || r->nprocs <= 1)
    return 0;
  if (!r->send || (!r->layer_proc && !r->share) || r->self >= r->nprocs ||
      r->nprocs > HEED_NET_MAX_PROCS)
    return HEED_EINVAL;
  for (size_t l = 0; l < nlayers; l++) {
    if (!r->share) {
      if (r->layer_proc[l] >= r->nprocs)
        return HEED_EINVAL;
      continue;
    }
    uint64_t sum = 0;
    for (unsigned p = 0; p < r->nprocs; p++)
      sum += r->share[l * r->nprocs + p];
    if (sum != sizes[l + 1])
      return HEED_EINVAL;
  }
  return 0;
}

/* net->first from the placement: prefix sums of each layer's shares in
 * process order (whole layers: one process has the layer's all). */
static int place(heed_net *net, const heed_net_remote *r) {
  unsigned P = net->remote.nprocs;
  net->first = heed__calloc(net->nlayers * (P + 1), sizeof *net->first);
  if (!net->first)
    return HEED_ENOMEM;
  for (size_t l = 0; l < net->nlayers; l++) {
    uint32_t n = net->sizes[l + 1], *f = net->first + l * (P + 1), at = 0;
    for (unsigned p = 0; p < P; p++) {
      f[p] = at;
      if (P == 1)
        at = n;
      else if (r->share)
        at += r->share[l * P + p];
      else
        at += r->layer_proc[l] == p ? n : 0;
      if (at != f[p] && at - f[p] != n)
        net->sliced = 1;
    }
    f[P] = at;
  }
  return 0;
}

static int spawn_proxy(heed_net *net, heed_proxy *p, uint32_t layer,
                       unsigned proc) {
  heed_actor_spec spec = {heed__proxy_behaviour, p, NULL, 0};
  p->net = net;
  p->layer = layer;
  p->proc = proc;
  return heed_actor_spawn(net->rt, &spec, &p->self);
}

/* The hub of layer L (0-based l) and the actors that receive whole blocks
 * for the layer's neurons: the local ones, and on process 0 one proxy per
 * other process hosting some of them. */
static int spawn_layer(heed_net *net, size_t l) {
  heed_layer *L = &net->layers[l];
  unsigned P = net->remote.nprocs, self = net->remote.self;
  int rv;
  L->hub.net = net;
  L->hub.layer = L;
  int reads_fwd = l + 1 < net->nlayers ? net->layers[l + 1].local : self == 0;
  int reads_bid = l > 0 && net->layers[l - 1].local;
  L->hub.need_fwd = reads_fwd ? L->n : L->hi - L->lo;
  L->hub.need_bid = reads_bid ? L->n : L->hi - L->lo;
  if (l > 0 && L->local && heed__net_distributed(net)) {
    L->hub.pack = heed__malloc_aligned((size_t)(L->hi - L->lo) *
                                       (net->max_stride + L->fan_in) *
                                       sizeof(float));
    if (!L->hub.pack)
      return HEED_ENOMEM;
  }
  if ((rv = spawn(net, heed__hub_behaviour, &L->hub,
                  (int)((l + 1) % net->threads), &L->hub.self)) != 0)
    return rv;
  L->targets = heed__calloc(L->n + P, sizeof *L->targets);
  if (!L->targets)
    return HEED_ENOMEM;
  for (uint32_t j = L->lo; j < L->hi; j++) {
    heed_neuron_actor *na = &L->neurons[j];
    /* loop j % threads: the cohort invariant (see heed_net_new_remote) */
    if ((rv = spawn(net, heed__neuron_behaviour, na,
                    (int)(j % net->threads), &na->self)) != 0)
      return rv;
    L->handles[j] = na->self;
    L->targets[L->ntargets++] = na->self;
  }
  for (unsigned p = 1; self == 0 && p < P; p++) {
    if (!heed__share(net, l + 1, p))
      continue;
    heed_proxy *x = &net->proxies[l * P + p];
    if ((rv = spawn_proxy(net, x, L->l, p)) != 0)
      return rv;
    L->targets[L->ntargets++] = x->self;
  }
  return 0;
}

int heed_net_new_remote(heed_net **np, heed_runtime *rt,
                        const heed_net_opts *o, const heed_net_remote *remote) {
  if (!np || !rt || !o || o->nsizes < 2 || !o->sizes)
    return HEED_EINVAL;
  if (check_remote(remote, o->sizes, o->nsizes - 1) != 0)
    return HEED_EINVAL;
  for (size_t i = 0; i < o->nsizes; i++)
    if (o->sizes[i] == 0 || o->sizes[i] > (1u << 24))
      return HEED_EINVAL;
  if (o->sizes[o->nsizes - 1] > 65536 || !(o->lr >= 0) || !isfinite(o->lr))
    return HEED_EINVAL;
  if (o->acts)
    for (size_t i = 0; i + 1 < o->nsizes; i++)
      if ((unsigned)o->acts[i] > HEED_ACT_SIGMOID)
        return HEED_EINVAL;
  if ((unsigned)o->init > HEED_INIT_TORCH)
    return HEED_EINVAL;

  heed_net *net = heed__calloc(1, sizeof *net);
  if (!net)
    return HEED_ENOMEM;
  int rv = HEED_ENOMEM;
  unsigned threads = heed_runtime_threads(rt);
  net->rt = rt;
  net->threads = threads;
  net->k = heed__kernels();
  net->nlayers = o->nsizes - 1;
  net->lr = o->lr;
  net->seed = o->seed;
  net->max_batch = o->max_batch ? o->max_batch : 1024;
  net->max_stride = heed__stride(net->max_batch);
  pthread_mutex_init(&net->mu, NULL);
  pthread_cond_init(&net->cv, NULL);
  for (int i = 0; i < HEED_HUB_GATHERS; i++)
    net->done[i].batch = UINT64_MAX;
  net->prev_train = UINT64_MAX;

  net->remote.nprocs = 1;
  if (remote && remote->nprocs > 1) {
    net->remote = *remote;
    net->remote.layer_proc = NULL; /* net->first says it all */
    net->remote.share = NULL;
  }
  unsigned P = net->remote.nprocs;
  net->sizes = heed__calloc(o->nsizes, sizeof *net->sizes);
  net->layers = heed__calloc(net->nlayers, sizeof *net->layers);
  net->proxies = heed__calloc(net->nlayers * P, sizeof *net->proxies);
  net->awaits = heed__calloc(net->nlayers * P, sizeof *net->awaits);
  if (!net->sizes || !net->layers || !net->proxies || !net->awaits)
    goto fail;
  memcpy(net->sizes, o->sizes, o->nsizes * sizeof *net->sizes);
  if ((rv = place(net, remote)) != 0)
    goto fail;
  rv = HEED_ENOMEM;

  size_t total = 0;
  for (size_t l = 0; l < net->nlayers; l++)
    total += o->sizes[l + 1];
  net->total_neurons = (uint32_t)total;
  net->capplays = total + 4;
  net->plays = heed__calloc(net->capplays, sizeof *net->plays);
  if (!net->plays)
    goto fail;

  const heed_strategy_ops *ops = NULL;
  const double *params = NULL;
  double dflt[HEED_STRATEGY_MAX_PARAMS] = {0};
  if (o->strategy) {
    ops = heed_strategy_ops_of(o->strategy);
    params = heed_strategy_params(o->strategy);
  } else {
    ops = heed_strategy_find("bp");
    params = dflt;
  }
  const heed_net_play *play;
  if (!ops || (rv = add_play(net, ops, params, &play)) != 0) {
    rv = ops ? rv : HEED_ENOENT;
    goto fail;
  }

  for (size_t l = 0; l < net->nlayers; l++) {
    heed_layer *L = &net->layers[l];
    L->l = (uint32_t)(l + 1);
    L->n = o->sizes[l + 1];
    L->fan_in = o->sizes[l];
    L->lo = heed__lo(net, l + 1, net->remote.self);
    L->hi = heed__hi(net, l + 1, net->remote.self);
    L->local = L->hi > L->lo;
    net->local_neurons += L->hi - L->lo;
    L->act = o->acts ? o->acts[l]
                     : (l + 1 == net->nlayers ? HEED_ACT_IDENTITY
                                              : HEED_ACT_RELU);
    rv = HEED_ENOMEM;
    L->w = heed__malloc_aligned((size_t)L->n * L->fan_in * sizeof(float));
    L->b = heed__malloc_aligned(L->n * sizeof(float));
    L->neurons = heed__calloc(L->n, sizeof *L->neurons);
    L->handles = heed__calloc(L->n, sizeof *L->handles);
    if (!L->w || !L->b || !L->neurons || !L->handles)
      goto fail;
    for (uint32_t j = 0; j < L->n; j++)
      if ((rv = build_neuron(net, L, j)) != 0 ||
          (rv = give_strategy(net, &L->neurons[j], play)) != 0)
        goto fail;
  }
  init_weights(net, o->init);

  /* Spawn last, once every state exists. Neurons of a layer are dealt
   * round robin over the loops so each layer's work (and each process's
   * slice of it) spreads evenly over threads. Invariant: cohorts
   * (neuron.c, group_base) assume neuron j runs on loop j % threads, so
   * that every member of a group is on one loop and may write into the
   * others' pre_* buffers without a lock; change both together
   * (docs/architecture.md, "Placement invariant").
   * Only this process's neurons exist here; on process 0, proxies stand
   * for the others. */
  net->input.net = net;
  net->critic.net = net;
  if (net->remote.self == 0 &&
      ((rv = spawn(net, heed__input_behaviour, &net->input, 0,
                   &net->input.self)) != 0 ||
       (rv = spawn(net, heed__critic_behaviour, &net->critic, 0,
                   &net->critic.self)) != 0))
    goto fail;
  for (size_t l = 0; l < net->nlayers; l++)
    if ((rv = spawn_layer(net, l)) != 0)
      goto fail;
  *np = net;
  return 0;
fail:
  heed_net_free(net);
  return rv;
}

void heed_net_free(heed_net *net) {
  if (!net)
    return;
  heed_net_sync(net);
  /* A tracer still attached stops sampling this net's runtime, which may
   * be freed next (the tracer may outlive both). */
  heed__trace_set_runtime(atomic_load_explicit(&net->trace,
                                               memory_order_acquire), NULL);
  heed_actor_stop(net->rt, net->input.self);
  heed_actor_stop(net->rt, net->critic.self);
  for (int i = 0; i < HEED_HUB_GATHERS; i++) {
    heed_buf_release(net->critic.pending[i].labels);
    heed_buf_release(net->critic.pending[i].logits);
  }
  for (size_t l = 0; net->layers && l < net->nlayers; l++) {
    heed_layer *L = &net->layers[l];
    heed_actor_stop(net->rt, L->hub.self);
    heed__free_aligned(L->hub.pack);
    heed__free(L->targets);
    for (int i = 0; i < HEED_HUB_GATHERS; i++) {
      heed_buf_release(L->hub.fwd[i].buf);
      heed_buf_release(L->hub.bid[i].buf);
    }
    for (uint32_t j = 0; L->neurons && j < L->n; j++) {
      if (L->neurons[j].self.id)
        heed_actor_stop(net->rt, L->neurons[j].self);
      free_neuron(&L->neurons[j]);
    }
    heed__free_aligned(L->w);
    heed__free_aligned(L->b);
    heed__free(L->neurons);
    heed__free(L->handles);
  }
  for (size_t i = 0; net->proxies && i < net->nlayers * net->remote.nprocs;
       i++)
    if (net->proxies[i].self.id)
      heed_actor_stop(net->rt, net->proxies[i].self);
  heed__free(net->proxies);
  heed__free(net->awaits);
  heed__free(net->first);
  heed__free(net->layers);
  heed__free(net->sizes);
  heed__free(net->plays);
  heed__free(net->train_mask);
  pthread_mutex_destroy(&net->mu);
  pthread_cond_destroy(&net->cv);
  heed__free(net);
}

int heed_net_set_strategy(heed_net *net, size_t layer, long neuron,
                          const heed_strategy *s) {
  if (!net || !s || layer > net->nlayers)
    return HEED_EINVAL;
  if (layer == 0 && neuron >= 0)
    return HEED_EINVAL;
  if (layer > 0 && neuron >= (long)net->layers[layer - 1].n)
    return HEED_EINVAL;
  int rv = heed_net_sync(net);
  if (rv)
    return rv;
  const heed_net_play *play;
  if ((rv = add_play(net, heed_strategy_ops_of(s), heed_strategy_params(s),
                     &play)) != 0)
    return rv;
  for (size_t l = 1; l <= net->nlayers; l++) {
    if (layer && l != layer)
      continue;
    heed_layer *L = &net->layers[l - 1];
    for (uint32_t j = 0; j < L->n; j++)
      if (neuron < 0 || (long)j == neuron)
        if ((rv = give_strategy(net, &L->neurons[j], play)) != 0)
          return rv;
  }
  return 0;
}

const heed_strategy_ops *heed_net_neuron_strategy(const heed_net *net,
                                                  size_t l, uint32_t j,
                                                  const double **params) {
  if (!net || l < 1 || l > net->nlayers || j >= net->layers[l - 1].n)
    return NULL;
  const heed_net_play *p = net->layers[l - 1].neurons[j].play;
  if (params)
    *params = p->params;
  return p->ops;
}
