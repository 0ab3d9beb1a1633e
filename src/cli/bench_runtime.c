/* bench_runtime.c - `heed bench runtime`: actor ring throughput and spawn.
 *
 * Ring: 1,000 actors each forward a token to the next; a token carries its
 * remaining hop count, so a run is exactly `hops` send+receive pairs. With
 * 2 threads the ring is split into two contiguous halves (one per loop), so
 * only two hops per lap cross loops, as a real placement would arrange.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "heed/runtime.h"

#define RING 1000
#define RUNS 5

struct ring;

struct node {
  heed_actor next;
  struct ring *ring;
};

struct ring {
  _Atomic unsigned done;
  unsigned tokens;
  uv_sem_t finished;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Processor seconds of this process so far, every thread (user + system):
 * unlike the clock, not stretched by other jobs on a shared machine, and
 * it counts what idle loops spend polling for work. */
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static size_t max_rss_bytes(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (size_t)ru.ru_maxrss * 1024;
}

static void hop(heed_runtime *rt, heed_actor self, void *state, heed_msg *m) {
  (void)self;
  struct node *n = state;
  uint64_t left = heed_msg_word(m, 0);
  if (left == 0) {
    heed_msg_free(m);
    if (atomic_fetch_add(&n->ring->done, 1) + 1 == n->ring->tokens)
      uv_sem_post(&n->ring->finished);
    return;
  }
  heed_msg_set_word(m, 0, left - 1);
  heed_actor_send(rt, n->next, m);
}

/* One run: returns seconds for `tokens` tokens of `per_token` hops each, or
 * a negative value on error; *mem receives the runtime's bytes and *cpu
 * the processor seconds the run took. */
static int spin_us; /* --spin-us: 0 = the runtime's default polling */

static double ring_run(unsigned threads, unsigned tokens, uint64_t per_token,
                       size_t *mem, double *cpu) {
  heed_runtime *rt;
  heed_runtime_opts o = {.threads = threads, .spin_us = spin_us};
  if (heed_runtime_new(&rt, &o) != 0)
    return -1;
  struct node *nodes = calloc(RING, sizeof *nodes);
  heed_actor *ids = calloc(RING, sizeof *ids);
  struct ring ring = {.tokens = tokens};
  atomic_init(&ring.done, 0);
  uv_sem_init(&ring.finished, 0);
  double secs = -1;
  if (nodes == NULL || ids == NULL)
    goto out;
  for (unsigned i = 0; i < RING; i++) {
    nodes[i].ring = &ring;
    heed_actor_spec s = {hop, &nodes[i], NULL, (int)(i * threads / RING)};
    if (heed_actor_spawn(rt, &s, &ids[i]) != 0)
      goto out;
  }
  for (unsigned i = 0; i < RING; i++)
    nodes[i].next = ids[(i + 1) % RING];
  if (heed_runtime_start(rt) != 0)
    goto out;
  double t0 = now(), c0 = cpu_seconds();
  for (unsigned k = 0; k < tokens; k++) {
    heed_msg *m;
    if (heed_msg_alloc(rt, &m, 1) != 0)
      goto out;
    heed_msg_set_word(m, 0, per_token - 1);
    heed_actor_send(rt, ids[(size_t)k * RING / tokens], m);
  }
  uv_sem_wait(&ring.finished);
  secs = now() - t0;
  *cpu = cpu_seconds() - c0;
  *mem = heed_runtime_mem_bytes(rt);
out:
  heed_runtime_free(rt);
  uv_sem_destroy(&ring.finished);
  free(nodes);
  free(ids);
  return secs;
}

struct result {
  double rate;    /* median messages per second */
  double cpu_rate; /* median messages per processor second */
  size_t mem;     /* largest runtime footprint over the runs */
  uint64_t msgs;  /* messages per run */
};

static int ring_case(unsigned threads, unsigned tokens, double target_s,
                     int runs, struct result *r) {
  size_t mem = 0;
  /* Calibrate: a short run sets the hop count for ~target_s per run. */
  uint64_t probe = 200000;
  double cpu;
  double s = ring_run(threads, tokens, probe / tokens, &mem, &cpu);
  if (s <= 0)
    return -1;
  double est = (double)(probe / tokens * tokens) / s;
  uint64_t per = (uint64_t)(est * target_s / tokens);
  if (per < 100)
    per = 100;
  double rates[RUNS], cpu_rates[RUNS];
  r->mem = 0;
  for (int i = 0; i < runs; i++) {
    s = ring_run(threads, tokens, per, &mem, &cpu);
    if (s <= 0)
      return -1;
    rates[i] = (double)(per * tokens) / s;
    cpu_rates[i] = cpu > 0 ? (double)(per * tokens) / cpu : 0;
    if (mem > r->mem)
      r->mem = mem;
  }
  r->rate = heed__median(rates, runs);
  r->cpu_rate = heed__median(cpu_rates, runs);
  r->msgs = per * tokens;
  return 0;
}

static void noop(heed_runtime *rt, heed_actor self, void *state, heed_msg *m) {
  (void)rt;
  (void)self;
  (void)state;
  heed_msg_free(m);
}

