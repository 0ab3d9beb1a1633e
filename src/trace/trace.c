/*
 * trace.c - the recorder: a bounded lock-free MPSC queue of fixed-size
 * slots (Vyukov's bounded queue: each slot carries a sequence number, a
 * producer claims a position with one compare-and-swap and publishes the
 * slot with one release store), drained by the tracer's own thread, which
 * encodes each event as a msgpack record (docs/trace-format.md) and writes
 * it to a buffered file and/or publishes it on an nng PUB socket and/or
 * hands it to a sink (a worker shipping its records to process 0). Process
 * 0 of a run over several processes also writes the records the others
 * ship (inbox.c), as they arrive.
 *
 * The file is written with write(2) from the tracer's own buffer, so that
 * a failed write (a full disk) is known exactly: the first error stops
 * writing, is kept, and heed_trace_close reports it with the number of
 * bytes that reached the file; the events in it are counted whole.
 *
 * Producers never wait: a full queue (the writer is behind) drops the event
 * and counts it; the count goes into a DROPS record every second while it
 * grows, and once more at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "common/alloc.h"
#include "heed/runtime.h"
#include "heed/trace.h"
#include "trace/internal.h"

/* Events with at most this many values (a batch's row or bid, at the
 * usual batch sizes) leave their summary to the writer: see
 * heed_trace_record. 32 floats make a slot 128 bytes longer. */
#define SUM_LATER 32

typedef struct slot {
  _Atomic size_t seq;
  heed_trace_event ev; /* ev.values unused: the copy follows the slot */
  uint32_t nvals;      /* values copied */
  uint32_t ncoef;      /* coefficients copied, after them */
  int later;           /* vals holds all ev.count values, not summarized yet */
  float min, max;
  double mean, mean_abs;
  const char *name; /* a MARK's */
  float vals[]; /* raw_cap floats */
} slot;

struct heed_trace {
  _Alignas(64) _Atomic size_t head; /* next position to claim */
  _Alignas(64) _Atomic uint64_t dropped;
  _Alignas(64) size_t tail; /* writer's next position */
  _Atomic uint64_t written;
  unsigned char *slots;
  size_t stride, mask;
  uint32_t values_cap; /* values stored per event: 0 or MAX_VALUES */
  uint32_t raw_cap;    /* values a slot holds: at least SUM_LATER */

  uint32_t kinds;
  uint64_t keep_below; /* batch kept when hash >> 11 < keep_below */
  int sample_all, values;
  uint64_t run;
  double sample;
  _Atomic uint64_t start_mono;
  uint64_t start_unix;
  uint32_t proc, procs;
  char *config; /* the header's, or NULL */
  void (*sink)(void *arg, const void *rec, size_t len);
  void *sink_arg;
  void (*watch)(void *arg, const heed_trace_rec *rec);
  void *watch_arg;
  heed_trace_reader *watch_rd; /* other processes' records, for watch */
  heed__trace_inbox inbox;

  int fd; /* the file, or -1 */
  char *path;
  char *fbuf; /* records not yet written to the file */
  size_t flen;
  uint64_t fevents;               /* events among them */
  _Atomic int file_err;           /* first errno of a failed write, or 0 */
  _Atomic uint64_t file_bytes;    /* bytes that reached the file */
  _Atomic uint64_t file_events;   /* events whose records reached it whole */
  nng_socket sock;
  int live;
  unsigned live_level; /* the live stream keeps 2^-level of the batches */
  uint64_t shed;       /* event records the live stream left out */

  pthread_t thread;
  _Atomic int stop;
  pthread_mutex_t rt_mu; /* guards rt and the last stats */
  heed_runtime *rt;
  uint64_t last_st[HEED__TRACE_MAX_LOOPS][4]; /* taken as rt was let go */
  uint32_t last_n;                           /* loops in it, 0: none */

  char *buf; /* one encoded record */
  size_t len, cap;
  msgpack_packer pk;
};

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static slot *slot_at(const heed_trace *t, size_t pos) {
  return (slot *)(t->slots + (pos & t->mask) * t->stride);
}

uint64_t heed__trace_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int heed_trace_wants(const heed_trace *t, uint64_t batch, uint32_t kind) {
  if (!t || !(kind & t->kinds))
    return 0;
  if (t->sample_all || kind == HEED_TRACE_CONTROL || kind == HEED_TRACE_DROPS)
    return 1;
  uint64_t h = heed__trace_mix(batch ^ heed__trace_mix(t->run));
  return (h >> 11) < t->keep_below;
}

/* Claims the next slot (its position in *posp), or NULL when the queue
 * is full (the event is then dropped and counted). */
static slot *claim(heed_trace *t, size_t *posp) {
  size_t pos = atomic_load_explicit(&t->head, memory_order_relaxed);
  for (;;) {
    slot *s = slot_at(t, pos);
    size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)pos;
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&t->head, &pos, pos + 1,
                                                memory_order_relaxed,
                                                memory_order_relaxed)) {
        *posp = pos;
        return s;
      }
    } else if (dif < 0) {
      atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
      return NULL;
    } else {
      pos = atomic_load_explicit(&t->head, memory_order_relaxed);
    }
  }
}

/* A queue slot for a driver record (METRIC, MARK): no values, no
 * coefficients, its word in fanout; NULL when the queue is full. */
static slot *driver_slot(heed_trace *t, size_t *pos, uint32_t kind,
                         uint64_t step, uint32_t word) {
  slot *s = claim(t, pos);
  if (!s)
    return NULL;
  memset(&s->ev, 0, sizeof s->ev);
  s->ev.t_ns = clock_ns(CLOCK_MONOTONIC);
  s->ev.batch = step;
  s->ev.kind = kind;
  s->ev.fanout = word;
  s->nvals = 0;
  s->ncoef = 0;
  s->later = 0;
  return s;
}

