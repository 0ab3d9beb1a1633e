/* observe.h - the --observe flags of heed train and heed continual
 * (internal): a web page that watches the run (heed_trace_server, fed by
 * the run's own tracer through its sink), the run's command line for the
 * trace header, and the loss of each step as a METRIC record. */
#ifndef HEED_CLI_OBSERVE_H
#define HEED_CLI_OBSERVE_H

#include <stddef.h>
#include <stdio.h>

#include "heed/net.h"
#include "heed/trace.h"

typedef struct heed__observer {
  const char *addr; /* --observe ADDR, or NULL */
  int keep;         /* --observe-keep */
  heed_trace_server *srv;
} heed__observer;

/* --observe ADDR / --observe-keep: 1 consumed, 0 not one, -1 bad. */
int heed__observe_parse(const char *cmd, heed__observer *o, int argc,
                        char **argv, int *i);
/* Every tracing flag of a command (heed train, heed continual): --trace,
 * --trace-live, --trace-sample, --trace-kinds, --trace-values and the
 * --observe ones. 1 consumed, 0 not one, -1 bad (after one line). */
int heed__trace_flags_parse(const char *cmd, heed_trace_opts *tr,
                            heed__observer *o, int argc, char **argv, int *i);
/* The tracer the flags ask for (*tp stays NULL when none): the observer
 * first, then the tracer feeding it. 0, or -1 after one line. */
int heed__trace_open(const char *cmd, heed_trace_opts *tr, heed__observer *o,
                     heed_trace **tp);
/* Closes *tp (once nothing records into it), says how many records it
 * took and dropped, then heed__observe_end. Nonzero, after one line, when
 * its file could not be written whole. */
int heed__trace_close(const char *cmd, heed_trace **tp, heed__observer *o);
/* Starts the server (when asked for) and makes it a sink of the tracer
 * about to be made with tr. 0, or -1 after one line on stderr. */
int heed__observe_start(const char *cmd, heed__observer *o,
                        heed_trace_opts *tr);
/* The tracer is closed: the page says the run is over; with --observe-keep
 * this waits for Ctrl-C (SIGINT or SIGTERM) before returning. */
void heed__observe_end(const char *cmd, heed__observer *o);
void heed__observe_free(heed__observer *o);
/* One usage block for those flags. */
void heed__trace_usage(FILE *f);
/* "heed CMD ARG ..." (each argument quoted when needed), cut to len. */
void heed__observe_config(char *out, size_t len, const char *cmd, int argc,
                          char **argv);
/* One METRIC record for a training step's stats (none when st is empty or
 * t is NULL). */
void heed__observe_metric(heed_trace *t, uint64_t step,
                          const heed_batch_stats *st);

#endif
