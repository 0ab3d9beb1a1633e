/*
 * kernels_impl.h - kernel bodies, included by kernels_generic.c and
 * kernels_avx2.c with KSUFFIX set. Written as fixed-width lane loops so the
 * compiler vectorizes them without reassociating any sum.
 */
#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define KNAME(f) KCAT(f, KSUFFIX)

/* Two accumulator sets (even and odd rows) keep eight independent
 * multiply-add chains in flight for a 32-lane block; they are added once at
 * the end, always in the same order, so results stay deterministic. */
KATTR static void KNAME(dot_rows)(const float *restrict w, size_t n,
                                  const float *restrict x, size_t stride,
                                  float b, float *restrict z) {
  size_t s0 = 0;
  for (; s0 + 32 <= stride; s0 += 32) {
    float even[32], odd[32];
    for (size_t l = 0; l < 32; l++)
      even[l] = odd[l] = 0.0f;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
      const float w0 = w[i], w1 = w[i + 1];
      const float *x0 = x + i * stride + s0, *x1 = x0 + stride;
      for (size_t l = 0; l < 32; l++) {
        even[l] = KFMA(w0, x0[l], even[l]);
        odd[l] = KFMA(w1, x1[l], odd[l]);
      }
    }
    if (i < n) {
      const float wi = w[i];
      const float *xi = x + i * stride + s0;
      for (size_t l = 0; l < 32; l++)
        even[l] = KFMA(wi, xi[l], even[l]);
    }
    for (size_t l = 0; l < 32; l++)
      z[s0 + l] = b + (even[l] + odd[l]);
  }
  for (; s0 < stride; s0 += 8) {
    float acc[8];
    for (size_t l = 0; l < 8; l++)
      acc[l] = 0.0f;
    for (size_t i = 0; i < n; i++) {
      const float wi = w[i];
      const float *xi = x + i * stride + s0;
      for (size_t l = 0; l < 8; l++)
        acc[l] = KFMA(wi, xi[l], acc[l]);
    }
    for (size_t l = 0; l < 8; l++)
      z[s0 + l] = b + acc[l];
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

KATTR static void KNAME(gather)(const float *restrict c, size_t ldc,
                          const float *restrict g, size_t k, size_t stride,
                          float *restrict beta) {
  for (size_t s0 = 0; s0 < stride; s0 += 32) {
    size_t width = stride - s0 < 32 ? stride - s0 : 32;
    float acc[32] = {0};
    for (size_t j = 0; j < k; j++) {
      const float cj = c[j * ldc];
      const float *gj = g + j * stride + s0;
      if (cj == 0.0f)
        continue; /* sparse bids: skipping a zero adds nothing */
      for (size_t l = 0; l < width; l++)
        acc[l] = KFMA(cj, gj[l], acc[l]);
    }
    for (size_t l = 0; l < width; l++)
      beta[s0 + l] = acc[l];
  }
}

static const heed_kernels KNAME(table) = {
    .name = KSTR,
    .dot_rows = KNAME(dot_rows),
    .grad = KNAME(grad),
    .gather = KNAME(gather),
};