int heed_trace_metric(heed_trace *t, uint64_t step, double loss,
                      double accuracy, uint32_t n) {
  if (!t || !(t->kinds & HEED_TRACE_METRIC))
    return 0;
  size_t pos;
  /* fanout carries n: the slot's fields, reused (see encode_metric) */
  slot *s = driver_slot(t, &pos, HEED_TRACE_METRIC, step, n);
  if (!s)
    return HEED_EAGAIN;
  s->mean = loss;
  s->mean_abs = accuracy;
  atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
  return 0;
}

int heed_trace_mark(heed_trace *t, uint64_t step, const char *name,
                    uint32_t value) {
  if (!t || !(t->kinds & HEED_TRACE_MARK))
    return 0;
  if (!name)
    return HEED_EINVAL;
  size_t pos;
  slot *s = driver_slot(t, &pos, HEED_TRACE_MARK, step, value);
  if (!s)
    return HEED_EAGAIN;
  s->name = name;
  atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
  return 0;
}

/* The sum, sum of |x|, min and max of v[0..n), n > 0. It runs on the
 * actor's thread for every traced message with values (a row, a bid: one
 * value per sample): one dependent chain of double adds per value was
 * most of what recording cost the actors (callgrind: 15 instructions a
 * value, docs/tracing.md), and the compiler does not vectorize it (the
 * adds may not be reordered), so on x86-64 it takes four values at a
 * time in SSE2 (part of the x86-64 baseline): about 4 instructions a
 * value. The sums are still in double; only their order changes. min and
 * max skip NaNs after the first value, as `x < mn ? x : mn` does (minps
 * returns its second operand when either is NaN). */
static void summarize(const float *v, uint32_t n, double *sum, double *sabs,
                      float *mn, float *mx) {
  uint32_t i = 0;
  double ts = 0, ta = 0;
  float tl = v[0], th = v[0];
#ifdef __SSE2__
  if (n >= 4) {
    const __m128 mag = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    __m128d s0 = _mm_setzero_pd(), s1 = s0, a0 = s0, a1 = s0;
    __m128 lo = _mm_set1_ps(v[0]), hi = lo;
    for (; i + 4 <= n; i += 4) {
      __m128 x = _mm_loadu_ps(v + i), ax = _mm_and_ps(x, mag);
      lo = _mm_min_ps(x, lo);
      hi = _mm_max_ps(x, hi);
      s0 = _mm_add_pd(s0, _mm_cvtps_pd(x));
      s1 = _mm_add_pd(s1, _mm_cvtps_pd(_mm_movehl_ps(x, x)));
      a0 = _mm_add_pd(a0, _mm_cvtps_pd(ax));
      a1 = _mm_add_pd(a1, _mm_cvtps_pd(_mm_movehl_ps(ax, ax)));
    }
    double p[2], q[2];
    float l[4], h[4];
    _mm_storeu_pd(p, s0);
    _mm_storeu_pd(q, s1);
    ts = (p[0] + q[0]) + (p[1] + q[1]);
    _mm_storeu_pd(p, a0);
    _mm_storeu_pd(q, a1);
    ta = (p[0] + q[0]) + (p[1] + q[1]);
    _mm_storeu_ps(l, lo);
    _mm_storeu_ps(h, hi);
    for (int j = 0; j < 4; j++) {
      tl = l[j] < tl ? l[j] : tl;
      th = h[j] > th ? h[j] : th;
    }
  }
#endif
  for (; i < n; i++) {
    float x = v[i];
    ts += x;
    ta += fabsf(x);
    tl = x < tl ? x : tl;
    th = x > th ? x : th;
  }
  *sum = ts;
  *sabs = ta;
  *mn = tl;
  *mx = th;
}

int heed_trace_record(heed_trace *t, const heed_trace_event *ev) {
  if (!t || !ev || (ev->count && !ev->values))
    return HEED_EINVAL;
  size_t pos;
  slot *s = claim(t, &pos);
  if (!s)
    return HEED_EAGAIN;
  s->ev = *ev;
  s->ev.values = NULL;
  uint32_t n = ev->count;
  uint32_t keep = n < t->values_cap ? n : t->values_cap;
  /* Values that fit the slot are copied and summarized by the writer:
   * a copy costs the actor less than the summary, and the writer runs on
   * a thread of its own. */
  s->later = n && n <= t->raw_cap;
  if (s->later) {
    memcpy(s->vals, ev->values, n * sizeof(float));
  } else {
    double sum = 0, sabs = 0;
    float mn = 0, mx = 0;
    if (n) {
      summarize(ev->values, n, &sum, &sabs, &mn, &mx);
      if (keep)
        memcpy(s->vals, ev->values, keep * sizeof(float));
    }
    s->mean = n ? sum / n : 0;
    s->mean_abs = n ? sabs / n : 0;
    s->min = mn;
    s->max = mx;
  }
  s->nvals = keep;
  s->ncoef = 0;
  if (ev->coef && ev->ncoef && t->values_cap > keep) {
    uint32_t room = t->values_cap - keep;
    s->ncoef = ev->ncoef < room ? ev->ncoef : room;
    memcpy(s->vals + keep, ev->coef, s->ncoef * sizeof(float));
  }
  atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
  return 0;
}

/* The writer's half of heed_trace_record: the summary of values it left
 * in the slot. */
static void summarize_later(slot *s) {
  if (!s->later)
    return;
  double sum, sabs;
  uint32_t n = s->ev.count;
  summarize(s->vals, n, &sum, &sabs, &s->min, &s->max);
  s->mean = sum / n;
  s->mean_abs = sabs / n;
  s->later = 0;
}

void heed_trace_stats_get(heed_trace *t, heed_trace_stats *st) {
  if (!st)
    return;
  memset(st, 0, sizeof *st);
  if (!t)
    return;
  st->recorded = atomic_load(&t->head);
  st->dropped = atomic_load(&t->dropped);
  st->written = t->path ? atomic_load(&t->file_events)
                        : atomic_load(&t->written);
  st->file_bytes = atomic_load(&t->file_bytes);
  st->error = atomic_load(&t->file_err) ? HEED_EIO : 0;
}

