/*
 * experiment.h - what `heed train` and `heed continual` share: the
 * architecture and optimizer flags, building the runtime and network, and
 * one epoch of training over (part of) a data set. Internal.
 */
#ifndef HEED_CLI_EXPERIMENT_H
#define HEED_CLI_EXPERIMENT_H

#include <stdio.h>

#include "heed/heed.h"

/* Weight layers: as many as a checkpoint may hold, so that any checkpoint
 * heed can load can also be resumed (hidden[] holds up to one fewer). */
#define HEED_EXP_MAX_LAYERS HEED_CHECKPOINT_MAX_LAYERS

typedef struct heed_exp_opts {
  const char *data, *data_dir, *strategy;
  uint32_t hidden[HEED_EXP_MAX_LAYERS];
  size_t nhidden;
  int hidden_set;
  heed_activation act;
  heed_init init;
  uint64_t split_seed; /* digits split; 0 = the fixed one */
  uint32_t epochs, batch, threads;
  int spin_us; /* heed_runtime_opts.spin_us: 0 default, -1 none */
  double lr;
  uint64_t seed, max_steps;
  int shuffle, json, quiet;
} heed_exp_opts;

void heed__exp_defaults(heed_exp_opts *o);
/* The usage lines of the shared flags. */
void heed__exp_usage(FILE *f);
/* Consumes argv[*i] (and its value) if it is a shared flag: returns 1 if
 * consumed, 0 if not a shared flag, -1 on a bad value (error printed). */
int heed__exp_parse(const char *cmd, heed_exp_opts *o, int argc, char **argv,
                    int *i);

/* Runtime + network for input size `in` and `classes` outputs. Prints a
 * one-line error and returns nonzero on failure. */
int heed__exp_build(const char *cmd, const heed_exp_opts *o, uint32_t in,
                    uint32_t classes, heed_runtime **rt, heed_net **net);

#endif
