// Cycles during which at least one of several overlapping activities was in progress
// (the union of their intervals, not the sum), added to a counter as each busy period
// ends. Used for a DMA engine's overlapping descriptors and a tile unit's commands.
#pragma once

#include <cstdint>

#include "models/sim/clock_domain.h"
#include "models/sim/stats_registry.h"

namespace tessera::sim {

class BusyTime {
 public:
  BusyTime(const ClockDomain& clock, Counter& cycles) : clock_(&clock), cycles_(&cycles) {}
  void begin(Picoseconds now) {
    if (active_++ == 0) since_ = now;
  }
  void end(Picoseconds now) {
    if (--active_ == 0) *cycles_ += (clock_->cycles_at(now) - clock_->cycles_at(since_)).v;
  }

 private:
  const ClockDomain* clock_;
  Counter* cycles_;
  uint32_t active_ = 0;
  Picoseconds since_;
};

}  // namespace tessera::sim
