/*
 * analysis.h - what heed-trace (and a future live observer) compute from
 * the records of a trace (internal): messages by kind and receiving layer,
 * wall time per batch, attention received per neuron and how concentrated
 * it is (analysis.c), and a Chrome trace-event export (chrome.c).
 *
 * The records may come from any bytes (a file is outside input): every
 * record is checked before it touches a table (heed__ta_check), so memory
 * grows with the number of distinct actors and batches in the records,
 * never with an index a record claims, and nothing here exits or prints.
 */
#ifndef HEED_TRACE_ANALYSIS_H
#define HEED_TRACE_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "heed/trace.h"

/* Neuron layers are 1..HEED__TA_MAX_LAYER (a checkpoint's limit), so a
 * record's layer is at most HEED__TA_MAX_LAYER + 1 (the critic). */
#define HEED__TA_MAX_LAYER 64
/* heed_net_new builds layers of at most 2^24 neurons: a larger index
 * (other than HEED_TRACE_ALL_NEURONS) is not from heed. */
#define HEED__TA_MAX_INDEX ((1u << 24) - 1)
#define HEED__TA_MAX_ROLE HEED_ROLE_CRITIC
/* A run has at most 64 processes (heed/cluster.h): proc is 0..63. */
#define HEED__TA_MAX_PROCS 64

/* Checks the ends of record number nrec (1 is the header): roles, layers
 * and indices heed can write. 0, or HEED_ERANGE with a one-line reason
 * ("record 12: ...") in err. */
int heed__ta_check(const heed_trace_rec *r, uint64_t nrec, char *err,
                   size_t errlen);

/* "neuron L1#5", "neurons L2" (a whole layer), "hub L1", "critic", ... */
const char *heed__ta_who_str(const heed_trace_who *w, char *buf,
                             size_t len);

/* Open addressing from a pair of u64 to a u64. A zeroed one is empty. */
typedef struct heed__ta_map {
  uint64_t *k1, *k2, *val;
  unsigned char *used;
  size_t cap, n;
} heed__ta_map;
void heed__ta_map_free(heed__ta_map *m);
/* The value of (a, b), or NULL (then *at is where it would go). */
uint64_t *heed__ta_map_find(const heed__ta_map *m, uint64_t a, uint64_t b,
                            size_t *at);
/* The value of (a, b), inserted as fresh when absent (*isnew set); NULL
 * when out of memory. */
uint64_t *heed__ta_map_get(heed__ta_map *m, uint64_t a, uint64_t b,
                           uint64_t fresh, int *isnew);

typedef struct heed__ta_batch {
  uint64_t batch, first, last; /* ns: first record's start, last's end */
  int train;                   /* has bids */
  uint32_t rank;               /* among training batches, by id */
} heed__ta_batch;

/* Attention received by the neurons of one layer, one slot per neuron
 * seen (in the order first seen). */
typedef struct heed__ta_att {
  heed__ta_map slot; /* neuron index -> slot */
  uint32_t *index;   /* [cap]: the neuron of each slot */
  double *sum;       /* [5][cap]: per quarter of the training batches, */
  uint64_t *cnt;     /* then over all of them */
  uint32_t n, cap;
} heed__ta_att;

/* Statistics of a trace, from two passes over its records: the first
 * counts and finds the training batches, the second (after
 * heed__ta_stats_pass2) sums attention per quarter of those batches. */
typedef struct heed__ta_stats {
  int pass;
  uint64_t nrec; /* records seen in this pass, header included */
  uint64_t kind_layer[10][HEED__TA_MAX_LAYER + 2]; /* [1 + kind bit][layer] */
  uint32_t max_layer;
  heed__ta_map batches; /* batch id -> index in binfo */
  heed__ta_batch *binfo;
  size_t nbatch, capbatch;
  uint32_t ntrain;
  heed__ta_att layer[HEED__TA_MAX_LAYER + 1];
  uint64_t dropped, recorded, records; /* records: events in pass 1;
                                          drops summed over processes */
  uint64_t metrics;      /* METRIC records (not in records or the table) */
  uint64_t marks;        /* MARK records (neither) */
  uint64_t last_step;    /* the last one's step, loss and accuracy */
  double last_loss, last_acc;
  double sample;
  uint64_t run;
  uint32_t procs;                            /* the header's, 0: one */
  uint64_t proc_records[HEED__TA_MAX_PROCS]; /* events per process */
  uint64_t proc_dropped[HEED__TA_MAX_PROCS]; /* last drops record of each */
  uint64_t proc_recorded[HEED__TA_MAX_PROCS];
} heed__ta_stats;

void heed__ta_stats_init(heed__ta_stats *s);
void heed__ta_stats_free(heed__ta_stats *s);
/* Adds one record (in file order, header first) to the current pass.
 * 0, HEED_ERANGE (heed__ta_check) or HEED_ENOMEM, with a reason in err. */
int heed__ta_stats_add(heed__ta_stats *s, const heed_trace_rec *r,
                       char *err, size_t errlen);
/* Ends the first pass: ranks the training batches. 0 or HEED_ENOMEM. */
int heed__ta_stats_pass2(heed__ta_stats *s);

/* Wall time (ms) of every training batch, ascending, in a new array the
 * caller frees with heed__free (NULL when there are none); *neval gets the
 * count of forward-only batches. 0 or HEED_ENOMEM. */
int heed__ta_batch_times(const heed__ta_stats *s, double **ms, size_t *n,
                         size_t *neval);

