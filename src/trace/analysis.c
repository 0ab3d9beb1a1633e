/*
 * analysis.c - statistics, attention and the Chrome export over trace
 * records (see analysis.h). Tables are keyed by what the records hold
 * (hash maps from neuron index, batch id, actor), never sized by it, so a
 * record claiming neuron 2^31 costs one slot, not 2^31.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "heed/error.h"
#include "trace/analysis.h"

/* ---- records from outside ---- */

static int who_check(const heed_trace_who *w, const char *end, uint64_t nrec,
                     char *err, size_t errlen) {
  if (w->role > HEED__TA_MAX_ROLE) {
    snprintf(err, errlen, "record %" PRIu64 ": %s role %u is not one heed "
             "writes (0-%d)", nrec, end, w->role, HEED__TA_MAX_ROLE);
    return HEED_ERANGE;
  }
  if (w->layer > HEED__TA_MAX_LAYER + 1) {
    snprintf(err, errlen, "record %" PRIu64 ": %s layer %" PRIu32
             " is beyond the %d layers a heed network has at most", nrec,
             end, w->layer, HEED__TA_MAX_LAYER);
    return HEED_ERANGE;
  }
  if (w->index > HEED__TA_MAX_INDEX && w->index != HEED_TRACE_ALL_NEURONS) {
    snprintf(err, errlen, "record %" PRIu64 ": %s neuron index %" PRIu32
             " is beyond the largest layer heed builds (%u neurons)", nrec,
             end, w->index, HEED__TA_MAX_INDEX + 1);
    return HEED_ERANGE;
  }
  return 0;
}

int heed__ta_check(const heed_trace_rec *r, uint64_t nrec, char *err,
                   size_t errlen) {
  if (errlen)
    err[0] = '\0';
  if (r->proc >= HEED__TA_MAX_PROCS || r->procs > HEED__TA_MAX_PROCS) {
    snprintf(err, errlen, "record %" PRIu64 ": process %" PRIu32 " of %"
             PRIu32 ": a run has at most %d processes", nrec, r->proc,
             r->procs, HEED__TA_MAX_PROCS);
    return HEED_ERANGE;
  }
  int rv = who_check(&r->sender, "sender", nrec, err, errlen);
  return rv ? rv : who_check(&r->receiver, "receiver", nrec, err, errlen);
}

/* ---- a map from a pair of u64 to a u64 ---- */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static void map_free(heed__ta_map *m) {
  if (!m->cap)
    return; /* nothing allocated: most layers of most traces */
  heed__free(m->k1);
  heed__free(m->k2);
  heed__free(m->val);
  heed__free(m->used);
  memset(m, 0, sizeof *m);
}

static uint64_t *map_find(const heed__ta_map *m, uint64_t a, uint64_t b,
                          size_t *at) {
  if (!m->cap)
    return NULL;
  size_t i = mix(a * 31 + mix(b)) & (m->cap - 1);
  while (m->used[i]) {
    if (m->k1[i] == a && m->k2[i] == b)
      return &m->val[i];
    i = (i + 1) & (m->cap - 1);
  }
  *at = i;
  return NULL;
}

static void map_put(heed__ta_map *m, size_t i, uint64_t a, uint64_t b,
                    uint64_t v) {
  m->used[i] = 1;
  m->k1[i] = a;
  m->k2[i] = b;
  m->val[i] = v;
  m->n++;
}

static int map_grow(heed__ta_map *m) {
  heed__ta_map old = *m, nm = {0};
  nm.cap = old.cap ? old.cap * 2 : 64;
  nm.k1 = heed__calloc(nm.cap, 8);
  nm.k2 = heed__calloc(nm.cap, 8);
  nm.val = heed__calloc(nm.cap, 8);
  nm.used = heed__calloc(nm.cap, 1);
  if (!nm.k1 || !nm.k2 || !nm.val || !nm.used) {
    map_free(&nm);
    return HEED_ENOMEM;
  }
  for (size_t i = 0; i < old.cap; i++) {
    size_t at = 0;
    if (old.used[i] && !map_find(&nm, old.k1[i], old.k2[i], &at))
      map_put(&nm, at, old.k1[i], old.k2[i], old.val[i]);
  }
  map_free(&old);
  *m = nm;
  return 0;
}

/* The value of (a, b), inserted as fresh when absent (*isnew set); NULL
 * when out of memory. */
