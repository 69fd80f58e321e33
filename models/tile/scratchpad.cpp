#include "models/tile/scratchpad.h"

#include <algorithm>
#include <map>

#include "models/sim/errors.h"

namespace tessera::tile {

namespace {
const char* client_name(int c) {
  static const char* names[kNumSpmClients] = {"dma", "ifmap", "weight", "psum", "vector", "remote"};
  return names[c];
}
}  // namespace

Scratchpad::Scratchpad(const ScratchpadConfig& cfg, const sim::StatsScope& stats,
                       sim::EnergyLedger& energy, const std::string& component, bool functional)
    : cfg_(cfg), size_(uint64_t(cfg.size_kib) * 1024) {
  if (functional) data_.assign(size_, 0);
  for (int c = 0; c < kNumSpmClients; ++c) {
    reads_[c] = &stats.counter(std::string("read_bytes.") + client_name(c), "bytes",
                               std::string("bytes read by ") + client_name(c));
    writes_[c] = &stats.counter(std::string("write_bytes.") + client_name(c), "bytes",
                                std::string("bytes written by ") + client_name(c));
  }
  read_energy_ = &energy.account(component, "sram_read", cfg.access_pj_per_byte);
  write_energy_ = &energy.account(component, "sram_write", cfg.access_pj_per_byte);
}

uint64_t Scratchpad::access_cycles(uint64_t addr, uint64_t width, uint64_t count,
                                   uint64_t stride) const {
  if (count == 0 || width == 0) return 0;
  const uint64_t w = cfg_.bank_width_bytes;
  // Bank-word accesses per bank. Patterns repeat after banks*w bytes of stride, so
  // at most `banks` distinct starting phases exist; count each phase once, weighted.
  std::vector<uint64_t> per_bank(cfg_.banks, 0);
  const uint64_t period = uint64_t(cfg_.banks) * w;
  std::map<uint64_t, uint64_t> phases;  // start offset within a period -> accesses
  for (uint64_t i = 0; i < count && phases.size() < period; ++i)
    phases[(addr + i * stride) % period]++;
  // Every phase was counted exactly unless all `period` phases occur (then the pattern
  // is spread over every bank evenly); a long run of few phases is not (until the
  // twelfth session more than 4 x period accesses were taken as spread: 2000 accesses
  // with a stride of one period, all on one bank, gave 125 cycles instead of 2000).
  if (phases.size() >= period) {
    const uint64_t words = count * ((width + w - 1) / w);
    return (words + cfg_.banks * cfg_.ports_per_bank - 1) /
           (uint64_t(cfg_.banks) * cfg_.ports_per_bank);
  }
  for (const auto& [start, n] : phases) {
    const uint64_t first = start / w, last = (start + width - 1) / w;
    for (uint64_t word = first; word <= last; ++word) per_bank[word % cfg_.banks] += n;
  }
  const uint64_t busiest = *std::max_element(per_bank.begin(), per_bank.end());
  return (busiest + cfg_.ports_per_bank - 1) / cfg_.ports_per_bank;
}

uint64_t Scratchpad::stream_cycles(uint64_t bytes) const {
  const uint64_t bw = bytes_per_cycle();
  return (bytes + bw - 1) / bw;
}

void Scratchpad::record_read(SpmClient who, uint64_t bytes, uint64_t energy_bytes) {
  *reads_[int(who)] += bytes;
  read_energy_->charge(std::min(bytes, energy_bytes));
}

void Scratchpad::record_write(SpmClient who, uint64_t bytes, uint64_t energy_bytes) {
  *writes_[int(who)] += bytes;
  write_energy_->charge(std::min(bytes, energy_bytes));
}

void Scratchpad::check_range(uint64_t addr, uint64_t bytes, const std::string& what) const {
  if (addr + bytes > size_ || addr + bytes < addr)
    throw sim::UserError(what + ": scratchpad range [" + std::to_string(addr) + ", " +
                         std::to_string(addr + bytes) + ") exceeds its " + std::to_string(size_) +
                         " bytes");
}

}  // namespace tessera::tile
