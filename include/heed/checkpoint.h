/*
 * heed/checkpoint.h - saving a network and its training run to disk.
 *
 * A checkpoint is one MessagePack map (format "heed-checkpoint", version 1;
 * docs/checkpoint-format.md documents it key by key): layer sizes,
 * activations, every neuron's strategy and strategy state, weights, biases,
 * step and learning rate, plus the driver's metadata (heed_checkpoint_meta).
 *
 * Saving is atomic: the file is written to PATH.tmp.<pid> in the same
 * directory, fsync'd, renamed over PATH and the directory fsync'd, so a
 * crash leaves either the old checkpoint or the new one, never half of one.
 * Loading validates every count and length before use and never trusts the
 * file: a malformed, truncated or foreign file gives a negative code and a
 * one-line reason that names the file.
 */
#ifndef HEED_CHECKPOINT_H
#define HEED_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "heed/error.h"
#include "heed/net.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEED_CHECKPOINT_FORMAT "heed-checkpoint"
#define HEED_CHECKPOINT_VERSION 1
/* Limits a checkpoint must respect (the loader rejects anything larger). */
#define HEED_CHECKPOINT_MAX_LAYERS 64        /* weight layers */
#define HEED_CHECKPOINT_MAX_SIZE (1u << 24)  /* units in one layer */
#define HEED_CHECKPOINT_MAX_BYTES ((uint64_t)1 << 33) /* file size: 8 GiB */
#define HEED_CHECKPOINT_MAX_CURVE (1u << 24) /* train-curve points */

/* One point of the training curve. */
typedef struct heed_checkpoint_point {
  uint64_t step;
  double loss;
  double acc;
} heed_checkpoint_point;

/* What the driver needs to resume a run. Strings may be NULL (saved as
 * empty); curve may be NULL when ncurve is 0. */
typedef struct heed_checkpoint_meta {
  uint64_t seed;       /* the run's seed */
  uint32_t epoch;      /* epochs completed */
  uint32_t batch;      /* mini-batch size */
  int shuffle;         /* nonzero: the data is reshuffled each epoch */
  const char *dataset; /* dataset name, e.g. "mnist" */
  const char *args;    /* free-form: the rest of the run's options */
  size_t ncurve;
  const heed_checkpoint_point *curve;
} heed_checkpoint_meta;

/* The run options a checkpoint records and the command line takes, with
 * the one range both enforce: the loader refuses a checkpoint whose field
 * is out of the range the flag would be refused for, and the saver refuses
 * to write one. A checkpoint's epoch (epochs done) may also be 0, and its
 * batch 0 (not recorded: saved without meta). */
typedef enum heed_run_field {
  HEED_RUN_BATCH,  /* mini-batch size, integer in [1, 4096] (--batch) */
  HEED_RUN_LR,     /* learning rate, in [1e-9, 100] (--lr) */
  HEED_RUN_EPOCHS, /* epochs, integer in [1, 100000] (--epochs) */
  HEED_RUN_NFIELDS
} heed_run_field;

typedef struct heed_run_limit {
  const char *name; /* the checkpoint's key: "batch", "lr", "epoch" */
  const char *flag; /* the command line's flag: "--batch", ... */
  double min, max;  /* closed range */
  int integer;      /* nonzero: whole numbers only */
} heed_run_limit;

/* The limit of f; NULL for an unknown field. */
HEED_API const heed_run_limit *heed_run_limit_of(heed_run_field f);
/* 0 when v is finite, within f's range (and whole when it must be), else
 * HEED_ERANGE with "'NAME' = V is out of range [MIN, MAX]" in err. */
HEED_API int heed_run_check(heed_run_field f, double v, char *err,
                            size_t errlen);

typedef struct heed_checkpoint heed_checkpoint;

/* Writes net (and meta, which may be NULL) to path atomically. Blocks until
 * the network is idle. path must be a regular file or a new name (a
 * device, FIFO, socket or directory is HEED_EINVAL, never replaced); its
 * batch, epoch and the net's lr must be within heed_run_limit_of's ranges
 * (HEED_ERANGE). On error returns a negative code (HEED_EIO, HEED_ENOMEM,
 * HEED_ERANGE, ...) with a one-line reason in err. Leftover PATH.tmp.PID
 * files of processes that no longer run (killed while saving) are removed
 * first. */
HEED_API int heed_checkpoint_save(const heed_net *net,
                                  const heed_checkpoint_meta *meta,
                                  const char *path, char *err, size_t errlen);

/* Reads and validates path, including the run options against
 * heed_run_limit_of and the strategies' parameters against their declared
 * ranges (for strategies registered by then). Errors: HEED_EIO (cannot read), HEED_EFORMAT
 * (not a heed checkpoint, wrong types or lengths), HEED_ETRUNC (cut short),
 * HEED_EVERSION (another format version), HEED_ERANGE (over a limit),
 * HEED_ENOMEM. */
HEED_API int heed_checkpoint_load(heed_checkpoint **ck, const char *path,
                                  char *err, size_t errlen);
/* The same checks on len bytes of buf already in memory (a checkpoint
 * received over a socket, or a fuzzer's input); name stands for the path in
 * messages (NULL: "checkpoint"). The checkpoint copies what it keeps. */
HEED_API int heed_checkpoint_load_mem(heed_checkpoint **ck, const void *buf,
                                      size_t len, const char *name, char *err,
                                      size_t errlen);
/* NULL is ignored. */
HEED_API void heed_checkpoint_free(heed_checkpoint *ck);

/* Layer sizes including the input (nsizes = weight layers + 1). */
HEED_API size_t heed_checkpoint_nsizes(const heed_checkpoint *ck);
HEED_API const uint32_t *heed_checkpoint_sizes(const heed_checkpoint *ck);
/* Activation of weight layer l (1..nsizes-1). */
HEED_API heed_activation heed_checkpoint_activation(const heed_checkpoint *ck,
                                                    size_t l);
/* The metadata; its strings and curve live as long as ck. */
HEED_API const heed_checkpoint_meta *heed_checkpoint_meta_of(
    const heed_checkpoint *ck);
HEED_API uint64_t heed_checkpoint_step(const heed_checkpoint *ck);
HEED_API float heed_checkpoint_lr(const heed_checkpoint *ck);
/* Weights of weight layer l (1..nsizes-1): sizes[l] rows of sizes[l-1]
 * floats, row-major; biases: sizes[l] floats. NULL for a bad l. */
HEED_API const float *heed_checkpoint_weights(const heed_checkpoint *ck,
                                              size_t l);
HEED_API const float *heed_checkpoint_biases(const heed_checkpoint *ck,
                                             size_t l);
/* The spec ("retain:lambda=3") neuron (l, j) plays, into buf. */
HEED_API int heed_checkpoint_strategy(const heed_checkpoint *ck, size_t l,
                                      uint32_t j, char *buf, size_t len);

/* Restores weights, biases, strategies (found by name in the registry: load
 * a plugin first if the checkpoint uses one), per-neuron strategy state,
 * step and learning rate into net, which must have the same sizes and
 * activations. Not while a batch is in flight. */
HEED_API int heed_checkpoint_apply(const heed_checkpoint *ck, heed_net *net,
                                   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* HEED_CHECKPOINT_H */
