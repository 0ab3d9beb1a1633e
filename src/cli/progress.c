/* progress.c - the training progress bar. */
#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double heed__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void heed__progress_init(heed_progress *p, uint64_t total, int quiet) {
  p->tty = isatty(2);
  p->quiet = quiet;
  p->start = p->last = heed__now();
  p->total = total;
}

void heed__progress_update(heed_progress *p, uint32_t epoch, uint32_t epochs,
                           uint64_t step, double loss, double acc,
                           uint64_t samples, int force) {
  if (p->quiet)
    return;
  double t = heed__now();
  if (!force && t - p->last < (p->tty ? 0.2 : 5.0))
    return;
  p->last = t;
  double el = t - p->start, rate = el > 0 ? samples / el : 0;
  double eta = step > 0 && p->total > step ? el / step * (p->total - step) : 0;
  if (p->tty) {
    int width = 24, fill = p->total ? (int)(width * step / p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr,
            "\repoch %u/%u [%s] step %llu/%llu  loss %.4f  acc %5.1f%%  "
            "%.0f samples/s  ETA %.0fs   ",
            epoch, epochs, bar, (unsigned long long)step,
            (unsigned long long)p->total, loss, 100 * acc, rate, eta);
  } else {
    fprintf(stderr,
            "epoch %u/%u step %llu/%llu loss %.4f acc %.1f%% %.0f samples/s "
            "ETA %.0fs\n",
            epoch, epochs, (unsigned long long)step,
            (unsigned long long)p->total, loss, 100 * acc, rate, eta);
  }
  fflush(stderr);
}

void heed__progress_done(heed_progress *p) {
  if (!p->quiet && p->tty)
    fputc('\n', stderr);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double heed__median(double *v, int n) {
  if (n <= 0)
    return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