/* ---- the file ---- */

#define FILE_BUF ((size_t)1 << 20)

/* Writes out the buffer; the first failure stops the file for good. */
static void file_flush(heed_trace *t) {
  size_t off = 0;
  while (off < t->flen && !atomic_load(&t->file_err)) {
    ssize_t k = write(t->fd, t->fbuf + off, t->flen - off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      atomic_store(&t->file_err, k < 0 && errno ? errno : EIO);
      break;
    }
    off += (size_t)k;
    atomic_fetch_add(&t->file_bytes, (uint64_t)k);
  }
  if (!atomic_load(&t->file_err))
    atomic_fetch_add(&t->file_events, t->fevents);
  t->flen = 0;
  t->fevents = 0;
}

static void file_put(heed_trace *t, const char *p, size_t n, int event) {
  if (t->fd < 0 || atomic_load(&t->file_err))
    return;
  if (t->flen + n > FILE_BUF)
    file_flush(t);
  if (atomic_load(&t->file_err))
    return;
  if (n > FILE_BUF) { /* never: records are at most a few KB */
    atomic_store(&t->file_err, EMSGSIZE);
    return;
  }
  memcpy(t->fbuf + t->flen, p, n);
  t->flen += n;
  t->fevents += (uint64_t)event;
}

/* ---- encoding ---- */

static int buf_write(void *data, const char *p, size_t n) {
  heed_trace *t = data;
  if (t->len + n > t->cap) {
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + n)
      cap *= 2;
    char *b = heed__realloc(t->buf, cap);
    if (!b)
      return -1;
    t->buf = b;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, p, n);
  t->len += n;
  return 0;
}

static void key(msgpack_packer *pk, const char *k) {
  size_t n = strlen(k);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, k, n);
}

static void str(msgpack_packer *pk, const char *v) { key(pk, v); }

static void who(msgpack_packer *pk, const heed_trace_who *w) {
  msgpack_pack_array(pk, 3);
  msgpack_pack_uint8(pk, w->role);
  msgpack_pack_uint32(pk, w->layer);
  msgpack_pack_uint32(pk, w->index);
}

/* ---- the live stream ----
 * A subscriber that reads slowly must not cost the file its records: the
 * tracer's thread is what writes both. So the live stream sheds event
 * records by its own sampling of batches when the queue backs up (a
 * quarter full: keep half as many batches, down to 1/64; back up by
 * doubling once it is nearly empty), counts what it shed (`shed` in the
 * drops records it publishes), and never sheds the header, metrics,
 * control or drops records. The header goes out again every second, for
 * subscribers that joined late, and the last drops record (`end`) three
 * times, since PUB drops what a full subscriber cannot take. */
#define LIVE_MAX_LEVEL 6

static int live_wants(const heed_trace *t, uint64_t batch) {
  if (!t->live_level)
    return 1;
  uint64_t h = heed__trace_mix(batch ^ heed__trace_mix(~t->run));
  return (h >> 11) < (((uint64_t)1 << 53) >> t->live_level);
}

/* Every 10 ms: how far behind is the writer? */
static void live_adapt(heed_trace *t) {
  size_t used = atomic_load_explicit(&t->head, memory_order_relaxed) - t->tail;
  size_t cap = t->mask + 1;
  if (used > cap / 4 && t->live_level < LIVE_MAX_LEVEL)
    t->live_level++;
  else if (used < cap / 32 && t->live_level > 0)
    t->live_level--;
}

/* One whole record to every sink (the live stream: one per message, when
 * live); event: one of this process's event records. */
static void emit_to(heed_trace *t, const void *p, size_t n, int event,
                    int live) {
  file_put(t, p, n, event);
  if (t->live && live)
    nng_send(t->sock, (void *)p, n, NNG_FLAG_NONBLOCK);
  if (t->sink)
    t->sink(t->sink_arg, p, n);
}

static void emit_rec(heed_trace *t, const void *p, size_t n, int event) {
  emit_to(t, p, n, event, 1);
}

static void emit(heed_trace *t, int event) {
  emit_rec(t, t->buf, t->len, event);
  t->len = 0;
}

/* The record only to the live stream. */
static void emit_live(heed_trace *t) {
  if (t->live)
    nng_send(t->sock, t->buf, t->len, NNG_FLAG_NONBLOCK);
  t->len = 0;
}

/* Another process's record (inbox.c): written, not counted as ours, and
 * decoded for the watcher (the inbox checked it is a record). */
static void emit_other(void *arg, const void *p, size_t n) {
  heed_trace *t = arg;
  emit_rec(t, p, n, 0);
  if (!t->watch)
    return;
  heed_trace_rec r;
  if (!t->watch_rd && heed_trace_reader_new(&t->watch_rd) != 0)
    return;
  int rv = heed_trace_reader_feed(t->watch_rd, p, n);
  while (!rv && (rv = heed_trace_reader_next(t->watch_rd, &r)) == 1) {
    t->watch(t->watch_arg, &r);
    rv = 0;
  }
  if (rv < 0) { /* never for a checked record; a fresh reader anyway */
    heed_trace_reader_free(t->watch_rd);
    t->watch_rd = NULL;
  }
}

/* Records of other processes are marked with theirs (absent means 0). */
static void proc_key(heed_trace *t) {
  if (t->proc) {
    key(&t->pk, "proc");
    msgpack_pack_uint32(&t->pk, t->proc);
  }
}

