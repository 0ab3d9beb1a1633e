/* kernels_generic.c - portable build of the neuron kernels. */
#include "net/kernels.h"

#define KATTR
#define KFMA(a, b, c) ((a) * (b) + (c))
#define KSUFFIX generic
#define KSTR "generic"
#include "net/kernels_impl.h"

const heed_kernels *heed__kernels_generic(void) { return &table_generic; }
