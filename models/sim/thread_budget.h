// SystemC gives every thread a stack of its own (a memory map and a guard page), and a
// Linux process has a fixed number of maps (/proc/sys/vm/max_map_count, 65,530 by
// default); running out crashes inside the SystemC kernel. Blocks that start threads
// on demand (one per request waiting on a blocking target) call take_thread() first:
// when the maps in use come near the limit it stops the run with a one-line error
// naming who asked, instead of a crash.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "models/sim/errors.h"

namespace tessera::sim {

// Threads started on demand so far in this process (tests read it).
inline uint64_t& threads_taken() {
  static uint64_t n = 0;
  return n;
}

inline void take_thread(const std::string& who) {
  uint64_t& taken = threads_taken();
  static uint64_t limit = [] {
    uint64_t n = 0;
    std::ifstream f("/proc/sys/vm/max_map_count");
    return (f >> n) ? n : 0;
  }();
  // Counting the maps costs a read of /proc/self/maps: once per 256 threads, with a
  // margin of 4,096 maps (about 2,000 threads) for the ones started in between.
  if (limit == 0 || ++taken % 256 != 0) return;
  std::ifstream maps("/proc/self/maps");
  uint64_t used = 0;
  for (std::string line; std::getline(maps, line);) ++used;
  if (used + 4096 > limit)
    throw SimulationError(who + ": " + std::to_string(used) + " of the process's " +
                          std::to_string(limit) +
                          " memory maps in use by simulator threads, one per request waiting "
                          "on a blocking target; fewer requests in flight "
                          "(tile.dma.outstanding, --collective-channels) avoid it");
}

}  // namespace tessera::sim
