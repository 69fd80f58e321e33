// The one statistics registry. Blocks take handles (Counter&, Average&, ...) at
// construction and update them on the hot path; every report (text, JSON, CSV) is
// rendered from here. Names are hierarchical ("chiplet0.tile3.gemm.busy_cycles").
#pragma once

#include <cstdint>
#include <deque>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::sim {

enum class StatKind { kCounter, kScalar, kAverage, kHistogram };
const char* to_string(StatKind k);

struct StatInfo {
  std::string name;  // full hierarchical name
  std::string unit;  // "cycles", "bytes", "pJ", "GB/s", "ratio", ...
  std::string desc;  // one short sentence
  StatKind kind;
};

// A monotonically increasing event count.
class Counter {
 public:
  void add(uint64_t n = 1) { v_ += n; }
  Counter& operator++() {
    ++v_;
    return *this;
  }
  Counter& operator+=(uint64_t n) {
    v_ += n;
    return *this;
  }
  uint64_t value() const { return v_; }

 private:
  uint64_t v_ = 0;
};

// A derived figure computed at the end of a run (bandwidth, utilisation).
class Scalar {
 public:
  void set(double v) { v_ = v; }
  double value() const { return v_; }

 private:
  double v_ = 0.0;
};

// Sum and count of samples; mean on demand.
class Average {
 public:
  void sample(double v, uint64_t n = 1) {
    sum_ += v * double(n);
    count_ += n;
  }
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double mean() const { return count_ ? sum_ / double(count_) : 0.0; }

 private:
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

// Exact distribution of non-negative integer samples (latencies in cycles or ps):
// percentiles are exact, memory grows with the number of distinct values only.
class Histogram {
 public:
  void sample(uint64_t v, uint64_t n = 1) {
    if (n == 0) return;
    sum_ += static_cast<unsigned __int128>(v) * n;
    count_ += n;
    // Hot path: samples are appended and merged into the exact bins in sorted batches
    // (a map insertion per sample was a tenth of a whole-model run). Single samples,
    // nearly all of them, are kept as bare values and radix-sorted.
    if (n == 1)
      ones_.push_back(v);
    else
      pending_.push_back({v, n});
    if (ones_.size() >= kPendingMax || pending_.size() >= kPendingMax) merge();
  }
  uint64_t count() const { return count_; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  uint64_t min() const { return count_ ? bins().begin()->first : 0; }
  uint64_t max() const { return count_ ? bins().rbegin()->first : 0; }
  // The smallest sample value v such that at least p% of samples are <= v
  // (nearest-rank definition). p in [0, 100]; 0 samples give 0.
  uint64_t percentile(double p) const;
  const std::map<uint64_t, uint64_t>& bins() const {
    if (!pending_.empty() || !ones_.empty()) merge();
    return bins_;
  }

 private:
  static constexpr size_t kPendingMax = 1 << 14;
  void merge() const;
  mutable std::map<uint64_t, uint64_t> bins_;
  mutable std::vector<std::pair<uint64_t, uint64_t>> pending_;
  mutable std::vector<uint64_t> ones_;  // samples of count 1
  unsigned __int128 sum_ = 0;
  uint64_t count_ = 0;
};

class StatsRegistry {
 public:
  // Registering the same name twice is a programming error (std::logic_error).
  Counter& counter(const std::string& name, const std::string& unit, const std::string& desc);
  Scalar& scalar(const std::string& name, const std::string& unit, const std::string& desc);
  Average& average(const std::string& name, const std::string& unit, const std::string& desc);
  Histogram& histogram(const std::string& name, const std::string& unit, const std::string& desc);

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const StatInfo* info(const std::string& name) const;
  // The headline number of a stat: counter value, scalar value, average mean,
  // histogram mean. Throws std::out_of_range for an unknown name.
  double value(const std::string& name) const;
  const Counter* find_counter(const std::string& name) const;
  const Histogram* find_histogram(const std::string& name) const;
  // All names, sorted (the order of every rendering).
  std::vector<std::string> names() const;
  // Names under a prefix ("chiplet0.tile3." matches "chiplet0.tile3.gemm.busy_cycles").
  std::vector<std::string> names_with_prefix(const std::string& prefix) const;
  size_t size() const { return index_.size(); }

  // Renderings. JSON: {"stats": {name: {"kind","unit","desc", values...}}}.
  nlohmann::json to_json() const;
  void write_json(std::ostream& os) const;
  // CSV: header then one row per stat:
  // name,kind,unit,value,count,mean,min,max,p50,p90,p99
  void write_csv(std::ostream& os) const;
  // Aligned human-readable table.
  void write_text(std::ostream& os) const;

 private:
  struct Entry {
    StatInfo info;
    size_t slot;
  };
  void add_entry(const std::string& name, const std::string& unit, const std::string& desc,
                 StatKind kind, size_t slot);
  std::map<std::string, Entry> index_;
  std::deque<Counter> counters_;
  std::deque<Scalar> scalars_;
  std::deque<Average> averages_;
  std::deque<Histogram> histograms_;
};

// A name prefix plus the registry: blocks register their stats through one of these,
// so a block never builds its own hierarchical names.
class StatsScope {
 public:
  StatsScope(StatsRegistry& reg, std::string prefix) : reg_(&reg), prefix_(std::move(prefix)) {}
  StatsScope child(const std::string& name) const { return StatsScope(*reg_, full(name)); }
  std::string full(const std::string& leaf) const {
    return prefix_.empty() ? leaf : prefix_ + "." + leaf;
  }
  const std::string& prefix() const { return prefix_; }
  StatsRegistry& registry() const { return *reg_; }
  Counter& counter(const std::string& n, const std::string& u, const std::string& d) const {
    return reg_->counter(full(n), u, d);
  }
  Scalar& scalar(const std::string& n, const std::string& u, const std::string& d) const {
    return reg_->scalar(full(n), u, d);
  }
  Average& average(const std::string& n, const std::string& u, const std::string& d) const {
    return reg_->average(full(n), u, d);
  }
  Histogram& histogram(const std::string& n, const std::string& u, const std::string& d) const {
    return reg_->histogram(full(n), u, d);
  }

 private:
  StatsRegistry* reg_;
  std::string prefix_;
};

// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180): every
// CSV Tessera writes (stats, ops, sweep results) goes through it.
std::string csv_field(const std::string& s);

}  // namespace tessera::sim
