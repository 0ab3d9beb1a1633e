/*
 * kernels_impl.h - kernel bodies, included by kernels_generic.c and
 * kernels_avx2.c with KSUFFIX set. Written as fixed-width lane loops so the
 * compiler vectorizes them without reassociating any sum.
 */
#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define KNAME(f) KCAT(f, KSUFFIX)

/* Accumulates 4 rows at a time into one set of lanes: fewer loads and
 * stores of z per multiply-add. The order of additions per lane is still
 * row 0, 1, 2, ... */
KATTR static void KNAME(dot_rows)(const float *restrict w, size_t n,
                            const float *restrict x, size_t stride, float b,
                            float *restrict z) {
  for (size_t s0 = 0; s0 < stride; s0 += 32) {
    size_t width = stride - s0 < 32 ? stride - s0 : 32;
    float acc[32];
    for (size_t l = 0; l < 32; l++)
      acc[l] = b;
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
      z[s0 + l] = acc[l];
  }
}

KATTR static void KNAME(grad)(const float *restrict g, const float *restrict x,
                        size_t n, size_t stride, float *restrict dw) {
  for (size_t i = 0; i < n; i++) {
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
