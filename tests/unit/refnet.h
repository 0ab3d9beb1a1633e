/*
 * refnet.h - a plain matrix implementation of a multilayer perceptron with
 * softmax cross-entropy and mini-batch SGD, in double precision, written
 * independently of heed's actors. Tests compare heed against it.
 */
#ifndef HEED_TESTS_REFNET_H
#define HEED_TESTS_REFNET_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct refnet {
  int L;          /* weight layers */
  int sizes[8];
  int act[8];     /* per weight layer: 0 identity 1 relu 2 tanh 3 sigmoid */
  double *W[8];   /* sizes[l+1] x sizes[l] */
  double *b[8];
} refnet;

static double ref_phi(int a, double z) {
  switch (a) {
  case 1: return z > 0 ? z : 0;
  case 2: return tanh(z);
  case 3: return 1 / (1 + exp(-z));
  default: return z;
  }
}

static double ref_dphi(int a, double z) {
  switch (a) {
  case 1: return z > 0 ? 1 : 0;
  case 2: { double t = tanh(z); return 1 - t * t; }
  case 3: { double s = 1 / (1 + exp(-z)); return s * (1 - s); }
  default: return 1;
  }
}

static void ref_init(refnet *r, int L, const int *sizes, const int *act) {
  memset(r, 0, sizeof *r);
  r->L = L;
  for (int l = 0; l <= L; l++)
    r->sizes[l] = sizes[l];
  for (int l = 0; l < L; l++) {
    r->act[l] = act[l];
    r->W[l] = calloc((size_t)sizes[l + 1] * sizes[l], sizeof(double));
    r->b[l] = calloc((size_t)sizes[l + 1], sizeof(double));
  }
}

static void ref_free(refnet *r) {
  for (int l = 0; l < r->L; l++) {
    free(r->W[l]);
    free(r->b[l]);
  }
}

/* Forward pass for B samples; A[l] is (B x sizes[l]) activations, Z[l]
 * pre-activations for weight layer l. Returns the mean loss. If grad is
 * nonzero, also computes gradients dW, db (of the mean loss). */
static double ref_step(refnet *r, const float *x, const uint8_t *y, int B,
                       double **dW, double **db, int *correct) {
  double *A[9], *Z[8], *D[9];
  A[0] = malloc(sizeof(double) * B * r->sizes[0]);
  for (int i = 0; i < B * r->sizes[0]; i++)
    A[0][i] = x[i];
  for (int l = 0; l < r->L; l++) {
    int n = r->sizes[l + 1], m = r->sizes[l];
    Z[l] = malloc(sizeof(double) * B * n);
    A[l + 1] = malloc(sizeof(double) * B * n);
    for (int s = 0; s < B; s++)
      for (int j = 0; j < n; j++) {
        double z = r->b[l][j];
        for (int i = 0; i < m; i++)
          z += r->W[l][j * m + i] * A[l][s * m + i];
        Z[l][s * n + j] = z;
        A[l + 1][s * n + j] = ref_phi(r->act[l], z);
      }
  }
  int C = r->sizes[r->L];
  double loss = 0;
  int hits = 0;
  D[r->L] = malloc(sizeof(double) * B * C);
  for (int s = 0; s < B; s++) {
    double *o = A[r->L] + s * C, mx = o[0];
    int arg = 0;
    for (int k = 1; k < C; k++)
      if (o[k] > mx) {
        mx = o[k];
        arg = k;
      }
    double sum = 0;
    for (int k = 0; k < C; k++)
      sum += exp(o[k] - mx);
    loss -= o[y[s]] - mx - log(sum);
    hits += arg == y[s];
    for (int k = 0; k < C; k++)
      D[r->L][s * C + k] = (exp(o[k] - mx) / sum - (k == y[s])) / B;
  }
  if (correct)
    *correct = hits;
  if (dW) {
    for (int l = r->L - 1; l >= 0; l--) {
      int n = r->sizes[l + 1], m = r->sizes[l];
      /* D[l+1] is dL/dA[l+1]; turn it into dL/dZ[l] */
      for (int i = 0; i < B * n; i++)
        D[l + 1][i] *= ref_dphi(r->act[l], Z[l][i]);
      memset(dW[l], 0, sizeof(double) * n * m);
      memset(db[l], 0, sizeof(double) * n);
      D[l] = calloc((size_t)B * m, sizeof(double));
      for (int s = 0; s < B; s++)
        for (int j = 0; j < n; j++) {
          double d = D[l + 1][s * n + j];
          db[l][j] += d;
          for (int i = 0; i < m; i++) {
            dW[l][j * m + i] += d * A[l][s * m + i];
            D[l][s * m + i] += d * r->W[l][j * m + i];
          }
        }
      free(D[l + 1]);
    }
    free(D[0]);
  } else {
    free(D[r->L]);
  }
  for (int l = 0; l < r->L; l++) {
    free(Z[l]);
    free(A[l]);
  }
  free(A[r->L]);
  return loss / B;
}

/* One SGD step; returns the loss before it. */
static double ref_sgd(refnet *r, const float *x, const uint8_t *y, int B,
                      double lr) {
  double *dW[8], *db[8];
  for (int l = 0; l < r->L; l++) {
    dW[l] = malloc(sizeof(double) * r->sizes[l + 1] * r->sizes[l]);
    db[l] = malloc(sizeof(double) * r->sizes[l + 1]);
  }
  double loss = ref_step(r, x, y, B, dW, db, NULL);
  for (int l = 0; l < r->L; l++) {
    for (int i = 0; i < r->sizes[l + 1] * r->sizes[l]; i++)
      r->W[l][i] -= lr * dW[l][i];
    for (int j = 0; j < r->sizes[l + 1]; j++)
      r->b[l][j] -= lr * db[l][j];
    free(dW[l]);
    free(db[l]);
  }
  return loss;
}

#endif