/* live_only: the periodic copy for late subscribers. */
static void encode_header(heed_trace *t, int values, int live_only) {
  msgpack_packer *pk = &t->pk;
  msgpack_pack_map(pk, 8 + (t->procs > 1) + (t->config != NULL));
  key(pk, "format");
  str(pk, "heed-trace");
  key(pk, "version");
  msgpack_pack_uint32(pk, HEED__TRACE_VERSION);
  key(pk, "run");
  msgpack_pack_uint64(pk, t->run);
  key(pk, "start_unix_ns");
  msgpack_pack_uint64(pk, t->start_unix);
  key(pk, "sample");
  msgpack_pack_double(pk, t->sample);
  key(pk, "kinds");
  msgpack_pack_uint32(pk, t->kinds);
  key(pk, "values");
  if (values)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  key(pk, "max_values");
  msgpack_pack_uint32(pk, HEED_TRACE_MAX_VALUES);
  if (t->procs > 1) {
    key(pk, "procs");
    msgpack_pack_uint32(pk, t->procs);
  }
  if (t->config) {
    key(pk, "config");
    str(pk, t->config);
  }
  if (live_only) {
    emit_live(t);
    return;
  }
  emit(t, 0);
  if (t->watch) {
    heed_trace_rec r = {.version = HEED__TRACE_VERSION, .run = t->run,
                        .start_unix_ns = t->start_unix, .sample = t->sample,
                        .kinds = t->kinds, .procs = t->procs,
                        .config = t->config};
    t->watch(t->watch_arg, &r);
  }
}

static uint64_t since_start(heed_trace *t, uint64_t mono) {
  uint64_t s = atomic_load_explicit(&t->start_mono, memory_order_relaxed);
  return mono > s ? mono - s : 0;
}

/* last: the tracer is closing (an `end` key: a live subscriber knows the
 * run is over); live_only: a copy for the live stream. */
static void encode_drops(heed_trace *t, int last, int live_only) {
  msgpack_packer *pk = &t->pk;
  msgpack_pack_map(pk, 5 + (t->proc != 0) + (last != 0) + (t->live != 0));
  proc_key(t);
  if (t->live) {
    key(pk, "shed");
    msgpack_pack_uint64(pk, t->shed);
  }
  if (last) {
    key(pk, "end");
    msgpack_pack_true(pk);
  }
  key(pk, "t");
  msgpack_pack_uint64(pk, since_start(t, clock_ns(CLOCK_MONOTONIC)));
  key(pk, "run");
  msgpack_pack_uint64(pk, t->run);
  key(pk, "kind");
  str(pk, "drops");
  key(pk, "dropped");
  msgpack_pack_uint64(pk, atomic_load(&t->dropped));
  key(pk, "recorded");
  uint64_t recorded = atomic_load(&t->head), dropped = atomic_load(&t->dropped);
  msgpack_pack_uint64(pk, recorded);
  if (live_only) {
    emit_live(t);
    return;
  }
  emit(t, 0);
  if (t->watch) {
    heed_trace_rec r = {.kind = HEED_TRACE_DROPS, .run = t->run,
                        .t_ns = since_start(t, clock_ns(CLOCK_MONOTONIC)),
                        .proc = t->proc, .dropped = dropped,
                        .recorded = recorded, .end = last};
    t->watch(t->watch_arg, &r);
  }
}

/* The event as a reader would decode it, for the watcher. */
static void watch_event(heed_trace *t, const slot *s) {
  const heed_trace_event *ev = &s->ev;
  heed_trace_rec r = {.kind = ev->kind, .run = t->run,
                      .t_ns = since_start(t, ev->t_ns), .dur_ns = ev->dur_ns,
                      .batch = ev->batch, .sender = ev->sender,
                      .receiver = ev->receiver, .fanout = ev->fanout,
                      .loop = ev->loop, .proc = t->proc, .count = ev->count,
                      .mean = s->mean, .mean_abs = s->mean_abs,
                      .min = s->min, .max = s->max,
                      .values = s->nvals ? s->vals : NULL,
                      .nvalues = s->nvals,
                      .coef = s->ncoef ? s->vals + s->nvals : NULL,
                      .ncoef = s->ncoef};
  t->watch(t->watch_arg, &r);
}

/* The keys METRIC and MARK records share (proc, t, run, batch, kind),
 * opening a map that has `more` keys after them. */
static void step_head(heed_trace *t, const slot *s, const char *kind,
                      uint32_t more) {
  msgpack_packer *pk = &t->pk;
  msgpack_pack_map(pk, 4 + more + (t->proc != 0));
  proc_key(t);
  key(pk, "t");
  msgpack_pack_uint64(pk, since_start(t, s->ev.t_ns));
  key(pk, "run");
  msgpack_pack_uint64(pk, t->run);
  key(pk, "batch");
  msgpack_pack_uint64(pk, s->ev.batch);
  key(pk, "kind");
  str(pk, kind);
}

/* A METRIC record: the step in `batch`, the samples in `n`. */
static void encode_metric(heed_trace *t, const slot *s) {
  msgpack_packer *pk = &t->pk;
  step_head(t, s, "metric", 3);
  key(pk, "loss");
  msgpack_pack_double(pk, s->mean);
  key(pk, "acc");
  msgpack_pack_double(pk, s->mean_abs);
  key(pk, "n");
  msgpack_pack_uint32(pk, s->ev.fanout);
  emit(t, 1);
  if (t->watch) {
    heed_trace_rec r = {.kind = HEED_TRACE_METRIC, .run = t->run,
                        .t_ns = since_start(t, s->ev.t_ns),
                        .batch = s->ev.batch, .proc = t->proc,
                        .count = s->ev.fanout, .loss = s->mean,
                        .acc = s->mean_abs};
    t->watch(t->watch_arg, &r);
  }
  atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
}

