/*
 * heed/trace.h - recording what the agents say to each other.
 *
 * A network with a tracer attached reports every message its actors handle
 * as a heed_trace_event; the tracer samples, filters, encodes each kept
 * event as a msgpack record (docs/trace-format.md) and writes it to a file
 * and/or publishes it on an nng PUB socket and/or hands it to a sink. In a
 * run over several processes each worker's tracer hands its records to a
 * sink that ships them to process 0, whose tracer writes them too
 * (heed_trace_add_records; heed/cluster.h: heed_cluster_set_trace).
 * Recording never blocks an
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
  HEED_TRACE_METRIC = 1u << 6,  /* the driver's loss and accuracy of a
                                   training step (heed_trace_metric) */
  HEED_TRACE_MARK = 1u << 7,    /* a moment the driver names (a task
                                   begins: heed_trace_mark) */
  HEED_TRACE_LOOPS = 1u << 8,   /* the runtime's loops, four times a second:
                                   messages handled, turns, mailboxes */
  HEED_TRACE_ALL = 0x1ff,
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
  /* A bid a neuron sends its hub: the coefficients c_j that follow g_j in
   * the message, one per neuron i of the layer below (which reads the
   * price pi_ji = g_j c_ji): who pays what attention to whom. Stored
   * only when values are (opts.values), after them, within the same
   * HEED_TRACE_MAX_VALUES; not in the summary. May be NULL. */
  const float *coef;
  uint32_t ncoef;
} heed_trace_event;

typedef struct heed_trace heed_trace;
typedef struct heed_trace_rec heed_trace_rec; /* a record read back, below */

typedef struct heed_trace_opts {
  const char *path;     /* file to write, or NULL */
  const char *live_url; /* nng PUB listen URL, or NULL */
  double sample;        /* fraction of batches kept, (0, 1]; 0 means 1.
                           CONTROL events (batch 0) are not sampled. */
  uint32_t kinds;       /* enum heed_trace_kind mask; 0 means all */
  int values;           /* nonzero: store the values themselves too */
  uint64_t run;         /* run id written in every record */
  size_t queue;         /* events the queue holds (rounded up to a power
                           of two); 0 means 65536, or 4096 with values */
  /* Records handed to a function besides (or instead of) a file and a
   * live socket: called on the tracer's own thread, never an actor's,
   * with one whole encoded record at a time, and with (NULL, 0) whenever
   * the queue is empty for now (a chance to ship what has gathered) and
   * once more at close. It may take its time: the queue then fills, and
   * events are dropped and counted. */
  void (*sink)(void *arg, const void *rec, size_t len);
  void *sink_arg;
  /* Every record written (this process's and, in process 0, the ones
   * other processes ship), decoded, for a watcher in this process (the
   * observer: heed_trace_server_watch): called on the tracer's own
   * thread, so it must be quick, as the sink. Cheaper than decoding what
   * the sink gets. rec->config and rec->values are valid during the call
   * only. */
  void (*watch)(void *arg, const struct heed_trace_rec *rec);
  void *watch_arg;
  /* A run over several processes (heed/cluster.h): this process's index
   * (0: the coordinator, whose trace the others' records join; other
   * indices are written as `proc` on every record, and such a tracer
   * writes no header) and the number of processes (in the header). */
  uint32_t proc, procs;
  /* This process's CLOCK_MONOTONIC time, in ns, that records count from
   * (t = 0); 0 means when the tracer starts. A worker passes process 0's
   * start shifted by its clock offset, so that every process's records
   * share process 0's clock. */
  uint64_t start_ns;
  /* The run's configuration as one line of text (heed train writes its
   * command line), kept in the header (`config`); NULL for none. At most
   * HEED_TRACE_MAX_CONFIG bytes are kept. */
  const char *config;
} heed_trace_opts;

#define HEED_TRACE_MAX_CONFIG 4096

/* Opens the sinks and starts the tracer's thread. One-line reason in err. */
HEED_API int heed_trace_new(heed_trace **tp, const heed_trace_opts *opts,
                            char *err, size_t errlen);

typedef struct heed_trace_stats {
  uint64_t recorded; /* events queued */
  uint64_t dropped;  /* events dropped because the queue was full */
  uint64_t written;  /* with a file: events whose records reached it whole
                        (all recorded ones unless a write failed); live
                        only: events published */
  uint64_t file_bytes; /* bytes that reached the file */
  int error; /* 0, or HEED_EIO once a write to the file failed (a full
                disk): the tracer then stops writing the file, keeps
                recording, and heed_trace_close reports it */
} heed_trace_stats;
/* The counts so far (final after heed_trace_close). */
HEED_API void heed_trace_stats_get(heed_trace *t, heed_trace_stats *st);

/* Stops the tracer and frees it: drains the queue, writes the final drop
 * count, writes out and closes the file. Returns 0, or HEED_EIO when any
 * write to the file failed, with a one-line reason in err that names the
 * file and says how many bytes and events it holds (a reader reads its
 * whole records). st, if not NULL, gets the final counts. NULL t is 0. */
