/*
 * kernels_impl.h - kernel bodies, included by kernels_generic.c and
 * kernels_avx2.c with KSUFFIX set. Written as fixed-width lane loops so the
 * compiler vectorizes them without reassociating any sum.
 */
#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define KNAME(f) KCAT(f, KSUFFIX)

/* One accumulation chain per lane, rows in order: the order dot_rows4
 * reproduces exactly, so a neuron's z does not depend on whether it was
 * computed alone or in a cohort. */
KATTR static void KNAME(dot_rows)(const float *restrict w, size_t n,
                                  const float *restrict x, size_t stride,
                                  float b, float *restrict z) {
  for (size_t s0 = 0; s0 < stride; s0 += 32) {
    size_t width = stride - s0 < 32 ? stride - s0 : 32;
    float acc[32];
    for (size_t l = 0; l < 32; l++)
      acc[l] = 0.0f;
    if (width == 32) {
      for (size_t i = 0; i < n; i++) {
        const float wi = w[i];
        const float *xi = x + i * stride + s0;
        for (size_t l = 0; l < 32; l++)
          acc[l] = KFMA(wi, xi[l], acc[l]);
      }
    } else {
      for (size_t i = 0; i < n; i++) {
        const float wi = w[i];
        const float *xi = x + i * stride + s0;
        for (size_t l = 0; l < width; l++)
          acc[l] = KFMA(wi, xi[l], acc[l]);
      }
    }
    for (size_t l = 0; l < width; l++)
      z[s0 + l] = b + acc[l];
  }
}

/* Four neurons per pass over x: each load of x feeds four multiply-adds,
 * and sixteen chains are in flight. */
KATTR static void KNAME(dot_rows4)(const float *const w[4], size_t n,
                                   const float *restrict x, size_t stride,
                                   const float b[4], float *const z[4]) {
  size_t s0 = 0;
  for (; s0 + 32 <= stride; s0 += 32) {
    float a0[32], a1[32], a2[32], a3[32];
    for (size_t l = 0; l < 32; l++)
      a0[l] = a1[l] = a2[l] = a3[l] = 0.0f;
    for (size_t i = 0; i < n; i++) {
      const float w0 = w[0][i], w1 = w[1][i], w2 = w[2][i], w3 = w[3][i];
      const float *xi = x + i * stride + s0;
      for (size_t l = 0; l < 32; l++) {
        a0[l] = KFMA(w0, xi[l], a0[l]);
        a1[l] = KFMA(w1, xi[l], a1[l]);
        a2[l] = KFMA(w2, xi[l], a2[l]);
        a3[l] = KFMA(w3, xi[l], a3[l]);
      }
    }
    for (size_t l = 0; l < 32; l++) {
      z[0][s0 + l] = b[0] + a0[l];
      z[1][s0 + l] = b[1] + a1[l];
      z[2][s0 + l] = b[2] + a2[l];
      z[3][s0 + l] = b[3] + a3[l];
    }
  }
#ifdef KVEC8
  /* The last 8, 16 or 24 lanes (all of a batch of 1..8) for the four
   * neurons together, in vector registers (gcc leaves the plain-C form of
   * this loop scalar): still one chain per lane, rows in order, fused
   * multiply-adds, so bitwise what dot_rows gives. */
  for (; s0 < stride; s0 += 8) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i++) {
      const __m256 xi = _mm256_loadu_ps(x + i * stride + s0);
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[0][i]), xi, a0);
      a1 = _mm256_fmadd_ps(_mm256_set1_ps(w[1][i]), xi, a1);
      a2 = _mm256_fmadd_ps(_mm256_set1_ps(w[2][i]), xi, a2);
      a3 = _mm256_fmadd_ps(_mm256_set1_ps(w[3][i]), xi, a3);
    }
    _mm256_storeu_ps(z[0] + s0, _mm256_add_ps(_mm256_set1_ps(b[0]), a0));
    _mm256_storeu_ps(z[1] + s0, _mm256_add_ps(_mm256_set1_ps(b[1]), a1));
    _mm256_storeu_ps(z[2] + s0, _mm256_add_ps(_mm256_set1_ps(b[2]), a2));
    _mm256_storeu_ps(z[3] + s0, _mm256_add_ps(_mm256_set1_ps(b[3]), a3));
  }
