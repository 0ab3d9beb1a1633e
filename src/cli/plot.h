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

typedef struct heed_panel {
  const char *title, *xlabel, *ylabel;
  const heed_series *series;
  size_t nseries;
  /* A heatmap instead of lines when rows > 0: values[r * cols + c]. */
  const double *values;
  size_t rows, cols;
} heed_panel;

/* Writes panels side by side. Returns 0 or -1 with a one-line reason. */
int heed__plot(const char *path, const char *title, const heed_panel *panels,
               size_t npanels, char *err, size_t errlen);

#endif
