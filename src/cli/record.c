/* record.c - writing run directories and reading them back (record.h). */
#include "cli/record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/args.h"
#include "cli/git_version.h"

struct heed_record {
  char dir[4096];
  FILE *metrics;
  int bad; /* a metrics line could not be written */
};

/* ---- building JSON ---- */

static void put(heed_json *j, const char *fmt, ...) {
  va_list ap;
  if (j->oom)
    return;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(j->s ? j->s + j->n : NULL, j->s ? j->cap - j->n : 0,
                      fmt, ap);
    va_end(ap);
    if (k < 0) {
      j->oom = 1;
      return;
    }
    if (j->s && j->n + (size_t)k < j->cap) {
      j->n += (size_t)k;
      return;
    }
    size_t cap = (j->cap ? j->cap * 2 : 256) + (size_t)k;
    char *s = realloc(j->s, cap);
    if (!s) {
      j->oom = 1;
      return;
    }
    j->s = s;
    j->cap = cap;
  }
}

static void put_str(heed_json *j, const char *s) {
  put(j, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      put(j, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      put(j, "\\u%04x", *p);
    else
      put(j, "%c", *p);
  }
  put(j, "\"");
}

void heed__json_write_str(FILE *f, const char *s) {
  heed_json j = {0};
  put_str(&j, s ? s : "");
  fputs(j.s ? j.s : "\"\"", f);
  heed__json_free(&j);
}

void heed__json_open(heed_json *j) {
  put(j, "{");
  j->first = 1;
}
void heed__json_close(heed_json *j) {
  put(j, "}");
  j->first = 0;
}
void heed__json_key(heed_json *j, const char *k) {
  if (!j->first)
    put(j, ",");
  j->first = 0;
  put_str(j, k);
  put(j, ":");
}
void heed__json_str(heed_json *j, const char *k, const char *v) {
  heed__json_key(j, k);
  if (v)
    put_str(j, v);
  else
    put(j, "null");
}
void heed__json_num(heed_json *j, const char *k, double v) {
  heed__json_key(j, k);
  if (v != v || v > 1e300 || v < -1e300)
    put(j, "null"); /* JSON has no NaN or infinity */
  else
    put(j, "%.9g", v);
}
void heed__json_u64(heed_json *j, const char *k, uint64_t v) {
  heed__json_key(j, k);
  put(j, "%llu", (unsigned long long)v);
}
void heed__json_bool(heed_json *j, const char *k, int v) {
  heed__json_key(j, k);
  put(j, v ? "true" : "false");
}
void heed__json_raw(heed_json *j, const char *k, const char *raw) {
  heed__json_key(j, k);
  put(j, "%s", raw);
}
void heed__json_array(heed_json *j, int open) {
  put(j, open ? "[" : "]");
  j->first = open;
}
void heed__json_item(heed_json *j, const char *raw) {
  put(j, j->first ? "%s" : ",%s", raw);
  j->first = 0;
}
void heed__json_free(heed_json *j) {
  free(j->s);
  memset(j, 0, sizeof *j);
}

/* ---- the config ---- */

/* FNV-1a over the samples as loaded: the same files give the same sum. */
static uint64_t checksum(const heed_dataset *d) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char *p = (const unsigned char *)d->x;
  for (size_t i = 0; i < d->n * d->dim * sizeof(float); i++)
    h = (h ^ p[i]) * 1099511628211ull;
  for (size_t i = 0; i < d->n; i++)
    h = (h ^ d->y[i]) * 1099511628211ull;
  return h;
}

static void data_json(heed_json *j, const heed_dataset *tr,
                      const heed_dataset *te) {
  char sum[40];
  heed__json_key(j, "data");
  heed__json_open(j);
  if (tr) {
    heed__json_u64(j, "train_samples", tr->n);
    heed__json_u64(j, "test_samples", te->n);
    heed__json_u64(j, "inputs", tr->dim);
    heed__json_u64(j, "classes", tr->classes);
    snprintf(sum, sizeof sum, "fnv1a64:%016llx",
             (unsigned long long)checksum(tr));
    heed__json_str(j, "train_checksum", sum);
    snprintf(sum, sizeof sum, "fnv1a64:%016llx",
             (unsigned long long)checksum(te));
    heed__json_str(j, "test_checksum", sum);
  }
  heed__json_close(j);
}

