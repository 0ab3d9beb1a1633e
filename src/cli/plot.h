/*
 * plot.h - small SVG charts for learning curves and accuracy matrices
 * (internal). A path ending in .png is drawn as SVG and converted with
 * rsvg-convert (Debian's librsvg2-bin), so no plotting library is linked.
 */
#ifndef HEED_CLI_PLOT_H
#define HEED_CLI_PLOT_H

#include <stddef.h>

typedef struct heed_series {
  const char *name;
  const double *x, *y;
  size_t n;
} heed_series;

/* What a y axis holds: its range never leaves what the values can be. */
enum heed_axis {
  HEED_AXIS_ANY = 0,
  HEED_AXIS_NONNEG,  /* never below 0 (a loss) */
  HEED_AXIS_PERCENT, /* within [0, 100], at least 10 points tall */
};

typedef struct heed_panel {
  const char *title, *xlabel, *ylabel;
  const heed_series *series;
  size_t nseries;
  /* A heatmap instead of lines when rows > 0: values[r * cols + c]. */
  const double *values;
  size_t rows, cols;
} heed_panel;

/* How to draw a panel's axes (heed__plot_axes); all zero: any y, real x. */
typedef struct heed_axes {
  enum heed_axis yaxis;
  int xint; /* x counts something whole (steps, tasks): integer ticks */
} heed_axes;

/* Writes panels side by side; title's first line is the title, a second
 * line (after '\n') a smaller subtitle (the configuration). Ticks are round
 * (1, 2 or 5 times a power of ten), the axes start and end on ticks, the
 * legend sits under the axes, series of few points get markers. Tick
 * labels carry class='xtick' / 'ytick' and each panel is a
 * <g class='panel'> (tests read them). Returns 0 or -1 with a one-line
 * reason. */
int heed__plot(const char *path, const char *title, const heed_panel *panels,
               size_t npanels, char *err, size_t errlen);
/* The same with axes[i] for panels[i] (axes may be NULL). */
int heed__plot_axes(const char *path, const char *title,
                    const heed_panel *panels, const heed_axes *axes,
                    size_t npanels, char *err, size_t errlen);

#endif
