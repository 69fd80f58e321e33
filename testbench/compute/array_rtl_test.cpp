// The Verilated RTL against the C++ model, the closed form and the reference
// product: a few hundred shapes per array size, every dataflow and overlap mode.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <random>

#include "models/compute/gemm_driver.h"
#include "models/compute/gemm_engine.h"
#include "models/compute/gemm_timing.h"
#include "models/compute/systolic_model.h"
#include "models/sim/errors.h"
#include "rtl/rtl_array.h"
#include "testbench/compute/gemm_test_util.h"

using namespace tessera;
using namespace tessera::compute;
using namespace tessera::compute::test;

namespace {

void rtl_vs_model(uint32_t R, uint32_t C, size_t shapes_per_mode, uint64_t seed) {
  if (!rtl_built(R, C)) {
    // Only when TESSERA_RTL_SIZES was narrowed from its default.
    WARN("RTL " << R << "x" << C << " not built (TESSERA_RTL_SIZES); nothing checked");
    return;
  }
  std::mt19937_64 rng(seed);
  size_t checked = 0;
  for (const char* df : {"ws", "os", "is"}) {
    for (bool overlap : {true, false}) {
      const ArrayConfig cfg = array_config(R, C, df, overlap, "both");
      RtlDatapath rtl(R, C);
      SystolicModel model(R, C);
      for (const Shape& s : shapes_for(R, C, shapes_per_mode, rng)) {
        INFO(R << "x" << C << " " << df << " overlap " << overlap << " shape " << to_string(s));
        const auto a = random_i8(rng, size_t(s.m) * s.k);
        const auto b = random_i8(rng, size_t(s.k) * s.n);
        std::vector<int32_t> c_rtl(size_t(s.m) * s.n), c_model(size_t(s.m) * s.n);
        const FoldPlan plan = FoldPlan::make(cfg, parse_dataflow(df), s.m, s.n, s.k);
        const GemmJob jr{s.m, s.n, s.k, a.data(), b.data(), c_rtl.data()};
        const GemmJob jm{s.m, s.n, s.k, a.data(), b.data(), c_model.data()};
        // Lockstep: RTL primary, model shadow, compared at the pins every cycle.
        const GemmTiming tr = run_gemm(plan, overlap, jr, rtl, &model);
        // The model on its own again, and the closed form.
        SystolicModel solo(R, C);
        const GemmTiming tm = run_gemm(plan, overlap, jm, solo);
        const GemmTiming tc = closed_form_timing(plan, overlap);
        REQUIRE(tr.cycles == tc.cycles);
        REQUIRE(tm.cycles == tc.cycles);
        REQUIRE(tr.same_timing(tc));
        const auto ref = reference_gemm(a, b, s);
        REQUIRE(c_rtl == ref);
        REQUIRE(c_model == ref);
        ++checked;
      }
    }
  }
  CHECK(checked == 6 * shapes_per_mode);
}

}  // namespace

TEST_CASE("rtl 4x4 equals model, closed form and reference", "[rtl]") {
  rtl_vs_model(4, 4, 40, 1);
}
TEST_CASE("rtl 8x8 equals model, closed form and reference", "[rtl]") {
  rtl_vs_model(8, 8, 40, 2);
}
TEST_CASE("rtl 4x8 equals model, closed form and reference", "[rtl]") {
  rtl_vs_model(4, 8, 40, 3);
}
TEST_CASE("rtl 16x16 equals model, closed form and reference", "[rtl]") {
  rtl_vs_model(16, 16, 20, 4);
}
TEST_CASE("rtl 32x32 equals model, closed form and reference", "[rtl]") {
  rtl_vs_model(32, 32, 8, 5);
}

TEST_CASE("rtl: a size that was not built is a one-line user error", "[rtl]") {
  try {
    RtlDatapath d(7, 9);
    FAIL("no error");
  } catch (const sim::UserError& e) {
    CHECK(e.exit_code() == 2);
    CHECK_THAT(e.what(), Catch::Contains("no RTL built for 7x9"));
  }
}

TEST_CASE("rtl: impl both through the engine, with a VCD waveform", "[rtl]") {
  if (!rtl_built(4, 4)) {
    WARN("RTL 4x4 not built (TESSERA_RTL_SIZES); nothing checked");
    return;
  }
  const std::string vcd = std::string(TESSERA_BINARY_DIR) + "/compute_test_both.vcd";
  std::remove(vcd.c_str());
  sim::StatsRegistry reg;
  sim::EnergyLedger ledger;
  {
    auto eng = make_gemm_engine(array_config(4, 4, "os", true, "both"), sim::StatsScope(reg, "g"),
                                ledger, "g", EngineOptions{vcd});
    std::mt19937_64 rng(9);
    const Shape s{6, 5, 7};
    const auto a = random_i8(rng, 42), b = random_i8(rng, 35);
    std::vector<int32_t> c(30);
    const GemmTiming t = eng->run(GemmJob{6, 5, 7, a.data(), b.data(), c.data()});
    CHECK(c == reference_gemm(a, b, s));
    // OS 4x4, M=6 N=5 K=7: 2x2 folds. L = 0, 7, then bank reuse: fold 2 waits for
    // fold 0's drain (D_0 = 6 + 4 = 10, done 14) -> L_2 = max(14, 14) = 14, L_3 = 21;
    // D_1 = max(14, 13 + 4) = 17, D_2 = max(21, 20 + 4) = 24, D_3 = max(28, 27 + 4) = 31;
    // out at 31 + R + C - 1 = 38.
    CHECK(t.cycles == 38);
  }
  std::ifstream f(vcd);
  std::string first;
  std::getline(f, first);
  CHECK(!first.empty());
}
