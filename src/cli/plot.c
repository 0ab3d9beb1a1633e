/* plot.c - hand-written SVG line charts and heatmaps. */
#include "cli/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PW 480 /* panel width */
#define PH 320 /* panel height, legend excluded */
#define ML 64  /* margins */
#define MR 36  /* room for the last x label */
#define MT 40
#define MB 50
#define LEG 14 /* one legend row */

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
    else if (*s == '\'')
      fputs("&apos;", f);
    else if ((unsigned char)*s >= 0x20)
      fputc(*s, f);
  }
}

/* An axis: [lo, hi] on multiples of step, a round number. */
typedef struct axis {
  double lo, hi, step;
} axis;

/* 1, 2 or 5 times a power of ten, about span / 5. */
static double nice_step(double span, int whole) {
  double raw = span / 5, p = pow(10, floor(log10(raw))), m = raw / p;
  double step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  return whole && step < 1 ? 1 : step;
}

static axis make_axis(double lo, double hi, enum heed_axis kind, int whole) {
  if (kind == HEED_AXIS_PERCENT) {
    lo = fmax(lo, 0), hi = fmin(hi, 100);
    if (hi - lo < 10) { /* a 0.2-point gap is not full height */
      double mid = (lo + hi) / 2;
      lo = fmax(0, mid - 5), hi = fmin(100, lo + 10);
      lo = hi - 10;
    }
  }
  if (!(hi > lo))
    hi = lo + 1;
  if (!whole) { /* a little room so lines do not run on the frame */
    double pad = 0.04 * (hi - lo);
    lo -= pad, hi += pad;
  }
  if (kind != HEED_AXIS_ANY && lo < 0)
    lo = 0;
  if (kind == HEED_AXIS_PERCENT && hi > 100)
    hi = 100;
  axis a;
  a.step = nice_step(hi - lo, whole);
  a.lo = floor(lo / a.step + 1e-9) * a.step;
  a.hi = ceil(hi / a.step - 1e-9) * a.step;
  if (kind != HEED_AXIS_ANY && a.lo < 0)
    a.lo = 0;
  if (kind == HEED_AXIS_PERCENT && a.hi > 100)
    a.hi = 100;
  return a;
}

/* A tick's label: as many decimals as the step needs, never 1.9e+03. */
static void tick_label(char *buf, size_t len, double v, double step) {
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (fabs(v) < step * 1e-6)
    v = 0;
  snprintf(buf, len, "%.*f", dec, v);
}

static void range(const heed_panel *p, double *x0, double *x1, double *y0,
                  double *y1) {
  *x0 = *y0 = INFINITY, *x1 = *y1 = -INFINITY;
  for (size_t s = 0; s < p->nseries; s++)
    for (size_t i = 0; i < p->series[s].n; i++) {
      double x = p->series[s].x[i], y = p->series[s].y[i];
      if (!isfinite(x) || !isfinite(y))
        continue;
      *x0 = fmin(*x0, x), *x1 = fmax(*x1, x);
      *y0 = fmin(*y0, y), *y1 = fmax(*y1, y);
    }
  if (!isfinite(*x0))
    *x0 = 0, *x1 = 1, *y0 = 0, *y1 = 1;
}

