/* strategies.c - `heed strategies`: one line per strategy, name first. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "heed/strategy.h"

int heed_cmd_strategies(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: heed strategies [--strategy-plugin PATH.so]...\n\n"
             "Lists the strategies a neuron can play, one per line: name, "
             "parameters\nwith their defaults, and a description.\n");
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
    char params[256] = "";
    size_t off = 0;
    for (size_t p = 0; p < s->nparams && off < sizeof params; p++)
      off += (size_t)snprintf(params + off, sizeof params - off, "%s%s=%g",
                              p ? "," : "", s->params[p].name,
                              s->params[p].value);
    printf("%-8s %-32s %s\n", s->name, off ? params : "-", s->description);
  }
  return 0;
}
