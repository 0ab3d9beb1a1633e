/* kernels.c - picks the kernel build once. */
#include "net/kernels.h"

#include <stdlib.h>
#include <string.h>

const heed_kernels *heed__kernels(void) {
  static const heed_kernels *chosen;
  const heed_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
  if (k)
    return k;
  const char *force = getenv("HEED_KERNELS");
  int level = !force                     ? 2
              : !strcmp(force, "generic") ? 0
              : !strcmp(force, "avx2")    ? 1
                                          : 2;
  k = level >= 2 ? heed__kernels_avx512() : NULL;
  if (!k && level >= 1)
    k = heed__kernels_avx2();
  if (!k)
    k = heed__kernels_generic();
  __atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
  return k;
}