#endif
  if (s0 < stride) { /* the tail, neuron by neuron, in the same order */
    for (int k = 0; k < 4; k++) {
      size_t width = stride - s0;
      float acc[32];
      for (size_t l = 0; l < 32; l++)
        acc[l] = 0.0f;
      for (size_t i = 0; i < n; i++) {
        const float wi = w[k][i];
        const float *xi = x + i * stride + s0;
        for (size_t l = 0; l < width; l++)
          acc[l] = KFMA(wi, xi[l], acc[l]);
      }
      for (size_t l = 0; l < width; l++)
        z[k][s0 + l] = b[k] + acc[l];
    }
  }
}

/* Sample-major inputs: each sample adds g[s] * xt[s] to 64 weights' lanes
 * at once; no reduction across lanes is needed. */
KATTR static void KNAME(grad_t)(const float *restrict g,
                                const float *restrict xt, size_t n,
                                size_t count, float *restrict dw) {
  if (count <= HEED_NARROW) { /* a few rows: sweep dw once per sample, in
                               * the same order s = 0, 1, ... per weight */
    for (size_t i = 0; i < n; i++)
      dw[i] = KFMA(g[0], xt[i], 0.0f);
    for (size_t s = 1; s < count; s++)
      for (size_t i = 0; i < n; i++)
        dw[i] = KFMA(g[s], xt[s * n + i], dw[i]);
    return;
  }
  size_t i0 = 0;
  for (; i0 + 64 <= n; i0 += 64) {
    float acc[64];
    for (size_t l = 0; l < 64; l++)
      acc[l] = 0.0f;
    for (size_t s = 0; s < count; s++) {
      const float gs = g[s];
      const float *row = xt + s * n + i0;
      for (size_t l = 0; l < 64; l++)
        acc[l] = KFMA(gs, row[l], acc[l]);
    }
    for (size_t l = 0; l < 64; l++)
      dw[i0 + l] = acc[l];
  }
  for (; i0 < n; i0 += 8) {
    size_t width = n - i0 < 8 ? n - i0 : 8;
    float acc[8];
    for (size_t l = 0; l < 8; l++)
      acc[l] = 0.0f;
    for (size_t s = 0; s < count; s++) {
      const float gs = g[s];
      const float *row = xt + s * n + i0;
      for (size_t l = 0; l < width; l++)
        acc[l] = KFMA(gs, row[l], acc[l]);
    }
    for (size_t l = 0; l < width; l++)
      dw[i0 + l] = acc[l];
  }
}

/* Four rows at a time, each with its own 8-lane chain, so the chains
 * overlap; each row's lanes are summed in one fixed tree at the end. */
KATTR static void KNAME(grad)(const float *restrict g, const float *restrict x,
                              size_t n, size_t stride, float *restrict dw) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float a0[8], a1[8], a2[8], a3[8];
    for (size_t l = 0; l < 8; l++)
      a0[l] = a1[l] = a2[l] = a3[l] = 0.0f;
    const float *x0 = x + i * stride, *x1 = x0 + stride, *x2 = x1 + stride,
                *x3 = x2 + stride;
    for (size_t s = 0; s < stride; s += 8)
      for (size_t l = 0; l < 8; l++) {
        a0[l] = KFMA(g[s + l], x0[s + l], a0[l]);
        a1[l] = KFMA(g[s + l], x1[s + l], a1[l]);
        a2[l] = KFMA(g[s + l], x2[s + l], a2[l]);
        a3[l] = KFMA(g[s + l], x3[s + l], a3[l]);
      }
    dw[i] = ((a0[0] + a0[1]) + (a0[2] + a0[3])) +
            ((a0[4] + a0[5]) + (a0[6] + a0[7]));
    dw[i + 1] = ((a1[0] + a1[1]) + (a1[2] + a1[3])) +
                ((a1[4] + a1[5]) + (a1[6] + a1[7]));
    dw[i + 2] = ((a2[0] + a2[1]) + (a2[2] + a2[3])) +
                ((a2[4] + a2[5]) + (a2[6] + a2[7]));
    dw[i + 3] = ((a3[0] + a3[1]) + (a3[2] + a3[3])) +
                ((a3[4] + a3[5]) + (a3[6] + a3[7]));
  }
  for (; i < n; i++) {
    const float *xi = x + i * stride;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t s = 0; s < stride; s += 8)
      for (size_t l = 0; l < 8; l++)
        acc[l] = KFMA(g[s + l], xi[s + l], acc[l]);
    dw[i] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
            ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
}

