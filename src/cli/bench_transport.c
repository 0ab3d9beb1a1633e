/*
 * bench_transport.c - `heed bench transport`: messages/s and MB/s between
 * two processes over ipc:// and tcp://127.0.0.1 through the heed transport
 * (frames, coalescing, nng PUSH/PULL), and MNIST 784-256-256-10 training
 * samples/s with --workers 2 beside one process with --threads 2.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/distributed.h"
#include "transport/link.h"

typedef struct bcase {
  const char *name;
  size_t floats; /* per message */
  uint64_t count;
} bcase;

/* The receiving process: counts messages, then answers PONG. */
static int receiver(const char *me, const char *peer, uint64_t count) {
  heed_link *l;
  char err[256];
  if (heed_link_open(&l, me, 0, "heed bench", err, sizeof err) ||
      heed_link_add_peer(l, 0, peer, 0, err, sizeof err))
    return 1;
  heed_link_set_run(l, 1, 1);
  heed_frame f = {0};
  uint64_t got = 0;
  double last = heed__dist_now();
  while (got < count && heed__dist_now() - last < 10) {
    if (heed_link_recv(l, &f, NULL, 100) == 0) {
      got += f.nmsgs;
      last = heed__dist_now();
    }
  }
  heed_link_send_sess(l, 0, HEED_SESS_PONG, got, NULL, 0);
  heed_link_flush(l, -1, 2000);
  usleep(100000);
  heed_frame_free(&f);
  heed_link_close(l);
  return got == count ? 0 : 1;
}

static int one(const char *scheme, const bcase *c, double *msgs_s,
               double *mb_s, uint64_t *frames) {
  char a[128], b[128];
  static int seq;
  seq++;
  if (!strcmp(scheme, "ipc")) {
    snprintf(a, sizeof a, "ipc:///tmp/heed-bench-%d-%d-a", (int)getpid(), seq);
    snprintf(b, sizeof b, "ipc:///tmp/heed-bench-%d-%d-b", (int)getpid(), seq);
  } else {
    int port = 20000 + (int)((getpid() * 7 + seq * 2) % 20000);
    snprintf(a, sizeof a, "tcp://127.0.0.1:%d", port);
    snprintf(b, sizeof b, "tcp://127.0.0.1:%d", port + 1);
  }
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) { /* nng does not survive fork: a fresh process */
    char n[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)c->count);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl("/proc/self/exe", "heed", "bench", "transport", "--receiver", b, a,
          n, (char *)NULL);
    _exit(127);
  }
  heed_link *l = NULL;
  char err[256];
  int rc = -1;
  if (heed_link_open(&l, a, 0, "heed bench", err, sizeof err) ||
      heed_link_add_peer(l, 1, b, 0, err, sizeof err)) {
    fprintf(stderr, "heed bench transport: %s\n", err);
    goto out;
  }
  heed_link_set_run(l, 1, 0);
  float *data = calloc(c->floats ? c->floats : 1, sizeof *data);
  heed_wire_msg m = {.kind = HEED_WIRE_FORWARD, .layer = 1, .mode = 1,
                     .count = 1, .stride = (uint32_t)c->floats, .rows = 1,
                     .data = data, .nfloats = c->floats};
  /* Warm up: wait until the connection stands. */
  heed_link_send_sess(l, 1, HEED_SESS_PING, 0, NULL, 0);
  heed_link_flush(l, -1, 5000);
  double t0 = heed__dist_now();
  for (uint64_t i = 0; i < c->count; i++) {
    m.batch = i;
    if (heed_link_send(l, 1, &m))
      break;
  }
  heed_frame f = {0};
  int done = 0;
  while (!done && heed__dist_now() - t0 < 30)
    if (heed_link_recv(l, &f, NULL, 100) == 0)
      done = f.nmsgs && f.msgs[0].m.kind == HEED_SESS_PONG;
  double secs = heed__dist_now() - t0;
  heed_frame_free(&f);
  free(data);
  if (done) {
    *msgs_s = c->count / secs;
    *mb_s = c->count * (c->floats * 4.0) / secs / 1e6;
    heed_link_stats(l, frames, NULL, NULL);
    rc = 0;
  }
