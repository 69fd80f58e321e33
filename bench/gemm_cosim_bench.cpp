// Co-simulation speed of the Verilated array clocked in the tile's clock domain, two
// ways, on the same GEMM, against the --cc model driven from plain C++:
//
//   cc      --cc, driven from C++ with no SystemC kernel (gemm_bench's "rtl")
//   cc-mod  --cc inside GemmArrayModule, what Tessera does: an SC_THREAD steps the
//           sequencer and the Verilated model, then waits for the next edge of the
//           tile clock (one timed wait per cycle, no signals, no sc_clock)
//   sc      --sc: Verilator's own sc_module with sc_in/sc_out ports bound to
//           sc_signals and an sc_clock of the tile period; the same driver writes
//           the input signals and waits for the falling clock edge
//           (bench/rtl_sc_array_adapter.h)
//
// SystemC allows one elaboration per process, and an sc_clock cannot be stopped,
// so every measurement runs in its own forked process, round-robin over variants so
// that load changes on the machine hit all of them alike. Each checks its result
// matrix and cycle count against the C++ model. Build: configure with
// -DTESSERA_COSIM_BENCH_SIZES="16x16;32x32" (see bench/CMakeLists.txt).
//
// Figures and the profile that explains them: docs/validation.md ("Co-simulation").
//
// Usage: gemm_cosim_bench [seconds per measurement, default 2] [rounds, default 3]
//                         [only this way, e.g. sc] [only this size, e.g. 16x16]
// (the last two to profile one way, e.g. under perf record)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <systemc>

#include "bench/bench_timer.h"
#include "bench/rtl_sc_array.h"
#include "models/compute/gemm_array_module.h"
#include "models/compute/gemm_driver.h"
#include "models/compute/gemm_engine.h"
#include "models/sim/clock_domain.h"

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

// One GEMM's operands and the C++ model's answer.
struct Problem {
  Case c;
  ArrayConfig cfg;
  std::vector<int8_t> a, b;
  std::vector<int32_t> expect;
  uint64_t expect_cycles = 0;
  explicit Problem(const Case& cs) : c(cs) {
    cfg.rows = cs.R;
    cfg.cols = cs.C;
    cfg.dataflow = cs.df;
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> d(-128, 127);
    a.resize(size_t(cs.m) * cs.k);
    b.resize(size_t(cs.k) * cs.n);
    for (auto& x : a) x = int8_t(d(rng));
    for (auto& x : b) x = int8_t(d(rng));
    expect.resize(size_t(cs.m) * cs.n);
    ArrayConfig model = cfg;
    model.impl = "model";
    sim::StatsRegistry reg;
    sim::EnergyLedger led;
    expect_cycles =
        make_gemm_engine(model, sim::StatsScope(reg, "g"), led, "g", {})->run(job(expect)).cycles;
  }
  GemmJob job(std::vector<int32_t>& out) const {
    return GemmJob{c.m, c.n, c.k, a.data(), b.data(), out.data()};
  }
};

// What one measurement reports to the parent (through a pipe).
struct Outcome {
  bool ok = false;      // every job's cycles and result matrix equal the model's
  uint64_t cycles = 0;  // array-cycles per job
  uint64_t jobs = 0;
  double wall_s = 0;    // wall time of the timed jobs
  double cpu_s = 0;     // CPU time of the timed jobs
  uint64_t deltas = 0;  // SystemC delta cycles over the timed jobs (0: no kernel)
  uint64_t evals = 0;   // runs of the --sc eval() method (counting run only)
};

// Runs jobs until min_s of wall time has passed; `run` does one job.
template <class RunOne>
void timed_jobs(const Problem& p, double min_s, Outcome& o, RunOne run) {
  std::vector<int32_t> out(p.expect.size());
  o.ok = true;
  const uint64_t d0 = sc_core::sc_delta_count();
  const auto t0 = Clock::now();
  const double c0 = cpu_seconds();
  do {
    std::fill(out.begin(), out.end(), 0);
    const uint64_t cyc = run(p.job(out));
    o.ok = o.ok && cyc == p.expect_cycles && out == p.expect;
    o.cycles = cyc;
    ++o.jobs;
  } while (seconds_since(t0) < min_s);
  o.wall_s = seconds_since(t0);
  o.cpu_s = cpu_seconds() - c0;
  o.deltas = sc_core::sc_delta_count() - d0;
}

