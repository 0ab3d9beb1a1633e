/*
 * kernels.h - the arithmetic a neuron does on a mini-batch (internal).
 *
 * Batch vectors have `stride` lanes, a multiple of 8 (HEED_LANES), so every
 * loop runs over whole vectors with no tail. All sums run lane by lane in a
 * fixed order, never reassociated, so a result depends only on the inputs,
 * not on threads or message arrival order. Three builds of the same code
 * exist: a portable one, one for AVX2+FMA and one for AVX-512 (F, VL, BW,
 * DQ), the fastest the CPU runs chosen once at startup. The AVX2 and
 * AVX-512 builds give bitwise the same results (the same fused
 * multiply-adds in the same order, only wider); the portable one rounds
 * each product separately, so it differs from them in the last bits.
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
  /* z = b + sum_i w[i] * x[i*stride ..], summed in order i = 0, 1, ... */
  void (*dot_rows)(const float *w, size_t n, const float *x, size_t stride,
                   float b, float *z);
  /* dot_rows for four neurons sharing x (a cohort): z[k] for weights w[k]
   * and bias b[k]; every z[k] is bitwise what dot_rows gives. */
  void (*dot_rows4)(const float *const w[4], size_t n, const float *x,
                    size_t stride, const float b[4], float *const z[4]);
  /* dw[i] = sum_s g[s] * x[i*stride + s] (x one row per input) */
  void (*grad)(const float *g, const float *x, size_t n, size_t stride,
               float *dw);
  /* The same from xt, one row of n values per sample (count samples),
   * summed in order s = 0, 1, ...: no horizontal sums, so much faster. */
  void (*grad_t)(const float *g, const float *xt, size_t n, size_t count,
                 float *dw);
  /* beta[s] = sum_k c[k*ldc] * g[k*stride + s], summed in order k = 0, ...
   * (at stride 8, in four chains k % 4 folded in a fixed tree) */
  void (*gather)(const float *c, size_t ldc, const float *g, size_t k,
                 size_t stride, float *beta);
  /* gather for four columns c[m] of one block (a cohort), bitwise alike */
  void (*gather4)(const float *const c[4], size_t ldc, const float *g,
                  size_t k, size_t stride, float *const beta[4]);
  /* b + sum_i w[i] * x[i*xstep] for one sample, vectorized over the
   * inputs in a fixed order (32 lanes, i % 32, folded in a fixed tree) that
   * is the same for every xstep: narrow batches (HEED_NARROW samples or
   * fewer) use it instead of dot_rows, whose lanes run over samples. */
  float (*dot_in)(const float *w, size_t n, const float *x, size_t xstep,
                  float b);
  /* The cohort kernel, register-blocked over m neurons and the lanes:
   *   out[q][l] = b[q] + sum_k a[q][k*astep] * x[k*ldx + l]
   * for q < m, l < lanes, k < K (no b[q] term when b is NULL), each
   * (q, l) one chain of multiply-adds over k = 0, 1, ... started from 0,
   * whatever m is. So it gives, bitwise and for each neuron alone,
   *   dot_rows: a = weight rows (astep 1), x the block, ldx = lanes = stride;
   *   gather (stride > 8): a = coefficient columns (astep ldc), x = g;
   *   grad_t: a = signals (astep 1), K = count, x = xt, ldx = lanes = n. */
  void (*block)(const float *const a[], size_t m, size_t astep, size_t K,
                const float *x, size_t ldx, size_t lanes, const float *b,
                float *const out[]);
  /* w[i] += scale * dw[i], the product rounded before the sum (not fused,
   * as plain C writes it): the same weights from every build. */
  void (*ascend)(float *w, const float *dw, size_t n, float scale);
} heed_kernels;

/* A gradient computed ahead by a cohort for the neuron whose strategy is
 * responding on this thread: <g, x_i> for exactly this g (stride values)
 * and these sample-major inputs xt. heed_neuron_grad takes dw from it
 * instead of recomputing when its arguments match (any other g or x, and
 * it computes as usual). Set by the neuron actor around respond() only. */
typedef struct heed_grad_hint {
  const float *xt, *g, *dw;
  uint32_t fan_in, stride;
} heed_grad_hint;
extern _Thread_local const heed_grad_hint *heed__grad_hint;

/* Neurons a loop runs through one blocked kernel call at most (a cohort:
 * neighbours on one loop that received the same block in one turn). */
#define HEED_COHORT 24

/* Batches of at most this many samples compute z sample by sample with
 * dot_in: the order of a sum depends on the batch width only, never on
 * threads, cohorts or processes. */
#define HEED_NARROW 4

/* The fastest kernels this CPU runs; HEED_KERNELS=generic or =avx2 asks
 * for a slower build (a build the CPU lacks falls back to the next). */
const heed_kernels *heed__kernels(void);
const heed_kernels *heed__kernels_generic(void);
const heed_kernels *heed__kernels_avx2(void);   /* NULL if unsupported */
const heed_kernels *heed__kernels_avx512(void); /* NULL if unsupported */

#endif
