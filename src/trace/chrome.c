/*
 * chrome.c - the Chrome trace-event export of trace records (analysis.h):
 * slices per layer, kind and batch (the default, a file a viewer opens at
 * any network size) or per message (tracks per actor or per runtime loop),
 * flow arrows from sender to receiver, and counter tracks. Records come
 * from outside: each is checked (heed__ta_check) before it is kept, and
 * tables are keyed by what the records hold, never sized by it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "heed/error.h"
#include "trace/analysis.h"
#include "trace/internal.h"

typedef struct ev {
  uint64_t t, dur, batch;
  uint32_t kind, fanout, count, proc, loop;
  heed_trace_who from, to;
  double mean_abs, mean, min, max; /* a METRIC's loss and accuracy in
                                      mean and mean_abs */
} ev;

/* One loop's mailboxes at one moment (a LOOPS record holds one per loop). */
typedef struct loop_sample {
  uint64_t t, queued, longest;
  uint32_t proc, loop;
} loop_sample;

struct heed__ta_chrome {
  ev *e;
  size_t n, cap;
  loop_sample *ls;
  size_t nls, capls;
  uint64_t nrec;
  int tracks; /* HEED__TA_TRACKS_* */
  int header;
  uint64_t run, start_unix;
  double sample;
  uint32_t procs;
  char config[HEED_TRACE_MAX_CONFIG + 1];
};

void heed__ta_chrome_tracks(heed__ta_chrome *c, int tracks) {
  c->tracks = tracks;
}

int heed__ta_chrome_new(heed__ta_chrome **cp) {
  *cp = heed__calloc(1, sizeof **cp);
  return *cp ? 0 : HEED_ENOMEM;
}

void heed__ta_chrome_free(heed__ta_chrome *c) {
  if (!c)
    return;
  heed__free(c->e);
  heed__free(c->ls);
  heed__free(c);
}

/* Room for one more element of size sz in *p (holding n of cap). */
static int grow(void **p, size_t n, size_t *cap, size_t sz) {
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? 2 * *cap : 256;
  void *q = heed__realloc(*p, ncap * sz);
  if (!q)
    return HEED_ENOMEM;
  *p = q;
  *cap = ncap;
  return 0;
}

