/* bench.c - `heed bench <what>`: dispatches to the benchmarks. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} benches[] = {
    {"runtime", heed_cmd_bench_runtime, "actor ring and spawn benchmarks"},
    {"net", heed_cmd_bench_net, "784-256-256-10 training: actors vs plain loops"},
    {"trace", heed_cmd_bench_trace, "what tracing costs: untraced, 1% sampled, full"},
    {"transport", heed_cmd_bench_transport, "messages/s, MB/s and training across processes"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: heed bench <what> [--json] [options]\n\nbenchmarks:\n");
  for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
    fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].summary);
}

int heed_cmd_bench(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
    if (!strcmp(argv[1], benches[i].name))
      return benches[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "heed bench: unknown benchmark '%s' (see 'heed bench --help')\n",
          argv[1]);
  return 2;
}