out:
  heed_link_close(l);
  int st;
  waitpid(pid, &st, 0);
  return rc;
}

/* samples/s of `heed train ... --json` with extra flags. */
static double train_rate(const char *extra, const char *data_dir,
                         unsigned steps) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "/proc/%d/exe train --data mnist %s%s --hidden 256,256 --batch 32 "
           "--max-steps %u --seed 1 --quiet --json %s",
           (int)getpid(), data_dir ? "--data-dir " : "",
           data_dir ? data_dir : "", steps, extra);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  char line[1024];
  double rate = -1;
  while (fgets(line, sizeof line, p)) {
    char *s = strstr(line, "\"samples_per_s\":");
    if (s)
      rate = atof(s + 16);
  }
  if (pclose(p) != 0)
    return -1;
  return rate;
}

int heed_cmd_bench_transport(int argc, char **argv) {
  int json = 0, quick = 0;
  const char *data_dir = NULL;
  if (argc == 5 && !strcmp(argv[1], "--receiver"))
    return receiver(argv[2], argv[3], strtoull(argv[4], NULL, 10));
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc)
      data_dir = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: heed bench transport [--json] [--quick] "
             "[--data-dir DIR]\n\n"
             "Messages/s and MB/s between two processes over ipc:// and "
             "tcp://127.0.0.1,\nthen MNIST 784-256-256-10 (batch 32) training "
             "samples/s with --workers 2\nand with --threads 2 in one "
             "process.\n");
      return 0;
    } else {
      fprintf(stderr, "heed bench transport: unknown option '%s' (see "
                      "--help)\n", argv[i]);
      return 2;
    }
  }
  uint64_t k = quick ? 10 : 1;
  bcase cases[] = {
      {"64 B", 16, 400000 / k},
      {"4 KiB", 1024, 100000 / k},
      {"100 KiB", 25088, 10000 / k}, /* a batch of 32 MNIST images */
  };
  const char *schemes[] = {"ipc", "tcp"};
  if (!json)
    printf("heed bench transport: one sender process, one receiver process "
           "(FORWARD messages)\n");
  for (size_t s = 0; s < 2; s++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      double ms = 0, mb = 0;
      uint64_t frames = 0;
      if (one(schemes[s], &cases[i], &ms, &mb, &frames)) {
        fprintf(stderr, "heed bench transport: %s %s failed\n", schemes[s],
                cases[i].name);
        return 1;
      }
      double per = frames ? (double)cases[i].count / frames : 0;
      if (json)
        printf("{\"case\":\"%s %s\",\"messages\":%llu,\"messages_per_s\":%.0f,"
               "\"mb_per_s\":%.1f,\"messages_per_frame\":%.1f}\n",
               schemes[s], cases[i].name,
               (unsigned long long)cases[i].count, ms, mb, per);
      else
        printf("  %-4s %-8s %10.0f messages/s %9.1f MB/s  (%.1f messages "
               "a frame)\n",
               schemes[s], cases[i].name, ms, mb, per);
      fflush(stdout);
    }
  unsigned steps = quick ? 200 : 1000;
  double one_proc = train_rate("--threads 2", data_dir, steps);
  double two = train_rate("--workers 2", data_dir, steps);
  if (one_proc <= 0 || two <= 0) {
    fprintf(stderr, "heed bench transport: MNIST training failed (run "
                    "tools/fetch-data, or pass --data-dir)\n");
    return 1;
  }
  if (json)
    printf("{\"case\":\"mnist 784-256-256-10 batch 32\",\"steps\":%u,"
           "\"threads2_samples_per_s\":%.0f,\"workers2_samples_per_s\":%.0f,"
           "\"ratio\":%.2f}\n",
           steps, one_proc, two, two / one_proc);
  else
    printf("  MNIST 784-256-256-10, batch 32, %u steps: --threads 2 %.0f "
           "samples/s, --workers 2 %.0f samples/s (%.2fx)\n",
           steps, one_proc, two, two / one_proc);
  return 0;
}