/* A MARK record: the step in `batch`. */
static void encode_mark(heed_trace *t, const slot *s) {
  msgpack_packer *pk = &t->pk;
  char name[33];
  snprintf(name, sizeof name, "%s", s->name);
  step_head(t, s, "mark", 2);
  key(pk, "name");
  str(pk, name);
  key(pk, "value");
  msgpack_pack_uint32(pk, s->ev.fanout);
  emit(t, 1);
  atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
  if (t->watch) {
    heed_trace_rec r = {.kind = HEED_TRACE_MARK, .run = t->run,
                        .t_ns = since_start(t, s->ev.t_ns),
                        .batch = s->ev.batch, .proc = t->proc,
                        .mark = name, .value = s->ev.fanout};
    t->watch(t->watch_arg, &r);
  }
}

/* ---- the common event, encoded by hand ----
 * Most records are events without stored values, at up to hundreds of
 * thousands a second: the writer thread shares the machine with the
 * actors, so it writes those bytes directly (the same bytes msgpack-c
 * writes: the smallest encoding of each integer) instead of through the
 * packer's callback per element. */

/* v's low n bytes (1, 2, 4 or 8), big-endian: one byte swap and one
 * store, not a loop per byte (the writer does this for every field). */
static inline unsigned char *w_be(unsigned char *p, uint64_t v, int n) {
  uint64_t b = v << (8 * (8 - n)); /* its first byte at the top */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  b = __builtin_bswap64(b);
#endif
  memcpy(p, &b, 8); /* callers leave 8 bytes of room: see encode_plain */
  return p + n;
}

static inline unsigned char *w_uint(unsigned char *p, uint64_t v) {
  if (v < 128) {
    *p++ = (unsigned char)v;
    return p;
  }
  if (v < 256) {
    *p++ = 0xcc;
    return w_be(p, v, 1);
  }
  if (v < 65536) {
    *p++ = 0xcd;
    return w_be(p, v, 2);
  }
  if (v <= 0xffffffffu) {
    *p++ = 0xce;
    return w_be(p, v, 4);
  }
  *p++ = 0xcf;
  return w_be(p, v, 8);
}

/* A short string (fewer than 32 bytes). */
static inline unsigned char *w_str(unsigned char *p, const char *v) {
  size_t n = strlen(v);
  *p++ = (unsigned char)(0xa0 | n);
  memcpy(p, v, n);
  return p + n;
}

static inline unsigned char *w_f64(unsigned char *p, double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  *p++ = 0xcb;
  return w_be(p, b, 8);
}

static inline unsigned char *w_f32(unsigned char *p, float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof b);
  *p++ = 0xca;
  return w_be(p, b, 4);
}

static inline unsigned char *w_who(unsigned char *p, const heed_trace_who *w) {
  *p++ = 0x93;
  p = w_uint(p, w->role);
  p = w_uint(p, w->layer);
  return w_uint(p, w->index);
}

/* A kind's name as a msgpack string, from a table: strlen and a memcpy
 * call per record showed in the writer's profile. */
static inline unsigned char *w_kind(unsigned char *p, uint32_t kind) {
  static const unsigned char names[][8] = {
      "\xa7" "forward", "\xa3" "bid", "\xa7" "control", "\xa5" "batch",
      "\xa6" "labels",  "\xa5" "drops", "\xa6" "metric", "\xa4" "mark",
      "\xa5" "loops",   "\xa1" "?"};
  unsigned i = kind && !(kind & (kind - 1)) && kind < (1u << 9)
                   ? (unsigned)__builtin_ctz(kind)
                   : 9;
  memcpy(p, names[i], 8); /* room: see encode_plain */
  return p + 1 + (names[i][0] & 0x1f);
}

/* An event without stored values into b (at least 256 bytes: the record
 * takes at most 140, and each field may store up to 8 bytes past its
 * end); its length. */
static size_t encode_plain(const heed_trace *t, const slot *s,
                           unsigned char *b) {
  const heed_trace_event *ev = &s->ev;
  unsigned char *p = b;
  *p++ = (unsigned char)(0x80 | (9 + (ev->count > 0) + (t->proc != 0)));
  if (t->proc) {
    p = w_str(p, "proc");
    p = w_uint(p, t->proc);
  }
  p = w_uint(w_str(p, "t"), since_start((heed_trace *)t, ev->t_ns));
  p = w_uint(w_str(p, "run"), t->run);
  p = w_uint(w_str(p, "batch"), ev->batch);
  p = w_kind(w_str(p, "kind"), ev->kind);
  p = w_who(w_str(p, "from"), &ev->sender);
  p = w_who(w_str(p, "to"), &ev->receiver);
  p = w_uint(w_str(p, "fanout"), ev->fanout);
  p = w_uint(w_str(p, "loop"), ev->loop);
  p = w_uint(w_str(p, "dur"), ev->dur_ns);
  if (ev->count) {
    p = w_str(p, "sum");
    *p++ = 0x95;
    p = w_uint(p, ev->count);
    p = w_f64(p, s->mean);
    p = w_f64(p, s->mean_abs);
    p = w_f32(p, s->min);
    p = w_f32(p, s->max);
  }
  return (size_t)(p - b);
}

/* A plain event to every sink. Encoded straight into the file's buffer
 * when there is a file (a copy less per record, the most common one), else
 * on the stack. */
#define PLAIN_MAX 256
static void encode_plain_to(heed_trace *t, const slot *s) {
  const heed_trace_event *ev = &s->ev;
  int live = ev->kind == HEED_TRACE_CONTROL || live_wants(t, ev->batch);
  t->shed += t->live && !live;
  if (t->fd >= 0 && t->flen + PLAIN_MAX > FILE_BUF)
    file_flush(t);
  if (t->fd < 0 || atomic_load_explicit(&t->file_err, memory_order_relaxed)) {
    unsigned char b[PLAIN_MAX];
    emit_to(t, b, encode_plain(t, s, b), 1, live);
    return;
  }
  unsigned char *b = (unsigned char *)t->fbuf + t->flen;
  size_t n = encode_plain(t, s, b);
  t->flen += n;
  t->fevents++;
  if (t->live && live)
    nng_send(t->sock, b, n, NNG_FLAG_NONBLOCK);
  if (t->sink)
    t->sink(t->sink_arg, b, n);
}

