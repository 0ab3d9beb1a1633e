/*
 * serve.c - the observer: a web page that watches a run while it goes
 * (heed_trace_server, heed/trace.h). Records come in decoded (a file or a
 * live stream read by heed-trace serve) or encoded (a tracer's sink, in
 * the training process itself); each is folded into a summary kept in
 * fixed time buckets, and nng's HTTP server hands out the page (page.html,
 * built into the library) and the summary as JSON (/state.json), which
 * the page polls.
 *
 * Memory stays bounded whatever the records say: NBUCK buckets (when a
 * record falls past the last one, pairs of buckets merge and each covers
 * twice the time), attention for layers 1..MAXL and neuron indices below
 * MAXN, loops below MAXLOOPS; anything else is counted, not kept.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "common/alloc.h"
#include "heed/trace.h"
#include "trace/analysis.h"
#include "trace/page.h"

#define NBUCK 240
#define MAXL 16
#define MAXN 1024
#define MAXLOOPS 16
#define NKIND 9
#define MAXMARKS 64
#define TOPN 32 /* neurons per layer in the heat map */

typedef struct bucket {
  uint64_t msgs[NKIND];
  uint64_t loop_msgs[MAXLOOPS], loop_busy[MAXLOOPS];
  /* from LOOPS records (the runtime's own counts, process 0): */
  float loop_turns[MAXLOOPS];             /* turns per second, most seen */
  uint32_t loop_queued[MAXLOOPS], loop_peak[MAXLOOPS]; /* most seen */
  uint32_t loop_samples;                  /* LOOPS records in it */
  double loss, acc;
  uint32_t nmet;
  uint64_t step, dropped; /* the last step, the drops so far */
  uint32_t control;
} bucket;

typedef struct att_layer {
  float sum[NBUCK][MAXN];
  uint32_t cnt[NBUCK][MAXN];
  double tot[MAXN];
  uint64_t totn[MAXN];
  uint32_t nj; /* highest neuron index seen + 1 */
} att_layer;

struct heed_trace_server {
  /* Set (release) once the server is built, read (acquire) by handlers:
   * nng hands the server to its threads through its own atomics, which
   * ThreadSanitizer does not see in the uninstrumented library; this
   * makes the hand-over explicit. */
  atomic_int ready;
  pthread_mutex_t mu;
  nng_http_server *srv;
  char url[128];
  heed_trace_reader *rd; /* the sink's */
  char source[256];
  int live, done, header;
  uint64_t run, start_unix;
  double sample;
  uint32_t kinds, procs, nloops, rt_loops; /* rt_loops: in LOOPS records */
  uint64_t turns_last[MAXLOOPS], loops_t; /* the last LOOPS record's */
  char config[HEED_TRACE_MAX_CONFIG + 1];
  uint64_t nrec, events, metrics, bad, by_kind[NKIND];
  uint64_t proc_dropped[HEED__TA_MAX_PROCS], proc_recorded[HEED__TA_MAX_PROCS];
  uint64_t dropped, recorded, shed;
  uint64_t step;
  double loss, acc;
  uint64_t width; /* ns per bucket */
  uint32_t nb;    /* buckets in use */
  uint64_t t_end;
  struct {
    double t_ms;
    uint64_t step;
    uint32_t value;
    char name[33];
  } marks[MAXMARKS];
  uint32_t nmarks;
  bucket b[NBUCK];
  att_layer *att[MAXL + 1];
  char *json; /* the last state, built under mu */
  size_t jlen, jcap;
};

/* ---- folding records in ---- */

static int kind_ix(uint32_t k) {
  for (int i = 0; i < NKIND; i++)
    if (k == 1u << i)
      return i;
  return -1;
}

