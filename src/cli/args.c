/* args.c - strict number and list parsing for the CLI. */
#include "cli/args.h"

#include "heed/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int heed__arg_u64(const char *cmd, const char *flag, const char *s,
                  uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-')
    goto bad;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    goto bad;
  *out = v;
  return 0;
bad:
  fprintf(stderr, "heed %s: %s wants an integer in [%llu, %llu], got '%s'\n",
          cmd, flag, (unsigned long long)min, (unsigned long long)max,
          s ? s : "");
  return -1;
}

int heed__arg_float(const char *cmd, const char *flag, const char *s,
                    double min, double max, double *out) {
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : NAN;
  if (!s || !*s || errno || *end || !isfinite(v) || v < min || v > max) {
    fprintf(stderr, "heed %s: %s wants a number in [%g, %g], got '%s'\n", cmd,
            flag, min, max, s ? s : "");
    return -1;
  }
  *out = v;
  return 0;
}

int heed__arg_sizes(const char *cmd, const char *flag, const char *s,
                    uint32_t *sizes, size_t max, size_t *n) {
  *n = 0;
  if (!s || !*s || !strcmp(s, "none"))
    return 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (errno || end == p || v == 0 || v > 65536 || (*end && *end != ',') ||
        *n == max) {
      fprintf(stderr,
              "heed %s: %s wants up to %zu comma-separated layer sizes in "
              "[1, 65536], got '%s'\n",
              cmd, flag, max, s);
      return -1;
    }
    sizes[(*n)++] = (uint32_t)v;
    p = *end ? end + 1 : end;
  }
  return 0;
}

const char *heed__arg_value(const char *cmd, int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "heed %s: %s needs a value (see 'heed %s --help')\n", cmd,
            argv[*i], cmd);
    return NULL;
  }
  return argv[++*i];
}

int heed__arg_run(const char *cmd, heed_run_field f, const char *s,
                  double *out) {
  const heed_run_limit *l = heed_run_limit_of(f);
  char *end;
  errno = 0;
  double v = s && *s ? strtod(s, &end) : NAN;
  if (!s || !*s || *end || heed_run_check(f, v, NULL, 0) != 0) {
    fprintf(stderr, "heed %s: %s wants %s in [%g, %g], got '%s'\n", cmd,
            l->flag, l->integer ? "an integer" : "a number", l->min, l->max,
            s ? s : "");
    return -1;
  }
  *out = v;
  return 0;
}

/* The directory part of path ("." for a bare name), into buf. */
static void dir_of(const char *path, char *buf, size_t len) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(buf, len, ".");
  else if (slash == path)
    snprintf(buf, len, "/");
  else
    snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

int heed__arg_out_path(const char *cmd, const char *flag, const char *path) {
  struct stat st;
  char dir[4096];
  if (!path)
    return 0;
  if (!*path) {
    fprintf(stderr, "heed %s: %s wants a file name, got ''\n", cmd, flag);
    return -1;
  }
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    const char *what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                           ? "a device"
                           : "not a regular file";
    fprintf(stderr, "heed %s: %s %s: is %s; give a regular file or a new "
                    "path\n", cmd, flag, path, what);
    return -1;
  }
  dir_of(path, dir, sizeof dir);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "heed %s: %s %s: directory %s does not exist\n", cmd,
            flag, path, dir);
    return -1;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    fprintf(stderr, "heed %s: %s %s: directory %s is not writable\n", cmd,
            flag, path, dir);
    return -1;
  }
  return 0;
}
