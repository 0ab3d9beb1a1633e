/*
 * society.h - a society file: which strategy each layer or neuron plays,
 * for heed train and heed continual (--society FILE; docs/runs.md).
 * Internal.
 *
 * One assignment a line, applied in order after --strategy:
 *
 *     # comment
 *     LAYER SPEC              every neuron of weight layer LAYER (1-based)
 *     LAYER:J SPEC            neuron J (0-based) of that layer
 *     LAYER:J-K SPEC          neurons J to K, both included
 *
 * e.g. "2 guard:c=0.01" or "1:0-31 sparse:q=0.5". Errors name the file and
 * line: "soc.txt:3: layer 4, the network has 3 weight layers".
 */
#ifndef HEED_CLI_SOCIETY_H
#define HEED_CLI_SOCIETY_H

#include <stddef.h>
#include <stdint.h>

#include "heed/heed.h"

#define HEED_SOCIETY_MAX 1024 /* assignments in one file */

typedef struct heed_society_line {
  unsigned line;    /* in the file, for messages */
  uint32_t layer;   /* 1-based weight layer */
  int whole;        /* every neuron of the layer */
  uint32_t lo, hi;  /* else neurons lo..hi */
  char spec[256];
} heed_society_line;

typedef struct heed_society {
  const char *path;
  heed_society_line *v;
  size_t n;
} heed_society;

/* Reads and checks path: syntax, layers within nlayers, specs that parse
 * with values in range. Neuron ranges are checked by _apply, which knows
 * the sizes. One line "heed CMD: PATH:LINE: reason" and nonzero on error. */
int heed__society_load(const char *cmd, const char *path, size_t nlayers,
                       heed_society *s);
/* Per-layer description after s (see heed_exp_opts.strategy): layers
 * given whole take their spec, layers given in part become "mixed".
 * layer[l] (nlayers entries, 256 bytes each) is updated in place. */
void heed__society_describe(const heed_society *s, char (*layer)[256],
                            size_t nlayers);
/* Gives the neurons of net their strategies (sizes: weight layers' unit
 * counts, nlayers of them). One line and nonzero on error. */
int heed__society_apply(const char *cmd, const heed_society *s,
                        heed_net *net, const uint32_t *sizes, size_t nlayers);
void heed__society_free(heed_society *s);

#endif