static void encode_event(heed_trace *t, const slot *s) {
  msgpack_packer *pk = &t->pk;
  const heed_trace_event *ev = &s->ev;
  if (ev->kind == HEED_TRACE_METRIC) {
    encode_metric(t, s);
    return;
  }
  if (ev->kind == HEED_TRACE_MARK) {
    encode_mark(t, s);
    return;
  }
  if (!s->nvals && !s->ncoef) {
    encode_plain_to(t, s);
    if (t->watch)
      watch_event(t, s);
    atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
    return;
  }
  msgpack_pack_map(pk, 9 + (ev->count > 0) + (s->nvals > 0) + (s->ncoef > 0) +
                          (t->proc != 0));
  proc_key(t);
  key(pk, "t");
  msgpack_pack_uint64(pk, since_start(t, ev->t_ns));
  key(pk, "run");
  msgpack_pack_uint64(pk, t->run);
  key(pk, "batch");
  msgpack_pack_uint64(pk, ev->batch);
  key(pk, "kind");
  str(pk, heed_trace_kind_name(ev->kind));
  key(pk, "from");
  who(pk, &ev->sender);
  key(pk, "to");
  who(pk, &ev->receiver);
  key(pk, "fanout");
  msgpack_pack_uint32(pk, ev->fanout);
  key(pk, "loop");
  msgpack_pack_uint32(pk, ev->loop);
  key(pk, "dur");
  msgpack_pack_uint64(pk, ev->dur_ns);
  if (ev->count) {
    key(pk, "sum");
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint32(pk, ev->count);
    msgpack_pack_double(pk, s->mean);
    msgpack_pack_double(pk, s->mean_abs);
    msgpack_pack_float(pk, s->min);
    msgpack_pack_float(pk, s->max);
  }
  if (s->nvals) {
    key(pk, "values");
    msgpack_pack_array(pk, s->nvals);
    for (uint32_t i = 0; i < s->nvals; i++)
      msgpack_pack_float(pk, s->vals[i]);
  }
  if (s->ncoef) {
    key(pk, "coef");
    msgpack_pack_array(pk, s->ncoef);
    for (uint32_t i = 0; i < s->ncoef; i++)
      msgpack_pack_float(pk, s->vals[s->nvals + i]);
  }
  int live = ev->kind == HEED_TRACE_CONTROL || live_wants(t, ev->batch);
  t->shed += t->live && !live;
  emit_to(t, t->buf, t->len, 1, live);
  t->len = 0;
  if (t->watch)
    watch_event(t, s);
  atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
}

/* Encodes up to max queued events; returns how many. */
static size_t drain(heed_trace *t, size_t max) {
  size_t n = 0;
  while (n < max) {
    slot *s = slot_at(t, t->tail);
    size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq != t->tail + 1)
      break;
    summarize_later(s);
    encode_event(t, s);
    atomic_store_explicit(&s->seq, t->tail + t->mask + 1,
                          memory_order_release);
    t->tail++;
    n++;
  }
  return n;
}

/* Writes the records other processes shipped; counts the rejected. */
static size_t drain_inbox(heed_trace *t) {
  uint64_t bad = 0;
  size_t n = heed__inbox_drain(&t->inbox, t->run, emit_other, t, &bad);
  if (bad)
    atomic_fetch_add_explicit(&t->dropped, bad, memory_order_relaxed);
  return n;
}

/* The stats of every loop of rt (at most HEED__TRACE_MAX_LOOPS). */
static uint32_t loop_stats(heed_runtime *rt,
                           uint64_t st[HEED__TRACE_MAX_LOOPS][4]) {
  uint32_t n = 0;
  unsigned nl = heed_runtime_threads(rt);
  for (; n < nl && n < HEED__TRACE_MAX_LOOPS; n++) {
    heed_loop_stats ls;
    heed_runtime_loop_stats(rt, n, &ls);
    st[n][0] = ls.handled;
    st[n][1] = ls.turns;
    st[n][2] = ls.queued;
    st[n][3] = ls.peak;
  }
  return n;
}

void heed__trace_set_runtime(heed_trace *t, heed_runtime *rt) {
  if (!t)
    return;
  pthread_mutex_lock(&t->rt_mu);
  if (t->rt && !rt && (t->kinds & HEED_TRACE_LOOPS)) /* a last sample */
    t->last_n = loop_stats(t->rt, t->last_st);
  t->rt = rt;
  pthread_mutex_unlock(&t->rt_mu);
}

/* A LOOPS record: what each loop of the runtime did so far. */
static void encode_loops(heed_trace *t) {
  uint64_t st[HEED__TRACE_MAX_LOOPS][4];
  uint32_t n = 0;
  pthread_mutex_lock(&t->rt_mu);
  if (t->rt) {
    n = loop_stats(t->rt, st);
  } else if (t->last_n) {
    n = t->last_n;
    memcpy(st, t->last_st, sizeof st);
    t->last_n = 0;
  }
  pthread_mutex_unlock(&t->rt_mu);
  if (!n)
    return;
  uint64_t now = since_start(t, clock_ns(CLOCK_MONOTONIC));
  msgpack_packer *pk = &t->pk;
  msgpack_pack_map(pk, 4 + (t->proc != 0));
  proc_key(t);
  key(pk, "t");
  msgpack_pack_uint64(pk, now);
  key(pk, "run");
  msgpack_pack_uint64(pk, t->run);
  key(pk, "kind");
  str(pk, "loops");
  key(pk, "loops");
  msgpack_pack_array(pk, n);
  for (uint32_t i = 0; i < n; i++) {
    msgpack_pack_array(pk, 4);
    for (int k = 0; k < 4; k++)
      msgpack_pack_uint64(pk, st[i][k]);
  }
  emit(t, 0);
  if (t->watch) {
    heed_trace_rec r = {.kind = HEED_TRACE_LOOPS, .run = t->run, .t_ns = now,
                        .proc = t->proc, .nloops = n,
                        .loops = (const uint64_t(*)[4])st};
    t->watch(t->watch_arg, &r);
  }
}

