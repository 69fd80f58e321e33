// Test helper: counts the packets a NetworkCore delivers and keeps the last one's cycle.
#pragma once

#include <cstdint>

#include "noc/network_core.h"

namespace tessera::noc {

struct ArrivalSink : PacketSink {
  uint64_t cycle = 0, count = 0;  // cycle of the last delivery, deliveries so far
  void on_packet(uint32_t, const Packet&, uint64_t now) override {
    cycle = now;
    ++count;
  }
};

}  // namespace tessera::noc
