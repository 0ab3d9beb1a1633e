/* kernels_avx2.c - the neuron kernels built for AVX2 + FMA (x86-64 only);
 * chosen at run time when the CPU has both. */
#include "net/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* Per-function target attributes (not a pragma) work in gcc and clang;
 * an explicit fused multiply-add keeps the result independent of the
 * compiler's contraction settings. */
#define KATTR __attribute__((target("avx2,fma")))
#define KFMA(a, b, c) __builtin_fmaf((a), (b), (c))
#define KSUFFIX avx2
#define KSTR "avx2"
#define KVEC8 1
#include <immintrin.h>
#include "net/kernels_impl.h"

const heed_kernels *heed__kernels_avx2(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return &table_avx2;
  return NULL;
}
#else
const heed_kernels *heed__kernels_avx2(void) { return NULL; }
#endif
