/* activation.c - activations phi and their derivatives, lane by lane. */
#include <math.h>
#include <string.h>

#include "net/internal.h"

static const char *const names[] = {"identity", "relu", "tanh", "sigmoid"};

const char *heed_activation_name(heed_activation a) {
  return (unsigned)a < 4 ? names[a] : "unknown";
}

int heed_activation_parse(const char *s, heed_activation *out) {
  if (!s || !out)
    return HEED_EINVAL;
  for (unsigned i = 0; i < 4; i++)
    if (!strcmp(s, names[i])) {
      *out = (heed_activation)i;
      return 0;
    }
  if (!strcmp(s, "linear")) {
    *out = HEED_ACT_IDENTITY;
    return 0;
  }
  return HEED_EINVAL;
}

/* dphi may be NULL in evaluation, where no derivative is needed. */
void heed__activate(heed_activation a, const float *z, float *y, float *dphi,
                    size_t n) {
  switch (a) {
  case HEED_ACT_RELU:
    for (size_t s = 0; s < n; s++)
      y[s] = z[s] > 0.0f ? z[s] : 0.0f;
    if (dphi)
      for (size_t s = 0; s < n; s++)
        dphi[s] = z[s] > 0.0f ? 1.0f : 0.0f;
    break;
  case HEED_ACT_TANH:
    for (size_t s = 0; s < n; s++)
      y[s] = tanhf(z[s]);
    if (dphi)
      for (size_t s = 0; s < n; s++)
        dphi[s] = 1.0f - y[s] * y[s];
    break;
  case HEED_ACT_SIGMOID:
    for (size_t s = 0; s < n; s++)
      y[s] = 1.0f / (1.0f + expf(-z[s]));
    if (dphi)
      for (size_t s = 0; s < n; s++)
        dphi[s] = y[s] * (1.0f - y[s]);
    break;
  case HEED_ACT_IDENTITY:
  default:
    if (y != z)
      memcpy(y, z, n * sizeof *y);
    if (dphi)
      for (size_t s = 0; s < n; s++)
        dphi[s] = 1.0f;
    break;
  }
}
