// The functional data plane: where bytes live when a run checks values end to end.
// Timing models (NoC, HBM) move transactions without data; on completion the DMA
// copies the bytes through this interface, as functional accesses do in gem5.
#pragma once

#include <cstdint>

namespace tessera::tile {

class DataPlane {
 public:
  virtual ~DataPlane() = default;
  virtual void read(uint64_t global_addr, uint8_t* dst, uint64_t bytes) = 0;
  virtual void write(uint64_t global_addr, const uint8_t* src, uint64_t bytes) = 0;
};

}  // namespace tessera::tile