// RtlArray as the driver's datapath (RtlDatapath builds its own --cc array).
class ArrayDatapath final : public SystolicDatapath {
 public:
  explicit ArrayDatapath(rtl::RtlArray& a) : a_(a) {}
  uint32_t rows() const override { return a_.rows(); }
  uint32_t cols() const override { return a_.cols(); }
  void set_pins(const ArrayPins& p) override { a_.set_pins(p); }
  bool out_valid() const override { return a_.out_valid(); }
  int32_t out(uint32_t col) const override { return a_.out(col); }
  void tick() override { a_.tick(); }

 private:
  rtl::RtlArray& a_;
};

// The tile: one SC_THREAD that runs the timed jobs on either co-simulation.
struct CosimTop : sc_core::sc_module {
  const Problem& p;
  double min_s;
  Outcome& o;
  sim::StatsRegistry reg;
  sim::EnergyLedger led;
  std::unique_ptr<GemmArrayModule> cc_mod;
  std::unique_ptr<sc_core::sc_clock> clk;
  std::unique_ptr<rtl::RtlArray> sc_array;
  SC_HAS_PROCESS(CosimTop);
  CosimTop(sc_core::sc_module_name n, const Problem& prob, const std::string& variant,
           const sim::ClockDomain& tile, double min_seconds, Outcome& out, bool count_evals)
      : sc_core::sc_module(n), p(prob), min_s(min_seconds), o(out) {
    if (variant == "cc-mod") {
      ArrayConfig cfg = p.cfg;
      cfg.impl = "rtl";
      cc_mod =
          std::make_unique<GemmArrayModule>("array", cfg, tile, sim::StatsScope(reg, "g"), led);
    } else {
      // Rising edges mid-cycle; the driver's cycle n is [n*T, (n+1)*T), as in cc-mod.
      const sc_core::sc_time T = tile.duration(sim::Cycles(1));
      clk = std::make_unique<sc_core::sc_clock>("clk", T, 0.5, T / 2, true);
      sc_array =
          rtl::make_rtl_sc_array("array_sc", p.c.R, p.c.C, *clk, count_evals ? &o.evals : nullptr);
      if (!sc_array)
        throw std::runtime_error("no --sc build of " + std::to_string(p.c.R) + "x" +
                                 std::to_string(p.c.C) + " (TESSERA_COSIM_BENCH_SIZES)");
    }
    SC_THREAD(main);
  }
  void main() {
    if (cc_mod) {
      timed_jobs(p, min_s, o, [&](const GemmJob& j) { return cc_mod->run(j).cycles; });
    } else {
      ArrayDatapath dp(*sc_array);
      const FoldPlan plan = FoldPlan::make(p.cfg, parse_dataflow(p.c.df), p.c.m, p.c.n, p.c.k);
      timed_jobs(p, min_s, o, [&](const GemmJob& j) {
        return run_gemm(plan, p.cfg.fold_overlap, j, dp).cycles;
      });
    }
    sc_core::sc_stop();
  }
};

Outcome measure(const Problem& p, const std::string& variant, double min_s, bool count_evals) {
  Outcome o;
  const sim::ClockDomain tile = sim::ClockDomain::from_mhz("tile", 1000);
  if (variant == "cc") {
    ArrayConfig cfg = p.cfg;
    cfg.impl = "rtl";
    sim::StatsRegistry reg;
    sim::EnergyLedger led;
    auto eng = make_gemm_engine(cfg, sim::StatsScope(reg, "g"), led, "g", {});
    timed_jobs(p, min_s, o, [&](const GemmJob& j) { return eng->run(j).cycles; });
    return o;
  }
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                          sc_core::SC_DO_NOTHING);
  CosimTop top("tile", p, variant, tile, min_s, o, count_evals);
  sc_core::sc_start();
  return o;
}

