/* internal.h - what the recorder and the reader share (internal). */
#ifndef HEED_TRACE_INTERNAL_H
#define HEED_TRACE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "heed/trace.h"

#define HEED__TRACE_VERSION 1

/* splitmix64's finalizer: the batch sampler's hash. */
uint64_t heed__trace_mix(uint64_t x);
/* One kind name of n bytes to its bit, 0 if unknown. */
uint32_t heed__trace_kind_parse1(const char *s, size_t n);

/* The runtime whose loops t samples (heed_runtime_loop_stats) into LOOPS
 * records four times a second; NULL stops it (before rt goes). heed_net
 * sets it with its tracer. */
struct heed_runtime;
void heed__trace_set_runtime(heed_trace *t, struct heed_runtime *rt);
#define HEED__TRACE_MAX_LOOPS 64

/* Counts n records a sink could not pass on (out of memory, a link that
 * refused them) among t's drops. The tracer's thread (a sink) only. */
void heed__trace_lost(heed_trace *t, uint64_t n);

/* ---- inbox.c: other processes' records waiting for process 0's writer */

typedef struct heed__trace_chunk heed__trace_chunk;
typedef struct heed__trace_inbox {
  pthread_mutex_t mu; /* guards the list and bytes */
  heed__trace_chunk *head, *tail;
  size_t bytes;
  heed_trace_reader *rd; /* the writer thread's, checks each record */
} heed__trace_inbox;

void heed__inbox_init(heed__trace_inbox *b);
void heed__inbox_destroy(heed__trace_inbox *b);
/* Copies p[0..n) (nrec records of process proc) in. 0, HEED_EAGAIN when
 * HEED_TRACE_INBOX_MAX bytes already wait, HEED_ENOMEM. Any thread. */
int heed__inbox_push(heed__trace_inbox *b, uint32_t proc, const void *p,
                     size_t n, uint32_t nrec);
/* The writer thread: hands every waiting record that is a trace record of
 * run `run` from its chunk's process (not a header) to emit, whole;
 * returns how many, and adds the records rejected (a bad one and those
 * after it in its chunk) to *rejected. */
typedef void (*heed__trace_emit_fn)(void *arg, const void *rec, size_t len);
size_t heed__inbox_drain(heed__trace_inbox *b, uint64_t run,
                         heed__trace_emit_fn emit, void *arg,
                         uint64_t *rejected);

#endif