static uint64_t *map_get(heed__ta_map *m, uint64_t a, uint64_t b,
                         uint64_t fresh, int *isnew) {
  size_t at = 0;
  uint64_t *v = map_find(m, a, b, &at);
  *isnew = v == NULL;
  if (v)
    return v;
  if (2 * (m->n + 1) > m->cap) {
    if (map_grow(m))
      return NULL;
    map_find(m, a, b, &at);
  }
  map_put(m, at, a, b, fresh);
  return &m->val[at];
}

/* ---- statistics ---- */

void heed__ta_stats_init(heed__ta_stats *s) {
  memset(s, 0, sizeof *s);
  s->pass = 1;
}

void heed__ta_stats_free(heed__ta_stats *s) {
  if (!s)
    return;
  map_free(&s->batches);
  heed__free(s->binfo);
  for (int l = 0; l <= HEED__TA_MAX_LAYER; l++) {
    heed__ta_att *a = &s->layer[l];
    if (!a->cap && !a->slot.cap)
      continue;
    map_free(&a->slot);
    heed__free(a->index);
    heed__free(a->sum);
    heed__free(a->cnt);
  }
  memset(s, 0, sizeof *s);
}

static int kind_index(uint32_t k) {
  for (int i = 0; i < 9; i++)
    if (k == 1u << i)
      return i + 1;
  return 0;
}

static int is_attention(const heed_trace_rec *r) {
  return r->kind == HEED_TRACE_BID && r->receiver.role == HEED_ROLE_NEURON &&
         r->receiver.index != HEED_TRACE_ALL_NEURONS && r->count > 0 &&
         r->receiver.layer >= 1 && r->receiver.layer <= HEED__TA_MAX_LAYER;
}

static int att_grow(heed__ta_att *a) {
  uint32_t cap = a->cap ? 2 * a->cap : 16;
  uint32_t *ix = heed__malloc((size_t)cap * sizeof *ix);
  double *s = heed__calloc((size_t)5 * cap, sizeof *s);
  uint64_t *c = heed__calloc((size_t)5 * cap, sizeof *c);
  if (!ix || !s || !c) {
    heed__free(ix);
    heed__free(s);
    heed__free(c);
    return HEED_ENOMEM;
  }
  if (a->n)
    memcpy(ix, a->index, (size_t)a->n * sizeof *ix);
  for (int k = 0; k < 5; k++)
    for (uint32_t i = 0; i < a->n; i++) {
      s[(size_t)k * cap + i] = a->sum[(size_t)k * a->cap + i];
      c[(size_t)k * cap + i] = a->cnt[(size_t)k * a->cap + i];
    }
  heed__free(a->index);
  heed__free(a->sum);
  heed__free(a->cnt);
  a->index = ix;
  a->sum = s;
  a->cnt = c;
  a->cap = cap;
  return 0;
}

static int att_add(heed__ta_att *a, uint32_t j, int q, double v) {
  int isnew;
  uint64_t *slot = map_get(&a->slot, j, 0, a->n, &isnew);
  if (!slot)
    return HEED_ENOMEM;
  if (isnew) {
    if (a->n == a->cap && att_grow(a)) {
      *slot = UINT64_MAX; /* keeps the map consistent; never read */
      return HEED_ENOMEM;
    }
    a->index[a->n++] = j;
  }
  if (*slot >= a->n)
    return HEED_ENOMEM; /* an earlier failed insert */
  size_t i = (size_t)*slot;
  a->sum[(size_t)q * a->cap + i] += v;
  a->cnt[(size_t)q * a->cap + i]++;
  a->sum[(size_t)4 * a->cap + i] += v;
  a->cnt[(size_t)4 * a->cap + i]++;
  return 0;
}

static int add_attention(heed__ta_stats *s, const heed_trace_rec *r) {
  if (!is_attention(r))
    return 0;
  size_t at = 0;
  uint64_t *v = map_find(&s->batches, r->batch, 0, &at);
  if (!v || *v >= s->nbatch)
    return 0; /* not seen in the first pass */
  const heed__ta_batch *b = &s->binfo[*v];
  int q = s->ntrain && b->train ? (int)((uint64_t)b->rank * 4 / s->ntrain)
                                : 0;
  return att_add(&s->layer[r->receiver.layer], r->receiver.index, q,
                 r->mean_abs);
}