/* One neuron, one sample, vectorized over the inputs: lane l sums inputs
 * i = l, l + 32, l + 64, ... in order, then the 32 lanes fold in one fixed
 * tree. x[i * xstep] is input i; the contiguous case (xstep 1, a
 * sample-major row) and the strided one give bitwise the same sum. */
KATTR static float KNAME(dot_in)(const float *restrict w, size_t n,
                                 const float *restrict x, size_t xstep,
                                 float b) {
  float acc[32];
  for (size_t l = 0; l < 32; l++)
    acc[l] = 0.0f;
  size_t i0 = 0;
  if (xstep == 1) {
    for (; i0 + 32 <= n; i0 += 32)
      for (size_t l = 0; l < 32; l++)
        acc[l] = KFMA(w[i0 + l], x[i0 + l], acc[l]);
  } else {
    for (; i0 + 32 <= n; i0 += 32)
      for (size_t l = 0; l < 32; l++)
        acc[l] = KFMA(w[i0 + l], x[(i0 + l) * xstep], acc[l]);
  }
  for (size_t l = 0; i0 + l < n; l++)
    acc[l] = KFMA(w[i0 + l], x[(i0 + l) * xstep], acc[l]);
  for (size_t half = 16; half > 0; half /= 2)
    for (size_t l = 0; l < half; l++)
      acc[l] += acc[l + half];
  return b + acc[0];
}

/* gather at stride 8 (batches of 1..8): four chains, bidder j feeding
 * chain j % 4, folded as (c0 + c1) + (c2 + c3), so the 8-lane sums do not
 * wait on one long chain of dependent multiply-adds. */
KATTR static void KNAME(gather8)(const float *restrict c, size_t ldc,
                                 const float *restrict g, size_t k,
                                 float *restrict beta) {
  float a0[8], a1[8], a2[8], a3[8];
  for (size_t l = 0; l < 8; l++)
    a0[l] = a1[l] = a2[l] = a3[l] = 0.0f;
  size_t j = 0;
  for (; j + 4 <= k; j += 4) {
    const float c0 = c[j * ldc], c1 = c[(j + 1) * ldc],
                c2 = c[(j + 2) * ldc], c3 = c[(j + 3) * ldc];
    const float *gj = g + j * 8;
    for (size_t l = 0; l < 8; l++) {
      a0[l] = KFMA(c0, gj[l], a0[l]);
      a1[l] = KFMA(c1, gj[8 + l], a1[l]);
      a2[l] = KFMA(c2, gj[16 + l], a2[l]);
      a3[l] = KFMA(c3, gj[24 + l], a3[l]);
    }
  }
  float *tail[3] = {a0, a1, a2};
  for (size_t r = 0; j + r < k; r++) { /* k % 4 bidders left: chains 0.. */
    const float cj = c[(j + r) * ldc];
    const float *gj = g + (j + r) * 8;
    for (size_t l = 0; l < 8; l++)
      tail[r][l] = KFMA(cj, gj[l], tail[r][l]);
  }
  for (size_t l = 0; l < 8; l++)
    beta[l] = (a0[l] + a1[l]) + (a2[l] + a3[l]);
}

