/*
 * trace.c - traced workers (docs/trace-format.md, "Several processes"):
 * the clock offset estimator, the TRACE session message's payloads, and a
 * worker's side: a tracer whose records are shipped to process 0.
 *
 * Clocks: process 0 PINGs every worker; the PONG carries the worker's
 * CLOCK_MONOTONIC at the moment it answered. With t_send and t_recv on
 * process 0's clock and t_w on the worker's, the worker's clock reads
 * offset = t_w - (t_send + t_recv) / 2 ahead of process 0's, give or take
 * half the round trip (the two legs of the trip may differ by at most the
 * whole of it). The estimator keeps the sample with the smallest round
 * trip, over the last two windows of 10 s, so a slow drift between two
 * machines' clocks is followed.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster/internal.h"
#include "common/alloc.h"
#include "trace/internal.h"

#define WINDOW_S 10.0
#define SHIP_BYTES (32 * 1024) /* records gathered before they are sent */

uint64_t heed__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the offset estimator ------------------------------------------------ */

void heed__clock_add(heed__clock_est *e, uint64_t t_send, uint64_t t_worker,
                     uint64_t t_recv, double now_s) {
  if (t_recv < t_send)
    return; /* not a round trip */
  if (!e->cur.have && !e->prev.have)
    e->window_start = now_s;
  if (now_s - e->window_start > WINDOW_S) {
    e->prev = e->cur;
    e->cur.have = 0;
    e->window_start = now_s;
  }
  uint64_t rtt = t_recv - t_send;
  if (e->cur.have && rtt > e->cur.rtt)
    return;
  /* t_send + rtt / 2 without overflow; the offset as a signed difference */
  uint64_t mid = t_send + rtt / 2;
  e->cur.offset = (int64_t)(t_worker - mid);
  e->cur.rtt = rtt;
  e->cur.have = 1;
}

int heed__clock_get(const heed__clock_est *e, int64_t *offset,
                    uint64_t *bound) {
  const heed__clock_sample *s = NULL;
  if (e->cur.have)
    s = &e->cur;
  if (e->prev.have && (!s || e->prev.rtt < s->rtt))
    s = &e->prev;
  if (!s)
    return HEED_ENOENT;
  *offset = s->offset;
  *bound = (s->rtt + 1) / 2;
  return 0;
}

/* ---- payloads ------------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

void heed__u64_le(uint8_t out[8], uint64_t v) { put64(out, v); }
uint64_t heed__le_u64(const uint8_t in[8]) { return get64(in); }

void heed__trace_cfg_encode(const heed__trace_cfg *c,
                            uint8_t out[HEED_TRACE_CFG_LEN]) {
  uint64_t sample;
  memcpy(&sample, &c->sample, 8);
  put64(out, c->run);
  put64(out + 8, sample);
  put64(out + 16, c->kinds | (uint64_t)c->values << 32);
  put64(out + 24, c->start_ns);
  put64(out + 32, (uint64_t)c->offset);
  put64(out + 40, c->procs);
}

int heed__trace_cfg_decode(heed__trace_cfg *c, const uint8_t *p, size_t n,
                           char *why, size_t whylen) {
  if (n != HEED_TRACE_CFG_LEN) {
    snprintf(why, whylen, "a TRACE start of %zu bytes, not %d", n,
             HEED_TRACE_CFG_LEN);
    return HEED_EFORMAT;
  }
  uint64_t sample = get64(p + 8), kv = get64(p + 16), procs = get64(p + 40);
  memcpy(&c->sample, &sample, 8);
  c->run = get64(p);
  c->kinds = (uint32_t)kv;
  c->values = (uint32_t)(kv >> 32);
  c->start_ns = get64(p + 24);
  c->offset = (int64_t)get64(p + 32);
  if (!(c->sample > 0 && c->sample <= 1) || !c->kinds ||
      (c->kinds & ~(uint32_t)HEED_TRACE_ALL) || c->values > 1 ||
      procs < 2 || procs > HEED_WIRE_MAX_PROCS || !c->start_ns) {
    snprintf(why, whylen, "a TRACE start with sample %g, kinds 0x%x, "
             "values %u, %llu processes: out of range", c->sample, c->kinds,
             c->values, (unsigned long long)procs);
    return HEED_ERANGE;
  }
  c->procs = (uint32_t)procs;
  return 0;
}

/* This process's clock reading of process 0's start (offset added). */
static uint64_t local_start(const heed__trace_cfg *c) {
  return c->start_ns + (uint64_t)c->offset;
}

/* ---- a worker's side ----------------------------------------------------- */

struct heed__tship {
  heed_link *link;
  heed_trace *trace;
  uint64_t start_ns; /* process 0's start, on process 0's clock */
  uint8_t *buf;
  size_t len, cap;
  uint32_t n;
};

/* Records that cannot be sent count as dropped: the trace says so. */
static void ship_send(heed__tship *s) {
  if (!s->len)
    return;
  if (heed_link_send_sess(s->link, 0, HEED_SESS_TRACE,
                          HEED_TRACE_RECORDS | (uint64_t)s->n << 8, s->buf,
                          s->len) != 0)
    heed__trace_lost(s->trace, s->n);
  s->len = 0;
  s->n = 0;
}

/* The tracer's sink, on the tracer's thread: gathers whole records and
 * hands them to the link (which never waits) when SHIP_BYTES have
 * gathered or the tracer has nothing queued. */
static void ship_sink(void *arg, const void *rec, size_t len) {
  heed__tship *s = arg;
  if (!rec) {
    ship_send(s);
    return;
  }
  if (s->len + len > SHIP_BYTES)
    ship_send(s);
  if (s->len + len > s->cap) {
    size_t cap = SHIP_BYTES > len ? SHIP_BYTES : len;
    uint8_t *b = heed__realloc(s->buf, cap);
    if (!b) {
      heed__trace_lost(s->trace, 1);
      return;
    }
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, rec, len);
  s->len += len;
  s->n++;
}

int heed__tship_start(heed__tship **sp, heed_link *link, unsigned self,
                      const heed__trace_cfg *c, char *why, size_t whylen) {
  heed__tship *s = heed__calloc(1, sizeof *s);
  if (!s) {
    snprintf(why, whylen, "out of memory");
    return HEED_ENOMEM;
  }
  s->link = link;
  s->start_ns = c->start_ns;
  heed_trace_opts o = {.sample = c->sample, .kinds = c->kinds,
                       .values = (int)c->values, .run = c->run,
                       .sink = ship_sink, .sink_arg = s, .proc = self,
                       .procs = c->procs, .start_ns = local_start(c)};
  int rv = heed_trace_new(&s->trace, &o, why, whylen);
  if (rv) {
    heed__free(s);
    return rv;
  }
  *sp = s;
  return 0;
}

heed_trace *heed__tship_trace(heed__tship *s) { return s ? s->trace : NULL; }

void heed__tship_clock(heed__tship *s, int64_t offset) {
  if (s)
    heed_trace_set_start(s->trace, s->start_ns + (uint64_t)offset);
}

void heed__tship_stop(heed__tship *s) {
  if (!s)
    return;
  heed_trace_free(s->trace); /* drains, ships the last records */
  heed_link_send_sess(s->link, 0, HEED_SESS_TRACE, HEED_TRACE_END, NULL, 0);
  heed__free(s->buf);
  heed__free(s);
}