static int add_batch(heed__ta_stats *s, const heed_trace_rec *r) {
  int isnew;
  uint64_t *v = map_get(&s->batches, r->batch, 0, s->nbatch, &isnew);
  if (!v)
    return HEED_ENOMEM;
  if (isnew) {
    if (s->nbatch == s->capbatch) {
      size_t cap = s->capbatch ? 2 * s->capbatch : 64;
      heed__ta_batch *b = heed__realloc(s->binfo, cap * sizeof *b);
      if (!b) {
        *v = UINT64_MAX;
        return HEED_ENOMEM;
      }
      s->binfo = b;
      s->capbatch = cap;
    }
    heed__ta_batch *b = &s->binfo[s->nbatch++];
    memset(b, 0, sizeof *b);
    b->batch = r->batch;
    b->first = r->t_ns;
    b->last = r->t_ns + r->dur_ns;
  }
  if (*v >= s->nbatch)
    return HEED_ENOMEM;
  heed__ta_batch *b = &s->binfo[*v];
  if (r->t_ns < b->first)
    b->first = r->t_ns;
  if (r->t_ns + r->dur_ns > b->last)
    b->last = r->t_ns + r->dur_ns;
  if (r->kind == HEED_TRACE_BID)
    b->train = 1;
  return 0;
}

static int add_count(heed__ta_stats *s, const heed_trace_rec *r) {
  if (r->kind == HEED_TRACE_DROPS) {
    /* each process's last drops record has its totals; the trace's are
     * their sums */
    s->dropped += r->dropped - s->proc_dropped[r->proc];
    s->recorded += r->recorded - s->proc_recorded[r->proc];
    s->proc_dropped[r->proc] = r->dropped;
    s->proc_recorded[r->proc] = r->recorded;
    return 0;
  }
  if (r->kind == HEED_TRACE_MARK || r->kind == HEED_TRACE_LOOPS) {
    s->marks += r->kind == HEED_TRACE_MARK;
    return 0;
  }
  if (r->kind == HEED_TRACE_METRIC) { /* the driver's, no message */
    s->metrics++;
    s->last_step = r->batch;
    s->last_loss = r->loss;
    s->last_acc = r->acc;
    return 0;
  }
  s->records++;
  s->proc_records[r->proc]++;
  uint32_t L = r->receiver.layer; /* checked: <= HEED__TA_MAX_LAYER + 1 */
  if (L > s->max_layer)
    s->max_layer = L;
  s->kind_layer[kind_index(r->kind)][L]++;
  if (r->kind == HEED_TRACE_CONTROL)
    return 0;
  return add_batch(s, r);
}

int heed__ta_stats_add(heed__ta_stats *s, const heed_trace_rec *r,
                       char *err, size_t errlen) {
  int rv = heed__ta_check(r, ++s->nrec, err, errlen);
  if (rv)
    return rv;
  if (r->kind == 0) {
    s->sample = r->sample;
    s->run = r->run;
    s->procs = r->procs;
    return 0;
  }
  rv = s->pass == 2 ? add_attention(s, r) : add_count(s, r);
  if (rv)
    snprintf(err, errlen, "out of memory at record %" PRIu64, s->nrec);
  return rv;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* A total order even with NaN (qsort needs one): NaN last. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  if (isnan(x) || isnan(y))
    return isnan(x) - isnan(y);
  return x < y ? -1 : x > y;
}

int heed__ta_stats_pass2(heed__ta_stats *s) {
  uint64_t *ids = heed__malloc((s->nbatch + 1) * sizeof *ids);
  if (!ids)
    return HEED_ENOMEM;
  size_t nt = 0;
  for (size_t i = 0; i < s->nbatch; i++)
    if (s->binfo[i].train)
      ids[nt++] = s->binfo[i].batch;
  qsort(ids, nt, sizeof *ids, cmp_u64);
  for (size_t i = 0; i < nt; i++) {
    size_t at = 0;
    uint64_t *v = map_find(&s->batches, ids[i], 0, &at);
    if (v && *v < s->nbatch)
      s->binfo[*v].rank = (uint32_t)i;
  }
  s->ntrain = nt > UINT32_MAX ? UINT32_MAX : (uint32_t)nt;
  heed__free(ids);
  s->pass = 2;
  s->nrec = 0;
  return 0;
}