static void *writer(void *arg) {
  heed_trace *t = arg;
  uint64_t last = clock_ns(CLOCK_MONOTONIC), reported = 0, shed = 0;
  uint64_t adapted = last, sampled = last;
  for (;;) {
    int stopping = atomic_load_explicit(&t->stop, memory_order_acquire);
    size_t n = drain(t, 4096) + drain_inbox(t);
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (t->live && now - adapted >= 10000000u) {
      live_adapt(t);
      adapted = now;
    }
    if ((t->kinds & HEED_TRACE_LOOPS) && now - sampled >= 250000000u) {
      encode_loops(t);
      sampled = now;
    }
    if (now - last >= 1000000000u) {
      uint64_t d = atomic_load(&t->dropped);
      if (d != reported || t->shed != shed) {
        encode_drops(t, 0, 0);
        reported = d;
        shed = t->shed;
      }
      if (t->live && t->proc == 0)
        encode_header(t, t->values, 1); /* for late subscribers */
      if (t->fd >= 0 && t->flen)
        file_flush(t); /* a reader of the running trace sees it */
      last = now;
    }
    if (n == 0) {
      if (stopping)
        break;
      if (t->sink)
        t->sink(t->sink_arg, NULL, 0);
      struct timespec ts = {0, 500000};
      nanosleep(&ts, NULL);
    }
  }
  if (t->kinds & HEED_TRACE_LOOPS)
    encode_loops(t); /* the counts as the runtime was let go */
  encode_drops(t, 1, 0);
  for (int i = 0; t->live && i < 2; i++) {
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    encode_drops(t, 1, 1);
  }
  if (t->sink)
    t->sink(t->sink_arg, NULL, 0);
  return NULL;
}

/* ---- lifecycle ---- */

static void destroy(heed_trace *t) {
  if (t->fd >= 0)
    close(t->fd);
  heed__free(t->path);
  heed__free(t->config);
  heed_trace_reader_free(t->watch_rd);
  heed__free(t->fbuf);
  if (t->live)
    nng_close(t->sock);
  heed__free_aligned(t->slots);
  heed__free(t->buf);
  heed__inbox_destroy(&t->inbox);
  pthread_mutex_destroy(&t->rt_mu);
  heed__free_aligned(t);
}

