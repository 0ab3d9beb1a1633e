/* suggest.c - "did you mean" (suggest.h). */
#include "cli/suggest.h"

#include <stdlib.h>
#include <string.h>

#include "heed/heed.h"

/* Levenshtein distance, capped: words longer than 63 are never close. */
static size_t distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b), row[64];
  if (n > 63 || m > 63)
    return (size_t)-1;
  for (size_t j = 0; j <= m; j++)
    row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

const char *heed__suggest(const char *word, const char *const *cands,
                          size_t n) {
  size_t len = strlen(word), limit = len <= 4 ? 1 : len <= 12 ? 2 : 3;
  const char *best = NULL;
  size_t bd = limit + 1;
  for (size_t i = 0; i < n; i++) {
    size_t d = distance(word, cands[i]);
    if (d < bd && strcmp(word, cands[i])) {
      bd = d;
      best = cands[i];
    }
  }
  return best;
}

/* The "--flag" words of text, in place (text is cut into words). */
static size_t flags_of(char *text, const char **out, size_t max) {
  size_t n = 0;
  for (char *p = strtok(text, " \t\n,|[]()'"); p && n < max;
       p = strtok(NULL, " \t\n,|[]()'"))
    if (p[0] == '-' && p[1] == '-' && p[2] && p[2] != '-') {
      char *eq = strchr(p, '=');
      if (eq)
        *eq = 0;
      out[n++] = p;
    }
  return n;
}

void heed__unknown_option(const char *cmd, const char *opt,
                          void (*usage)(FILE *)) {
  char *text = NULL;
  size_t len = 0;
  const char *flags[256], *s = NULL;
  FILE *f = open_memstream(&text, &len);
  if (f) {
    usage(f);
    if (fclose(f) == 0 && text)
      s = heed__suggest(opt, flags, flags_of(text, flags, 256));
  }
  if (s)
    fprintf(stderr, "heed %s: unknown option '%s' (did you mean '%s'? see "
                    "'heed %s --help')\n", cmd, opt, s, cmd);
  else
    fprintf(stderr, "heed %s: unknown option '%s' (see 'heed %s --help')\n",
            cmd, opt, cmd);
  free(text);
}

void heed__strategy_error(const char *cmd, const char *spec, int rv,
                          const char *err) {
  const char *names[64], *s = NULL;
  size_t n = 0;
  char name[64];
  if (rv == HEED_ENOENT) {
    snprintf(name, sizeof name, "%.*s", (int)strcspn(spec, ":"), spec);
    for (const char *p = name; *p; p++)
      if (*p < 0x21 || *p > 0x7e)
        rv = 0; /* print only the library's escaped message */
    for (size_t i = 0; rv && i < heed_strategy_count() && n < 64; i++)
      names[n++] = heed_strategy_at(i)->name;
    s = heed__suggest(name, names, n);
  }
  if (s)
    fprintf(stderr, "heed %s: unknown strategy '%s' (did you mean '%s'? see "
                    "'heed strategies')\n", cmd, name, s);
  else
    fprintf(stderr, "heed %s: %s\n", cmd, err);
}
