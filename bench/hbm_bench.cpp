// Simulation speed of the HBM model: simulated requests per second for sequential,
// random and mixed 64 B requests on one HBM3 stack, plain-C++ core (one core, no
// SystemC). Reports CPU time as well as wall time: the development machine is shared,
// so the CPU-time rate is the figure that compares across runs.
// Usage: hbm_bench [requests] [preset] [pattern|all] [extra YAML] [outstanding]
// e.g. hbm_bench 1000000 hbm3 seq "controller: {refresh: none}" 512
// HBM_BENCH_STATS=1 also prints every statistic (for bit-identity checks).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>

#include "bench/bench_timer.h"
#include "models/memory/hbm_traffic.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"

using namespace tessera;
using tessera::bench::cpu_seconds;

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::stoull(argv[1]) : 2000000;
  const std::string preset = argc > 2 ? argv[2] : "hbm3";
  std::vector<std::string> patterns = {"seq", "random", "mix"};
  if (argc > 3 && std::string(argv[3]) != "all") patterns = {argv[3]};
  const std::string extra = argc > 4 ? argv[4] : "";
  const uint32_t outstanding = argc > 5 ? uint32_t(std::stoul(argv[5])) : 512;
  for (const auto& pattern : patterns) {
    sim::StatsRegistry reg;
    sim::EnergyLedger energy;
    const memory::HbmConfig cfg =
        memory::load_hbm_config("preset: " + preset + "\n" + extra, "bench");
    memory::HbmStackCore core(cfg, sim::StatsScope(reg, "hbm"), energy);
    memory::HbmTrafficSpec s;
    s.pattern = pattern;
    s.requests = n;
    s.outstanding = outstanding;
    s.read_fraction = pattern == "mix" ? 0.67 : 1.0;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    const auto r = memory::run_hbm_traffic(core, s);
    const double cpu = cpu_seconds() - c0;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "%s %-7s %9llu requests of 64 B: %.3f s CPU (%.3f M requests/CPU-s), %.3f s wall "
        "(%.3f M requests/s); %.1f GB/s (%.1f %% of peak), row hits %.3f, p50 %.1f ns "
        "p99 %.1f ns\n",
        preset.c_str(), pattern.c_str(), (unsigned long long)r.requests, cpu,
        double(r.requests) / cpu / 1e6, wall, double(r.requests) / wall / 1e6,
        reg.value("hbm.bandwidth"), 100.0 * reg.value("hbm.bandwidth") / core.peak_gbps(),
        reg.value("hbm.row_hit_rate"), reg.value("hbm.read_latency_p50_ns"),
        reg.value("hbm.read_latency_p99_ns"));
    std::fflush(stdout);
    if (getenv("HBM_BENCH_STATS")) reg.write_text(std::cout);
  }
  return 0;
}

// libsystemc.so refers to sc_main; this benchmark has its own main().
extern "C" int sc_main(int, char**) {
  return 0;
}
