/* main.c - the `heed` program: dispatches to subcommands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/git_version.h"
#include "heed/heed.h"

struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
    {"train", heed_cmd_train, "train a society of neurons on real data"},
    {"runs", heed_cmd_runs, "list, show, compare and remove recorded runs"},
    {"continual", heed_cmd_continual, "the catastrophic-forgetting benchmark"},
    {"bench", heed_cmd_bench, "measure speed: runtime, net, transport, trace"},
    {"strategies", heed_cmd_strategies, "list the strategies neurons can play"},
    {"export", heed_cmd_export, "write a checkpoint's weights as .npy files"},
    {"worker", heed_cmd_worker, "host part of a network for a distributed run"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: heed [--help] [--version] <command> [args]\n\n"
             "heed runs neural networks as societies of event-driven agents.\n\n"
             "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nRun 'heed <command> --help' for a command's options.\n");
}

/* A full disk or a closed pipe on stdout must not look like success: every
 * command's output is flushed and closed here and checked. */
static int close_stdout(int rc) {
  errno = 0;
  int bad = fflush(stdout) != 0 || ferror(stdout);
  int e = errno;
  if (fclose(stdout) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  if (!bad)
    return rc;
  fprintf(stderr, "heed: cannot write standard output: %s\n",
          e ? strerror(e) : "write error");
  return rc ? rc : 1;
}

static int run(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  /* --version anywhere: heed --version, heed train --version, ... */
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--version") || (i == 1 && !strcmp(argv[i], "-V"))) {
      printf("heed %s%s%s%s\n", HEED_VERSION, *HEED_GIT_DESCRIBE ? " (git " : "",
             HEED_GIT_DESCRIBE, *HEED_GIT_DESCRIBE ? ")" : "");
      return 0;
    }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "heed: unknown command '%s' (see 'heed --help')\n", argv[1]);
  return 2;
}

int main(int argc, char **argv) { return close_stdout(run(argc, argv)); }
