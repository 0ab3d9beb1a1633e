/*
 * spec_fuzz.c - libFuzzer harness for the strategy-spec parser: any text
 * must parse or be refused with a one-line, printable reason; whatever
 * parses holds only in-range parameters, and its canonical spec parses back
 * to exactly the same strategy and values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heed/strategy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1), err[512] = "", buf[1024];
  if (!spec)
    return 0;
  memcpy(spec, data, size);
  spec[size] = 0;
  heed_strategy *s = NULL, *t = NULL;
  int rv = heed_strategy_new(&s, spec, err, sizeof err);
  if (rv) {
    if (!err[0] || strlen(err) > 400)
      abort();
    printable(err);
  } else {
    const heed_strategy_ops *ops = heed_strategy_ops_of(s);
    const double *p = heed_strategy_params(s);
    for (size_t i = 0; i < ops->nparams; i++)
      if (heed_strategy_param_check(ops, i, p[i], NULL, 0) != 0)
        abort();
    if (heed_strategy_spec(s, buf, sizeof buf) != 0 ||
        heed_strategy_new(&t, buf, err, sizeof err) != 0 ||
        heed_strategy_ops_of(t) != ops ||
        memcmp(heed_strategy_params(t), p, ops->nparams * sizeof *p))
      abort();
  }
  heed_strategy_free(s);
  heed_strategy_free(t);
  free(spec);
  return 0;
}
