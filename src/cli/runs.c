/*
 * runs.c - `heed runs ls | show | compare | rm`: the run records that
 * `heed train` writes (record.h, docs/runs.md), listed, shown, put side by
 * side and removed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/plot.h"
#include "cli/record.h"

/* One run directory, read. */
typedef struct rec {
  char dir[4096], name[256];
  heed_kv cfg, fin; /* config.json, final.json (fin.n 0: unfinished) */
} rec;

static const char *root(const char *flag) {
  const char *e = getenv("HEED_RUNS");
  return flag ? flag : e && *e ? e : "runs";
}

static void rec_free(rec *r) {
  heed__kv_free(&r->cfg);
  heed__kv_free(&r->fin);
}

/* Reads dir's config.json (required, format heed-run version <= ours) and
 * final.json (optional). 0, or -1 with a reason in err. */
static int rec_load(rec *r, const char *dir, char *err, size_t errlen) {
  char path[4200], why[256];
  memset(r, 0, sizeof *r);
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  const char *b = strrchr(dir, '/');
  snprintf(r->name, sizeof r->name, "%s", b && b[1] ? b + 1 : dir);
  snprintf(path, sizeof path, "%s/config.json", dir);
  char *text = heed__read_file(path, err, errlen);
  if (!text)
    return -1;
  int rv = heed__kv_parse(&r->cfg, text, why, sizeof why);
  free(text);
  if (rv) {
    snprintf(err, errlen, "%.300s: not JSON: %.200s", path, why);
    return -1;
  }
  const char *f = heed__kv_get(&r->cfg, "format"),
             *v = heed__kv_get(&r->cfg, "version");
  if (!f || strcmp(f, HEED_RECORD_FORMAT)) {
    snprintf(err, errlen, "%.300s: not a heed run record (format %.40s)",
             path, f ? f : "missing");
    return -1;
  }
  if (!v || atoi(v) < 1 || atoi(v) > HEED_RECORD_VERSION) {
    snprintf(err, errlen, "%.300s: record version %.20s; this heed reads 1 to %d",
             path, v ? v : "missing", HEED_RECORD_VERSION);
    return -1;
  }
  snprintf(path, sizeof path, "%s/final.json", dir);
  if ((text = heed__read_file(path, why, sizeof why))) {
    heed_kv k;
    if (heed__kv_parse(&k, text, why, sizeof why) == 0)
      r->fin = k;
    free(text);
  }
  return 0;
}

/* RUN: a directory holding config.json, or a name under the root (whole,
 * or the only one that ends with it). */
static int rec_find(rec *r, const char *rootdir, const char *run, char *err,
                    size_t errlen) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/config.json", run);
  if (stat(path, &st) == 0)
    return rec_load(r, run, err, errlen);
  snprintf(path, sizeof path, "%s/%s", rootdir, run);
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return rec_load(r, path, err, errlen);
  DIR *d = opendir(rootdir);
  char found[4200] = "";
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t a = strlen(e->d_name), b = strlen(run);
    if (e->d_name[0] != '.' && a >= b && !strcmp(e->d_name + a - b, run) &&
        n++ == 0)
      snprintf(found, sizeof found, "%s/%s", rootdir, e->d_name);
  }
  if (d)
    closedir(d);
  if (n == 1)
    return rec_load(r, found, err, errlen);
  if (n)
    snprintf(err, errlen, "%.200s: %d runs in %.200s end with that name",
             run, n, rootdir);
  else
    snprintf(err, errlen, "%.200s: no such run in %.200s", run, rootdir);
  return -1;
}

static const char *get(const rec *r, const char *k) {
  const char *v = heed__kv_get(&r->cfg, k);
  return v ? v : "-";
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run directories under rootdir, sorted (their names start with the
 * date). */
static char **list(const char *rootdir, size_t *n) {
  DIR *d = opendir(rootdir);
  char **v = NULL;
  *n = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    char **v2 = realloc(v, (*n + 1) * sizeof *v);
    if (!v2)
      break;
    v = v2;
    if (!(v[*n] = strdup(e->d_name)))
      break;
    (*n)++;
  }
  if (d)
    closedir(d);
  if (*n)
    qsort(v, *n, sizeof *v, by_name);
  return v;
}

