#include "models/sim/stats_registry.h"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

using namespace tessera::sim;

namespace {
void fill(StatsRegistry& r) {
  StatsScope gemm(r, "chiplet0.tile3.gemm");
  gemm.counter("busy_cycles", "cycles", "cycles with a MAC issued") += 12345;
  gemm.scalar("utilization", "ratio", "MACs over peak").set(0.123456789012345);
  auto& a = gemm.average("queue_depth", "entries", "mean queue depth");
  a.sample(1);
  a.sample(2);
  a.sample(4);
  auto& h = r.histogram("hbm0.ch0.read_latency", "cycles", "read latency");
  for (uint64_t v = 1; v <= 100; ++v) h.sample(v);
}
}  // namespace

TEST_CASE("histogram percentiles are exact (nearest rank)", "[unit]") {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.sample(v);
  REQUIRE(h.percentile(50) == 50);
  REQUIRE(h.percentile(99) == 99);
  REQUIRE(h.percentile(100) == 100);
  REQUIRE(h.min() == 1);
  REQUIRE(h.max() == 100);
  REQUIRE(h.mean() == Approx(50.5));
  Histogram skew;
  skew.sample(10, 98);
  skew.sample(1000, 2);
  REQUIRE(skew.percentile(98) == 10);
  REQUIRE(skew.percentile(99) == 1000);
}

TEST_CASE("stats JSON parses back to the same values", "[unit]") {
  StatsRegistry r;
  fill(r);
  std::ostringstream os;
  r.write_json(os);
  const auto j = nlohmann::json::parse(os.str());
  const auto& s = j.at("stats");
  REQUIRE(s.size() == r.size());
  REQUIRE(s.at("chiplet0.tile3.gemm.busy_cycles").at("value").get<uint64_t>() == 12345);
  REQUIRE(s.at("chiplet0.tile3.gemm.busy_cycles").at("unit") == "cycles");
  // Doubles survive the round trip bit for bit.
  REQUIRE(s.at("chiplet0.tile3.gemm.utilization").at("value").get<double>() == 0.123456789012345);
  REQUIRE(s.at("chiplet0.tile3.gemm.queue_depth").at("value").get<double>() ==
          r.value("chiplet0.tile3.gemm.queue_depth"));
  REQUIRE(s.at("hbm0.ch0.read_latency").at("p99").get<uint64_t>() == 99);
  REQUIRE(s.at("hbm0.ch0.read_latency").at("count").get<uint64_t>() == 100);
}

TEST_CASE("stats CSV has a header and one row per stat", "[unit]") {
  StatsRegistry r;
  fill(r);
  std::ostringstream os;
  r.write_csv(os);
  std::istringstream is(os.str());
  std::vector<std::string> lines;
  for (std::string l; std::getline(is, l);) lines.push_back(l);
  REQUIRE(lines.size() == r.size() + 1);
  REQUIRE(lines[0] == "name,kind,unit,value,count,mean,min,max,p50,p90,p99");
  // Sorted by name: chiplet0.tile3.gemm.{busy_cycles,queue_depth,utilization}, hbm0...
  REQUIRE(lines[1].rfind("chiplet0.tile3.gemm.busy_cycles,counter,cycles,12345,", 0) == 0);
  REQUIRE(lines[4].rfind("hbm0.ch0.read_latency,histogram,cycles,50.5,100,50.5,1,100,50,90,99",
                         0) == 0);
}

TEST_CASE("stat names are unique and prefix queries work", "[unit]") {
  StatsRegistry r;
  fill(r);
  REQUIRE_THROWS_AS(r.counter("chiplet0.tile3.gemm.busy_cycles", "cycles", ""), std::logic_error);
  REQUIRE(r.names_with_prefix("chiplet0.tile3.").size() == 3);
  REQUIRE(r.names_with_prefix("hbm").size() == 1);
  std::ostringstream text;
  r.write_text(text);
  REQUIRE(text.str().find("chiplet0.tile3.gemm.busy_cycles") != std::string::npos);
}

TEST_CASE("histogram: batched samples give the exact bins of one insertion each", "[unit]") {
  // More samples than one batch, single and weighted, small and 64-bit values, so the
  // radix-sorted and the pair-sorted batches both merge several times.
  Histogram h;
  std::map<uint64_t, uint64_t> ref;
  uint64_t x = 12345;
  for (int i = 0; i < 100000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t v = (i % 7 == 0) ? x : (i % 3 == 0) ? (x >> 40) : 1000 + (x >> 58);
    const uint64_t n = (i % 11 == 0) ? 1 + (x & 7) : 1;
    h.sample(v, n);
    ref[v] += n;
  }
  CHECK(h.bins() == ref);
  uint64_t count = 0;
  for (const auto& [v, n] : ref) count += n;
  CHECK(h.count() == count);
}
