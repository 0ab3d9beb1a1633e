/* kernels_avx512.c - the neuron kernels built for AVX-512 (x86-64 only):
 * the AVX2 build's code with 16-lane vectors and the 32 zmm registers for
 * the cohort kernel; chosen at run time when the CPU has AVX-512 F, VL,
 * BW and DQ (and the OS saves the zmm state, which the CPU check covers
 * through gcc's cpu model). Bitwise the same results as the AVX2 build. */
#include "net/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define KATTR                                                                 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define KFMA(a, b, c) __builtin_fmaf((a), (b), (c))
#define KSUFFIX avx512
#define KSTR "avx512"
#define KVEC8 1
#define KVEC16 1
#include <immintrin.h>
#include "net/kernels_impl.h"

const heed_kernels *heed__kernels_avx512(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    return &table_avx512;
  return NULL;
}
#else
const heed_kernels *heed__kernels_avx512(void) { return NULL; }
#endif