static void list_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static int cmd_ls(const char *rootdir) {
  size_t n;
  char **v = list(rootdir, &n);
  printf("%-36s %-20s %-8s %-10s %-22s %8s %8s %8s\n", "RUN", "STARTED",
         "DATA", "HIDDEN", "STRATEGY", "LR", "TEST ACC", "SECONDS");
  for (size_t i = 0; i < n; i++) {
    char dir[4200], err[512];
    rec r;
    snprintf(dir, sizeof dir, "%s/%s", rootdir, v[i]);
    if (rec_load(&r, dir, err, sizeof err)) {
      printf("%-36s (%s)\n", v[i], err);
      rec_free(&r);
      continue;
    }
    const char *acc = heed__kv_get(&r.fin, "final.test_accuracy"),
               *secs = heed__kv_get(&r.fin, "final.train_seconds");
    char a[32] = "unfinished", s[32] = "-";
    if (acc)
      snprintf(a, sizeof a, "%.2f%%", 100 * atof(acc));
    if (secs)
      snprintf(s, sizeof s, "%.1f", atof(secs));
    printf("%-36s %-20s %-8s %-10s %-22s %8s %8s %8s\n", v[i],
           get(&r, "started"), get(&r, "options.data"),
           get(&r, "options.hidden"),
           heed__kv_get(&r.cfg, "options.strategy")
               ? get(&r, "options.strategy")
               : get(&r, "continual.compare"),
           get(&r, "options.lr"), a, s);
    rec_free(&r);
  }
  list_free(v, n);
  return 0;
}

static int cmd_show(const rec *r) {
  printf("run %s\n", r->dir);
  for (size_t i = 0; i < r->cfg.n; i++)
    printf("  %-24s %s\n", r->cfg.key[i], r->cfg.val[i]);
  if (!r->fin.n)
    printf("  (unfinished: no final.json)\n");
  for (size_t i = 0; i < r->fin.n; i++)
    if (!strncmp(r->fin.key[i], "final.", 6))
      printf("  %-24s %s\n", r->fin.key[i], r->fin.val[i]);
  return 0;
}

/* Keys that differ between every two runs, whatever they are, except
 * those that always do (when it started, the exact command line). */
static int ignored(const char *k) {
  return !strcmp(k, "started") || !strcmp(k, "argv") ||
         !strcmp(k, "resumed_from");
}

static int differs(const rec *r, size_t n, const char *k) {
  const char *v0 = heed__kv_get(&r[0].cfg, k);
  for (size_t i = 1; i < n; i++) {
    const char *v = heed__kv_get(&r[i].cfg, k);
    if (!v0 != !v || (v && strcmp(v, v0)))
      return 1;
  }
  return 0;
}

static int seen_before(const rec *r, size_t i, size_t k) {
  for (size_t a = 0; a < i; a++)
    if (heed__kv_get(&r[a].cfg, r[i].cfg.key[k]))
      return 1;
  return 0;
}

static void row(const char *k, const rec *r, size_t n, int fin) {
  printf("%-24s", k);
  for (size_t i = 0; i < n; i++) {
    const char *v = heed__kv_get(fin ? &r[i].fin : &r[i].cfg, k);
    printf(" %-24s", v ? v : "-");
  }
  printf("\n");
}

/* The curve of one metrics.jsonl: kind "step" (x step, y loss) or the
 * test accuracy of "epoch" and "final" lines (in %). */