/* Halves the resolution: bucket i takes buckets 2i and 2i+1. */
static void merge(heed_trace_server *s) {
  for (uint32_t i = 0; i < NBUCK / 2; i++) {
    bucket *d = &s->b[i], *a = &s->b[2 * i], *c = &s->b[2 * i + 1];
    bucket m = *a;
    for (int k = 0; k < NKIND; k++)
      m.msgs[k] += c->msgs[k];
    for (int k = 0; k < MAXLOOPS; k++) {
      m.loop_msgs[k] += c->loop_msgs[k];
      m.loop_busy[k] += c->loop_busy[k];
      if (c->loop_turns[k] > m.loop_turns[k])
        m.loop_turns[k] = c->loop_turns[k];
      if (c->loop_queued[k] > m.loop_queued[k])
        m.loop_queued[k] = c->loop_queued[k];
      if (c->loop_peak[k] > m.loop_peak[k])
        m.loop_peak[k] = c->loop_peak[k];
    }
    m.loss += c->loss;
    m.acc += c->acc;
    m.nmet += c->nmet;
    m.step = c->step > m.step ? c->step : m.step;
    m.dropped = c->dropped > m.dropped ? c->dropped : m.dropped;
    m.control += c->control;
    m.loop_samples += c->loop_samples;
    *d = m;
  }
  memset(&s->b[NBUCK / 2], 0, sizeof(bucket) * (NBUCK / 2));
  for (int l = 1; l <= MAXL; l++) {
    att_layer *a = s->att[l];
    if (!a)
      continue;
    for (uint32_t i = 0; i < NBUCK / 2; i++)
      for (uint32_t j = 0; j < a->nj; j++) {
        a->sum[i][j] = a->sum[2 * i][j] + a->sum[2 * i + 1][j];
        a->cnt[i][j] = a->cnt[2 * i][j] + a->cnt[2 * i + 1][j];
      }
    memset(a->sum[NBUCK / 2], 0, sizeof a->sum[0] * (NBUCK / 2));
    memset(a->cnt[NBUCK / 2], 0, sizeof a->cnt[0] * (NBUCK / 2));
  }
  s->width *= 2;
  s->nb = (s->nb + 1) / 2;
}

static uint32_t bucket_of(heed_trace_server *s, uint64_t t) {
  while (t / s->width >= NBUCK)
    merge(s);
  uint32_t i = (uint32_t)(t / s->width);
  if (i + 1 > s->nb) {
    /* buckets with no record carry the last step and drop count on */
    for (uint32_t k = s->nb; k <= i; k++)
      if (k) {
        s->b[k].dropped = s->b[k - 1].dropped;
        s->b[k].step = s->b[k - 1].step;
      }
    s->nb = i + 1;
  }
  if (t > s->t_end)
    s->t_end = t;
  return i;
}

static void add_header(heed_trace_server *s, const heed_trace_rec *r) {
  s->header = 1;
  s->run = r->run;
  s->start_unix = r->start_unix_ns;
  s->sample = r->sample;
  s->kinds = r->kinds;
  s->procs = r->procs;
  snprintf(s->config, sizeof s->config, "%s", r->config ? r->config : "");
}

static void add_drops(heed_trace_server *s, const heed_trace_rec *r,
                      bucket *b) {
  s->dropped += r->dropped - s->proc_dropped[r->proc];
  s->recorded += r->recorded - s->proc_recorded[r->proc];
  s->proc_dropped[r->proc] = r->dropped;
  s->proc_recorded[r->proc] = r->recorded;
  if (r->proc == 0 && r->shed > s->shed)
    s->shed = r->shed;
  b->dropped = s->dropped;
  if (r->end && r->proc == 0)
    s->done = 1; /* process 0's tracer closed: the run is over */
}

static void add_attention(heed_trace_server *s, const heed_trace_rec *r,
                          uint32_t bi) {
  uint32_t l = r->receiver.layer, j = r->receiver.index;
  if (r->kind != HEED_TRACE_BID || r->receiver.role != HEED_ROLE_NEURON ||
      l < 1 || l > MAXL || j >= MAXN || !r->count || !isfinite(r->mean_abs))
    return;
  if (!s->att[l] && !(s->att[l] = heed__calloc(1, sizeof(att_layer))))
    return; /* out of memory: the rest of the page still works */
  att_layer *a = s->att[l];
  a->sum[bi][j] += (float)r->mean_abs;
  a->cnt[bi][j]++;
  a->tot[j] += r->mean_abs;
  a->totn[j]++;
  if (j + 1 > a->nj)
    a->nj = j + 1;
}

