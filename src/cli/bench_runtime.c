/* bench_runtime.c - `heed bench runtime` (filled in with the runtime). */
#include <stdio.h>

#include "cli/commands.h"

int heed_cmd_bench_runtime(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "heed bench runtime: unavailable in this build\n");
  return 1;
}
