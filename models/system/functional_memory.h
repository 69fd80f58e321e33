// The functional data plane of a whole machine: HBM contents as sparse 64 KiB pages
// (allocated on first write, zero otherwise) and the tiles' scratchpads, addressed by
// global address through the address map. Used only when a run checks values.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "models/system/address_map.h"
#include "models/tile/data_plane.h"

namespace tessera::system {

class FunctionalMemory : public tile::DataPlane {
 public:
  explicit FunctionalMemory(const AddressMap& map) : map_(map) {}
  // Scratchpad storage of a tile (set by the builder; null = timing-only tile).
  void set_tile_storage(uint32_t tile, uint8_t* spm, uint64_t bytes);
  void read(uint64_t addr, uint8_t* dst, uint64_t bytes) override;
  void write(uint64_t addr, const uint8_t* src, uint64_t bytes) override;

 private:
  static constexpr uint64_t kPage = 64 * 1024;
  uint8_t* locate(uint64_t addr, uint64_t& room, bool create);
  const AddressMap& map_;
  std::map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
  std::vector<std::pair<uint8_t*, uint64_t>> tiles_;
};

}  // namespace tessera::system