int heed__ta_batch_times(const heed__ta_stats *s, double **ms, size_t *n,
                         size_t *neval) {
  *ms = NULL;
  *n = *neval = 0;
  double *w = heed__malloc((s->nbatch + 1) * sizeof *w);
  if (!w)
    return HEED_ENOMEM;
  for (size_t i = 0; i < s->nbatch; i++) {
    const heed__ta_batch *b = &s->binfo[i];
    if (b->train)
      w[(*n)++] = (double)(b->last - b->first) / 1e6;
    else
      (*neval)++;
  }
  if (!*n) {
    heed__free(w);
    return 0;
  }
  qsort(w, *n, sizeof *w, cmp_double);
  *ms = w;
  return 0;
}

uint32_t heed__ta_neurons(const heed__ta_stats *s, uint32_t l) {
  if (l < 1 || l > HEED__TA_MAX_LAYER)
    return 0;
  const heed__ta_att *a = &s->layer[l];
  uint32_t n = 0;
  for (uint32_t i = 0; i < a->n; i++)
    n += a->cnt[(size_t)4 * a->cap + i] > 0;
  return n;
}

typedef struct rank_item {
  double v;
  uint32_t j;
} rank_item;

/* Most attended first, NaN last, then by neuron index. */
static int cmp_rank(const void *a, const void *b) {
  const rank_item *x = a, *y = b;
  int c = -cmp_double(&x->v, &y->v);
  if (isnan(x->v) || isnan(y->v))
    c = -c; /* NaN still last */
  return c ? c : (x->j > y->j) - (x->j < y->j);
}

/* Gini of n values sorted in descending order. */
static double gini_desc(const double *v, size_t n) {
  if (n == 0)
    return NAN;
  double s = 0, w = 0;
  for (size_t i = 0; i < n; i++) {
    s += v[i];
    w += (double)(n - i) * v[i]; /* ascending rank n - i */
  }
  if (!(s > 0))
    return s == 0 ? 0 : NAN;
  return 2 * w / ((double)n * s) - (double)(n + 1) / (double)n;
}

void heed__ta_view_free(heed__ta_view *v) {
  if (!v)
    return;
  heed__free(v->index);
  heed__free(v->mean);
  memset(v, 0, sizeof *v);
}

int heed__ta_attention(const heed__ta_stats *s, uint32_t l, int q,
                       heed__ta_view *v) {
  memset(v, 0, sizeof *v);
  v->gini = NAN;
  if (l < 1 || l > HEED__TA_MAX_LAYER || q < 0 || q > 4)
    return HEED_EINVAL;
  const heed__ta_att *a = &s->layer[l];
  if (!a->n)
    return 0;
  rank_item *it = heed__malloc((size_t)a->n * sizeof *it);
  v->index = heed__malloc((size_t)a->n * sizeof *v->index);
  v->mean = heed__malloc((size_t)a->n * sizeof *v->mean);
  if (!it || !v->index || !v->mean) {
    heed__free(it);
    heed__ta_view_free(v);
    v->gini = NAN;
    return HEED_ENOMEM;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t c = a->cnt[(size_t)q * a->cap + i];
    if (c)
      it[k++] = (rank_item){a->sum[(size_t)q * a->cap + i] / (double)c,
                            a->index[i]};
  }
  qsort(it, k, sizeof *it, cmp_rank);
  for (uint32_t i = 0; i < k; i++) {
    v->index[i] = it[i].j;
    v->mean[i] = it[i].v;
  }
  v->n = k;
  v->gini = gini_desc(v->mean, k);
  heed__free(it);
  return 0;
}

/* ---- Chrome trace-event export ---- */

typedef struct ev {
  uint64_t t, dur, batch;
  uint32_t kind, fanout, count, proc, loop;
  heed_trace_who from, to;
  double mean_abs, mean, min, max; /* a METRIC's loss and accuracy in
                                      mean and mean_abs */
} ev;

struct heed__ta_chrome {
  ev *e;
  size_t n, cap;
  uint64_t nrec;
  int by_loop; /* tracks per runtime loop, not per actor */
  int header;
  uint64_t run, start_unix;
  double sample;
  uint32_t procs;
  char config[HEED_TRACE_MAX_CONFIG + 1];
};

void heed__ta_chrome_by_loop(heed__ta_chrome *c, int on) { c->by_loop = on; }