/* The runtime's own counts: turns since the last record, mailboxes. */
static void add_loops(heed_trace_server *s, const heed_trace_rec *r,
                      bucket *b) {
  uint32_t n = r->nloops < MAXLOOPS ? r->nloops : MAXLOOPS;
  double dt = r->t_ns > s->loops_t ? (r->t_ns - s->loops_t) / 1e9 : 0;
  s->loops_t = r->t_ns;
  b->loop_samples++;
  for (uint32_t i = 0; i < n && r->loops; i++) {
    uint64_t turns = r->loops[i][1];
    if (turns >= s->turns_last[i] && dt > 0) {
      float rate = (float)((turns - s->turns_last[i]) / dt);
      if (rate > b->loop_turns[i])
        b->loop_turns[i] = rate;
    }
    s->turns_last[i] = turns;
    uint32_t q = r->loops[i][2] > UINT32_MAX ? UINT32_MAX
                                               : (uint32_t)r->loops[i][2];
    uint32_t p = r->loops[i][3] > UINT32_MAX ? UINT32_MAX
                                               : (uint32_t)r->loops[i][3];
    if (q > b->loop_queued[i])
      b->loop_queued[i] = q;
    if (p > b->loop_peak[i])
      b->loop_peak[i] = p;
  }
  if (n > s->rt_loops)
    s->rt_loops = n;
}

static void add_rec(heed_trace_server *s, const heed_trace_rec *r) {
  char err[160];
  s->nrec++;
  if (r->kind == 0) {
    add_header(s, r);
    return;
  }
  if (heed__ta_check(r, s->nrec, err, sizeof err) != 0) {
    s->bad++;
    return;
  }
  int k = kind_ix(r->kind);
  if (k < 0) { /* a reader never gives one; a caller of _add might */
    s->bad++;
    return;
  }
  bucket *b = &s->b[bucket_of(s, r->t_ns)];
  s->by_kind[k]++;
  if (r->kind == HEED_TRACE_DROPS) {
    add_drops(s, r, b);
    return;
  }
  if (r->kind == HEED_TRACE_LOOPS) {
    if (r->proc == 0)
      add_loops(s, r, b);
    return;
  }
  if (r->kind == HEED_TRACE_MARK) {
    if (s->nmarks < MAXMARKS) {
      s->marks[s->nmarks].t_ms = r->t_ns / 1e6;
      s->marks[s->nmarks].step = r->batch;
      s->marks[s->nmarks].value = r->value;
      snprintf(s->marks[s->nmarks].name, sizeof s->marks[0].name, "%s",
               r->mark ? r->mark : "");
      s->nmarks++;
    }
    return;
  }
  if (r->kind == HEED_TRACE_METRIC) {
    s->metrics++;
    s->step = r->batch;
    s->loss = r->loss;
    s->acc = r->acc;
    if (isfinite(r->loss) && isfinite(r->acc)) {
      b->loss += r->loss;
      b->acc += r->acc;
      b->nmet++;
    }
    b->step = r->batch;
    return;
  }
  s->events++;
  b->msgs[k]++;
  if (r->kind == HEED_TRACE_CONTROL)
    b->control++;
  if (r->loop < MAXLOOPS && r->proc == 0) {
    b->loop_msgs[r->loop]++;
    b->loop_busy[r->loop] += r->dur_ns;
    if (r->loop + 1 > s->nloops)
      s->nloops = r->loop + 1;
  }
  add_attention(s, r, (uint32_t)(b - s->b));
}

