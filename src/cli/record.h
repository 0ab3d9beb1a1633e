/*
 * record.h - run records: the directory a `heed train` or `heed continual`
 * run leaves behind (docs/runs.md), and a reader for `heed runs`. Internal.
 *
 * A run directory holds config.json (written when the run starts: every
 * effective option, heed's version, git describe, the data's checksums, the
 * strategy of each layer), metrics.jsonl (one JSON object a line, appended
 * as the run goes), final.json (written at the end: the config and the
 * final metrics, the same object --json prints) and the run's checkpoint
 * and plot.
 */
#ifndef HEED_CLI_RECORD_H
#define HEED_CLI_RECORD_H

#include <stdio.h>

#include "cli/experiment.h"
#include "heed/data.h"

#define HEED_RECORD_FORMAT "heed-run"
#define HEED_RECORD_VERSION 1

/* Where records go: --run-dir, --no-record, --run-name. */
typedef struct heed_record_opts {
  const char *dir;  /* exact directory; NULL: $HEED_RUNS or runs/, + name */
  const char *name; /* NULL: COMMAND-DATA */
  int off;          /* --no-record */
} heed_record_opts;

/* Consumes a record flag: 1 consumed, 0 not one, -1 bad (error printed). */
int heed__record_parse(const char *cmd, heed_record_opts *ro, int argc,
                       char **argv, int *i);
void heed__record_usage(FILE *f);

typedef struct heed_record heed_record;

/* A JSON object under construction (a growing string). */
typedef struct heed_json {
  char *s;
  size_t n, cap;
  int first; /* no comma before the next member */
  int oom;
} heed_json;

void heed__json_open(heed_json *j);  /* "{" */
void heed__json_close(heed_json *j); /* "}" */
void heed__json_key(heed_json *j, const char *k); /* "k": (then a value) */
void heed__json_str(heed_json *j, const char *k, const char *v); /* NULL: null */
void heed__json_num(heed_json *j, const char *k, double v);
void heed__json_u64(heed_json *j, const char *k, uint64_t v);
void heed__json_bool(heed_json *j, const char *k, int v);
void heed__json_raw(heed_json *j, const char *k, const char *raw);
/* "[" (open nonzero) or "]"; between them, items of raw JSON text. */
void heed__json_array(heed_json *j, int open);
void heed__json_item(heed_json *j, const char *raw);
void heed__json_free(heed_json *j);
/* Writes s as a JSON string literal to f. */
void heed__json_write_str(FILE *f, const char *s);

/* The run's config as the members of an object (no braces): command,
 * version, git, argv, every option, the strategy per layer, the data.
 * o->strategy NULL (several strategies compared): both are null. */
void heed__record_config(heed_json *j, const char *cmd, const heed_exp_opts *o,
                         const heed_dataset *train, const heed_dataset *test,
                         int argc, char **argv);
/* Ends a result: the members of one object (no braces) put into the final
 * object under "final", with "format", "version", "command", "run_dir"
 * and "config" before it; top (NULL or members) follows at the top level.
 * Writes final.json (r may be NULL) and, with json, prints it on one line.
 * Frees r; nonzero (error printed) when a file could not be written. */
int heed__record_end(heed_record *r, const char *cmd, const heed_json *cfg,
                     const char *final_members, const char *top, int json);

/* Creates the run directory and writes config (an object) to config.json.
 * *rp stays NULL when recording is off. Prints a one-line error and returns
 * nonzero when the directory cannot be made. */
int heed__record_start(heed_record **rp, const char *cmd,
                       const heed_record_opts *ro, const char *data,
                       const char *config);
/* Appends one line (a JSON object) to metrics.jsonl; NULL r is ignored. */
void heed__record_metric(heed_record *r, const char *line);
/* DIR/NAME (DIR for "") into buf; NULL when r is NULL. */
const char *heed__record_path(const heed_record *r, const char *name,
                              char *buf, size_t len);
/* Writes final.json and closes; nonzero (error printed) when a file could
 * not be written whole. NULL r: 0. */
int heed__record_finish(heed_record *r, const char *final_json);
void heed__record_free(heed_record *r);

/* ---- reading records (heed runs) ---- */

/* A JSON document flattened into "a.b.c" -> value text (strings unquoted
 * and unescaped, arrays and numbers as written). */
typedef struct heed_kv {
  char **key, **val;
  size_t n;
} heed_kv;

/* Parses text; 0, or -1 with a reason (and the byte offset) in err. */
int heed__kv_parse(heed_kv *kv, const char *text, char *err, size_t errlen);
/* The value of key, or NULL. */
const char *heed__kv_get(const heed_kv *kv, const char *key);
void heed__kv_free(heed_kv *kv);
/* Reads a whole file (at most 64 MiB) into a NUL-terminated buffer. */
char *heed__read_file(const char *path, char *err, size_t errlen);

#endif
