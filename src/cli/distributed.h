/*
 * distributed.h - the coordinator side of a run spread over processes
 * (`heed train --workers N` / `--cluster FILE`). Internal; see
 * docs/distributed.md.
 */
#ifndef HEED_CLI_DISTRIBUTED_H
#define HEED_CLI_DISTRIBUTED_H

#include <stdio.h>

#include "cli/experiment.h"

typedef struct heed_dist_opts {
  unsigned workers;         /* local worker processes (0: none) */
  const char *cluster;      /* file of worker URLs */
  size_t max_frame;         /* bytes; 0: default */
  uint64_t checkpoint_every; /* steps; 0: never */
  int argc;
  char **argv;
} heed_dist_opts;

typedef struct heed_dist heed_dist;

void heed__dist_usage(FILE *f);
/* 1: consumed argv[*i] (and its value), 0: not ours, -1: bad value. */
int heed__dist_parse(const char *cmd, heed_dist_opts *d, int argc,
                     char **argv, int *i);
int heed__dist_enabled(const heed_dist_opts *d);

/* Starts (or reaches) the workers, sends them the run and builds this
 * process's part of the network. Prints one line and returns nonzero on
 * failure (workers already stopped). */
int heed__dist_build(heed_dist **dp, const char *cmd, const heed_dist_opts *d,
                     const heed_exp_opts *o, uint32_t in, uint32_t classes,
                     heed_runtime **rt, heed_net **net);
/* heed_net_pull / heed_net_push with a one-line error; 0 when d is NULL. */
int heed__dist_pull(heed_dist *d);
int heed__dist_push(heed_dist *d);
/* Nonzero once a worker has died. */
int heed__dist_failed(const heed_dist *d);
/* Stops the workers (STOP; local ones are terminated and reaped) and this
 * process's transport threads. Call before heed_net_free. NULL ignored. */
void heed__dist_stop(heed_dist *d);
/* Frees what is left. Call after heed_runtime_free. NULL ignored. */
void heed__dist_free(heed_dist *d);

/* Shared with `heed worker` and `heed bench transport`. */
uint64_t heed__dist_random64(void);
double heed__dist_now(void);

#endif
