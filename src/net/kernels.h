/*
 * kernels.h - the arithmetic a neuron does on a mini-batch (internal).
 *
 * Batch vectors have `stride` lanes, a multiple of 8 (HEED_LANES), so every
 * loop runs over whole vectors with no tail. All sums run lane by lane in a
 * fixed order, never reassociated, so a result depends only on the inputs,
 * not on threads or message arrival order. Two builds of the same code
 * exist: a portable one and one for AVX2+FMA, chosen once at startup.
 */
#ifndef HEED_NET_KERNELS_H
#define HEED_NET_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define HEED_LANES 8

static inline uint32_t heed__stride(uint32_t batch) {
  return (batch + HEED_LANES - 1) / HEED_LANES * HEED_LANES;
}

typedef struct heed_kernels {
  const char *name;
  /* z = b + sum_i w[i] * x[i*stride ..] */
  void (*dot_rows)(const float *w, size_t n, const float *x, size_t stride,
                   float b, float *z);
  /* dw[i] = sum_s g[s] * x[i*stride + s] */
  void (*grad)(const float *g, const float *x, size_t n, size_t stride,
               float *dw);
  /* beta[s] = sum_k c[k*ldc] * g[k*stride + s] */
  void (*gather)(const float *c, size_t ldc, const float *g, size_t k,
                 size_t stride, float *beta);
} heed_kernels;

/* The fastest kernels this CPU runs (set by HEED_KERNELS=generic to force
 * the portable ones). */
const heed_kernels *heed__kernels(void);
const heed_kernels *heed__kernels_generic(void);
const heed_kernels *heed__kernels_avx2(void); /* NULL if unsupported */

#endif
