#include "models/sim/stats_registry.h"

#include "models/sim/config_schema.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>

namespace tessera::sim {

const char* to_string(StatKind k) {
  switch (k) {
    case StatKind::kCounter:
      return "counter";
    case StatKind::kScalar:
      return "scalar";
    case StatKind::kAverage:
      return "average";
    case StatKind::kHistogram:
      return "histogram";
  }
  return "?";
}

namespace {

// LSD radix sort by bytes; a byte in which every value agrees is skipped.
void radix_sort(std::vector<uint64_t>& v, std::vector<uint64_t>& tmp) {
  const size_t n = v.size();
  if (n < 64) {
    std::sort(v.begin(), v.end());
    return;
  }
  uint64_t any = 0, all = ~uint64_t(0);
  for (const uint64_t x : v) {
    any |= x;
    all &= x;
  }
  const uint64_t varying = any & ~all;  // bits that differ somewhere
  tmp.resize(n);
  for (int shift = 0; shift < 64; shift += 8) {
    if (!((varying >> shift) & 0xff)) continue;
    size_t count[257] = {};
    for (const uint64_t x : v) ++count[((x >> shift) & 0xff) + 1];
    for (int d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (const uint64_t x : v) tmp[count[(x >> shift) & 0xff]++] = x;
    v.swap(tmp);
  }
}

}  // namespace

void Histogram::merge() const {
  // n more samples of value v into the exact bins (values arrive in ascending order).
  auto add_bin = [this](uint64_t v, uint64_t n) {
    const auto it = bins_.lower_bound(v);
    if (it != bins_.end() && it->first == v)
      it->second += n;
    else
      bins_.emplace_hint(it, v, n);
  };
  // One sort buffer for all histograms of a thread: each of them keeping its own (up to
  // kPendingMax values) held 128 KiB per histogram, a DMA engine's or a channel's, for
  // the rest of the run.
  static thread_local std::vector<uint64_t> scratch;
  radix_sort(ones_, scratch);
  for (size_t i = 0; i < ones_.size();) {
    const uint64_t v = ones_[i];
    const size_t j0 = i;
    while (i < ones_.size() && ones_[i] == v) ++i;
    add_bin(v, i - j0);
  }
  ones_.clear();
  std::sort(pending_.begin(), pending_.end());
  for (size_t i = 0; i < pending_.size();) {
    const uint64_t v = pending_[i].first;
    uint64_t n = 0;
    for (; i < pending_.size() && pending_[i].first == v; ++i) n += pending_[i].second;
    add_bin(v, n);
  }
  pending_.clear();
}

uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // nearest rank: ceil(p/100 * N), at least 1
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * double(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (const auto& [v, n] : bins()) {
    seen += n;
    if (seen >= rank) return v;
  }
  return bins_.rbegin()->first;
}

void StatsRegistry::add_entry(const std::string& name, const std::string& unit,
                              const std::string& desc, StatKind kind, size_t slot) {
  if (name.empty()) throw std::logic_error("stat with an empty name");
  if (!index_.emplace(name, Entry{StatInfo{name, unit, desc, kind}, slot}).second)
    throw std::logic_error("stat registered twice: " + name);
}

Counter& StatsRegistry::counter(const std::string& name, const std::string& unit,
                                const std::string& desc) {
  add_entry(name, unit, desc, StatKind::kCounter, counters_.size());
  return counters_.emplace_back();
}
Scalar& StatsRegistry::scalar(const std::string& name, const std::string& unit,
                              const std::string& desc) {
  add_entry(name, unit, desc, StatKind::kScalar, scalars_.size());
  return scalars_.emplace_back();
}
Average& StatsRegistry::average(const std::string& name, const std::string& unit,
                                const std::string& desc) {
  add_entry(name, unit, desc, StatKind::kAverage, averages_.size());
  return averages_.emplace_back();
}
Histogram& StatsRegistry::histogram(const std::string& name, const std::string& unit,
                                    const std::string& desc) {
  add_entry(name, unit, desc, StatKind::kHistogram, histograms_.size());
  return histograms_.emplace_back();
}

const StatInfo* StatsRegistry::info(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &it->second.info;
}

double StatsRegistry::value(const std::string& name) const {
  const Entry& e = index_.at(name);
  switch (e.info.kind) {
    case StatKind::kCounter:
      return double(counters_[e.slot].value());
    case StatKind::kScalar:
      return scalars_[e.slot].value();
    case StatKind::kAverage:
      return averages_[e.slot].mean();
    case StatKind::kHistogram:
      return histograms_[e.slot].mean();
  }
  return 0.0;
}

const Counter* StatsRegistry::find_counter(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end() || it->second.info.kind != StatKind::kCounter) return nullptr;
  return &counters_[it->second.slot];
}

const Histogram* StatsRegistry::find_histogram(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end() || it->second.info.kind != StatKind::kHistogram) return nullptr;
  return &histograms_[it->second.slot];
}