static size_t curve(const rec *r, int test, double **xs, double **ys) {
  char path[4200], err[256];
  snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
  char *text = heed__read_file(path, err, sizeof err);
  size_t n = 0;
  *xs = *ys = NULL;
  for (char *line = text ? strtok(text, "\n") : NULL; line;
       line = strtok(NULL, "\n")) {
    heed_kv k;
    if (heed__kv_parse(&k, line, err, sizeof err) != 0)
      continue;
    const char *kind = heed__kv_get(&k, "kind"), *s = heed__kv_get(&k, "step"),
               *y = heed__kv_get(&k, test ? "test_acc" : "loss");
    int want = kind && s && y &&
               (test ? strcmp(kind, "step") != 0 : !strcmp(kind, "step"));
    double *x2 = want ? realloc(*xs, (n + 1) * sizeof *x2) : NULL;
    if (x2)
      *xs = x2;
    double *y2 = x2 ? realloc(*ys, (n + 1) * sizeof *y2) : NULL;
    if (y2) {
      *ys = y2;
      /* a final test after an epoch's at the same step is one point */
      if (!(n && (*xs)[n - 1] == atof(s))) {
        (*xs)[n] = atof(s);
        (*ys)[n++] = (test ? 100 : 1) * atof(y);
      }
    }
    heed__kv_free(&k);
  }
  free(text);
  return n;
}

static int compare_plot(const rec *r, size_t n, const char *path) {
  heed_series *loss = calloc(n, sizeof *loss), *acc = calloc(n, sizeof *acc);
  int rv = -1;
  char err[512];
  if (loss && acc) {
    for (size_t i = 0; i < n; i++) {
      double *x, *y;
      loss[i].n = curve(&r[i], 0, &x, &y);
      loss[i].x = x;
      loss[i].y = y;
      loss[i].name = r[i].name;
      acc[i].n = curve(&r[i], 1, &x, &y);
      acc[i].x = x;
      acc[i].y = y;
      acc[i].name = r[i].name;
    }
    heed_panel p[2] = {
        {"training loss", "step", "cross-entropy", loss, n, NULL, 0, 0},
        {"test accuracy", "step", "%", acc, n, NULL, 0, 0}};
    heed_axes axes[2] = {{HEED_AXIS_NONNEG, 1}, {HEED_AXIS_PERCENT, 1}};
    rv = heed__plot_axes(path, "heed runs compare", p, axes, 2, err,
                         sizeof err);
    if (rv)
      fprintf(stderr, "heed runs: %s\n", err);
  }
  for (size_t i = 0; loss && acc && i < n; i++) {
    free((void *)loss[i].x);
    free((void *)loss[i].y);
    free((void *)acc[i].x);
    free((void *)acc[i].y);
  }
  free(loss);
  free(acc);
  return rv;
}

static int cmd_compare(const rec *r, size_t n, const char *plot) {
  printf("%-24s", "RUN");
  for (size_t i = 0; i < n; i++)
    printf(" %-24s", r[i].name);
  printf("\n");
  size_t shown = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < r[i].cfg.n; k++) {
      const char *key = r[i].cfg.key[k];
      if (!ignored(key) && !seen_before(r, i, k) && differs(r, n, key)) {
        row(key, r, n, 0);
        shown++;
      }
    }
  if (!shown)
    printf("(the configurations are the same)\n");
  static const char *const fin[] = {"final.test_accuracy", "final.test_loss",
                                    "final.steps", "final.train_seconds"};
  for (size_t k = 0; k < sizeof fin / sizeof fin[0]; k++)
    row(fin[k], r, n, 1);
  return plot ? (compare_plot(r, n, plot) ? 1 : 0) : 0;
}

/* Removes a run directory: only one that holds a heed run record, and
 * only the files in it (no recursion). */