static void options_json(heed_json *j, const heed_exp_opts *o) {
  heed__json_key(j, "options");
  heed__json_open(j);
  heed__json_str(j, "data", o->data);
  heed__json_str(j, "data_dir", o->data_dir);
  heed__json_u64(j, "split_seed", o->split_seed);
  heed__json_key(j, "hidden");
  put(j, "[");
  for (size_t i = 0; i < o->nhidden; i++)
    put(j, "%s%u", i ? "," : "", o->hidden[i]);
  put(j, "]");
  heed__json_str(j, "activation", heed_activation_name(o->act));
  heed__json_str(j, "init", heed__exp_init_name(o->init));
  heed__json_str(j, "strategy", o->strategy);
  heed__json_str(j, "society", o->society_path);
  heed__json_u64(j, "epochs", o->epochs);
  heed__json_u64(j, "batch", o->batch);
  heed__json_num(j, "lr", o->lr);
  heed__json_u64(j, "seed", o->seed);
  heed__json_u64(j, "max_steps", o->max_steps);
  heed__json_u64(j, "threads", o->threads);
  heed__json_bool(j, "shuffle", o->shuffle);
  heed__json_close(j);
}

void heed__record_config(heed_json *j, const char *cmd, const heed_exp_opts *o,
                         const heed_dataset *train, const heed_dataset *test,
                         int argc, char **argv) {
  char when[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  heed__json_str(j, "format", HEED_RECORD_FORMAT);
  heed__json_u64(j, "version", HEED_RECORD_VERSION);
  heed__json_str(j, "command", cmd);
  heed__json_str(j, "started", when);
  heed__json_str(j, "heed_version", HEED_VERSION);
  heed__json_str(j, "git", *HEED_GIT_DESCRIBE ? HEED_GIT_DESCRIBE : NULL);
  heed__json_key(j, "argv");
  put(j, "[");
  for (int i = 0; i < argc; i++) {
    put(j, i ? "," : "");
    put_str(j, argv[i]);
  }
  put(j, "]");
  options_json(j, o);
  heed__json_key(j, "strategies"); /* one per weight layer */
  if (!o->strategy) { /* heed continual --compare: several */
    put(j, "null");
    data_json(j, train, test);
    return;
  }
  put(j, "[");
  size_t L = o->nhidden + 1;
  const char *p = o->strategy;
  int per_layer = strchr(p, ';') != NULL;
  for (size_t l = 0; l < L && p; l++) {
    size_t n = strcspn(p, ";");
    char spec[1024];
    snprintf(spec, sizeof spec, "%.*s", (int)(n < 1023 ? n : 1023), p);
    put(j, l ? "," : "");
    put_str(j, spec);
    if (per_layer)
      p = p[n] ? p + n + 1 : NULL;
  }
  put(j, "]");
  data_json(j, train, test);
}

/* ---- the directory ---- */

void heed__record_usage(FILE *f) {
  fprintf(f,
      "  --run-dir DIR          record the run in DIR (default: "
      "$HEED_RUNS or runs/,\n"
      "                         then DATE-NAME; docs/runs.md)\n"
      "  --run-name NAME        NAME of the default run directory "
      "(default COMMAND-DATA)\n"
      "  --no-record            write no run directory\n");
}

int heed__record_parse(const char *cmd, heed_record_opts *ro, int argc,
                       char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--no-record")) {
    ro->off = 1;
    return 1;
  }
  const char **dst = !strcmp(a, "--run-dir")    ? &ro->dir
                     : !strcmp(a, "--run-name") ? &ro->name
                                                : NULL;
  if (!dst)
    return 0;
  if (!(*dst = heed__arg_value(cmd, argc, argv, i)))
    return -1;
  if (!**dst || (dst == &ro->name && strchr(*dst, '/'))) {
    fprintf(stderr, "heed %s: %s wants a %s, got '%s'\n", cmd, a,
            dst == &ro->name ? "name without '/'" : "directory", *dst);
    return -1;
  }
  return 1;
}

static int mkdir_p(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    int rv = mkdir(path, 0777);
    *p = '/';
    if (rv != 0 && errno != EEXIST)
      return -1;
  }
  return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

/* The last path component of data ("digits", or a folder's name), made
 * safe for a directory name. */
static void default_name(const char *cmd, const char *data, char *buf,
                         size_t len) {
  const char *b = strrchr(data, '/');
  while (b && !b[1] && b > data) /* "dir/" */
    for (b--; b > data && *b != '/'; b--)
      ;
  b = b && *b == '/' ? b + 1 : data;
  size_t n = (size_t)snprintf(buf, len, "%s-", cmd);
  for (; *b && *b != '/' && n + 1 < len; b++)
    buf[n++] = (*b >= 'a' && *b <= 'z') || (*b >= 'A' && *b <= 'Z') ||
                       (*b >= '0' && *b <= '9') || *b == '-' || *b == '_'
                   ? *b
                   : '_';
  buf[n] = 0;
}

