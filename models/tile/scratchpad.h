// The tile's banked scratchpad SRAM. Addresses interleave across banks every
// bank_width_bytes; a bank serves ports_per_bank accesses per cycle, so an access
// pattern's cost is set by its busiest bank (bank conflicts). Data is stored only in
// functional mode (values checked end to end); timing never needs it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "models/tile/tile_config.h"

namespace tessera::tile {

// Who touches the scratchpad, for per-operand statistics.
enum class SpmClient : uint8_t { kDma, kIfmap, kWeight, kPsum, kVector, kRemote };
inline constexpr int kNumSpmClients = 6;

class Scratchpad {
 public:
  Scratchpad(const ScratchpadConfig& cfg, const sim::StatsScope& stats, sim::EnergyLedger& energy,
             const std::string& component, bool functional);

  uint64_t size_bytes() const { return size_; }
  // Peak bytes per cycle over all banks and ports.
  uint64_t bytes_per_cycle() const {
    return uint64_t(cfg_.banks) * cfg_.bank_width_bytes * cfg_.ports_per_bank;
  }
  // Cycles to serve `count` accesses of `width` bytes starting at `addr`, each
  // `stride` bytes apart (stride = width: contiguous). Set by the busiest bank.
  uint64_t access_cycles(uint64_t addr, uint64_t width, uint64_t count, uint64_t stride) const;
  // Cycles to move `bytes` contiguous bytes at full bandwidth (no conflicts).
  uint64_t stream_cycles(uint64_t bytes) const;

  // Counts an access and charges its energy. `energy_bytes` (default: all of them)
  // lets a caller whose engine already charged part of the access charge the rest.
  void record_read(SpmClient who, uint64_t bytes, uint64_t energy_bytes = ~0ull);
  void record_write(SpmClient who, uint64_t bytes, uint64_t energy_bytes = ~0ull);
  // UserError naming `what` when [addr, addr+bytes) is outside the scratchpad.
  void check_range(uint64_t addr, uint64_t bytes, const std::string& what) const;

  bool functional() const { return !data_.empty(); }
  uint8_t* data(uint64_t addr) { return data_.data() + addr; }

 private:
  ScratchpadConfig cfg_;
  uint64_t size_;
  std::vector<uint8_t> data_;
  sim::Counter* reads_[kNumSpmClients];
  sim::Counter* writes_[kNumSpmClients];
  sim::EnergyAccount* read_energy_;
  sim::EnergyAccount* write_energy_;
};

}  // namespace tessera::tile
