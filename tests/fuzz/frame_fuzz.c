/*
 * frame_fuzz.c - libFuzzer harness for the frame decoder (meson option
 * fuzz=true, clang): any bytes must decode or be refused with a reason,
 * within bounds; whatever decodes must encode back to a frame that decodes
 * to the same messages. The run-config decoder gets the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/wire.h"

static heed_frame f1, f2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
      for (size_t i = 0; i < f1.nmsgs; i++) {
        const heed_wire_msg *a = &f1.msgs[i].m, *c = &f2.msgs[i].m;
        if (a->kind != c->kind || a->layer != c->layer ||
            a->batch != c->batch || a->word != c->word ||
            a->nfloats != c->nfloats ||
            (a->nfloats && memcmp(a->data, c->data, a->nfloats * 4)) ||
            f1.msgs[i].nbytes != f2.msgs[i].nbytes)
          abort();
      }
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
