/* commands.h - the subcommands of the `heed` program (internal). */
#ifndef HEED_CLI_COMMANDS_H
#define HEED_CLI_COMMANDS_H

/* Each returns the process exit status. argv[0] is the subcommand name. */
int heed_cmd_bench(int argc, char **argv);
int heed_cmd_bench_runtime(int argc, char **argv);
int heed_cmd_bench_net(int argc, char **argv);
int heed_cmd_bench_trace(int argc, char **argv);
int heed_cmd_strategies(int argc, char **argv);
int heed_cmd_export(int argc, char **argv);
int heed_cmd_train(int argc, char **argv);
int heed_cmd_runs(int argc, char **argv);
int heed_cmd_continual(int argc, char **argv);
int heed_cmd_worker(int argc, char **argv);
int heed_cmd_bench_transport(int argc, char **argv);

#endif