int heed__ta_chrome_new(heed__ta_chrome **cp) {
  *cp = heed__calloc(1, sizeof **cp);
  return *cp ? 0 : HEED_ENOMEM;
}

void heed__ta_chrome_free(heed__ta_chrome *c) {
  if (!c)
    return;
  heed__free(c->e);
  heed__free(c);
}

int heed__ta_chrome_add(heed__ta_chrome *c, const heed_trace_rec *r,
                        char *err, size_t errlen) {
  int rv = heed__ta_check(r, ++c->nrec, err, errlen);
  if (rv)
    return rv;
  if (r->kind == 0) {
    c->header = 1;
    c->run = r->run;
    c->start_unix = r->start_unix_ns;
    c->sample = r->sample;
    c->procs = r->procs;
    snprintf(c->config, sizeof c->config, "%s", r->config ? r->config : "");
    return 0;
  }
  if (r->kind == HEED_TRACE_DROPS || r->kind == HEED_TRACE_MARK ||
      r->kind == HEED_TRACE_LOOPS)
    return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 256;
    ev *e = heed__realloc(c->e, cap * sizeof *e);
    if (!e) {
      snprintf(err, errlen, "out of memory at record %" PRIu64, c->nrec);
      return HEED_ENOMEM;
    }
    c->e = e;
    c->cap = cap;
  }
  int metric = r->kind == HEED_TRACE_METRIC;
  c->e[c->n++] = (ev){r->t_ns,     r->dur_ns,  r->batch,    r->kind,
                      r->fanout,   r->count,   r->proc,     r->loop,
                      r->sender,   r->receiver,
                      metric ? r->acc : r->mean_abs,
                      metric ? r->loss : r->mean, r->min, r->max};
  return 0;
}

static int cmp_ev(const void *a, const void *b) {
  const ev *x = a, *y = b;
  return x->t < y->t ? -1 : x->t > y->t;
}

/* Unique for checked ends: role < 2^8, layer < 2^8, any index. */
static uint64_t who_key(const heed_trace_who *w) {
  return (uint64_t)w->role << 40 | (uint64_t)(w->layer & 0xff) << 32 |
         w->index;
}

const char *heed__ta_who_str(const heed_trace_who *w, char *buf,
                             size_t len) {
  switch (w->role) {
  case HEED_ROLE_NEURON:
    if (w->index == HEED_TRACE_ALL_NEURONS)
      snprintf(buf, len, "neurons L%" PRIu32, w->layer);
    else
      snprintf(buf, len, "neuron L%" PRIu32 "#%" PRIu32, w->layer, w->index);
    break;
  case HEED_ROLE_HUB:
    snprintf(buf, len, "hub L%" PRIu32, w->layer);
    break;
  default:
    snprintf(buf, len, "%s", heed_trace_role_name(w->role));
  }
  return buf;
}

/* A JSON string (outside text: quotes, backslashes and controls escaped). */
static void json_str(FILE *f, const char *v) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  fputc('"', f);
}

/* A JSON value for a double: a number when finite, else a string (JSON
 * has no NaN or infinity). */
