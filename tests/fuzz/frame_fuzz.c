/*
 * frame_fuzz.c - libFuzzer harness for the frame decoder (meson option
 * fuzz=true, clang): any bytes must decode or be refused with a reason,
 * within bounds; whatever decodes must encode back to a frame that decodes
 * to the same header and messages, every field and float bit for bit. The
 * run-config decoder gets the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/wire.h"

static heed_frame f1, f2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_hdr(const heed_frame_hdr *a, const heed_frame_hdr *b) {
  return a->version == b->version && a->run_id == b->run_id &&
         a->from == b->from && a->to == b->to && a->seq == b->seq;
}

/* Every field a message carries, its floats bit for bit (memcmp: NaNs
 * and -0 too) and its session bytes. */
static int same_msg(const heed_frame_msg *x, const heed_frame_msg *y) {
  const heed_wire_msg *a = &x->m, *c = &y->m;
  return a->kind == c->kind && a->layer == c->layer &&
         a->batch == c->batch && a->word == c->word && a->mode == c->mode &&
         a->count == c->count && a->stride == c->stride &&
         a->rows == c->rows && a->ldc == c->ldc &&
         a->nfloats == c->nfloats &&
         (!a->nfloats || !memcmp(a->data, c->data, a->nfloats * 4)) &&
         x->nbytes == y->nbytes &&
         (!x->nbytes || !memcmp(x->bytes, y->bytes, x->nbytes));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[256];
  heed_wire_expect ex = {.max_frame = 1 << 20};
  int rv = heed_wire_decode(&f1, data, size, &ex, why, sizeof why);
  if (rv) {
    if (!why[0])
      abort(); /* every rejection has a reason */
  } else {
    heed_wbuf b = {0};
    if (heed_wire_frame(&b, &f1.h, f1.msgs, f1.nmsgs) == 0) {
      if (heed_wire_decode(&f2, b.p, b.len, NULL, why, sizeof why) != 0 ||
          f2.nmsgs != f1.nmsgs)
        abort();
      if (!same_hdr(&f1.h, &f2.h))
        abort();
      for (size_t i = 0; i < f1.nmsgs; i++)
        if (!same_msg(&f1.msgs[i], &f2.msgs[i]))
          abort();
    }
    heed_wbuf_free(&b);
  }
  heed_run_config *c = malloc(sizeof *c);
  if (c) {
    heed_wire_config_decode(c, data, size, why, sizeof why);
    free(c);
  }
  return 0;
}