int heed_trace_new(heed_trace **tp, const heed_trace_opts *opts, char *err,
                   size_t errlen) {
  if (errlen)
    err[0] = '\0';
  if (!tp || !opts) {
    snprintf(err, errlen, "trace: no options");
    return HEED_EINVAL;
  }
  *tp = NULL;
  double sample = opts->sample == 0 ? 1 : opts->sample;
  if (!(sample > 0 && sample <= 1)) {
    snprintf(err, errlen, "trace: sample %g is not in (0, 1]", opts->sample);
    return HEED_EINVAL;
  }
  if (!opts->path && !opts->live_url && !opts->sink && !opts->watch) {
    snprintf(err, errlen, "trace: neither a file, a live URL, a sink nor "
             "a watcher");
    return HEED_EINVAL;
  }
  size_t want = opts->queue ? opts->queue : opts->values ? 4096 : 65536;
  if (want > ((size_t)1 << 24)) {
    snprintf(err, errlen, "trace: queue of %zu events is too large", want);
    return HEED_ERANGE;
  }
  size_t cap = 2;
  while (cap < want)
    cap *= 2;

  heed_trace *t = heed__malloc_aligned(sizeof *t);
  if (!t) {
    snprintf(err, errlen, "trace: out of memory");
    return HEED_ENOMEM;
  }
  memset(t, 0, sizeof *t);
  t->fd = -1;
  atomic_init(&t->file_err, 0);
  atomic_init(&t->file_bytes, 0);
  atomic_init(&t->file_events, 0);
  atomic_init(&t->head, 0);
  atomic_init(&t->dropped, 0);
  atomic_init(&t->written, 0);
  atomic_init(&t->stop, 0);
  t->values_cap = opts->values ? HEED_TRACE_MAX_VALUES : 0;
  t->raw_cap = t->values_cap > SUM_LATER ? t->values_cap : SUM_LATER;
  t->stride = (sizeof(slot) + t->raw_cap * sizeof(float) + 63) & ~(size_t)63;
  t->mask = cap - 1;
  t->kinds = opts->kinds ? opts->kinds & HEED_TRACE_ALL : HEED_TRACE_ALL;
  t->sample = sample;
  t->sample_all = sample >= 1;
  t->keep_below = (uint64_t)(sample * 9007199254740992.0); /* 2^53 */
  t->run = opts->run;
  t->values = opts->values != 0;
  t->proc = opts->proc;
  t->procs = opts->procs;
  t->sink = opts->sink;
  t->sink_arg = opts->sink_arg;
  t->watch = opts->watch;
  t->watch_arg = opts->watch_arg;
  heed__inbox_init(&t->inbox);
  pthread_mutex_init(&t->rt_mu, NULL);
  atomic_init(&t->start_mono, opts->start_ns ? opts->start_ns
                                             : clock_ns(CLOCK_MONOTONIC));
  t->start_unix = clock_ns(CLOCK_REALTIME);
  msgpack_packer_init(&t->pk, t, buf_write);

  t->slots = heed__malloc_aligned(cap * t->stride);
  if (!t->slots) {
    heed__inbox_destroy(&t->inbox);
    pthread_mutex_destroy(&t->rt_mu);
    heed__free_aligned(t);
    snprintf(err, errlen, "trace: out of memory for a queue of %zu events",
             cap);
    return HEED_ENOMEM;
  }
  for (size_t i = 0; i < cap; i++)
    atomic_init(&slot_at(t, i)->seq, i);
  if (opts->config) {
    size_t n = strnlen(opts->config, HEED_TRACE_MAX_CONFIG);
    t->config = heed__malloc(n + 1);
    if (!t->config) {
      snprintf(err, errlen, "trace: out of memory");
      destroy(t);
      return HEED_ENOMEM;
    }
    memcpy(t->config, opts->config, n);
    t->config[n] = '\0';
  }

  if (opts->path) {
    t->path = heed__strdup(opts->path);
    t->fbuf = heed__malloc(FILE_BUF);
    if (!t->path || !t->fbuf) {
      snprintf(err, errlen, "trace: out of memory");
      destroy(t);
      return HEED_ENOMEM;
    }
    t->fd = open(opts->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (t->fd < 0) {
      snprintf(err, errlen, "trace: cannot create %s: %s", opts->path,
               strerror(errno));
      destroy(t);
      return HEED_EIO;
    }
  }
  if (opts->live_url) {
    int rv = nng_pub0_open(&t->sock);
    if (rv == 0) {
      t->live = 1;
      nng_socket_set_int(t->sock, NNG_OPT_SENDBUF, 1024);
      rv = nng_listen(t->sock, opts->live_url, NULL, 0);
    }
    if (rv != 0) {
      snprintf(err, errlen, "trace: cannot listen on %s: %s", opts->live_url,
               nng_strerror(rv));
      destroy(t);
      return HEED_EIO;
    }
  }
  if (t->proc == 0) /* the others' records join process 0's trace */
    encode_header(t, opts->values != 0, 0);
  if (pthread_create(&t->thread, NULL, writer, t) != 0) {
    snprintf(err, errlen, "trace: cannot start the writer thread");
    destroy(t);
    return HEED_ENOMEM;
  }
  *tp = t;
  return 0;
}

int heed_trace_close(heed_trace *t, heed_trace_stats *st, char *err,
                     size_t errlen) {
  if (errlen)
    err[0] = '\0';
  if (!t) {
    heed_trace_stats_get(NULL, st);
    return 0;
  }
  atomic_store_explicit(&t->stop, 1, memory_order_release);
  pthread_join(t->thread, NULL);
  if (t->fd >= 0) {
    file_flush(t);
    if (close(t->fd) != 0 && !atomic_load(&t->file_err))
      atomic_store(&t->file_err, errno ? errno : EIO);
    t->fd = -1;
  }
  heed_trace_stats s;
  heed_trace_stats_get(t, &s);
  if (st)
    *st = s;
  int e = atomic_load(&t->file_err);
  if (e)
    snprintf(err, errlen, "trace: cannot write %s: %s (the file holds its "
             "first %llu bytes, %llu events)", t->path, strerror(e),
             (unsigned long long)s.file_bytes, (unsigned long long)s.written);
  destroy(t);
  return e ? HEED_EIO : 0;
}

void heed_trace_free(heed_trace *t) { heed_trace_close(t, NULL, NULL, 0); }

void heed_trace_opts_get(const heed_trace *t, heed_trace_opts *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  if (!t)
    return;
  heed_trace *m = (heed_trace *)t;
  o->sample = t->sample;
  o->kinds = t->kinds;
  o->values = t->values;
  o->run = t->run;
  o->queue = t->mask + 1;
  o->proc = t->proc;
  o->procs = t->procs;
  o->start_ns = atomic_load(&m->start_mono);
}

void heed_trace_set_start(heed_trace *t, uint64_t start_ns) {
  if (t && start_ns)
    atomic_store_explicit(&t->start_mono, start_ns, memory_order_relaxed);
}

void heed__trace_lost(heed_trace *t, uint64_t n) {
  if (t && n)
    atomic_fetch_add_explicit(&t->dropped, n, memory_order_relaxed);
}

int heed_trace_add_records(heed_trace *t, uint32_t proc, const void *bytes,
                           size_t len, uint32_t nrec) {
  if (!t || (len && !bytes) || proc == 0)
    return HEED_EINVAL;
  if (!len)
    return 0;
  int rv = heed__inbox_push(&t->inbox, proc, bytes, len, nrec);
  if (rv)
    atomic_fetch_add_explicit(&t->dropped, nrec ? nrec : 1,
                              memory_order_relaxed);
  return rv;
}

/* ---- names ---- */

static const char *const kind_names[] = {"forward", "bid",   "control",
                                         "batch",   "labels", "drops",
                                         "metric",  "mark",   "loops"};
#define NKINDS 9

const char *heed_trace_kind_name(uint32_t kind) {
  for (unsigned i = 0; i < NKINDS; i++)
    if (kind == 1u << i)
      return kind_names[i];
  return "?";
}

uint32_t heed__trace_kind_parse1(const char *s, size_t n) {
  for (unsigned i = 0; i < NKINDS; i++)
    if (strlen(kind_names[i]) == n && !strncmp(s, kind_names[i], n))
      return 1u << i;
  return 0;
}

int heed_trace_kinds_parse(const char *s, uint32_t *mask) {
  if (!s || !mask)
    return HEED_EINVAL;
  uint32_t m = 0;
  while (*s) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    uint32_t k = n == 3 && !strncmp(s, "all", 3)
                     ? (uint32_t)HEED_TRACE_ALL
                     : heed__trace_kind_parse1(s, n);
    if (!k)
      return HEED_EINVAL;
    m |= k;
    s += n;
    if (*s == ',')
      s++;
  }
  if (!m)
    return HEED_EINVAL;
  *mask = m;
  return 0;
}

const char *heed_trace_role_name(uint8_t role) {
  static const char *const names[] = {"driver", "input", "neuron", "hub",
                                      "critic"};
  return role < 5 ? names[role] : "?";
}
