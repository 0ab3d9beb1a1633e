/*
 * inbox.c - the records other processes of a run ship to process 0
 * (heed_trace_add_records): queued as they arrive by whatever thread
 * receives them, checked and written by process 0's tracer thread.
 *
 * A worker is a peer, and a peer is trusted with nothing: each record is
 * walked raw (heed__mpk_skim) and decoded by the trace reader before it is
 * written, and must belong to this run and say it comes from the process
 * that sent it, so that a bad worker cannot put garbage, a header, or
 * records in another process's name into the trace.
 */
#include <string.h>

#include "common/alloc.h"
#include "common/mpk.h"
#include "trace/internal.h"

struct heed__trace_chunk {
  heed__trace_chunk *next;
  uint32_t proc, nrec;
  size_t len;
  uint8_t bytes[];
};

void heed__inbox_init(heed__trace_inbox *b) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->mu, NULL);
}

void heed__inbox_destroy(heed__trace_inbox *b) {
  heed__trace_chunk *c = b->head;
  while (c) {
    heed__trace_chunk *n = c->next;
    heed__free(c);
    c = n;
  }
  heed_trace_reader_free(b->rd);
  pthread_mutex_destroy(&b->mu);
  memset(b, 0, sizeof *b);
}

int heed__inbox_push(heed__trace_inbox *b, uint32_t proc, const void *p,
                     size_t n, uint32_t nrec) {
  pthread_mutex_lock(&b->mu);
  int full = n > HEED_TRACE_INBOX_MAX - b->bytes;
  pthread_mutex_unlock(&b->mu);
  if (full)
    return HEED_EAGAIN;
  heed__trace_chunk *c = heed__malloc(sizeof *c + n);
  if (!c)
    return HEED_ENOMEM;
  c->next = NULL;
  c->proc = proc;
  c->nrec = nrec;
  c->len = n;
  memcpy(c->bytes, p, n);
  pthread_mutex_lock(&b->mu);
  if (b->tail)
    b->tail->next = c;
  else
    b->head = c;
  b->tail = c;
  b->bytes += n;
  pthread_mutex_unlock(&b->mu);
  return 0;
}

static heed__trace_chunk *pop(heed__trace_inbox *b) {
  pthread_mutex_lock(&b->mu);
  heed__trace_chunk *c = b->head;
  if (c) {
    b->head = c->next;
    if (!b->head)
      b->tail = NULL;
    b->bytes -= c->len;
  }
  pthread_mutex_unlock(&b->mu);
  return c;
}

/* 1 when rec[0..len) (one whole msgpack object) is an event or drops
 * record of run `run` from process proc. */
static int record_ok(heed__trace_inbox *b, const uint8_t *rec, size_t len,
                     uint64_t run, uint32_t proc) {
  if (!b->rd && heed_trace_reader_new(&b->rd) != 0)
    return 0;
  heed_trace_rec r;
  int rv = heed_trace_reader_feed(b->rd, rec, len);
  if (rv == 0)
    rv = heed_trace_reader_next(b->rd, &r);
  if (rv != 1) {
    /* a reader in error stays in error: start afresh */
    heed_trace_reader_free(b->rd);
    b->rd = NULL;
    return 0;
  }
  return r.kind != 0 && r.run == run && r.proc == proc;
}

static size_t drain_chunk(heed__trace_inbox *b, const heed__trace_chunk *c,
                          uint64_t run, heed__trace_emit_fn emit, void *arg,
                          uint64_t *rejected) {
  size_t off = 0, n = 0;
  while (off < c->len) {
    size_t end = off;
    if (heed__mpk_skim(c->bytes, c->len, off + HEED_TRACE_MAX_RECORD < c->len
                                             ? off + HEED_TRACE_MAX_RECORD
                                             : c->len,
                       &end, 16) != 0 ||
        !record_ok(b, c->bytes + off, end - off, run, c->proc))
      break;
    emit(arg, c->bytes + off, end - off);
    n++;
    off = end;
  }
  if (off < c->len)
    *rejected += c->nrec > n ? c->nrec - n : 1;
  return n;
}

size_t heed__inbox_drain(heed__trace_inbox *b, uint64_t run,
                         heed__trace_emit_fn emit, void *arg,
                         uint64_t *rejected) {
  size_t n = 0;
  heed__trace_chunk *c;
  while ((c = pop(b)) != NULL) {
    n += drain_chunk(b, c, run, emit, arg, rejected);
    heed__free(c);
  }
  return n;
}