void heed_trace_server_add(heed_trace_server *s, const heed_trace_rec *r) {
  if (!s || !r)
    return;
  pthread_mutex_lock(&s->mu);
  add_rec(s, r);
  pthread_mutex_unlock(&s->mu);
}

void heed_trace_server_watch(void *arg, const heed_trace_rec *rec) {
  heed_trace_server_add(arg, rec);
}

void heed_trace_server_sink(void *arg, const void *rec, size_t len) {
  heed_trace_server *s = arg;
  if (!s || !rec || !len)
    return;
  heed_trace_rec r;
  pthread_mutex_lock(&s->mu);
  if (!s->rd && heed_trace_reader_new(&s->rd) != 0) {
    s->bad++;
  } else if (heed_trace_reader_feed(s->rd, rec, len) != 0) {
    s->bad++;
  } else {
    int rv;
    while ((rv = heed_trace_reader_next(s->rd, &r)) == 1)
      add_rec(s, &r);
    if (rv < 0) { /* a fresh reader, so that one bad record spoils nothing */
      s->bad++;
      heed_trace_reader_free(s->rd);
      s->rd = NULL;
    }
  }
  pthread_mutex_unlock(&s->mu);
}

void heed_trace_server_done(heed_trace_server *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  s->done = 1;
  pthread_mutex_unlock(&s->mu);
}

/* ---- the state as JSON ---- */

static void jput(heed_trace_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void jput(heed_trace_server *s, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->jcap - s->jlen;
    int n = vsnprintf(s->json ? s->json + s->jlen : NULL, s->json ? room : 0,
                      fmt, ap);
    va_end(ap);
    if (n < 0)
      return;
    if ((size_t)n < room) {
      s->jlen += (size_t)n;
      return;
    }
    size_t cap = s->jcap ? s->jcap : 65536;
    while (cap < s->jlen + (size_t)n + 1)
      cap *= 2;
    char *j = heed__realloc(s->json, cap);
    if (!j)
      return; /* the page gets what fits; the server stays up */
    s->json = j;
    s->jcap = cap;
  }
}

/* A number JSON can hold (NaN and infinities are null). */
static void jnum(heed_trace_server *s, double v) {
  if (isfinite(v))
    jput(s, "%.6g", v);
  else
    jput(s, "null");
}

static void jstr(heed_trace_server *s, const char *v) {
  jput(s, "\"");
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    if (*p == '"' || *p == '\\')
      jput(s, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == '&')
      jput(s, "\\u%04x", *p); /* also safe inside the page's HTML */
    else
      jput(s, "%c", *p);
  }
  jput(s, "\"");
}

static void json_head(heed_trace_server *s) {
  jput(s, "{\"source\":");
  jstr(s, s->source);
  jput(s, ",\"live\":%s,\"done\":%s,\"header\":%s,\"run\":%" PRIu64
          ",\"start_unix_ns\":%" PRIu64 ",\"sample\":",
       s->live ? "true" : "false", s->done ? "true" : "false",
       s->header ? "true" : "false", s->run, s->start_unix);
  jnum(s, s->sample);
  jput(s, ",\"procs\":%u,\"config\":", s->procs ? s->procs : 1);
  jstr(s, s->config);
  jput(s, ",\"records\":%" PRIu64 ",\"events\":%" PRIu64
          ",\"metrics\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"dropped\":%" PRIu64
          ",\"recorded\":%" PRIu64 ",\"shed\":%" PRIu64 ",\"step\":%" PRIu64
          ",\"loss_last\":",
       s->nrec, s->events, s->metrics, s->bad, s->dropped, s->recorded,
       s->shed, s->step);
  jnum(s, s->metrics ? s->loss : NAN);
  jput(s, ",\"acc_last\":");
  jnum(s, s->metrics ? s->acc : NAN);
  jput(s, ",\"by_kind\":{");
  for (int k = 0; k < NKIND; k++)
    jput(s, "%s\"%s\":%" PRIu64, k ? "," : "", heed_trace_kind_name(1u << k),
         s->by_kind[k]);
  jput(s, "},\"width_ms\":");
  jnum(s, s->width / 1e6);
  jput(s, ",\"nb\":%u,\"t_end_ms\":", s->nb);
  jnum(s, s->t_end / 1e6);
}

