/*
 * bench_transport.c - `heed bench transport`: messages/s and MB/s between
 * two processes over ipc:// and tcp://127.0.0.1 through the heed transport
 * (frames, coalescing, nng PUSH/PULL), the round-trip time of one small
 * message, which bounds how fast a bp batch can cross processes, and MNIST
 * training samples/s with --workers 2 (whole layers and neuron slices)
 * beside one process: 784-256-256-10 batch 32 against --threads 1,
 * 784-1024-1024-10 batch 128 against --threads 2 (medians of 3, taking
 * turns).
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
#include "cli/progress.h"
#include "transport/link.h"

typedef struct bcase {
  const char *name;
  size_t floats; /* per message */
  uint64_t count;
} bcase;

/* The other process. As a receiver (echo 0) it counts `count` messages,
 * then answers one PONG with the count; as an echo (echo 1) it answers
 * every PING with a PONG of the same word until it has answered `count`.
 * Either way it gives up when the sender falls silent for 10 s. */
static int peer_main(int echo, const char *me, const char *peer,
                     uint64_t count) {
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
    if (heed_link_recv(l, &f, NULL, 100) != 0)
      continue;
    last = heed__dist_now();
    if (!echo) {
      got += f.nmsgs;
      continue;
    }
    for (size_t i = 0; i < f.nmsgs; i++)
      if (f.msgs[i].m.kind == HEED_SESS_PING) {
        heed_link_send_sess(l, 0, HEED_SESS_PONG, f.msgs[i].m.word, NULL, 0);
        got++;
      }
  }
  if (!echo)
    heed_link_send_sess(l, 0, HEED_SESS_PONG, got, NULL, 0);
  heed_link_flush(l, -1, 2000);
  usleep(100000);
  heed_frame_free(&f);
  heed_link_close(l);
  return got == count ? 0 : 1;
}

static void urls(const char *scheme, char *a, char *b, size_t n) {
  static int seq;
  seq++;
  if (!strcmp(scheme, "ipc")) {
    snprintf(a, n, "ipc:///tmp/heed-bench-%d-%d-a", (int)getpid(), seq);
    snprintf(b, n, "ipc:///tmp/heed-bench-%d-%d-b", (int)getpid(), seq);
  } else {
    int port = 20000 + (int)((getpid() * 7 + seq * 2) % 20000);
    snprintf(a, n, "tcp://127.0.0.1:%d", port);
    snprintf(b, n, "tcp://127.0.0.1:%d", port + 1);
  }
}

/* Starts this program again as the other process (nng does not survive
 * fork): `heed bench transport --receiver|--echo ME PEER COUNT`. */
