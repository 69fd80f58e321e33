// Simulation speed of the systolic array: simulated array-cycles per wall second of
// the Verilated RTL (--cc, driven from C++), the stepped C++ model (computing
// values) and the closed form (GEMMs per second). 128x128 RTL is not built by
// default (TESSERA_RTL_SIZES); sizes that were not built are reported as such.
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <systemc>

#include "models/compute/gemm_engine.h"
#include "models/sim/errors.h"

using namespace tessera;
using namespace tessera::compute;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Result {
  double cycles_per_s = 0;
  uint64_t cycles = 0;
};

Result stepped(uint32_t R, uint32_t C, const std::string& impl, const std::string& df, uint32_t m,
               uint32_t n, uint32_t k, double min_s) {
  ArrayConfig cfg;
  cfg.rows = R;
  cfg.cols = C;
  cfg.dataflow = df;
  cfg.impl = impl;
  sim::StatsRegistry reg;
  sim::EnergyLedger led;
  auto eng = make_gemm_engine(cfg, sim::StatsScope(reg, "g"), led, "g");
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> a(size_t(m) * k), b(size_t(k) * n);
  std::vector<int32_t> c(size_t(m) * n);
  for (auto& x : a) x = int8_t(d(rng));
  for (auto& x : b) x = int8_t(d(rng));
  uint64_t total = 0;
  const auto t0 = Clock::now();
  Result r;
  do {
    r.cycles = eng->run(GemmJob{m, n, k, a.data(), b.data(), c.data()}).cycles;
    total += r.cycles;
  } while (seconds_since(t0) < min_s);
  r.cycles_per_s = double(total) / seconds_since(t0);
  return r;
}

}  // namespace

int sc_main(int, char*[]) {
  std::printf("%-7s %-4s %-12s %-14s %10s %16s\n", "array", "df", "impl", "job MxNxK", "cycles",
              "cycles/s");
  struct Case {
    uint32_t R, C, m, n, k;
  };
  const Case cases[] = {{16, 16, 256, 64, 64},
                        {32, 32, 256, 128, 128},
                        {64, 64, 256, 128, 128},
                        {128, 128, 512, 256, 256}};
  for (const char* df : {"ws", "os"}) {
    for (const Case& c : cases) {
      const std::string job =
          std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k);
      const std::string arr = std::to_string(c.R) + "x" + std::to_string(c.C);
      double rtl = 0;
      for (const char* impl : {"rtl", "model"}) {
        try {
          const Result r = stepped(c.R, c.C, impl, df, c.m, c.n, c.k, 1.0);
          std::printf("%-7s %-4s %-12s %-14s %10llu %16.0f", arr.c_str(), df, impl, job.c_str(),
                      (unsigned long long)r.cycles, r.cycles_per_s);
          if (std::string(impl) == "rtl") rtl = r.cycles_per_s;
          if (std::string(impl) == "model" && rtl > 0)
            std::printf("   (%.1fx the RTL)", r.cycles_per_s / rtl);
          std::printf("\n");
        } catch (const sim::UserError& e) {
          std::printf("%-7s %-4s %-12s %-14s   %s\n", arr.c_str(), df, impl, job.c_str(), e.what());
        }
      }
    }
  }
  // Closed form: whole GEMMs per second (timing only).
  for (auto [R, m, n, k] :
       {std::array<uint32_t, 4>{32, 512, 512, 512}, std::array<uint32_t, 4>{128, 4096, 4096, 128},
        std::array<uint32_t, 4>{8, 300, 200, 100}}) {
    for (const char* df : {"ws", "os"}) {
      ArrayConfig cfg;
      cfg.rows = cfg.cols = R;
      cfg.dataflow = df;
      cfg.impl = "closed-form";
      sim::StatsRegistry reg;
      sim::EnergyLedger led;
      auto eng = make_gemm_engine(cfg, sim::StatsScope(reg, "g"), led, "g");
      uint64_t jobs = 0, sink = 0;
      const auto t0 = Clock::now();
      while (seconds_since(t0) < 0.5) {
        for (int i = 0; i < 1000; ++i) sink += eng->run(GemmJob{m + (i & 1), n, k}).cycles;
        jobs += 1000;
      }
      std::printf("%ux%u %-4s closed-form  %ux%ux%u: %.2f M GEMMs/s (%llu)\n", R, R, df, m, n, k,
                  double(jobs) / seconds_since(t0) / 1e6, (unsigned long long)(sink % 7));
    }
  }
  return 0;
}
