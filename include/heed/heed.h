/*
 * heed/heed.h - umbrella header: include this to use libheed.
 *
 * heed runs a neural network as a society of event-driven actors: every
 * neuron has a mailbox, receives forward activations from the layer below
 * and attention bids from the layer above, and pursues the attention it
 * earns. Each concept has its own header, readable as the manual.
 */
#ifndef HEED_HEED_H
#define HEED_HEED_H

#include "heed/version.h"
#include "heed/error.h"
#include "heed/runtime.h"
#include "heed/strategy.h"
#include "heed/net.h"
#include "heed/rng.h"
#include "heed/data.h"
#include "heed/checkpoint.h"
#include "heed/trace.h"
#include "heed/cluster.h"

#endif
