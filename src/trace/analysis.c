/*
 * analysis.c - statistics and attention over trace records (see
 * analysis.h; the Chrome export is chrome.c). Tables are keyed by what
 * the records hold (hash maps from neuron index, batch id, actor), never
 * sized by it, so a record claiming neuron 2^31 costs one slot, not 2^31.
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

void heed__ta_map_free(heed__ta_map *m) {
  if (!m->cap)
    return; /* nothing allocated: most layers of most traces */
  heed__free(m->k1);
  heed__free(m->k2);
  heed__free(m->val);
  heed__free(m->used);
  memset(m, 0, sizeof *m);
}

uint64_t *heed__ta_map_find(const heed__ta_map *m, uint64_t a, uint64_t b,
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
    heed__ta_map_free(&nm);
    return HEED_ENOMEM;
  }
  for (size_t i = 0; i < old.cap; i++) {
    size_t at = 0;
    if (old.used[i] && !heed__ta_map_find(&nm, old.k1[i], old.k2[i], &at))
      map_put(&nm, at, old.k1[i], old.k2[i], old.val[i]);
  }
  heed__ta_map_free(&old);
  *m = nm;
  return 0;
}

uint64_t *heed__ta_map_get(heed__ta_map *m, uint64_t a, uint64_t b,
                         uint64_t fresh, int *isnew) {
  size_t at = 0;
  uint64_t *v = heed__ta_map_find(m, a, b, &at);
  *isnew = v == NULL;
  if (v)
    return v;
  if (2 * (m->n + 1) > m->cap) {
    if (map_grow(m))
      return NULL;
    heed__ta_map_find(m, a, b, &at);
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
  heed__ta_map_free(&s->batches);
  heed__free(s->binfo);
  for (int l = 0; l <= HEED__TA_MAX_LAYER; l++) {
    heed__ta_att *a = &s->layer[l];
    if (!a->cap && !a->slot.cap)
      continue;
    heed__ta_map_free(&a->slot);
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
  uint64_t *slot = heed__ta_map_get(&a->slot, j, 0, a->n, &isnew);
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
  uint64_t *v = heed__ta_map_find(&s->batches, r->batch, 0, &at);
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
  uint64_t *v = heed__ta_map_get(&s->batches, r->batch, 0, s->nbatch, &isnew);
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
    uint64_t *v = heed__ta_map_find(&s->batches, ids[i], 0, &at);
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

/* ---- who pays attention to whom ---- */

void heed__ta_matrix_init(heed__ta_matrix *m) { memset(m, 0, sizeof *m); }

void heed__ta_matrix_free(heed__ta_matrix *m) {
  for (uint32_t l = 0; l <= HEED__TA_MAX_LAYER; l++) {
    for (uint32_t i = 0; i < m->layer[l].n; i++) {
      heed__free(m->layer[l].rows[i].sum);
      heed__free(m->layer[l].rows[i].n);
    }
    heed__free(m->layer[l].rows);
    heed__ta_map_free(&m->layer[l].slot);
  }
  memset(m, 0, sizeof *m);
}

/* Room for receivers 0..len-1 in row r (zeroed when new). */
static int row_fit(heed__ta_row *r, uint32_t len) {
  if (len <= r->cap) {
    if (len > r->len)
      r->len = len;
    return 0;
  }
  double *sum = heed__realloc(r->sum, (size_t)len * sizeof *sum);
  if (!sum)
    return HEED_ENOMEM;
  r->sum = sum;
  uint32_t *n = heed__realloc(r->n, (size_t)len * sizeof *n);
  if (!n)
    return HEED_ENOMEM;
  r->n = n;
  for (uint32_t i = r->cap; i < len; i++) {
    r->sum[i] = 0;
    r->n[i] = 0;
  }
  r->cap = r->len = len;
  return 0;
}

/* The row of sender k in layer l, new when absent; NULL: out of memory. */
static heed__ta_row *row_of(heed__ta_matrix *m, uint32_t l, uint32_t k) {
  int isnew;
  uint64_t *slot = heed__ta_map_get(&m->layer[l].slot, k, 0, m->layer[l].n,
                                    &isnew);
  if (!slot)
    return NULL;
  if (!isnew)
    return &m->layer[l].rows[*slot];
  if (m->layer[l].n == m->layer[l].cap) {
    uint32_t cap = m->layer[l].cap ? 2 * m->layer[l].cap : 16;
    heed__ta_row *rows =
        heed__realloc(m->layer[l].rows, (size_t)cap * sizeof *rows);
    if (!rows)
      return NULL; /* the slot stays, pointing past the rows: harmless,
                      the caller fails the whole analysis */
    m->layer[l].rows = rows;
    m->layer[l].cap = cap;
  }
  heed__ta_row *r = &m->layer[l].rows[m->layer[l].n++];
  memset(r, 0, sizeof *r);
  r->k = k;
  return r;
}

int heed__ta_matrix_add(heed__ta_matrix *m, const heed_trace_rec *r,
                        char *err, size_t errlen) {
  int rv = heed__ta_check(r, ++m->nrec, err, errlen);
  if (rv)
    return rv;
  uint32_t l = r->receiver.layer;
  if (r->kind != HEED_TRACE_BID || r->receiver.role != HEED_ROLE_HUB ||
      r->sender.role != HEED_ROLE_NEURON || r->sender.layer != l || l < 2 ||
      l > HEED__TA_MAX_LAYER || r->sender.index == HEED_TRACE_ALL_NEURONS ||
      !r->count)
    return 0;
  m->bids++;
  if (!r->ncoef || !r->coef)
    return 0;
  m->with_coef++;
  heed__ta_row *row = row_of(m, l, r->sender.index);
  if (!row || row_fit(row, r->ncoef)) {
    snprintf(err, errlen, "out of memory at record %" PRIu64, m->nrec);
    return HEED_ENOMEM;
  }
  row->batches++;
  for (uint32_t i = 0; i < r->ncoef; i++) {
    row->sum[i] += fabs((double)r->coef[i]) * r->mean_abs;
    row->n[i]++;
  }
  return 0;
}

static int cmp_row(const void *a, const void *b) {
  const heed__ta_row *x = a, *y = b;
  return x->k < y->k ? -1 : x->k > y->k;
}

void heed__ta_matrix_finish(heed__ta_matrix *m) {
  for (uint32_t l = 0; l <= HEED__TA_MAX_LAYER; l++)
    if (m->layer[l].n)
      qsort(m->layer[l].rows, m->layer[l].n, sizeof *m->layer[l].rows,
            cmp_row);
}
