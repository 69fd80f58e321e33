// Latencies (whole numbers of cycles) counted on a hot path, for a registry histogram.
// They are appended to a short log and folded into dense bins a batch at a time: the
// bins of a hundred HBM channels do not stay in cache, and a count per access into
// them was a cache miss per access; a log written in order is not. Values of kDense
// and above go to an ordered map. Exact: the histogram gets every value with its count.
//
// kDense is per use: an HBM controller's read latencies stay below a few thousand
// clocks, while a saturated network's packet latencies reach hundreds of thousands of
// cycles. The bins grow to the largest value seen, so a large kDense costs nothing
// until such values occur.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <type_traits>
#include <vector>

#include "models/sim/stats_registry.h"

namespace tessera::sim {

template <uint32_t kDense>
class LatencyLog {
 public:
  void record(uint64_t v) {
    if (v >= kDense) {
      ++overflow_[v];
      return;
    }
    log_[n_++] = Entry(v);
    if (n_ == kLog) fold();
  }
  // Adds every value recorded since the last call to `h` and forgets them.
  void flush_into(Histogram& h) {
    fold();
    for (uint32_t v = 0; v < bins_.size(); ++v)
      if (bins_[v]) h.sample(v, bins_[v]);
    for (const auto& [v, c] : overflow_) h.sample(v, c);
    std::fill(bins_.begin(), bins_.end(), 0);
    overflow_.clear();
  }

 private:
  static constexpr uint32_t kLog = 1024;
  // Logged values are below kDense: 16-bit entries where they fit.
  using Entry = std::conditional_t<(kDense <= 65536), uint16_t, uint32_t>;
  void fold() {
    if (n_ == 0) return;
    const Entry top = *std::max_element(log_, log_ + n_);
    if (top >= bins_.size()) bins_.resize(size_t(top) + 1, 0);
    for (uint32_t i = 0; i < n_; ++i) ++bins_[log_[i]];
    n_ = 0;
  }
  uint32_t n_ = 0;
  Entry log_[kLog];
  std::vector<uint64_t> bins_;
  std::map<uint64_t, uint64_t> overflow_;
};

}  // namespace tessera::sim