static int add_loops(heed__ta_chrome *c, const heed_trace_rec *r) {
  uint32_t n = r->nloops < HEED__TRACE_MAX_LOOPS ? r->nloops
                                                 : HEED__TRACE_MAX_LOOPS;
  for (uint32_t i = 0; i < n && r->loops; i++) {
    if (grow((void **)&c->ls, c->nls, &c->capls, sizeof *c->ls))
      return HEED_ENOMEM;
    c->ls[c->nls++] = (loop_sample){r->t_ns, r->loops[i][2], r->loops[i][3],
                                    r->proc, i};
  }
  return 0;
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
  if (r->kind == HEED_TRACE_LOOPS) {
    if (add_loops(c, r) == 0)
      return 0;
    snprintf(err, errlen, "out of memory at record %" PRIu64, c->nrec);
    return HEED_ENOMEM;
  }
  if (r->kind == HEED_TRACE_DROPS || r->kind == HEED_TRACE_MARK)
    return 0;
  if (grow((void **)&c->e, c->n, &c->cap, sizeof *c->e)) {
    snprintf(err, errlen, "out of memory at record %" PRIu64, c->nrec);
    return HEED_ENOMEM;
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

/* A JSON value for a double with prec significant digits: a number when
 * finite, else a string (JSON has no NaN or infinity). */
static void json_num_p(FILE *f, double x, int prec) {
  if (isfinite(x))
    fprintf(f, "%.*g", prec, x);
  else
    fprintf(f, "\"%s\"", isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

static void json_num(FILE *f, double x) { json_num_p(f, x, 6); }

typedef struct chrome_out {
  FILE *f;
  /* (process, actor) -> track; (actor, batch) -> event (an actor lives
   * in one process, so a sender is found whichever process it is in) */
  heed__ta_map tids, last;
  uint64_t ntid, flows, counters, slices;
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

/* Names a new track and places it (sort_index). */
static void track_meta(chrome_out *o, uint32_t proc, uint64_t tid,
                       const char *name, uint64_t order) {
  group(o, proc);
  fprintf(o->f,
          ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRIu32
          ",\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"name\":",
          proc + 1, tid);
  json_str(o->f, name);
  fprintf(o->f,
          "}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%"
          PRIu32 ",\"tid\":%" PRIu64 ",\"ts\":0,\"args\":{\"sort_index\":%"
          PRIu64 "}}",
          proc + 1, tid, order);
}

/* Tracks sort by layer, then role (the layer's neurons, then its hub). */
static uint64_t track_order(const heed_trace_who *w, uint32_t index) {
  return (uint64_t)w->layer * 4000000000ull +
         (w->role == HEED_ROLE_HUB ? 3999999999ull : index);
}

/* The track of the actor w of process proc, named and sorted by layer
 * when new; NULL when out of memory. */
static uint64_t *track(chrome_out *o, uint32_t proc,
                       const heed_trace_who *w) {
  int isnew;
  uint64_t *tid =
      heed__ta_map_get(&o->tids, who_key(w), proc, o->ntid + 1, &isnew);
  if (!tid || !isnew)
    return tid;
  char a[48];
  o->ntid++;
  track_meta(o, proc, *tid, heed__ta_who_str(w, a, sizeof a),
             track_order(w, w->index));
  return tid;
}

/* The track of e: its receiving actor's, or with by_loop its loop's. */
static uint64_t *track_of(chrome_out *o, const ev *e) {
  if (!o->by_loop)
    return track(o, e->proc, &e->to);
  int isnew;
  uint64_t *tid = heed__ta_map_get(&o->tids, (uint64_t)1 << 48 | e->loop,
                                   e->proc, o->ntid + 1, &isnew);
  if (!tid || !isnew)
    return tid;
  o->ntid++;
  char name[32];
  snprintf(name, sizeof name, "loop %" PRIu32, e->loop);
  track_meta(o, e->proc, *tid, name, e->loop);
  return tid;
}

/* A flow arrow from (pid, tid) at ts to (pid2, tid2) at ts2. */
static void arrow(chrome_out *o, double ts, uint32_t pid, uint64_t tid,
                  double ts2, uint32_t pid2, uint64_t tid2) {
  o->flows++;
  fprintf(o->f,
          ",\n{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"s\","
          "\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":%" PRIu32 ",\"tid\":%"
          PRIu64 "},\n{\"name\":\"message\",\"cat\":\"flow\",\"ph\":"
          "\"f\",\"bp\":\"e\",\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":%"
          PRIu32 ",\"tid\":%" PRIu64 "}",
          o->flows, ts, pid, tid, o->flows, ts2, pid2, tid2);
}

/* A flow arrow from the sender's handling of this batch (the last one
 * that started before e) to e. */
static void flow(chrome_out *o, const ev *all, const ev *e, uint64_t tid) {
  heed_trace_who from = e->from;
  if (from.role == HEED_ROLE_HUB)
    from.index = 0;
  if (e->kind == HEED_TRACE_CONTROL || from.role == HEED_ROLE_DRIVER)
    return;
  size_t at = 0;
  uint64_t *src_i = heed__ta_map_find(&o->last, who_key(&from), e->batch, &at);
  if (!src_i)
    return;
  const ev *s = &all[*src_i];
  uint64_t *src_tid =
      o->by_loop
          ? heed__ta_map_find(&o->tids, (uint64_t)1 << 48 | s->loop, s->proc,
                              &at)
          : heed__ta_map_find(&o->tids, who_key(&from), s->proc, &at);
  if (!src_tid)
    return;
  arrow(o, (double)(s->t + s->dur / 2) / 1e3, s->proc + 1, *src_tid,
        (double)e->t / 1e3, e->proc + 1, tid);
}

/* A counter track sample (Perfetto draws one track per name and process). */
static void counter(chrome_out *o, uint32_t proc, const char *name,
                    uint64_t t, const char *arg, double v) {
  o->counters++;
  group(o, proc);
  fprintf(o->f, ",\n{\"name\":\"%s\",\"ph\":\"C\",\"ts\":%.3f,"
          "\"pid\":%" PRIu32 ",\"tid\":0,\"args\":{\"%s\":",
          name, (double)t / 1e3, proc + 1, arg);
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
  counter(o, 0, name, o->att[l].t, "mean |beta|",
          o->att[l].sum / o->att[l].n);
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

/* A METRIC record: the loss and accuracy counters. */
static void metric(chrome_out *o, const ev *e) {
  counter(o, 0, "loss", e->t, "loss", e->mean);
  counter(o, 0, "accuracy", e->t, "accuracy", e->mean_abs);
}

/* ---- a slice per message (tracks per actor or per loop) ---- */

static int slice(chrome_out *o, const ev *all, size_t i) {
  const ev *e = &all[i];
  if (e->kind == HEED_TRACE_METRIC) {
    metric(o, e);
    return 0;
  }
  uint64_t *tid = track_of(o, e);
  if (!tid)
    return HEED_ENOMEM;
  uint64_t t = *tid;
  char b[48], d[48];
  const char *kind = heed_trace_kind_name(e->kind);
  o->slices++;
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
  uint64_t *last =
      heed__ta_map_get(&o->last, who_key(&e->to), e->batch, i, &isnew);
  if (!last)
    return HEED_ENOMEM;
  *last = i;
  return 0;
}

static int write_messages(chrome_out *o, const heed__ta_chrome *c) {
  int rv = 0;
  for (size_t i = 0; i < c->n && !rv && !ferror(o->f); i++)
    rv = slice(o, c->e, i);
  return rv;
}

/* ---- a slice per layer, kind and batch ---- */

/* The messages of one kind and batch that one layer of receivers (its
 * neurons, its hub, the critic, ...) of one process handled. */
typedef struct grp {
  uint64_t t0, t1, busy, longest, batch;
  heed_trace_who to, from; /* index 0: the layer */
  heed_trace_who slow;     /* who handled the longest message */
  uint32_t proc, kind, n, nvals, count;
  int mixed;               /* senders from more than one layer */
  double sum_abs, mn, mx;  /* over the messages with values */
  uint64_t tid;
  size_t v0, nv;           /* its values in the sorted per-neuron values */
} grp;

/* A message's mean |x| about neuron j of the group g. */
typedef struct nval {
  size_t g;
  uint32_t j;
  double v;
} nval;

typedef struct layers {
  grp *g;
  size_t ng, capg;
  nval *v;
  size_t nv, capv;
  struct start {
    uint64_t t0;
    size_t g;
  } *ord; /* groups by start */
  heed__ta_map key;                 /* (proc, receiver layer, kind), batch */
  heed__ta_map lane_end, lane_tid;  /* (track, lane) */
} layers;

static void layers_free(layers *L) {
  heed__free(L->g);
  heed__free(L->v);
  heed__free(L->ord);
  heed__ta_map_free(&L->key);
  heed__ta_map_free(&L->lane_end);
  heed__ta_map_free(&L->lane_tid);
}

/* The layer of an end: index 0 (a hub's is already). */
static heed_trace_who layer_of(heed_trace_who w) {
  w.index = 0;
  return w;
}

static uint64_t track_key(uint32_t proc, const heed_trace_who *to) {
  return (uint64_t)proc << 48 | who_key(to);
}

/* Which neuron a message's values are about: the neuron it went to (a
 * bid's beta), or the neuron that sent it to its hub (a row, a g); -1 for
 * the others (blocks, labels: no values). */
static int64_t about(const ev *e) {
  if (e->to.role == HEED_ROLE_NEURON && e->to.index != HEED_TRACE_ALL_NEURONS)
    return e->to.index;
  if (e->to.role == HEED_ROLE_HUB && e->from.role == HEED_ROLE_NEURON &&
      e->from.index != HEED_TRACE_ALL_NEURONS)
    return e->from.index;
  return -1;
}

static int group_add(layers *L, const ev *e) {
  heed_trace_who to = layer_of(e->to), from = layer_of(e->from);
  int isnew;
  uint64_t *gi = heed__ta_map_get(
      &L->key, track_key(e->proc, &to) | (uint64_t)e->kind << 56, e->batch,
      L->ng, &isnew);
  if (!gi)
    return HEED_ENOMEM;
  if (isnew) {
    if (grow((void **)&L->g, L->ng, &L->capg, sizeof *L->g))
      return HEED_ENOMEM;
    L->g[L->ng++] = (grp){.t0 = e->t, .t1 = e->t, .batch = e->batch,
                          .to = to, .from = from, .slow = e->to,
                          .proc = e->proc, .kind = e->kind,
                          .mn = INFINITY, .mx = -INFINITY};
  }
  grp *g = &L->g[*gi];
  g->t0 = e->t < g->t0 ? e->t : g->t0;
  g->t1 = e->t + e->dur > g->t1 ? e->t + e->dur : g->t1;
  g->busy += e->dur;
  g->n++;
  g->mixed |= who_key(&from) != who_key(&g->from);
  if (e->dur > g->longest || g->n == 1) {
    g->longest = e->dur;
    g->slow = e->to;
  }
  if (!e->count)
    return 0;
  if (!g->nvals++)
    g->count = e->count;
  g->sum_abs += e->mean_abs;
  g->mn = e->min < g->mn ? e->min : g->mn;
  g->mx = e->max > g->mx ? e->max : g->mx;
  int64_t j = about(e);
  if (j < 0)
    return 0;
  if (grow((void **)&L->v, L->nv, &L->capv, sizeof *L->v))
    return HEED_ENOMEM;
  L->v[L->nv++] = (nval){*gi, (uint32_t)j, e->mean_abs};
  return 0;
}

static int cmp_nval(const void *a, const void *b) {
  const nval *x = a, *y = b;
  if (x->g != y->g)
    return x->g < y->g ? -1 : 1;
  return x->j < y->j ? -1 : x->j > y->j;
}

static int cmp_start(const void *a, const void *b) {
  const struct start *x = a, *y = b;
  if (x->t0 != y->t0)
    return x->t0 < y->t0 ? -1 : 1;
  return x->g < y->g ? -1 : x->g > y->g;
}

/* Groups the messages; sorts the groups by start and their values by
 * group and neuron. */
static int group_all(chrome_out *o, const heed__ta_chrome *c, layers *L) {
  for (size_t i = 0; i < c->n; i++) {
    const ev *e = &c->e[i];
    if (e->kind == HEED_TRACE_METRIC) {
      metric(o, e);
      continue;
    }
    att_add_ev(o, e);
    if (group_add(L, e))
      return HEED_ENOMEM;
  }
  if (L->nv)
    qsort(L->v, L->nv, sizeof *L->v, cmp_nval);
  for (size_t k = 0; k < L->nv; k++) {
    grp *g = &L->g[L->v[k].g];
    if (!g->nv++)
      g->v0 = k;
  }
  L->ord = heed__malloc((L->ng ? L->ng : 1) * sizeof *L->ord);
  if (!L->ord)
    return HEED_ENOMEM;
  for (size_t k = 0; k < L->ng; k++)
    L->ord[k] = (struct start){L->g[k].t0, k};
  if (L->ng)
    qsort(L->ord, L->ng, sizeof *L->ord, cmp_start);
  return 0;
}

/* At most this many lanes per layer: batches in flight together (heed
 * keeps two); beyond it (records no run writes) slices may overlap. */
#define MAX_LANES 64

/* A lane of g's layer free from g's start (a new one when none is), its
 * track in g->tid. */
static int lane(chrome_out *o, layers *L, grp *g) {
  uint64_t tk = track_key(g->proc, &g->to), best = UINT64_MAX;
  uint32_t pick = MAX_LANES;
  size_t at = 0;
  for (uint32_t k = 0; k < MAX_LANES; k++) {
    uint64_t *end = heed__ta_map_find(&L->lane_end, tk, k, &at);
    if (!end || *end <= g->t0) {
      pick = k;
      break;
    }
    if (*end < best) { /* all busy: the one free soonest */
      best = *end;
      pick = k;
    }
  }
  int isnew;
  uint64_t *end = heed__ta_map_get(&L->lane_end, tk, pick, 0, &isnew);
  if (!end)
    return HEED_ENOMEM;
  *end = g->t1 > *end ? g->t1 : *end;
  uint64_t *tid = heed__ta_map_get(&L->lane_tid, tk, pick, o->ntid + 1, &isnew);
  if (!tid)
    return HEED_ENOMEM;
  g->tid = *tid;
  if (!isnew)
    return 0;
  o->ntid++;
  char a[48], name[64];
  heed_trace_who w = g->to;
  if (w.role == HEED_ROLE_NEURON)
    w.index = HEED_TRACE_ALL_NEURONS; /* "neurons L1" */
  heed__ta_who_str(&w, a, sizeof a);
  if (pick)
    snprintf(name, sizeof name, "%s (%" PRIu32 ")", a, pick + 1);
  else
    snprintf(name, sizeof name, "%s", a);
  track_meta(o, g->proc, g->tid, name, track_order(&g->to, pick));
  return 0;
}

/* Each neuron's mean |x|: an array when the neurons are 0..n-1, else an
 * object by index; a neuron with several messages (records no run
 * writes) gets their mean. */
static void by_neuron(chrome_out *o, const layers *L, const grp *g) {
  const nval *v = &L->v[g->v0];
  int dense = 1;
  for (size_t k = 0; k < g->nv && dense; k++)
    dense = v[k].j == k;
  fputs(dense ? ",\"mean_abs_by_neuron\":[" : ",\"mean_abs_by_neuron\":{",
        o->f);
  for (size_t k = 0; k < g->nv;) {
    size_t m = k;
    double s = 0;
    for (; m < g->nv && v[m].j == v[k].j; m++)
      s += v[m].v;
    if (k)
      fputc(',', o->f);
    if (!dense)
      fprintf(o->f, "\"%" PRIu32 "\":", v[k].j);
    json_num_p(o->f, s / (double)(m - k), 4);
    k = m;
  }
  fputc(dense ? ']' : '}', o->f);
}

static void group_slice(chrome_out *o, const layers *L, const grp *g) {
  char a[48], b[48];
  const char *kind = heed_trace_kind_name(g->kind);
  heed_trace_who from = g->from;
  if (from.role == HEED_ROLE_NEURON)
    from.index = HEED_TRACE_ALL_NEURONS;
  o->slices++;
  fprintf(o->f,
          ",\n{\"name\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
          "\"pid\":%" PRIu32 ",\"tid\":%" PRIu64 ",\"args\":{\"batch\":%"
          PRIu64 ",\"from\":\"%s\",\"messages\":%" PRIu32 ",\"busy_us\":",
          kind, (double)g->t0 / 1e3, (double)(g->t1 - g->t0) / 1e3,
          g->proc + 1, g->tid, g->batch,
          g->mixed ? "several layers" : heed__ta_who_str(&from, a, sizeof a),
          g->n);
  json_num_p(o->f, (double)g->busy / 1e3, 4);
  fprintf(o->f, ",\"longest_us\":");
  json_num_p(o->f, (double)g->longest / 1e3, 4);
  fprintf(o->f, ",\"longest\":\"%s\"", heed__ta_who_str(&g->slow, b, sizeof b));
  if (g->nvals) {
    fprintf(o->f, ",\"n\":%" PRIu32 ",\"mean_abs\":", g->count);
    json_num(o->f, g->sum_abs / g->nvals);
    fprintf(o->f, ",\"min\":");
    json_num(o->f, g->mn);
    fprintf(o->f, ",\"max\":");
    json_num(o->f, g->mx);
  }
  if (g->nv)
    by_neuron(o, L, g);
  fputs("}}", o->f);
}

/* An arrow from the sending layer's slice of this batch (the last one
 * that started before g) to g. */
static void group_flow(chrome_out *o, const layers *L, const grp *g) {
  if (g->kind == HEED_TRACE_CONTROL || g->from.role == HEED_ROLE_DRIVER ||
      g->mixed)
    return;
  size_t at = 0;
  uint64_t *si = heed__ta_map_find(&o->last, who_key(&g->from), g->batch, &at);
  if (!si)
    return;
  const grp *s = &L->g[*si];
  uint64_t until = g->t0 < s->t0 ? s->t0 : g->t0 > s->t1 ? s->t1 : g->t0;
  arrow(o, (double)(s->t0 + (until - s->t0) / 2) / 1e3, s->proc + 1, s->tid,
        (double)g->t0 / 1e3, g->proc + 1, g->tid);
}

static int write_layers(chrome_out *o, const heed__ta_chrome *c) {
  layers L = {0};
  int rv = group_all(o, c, &L);
  for (size_t k = 0; k < L.ng && !rv && !ferror(o->f); k++) {
    size_t gi = L.ord[k].g;
    grp *g = &L.g[gi];
    if ((rv = lane(o, &L, g)) != 0)
      break;
    group_slice(o, &L, g);
    group_flow(o, &L, g);
    int isnew;
    uint64_t *last =
        heed__ta_map_get(&o->last, who_key(&g->to), g->batch, gi, &isnew);
    if (!last)
      rv = HEED_ENOMEM;
    else
      *last = gi;
  }
  layers_free(&L);
  return rv;
}

/* ---- the whole file ---- */

/* Mailbox depth per loop: the samples within the time the exported
 * messages span, and each loop's first one after it (its longest mailbox
 * covers the time since the one before); all of them when no message is
 * exported. */
static int loop_counters(chrome_out *o, const heed__ta_chrome *c) {
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->e[i].kind != HEED_TRACE_METRIC) {
      lo = c->e[i].t < lo ? c->e[i].t : lo;
      hi = c->e[i].t + c->e[i].dur > hi ? c->e[i].t + c->e[i].dur : hi;
    }
  uint8_t(*after)[HEED__TRACE_MAX_LOOPS] =
      heed__calloc(HEED__TA_MAX_PROCS, sizeof *after);
  if (!after)
    return HEED_ENOMEM;
  for (size_t i = 0; i < c->nls && !ferror(o->f); i++) {
    const loop_sample *s = &c->ls[i];
    if (lo <= hi && s->t < lo)
      continue;
    if (lo <= hi && s->t > hi) {
      if (after[s->proc][s->loop])
        continue;
      after[s->proc][s->loop] = 1;
    }
    char name[48];
    snprintf(name, sizeof name, "loop %" PRIu32 " queued", s->loop);
    counter(o, s->proc, name, s->t, "messages", (double)s->queued);
    snprintf(name, sizeof name, "loop %" PRIu32 " longest mailbox", s->loop);
    counter(o, s->proc, name, s->t, "messages", (double)s->longest);
  }
  heed__free(after);
  return 0;
}

static const char *tracks_name(int tracks) {
  return tracks == HEED__TA_TRACKS_LOOP    ? "loop"
         : tracks == HEED__TA_TRACKS_ACTOR ? "actor"
                                           : "layer";
}

int heed__ta_chrome_write(heed__ta_chrome *c, FILE *f,
                          heed__ta_chrome_info *info) {
  if (info)
    memset(info, 0, sizeof *info);
  if (c->n)
    qsort(c->e, c->n, sizeof *c->e, cmp_ev);
  chrome_out o = {.f = f, .by_loop = c->tracks == HEED__TA_TRACKS_LOOP};
  fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
        "\"ts\":0,\"args\":{\"name\":\"heed\"}}",
        f);
  o.named[0] = 1; /* process 0 (or the only one): always there */
  o.procs = 1;
  int rv = c->tracks == HEED__TA_TRACKS_LAYER ? write_layers(&o, c)
                                              : write_messages(&o, c);
  for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER && !rv; l++)
    att_counter(&o, l);
  if (!rv)
    rv = loop_counters(&o, c);
  /* the run's header, for whoever opens the file */
  fprintf(f, "\n],\"metadata\":{\"heed-trace-version\":%d", 1);
  if (c->header) {
    fprintf(f, ",\"run\":%" PRIu64 ",\"start_unix_ns\":%" PRIu64
            ",\"sample\":", c->run, c->start_unix);
    json_num(f, c->sample);
    fprintf(f, ",\"processes\":%" PRIu32 ",\"config\":",
            c->procs ? c->procs : 1);
    json_str(f, c->config);
  }
  fprintf(f, ",\"tracks\":\"%s\"}}\n", tracks_name(c->tracks));
  if (info)
    *info = (heed__ta_chrome_info){c->n,     o.slices, o.ntid,
                                   o.flows,  o.procs,  o.counters};
  heed__ta_map_free(&o.tids);
  heed__ta_map_free(&o.last);
  return rv ? rv : ferror(f) ? HEED_EIO : 0;
}
