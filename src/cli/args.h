/* args.h - small, strict parsers for command-line values (internal). */
#ifndef HEED_CLI_ARGS_H
#define HEED_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "heed/checkpoint.h"

/* Each returns 0, or prints "heed CMD: ..." to stderr and returns -1. */
int heed__arg_u64(const char *cmd, const char *flag, const char *s,
                  uint64_t min, uint64_t max, uint64_t *out);
int heed__arg_float(const char *cmd, const char *flag, const char *s,
                    double min, double max, double *out);
/* A run option (--batch, --lr, --epochs) checked against the one range a
 * checkpoint's copy of it is checked against (heed_run_limit_of). */
int heed__arg_run(const char *cmd, heed_run_field f, const char *s,
                  double *out);
/* "256,128" -> sizes; "" or "none" -> no hidden layers. */
int heed__arg_sizes(const char *cmd, const char *flag, const char *s,
                    uint32_t *sizes, size_t max, size_t *n);
/* Returns the value of a flag that takes one (argv[++*i]), or NULL with an
 * error printed when it is missing. */
const char *heed__arg_value(const char *cmd, int argc, char **argv, int *i);

/* An output path checked before any work: NULL, or a regular file or a
 * new name in a directory that exists and can be written. A checkpoint
 * replaces its path by rename, so a device, FIFO, socket or directory is
 * refused (as root, renaming over /dev/null would destroy the device
 * node). Returns 0, or prints "heed CMD: FLAG PATH: ..." and returns -1. */
int heed__arg_out_path(const char *cmd, const char *flag, const char *path);

#endif