KATTR static void KNAME(gather)(const float *restrict c, size_t ldc,
                          const float *restrict g, size_t k, size_t stride,
                          float *restrict beta) {
  if (stride == 8) {
    KNAME(gather8)(c, ldc, g, k, beta);
    return;
  }
  for (size_t s0 = 0; s0 < stride; s0 += 32) {
    size_t width = stride - s0 < 32 ? stride - s0 : 32;
    float acc[32] = {0};
    for (size_t j = 0; j < k; j++) {
      const float cj = c[j * ldc];
      const float *gj = g + j * stride + s0;
      for (size_t l = 0; l < width; l++)
        acc[l] = KFMA(cj, gj[l], acc[l]);
    }
    for (size_t l = 0; l < width; l++)
      beta[s0 + l] = acc[l];
  }
}

/* gather for four receivers of the same bid block: each row of g is loaded
 * once for four sums; every beta[m] is bitwise what gather gives. */
KATTR static void KNAME(gather4)(const float *const c[4], size_t ldc,
                                 const float *restrict g, size_t k,
                                 size_t stride, float *const beta[4]) {
  if (stride == 8) { /* bitwise as gather: the same four-chain order */
    for (int m = 0; m < 4; m++)
      KNAME(gather8)(c[m], ldc, g, k, beta[m]);
    return;
  }
  size_t s0 = 0;
  for (; s0 + 32 <= stride; s0 += 32) {
    float a0[32], a1[32], a2[32], a3[32];
    for (size_t l = 0; l < 32; l++)
      a0[l] = a1[l] = a2[l] = a3[l] = 0.0f;
    for (size_t j = 0; j < k; j++) {
      const float c0 = c[0][j * ldc], c1 = c[1][j * ldc], c2 = c[2][j * ldc],
                  c3 = c[3][j * ldc];
      const float *gj = g + j * stride + s0;
      for (size_t l = 0; l < 32; l++) {
        a0[l] = KFMA(c0, gj[l], a0[l]);
        a1[l] = KFMA(c1, gj[l], a1[l]);
        a2[l] = KFMA(c2, gj[l], a2[l]);
        a3[l] = KFMA(c3, gj[l], a3[l]);
      }
    }
    for (size_t l = 0; l < 32; l++) {
      beta[0][s0 + l] = a0[l];
      beta[1][s0 + l] = a1[l];
      beta[2][s0 + l] = a2[l];
      beta[3][s0 + l] = a3[l];
    }
  }
  if (s0 < stride) { /* the last lanes, receiver by receiver, same order */
    size_t width = stride - s0;
    for (int m = 0; m < 4; m++) {
      float acc[32] = {0};
      for (size_t j = 0; j < k; j++) {
        const float cj = c[m][j * ldc];
        const float *gj = g + j * stride + s0;
        for (size_t l = 0; l < width; l++)
          acc[l] = KFMA(cj, gj[l], acc[l]);
      }
      for (size_t l = 0; l < width; l++)
        beta[m][s0 + l] = acc[l];
    }
  }
}

/* ---- the cohort kernel ------------------------------------------------
 * out[q][l] = b[q] + sum_k a[q][k*astep] * x[k*ldx + l] (no b[q] when b is
 * NULL), each (q, l) one chain of multiply-adds over k = 0, 1, ... from 0.
 * Every build below keeps that order whatever its tiling, so a neuron's
 * result is the one-neuron kernel's, bitwise, in any cohort. */

/* Portable form, neuron by neuron, 32 lanes at a time (also the lanes
 * from l0 on, left over by the AVX2 form below: same chains, same result;
 * the AVX-512 form masks its last vector, and calls it for nothing). */
KATTR __attribute__((unused)) static void KNAME(block_c)(const float *const a[], size_t m,
                                 size_t astep, size_t K,
                                 const float *restrict x, size_t ldx,
                                 size_t l0, size_t lanes, const float *b,
                                 float *const out[]) {
  for (size_t q = 0; q < m; q++)
    for (size_t s0 = l0; s0 < lanes; s0 += 32) {
      size_t width = lanes - s0 < 32 ? lanes - s0 : 32;
      float acc[32];
      for (size_t l = 0; l < 32; l++)
        acc[l] = 0.0f;
      for (size_t k = 0; k < K; k++) {
        const float ak = a[q][k * astep];
        const float *xk = x + k * ldx + s0;
        for (size_t l = 0; l < width; l++)
          acc[l] = KFMA(ak, xk[l], acc[l]);
      }
      for (size_t l = 0; l < width; l++)
        out[q][s0 + l] = b ? b[q] + acc[l] : acc[l];
    }
}