static void json_series(heed_trace_server *s) {
  double w = s->width / 1e9; /* s */
  jput(s, ",\"rate\":{");
  for (int k = 0; k < NKIND; k++) {
    jput(s, "%s\"%s\":[", k ? "," : "", heed_trace_kind_name(1u << k));
    for (uint32_t i = 0; i < s->nb; i++)
      jput(s, "%s%.6g", i ? "," : "", s->b[i].msgs[k] / w);
    jput(s, "]");
  }
  jput(s, "},\"loss\":[");
  for (uint32_t i = 0; i < s->nb; i++) {
    jput(s, i ? "," : "");
    jnum(s, s->b[i].nmet ? s->b[i].loss / s->b[i].nmet : NAN);
  }
  jput(s, "],\"acc\":[");
  for (uint32_t i = 0; i < s->nb; i++) {
    jput(s, i ? "," : "");
    jnum(s, s->b[i].nmet ? s->b[i].acc / s->b[i].nmet : NAN);
  }
  jput(s, "],\"steps\":[");
  for (uint32_t i = 0; i < s->nb; i++)
    jput(s, "%s%" PRIu64, i ? "," : "", s->b[i].step);
  jput(s, "],\"drops\":[");
  for (uint32_t i = 0; i < s->nb; i++)
    jput(s, "%s%" PRIu64, i ? "," : "", s->b[i].dropped);
  jput(s, "],\"control\":[");
  for (uint32_t i = 0; i < s->nb; i++)
    jput(s, "%s%u", i ? "," : "", s->b[i].control);
  jput(s, "],\"loops\":[");
  for (uint32_t l = 0; l < s->nloops; l++) {
    jput(s, "%s{\"rate\":[", l ? "," : "");
    for (uint32_t i = 0; i < s->nb; i++)
      jput(s, "%s%.6g", i ? "," : "", s->b[i].loop_msgs[l] / w);
    jput(s, "],\"busy\":[");
    for (uint32_t i = 0; i < s->nb; i++)
      jput(s, "%s%.4f", i ? "," : "", s->b[i].loop_busy[l] / (double)s->width);
    jput(s, "]}");
  }
  jput(s, "],\"rt_loops\":[");
  /* buckets without a LOOPS record (they come four times a second) are
   * null: the page draws across them */
  for (uint32_t l = 0; l < s->rt_loops; l++) {
    jput(s, "%s{\"turns\":[", l ? "," : "");
    for (uint32_t i = 0; i < s->nb; i++)
      jput(s, s->b[i].loop_samples ? "%s%.6g" : "%snull", i ? "," : "",
           (double)s->b[i].loop_turns[l]);
    jput(s, "],\"queued\":[");
    for (uint32_t i = 0; i < s->nb; i++)
      jput(s, s->b[i].loop_samples ? "%s%u" : "%snull", i ? "," : "",
           s->b[i].loop_queued[l]);
    jput(s, "],\"peak\":[");
    for (uint32_t i = 0; i < s->nb; i++)
      jput(s, s->b[i].loop_samples ? "%s%u" : "%snull", i ? "," : "",
           s->b[i].loop_peak[l]);
    jput(s, "]}");
  }
  jput(s, "],\"marks\":[");
  for (uint32_t i = 0; i < s->nmarks; i++) {
    jput(s, "%s{\"t_ms\":", i ? "," : "");
    jnum(s, s->marks[i].t_ms);
    jput(s, ",\"step\":%" PRIu64 ",\"value\":%u,\"name\":",
         s->marks[i].step, s->marks[i].value);
    jstr(s, s->marks[i].name);
    jput(s, "}");
  }
  jput(s, "]");
}