HEED_API int heed_trace_close(heed_trace *t, heed_trace_stats *st,
                              char *err, size_t errlen);
/* heed_trace_close, ignoring the result. NULL is ignored. */
HEED_API void heed_trace_free(heed_trace *t);

/* Whether events of this batch are kept (the same answer for every actor,
 * so a sampled batch is recorded whole). */
HEED_API int heed_trace_wants(const heed_trace *t, uint64_t batch,
                              uint32_t kind);
/* Queues one event; never blocks. Returns HEED_EAGAIN when it was dropped. */
HEED_API int heed_trace_record(heed_trace *t, const heed_trace_event *ev);

/* Queues a METRIC record: the loss (mean cross-entropy) and accuracy (a
 * fraction) of `n` samples after `step` training steps, as the driver of
 * the run saw them. Not sampled (one per step is cheap, and a curve with
 * holes is worse); skipped (0) when t's kinds leave METRIC out. Never
 * blocks; HEED_EAGAIN when it was dropped (and counted). NULL t is 0. */
HEED_API int heed_trace_metric(heed_trace *t, uint64_t step, double loss,
                               double accuracy, uint32_t n);
/* Queues a MARK record: a moment of the run named `name` (a string that
 * lives as long as t, e.g. a literal; at most 32 bytes are kept) with a
 * value, after `step` training steps: heed continual marks each task's
 * start ("task", its number). Not sampled; as heed_trace_metric. */
HEED_API int heed_trace_mark(heed_trace *t, uint64_t step, const char *name,
                             uint32_t value);

/* The options t was made with (path and live_url set to NULL, start_ns
 * to its actual start, sink cleared): what the other processes of a run
 * need to trace alike. */
HEED_API void heed_trace_opts_get(const heed_trace *t, heed_trace_opts *o);

/* Moves t = 0 to start_ns (this process's CLOCK_MONOTONIC, ns): a
 * worker's estimate of its clock offset was refined. Any thread. */
HEED_API void heed_trace_set_start(heed_trace *t, uint64_t start_ns);

/* Bytes of other processes' records that may wait to be written before
 * more are dropped (and counted). */
#define HEED_TRACE_INBOX_MAX ((size_t)64 << 20)

/* Process 0 of a run over several processes: adds records that the tracer
 * of process `proc` encoded (its sink's records, whole and concatenated;
 * nrec of them) to this tracer's file and live stream. Never blocks: the
 * bytes are copied and queued for the tracer's thread, which writes a
 * record only if it is a trace record (not a header) of this run that
 * says it comes from `proc`; a record that is not, the records after it
 * in the same bytes, and bytes that do not fit in HEED_TRACE_INBOX_MAX
 * are dropped and counted in this tracer's drop count. Stop adding before
 * heed_trace_free. 0, HEED_EINVAL, HEED_EAGAIN (dropped) or HEED_ENOMEM
 * (dropped too). */
HEED_API int heed_trace_add_records(heed_trace *t, uint32_t proc,
                                    const void *bytes, size_t len,
                                    uint32_t nrec);

/* At most this many values are copied per event (opts.values), and at
 * most this many values and coefficients together; the summary (count,
 * mean, mean |x|, min, max) always covers all the values. */
#define HEED_TRACE_MAX_VALUES 1024

/* "forward", "bid", "control", "batch", "labels", "drops", "metric",
 * "mark", "loops" (one bit), or
 * "?" for anything else. */
HEED_API const char *heed_trace_kind_name(uint32_t kind);
/* A comma-separated list of kind names (or "all") into a mask. */
HEED_API int heed_trace_kinds_parse(const char *s, uint32_t *mask);
/* "driver", "input", "neuron", "hub", "critic" or "?". */
HEED_API const char *heed_trace_role_name(uint8_t role);

/* ---- Reading traces back (docs/trace-format.md) ---- */

struct heed_trace_rec {
  uint32_t kind;   /* one enum heed_trace_kind bit; 0 for the header */
  uint64_t run;
  uint64_t t_ns;   /* since the tracer started */
  uint64_t dur_ns;
  uint64_t batch;
  heed_trace_who sender, receiver;
  uint32_t fanout, loop;
  uint32_t proc;   /* process that recorded it (0 when absent: one process
                      or the coordinator) */
  /* Summary of the event's values (all of them, not only those stored). */
  uint32_t count;
  double mean, mean_abs, min, max;
  const float *values; /* stored values or NULL; valid until the next call */
  uint32_t nvalues;
  const float *coef; /* a bid to a hub: its stored coefficients (`coef`),
                        or NULL; valid until the next call */
  uint32_t ncoef;
  /* DROPS records: */
  uint64_t dropped, recorded;
  int end; /* the last one of its process: the tracer closed */
  uint64_t shed; /* with a live stream: event records it left out so far
                    (a slow subscriber; the file has them all) */
  /* METRIC records (batch holds the step, count the samples): */
  double loss, acc;
  /* MARK records (batch holds the step): its name (NUL-terminated, valid
   * until the next call) and value */
  const char *mark;
  uint32_t value;
  /* LOOPS records: per runtime loop, [handled, turns, queued, peak] as in
   * heed_loop_stats (valid until the next call) */
  uint32_t nloops;
  const uint64_t (*loops)[4];
  /* The header (kind 0): */
  uint32_t version;
  uint64_t start_unix_ns;
  double sample;
  uint32_t kinds;
  uint32_t procs;  /* processes of the run (0 when absent: one) */
  const char *config; /* the run's configuration (NUL-terminated, valid
                         until the next call), or NULL when absent */
};