#if defined(KVEC16) || defined(KVEC8)
#define KINLINE static inline __attribute__((always_inline))
/* Rows of x per chunk: a chunk of one strip of lanes (at most 64 lanes,
 * 32 KiB) stays in the L1 cache while every tile of neurons runs over it;
 * a tile's sums are stored after a chunk and loaded again for the next,
 * which keeps each chain exactly as it was (stores and loads are exact). */
#define KCHUNK 128
#endif

#if defined(KVEC16)
/* AVX-512: a tile of M neurons x V vectors of 16 lanes lives in M*V zmm
 * registers through a chunk of rows; each row of x is loaded once for M
 * neurons. M and V are constants once inlined (M*V <= 24 accumulators,
 * M <= 8 pointers to a). The last vector is masked: lanes past the end
 * are neither read nor written. first: start from 0, else from the sums
 * in o; b: add it (the last chunk only). */
KATTR KINLINE void KNAME(tile16)(const float *const *a, size_t astep,
                                 size_t K, const float *x, size_t ldx,
                                 const float *b,
                                 float *const *o, __mmask16 last, int first,
                                 const int M, const int V) {
  __m512 acc[8][4];
  for (int q = 0; q < M; q++)
    for (int v = 0; v < V; v++)
      acc[q][v] = first ? _mm512_setzero_ps()
                  : v < V - 1 ? _mm512_loadu_ps(o[q] + 16 * v)
                              : _mm512_maskz_loadu_ps(last, o[q] + 16 * v);
  for (size_t k = 0; k < K; k++) {
    const float *xk = x + k * ldx;
    __m512 xv[4];
    for (int v = 0; v < V - 1; v++)
      xv[v] = _mm512_loadu_ps(xk + 16 * v);
    xv[V - 1] = _mm512_maskz_loadu_ps(last, xk + 16 * (V - 1));
    for (int q = 0; q < M; q++) {
      const __m512 aq = _mm512_set1_ps(a[q][k * astep]);
      for (int v = 0; v < V; v++)
        acc[q][v] = _mm512_fmadd_ps(aq, xv[v], acc[q][v]);
    }
  }
  for (int q = 0; q < M; q++)
    for (int v = 0; v < V; v++) {
      __m512 r = b ? _mm512_add_ps(_mm512_set1_ps(b[q]), acc[q][v])
                   : acc[q][v];
      if (v < V - 1)
        _mm512_storeu_ps(o[q] + 16 * v, r);
      else
        _mm512_mask_storeu_ps(o[q] + 16 * (V - 1), last, r);
    }
}

/* One chunk of one strip of V vectors of lanes from l0, for all m
 * neurons: tiles of MB, then 4, 2, 1 neurons (no padding). */
KATTR KINLINE void KNAME(strip16)(const float *const *a, size_t m,
                                  size_t astep, size_t K,
                                  const float *x, size_t ldx,
                                  const float *b, float *const *out,
                                  size_t l0, __mmask16 last, int first,
                                  const int V) {
  const int MB = V == 4 ? 6 : 8;
  for (size_t q0 = 0; q0 < m;) {
    size_t r = m - q0;
    float *o[8];
    const float *bq = b ? b + q0 : NULL;
    int M = r >= (size_t)MB ? MB : r >= 4 ? 4 : r >= 2 ? 2 : 1;
    for (int q = 0; q < M; q++)
      o[q] = out[q0 + q] + l0;
    if (M == MB)
      KNAME(tile16)(a + q0, astep, K, x + l0, ldx, bq, o, last, first, MB,
                    V);
    else if (M == 4)
      KNAME(tile16)(a + q0, astep, K, x + l0, ldx, bq, o, last, first, 4,
                    V);
    else if (M == 2)
      KNAME(tile16)(a + q0, astep, K, x + l0, ldx, bq, o, last, first, 2,
                    V);
    else
      KNAME(tile16)(a + q0, astep, K, x + l0, ldx, bq, o, last, first, 1,
                    V);
    q0 += (size_t)M;
  }
}

