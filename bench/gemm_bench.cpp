// Simulation speed of the systolic array, in one run so that the ratios share the
// machine's state: simulated array-cycles per wall second of the Verilated RTL
// (--cc, driven from C++), the stepped C++ model (computing values) and the closed
// form (timing only), each on the same job, interleaved over a few rounds; then the
// closed form's GEMMs per second on a few shapes. Sizes whose RTL was not built
// (TESSERA_RTL_SIZES; 128x128 is not in the default list) say so.
//
// 128x128 RTL: configure with -DTESSERA_RTL_SIZES="16x16;32x32;128x128" (about 32
// CPU-minutes more; see docs/validation.md, "Building the 128x128 RTL").
//
// Usage: gemm_bench [seconds per measurement, default 1] [rounds, default 2]
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <systemc>

#include "bench/bench_timer.h"
#include "models/compute/gemm_engine.h"
#include "models/sim/errors.h"

using namespace tessera;
using namespace tessera::compute;
using tessera::bench::Clock;
using tessera::bench::cpu_seconds;
using tessera::bench::seconds_since;

namespace {

struct Case {
  uint32_t R, C, m, n, k;
  const char* df;
};

struct Operands {
  std::vector<int8_t> a, b;
  std::vector<int32_t> c;
  Operands(const Case& cs)
      : a(size_t(cs.m) * cs.k), b(size_t(cs.k) * cs.n), c(size_t(cs.m) * cs.n) {
    std::mt19937_64 rng(1);
    std::uniform_int_distribution<int> d(-128, 127);
    for (auto& x : a) x = int8_t(d(rng));
    for (auto& x : b) x = int8_t(d(rng));
  }
};

struct Rate {
  double cycles_per_s = 0;
  uint64_t cycles = 0;  // per job
  uint64_t jobs = 0;
  std::string error;  // e.g. this RTL size was not built
};

// Runs the job on `impl` until min_s of wall time has passed (at least once). The
// stepped engines compute values; the closed form gets no operands (timing only).
Rate measure(const Case& cs, const char* impl, Operands& ops, double min_s) {
  ArrayConfig cfg;
  cfg.rows = cs.R;
  cfg.cols = cs.C;
  cfg.dataflow = cs.df;
  cfg.impl = impl;
  sim::StatsRegistry reg;
  sim::EnergyLedger led;
  Rate r;
  try {
    auto eng = make_gemm_engine(cfg, sim::StatsScope(reg, "g"), led, "g", {});
    const bool values = cfg.impl != "closed-form";
    const GemmJob job = values ? GemmJob{cs.m, cs.n, cs.k, ops.a.data(), ops.b.data(), ops.c.data()}
                               : GemmJob{cs.m, cs.n, cs.k};
    // The closed form takes well under a microsecond: time it in batches.
    const int batch = values ? 1 : 1000;
    uint64_t total = 0;
    const auto t0 = Clock::now();
    do {
      for (int i = 0; i < batch; ++i) {
        r.cycles = eng->run(job).cycles;
        total += r.cycles;
      }
      r.jobs += batch;
    } while (seconds_since(t0) < min_s);
    r.cycles_per_s = double(total) / seconds_since(t0);
  } catch (const sim::UserError& e) {
    r.error = e.what();
  }
  return r;
}

std::string dims(uint32_t a, uint32_t b) {
  return std::to_string(a) + "x" + std::to_string(b);
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const double min_s = argc > 1 ? std::atof(argv[1]) : 1.0;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2;
  const Case cases[] = {{16, 16, 256, 64, 64, "ws"},     {32, 32, 256, 128, 128, "ws"},
                        {128, 128, 512, 256, 256, "ws"}, {16, 16, 256, 64, 64, "os"},
                        {32, 32, 256, 128, 128, "os"},   {128, 128, 512, 256, 256, "os"}};
  const char* impls[] = {"rtl", "model", "closed-form"};
  std::printf(
      "array-cycles per wall second, %.1f s per measurement (at least one job), "
      "best of %d interleaved rounds\n\n",
      min_s, rounds);
  std::printf("%-7s %-3s %-12s %7s  %12s %12s %14s  %8s %8s\n", "array", "df", "job MxNxK",
              "cycles", "rtl", "model", "closed-form", "model/rtl", "cf/model");
  for (const Case& cs : cases) {
    Operands ops(cs);
    Rate best[3];
    for (int r = 0; r < rounds; ++r) {
      for (int i = 0; i < 3; ++i) {
        const Rate x = measure(cs, impls[i], ops, min_s);
        if (!x.error.empty() || x.cycles_per_s > best[i].cycles_per_s) best[i] = x;
      }
    }
    std::printf("%-7s %-3s %-12s %7llu  ", dims(cs.R, cs.C).c_str(), cs.df,
                (dims(cs.m, cs.n) + "x" + std::to_string(cs.k)).c_str(),
                (unsigned long long)best[1].cycles);
    if (best[0].error.empty())
      std::printf("%12.0f ", best[0].cycles_per_s);
    else
      std::printf("%12s ", "not built");
    std::printf("%12.0f %14.3g  ", best[1].cycles_per_s, best[2].cycles_per_s);
    if (best[0].error.empty())
      std::printf("%8.1fx", best[1].cycles_per_s / best[0].cycles_per_s);
    else
      std::printf("%9s", "-");
    std::printf(" %8.0fx\n", best[2].cycles_per_s / best[1].cycles_per_s);
    if (best[0].error.empty() && best[0].cycles != best[1].cycles)
      std::printf("  RTL and model cycles DIFFER: %llu vs %llu\n",
                  (unsigned long long)best[0].cycles, (unsigned long long)best[1].cycles);
  }

  // The closed form's goal is in GEMMs per second (timing only, through the engine
  // interface with its statistics).
  std::printf("\nclosed form, GEMMs per second:\n");
  for (auto [R, m, n, k] :
       {std::array<uint32_t, 4>{32, 512, 512, 512}, std::array<uint32_t, 4>{128, 4096, 4096, 128},
        std::array<uint32_t, 4>{8, 300, 200, 100}}) {
    for (const char* df : {"ws", "os"}) {
      Case cs{R, R, m, n, k, df};
      Operands none(Case{1, 1, 1, 1, 1, df});
      const Rate x = measure(cs, "closed-form", none, 0.5);
      std::printf("  %-7s %-3s %ux%ux%u: %.2f M GEMMs/s\n", dims(R, R).c_str(), df, m, n, k,
                  x.cycles_per_s / double(x.cycles) / 1e6);
    }
  }
  return 0;
}