/* The TOPN most attended neurons of a layer, most first. */
static uint32_t top_neurons(const att_layer *a, uint32_t *top) {
  uint32_t n = 0;
  for (uint32_t j = 0; j < a->nj; j++) {
    if (!a->totn[j])
      continue;
    double v = a->tot[j] / a->totn[j];
    uint32_t k = n < TOPN ? n++ : TOPN;
    if (k == TOPN) {
      const uint32_t last = top[TOPN - 1];
      if (!(v > a->tot[last] / a->totn[last]))
        continue;
      k = TOPN - 1;
    }
    while (k > 0 && v > a->tot[top[k - 1]] / a->totn[top[k - 1]]) {
      top[k] = top[k - 1];
      k--;
    }
    top[k] = j;
  }
  return n;
}

static void json_layers(heed_trace_server *s) {
  jput(s, ",\"layers\":[");
  int first = 1;
  for (uint32_t l = 1; l <= MAXL; l++) {
    const att_layer *a = s->att[l];
    if (!a)
      continue;
    uint32_t top[TOPN], nseen = 0;
    for (uint32_t j = 0; j < a->nj; j++)
      nseen += a->totn[j] != 0;
    uint32_t n = top_neurons(a, top);
    jput(s, "%s{\"layer\":%u,\"neurons\":%u,\"top\":[", first ? "" : ",", l,
         nseen);
    first = 0;
    for (uint32_t k = 0; k < n; k++)
      jput(s, "%s%u", k ? "," : "", top[k]);
    jput(s, "],\"mean\":[");
    for (uint32_t k = 0; k < n; k++) {
      jput(s, k ? "," : "");
      jnum(s, a->tot[top[k]] / a->totn[top[k]]);
    }
    jput(s, "],\"heat\":[");
    for (uint32_t k = 0; k < n; k++) {
      jput(s, "%s[", k ? "," : "");
      for (uint32_t i = 0; i < s->nb; i++) {
        jput(s, i ? "," : "");
        uint32_t c = a->cnt[i][top[k]];
        jnum(s, c ? a->sum[i][top[k]] / c : NAN);
      }
      jput(s, "]");
    }
    jput(s, "]}");
  }
  jput(s, "]}");
}

/* Builds the JSON of the state into s->json (under s->mu). */
static void state_json(heed_trace_server *s) {
  s->jlen = 0;
  json_head(s);
  json_series(s);
  json_layers(s);
}

/* ---- HTTP ---- */

static void reply(nng_aio *aio, const void *data, size_t len,
                  const char *type) {
  nng_http_res *res;
  if (nng_http_res_alloc(&res) != 0) {
    nng_aio_finish(aio, NNG_ENOMEM);
    return;
  }
  nng_http_res_set_header(res, "Content-Type", type);
  nng_http_res_set_header(res, "Cache-Control", "no-store");
  if (nng_http_res_copy_data(res, data, len) != 0) {
    nng_http_res_free(res);
    nng_aio_finish(aio, NNG_ENOMEM);
    return;
  }
  nng_aio_set_output(aio, 0, res);
  nng_aio_finish(aio, 0);
}

static void on_state(nng_aio *aio) {
  nng_http_handler *h = nng_aio_get_input(aio, 1);
  heed_trace_server *s = nng_http_handler_get_data(h);
  if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
    nng_aio_finish(aio, NNG_EAGAIN); /* cannot happen: set before start */
    return;
  }
  pthread_mutex_lock(&s->mu);
  state_json(s);
  reply(aio, s->json ? s->json : "{}", s->json ? s->jlen : 2,
        "application/json");
  pthread_mutex_unlock(&s->mu);
}

static void on_page(nng_aio *aio) {
  reply(aio, heed__trace_page, sizeof heed__trace_page - 1,
        "text/html; charset=utf-8");
}

