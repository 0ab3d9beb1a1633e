/*
 * distributed.h - the flags of a run spread over processes (`heed train
 * --workers N`, `--cluster FILE`, `--launcher mpi|slurm`) and the lines
 * it prints; the work is heed/cluster.h. Internal; docs/distributed.md.
 */
#ifndef HEED_CLI_DISTRIBUTED_H
#define HEED_CLI_DISTRIBUTED_H

#include <stdio.h>

#include "cli/experiment.h"
#include "heed/checkpoint.h"
#include "heed/cluster.h"

typedef struct heed_dist_opts {
  unsigned workers;          /* local worker processes (0: none) */
  const char *cluster;       /* file of worker URLs */
  const char *launcher;      /* "mpi" or "slurm" */
  const char *join;          /* launchers: the coordinator's URL */
  const char *secret_file;   /* else $HEED_SECRET */
  int insecure;
  size_t max_frame;          /* bytes; 0: default */
  uint64_t checkpoint_every; /* steps; 0: never */
  const char *placement;     /* "layers" or "slices"; NULL: the default */
  int argc;
  char **argv;
} heed_dist_opts;

typedef struct heed_dist heed_dist;

void heed__dist_usage(FILE *f);
/* 1: consumed argv[*i] (and its value), 0: not ours, -1: bad value. */
int heed__dist_parse(const char *cmd, heed_dist_opts *d, int argc,
                     char **argv, int *i);
int heed__dist_enabled(const heed_dist_opts *d);

/* Checks the flags go together (else 2, after one line); then, under a
 * launcher, on a rank other than 0 this process serves as a worker and
 * the return value is its exit status; -1 on rank 0 (go on as the
 * coordinator) or without --launcher. */
int heed__dist_launch(const char *cmd, const heed_dist_opts *d);

/* heed_cluster_start + a runtime + heed_cluster_net_new. Every process
 * builds the strategies of o (per layer, --society) or, resuming, those of
 * ck neuron by neuron. Prints one line and returns nonzero on failure
 * (workers already stopped). */
int heed__dist_build(heed_dist **dp, const char *cmd, const heed_dist_opts *d,
                     const heed_exp_opts *o, const heed_checkpoint *ck,
                     uint32_t in, uint32_t classes, heed_runtime **rt,
                     heed_net **net);
/* heed_cluster_pull / _push with a one-line error; 0 when d is NULL. */
int heed__dist_pull(heed_dist *d);
int heed__dist_push(heed_dist *d);
/* heed_cluster_set_trace with a one-line error; the processes of the run
 * (1 when d is NULL). */
int heed__dist_trace(heed_dist *d, struct heed_trace *t);
unsigned heed__dist_procs(const heed_dist *d);
/* Nonzero once the run has failed (a worker died, a signal, ...). */
int heed__dist_failed(const heed_dist *d);
/* heed_cluster_stop: before heed_net_free. NULL ignored. */
void heed__dist_stop(heed_dist *d);
/* heed_cluster_free: after heed_runtime_free. NULL ignored. */
void heed__dist_free(heed_dist *d);

/* Monotonic seconds (heed bench transport). */
double heed__dist_now(void);

/* The secret of --secret-file FILE or $HEED_SECRET: its length, 0 when
 * none is given, -1 after printing why it cannot be read. */
int heed__dist_secret(const char *cmd, const char *file, uint8_t *out,
                      size_t cap);

/* SIGINT, SIGTERM and SIGHUP call handler (which only sets a flag the
 * cluster polls); SIGPIPE is ignored. Coordinator and worker alike. */
void heed__dist_catch_signals(void (*handler)(int));

#endif