/* Neurons of layer l (1..HEED__TA_MAX_LAYER) that received attention. */
uint32_t heed__ta_neurons(const heed__ta_stats *s, uint32_t l);

/* Mean attention per neuron of layer l over quarter q of the training
 * batches (0..3, or 4 for all of them), most attended first (neurons
 * without attention in q left out; non-finite means last), and its Gini
 * coefficient (0: all equal, towards 1: all on one; NAN with none). */
typedef struct heed__ta_view {
  uint32_t n;
  uint32_t *index;
  double *mean;
  double gini;
} heed__ta_view;
int heed__ta_attention(const heed__ta_stats *s, uint32_t l, int q,
                       heed__ta_view *v);
void heed__ta_view_free(heed__ta_view *v);

/* Who pays attention to whom (attention --matrix): per sending layer l
 * (2..HEED__TA_MAX_LAYER), the price neuron k of layer l pays neuron i of
 * layer l-1, as the mean over the batches of mean_s |pi_ki[s]|. A bid
 * neuron (l, k) -> hub l carries g_k (its summary: mean_s |g_k[s]|) and,
 * recorded with values, the coefficients c_k (`coef`); pi_ki = g_k c_ki,
 * and c_ki is one number per batch, so mean_s |pi_ki[s]| =
 * |c_ki| mean_s |g_k[s]|: exact, from what the trace holds. Entries of
 * receivers beyond the coefficients a record kept (HEED_TRACE_MAX_VALUES
 * with the values) are not counted for that batch. Memory grows with the
 * coefficients in the records, never with an index they claim. */
typedef struct heed__ta_row {
  uint32_t k;        /* the sender's index in its layer */
  uint32_t len, cap; /* receivers 0..len-1 seen */
  uint64_t batches;  /* its records with coefficients */
  double *sum;       /* [len]: |c_ki| mean|g_k| summed over them */
  uint32_t *n;       /* [len]: how many of them had c_ki */
} heed__ta_row;

typedef struct heed__ta_matrix {
  uint64_t nrec;
  uint64_t bids, with_coef; /* bids to a hub; those with coefficients */
  struct {
    heed__ta_map slot; /* sender index -> row */
    heed__ta_row *rows;
    uint32_t n, cap;
  } layer[HEED__TA_MAX_LAYER + 1];
} heed__ta_matrix;

void heed__ta_matrix_init(heed__ta_matrix *m);
void heed__ta_matrix_free(heed__ta_matrix *m);
/* Adds one record. 0, HEED_ERANGE (heed__ta_check) or HEED_ENOMEM, with
 * a reason in err. */
int heed__ta_matrix_add(heed__ta_matrix *m, const heed_trace_rec *r,
                        char *err, size_t errlen);
/* Sorts each layer's rows by sender; no adds after it. */
void heed__ta_matrix_finish(heed__ta_matrix *m);

/* Chrome trace-event JSON: collect the records (heed__ta_chrome_add, any
 * order), then write them sorted by time, one process group (pid) per
 * heed process (proc + 1), with flow arrows from sender to receiver
 * (across processes too), counter tracks (loss and accuracy from METRIC
 * records, the mean attention per layer and batch, and per runtime loop
 * the messages waiting in its mailboxes and its longest mailbox, from
 * LOOPS records within the time the exported events span), and the
 * header's run, sample and configuration in "metadata". Values that are
 * not finite (a diverging run) are written as the strings "nan", "inf",
 * "-inf".
 *
 * The tracks (heed__ta_chrome_tracks):
 * - LAYER (the default): one track per layer of receivers ("neurons L1",
 *   "hub L1", "critic", ...), and on it one slice per message kind and
 *   batch, from the first handling's start to the last one's end; its
 *   args count the messages, their busy time and the longest one, and
 *   for messages about neurons (bids and rows) hold each neuron's mean
 *   |x| ("mean_abs_by_neuron": an array indexed by neuron when the
 *   neurons are 0..n-1, else an object keyed by index). Slices of batches
 *   in flight together go on extra lanes ("neurons L1 (2)"), so that no
 *   two overlap on one track. About 60 bytes a message, not 400.
 * - ACTOR: one track per receiving actor, one slice per message.
 * - LOOP: one track per runtime loop ("loop N"), one slice per message,
 *   each saying its actor in args.to. */
typedef struct heed__ta_chrome heed__ta_chrome;
enum { HEED__TA_TRACKS_LAYER, HEED__TA_TRACKS_ACTOR, HEED__TA_TRACKS_LOOP };
int heed__ta_chrome_new(heed__ta_chrome **cp);
void heed__ta_chrome_free(heed__ta_chrome *c);
/* 0, HEED_ERANGE (heed__ta_check) or HEED_ENOMEM, reason in err. */
int heed__ta_chrome_add(heed__ta_chrome *c, const heed_trace_rec *r,
                        char *err, size_t errlen);
typedef struct heed__ta_chrome_info {
  size_t events;   /* records exported (messages and metrics) */
  uint64_t slices; /* slices written: messages, or groups of them */
  uint64_t tracks, flows;
  uint32_t procs; /* process groups written */
  uint64_t counters; /* counter samples: loss, accuracy, attention L<l>,
                        loop mailboxes */
} heed__ta_chrome_info;
void heed__ta_chrome_tracks(heed__ta_chrome *c, int tracks);
/* Writes the JSON to f (which the caller flushes and closes). 0,
 * HEED_ENOMEM, or HEED_EIO when f reports a write error. */
int heed__ta_chrome_write(heed__ta_chrome *c, FILE *f,
                          heed__ta_chrome_info *info);

#endif