static int cmd_rm(const rec *r) {
  DIR *d = opendir(r->dir);
  int bad = !d;
  for (struct dirent *e; d && (e = readdir(d));) {
    char path[4400];
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name);
    if (unlink(path) != 0)
      bad = 1;
  }
  if (d)
    closedir(d);
  if (bad || rmdir(r->dir) != 0) {
    fprintf(stderr, "heed runs rm: %s: %s\n", r->dir, strerror(errno));
    return 1;
  }
  printf("removed %s\n", r->dir);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
      "usage: heed runs [--dir DIR] ls\n"
      "       heed runs [--dir DIR] show RUN\n"
      "       heed runs [--dir DIR] compare RUN RUN... [--plot FILE.svg|.png]\n"
      "       heed runs [--dir DIR] rm RUN...\n\n"
      "The run records heed train writes (docs/runs.md). RUN is a run\n"
      "directory, or a name under DIR (default $HEED_RUNS or runs/): whole,\n"
      "or the end of exactly one name.\n\n"
      "  ls        one line per run: when, data, sizes, strategy, lr, final\n"
      "            test accuracy and training time\n"
      "  show      every recorded option and the final metrics\n"
      "  compare   the options that differ, and the final metrics, side by "
      "side;\n"
      "            --plot overlays their loss and test-accuracy curves\n"
      "  rm        delete run directories (only ones holding a run record)\n");
}

int heed_cmd_runs(int argc, char **argv) {
  const char *dir = NULL, *plot = NULL, *sub = NULL;
  const char *runs[64];
  size_t nruns = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if ((!strcmp(a, "--dir") || !strcmp(a, "--plot")) && i + 1 < argc) {
      *(!strcmp(a, "--dir") ? &dir : &plot) = argv[++i];
    } else if (a[0] == '-') {
      fprintf(stderr, "heed runs: unknown option '%s' (see 'heed runs "
                      "--help')\n", a);
      return 2;
    } else if (!sub) {
      sub = a;
    } else if (nruns < sizeof runs / sizeof runs[0]) {
      runs[nruns++] = a;
    } else {
      fprintf(stderr, "heed runs: at most 64 runs at once\n");
      return 2;
    }
  }
  const char *rootdir = root(dir);
  int want = !sub                        ? -1
             : !strcmp(sub, "ls")        ? 0
             : !strcmp(sub, "show")      ? 1
             : !strcmp(sub, "compare")   ? 2
             : !strcmp(sub, "rm")        ? 3
                                         : -2;
  if (want < 0) {
    fprintf(stderr, want == -1 ? "heed runs: give ls, show, compare or rm "
                                 "(see 'heed runs --help')%s%s\n"
                               : "heed runs: unknown command '%s' (ls, show, "
                                 "compare, rm)%s\n",
            want == -1 ? "" : sub, "");
    return 2;
  }
  if (plot && want != 2) {
    fprintf(stderr, "heed runs: --plot is for compare\n");
    return 2;
  }
  if (want == 0)
    return nruns ? (fprintf(stderr, "heed runs ls: takes no RUN\n"), 2)
                 : cmd_ls(rootdir);
  if ((want == 1 && nruns != 1) || (want == 2 && nruns < 2) || !nruns) {
    fprintf(stderr, "heed runs %s: give %s\n", sub,
            want == 1 ? "one RUN" : want == 2 ? "two or more RUNs"
                                              : "one or more RUNs");
    return 2;
  }
  rec *r = calloc(nruns, sizeof *r);
  int rc = 0;
  if (!r) {
    fprintf(stderr, "heed runs: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < nruns && !rc; i++) {
    char err[600];
    if (rec_find(&r[i], rootdir, runs[i], err, sizeof err)) {
      fprintf(stderr, "heed runs %s: %s\n", sub, err);
      rc = 1;
    }
  }
  if (!rc)
    rc = want == 1   ? cmd_show(&r[0])
         : want == 2 ? cmd_compare(r, nruns, plot)
                     : 0;
  for (size_t i = 0; i < nruns && !rc && want == 3; i++)
    rc = cmd_rm(&r[i]);
  for (size_t i = 0; i < nruns; i++)
    rec_free(&r[i]);
  free(r);
  return rc;
}