std::vector<std::string> StatsRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [n, e] : index_) out.push_back(n);
  return out;
}

std::vector<std::string> StatsRegistry::names_with_prefix(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto it = index_.lower_bound(prefix); it != index_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->first);
  }
  return out;
}

nlohmann::json StatsRegistry::to_json() const {
  nlohmann::json stats = nlohmann::json::object();
  for (const auto& [name, e] : index_) {
    nlohmann::json j;
    j["kind"] = to_string(e.info.kind);
    j["unit"] = e.info.unit;
    j["desc"] = e.info.desc;
    switch (e.info.kind) {
      case StatKind::kCounter:
        j["value"] = counters_[e.slot].value();
        break;
      case StatKind::kScalar:
        j["value"] = scalars_[e.slot].value();
        break;
      case StatKind::kAverage: {
        const Average& a = averages_[e.slot];
        j["value"] = a.mean();
        j["count"] = a.count();
        j["sum"] = a.sum();
        break;
      }
      case StatKind::kHistogram: {
        const Histogram& h = histograms_[e.slot];
        j["value"] = h.mean();
        j["count"] = h.count();
        j["min"] = h.min();
        j["max"] = h.max();
        j["p50"] = h.percentile(50);
        j["p90"] = h.percentile(90);
        j["p99"] = h.percentile(99);
        break;
      }
    }
    stats[name] = std::move(j);
  }
  nlohmann::json root;
  root["stats"] = std::move(stats);
  return root;
}

void StatsRegistry::write_json(std::ostream& os) const {
  os << to_json().dump(2) << "\n";
}

namespace {
// Shortest text that reads back to the same double (shared with the config writer).
std::string num(double v) {
  return format_double(v);
}
}  // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void StatsRegistry::write_csv(std::ostream& os) const {
  os << "name,kind,unit,value,count,mean,min,max,p50,p90,p99\n";
  for (const auto& [name, e] : index_) {
    os << csv_field(name) << ',' << to_string(e.info.kind) << ',' << csv_field(e.info.unit) << ',';
    switch (e.info.kind) {
      case StatKind::kCounter:
        os << counters_[e.slot].value() << ",,,,,,,\n";
        break;
      case StatKind::kScalar:
        os << num(scalars_[e.slot].value()) << ",,,,,,,\n";
        break;
      case StatKind::kAverage: {
        const Average& a = averages_[e.slot];
        os << num(a.mean()) << ',' << a.count() << ',' << num(a.mean()) << ",,,,,\n";
        break;
      }
      case StatKind::kHistogram: {
        const Histogram& h = histograms_[e.slot];
        os << num(h.mean()) << ',' << h.count() << ',' << num(h.mean()) << ',' << h.min() << ','
           << h.max() << ',' << h.percentile(50) << ',' << h.percentile(90) << ','
           << h.percentile(99) << '\n';
        break;
      }
    }
  }
}

void StatsRegistry::write_text(std::ostream& os) const {
  size_t w = 0;
  for (const auto& [name, e] : index_) w = std::max(w, name.size());
  for (const auto& [name, e] : index_) {
    os << std::left << std::setw(int(w) + 2) << name;
    std::string v;
    switch (e.info.kind) {
      case StatKind::kCounter:
        v = std::to_string(counters_[e.slot].value());
        break;
      case StatKind::kScalar:
        v = num(scalars_[e.slot].value());
        break;
      case StatKind::kAverage:
        v = num(averages_[e.slot].mean());
        break;
      case StatKind::kHistogram: {
        const Histogram& h = histograms_[e.slot];
        v = "mean " + num(h.mean()) + "  p50 " + std::to_string(h.percentile(50)) + "  p99 " +
            std::to_string(h.percentile(99)) + "  n " + std::to_string(h.count());
        break;
      }
    }
    os << std::right << std::setw(16) << v << ' ' << e.info.unit << "\n";
  }
}

}  // namespace tessera::sim
