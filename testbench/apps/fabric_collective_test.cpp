// Collectives lowered onto the package switch fabric, simulated end to end by
// `tessera run` (mapper -> tiles -> chiplet networks -> SwitchFabric), against the
// alpha-beta cost models of shared/workloads/FACTS.md ("Collective cost models"):
//   switch (in-network reduction):  N/B + alpha
//   ring:                           2(P-1)/P * N/B + 2(P-1) * s * alpha
// B = fabric port bandwidth (each 4 KiB request also carries a 16-byte header, so
// B is scaled by 4096/4112), alpha = FabricCore::step_latency_ps() = 2 link latencies
// + switch latency + one 4 KiB chunk stored in the switch, s = pieces per ring step
// (the ring sends a step's N/P bytes in pieces of a quarter scratchpad, 128 KiB here,
// each a full round through the fabric).
//
// The machine is `tiny` (one 2x2-tile chiplet per package) with P packages behind a
// deliberately slow fabric (0.5 GB/s per port, 100 ns links, 200 ns switch): the ring
// lowering serialises every piece's HBM load, vector add and HBM store with its send
// (about 7 us per 128 KiB on this tile, ~18 GB/s), which at 0.5 GB/s is ~3 % of a
// step; at a faster fabric that on-package part, not the fabric, would dominate the
// ring. The switch lowering pipelines its loads under the sends, so only the first
// load (~3 us) adds to N/B.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/sim/output_dir.h"

namespace fs = std::filesystem;

namespace {

const double kB = 0.5e9 * 1e-12;  // bytes per ps
const double kAlpha = 2 * 100e3 + 200e3 + 4096 / kB;
const double kBeff = kB * 4096.0 / 4112.0;

struct Run {
  double sim_ps = 0;
  nlohmann::json stats;
  std::string log, stats_text;
};

std::string dir(const std::string& name) {
  return std::string(TESSERA_BINARY_DIR) + "/fabric_collective_out/" + name;
}

Run run(const std::string& name, const std::string& kind, uint32_t p, uint64_t n,
        const std::string& collective, const std::string& extra = "") {
  const std::string out = dir(name);
  fs::remove_all(out);
  fs::create_directories(fs::path(out).parent_path());
  {
    std::ofstream t(out + ".tsr");
    t << "tessera-trace 1\nmeta dp=" << p << "\n"
      << kind << " c bytes=" << n << " group=" << p << " dtype=bf16\n";
  }
  const std::string cmd = std::string(TESSERA_EXE) + " run -q --explain --trace " + out +
                          ".tsr --set system.packages=" + std::to_string(p) +
                          " --set system.fabric.port_gbytes_per_s=0.5"
                          " --set system.fabric.link_latency_ns=100"
                          " --set system.fabric.switch_latency_ns=200"
                          " --set tile.dma.burst_bytes=4096 --set tile.vector.lanes=256 " +
                          extra + " --collective " + collective + " --out " + out + " > " + out +
                          ".log 2>&1";
  const int rc = std::system(cmd.c_str());
  Run r;
  r.log = tessera::sim::read_file(out + ".log");
  INFO(r.log);
  REQUIRE(rc == 0);
  r.stats_text = tessera::sim::read_file(out + "/stats.json");
  r.stats = nlohmann::json::parse(r.stats_text)["stats"];
  r.sim_ps = r.stats["system.sim_time"]["value"].get<double>();
  return r;
}

double stat(const Run& r, const std::string& name) {
  return r.stats.at(name)["value"].get<double>();
}

}  // namespace

TEST_CASE("fabric all-reduce: switch takes N/B + alpha, ring 2(P-1)/P N/B + latency", "[unit]") {
  for (uint32_t p : {2u, 4u})
    for (uint64_t n : {uint64_t(256) << 10, uint64_t(1) << 20}) {
      const std::string tag = "ar_p" + std::to_string(p) + "_n" + std::to_string(n);
      const Run sw = run(tag + "_switch", "allreduce", p, n, "auto");
      const Run ring = run(tag + "_ring", "allreduce", p, n, "ring");
      CHECK(sw.log.find("switch all-reduce (in-network reduction)") != std::string::npos);
      CHECK(ring.log.find("ring over " + std::to_string(p) + " rank groups") != std::string::npos);
      const double piece = 128 << 10;
      const double s = std::ceil(double(n) / p / piece);
      const double m_sw = double(n) / kBeff + kAlpha;
      const double m_ring = 2.0 * (p - 1) / p * double(n) / kBeff + 2.0 * (p - 1) * s * kAlpha;
      INFO("P " << p << " N " << n << ": switch " << sw.sim_ps << " ps (model " << m_sw
                << "), ring " << ring.sim_ps << " ps (model " << m_ring << ")");
      CHECK(std::abs(sw.sim_ps - m_sw) <= 0.05 * m_sw);
      CHECK(std::abs(ring.sim_ps - m_ring) <= 0.05 * m_ring);
      // Each rank's port carried N in (contributions) and N out (the sum), not
      // 2(P-1)/P N each way; for P > 2 that is the whole gain.
      if (p > 2) CHECK(ring.sim_ps > 1.3 * sw.sim_ps);
      if (p == 2) CHECK(sw.sim_ps < ring.sim_ps);
    }
}

