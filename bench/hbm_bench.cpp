// Simulation speed of the HBM model: simulated requests per wall second for sequential
// and random 64 B reads on one HBM3 stack, plain-C++ core (one core, no SystemC).
// Usage: hbm_bench [requests] [preset] [pattern] -- prints one line per run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "models/memory/hbm_traffic.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"

using namespace tessera;

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::stoull(argv[1]) : 2000000;
  const std::string preset = argc > 2 ? argv[2] : "hbm3";
  std::vector<std::string> patterns = {"seq", "random", "mix"};
  if (argc > 3) patterns = {argv[3]};
  for (const auto& pattern : patterns) {
    sim::StatsRegistry reg;
    sim::EnergyLedger energy;
    const memory::HbmConfig cfg = memory::load_hbm_config("preset: " + preset, "bench");
    memory::HbmStackCore core(cfg, sim::StatsScope(reg, "hbm"), energy);
    memory::HbmTrafficSpec s;
    s.pattern = pattern;
    s.requests = n;
    s.outstanding = 512;
    s.read_fraction = pattern == "mix" ? 0.67 : 1.0;
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = memory::run_hbm_traffic(core, s);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "%s %-6s %9llu requests of 64 B in %.3f s wall: %.3f M requests/s, %.2f M clocks/s "
        "simulated; %.1f GB/s (%.1f %% of peak), row hits %.3f, p50 %.1f ns p99 %.1f ns\n",
        preset.c_str(), pattern.c_str(), (unsigned long long)r.requests, wall,
        double(r.requests) / wall / 1e6, double(r.cycles) / wall / 1e6, reg.value("hbm.bandwidth"),
        100.0 * reg.value("hbm.bandwidth") / core.peak_gbps(), reg.value("hbm.row_hit_rate"),
        reg.value("hbm.read_latency_p50_ns"), reg.value("hbm.read_latency_p99_ns"));
    if (getenv("HBM_BENCH_STATS")) reg.write_text(std::cout);
  }
  return 0;
}

// libsystemc.so refers to sc_main; this benchmark has its own main().
extern "C" int sc_main(int, char**) {
  return 0;
}
