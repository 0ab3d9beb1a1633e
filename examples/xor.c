/*
 * xor.c - the smallest heed network: 2-8-2 neuron actors learn XOR.
 *
 *   build/examples/xor [STRATEGY] [THREADS]
 *
 * Prints the loss as it learns and the network's answers at the end; exits
 * non-zero if it did not learn all four cases.
 */
#include <stdio.h>
#include <stdlib.h>

#include "heed/heed.h"

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "bp";
  unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
  const float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const uint8_t y[4] = {0, 1, 1, 0};
  const uint32_t sizes[] = {2, 8, 2};
  const heed_activation acts[] = {HEED_ACT_TANH, HEED_ACT_IDENTITY};
  char err[256];
  heed_strategy *s = NULL;
  heed_runtime *rt = NULL;
  heed_net *net = NULL;
  heed_runtime_opts ro = {.threads = threads ? threads : 1};
  int rv;

  if ((rv = heed_strategy_new(&s, spec, err, sizeof err)) != 0) {
    fprintf(stderr, "xor: %s\n", err);
    return 2;
  }
  heed_net_opts no = {.nsizes = 3, .sizes = sizes, .acts = acts, .seed = 1,
                      .lr = 0.5f, .max_batch = 4, .strategy = s};
  if ((rv = heed_runtime_new(&rt, &ro)) != 0 ||
      (rv = heed_runtime_start(rt)) != 0 ||
      (rv = heed_net_new(&net, rt, &no)) != 0) {
    fprintf(stderr, "xor: %s\n", heed_strerror(rv));
    return 1;
  }
  heed_batch_stats st = {0};
  for (int epoch = 0; epoch < 2000; epoch++) {
    if ((rv = heed_net_train_batch(net, &x[0][0], y, 4, &st)) != 0) {
      fprintf(stderr, "xor: training failed: %s\n", heed_strerror(rv));
      return 1;
    }
    if (epoch % 500 == 0)
      printf("step %4d  loss %.4f\n", epoch, st.loss);
  }
  heed_net_sync(net);
  if ((rv = heed_net_eval(net, &x[0][0], y, 4, &st)) != 0) {
    fprintf(stderr, "xor: eval failed: %s\n", heed_strerror(rv));
    return 1;
  }
  printf("strategy %s: %u/4 correct, loss %.4f\n", spec, st.correct, st.loss);
  heed_net_free(net);
  heed_runtime_free(rt);
  heed_strategy_free(s);
  return st.correct == 4 ? 0 : 1;
}
