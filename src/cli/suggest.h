/* suggest.h - "did you mean" for mistyped flags and strategy names
 * (internal). */
#ifndef HEED_CLI_SUGGEST_H
#define HEED_CLI_SUGGEST_H

#include <stddef.h>
#include <stdio.h>

/* The candidate closest to word by edit distance, if close enough to be a
 * typo (at most 1 edit for short words, 2 for longer, a third of the
 * length at most); else NULL. */
const char *heed__suggest(const char *word, const char *const *cands,
                          size_t n);

/* Prints "heed CMD: unknown option 'OPT' (did you mean '--X'? see 'heed
 * CMD --help')": the candidates are the flags usage() prints. */
void heed__unknown_option(const char *cmd, const char *opt,
                          void (*usage)(FILE *));

/* Prints a heed_strategy_new error for spec; for an unknown name (rv
 * HEED_ENOENT) the closest registered strategy is suggested. */
void heed__strategy_error(const char *cmd, const char *spec, int rv,
                          const char *err);

#endif