TEST_CASE("fabric all-gather: switch multicast takes (P-1)/P N/B + alpha", "[unit]") {
  const uint32_t p = 4;
  const uint64_t n = uint64_t(1) << 20;
  const Run sw = run("ag_switch", "allgather", p, n, "auto");
  const Run ring = run("ag_ring", "allgather", p, n, "ring");
  CHECK(sw.log.find("switch all-gather (in-network multicast)") != std::string::npos);
  const double m_sw = double(p - 1) / p * double(n) / kBeff + kAlpha;
  const double m_ring = double(p - 1) / p * double(n) / kBeff + double(p - 1) * 2 * kAlpha;
  INFO("switch " << sw.sim_ps << " (model " << m_sw << "), ring " << ring.sim_ps << " (model "
                 << m_ring << ")");
  CHECK(std::abs(sw.sim_ps - m_sw) <= 0.05 * m_sw);
  CHECK(std::abs(ring.sim_ps - m_ring) <= 0.05 * m_ring);
  CHECK(sw.sim_ps < ring.sim_ps);
}

TEST_CASE("fabric all-reduce: the switch counts contributions, sums and multicast bytes",
          "[unit]") {
  const uint32_t p = 4;
  const uint64_t n = uint64_t(256) << 10, bursts = n / 4096;
  const Run a = run("stats_a", "allreduce", p, n, "switch");
  CHECK(stat(a, "fabric.reduce_contributions") == p * bursts);
  CHECK(stat(a, "fabric.reduce_bytes_in") == p * bursts * (4096 + 16));
  CHECK(stat(a, "fabric.reduced_chunks") == bursts);
  CHECK(stat(a, "fabric.multicast_bytes") == p * bursts * (4096 + 16));
  CHECK(stat(a, "fabric.reduction_buffer_peak_bytes") > 0);
  CHECK(stat(a, "fabric.reduction_buffer_peak_bytes") <= 1024 * 1024);
  // Same spec, same workload: the same statistics, to the bit.
  const Run b = run("stats_b", "allreduce", p, n, "switch");
  CHECK(a.stats_text == b.stats_text);
  // A small reduction buffer holds contributions back but still finishes.
  const Run c = run("stats_small_buffer", "allreduce", p, n, "switch",
                    "--set system.fabric.reduction_buffer_kib=8");
  CHECK(stat(c, "fabric.reduction_buffer_peak_bytes") <= 8 * 1024);
  CHECK(c.sim_ps >= a.sim_ps);
}

TEST_CASE("fabric all-reduce: without in-network reduction the mapper uses the ring and says why",
          "[unit]") {
  const Run r = run("off", "allreduce", 4, uint64_t(256) << 10, "auto",
                    "--set system.fabric.in_network_reduction=false");
  CHECK(r.log.find("not the switch: system.fabric.in_network_reduction is off") !=
        std::string::npos);
  CHECK(r.stats.find("fabric.reduce_contributions") != r.stats.end());
  CHECK(stat(r, "fabric.reduce_contributions") == 0);
}

TEST_CASE(
    "fabric collectives: --collective switch where the machine has no fabric, or a bad value, is "
    "exit 2",
    "[unit]") {
  const std::string out = dir("bad");
  fs::create_directories(fs::path(out).parent_path());
  {
    std::ofstream t(out + ".tsr");
    t << "tessera-trace 1\nmeta dp=2\nallreduce c bytes=65536 group=2 dtype=bf16\n";
  }
  auto rc_of = [&](const std::string& args) {
    const int rc = std::system((std::string(TESSERA_EXE) + " run -q --trace " + out + ".tsr " +
                                args + " > " + out + ".log 2>&1")
                                   .c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  CHECK(rc_of("--collective switch") == 2);
  std::string log = tessera::sim::read_file(out + ".log");
  CHECK(log.find("--collective switch: c cannot use the switch fabric: one package") !=
        std::string::npos);
  CHECK(std::count(log.begin(), log.end(), '\n') == 1);
  CHECK(rc_of("--collective tree") == 2);
  log = tessera::sim::read_file(out + ".log");
  CHECK(log.find("--collective") != std::string::npos);
}
