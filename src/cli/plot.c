/* plot.c - hand-written SVG line charts and heatmaps. */
#include "cli/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PW 460 /* panel width */
#define PH 320
#define ML 60 /* margins */
#define MR 20
#define MT 40
#define MB 50

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c",
                                     "#ff7f0e", "#9467bd", "#8c564b",
                                     "#e377c2", "#17becf"};

static void esc(FILE *f, const char *s) {
  for (; s && *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else
      fputc(*s, f);
  }
}

static void lines(FILE *f, const heed_panel *p, double ox) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (size_t s = 0; s < p->nseries; s++)
    for (size_t i = 0; i < p->series[s].n; i++) {
      double x = p->series[s].x[i], y = p->series[s].y[i];
      if (!isfinite(x) || !isfinite(y))
        continue;
      x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
    }
  if (!isfinite(x0)) {
    x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  }
  if (x1 == x0)
    x1 = x0 + 1;
  if (y1 == y0)
    y1 = y0 + 1;
  double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  double w = PW - ML - MR, h = PH - MT - MB;
#define SX(x) (ox + ML + ((x)-x0) / (x1 - x0) * w)
#define SY(y) (MT + h - ((y)-y0) / (y1 - y0) * h)
  fprintf(f, "<rect x='%g' y='%d' width='%g' height='%g' fill='none' "
             "stroke='#444'/>\n", ox + ML, MT, w, h);
  for (int t = 0; t <= 4; t++) {
    double yv = y0 + (y1 - y0) * t / 4, xv = x0 + (x1 - x0) * t / 4;
    fprintf(f, "<line x1='%g' x2='%g' y1='%g' y2='%g' stroke='#ddd'/>\n",
            ox + ML, ox + ML + w, SY(yv), SY(yv));
    fprintf(f, "<text x='%g' y='%g' font-size='11' text-anchor='end'>%.3g"
               "</text>\n", ox + ML - 4, SY(yv) + 4, yv);
    fprintf(f, "<text x='%g' y='%d' font-size='11' text-anchor='middle'>%.3g"
               "</text>\n", SX(xv), MT + (int)h + 16, xv);
  }
  for (size_t s = 0; s < p->nseries; s++) {
    const heed_series *se = &p->series[s];
    const char *col = colors[s % 8];
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.8' "
               "points='", col);
    for (size_t i = 0; i < se->n; i++)
      if (isfinite(se->x[i]) && isfinite(se->y[i]))
        fprintf(f, "%.1f,%.1f ", SX(se->x[i]), SY(se->y[i]));
    fprintf(f, "'/>\n");
    if (se->n == 1)
      fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n",
              SX(se->x[0]), SY(se->y[0]), col);
    fprintf(f, "<rect x='%g' y='%g' width='12' height='3' fill='%s'/>"
               "<text x='%g' y='%g' font-size='11'>", ox + ML + 8,
            MT + 10 + 14.0 * s, col, ox + ML + 24, MT + 14 + 14.0 * s);
    esc(f, se->name);
    fprintf(f, "</text>\n");
  }
#undef SX
#undef SY
}

static void heat(FILE *f, const heed_panel *p, double ox) {
  double w = PW - ML - MR, h = PH - MT - MB;
  double cw = w / p->cols, ch = h / p->rows;
  /* Colour spans the values shown, so 90% and 97% look different. */
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < p->rows * p->cols; i++)
    if (isfinite(p->values[i]))
      lo = fmin(lo, p->values[i]), hi = fmax(hi, p->values[i]);
  if (!(hi > lo))
    lo = 0, hi = 1;
  fprintf(f, "<text x='%g' y='%d' font-size='10'>colour: %.1f%% (red) to "
             "%.1f%% (green)</text>\n", ox + ML, PH - 24, 100 * lo, 100 * hi);
  for (size_t r = 0; r < p->rows; r++)
    for (size_t c = 0; c < p->cols; c++) {
      double v = p->values[r * p->cols + c];
      double t = isfinite(v) ? (v - lo) / (hi - lo) : 0;
      int red = (int)(255 * (1 - t)), green = (int)(80 + 150 * t);
      fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' "
                 "fill='rgb(%d,%d,120)' stroke='#fff'/>\n",
              ox + ML + c * cw, MT + r * ch, cw, ch, red, green);
      if (isfinite(v))
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' "
                   "text-anchor='middle'>%.1f</text>\n",
                ox + ML + (c + 0.5) * cw, MT + (r + 0.5) * ch + 4, 100 * v);
    }
  for (size_t r = 0; r < p->rows; r++)
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>"
               "%zu</text>\n", ox + ML - 4, MT + (r + 0.5) * ch + 4, r + 1);
  for (size_t c = 0; c < p->cols; c++)
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' "
               "text-anchor='middle'>%zu</text>\n",
            ox + ML + (c + 0.5) * cw, MT + h + 16, c + 1);
}

static int to_png(const char *svg, const char *png, char *err, size_t len) {
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, len, "cannot start rsvg-convert: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    execlp("rsvg-convert", "rsvg-convert", "-o", png, svg, (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(err, len,
             "cannot write %s: rsvg-convert failed (install librsvg2-bin, or "
             "use a .svg path)", png);
    return -1;
  }
  return 0;
}

int heed__plot(const char *path, const char *title, const heed_panel *panels,
               size_t np, char *err, size_t errlen) {
  size_t len = strlen(path);
  int png = len > 4 && !strcmp(path + len - 4, ".png");
  if (!png && !(len > 4 && !strcmp(path + len - 4, ".svg"))) {
    snprintf(err, errlen, "plot file %s must end in .svg or .png", path);
    return -1;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s%s", path, png ? ".svg" : ".tmp");
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    return -1;
  }
  fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n"
             "<svg xmlns='http://www.w3.org/2000/svg' width='%zu' height='%d' "
             "font-family='sans-serif'>\n<rect width='100%%' height='100%%' "
             "fill='white'/>\n", PW * np, PH + 20);
  fprintf(f, "<text x='10' y='18' font-size='14' font-weight='bold'>");
  esc(f, title);
  fprintf(f, "</text>\n");
  for (size_t i = 0; i < np; i++) {
    double ox = (double)PW * i;
    fprintf(f, "<text x='%g' y='%d' font-size='12' text-anchor='middle'>",
            ox + PW / 2.0, MT - 8);
    esc(f, panels[i].title);
    fprintf(f, "</text>\n<text x='%g' y='%d' font-size='11' "
               "text-anchor='middle'>", ox + ML + (PW - ML - MR) / 2.0,
            PH - 10);
    esc(f, panels[i].xlabel);
    fprintf(f, "</text>\n<text x='%g' y='%d' font-size='11' "
               "transform='rotate(-90 %g %d)' text-anchor='middle'>",
            ox + 14, MT + (PH - MT - MB) / 2, ox + 14, MT + (PH - MT - MB) / 2);
    esc(f, panels[i].ylabel);
    fprintf(f, "</text>\n");
    if (panels[i].rows)
      heat(f, &panels[i], ox);
    else
      lines(f, &panels[i], ox);
  }
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    remove(tmp);
    return -1;
  }
  if (png) {
    int rv = to_png(tmp, path, err, errlen);
    remove(tmp);
    return rv;
  }
  if (rename(tmp, path) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    remove(tmp);
    return -1;
  }
  return 0;
}