static pid_t spawn_peer(const char *mode, const char *me, const char *peer,
                        uint64_t count) {
  pid_t pid = fork();
  if (pid == 0) {
    char n[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)count);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl("/proc/self/exe", "heed", "bench", "transport", mode, me, peer, n,
          (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Median round trip of one PING/PONG, in microseconds (-1: failed). */
static double rtt(const char *scheme, uint64_t count) {
  char a[128], b[128];
  urls(scheme, a, b, sizeof a);
  pid_t pid = spawn_peer("--echo", b, a, count + 1);
  if (pid < 0)
    return -1;
  heed_link *l = NULL;
  char err[256];
  double med = -1;
  double *t = calloc(count, sizeof *t);
  heed_frame f = {0};
  if (!t || heed_link_open(&l, a, 0, "heed bench", err, sizeof err) ||
      heed_link_add_peer(l, 1, b, 0, err, sizeof err))
    goto out;
  heed_link_set_run(l, 1, 0);
  for (uint64_t i = 0; i <= count; i++) { /* round 0 sets up the pipes */
    double t0 = heed__dist_now();
    if (heed_link_send_sess(l, 1, HEED_SESS_PING, i, NULL, 0))
      goto out;
    int got = 0;
    while (!got && heed__dist_now() - t0 < 10)
      if (heed_link_recv(l, &f, NULL, 100) == 0)
        for (size_t k = 0; k < f.nmsgs; k++)
          got |= f.msgs[k].m.kind == HEED_SESS_PONG && f.msgs[k].m.word == i;
    if (!got)
      goto out;
    if (i > 0)
      t[i - 1] = (heed__dist_now() - t0) * 1e6;
  }
  med = heed__median(t, (int)count);
out:
  if (!l)
    fprintf(stderr, "heed bench transport: %s\n", err);
  heed_frame_free(&f);
  heed_link_close(l);
  free(t);
  int st;
  waitpid(pid, &st, 0);
  return med;
}

static int one(const char *scheme, const bcase *c, double *msgs_s,
               double *mb_s, uint64_t *frames) {
  char a[128], b[128];
  urls(scheme, a, b, sizeof a);
  pid_t pid = spawn_peer("--receiver", b, a, c->count);
  if (pid < 0)
    return -1;
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

/* samples/s of `heed train --data mnist ... --json` with extra flags. */
static double train_rate(const char *hidden, unsigned batch,
                         const char *extra, const char *data_dir,
                         unsigned steps) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "/proc/%d/exe train --data mnist %s%s --hidden %s --batch %u "
           "--max-steps %u --seed 1 --quiet --json %s",
           (int)getpid(), data_dir ? "--data-dir " : "",
           data_dir ? data_dir : "", hidden, batch, steps, extra);
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

/* One training comparison: a net, one process with `base` flags against
 * --workers 2 with each placement, medians of `runs` runs taking turns. */
typedef struct tcase {
  const char *name, *hidden;
  unsigned batch, steps;
  const char *base;
  double target; /* the ratio for the faster placement */
} tcase;

static int train_case(const tcase *t, const char *data_dir, int runs,
                      int json) {
  const char *flags[] = {t->base, "--workers 2 --placement layers",
                         "--workers 2 --placement slices"};
  double r[3][5], med[3];
  for (int k = 0; k < runs; k++)
    for (int f = 0; f < 3; f++) {
      r[f][k] = train_rate(t->hidden, t->batch, flags[f], data_dir,
                           t->steps);
      if (r[f][k] <= 0) {
        fprintf(stderr, "heed bench transport: MNIST training (%s) failed "
                        "(run tools/fetch-data, or pass --data-dir)\n",
                flags[f]);
        return 1;
      }
    }
  for (int f = 0; f < 3; f++)
    med[f] = heed__median(r[f], runs);
  if (json)
    printf("{\"case\":\"mnist %s batch %u\",\"steps\":%u,\"runs\":%d,"
           "\"one_process\":\"%s\",\"one_samples_per_s\":%.0f,"
           "\"layers_samples_per_s\":%.0f,\"slices_samples_per_s\":%.0f,"
           "\"layers_ratio\":%.2f,\"slices_ratio\":%.2f,\"target\":%.2f}\n",
           t->name, t->batch, t->steps, runs, t->base, med[0], med[1],
           med[2], med[1] / med[0], med[2] / med[0], t->target);
  else
    printf("  MNIST %s, batch %u, %u steps (medians of %d): %s %.0f "
           "samples/s; --workers 2: layers %.0f (%.2fx), slices %.0f "
           "(%.2fx); target %.2fx\n",
           t->name, t->batch, t->steps, runs, t->base, med[0], med[1],
           med[1] / med[0], med[2], med[2] / med[0], t->target);
  fflush(stdout);
  return 0;
}

int heed_cmd_bench_transport(int argc, char **argv) {
  int json = 0, quick = 0;
  const char *data_dir = NULL;
  if (argc == 5 &&
      (!strcmp(argv[1], "--receiver") || !strcmp(argv[1], "--echo")))
    return peer_main(!strcmp(argv[1], "--echo"), argv[2], argv[3],
                     strtoull(argv[4], NULL, 10));
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
             "tcp://127.0.0.1,\nthe median round trip of one small message, "
             "then MNIST training samples/s\nwith --workers 2 (placement "
             "layers and slices) against one process: 784-256-256-10\n"
             "batch 32 against --threads 1, 784-1024-1024-10 batch 128 "
             "against --threads 2\n(medians of 3 runs taking turns).\n");
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
  for (size_t s = 0; s < 2; s++) {
    uint64_t n = quick ? 200 : 2000;
    double us = rtt(schemes[s], n);
    if (us < 0) {
      fprintf(stderr, "heed bench transport: %s round trip failed\n",
              schemes[s]);
      return 1;
    }
    if (json)
      printf("{\"case\":\"%s round trip\",\"round_trips\":%llu,"
             "\"median_us\":%.1f}\n",
             schemes[s], (unsigned long long)n, us);
    else
      printf("  %-4s round trip %8.1f us (median of %llu PING/PONG)\n",
             schemes[s], us, (unsigned long long)n);
    fflush(stdout);
  }
  int runs = quick ? 1 : 3;
  const tcase tc[] = {
      {"784-256-256-10", "256,256", 32, quick ? 200 : 1000, "--threads 1",
       1.0},
      {"784-1024-1024-10", "1024,1024", 128, quick ? 30 : 300, "--threads 2",
       0.75},
  };
  for (size_t i = 0; i < sizeof tc / sizeof *tc; i++)
    if (train_case(&tc[i], data_dir, runs, json))
      return 1;
  return 0;
}
