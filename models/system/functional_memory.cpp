#include "models/system/functional_memory.h"

#include <cstring>

#include "models/sim/errors.h"

namespace tessera::system {

void FunctionalMemory::set_tile_storage(uint32_t tile, uint8_t* spm, uint64_t bytes) {
  if (tiles_.size() <= tile) tiles_.resize(tile + 1, {nullptr, 0});
  tiles_[tile] = {spm, bytes};
}

uint8_t* FunctionalMemory::locate(uint64_t addr, uint64_t& room, bool create) {
  const Target t = map_.decode(addr);
  if (t.kind == Target::kTile) {
    if (t.index >= tiles_.size() || !tiles_[t.index].first || t.offset >= tiles_[t.index].second)
      throw sim::SimulationError("functional access to tile " + std::to_string(t.index) +
                                 " outside its scratchpad");
    room = tiles_[t.index].second - t.offset;
    return tiles_[t.index].first + t.offset;
  }
  if (t.kind != Target::kHbm)
    throw sim::SimulationError("functional access to unmapped address " + std::to_string(addr));
  const uint64_t page = addr / kPage;
  room = kPage - addr % kPage;
  auto it = pages_.find(page);
  if (it == pages_.end()) {
    if (!create) return nullptr;
    it = pages_.emplace(page, std::make_unique<uint8_t[]>(kPage)).first;
    std::memset(it->second.get(), 0, kPage);
  }
  return it->second.get() + addr % kPage;
}

void FunctionalMemory::read(uint64_t addr, uint8_t* dst, uint64_t bytes) {
  while (bytes > 0) {
    uint64_t room = 0;
    const uint8_t* p = locate(addr, room, false);
    const uint64_t n = std::min(room, bytes);
    if (p)
      std::memcpy(dst, p, n);
    else
      std::memset(dst, 0, n);
    addr += n, dst += n, bytes -= n;
  }
}

void FunctionalMemory::write(uint64_t addr, const uint8_t* src, uint64_t bytes) {
  while (bytes > 0) {
    uint64_t room = 0;
    uint8_t* p = locate(addr, room, true);
    const uint64_t n = std::min(room, bytes);
    std::memcpy(p, src, n);
    addr += n, src += n, bytes -= n;
  }
}

}  // namespace tessera::system
