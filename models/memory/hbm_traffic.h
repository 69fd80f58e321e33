// Synthetic traffic for an HBM stack core: the generator behind `tessera hbm`, the
// speed benchmark and the bandwidth tests. Keeps `outstanding` requests in flight.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "models/memory/hbm_stack_core.h"

namespace tessera::memory {

struct HbmTrafficSpec {
  // seq | random | mix | strided | streams: `streams` sequential streams from random,
  // disjoint bases (stream_bases), their requests interleaved round-robin (tiles
  // streaming weights at once)
  std::string pattern = "seq";
  double read_fraction = 1.0;  // probability that a request is a read
  uint64_t stride = 4096;      // bytes between requests (strided)
  uint32_t streams = 16;       // concurrent sequential streams (streams)
  uint64_t requests = 100000;
  uint32_t request_bytes = 64;
  uint32_t outstanding = 256;
  uint64_t seed = 1;
};

struct HbmTrafficResult {
  uint64_t cycles = 0;  // clock of the last completion
  uint64_t requests = 0;
};

// The first request-sized slot of each of `streams` streams of `requests` requests in
// all over `slots` slots: a random slot of the stream's own n-th of the stack, where
// the stream fits when it can, so that no two streams overlap.
std::vector<uint64_t> stream_bases(uint64_t slots, uint32_t streams, uint64_t requests,
                                   std::mt19937_64& rng);
// Checks the spec against the core (throws sim::UserError naming the option).
void check_traffic(const HbmStackCore& core, const HbmTrafficSpec& spec);
// Runs the traffic to completion from clock 0 and publishes the core's stats.
HbmTrafficResult run_hbm_traffic(HbmStackCore& core, const HbmTrafficSpec& spec);

}  // namespace tessera::memory