/* Spawns n actors on an unstarted runtime: seconds and bytes per actor. */
static int spawn_run(unsigned n, double *secs, double *per_actor) {
  heed_runtime *rt;
  if (heed_runtime_new(&rt, NULL) != 0)
    return -1;
  size_t before = heed_runtime_mem_bytes(rt);
  heed_actor_spec s = {noop, NULL, NULL, 0};
  heed_actor a;
  double t0 = now();
  for (unsigned i = 0; i < n; i++)
    if (heed_actor_spawn(rt, &s, &a) != 0) {
      heed_runtime_free(rt);
      return -1;
    }
  *secs = now() - t0;
  *per_actor = (double)(heed_runtime_mem_bytes(rt) - before) / n;
  heed_runtime_free(rt);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: heed bench runtime [--json] [--quick] [--spin-us N] "
          "[--help]\n\n"
          "Measures the actor runtime:\n"
          "  ring     1,000 actors pass 1 token, then 1,000 tokens, around a\n"
          "           ring, on 1 and 2 threads; reports send+receive pairs\n"
          "           per second (median of %d runs of ~0.3 s), the same per\n"
          "           processor second (user + system, every thread: steadier\n"
          "           than the clock on a loaded machine), the runtime's\n"
          "           peak pool bytes and the process's max RSS\n"
          "  spawn    1,000,000 actors: seconds and bytes per actor\n\n"
          "options:\n"
          "  --json   one JSON object per line per case\n"
          "  --quick  shorter runs (~0.1 s, 3 runs) for a smoke test\n"
          "  --spin-us N  how long an idle loop polls for work before it\n"
          "           sleeps (default 200; 0: sleep at once)\n"
          "  --help   this text\n",
          RUNS);
}

int heed_cmd_bench_runtime(int argc, char **argv) {
  int json = 0, quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--quick")) {
      quick = 1;
    } else if (!strcmp(argv[i], "--spin-us") && i + 1 < argc) {
      char *end;
      long u = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end || u < 0 || u > 1000000) {
        fprintf(stderr, "heed bench runtime: --spin-us '%s': 0..1000000\n",
                argv[i]);
        return 2;
      }
      spin_us = u ? (int)u : -1;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "heed bench runtime: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  int runs = quick ? 3 : RUNS;
  double target = quick ? 0.1 : 0.3;
  static const struct {
    unsigned tokens, threads;
  } cases[] = {{1, 1}, {1, 2}, {1000, 1}, {1000, 2}};
  if (!json) {
    printf("heed bench runtime: a ring of %d actors passing tokens "
           "(median of %d runs, ~%.1f s each)\n\n",
           RING, runs, target);
    printf("%-22s %7s %14s %14s %12s %12s\n", "case", "threads", "msgs/s",
           "msgs/cpu-s", "runtime MiB", "max RSS MiB");
  }
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    struct result r;
    if (ring_case(cases[c].threads, cases[c].tokens, target, runs, &r) != 0) {
      fprintf(stderr, "heed bench runtime: ring run failed\n");
      return 1;
    }
    char name[32];
    snprintf(name, sizeof name, "ring_%u_token%s", cases[c].tokens,
             cases[c].tokens == 1 ? "" : "s");
    if (json)
      printf("{\"case\":\"%s\",\"threads\":%u,\"actors\":%d,\"tokens\":%u,"
             "\"msgs_per_run\":%llu,\"runs\":%d,\"msgs_per_s\":%.0f,"
             "\"msgs_per_cpu_s\":%.0f,"
             "\"runtime_bytes\":%zu,\"max_rss_bytes\":%zu}\n",
             name, cases[c].threads, RING, cases[c].tokens,
             (unsigned long long)r.msgs, runs, r.rate, r.cpu_rate, r.mem,
             max_rss_bytes());
    else
      printf("%-22s %7u %12.2f M %12.2f M %12.2f %12.1f\n", name,
             cases[c].threads, r.rate / 1e6, r.cpu_rate / 1e6,
             r.mem / 1048576.0, max_rss_bytes() / 1048576.0);
    fflush(stdout);
  }
  const unsigned n = 1000000;
  double secs[3], bpa = 0;
  int sruns = quick ? 1 : 3;
  for (int i = 0; i < sruns; i++)
    if (spawn_run(n, &secs[i], &bpa) != 0) {
      fprintf(stderr, "heed bench runtime: spawn failed\n");
      return 1;
    }
  double s = heed__median(secs, sruns);
  if (json)
    printf("{\"case\":\"spawn\",\"threads\":1,\"actors\":%u,\"runs\":%d,"
           "\"seconds\":%.4f,\"bytes_per_actor\":%.1f,\"max_rss_bytes\":%zu}\n",
           n, sruns, s, bpa, max_rss_bytes());
  else
    printf("\nspawn %u actors: %.3f s (%.1f M actors/s), %.1f bytes per "
           "actor (median of %d)\n",
           n, s, n / s / 1e6, bpa, sruns);
  return 0;
}
