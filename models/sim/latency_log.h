// Latencies (small whole numbers of cycles) counted on a hot path, for a registry
// histogram. They are appended to a short log and folded into dense bins a batch at a
// time: the bins of a hundred HBM channels do not stay in cache, and a count per access
// into them was a cache miss per access; a log written in order is not. Exact: the
// histogram gets every value with its count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "models/sim/stats_registry.h"

namespace tessera::sim {

class LatencyLog {
 public:
  LatencyLog() : bins_(kBins, 0) {}
  void record(uint64_t v) {
    if (v >= kBins) {
      ++overflow_[v];
      return;
    }
    log_[n_++] = uint16_t(v);
    if (n_ == kLog) fold();
  }
  // Adds every value recorded since the last call to `h` and forgets them.
  void flush_into(Histogram& h) {
    fold();
    for (uint32_t v = 0; v < kBins; ++v)
      if (bins_[v]) h.sample(v, bins_[v]);
    for (const auto& [v, c] : overflow_) h.sample(v, c);
    std::fill(bins_.begin(), bins_.end(), 0);
    overflow_.clear();
  }

 private:
  static constexpr uint32_t kBins = 8192;  // values below this are binned densely
  static constexpr uint32_t kLog = 1024;
  static_assert(kBins <= 65536, "binned values are logged as 16-bit numbers");
  void fold() {
    for (uint32_t i = 0; i < n_; ++i) ++bins_[log_[i]];
    n_ = 0;
  }
  uint32_t n_ = 0;
  uint16_t log_[kLog];
  std::vector<uint64_t> bins_;
  std::map<uint64_t, uint64_t> overflow_;
};

}  // namespace tessera::sim