static void json_num(FILE *f, double x) {
  if (isfinite(x))
    fprintf(f, "%.6g", x);
  else
    fprintf(f, "\"%s\"", isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

typedef struct chrome_out {
  FILE *f;
  /* (process, actor) -> track; (actor, batch) -> event (an actor lives
   * in one process, so a sender is found whichever process it is in) */
  heed__ta_map tids, last;
  uint64_t ntid, flows, counters;
  uint8_t named[HEED__TA_MAX_PROCS]; /* process groups written */
  uint32_t procs;
  int by_loop;
  /* per layer: the batch whose attention is being summed */
  struct {
    uint64_t batch, t, n;
    double sum;
  } att[HEED__TA_MAX_LAYER + 1];
} chrome_out;

/* The process group of heed process proc (pid proc + 1), named when new:
 * the coordinator (or the only process) first, then the workers. */
static void group(chrome_out *o, uint32_t proc) {
  if (o->named[proc])
    return;
  o->named[proc] = 1;
  o->procs++;
  char name[32];
  if (proc)
    snprintf(name, sizeof name, "heed worker %" PRIu32, proc);
  else
    snprintf(name, sizeof name, "heed");
  fprintf(o->f,
          ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%" PRIu32
          ",\"tid\":0,\"ts\":0,\"args\":{\"name\":\"%s\"}}"
          ",\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%"
          PRIu32 ",\"tid\":0,\"ts\":0,\"args\":{\"sort_index\":%" PRIu32
          "}}",
          proc + 1, name, proc + 1, proc);
}

/* The track of the actor w of process proc, named and sorted by layer
 * when new; NULL when out of memory. */
static uint64_t *track(chrome_out *o, uint32_t proc,
                       const heed_trace_who *w) {
  int isnew;
  uint64_t *tid = map_get(&o->tids, who_key(w), proc, o->ntid + 1, &isnew);
  if (!tid || !isnew)
    return tid;
  char a[48];
  o->ntid++;
  group(o, proc);
  uint64_t order = (uint64_t)w->layer * 4000000000ull +
                   (w->role == HEED_ROLE_HUB ? 3999999999ull : w->index);
  fprintf(o->f,
          ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu32
          ",\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"name\":\"%s\"}}"
          ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%"
          PRIu32 ",\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"sort_index\":%"
          PRIu64 "}}",
          proc + 1, *tid, heed__ta_who_str(w, a, sizeof a), proc + 1, *tid,
          order);
  return tid;
}

/* A flow arrow from the sender's handling of this batch (the last one
 * that started before e) to e. */
/* The track of e: its receiving actor's, or with by_loop its loop's. */
static uint64_t *track_of(chrome_out *o, const ev *e) {
  if (!o->by_loop)
    return track(o, e->proc, &e->to);
  int isnew;
  uint64_t *tid = map_get(&o->tids, (uint64_t)1 << 48 | e->loop, e->proc,
                          o->ntid + 1, &isnew);
  if (!tid || !isnew)
    return tid;
  o->ntid++;
  group(o, e->proc);
  fprintf(o->f,
          ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu32
          ",\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"name\":\"loop %" PRIu32
          "\"}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%"
          PRIu32 ",\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"sort_index\":%"
          PRIu32 "}}",
          e->proc + 1, *tid, e->loop, e->proc + 1, *tid, e->loop);
  return tid;
}

static void flow(chrome_out *o, const ev *all, const ev *e, uint64_t tid) {
  heed_trace_who from = e->from;
  if (from.role == HEED_ROLE_HUB)
    from.index = 0;
  if (e->kind == HEED_TRACE_CONTROL || from.role == HEED_ROLE_DRIVER)
    return;
  size_t at = 0;
  uint64_t *src_i = map_find(&o->last, who_key(&from), e->batch, &at);
  if (!src_i)
    return;
  const ev *s = &all[*src_i];
  uint64_t *src_tid =
      o->by_loop ? map_find(&o->tids, (uint64_t)1 << 48 | s->loop, s->proc, &at)
                 : map_find(&o->tids, who_key(&from), s->proc, &at);
  if (!src_tid)
    return;
  o->flows++;
  fprintf(o->f,
          ",\n{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"s\","
          "\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":%" PRIu32 ",\"tid\":%"
          PRIu64 "},\n{\"name\":\"message\",\"cat\":\"flow\",\"ph\":"
          "\"f\",\"bp\":\"e\",\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":%"
          PRIu32 ",\"tid\":%" PRIu64 "}",
          o->flows, (double)(s->t + s->dur / 2) / 1e3, s->proc + 1, *src_tid,
          o->flows, (double)e->t / 1e3, e->proc + 1, tid);
}

/* A counter track sample (Perfetto draws one track per name). */
static void counter(chrome_out *o, const char *name, uint64_t t,
                    const char *arg, double v) {
  o->counters++;
  fprintf(o->f, ",\n{\"name\":\"%s\",\"ph\":\"C\",\"ts\":%.3f,"
          "\"pid\":1,\"tid\":0,\"args\":{\"%s\":",
          name, (double)t / 1e3, arg);
  json_num(o->f, v);
  fputs("}}", o->f);
}

/* The mean attention (mean |beta|) a layer's neurons received in a batch,
 * as a counter once the layer's bids move on to another batch. */
static void att_counter(chrome_out *o, uint32_t l) {
  if (!o->att[l].n)
    return;
  char name[48];
  snprintf(name, sizeof name, "attention L%" PRIu32, l);
  counter(o, name, o->att[l].t, "mean |beta|", o->att[l].sum / o->att[l].n);
  o->att[l].n = 0;
  o->att[l].sum = 0;
}

static void att_add_ev(chrome_out *o, const ev *e) {
  uint32_t l = e->to.layer;
  if (e->kind != HEED_TRACE_BID || e->to.role != HEED_ROLE_NEURON ||
      e->to.index == HEED_TRACE_ALL_NEURONS || !e->count || l < 1 ||
      l > HEED__TA_MAX_LAYER || !isfinite(e->mean_abs))
    return;
  if (o->att[l].n && o->att[l].batch != e->batch)
    att_counter(o, l);
  if (!o->att[l].n) {
    o->att[l].batch = e->batch;
    o->att[l].t = e->t;
  }
  o->att[l].sum += e->mean_abs;
  o->att[l].n++;
}

static int slice(chrome_out *o, const ev *all, size_t i) {
  const ev *e = &all[i];
  if (e->kind == HEED_TRACE_METRIC) {
    counter(o, "loss", e->t, "loss", e->mean);
    counter(o, "accuracy", e->t, "accuracy", e->mean_abs);
    return 0;
  }
  uint64_t *tid = track_of(o, e);
  if (!tid)
    return HEED_ENOMEM;
  uint64_t t = *tid;
  char b[48], d[48];
  const char *kind = heed_trace_kind_name(e->kind);
  fprintf(o->f,
          ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,"
          "\"dur\":%.3f,\"pid\":%" PRIu32 ",\"tid\":%" PRIu64 ",\"args\":{"
          "\"batch\":%" PRIu64 ",\"from\":\"%s\",",
          kind, kind, (double)e->t / 1e3, (double)e->dur / 1e3, e->proc + 1,
          t, e->batch, heed__ta_who_str(&e->from, b, sizeof b));
  if (o->by_loop)
    fprintf(o->f, "\"to\":\"%s\",", heed__ta_who_str(&e->to, d, sizeof d));
  fprintf(o->f, "\"fanout\":%" PRIu32 ",\"loop\":%" PRIu32, e->fanout,
          e->loop);
  if (e->count) {
    fprintf(o->f, ",\"n\":%" PRIu32 ",\"mean_abs\":", e->count);
    json_num(o->f, e->mean_abs);
    fprintf(o->f, ",\"mean\":");
    json_num(o->f, e->mean);
    fprintf(o->f, ",\"min\":");
    json_num(o->f, e->min);
    fprintf(o->f, ",\"max\":");
    json_num(o->f, e->max);
  }
  fputs("}}", o->f);
  att_add_ev(o, e);
  flow(o, all, e, t);
  int isnew;
  uint64_t *last = map_get(&o->last, who_key(&e->to), e->batch, i, &isnew);
  if (!last)
    return HEED_ENOMEM;
  *last = i;
  return 0;
}

int heed__ta_chrome_write(heed__ta_chrome *c, FILE *f,
                          heed__ta_chrome_info *info) {
  if (info)
    memset(info, 0, sizeof *info);
  if (c->n)
    qsort(c->e, c->n, sizeof *c->e, cmp_ev);
  chrome_out o = {.f = f, .by_loop = c->by_loop};
  fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
        "\"ts\":0,\"args\":{\"name\":\"heed\"}}",
        f);
  o.named[0] = 1; /* process 0 (or the only one): always there */
  o.procs = 1;
  int rv = 0;
  for (size_t i = 0; i < c->n && !rv && !ferror(f); i++)
    rv = slice(&o, c->e, i);
  for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER && !rv; l++)
    att_counter(&o, l);
  /* the run's header, for whoever opens the file */
  fprintf(f, "\n],\"metadata\":{\"heed-trace-version\":%d",
          1);
  if (c->header) {
    fprintf(f, ",\"run\":%" PRIu64 ",\"start_unix_ns\":%" PRIu64
            ",\"sample\":", c->run, c->start_unix);
    json_num(f, c->sample);
    fprintf(f, ",\"processes\":%" PRIu32 ",\"config\":",
            c->procs ? c->procs : 1);
    json_str(f, c->config);
  }
  fprintf(f, ",\"tracks\":\"%s\"}}\n", c->by_loop ? "loop" : "actor");
  if (info)
    *info = (heed__ta_chrome_info){c->n, o.ntid, o.flows, o.procs,
                                   o.counters};
  map_free(&o.tids);
  map_free(&o.last);
  return rv ? rv : ferror(f) ? HEED_EIO : 0;
}
