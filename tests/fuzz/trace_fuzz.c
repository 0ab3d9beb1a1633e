/*
 * trace_fuzz.c - libFuzzer harness for the trace reader (meson option
 * fuzz=true, clang): any bytes decode into records or are refused, within
 * bounds and without allocating for counts the bytes cannot hold. The
 * same bytes are also fed in up to four pieces (cut where the first bytes
 * say), as a live stream or a slow file arrives: the reader must give the
 * same records and the same final answer either way. Each record also
 * goes through the filters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heed/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct summary {
  uint64_t n, hash, offset;
  int status;
} summary;

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

static uint64_t rec_hash(const heed_trace_rec *r) {
  uint64_t h = mix(r->kind, r->run);
  h = mix(h, r->t_ns);
  h = mix(h, r->batch);
  h = mix(h, (uint64_t)r->sender.role << 40 ^ r->sender.layer);
  h = mix(h, r->receiver.index);
  h = mix(h, r->count);
  h = mix(h, r->nvalues);
  if (r->nvalues && !r->values)
    abort();
  for (uint32_t i = 0; i < r->nvalues; i++) {
    uint32_t b;
    memcpy(&b, &r->values[i], 4);
    h = mix(h, b);
  }
  return h;
}

/* Reads what is there: records until "more bytes" (0) or an error. */
static void drain(heed_trace_reader *r, summary *s,
                  const heed_trace_filter *f) {
  heed_trace_rec rec;
  int rv;
  while ((rv = heed_trace_reader_next(r, &rec)) == 1) {
    s->n++;
    s->hash = mix(s->hash, rec_hash(&rec));
    heed_trace_filter_match(f, &rec);
    uint64_t off = heed_trace_reader_offset(r);
    if (off <= s->offset)
      abort(); /* every record takes bytes */
    s->offset = off;
  }
  s->status = rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  size_t cut[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 3; i++)
    cut[i + 1] = data[i];
  data += 3;
  size -= 3;
  for (int i = 1; i <= 3; i++) /* ascending cut points within the data */
    cut[i] = cut[i - 1] + cut[i] * (size - cut[i - 1]) / 256;
  cut[4] = size;
  heed_trace_filter f;
  heed_trace_filter_init(&f);
  f.layer_lo = f.layer_hi = 1;
  f.batch_lo = 0;
  f.batch_hi = 3;

  summary whole = {0}, parts = {0};
  heed_trace_reader *r;
  if (heed_trace_reader_new(&r) != 0)
    abort();
  if (heed_trace_reader_feed(r, data, size) != 0)
    abort();
  drain(r, &whole, &f);
  heed_trace_reader_free(r);

  if (heed_trace_reader_new(&r) != 0)
    abort();
  for (int i = 0; i < 4; i++) {
    if (heed_trace_reader_feed(r, data + cut[i], cut[i + 1] - cut[i]) != 0)
      abort();
    drain(r, &parts, &f);
    if (parts.status < 0)
      break;
  }
  heed_trace_reader_free(r);
  if (whole.n != parts.n || whole.hash != parts.hash ||
      whole.status != parts.status || whole.offset != parts.offset)
    abort();
  if (whole.offset > size)
    abort();
  return 0;
}