typedef struct heed_trace_reader heed_trace_reader;

/* The longest record a reader accepts, in bytes (a record with 1024 stored
 * values takes about 5.3 KB). Longer is not a trace: the reader refuses
 * it before buffering or decoding it. */
#define HEED_TRACE_MAX_RECORD 65536

/* A reader fed by the caller (heed_trace_reader_feed), e.g. with the
 * messages of a live stream. */
HEED_API int heed_trace_reader_new(heed_trace_reader **rp);
/* A reader of a trace file ("-" is stdin). One-line reason in err. */
HEED_API int heed_trace_reader_open(heed_trace_reader **rp, const char *path,
                                    char *err, size_t errlen);
HEED_API int heed_trace_reader_feed(heed_trace_reader *r, const void *data,
                                    size_t len);
/* The next record: 1 when *rec holds one, 0 at the end (of the file, or of
 * the bytes fed so far), HEED_ETRUNC when a file ends inside a record (the
 * records before it were whole), HEED_EFORMAT on bytes that are not a trace
 * record (a record longer than HEED_TRACE_MAX_RECORD, or an array or map
 * declaring more elements than its bytes could hold, included),
 * HEED_EVERSION on a header of another version, HEED_EIO on a read error.
 * Memory use stays within a small multiple of HEED_TRACE_MAX_RECORD
 * whatever the input. After an error, the reader stays in error. */
HEED_API int heed_trace_reader_next(heed_trace_reader *r,
                                    heed_trace_rec *rec);
/* Byte offset in the input of the end of the last whole record. */
HEED_API uint64_t heed_trace_reader_offset(const heed_trace_reader *r);
HEED_API void heed_trace_reader_free(heed_trace_reader *r);

/* Record filters for readers: each range is inclusive; lo > hi disables
 * it (heed_trace_filter_init disables all). A record passes when its kind
 * is in kinds and its batch in the batch range and, when a layer or neuron
 * range is set, its sender or its receiver is in the layer range and (for
 * a neuron range) is a neuron whose index is in it. */
typedef struct heed_trace_filter {
  uint32_t kinds;
  uint64_t batch_lo, batch_hi;
  uint32_t layer_lo, layer_hi;
  uint32_t neuron_lo, neuron_hi;
} heed_trace_filter;
HEED_API void heed_trace_filter_init(heed_trace_filter *f);
HEED_API int heed_trace_filter_match(const heed_trace_filter *f,
                                     const heed_trace_rec *rec);

/* ---- Watching a run: the observer (docs/tracing.md#watching-a-run) ---- */

/* A web page that watches a run: an HTTP server (nng's) on addr that
 * serves the page at / and a summary of the records it was given at
 * /state.json, which the page polls: loss and accuracy, messages per
 * second by kind and per loop, how busy each loop is, drops, control
 * messages (CONSOLIDATE), and attention received per neuron over time.
 * addr is HOST:PORT (a bare PORT means 127.0.0.1:PORT; port 0 picks a
 * free one, see heed_trace_server_url). Memory stays within a few MB per
 * neuron layer whatever the records say. source names the run on the page
 * (a file, a URL); live says more records are coming. One-line reason in
 * err. Any thread may call any of these; they never block for long. */
typedef struct heed_trace_server heed_trace_server;
HEED_API int heed_trace_server_new(heed_trace_server **sp, const char *addr,
                                   const char *source, int live, char *err,
                                   size_t errlen);
/* "http://HOST:PORT/": where the page is. */
HEED_API const char *heed_trace_server_url(const heed_trace_server *s);
/* Adds one decoded record (a reader's, in the order read; the header
 * first when there is one). */
HEED_API void heed_trace_server_add(heed_trace_server *s,
                                    const heed_trace_rec *rec);
/* Adds encoded records (whole ones): a heed_trace_opts.sink, arg being
 * the server. Bad bytes are counted. */
HEED_API void heed_trace_server_sink(void *arg, const void *rec, size_t len);
/* heed_trace_server_add as a heed_trace_opts.watch, arg being the server:
 * how a run watches itself, at a small cost to its tracer's thread. */
HEED_API void heed_trace_server_watch(void *arg, const heed_trace_rec *rec);
/* The run is over: the page stops polling. */
HEED_API void heed_trace_server_done(heed_trace_server *s);
/* Stops serving and frees s. NULL is ignored. */
HEED_API void heed_trace_server_free(heed_trace_server *s);

#ifdef __cplusplus
}
#endif
#endif /* HEED_TRACE_H */