/* One chunk of rows (a[q][0..K) already contiguous), every lane. */
KATTR static void KNAME(chunk)(const float *const *a, size_t m, size_t astep,
                               size_t K, const float *x, size_t ldx,
                               size_t lanes, const float *b,
                               float *const *out, int first) {
  for (size_t l0 = 0; l0 < lanes;) {
    size_t rem = lanes - l0, nv = (rem + 15) / 16;
    int V = nv >= 4 ? 4 : (int)nv;
    size_t width = rem < (size_t)V * 16 ? rem : (size_t)V * 16;
    __mmask16 last = (__mmask16)(width % 16 ? (1u << (width % 16)) - 1
                                            : 0xffffu);
    switch (V) {
    case 4:
      KNAME(strip16)(a, m, astep, K, x, ldx, b, out, l0, last, first, 4);
      break;
    case 3:
      KNAME(strip16)(a, m, astep, K, x, ldx, b, out, l0, last, first, 3);
      break;
    case 2:
      KNAME(strip16)(a, m, astep, K, x, ldx, b, out, l0, last, first, 2);
      break;
    default:
      KNAME(strip16)(a, m, astep, K, x, ldx, b, out, l0, last, first, 1);
    }
    l0 += width;
  }
}
#define KVLANES(lanes) (lanes)
#elif defined(KVEC8)
/* AVX2: tiles of M neurons x V vectors of 8 lanes (at most 12
 * accumulators of the 16 ymm registers); lanes past the last whole
 * vector go to the portable form. */
KATTR KINLINE void KNAME(tile8)(const float *const *a, size_t astep,
                                size_t K, const float *x, size_t ldx,
                                const float *b, float *const *o, int first,
                                const int M, const int V) {
  __m256 acc[8][2];
  for (int q = 0; q < M; q++)
    for (int v = 0; v < V; v++)
      acc[q][v] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o[q] + 8 * v);
  for (size_t k = 0; k < K; k++) {
    const float *xk = x + k * ldx;
    __m256 xv[2];
    for (int v = 0; v < V; v++)
      xv[v] = _mm256_loadu_ps(xk + 8 * v);
    for (int q = 0; q < M; q++) {
      const __m256 aq = _mm256_broadcast_ss(a[q] + k * astep);
      for (int v = 0; v < V; v++)
        acc[q][v] = _mm256_fmadd_ps(aq, xv[v], acc[q][v]);
    }
  }
  for (int q = 0; q < M; q++)
    for (int v = 0; v < V; v++)
      _mm256_storeu_ps(o[q] + 8 * v,
                       b ? _mm256_add_ps(_mm256_set1_ps(b[q]), acc[q][v])
                         : acc[q][v]);
}

KATTR KINLINE void KNAME(strip8)(const float *const *a, size_t m,
                                 size_t astep, size_t K, const float *x,
                                 size_t ldx, const float *b,
                                 float *const *out, size_t l0, int first,
                                 const int V) {
  const int MB = V == 2 ? 6 : 8;
  for (size_t q0 = 0; q0 < m;) {
    size_t r = m - q0;
    float *o[8];
    const float *bq = b ? b + q0 : NULL;
    int M = r >= (size_t)MB ? MB : r >= 4 ? 4 : r >= 2 ? 2 : 1;
    for (int q = 0; q < M; q++)
      o[q] = out[q0 + q] + l0;
    if (M == MB)
      KNAME(tile8)(a + q0, astep, K, x + l0, ldx, bq, o, first, MB, V);
    else if (M == 4)
      KNAME(tile8)(a + q0, astep, K, x + l0, ldx, bq, o, first, 4, V);
    else if (M == 2)
      KNAME(tile8)(a + q0, astep, K, x + l0, ldx, bq, o, first, 2, V);
    else
      KNAME(tile8)(a + q0, astep, K, x + l0, ldx, bq, o, first, 1, V);
    q0 += (size_t)M;
  }
}

