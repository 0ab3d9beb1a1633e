/*
 * trace_tool_fuzz.c - libFuzzer harness for what heed-trace computes
 * (meson option fuzz=true, clang): any bytes are read as a trace and its
 * records go through the analysis as the tool runs it (src/trace/analysis.c,
 * chrome.c): both passes of the statistics, attention per layer and
 * quarter, batch times, who pays whom (attention --matrix), and the Chrome
 * export, with each kind of tracks, written to /dev/null. A refusal must come with a
 * one-line reason; memory must follow the records, not what they claim.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "heed/error.h"
#include "heed/trace.h"
#include "trace/analysis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

/* Feeds every record of data, read afresh (records point into their
 * reader's buffer until the next call: values, config, mark, loops), to
 * add, as the tool does once per pass; 0, or the first error add gave. */
static int each(const uint8_t *data, size_t size,
                int (*add)(void *, const heed_trace_rec *, char *, size_t),
                void *ctx) {
  heed_trace_reader *r;
  if (heed_trace_reader_new(&r) != 0)
    abort();
  if (size && heed_trace_reader_feed(r, data, size) != 0)
    abort();
  heed_trace_rec rec;
  char err[512];
  int rv = 0;
  while (!rv && heed_trace_reader_next(r, &rec) == 1) {
    err[0] = '\0';
    rv = add(ctx, &rec, err, sizeof err);
    if (rv && (!err[0] || strchr(err, '\n')))
      abort(); /* a refusal says why, in one line */
  }
  heed_trace_reader_free(r);
  return rv;
}

static int stats_add(void *s, const heed_trace_rec *r, char *err,
                     size_t len) {
  return heed__ta_stats_add(s, r, err, len);
}

static int chrome_add(void *c, const heed_trace_rec *r, char *err,
                      size_t len) {
  return heed__ta_chrome_add(c, r, err, len);
}

static int matrix_add(void *m, const heed_trace_rec *r, char *err,
                      size_t len) {
  return heed__ta_matrix_add(m, r, err, len);
}

static void attention(const heed__ta_stats *s) {
  for (uint32_t l = 1; l <= HEED__TA_MAX_LAYER; l++) {
    uint32_t n = heed__ta_neurons(s, l);
    for (int q = 0; q <= 4 && n; q++) {
      heed__ta_view v;
      if (heed__ta_attention(s, l, q, &v) != 0)
        abort();
      if (v.n > n)
        abort();
      for (uint32_t i = 0; i < v.n; i++)
        if (v.index[i] > HEED__TA_MAX_INDEX)
          abort();
      heed__ta_view_free(&v);
    }
  }
  double *ms;
  size_t nw, neval;
  if (heed__ta_batch_times(s, &ms, &nw, &neval) != 0)
    abort();
  if (nw + neval != s->nbatch)
    abort();
  heed__free(ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!devnull && !(devnull = fopen("/dev/null", "w")))
    abort();
  heed__ta_stats s;
  heed__ta_stats_init(&s);
  if (each(data, size, stats_add, &s) == 0) {
    if (heed__ta_stats_pass2(&s) != 0)
      abort();
    if (each(data, size, stats_add, &s) != 0)
      abort(); /* the second pass sees what the first accepted */
    attention(&s);
  }
  heed__ta_stats_free(&s);

  heed__ta_matrix m;
  heed__ta_matrix_init(&m);
  if (each(data, size, matrix_add, &m) == 0) {
    heed__ta_matrix_finish(&m);
    for (uint32_t l = 0; l <= HEED__TA_MAX_LAYER; l++)
      for (uint32_t k = 0; k < m.layer[l].n; k++)
        if (m.layer[l].rows[k].len > HEED_TRACE_MAX_VALUES)
          abort(); /* a row holds what one record's coefficients name */
  }
  heed__ta_matrix_free(&m);

  heed__ta_chrome *c;
  if (heed__ta_chrome_new(&c) != 0)
    abort();
  if (each(data, size, chrome_add, c) == 0) {
    heed__ta_chrome_info info;
    /* every kind of tracks: per layer (the default), actor and loop */
    for (int tr = HEED__TA_TRACKS_LAYER; tr <= HEED__TA_TRACKS_LOOP; tr++) {
      heed__ta_chrome_tracks(c, tr);
      if (heed__ta_chrome_write(c, devnull, &info) != 0)
        abort();
    }
  }
  heed__ta_chrome_free(c);
  return 0;
}
