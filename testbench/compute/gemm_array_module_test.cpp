// The array as a SystemC module: simulated time advances one clock per array cycle.
#include <catch2/catch.hpp>

#include <random>

#include "models/compute/gemm_array_module.h"
#include "models/compute/gemm_timing.h"
#include "testbench/compute/gemm_test_util.h"
#include "testbench/elaboration_guard.h"

using namespace tessera;
using namespace tessera::compute;
using namespace tessera::compute::test;

namespace {
struct Tb : sc_core::sc_module {
  GemmArrayModule array;
  GemmJob job;
  GemmTiming timing;
  sc_core::sc_time done;
  SC_HAS_PROCESS(Tb);
  Tb(sc_core::sc_module_name n, const ArrayConfig& cfg, const sim::ClockDomain& clk,
     sim::StatsRegistry& reg, sim::EnergyLedger& led)
      : sc_core::sc_module(n), array("array", cfg, clk, sim::StatsScope(reg, "gemm"), led) {
    SC_THREAD(main);
  }
  void main() {
    timing = array.run(job);
    done = sc_core::sc_time_stamp();
  }
};
}  // namespace

TEST_CASE("co-simulation: the RTL runs one cycle per clock of the tile's domain", "[rtl]") {
  TESSERA_ONE_ELABORATION();
  if (!rtl_built(8, 8)) {
    WARN("RTL 8x8 not built (TESSERA_RTL_SIZES); nothing checked");
    return;
  }
  sim::StatsRegistry reg;
  sim::EnergyLedger led;
  // 1.5 GHz: a rational period, 666.67 ps.
  const sim::ClockDomain clk = sim::ClockDomain::from_mhz("tile", 1500);
  const ArrayConfig cfg = array_config(8, 8, "ws", true, "rtl");
  Tb tb("tb", cfg, clk, reg, led);
  std::mt19937_64 rng(5);
  const Shape s{10, 12, 20};
  const auto a = random_i8(rng, 200), b = random_i8(rng, 240);
  std::vector<int32_t> c(120);
  tb.job = GemmJob{s.m, s.n, s.k, a.data(), b.data(), c.data()};
  sc_core::sc_start();
  CHECK(c == reference_gemm(a, b, s));
  const GemmTiming expect =
      closed_form_timing(FoldPlan::make(cfg, Dataflow::kWs, s.m, s.n, s.k), true);
  CHECK(tb.timing.cycles == expect.cycles);
  // One wait per cycle from time 0: the job ends at edge number `cycles`.
  CHECK(tb.done == clk.duration(sim::Cycles(expect.cycles)));
  CHECK(reg.value("gemm.cycles") == double(expect.cycles));
}