KATTR static void KNAME(chunk)(const float *const *a, size_t m, size_t astep,
                               size_t K, const float *x, size_t ldx,
                               size_t lanes, const float *b,
                               float *const *out, int first) {
  size_t l0 = 0;
  for (; l0 + 16 <= lanes; l0 += 16)
    KNAME(strip8)(a, m, astep, K, x, ldx, b, out, l0, first, 2);
  if (l0 + 8 <= lanes)
    KNAME(strip8)(a, m, astep, K, x, ldx, b, out, l0, first, 1);
}
#define KVLANES(lanes) ((lanes) / 8 * 8)
#endif

#if defined(KVEC16) || defined(KVEC8)
/* Chunks of KCHUNK rows, in order; within a chunk, strips of lanes, and
 * within a strip, tiles of neurons. Coefficient columns read with a
 * stride (astep > 1, the attention sum: one value a row, rows a page
 * apart at ldc 1024) are read in place: a tile's broadcasts of one row
 * fall on one to three cache lines (columns 1 or T apart). Copying them
 * into a contiguous panel first was measured slower, at columns 1 apart
 * (about 50 against 80 GFLOP/s, 24 neurons, batch 128, ldc 1024) and 2
 * apart (47-56 against 62-74). */
KATTR static void KNAME(block)(const float *const a[], size_t m,
                               size_t astep, size_t K,
                               const float *restrict x, size_t ldx,
                               size_t lanes, const float *b,
                               float *const out[]) {
  size_t vl = KVLANES(lanes);
  for (size_t q0 = 0; q0 < m; q0 += HEED_COHORT) {
    size_t mm = m - q0 < HEED_COHORT ? m - q0 : HEED_COHORT;
    const float *bb = b ? b + q0 : NULL;
    if (K == 0) /* nothing to sum: the bias alone, or 0 */
      for (size_t q = 0; q < mm; q++)
        for (size_t l = 0; l < lanes; l++)
          out[q0 + q][l] = bb ? bb[q] : 0.0f;
    for (size_t k0 = 0; k0 < K; k0 += KCHUNK) {
      size_t kn = K - k0 < KCHUNK ? K - k0 : KCHUNK;
      const float *aa[HEED_COHORT];
      for (size_t q = 0; q < mm; q++)
        aa[q] = a[q0 + q] + k0 * astep;
      KNAME(chunk)(aa, mm, astep, kn, x + k0 * ldx, ldx, vl,
                   k0 + kn == K ? bb : NULL, out + q0, k0 == 0);
    }
    if (vl < lanes) /* the lanes past the last whole vector */
      KNAME(block_c)(a + q0, mm, astep, K, x, ldx, vl, lanes, bb, out + q0);
  }
}
#else
KATTR static void KNAME(block)(const float *const a[], size_t m,
                               size_t astep, size_t K,
                               const float *restrict x, size_t ldx,
                               size_t lanes, const float *b,
                               float *const out[]) {
  KNAME(block_c)(a, m, astep, K, x, ldx, 0, lanes, b, out);
}
#endif

/* The weight update, w[i] += scale * dw[i]: a product rounded, then a sum
 * rounded (never fused), so every build and the plain C of a strategy give
 * the same weights. */
KATTR static void KNAME(ascend)(float *restrict w, const float *restrict dw,
                                size_t n, float scale) {
  for (size_t i = 0; i < n; i++) {
    float step = scale * dw[i];
    w[i] = w[i] + step;
  }
}

static const heed_kernels KNAME(table) = {
    .name = KSTR,
    .dot_rows = KNAME(dot_rows),
    .dot_rows4 = KNAME(dot_rows4),
    .grad = KNAME(grad),
    .grad_t = KNAME(grad_t),
    .gather4 = KNAME(gather4),
    .gather = KNAME(gather),
    .dot_in = KNAME(dot_in),
    .block = KNAME(block),
    .ascend = KNAME(ascend),
};