static void lines(FILE *f, const heed_panel *p, const heed_axes *hint,
                  double ox) {
  double x0, x1, y0, y1;
  heed_axes none = {HEED_AXIS_ANY, 0};
  if (!hint)
    hint = &none;
  range(p, &x0, &x1, &y0, &y1);
  axis ax = make_axis(x0, x1, HEED_AXIS_ANY, hint->xint);
  axis ay = make_axis(y0, y1, hint->yaxis, 0);
  if (hint->xint && ax.lo < 0 && x0 >= 0)
    ax.lo = 0;
  double w = PW - ML - MR, h = PH - MT - MB;
#define SX(x) (ox + ML + ((x)-ax.lo) / (ax.hi - ax.lo) * w)
#define SY(y) (MT + h - ((y)-ay.lo) / (ay.hi - ay.lo) * h)
  fprintf(f, "<rect x='%g' y='%d' width='%g' height='%g' fill='none' "
             "stroke='#444'/>\n", ox + ML, MT, w, h);
  char t[64];
  for (double v = ay.lo; v <= ay.hi + ay.step * 1e-6; v += ay.step) {
    tick_label(t, sizeof t, v, ay.step);
    fprintf(f, "<line x1='%g' x2='%g' y1='%.1f' y2='%.1f' stroke='#ddd'/>\n"
               "<text class='ytick' x='%g' y='%.1f' font-size='11' "
               "text-anchor='end'>%s</text>\n",
            ox + ML, ox + ML + w, SY(v), SY(v), ox + ML - 4, SY(v) + 4, t);
  }
  for (double v = ax.lo; v <= ax.hi + ax.step * 1e-6; v += ax.step) {
    tick_label(t, sizeof t, v, ax.step);
    fprintf(f, "<text class='xtick' x='%.1f' y='%d' font-size='11' "
               "text-anchor='middle'>%s</text>\n", SX(v), MT + (int)h + 16, t);
  }
  fprintf(f, "<clipPath id='c%d'><rect x='%g' y='%d' width='%g' "
             "height='%g'/></clipPath>\n", (int)ox, ox + ML, MT, w, h);
  for (size_t s = 0; s < p->nseries; s++) {
    const heed_series *se = &p->series[s];
    const char *col = colors[s % 8];
    fprintf(f, "<polyline class='series' fill='none' stroke='%s' "
               "stroke-width='1.8' clip-path='url(#c%d)' points='", col,
            (int)ox);
    for (size_t i = 0; i < se->n; i++)
      if (isfinite(se->x[i]) && isfinite(se->y[i]))
        fprintf(f, "%.1f,%.1f ", SX(se->x[i]), SY(se->y[i]));
    fprintf(f, "'/>\n");
    for (size_t i = 0; se->n <= 20 && i < se->n; i++) /* few: markers */
      if (isfinite(se->x[i]) && isfinite(se->y[i]))
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n",
                SX(se->x[i]), SY(se->y[i]), col);
    /* the legend: under the axes, never over the data */
    double ly = PH + 8 + LEG * (double)s;
    fprintf(f, "<rect x='%g' y='%g' width='12' height='3' fill='%s'/>"
               "<text class='legend' x='%g' y='%g' font-size='11'>",
            ox + ML, ly - 4, col, ox + ML + 16, ly);
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
  if (hi - lo < 0.1) { /* a 0.2-point spread is not red against green */
    double mid = (lo + hi) / 2;
    lo = fmax(0, mid - 0.05);
    hi = fmin(1, lo + 0.1);
    lo = hi - 0.1;
  }
  fprintf(f, "<text class='legend' x='%g' y='%d' font-size='11'>colour: "
             "%.1f%% (red) to %.1f%% (green)</text>\n", ox + ML, PH + 8,
          100 * lo, 100 * hi);
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
  return heed__plot_axes(path, title, panels, NULL, np, err, errlen);
}

int heed__plot_axes(const char *path, const char *title,
                    const heed_panel *panels, const heed_axes *axes,
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
  size_t rows = 0; /* legend rows under the tallest panel */
  for (size_t i = 0; i < np; i++)
    if (!panels[i].rows && panels[i].nseries > rows)
      rows = panels[i].nseries;
  const char *nl = strchr(title, '\n');
  int top = nl ? 16 : 0; /* room for the subtitle */
  if (rows < 1)
    rows = 1; /* a heatmap's colour scale */
  fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n"
             "<svg xmlns='http://www.w3.org/2000/svg' width='%zu' height='%zu' "
             "font-family='sans-serif'>\n<rect width='100%%' height='100%%' "
             "fill='white'/>\n", PW * np, PH + 14 + LEG * rows + top);
  fprintf(f, "<text class='title' x='10' y='18' font-size='14' "
             "font-weight='bold'>");
  if (nl) {
    char head[512];
    snprintf(head, sizeof head, "%.*s", (int)(nl - title), title);
    esc(f, head);
    fprintf(f, "</text>\n<text class='subtitle' x='10' y='34' "
               "font-size='11' fill='#444'>");
    esc(f, nl + 1);
  } else {
    esc(f, title);
  }
  fprintf(f, "</text>\n");
  for (size_t i = 0; i < np; i++) {
    double ox = (double)PW * i;
    fprintf(f, "<g class='panel' transform='translate(0,%d)'>\n", top);
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
      lines(f, &panels[i], axes ? &axes[i] : NULL, ox);
    fprintf(f, "</g>\n");
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
