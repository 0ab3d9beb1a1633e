/* progress.h - progress reports on stderr: a redrawn bar on a terminal,
 * plain periodic lines otherwise (logs, CI). Internal. */
#ifndef HEED_CLI_PROGRESS_H
#define HEED_CLI_PROGRESS_H

#include <stdint.h>

typedef struct heed_progress {
  int tty, quiet;
  double start, last;
  uint64_t total; /* steps in the whole run, for the ETA */
} heed_progress;

void heed__progress_init(heed_progress *p, uint64_t total_steps, int quiet);
/* Reports at most a few times a second (every 5 s when not a terminal). */
void heed__progress_update(heed_progress *p, uint32_t epoch, uint32_t epochs,
                           uint64_t step, double loss, double acc,
                           uint64_t samples, int force);
void heed__progress_done(heed_progress *p);
double heed__now(void);
/* Median of v[0..n) (sorts v); the benchmarks quote medians. */
double heed__median(double *v, int n);

#endif