static int add_handler(heed_trace_server *s, const char *path,
                       void (*fn)(nng_aio *)) {
  nng_http_handler *h;
  int rv = nng_http_handler_alloc(&h, path, fn);
  if (rv)
    return rv;
  if ((rv = nng_http_handler_set_data(h, s, NULL)) != 0 ||
      (rv = nng_http_server_add_handler(s->srv, h)) != 0)
    nng_http_handler_free(h);
  return rv;
}

/* "8080", "127.0.0.1:8080", "http://host:port": the http:// URL. A bare
 * port is on loopback. */
static int make_url(const char *addr, char *out, size_t len) {
  if (strstr(addr, "://"))
    return strncmp(addr, "http://", 7) ? -1
           : snprintf(out, len, "%s", addr) >= (int)len ? -1 : 0;
  if (strspn(addr, "0123456789") == strlen(addr) && *addr)
    return snprintf(out, len, "http://127.0.0.1:%s", addr) >= (int)len ? -1
                                                                        : 0;
  return snprintf(out, len, "http://%s", addr) >= (int)len ? -1 : 0;
}

static int start(heed_trace_server *s, const char *addr, char *err,
                 size_t errlen) {
  char url[160];
  nng_url *u = NULL;
  if (make_url(addr, url, sizeof url) || nng_url_parse(&u, url) != 0) {
    snprintf(err, errlen, "observer: '%.100s' is not an address to serve "
             "on (give HOST:PORT, e.g. 127.0.0.1:8080)", addr);
    return HEED_EINVAL;
  }
  int rv = nng_http_server_hold(&s->srv, u);
  if (!rv && !(rv = add_handler(s, "/", on_page)) &&
      !(rv = add_handler(s, "/state.json", on_state))) {
    atomic_store_explicit(&s->ready, 1, memory_order_release);
    rv = nng_http_server_start(s->srv);
  }
  if (rv) {
    snprintf(err, errlen, "observer: cannot serve on %s: %s", url,
             nng_strerror(rv));
    nng_url_free(u);
    return HEED_EIO;
  }
  nng_sockaddr sa;
  unsigned port = 0;
  if (nng_http_server_get_addr(s->srv, &sa) == 0 && sa.s_family == NNG_AF_INET)
    port = ((sa.s_in.sa_port & 0xff) << 8) | (sa.s_in.sa_port >> 8);
  snprintf(s->url, sizeof s->url, "http://%s:%u/", u->u_hostname,
           port ? port : (unsigned)atoi(u->u_port));
  nng_url_free(u);
  return 0;
}

int heed_trace_server_new(heed_trace_server **sp, const char *addr,
                          const char *source, int live, char *err,
                          size_t errlen) {
  if (errlen)
    err[0] = '\0';
  if (!sp || !addr) {
    snprintf(err, errlen, "observer: no address");
    return HEED_EINVAL;
  }
  *sp = NULL;
  heed_trace_server *s = heed__calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "observer: out of memory");
    return HEED_ENOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->width = 100000000; /* 100 ms; doubles as the run goes on */
  s->live = live != 0;
  snprintf(s->source, sizeof s->source, "%s", source ? source : "");
  int rv = start(s, addr, err, errlen);
  if (rv) {
    heed_trace_server_free(s);
    return rv;
  }
  *sp = s;
  return 0;
}

const char *heed_trace_server_url(const heed_trace_server *s) {
  return s ? s->url : "";
}

void heed_trace_server_free(heed_trace_server *s) {
  if (!s)
    return;
  if (s->srv) {
    nng_http_server_stop(s->srv); /* no handler starts after this */
    nng_http_server_release(s->srv);
  }
  /* A handler already running holds s->mu until it has replied, and its
   * client may see the reply (and have us freed) before it unlocks: wait
   * for it here, or the mutex and the state die under it. */
  pthread_mutex_lock(&s->mu);
  pthread_mutex_unlock(&s->mu);
  for (int l = 0; l <= MAXL; l++)
    heed__free(s->att[l]);
  heed_trace_reader_free(s->rd);
  heed__free(s->json);
  pthread_mutex_destroy(&s->mu);
  heed__free(s);
}
