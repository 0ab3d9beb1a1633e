/* strategies.c - `heed strategies`: each strategy, then its parameters
 * with their defaults and ranges. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "heed/strategy.h"

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
  for (size_t i = 0; i < heed_strategy_count(); i++) {
    const heed_strategy_ops *s = heed_strategy_at(i);
    printf("%-8s %s\n", s->name, s->description);
    for (size_t p = 0; p < s->nparams; p++) {
      const heed_strategy_param *q = &s->params[p];
      char arg[64];
      snprintf(arg, sizeof arg, "%s=%g in [%g, %g]", q->name, q->value,
               q->min, q->max);
      printf("  %-30s %s\n", arg, q->help ? q->help : "");
    }
  }
  return 0;
}
