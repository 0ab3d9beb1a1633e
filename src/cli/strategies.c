/* strategies.c - `heed strategies`: each strategy, then its parameters
 * with their defaults and ranges. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "heed/strategy.h"

/* "name=default in [min, max]"; returns its length. */
static int param(const heed_strategy_param *q, char *buf, size_t len) {
  int k = snprintf(buf, len, "%s=%g in [%g, %g]", q->name, q->value, q->min,
                   q->max);
  return k < 0 ? 0 : k >= (int)len ? (int)len - 1 : k;
}

int heed_cmd_strategies(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: heed strategies [--strategy-plugin PATH.so]...\n\n"
             "Lists the strategies a neuron can play: a line with the name and "
             "a description,\nthen one line per parameter: its default, the "
             "range of values it accepts\n(on the command line and in "
             "checkpoints) and what it does.\n");
      return 0;
    }
    if (!strcmp(argv[i], "--strategy-plugin") && i + 1 < argc) {
      char err[512];
      if (heed_strategy_plugin_load(argv[++i], err, sizeof err) != 0) {
        fprintf(stderr, "heed strategies: %s\n", err);
        return 1;
      }
      continue;
    }
    fprintf(stderr, "heed strategies: unknown option '%s' (see --help)\n",
            argv[i]);
    return 2;
  }
  /* Columns as wide as their widest entry, so a plugin's long name or a
   * wide range never pushes its help out of line. */
  int nw = 0, pw = 0;
  for (size_t i = 0; i < heed_strategy_count(); i++) {
    const heed_strategy_ops *s = heed_strategy_at(i);
    nw = (int)strlen(s->name) > nw ? (int)strlen(s->name) : nw;
    for (size_t p = 0; p < s->nparams; p++) {
      char arg[128];
      int k = param(&s->params[p], arg, sizeof arg);
      pw = k > pw ? k : pw;
    }
  }
  for (size_t i = 0; i < heed_strategy_count(); i++) {
    const heed_strategy_ops *s = heed_strategy_at(i);
    printf("%-*s  %s\n", nw, s->name, s->description ? s->description : "");
    for (size_t p = 0; p < s->nparams; p++) {
      const heed_strategy_param *q = &s->params[p];
      char arg[128];
      param(q, arg, sizeof arg);
      printf("  %-*s  %s\n", pw, arg, q->help ? q->help : "");
    }
  }
  return 0;
}