// Runs measure() in a child process (fresh SystemC kernel) and returns its outcome.
Outcome measure_in_child(const Problem& p, const std::string& variant, double min_s,
                         bool count_evals) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Outcome o;
    try {
      o = measure(p, variant, min_s, count_evals);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", variant.c_str(), e.what());
      o = Outcome{};
    }
    const ssize_t w = write(fds[1], &o, sizeof o);
    _exit(w == ssize_t(sizeof o) ? 0 : 1);
  }
  close(fds[1]);
  Outcome o;
  const ssize_t r = read(fds[0], &o, sizeof o);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (r != ssize_t(sizeof o) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) o = Outcome{};
  return o;
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const double min_s = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string only_way = argc > 3 ? argv[3] : "";
  const std::string only_size = argc > 4 ? argv[4] : "";
  const Case cases[] = {{16, 16, 256, 64, 64, "ws"}, {32, 32, 256, 128, 128, "ws"}};
  const char* variants[] = {"cc", "cc-mod", "sc"};
  bool all_ok = true;
  std::printf("tile clock 1 GHz; %.1f s per measurement, %d rounds\n", min_s, rounds);
  for (const Case& c : cases) {
    if (!only_size.empty() && only_size != std::to_string(c.R) + "x" + std::to_string(c.C))
      continue;
    const Problem p(c);
    std::printf("\n%ux%u %s %ux%ux%u: %llu cycles per job (C++ model)\n", c.R, c.C, c.df, c.m, c.n,
                c.k, (unsigned long long)p.expect_cycles);
    std::printf("  %-6s %5s %5s %12s %14s %12s %10s\n", "way", "round", "jobs", "cycles/s",
                "CPU us/cycle", "deltas/cycle", "check");
    // Best wall rate and least CPU time per cycle over the rounds, per way.
    std::vector<double> best(3, 0.0), cpu(3, 0.0);
    for (int r = 0; r < rounds; ++r) {
      for (int v = 0; v < 3; ++v) {
        if (!only_way.empty() && only_way != variants[v]) continue;
        const Outcome o = measure_in_child(p, variants[v], min_s, false);
        const double cycles = double(o.cycles * o.jobs);
        const double rate = o.wall_s > 0 ? cycles / o.wall_s : 0;
        const double us = cycles > 0 ? 1e6 * o.cpu_s / cycles : 0;
        best[v] = std::max(best[v], rate);
        if (us > 0 && (cpu[v] == 0 || us < cpu[v])) cpu[v] = us;
        all_ok = all_ok && o.ok;
        std::printf("  %-6s %5d %5llu %12.0f %14.2f %12.2f %10s\n", variants[v], r,
                    (unsigned long long)o.jobs, rate, us,
                    cycles > 0 ? double(o.deltas) / cycles : 0.0, o.ok ? "equal" : "DIFFERENT");
      }
    }
    // One untimed job with a counter on the --sc eval()'s sensitivity.
    const Outcome counted = measure_in_child(p, "sc", 0.0, true);
    std::printf("  best cycles/s: cc %.0f, cc-mod %.0f, sc %.0f; cc-mod / sc = %.2f\n", best[0],
                best[1], best[2], best[2] > 0 ? best[1] / best[2] : 0.0);
    std::printf("  least CPU us/cycle: cc %.2f, cc-mod %.2f, sc %.2f; sc / cc-mod = %.2f\n", cpu[0],
                cpu[1], cpu[2], cpu[1] > 0 ? cpu[2] / cpu[1] : 0.0);
    std::printf("  sc: %.2f eval() runs per cycle (counted over one job)\n",
                counted.jobs ? double(counted.evals) / double(counted.cycles * counted.jobs) : 0.0);
  }
  std::printf("\nresults and cycle counts %s\n",
              all_ok ? "equal to the C++ model in every run" : "DIFFER in some run");
  return all_ok ? 0 : 1;
}
