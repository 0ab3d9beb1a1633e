/* kernels_avx2.c - the neuron kernels built for AVX2 + FMA (x86-64 only);
 * chosen at run time when the CPU has both. */
#include "net/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2,fma")
#define KSUFFIX avx2
#define KSTR "avx2"
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