/* root/DATE-NAME, or -2, -3, ... when two runs start in one second. */
static int make_default(heed_record *r, const char *cmd,
                        const heed_record_opts *ro, const char *data) {
  const char *root = getenv("HEED_RUNS");
  char name[256], when[32], root_buf[4096];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm); /* UTC, as config.json's "started" */
  strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
  if (ro->name)
    snprintf(name, sizeof name, "%s", ro->name);
  else
    default_name(cmd, data, name, sizeof name);
  snprintf(root_buf, sizeof root_buf, "%s", root && *root ? root : "runs");
  if (mkdir_p(root_buf) != 0)
    return -1;
  for (int k = 1; k < 1000; k++) {
    int n = k == 1 ? snprintf(r->dir, sizeof r->dir, "%s/%s-%s", root_buf,
                              when, name)
                   : snprintf(r->dir, sizeof r->dir, "%s/%s-%s-%d", root_buf,
                              when, name, k);
    if (n < 0 || (size_t)n >= sizeof r->dir)
      return -1;
    if (mkdir(r->dir, 0777) == 0)
      return 0;
    if (errno != EEXIST)
      return -1;
  }
  return -1;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
  return fclose(f) != 0 || bad ? -1 : 0;
}

int heed__record_start(heed_record **rp, const char *cmd,
                       const heed_record_opts *ro, const char *data,
                       const char *config) {
  *rp = NULL;
  if (ro->off)
    return 0;
  heed_record *r = calloc(1, sizeof *r);
  char path[4200];
  if (!r) {
    fprintf(stderr, "heed %s: out of memory\n", cmd);
    return -1;
  }
  int rv = -1;
  if (ro->dir) {
    snprintf(r->dir, sizeof r->dir, "%s", ro->dir);
    rv = mkdir_p(r->dir);
  } else {
    rv = make_default(r, cmd, ro, data);
  }
  if (rv == 0) {
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    rv = write_file(path, config);
  }
  if (rv == 0) {
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
    rv = (r->metrics = fopen(path, "w")) ? 0 : -1;
  }
  if (rv) {
    fprintf(stderr, "heed %s: cannot write the run record in %s: %s (give "
                    "--run-dir or --no-record)\n",
            cmd, *r->dir ? r->dir : "runs/", strerror(errno));
    heed__record_free(r);
    return -1;
  }
  *rp = r;
  return 0;
}

void heed__record_metric(heed_record *r, const char *line) {
  if (!r || !r->metrics)
    return;
  if (fputs(line, r->metrics) < 0 || fputc('\n', r->metrics) == EOF ||
      fflush(r->metrics) != 0)
    r->bad = 1;
}

const char *heed__record_path(const heed_record *r, const char *name,
                              char *buf, size_t len) {
  if (!r)
    return NULL;
  snprintf(buf, len, "%s%s%s", r->dir, *name ? "/" : "", name);
  return buf;
}

int heed__record_finish(heed_record *r, const char *final_json) {
  char path[4200];
  if (!r)
    return 0;
  int bad = r->bad;
  if (r->metrics && fclose(r->metrics) != 0)
    bad = 1;
  r->metrics = NULL;
  snprintf(path, sizeof path, "%s/final.json", r->dir);
  if (write_file(path, final_json) != 0)
    bad = 1;
  if (bad)
    fprintf(stderr, "heed: %s: the run record could not be written whole\n",
            r->dir);
  return bad ? -1 : 0; /* the caller frees r */
}

void heed__record_free(heed_record *r) {
  if (!r)
    return;
  if (r->metrics)
    fclose(r->metrics);
  free(r);
}

int heed__record_end(heed_record *r, const char *cmd, const heed_json *cfg,
                     const char *final_members, const char *top, int json) {
  char dir[4200];
  heed_json j = {0};
  heed__json_open(&j);
  heed__json_str(&j, "format", HEED_RECORD_FORMAT);
  heed__json_u64(&j, "version", HEED_RECORD_VERSION);
  heed__json_str(&j, "command", cmd);
  heed__json_str(&j, "run_dir", heed__record_path(r, "", dir, sizeof dir));
  heed__json_raw(&j, "config", cfg->s ? cfg->s : "null");
  heed__json_key(&j, "final");
  put(&j, "{%s}", final_members);
  if (top && *top)
    put(&j, ",%s", top);
  heed__json_close(&j);
  int rv = 0;
  if (j.oom) {
    fprintf(stderr, "heed %s: out of memory\n", cmd);
    rv = -1;
    heed__record_free(r);
  } else {
    rv = heed__record_finish(r, j.s);
    heed__record_free(r);
    if (json)
      printf("%s\n", j.s);
  }
  heed__json_free(&j);
  return rv;
}
