/*
 * heed/trace.h - recording what the agents say to each other.
 *
 * A network with a tracer attached reports every message its actors handle
 * as a heed_trace_event; the tracer samples, filters, encodes each kept
 * event as a msgpack record (docs/trace-format.md) and writes it to a file
 * and/or publishes it on an nng PUB socket. Recording never blocks an
 * actor: events go into a bounded queue drained by the tracer's own thread,
 * and when that queue is full events are dropped and counted; the drop
 * count is itself recorded.
 */
#ifndef HEED_TRACE_H
#define HEED_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message kinds (bit flags, for filters). */
enum heed_trace_kind {
  HEED_TRACE_FORWARD = 1u << 0, /* activations going up */
  HEED_TRACE_BID = 1u << 1,     /* attention bids going down */
  HEED_TRACE_CONTROL = 1u << 2, /* control messages (consolidate, ...) */
  HEED_TRACE_BATCH = 1u << 3,   /* the driver hands a batch to the input */
  HEED_TRACE_LABELS = 1u << 4,  /* the driver hands labels to the critic */
  HEED_TRACE_DROPS = 1u << 5,   /* the tracer's own drop report */
  HEED_TRACE_ALL = 0x3f,
};

/* Who an actor is: its role and place in the network. */
enum heed_trace_role {
  HEED_ROLE_DRIVER = 0,
  HEED_ROLE_INPUT = 1,
  HEED_ROLE_NEURON = 2,
  HEED_ROLE_HUB = 3,
  HEED_ROLE_CRITIC = 4,
};

#define HEED_TRACE_ALL_NEURONS UINT32_MAX /* index of a broadcast receiver */

typedef struct heed_trace_who {
  uint8_t role;   /* enum heed_trace_role */
  uint32_t layer; /* 0 input, 1..L neuron layers and their hubs, L+1 critic */
  uint32_t index; /* neuron index, or HEED_TRACE_ALL_NEURONS for a
                     broadcast to the whole layer */
} heed_trace_who;

typedef struct heed_trace_event {
  uint64_t t_ns;   /* when the receiver started handling it (CLOCK_MONOTONIC) */
  uint64_t dur_ns; /* how long the handling took (0 if not measured) */
  uint64_t batch;
  uint32_t kind;   /* one enum heed_trace_kind bit */
  heed_trace_who sender, receiver;
  uint32_t fanout; /* receivers of this one message (broadcast), else 1 */
  /* The values the message carries, or that the event is about: */
  const float *values; /* may be NULL */
  uint32_t count;      /* number of values */
  uint32_t loop;       /* runtime loop that handled it */
} heed_trace_event;

typedef struct heed_trace heed_trace;

typedef struct heed_trace_opts {
  const char *path;     /* file to write, or NULL */
  const char *live_url; /* nng PUB listen URL, or NULL */
  double sample;        /* fraction of batches kept, (0, 1]; 0 means 1 */
  uint32_t kinds;       /* enum heed_trace_kind mask; 0 means all */
  int values;           /* nonzero: store the values themselves too */
  uint64_t run;         /* run id written in every record */
  size_t queue;         /* events the queue holds; 0 means 65536 */
} heed_trace_opts;

/* Opens the sinks and starts the tracer's thread. One-line reason in err. */
HEED_API int heed_trace_new(heed_trace **tp, const heed_trace_opts *opts,
                            char *err, size_t errlen);
/* Drains the queue, writes the final drop count, closes the sinks. NULL is
 * ignored. */
HEED_API void heed_trace_free(heed_trace *t);

/* Whether events of this batch are kept (the same answer for every actor,
 * so a sampled batch is recorded whole). */
HEED_API int heed_trace_wants(const heed_trace *t, uint64_t batch,
                              uint32_t kind);
/* Queues one event; never blocks. Returns HEED_EAGAIN when it was dropped. */
HEED_API int heed_trace_record(heed_trace *t, const heed_trace_event *ev);

typedef struct heed_trace_stats {
  uint64_t recorded, dropped, written;
} heed_trace_stats;
HEED_API void heed_trace_stats_get(heed_trace *t, heed_trace_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* HEED_TRACE_H */
