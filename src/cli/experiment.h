/*
 * experiment.h - what `heed train` and `heed continual` share: the
 * architecture and optimizer flags, building the runtime and network, and
 * one epoch of training over (part of) a data set. Internal.
 */
#ifndef HEED_CLI_EXPERIMENT_H
#define HEED_CLI_EXPERIMENT_H

#include <stdio.h>

#include "cli/society.h"
#include "heed/checkpoint.h"
#include "heed/heed.h"

/* Weight layers: as many as a checkpoint may hold, so that any checkpoint
 * heed can load can also be resumed (hidden[] holds up to one fewer). */
#define HEED_EXP_MAX_LAYERS HEED_CHECKPOINT_MAX_LAYERS

/* Bits of heed_exp_opts.given: the flags the command line gave, so that a
 * resumed run can tell a flag that contradicts its checkpoint. */
enum {
  HEED_EXP_GIVEN_DATA = 1 << 0,
  HEED_EXP_GIVEN_HIDDEN = 1 << 1,
  HEED_EXP_GIVEN_ACT = 1 << 2,
  HEED_EXP_GIVEN_INIT = 1 << 3,
  HEED_EXP_GIVEN_STRATEGY = 1 << 4,
  HEED_EXP_GIVEN_BATCH = 1 << 5,
  HEED_EXP_GIVEN_LR = 1 << 6,
  HEED_EXP_GIVEN_SEED = 1 << 7,
  HEED_EXP_GIVEN_SHUFFLE = 1 << 8,
  HEED_EXP_GIVEN_SPLIT_SEED = 1 << 9,
};

typedef struct heed_exp_opts {
  const char *data, *data_dir;
  /* What the neurons play: one spec, or one per weight layer joined by ';'
   * ("bp;guard:c=0.01;bp"); a layer whose neurons differ reads "mixed". */
  const char *strategy;
  /* When set, the spec the network is built with instead (a resumed mixed
   * society is built with one spec, then the checkpoint sets each neuron). */
  const char *build_strategy;
  unsigned given; /* HEED_EXP_GIVEN_* */
  const char *society_path; /* --society FILE */
  heed_society society;     /* its assignments, once loaded */
  char society_desc[1024];  /* strategy points here once it is loaded */
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
/* The usage lines of the shared flags; HEED_EXP_USAGE_CONTINUAL leaves
 * out the ones heed continual has its own form of (--epochs, --max-steps). */
#define HEED_EXP_USAGE_TRAIN 0
#define HEED_EXP_USAGE_CONTINUAL 1
void heed__exp_usage(FILE *f, int which);
/* Consumes argv[*i] (and its value) if it is a shared flag: returns 1 if
 * consumed, 0 if not a shared flag, -1 on a bad value (error printed). */
int heed__exp_parse(const char *cmd, heed_exp_opts *o, int argc, char **argv,
                    int *i);

/* Runtime + network for input size `in` and `classes` outputs. Prints a
 * one-line error and returns nonzero on failure. */
int heed__exp_build(const char *cmd, const heed_exp_opts *o, uint32_t in,
                    uint32_t classes, heed_runtime **rt, heed_net **net);

/* The spec weight layer l (0-based) of nlayers plays under o->strategy
 * (or o->build_strategy), into buf: the whole string when it has no ';',
 * else its l-th part. Prints a one-line error and returns nonzero when the
 * number of parts is not nlayers or a part is too long. */
int heed__exp_layer_spec(const char *cmd, const heed_exp_opts *o, size_t l,
                         size_t nlayers, char *buf, size_t len);

/* Checks --data before loading: a known name or an existing directory;
 * a missing path is named as such, a mistyped name gets a suggestion.
 * One line and nonzero otherwise. */
int heed__exp_check_data(const char *cmd, const heed_exp_opts *o);

/* Checks --strategy before any work: as many specs as weight layers
 * (o->nhidden + 1), each one a strategy heed knows with parameters in
 * range. Prints one line and returns nonzero otherwise. */
int heed__exp_check_strategy(const char *cmd, const heed_exp_opts *o);

/* Loads --society (after heed__exp_check_strategy): o->strategy then
 * describes the society (per layer, "mixed" where neurons differ) and the
 * network is built from --strategy, then the file's assignments. */
int heed__exp_society(const char *cmd, heed_exp_opts *o);

/* Resuming (resume.c): takes the network shape and the run's options from
 * checkpoint ck (read from path) into o, and describes what its neurons
 * play into strategy (o->strategy then points there; build into build,
 * o->build_strategy points there). A flag in o->given that says otherwise
 * is a one-line error naming the flag and the checkpoint (nonzero). */
int heed__exp_from_checkpoint(const char *cmd, heed_exp_opts *o,
                              const heed_checkpoint *ck, const char *path,
                              char *strategy, size_t slen, char *build,
                              size_t blen);

/* "auto", "he", "xavier" or "torch". */
const char *heed__exp_init_name(heed_init i);

/* The run's effective options as command-line text ("--data digits
 * --hidden 64 ... --strategy retain:lambda=10 --lr 0.1 ..."), into buf: a
 * checkpoint's meta.args. */
void heed__exp_args(const heed_exp_opts *o, char *buf, size_t len);

#endif
