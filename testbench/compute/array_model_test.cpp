// The C++ cycle model, the sequencer and the closed form, without the RTL.
#include <catch2/catch.hpp>

#include <random>

#include "models/compute/gemm_driver.h"
#include "models/compute/gemm_engine.h"
#include "models/compute/gemm_timing.h"
#include "models/compute/systolic_model.h"
#include "models/sim/errors.h"
#include "testbench/compute/gemm_test_util.h"

using namespace tessera;
using namespace tessera::compute;
using namespace tessera::compute::test;

namespace {

GemmTiming model_run(const ArrayConfig& cfg, const Shape& s, const int8_t* a, const int8_t* b,
                     int32_t* c) {
  const FoldPlan plan = FoldPlan::make(cfg, parse_dataflow(cfg.dataflow), s.m, s.n, s.k);
  SystolicModel model(cfg.rows, cfg.cols);
  return run_gemm(plan, cfg.fold_overlap, GemmJob{s.m, s.n, s.k, a, b, c}, model);
}

GemmTiming closed(const ArrayConfig& cfg, const Shape& s) {
  return closed_form_timing(FoldPlan::make(cfg, parse_dataflow(cfg.dataflow), s.m, s.n, s.k),
                            cfg.fold_overlap);
}

}  // namespace

TEST_CASE("one WS fold takes load R + stream M + pipeline R + C - 2", "[unit]") {
  // 8x4 array, M=5, N=4, K=8: one fold. Load 8 + 5 operands + the last operand's
  // result leaves the bottom-right PE R + C - 1 = 11 cycles after it entered:
  // 8 + (5 - 1) + 11 = 23 = 2R + C + M - 2.
  const ArrayConfig cfg = array_config(8, 4, "ws", true, "model");
  const GemmTiming t = model_run(cfg, {5, 4, 8}, nullptr, nullptr, nullptr);
  CHECK(t.cycles == 23);
  CHECK(t.fill_cycles == 8);
  CHECK(t.busy_cycles == 5);
  CHECK(t.stall_cycles == 0);
  CHECK(t.drain_cycles == 10);
  CHECK(t.folds == 1);
}

TEST_CASE("one OS fold takes stream K + pipeline R + C - 2 + drain R", "[unit]") {
  // 4x8 array, M=4, N=8, K=10: the last pair (k=9) meets PE(3,7) at 9+3+7 = 19;
  // the drain starts R cycles after the last operand (cycle 9+4 = 13), shifts 4 rows,
  // the last leaves at 13+3 and is out C cycles later: 16 + 8 = 24 = K + 2R + C - 2.
  const ArrayConfig cfg = array_config(4, 8, "os", true, "model");
  const GemmTiming t = model_run(cfg, {4, 8, 10}, nullptr, nullptr, nullptr);
  CHECK(t.cycles == 24);
  CHECK(t.fill_cycles == 0);
  CHECK(t.busy_cycles == 10);
  CHECK(t.drain_cycles == 14);
}

TEST_CASE("fold_overlap false is the classic per-fold formula", "[unit]") {
  std::mt19937_64 rng(7);
  for (auto [R, C] : {std::pair<uint32_t, uint32_t>{4, 4}, {8, 8}, {4, 8}, {16, 16}}) {
    for (const Shape& s : shapes_for(R, C, 30, rng)) {
      const uint64_t nf = (s.n + C - 1) / C, kf = (s.k + R - 1) / R, mf = (s.m + R - 1) / R;
      // WS: every fold pays 2R + C + M - 2.
      CHECK(model_run(array_config(R, C, "ws", false, "model"), s, nullptr, nullptr, nullptr)
                .cycles == nf * kf * (2 * R + C + s.m - 2));
      // OS: every fold pays the classic K + R + C - 2 plus the R-cycle drain.
      CHECK(model_run(array_config(R, C, "os", false, "model"), s, nullptr, nullptr, nullptr)
                .cycles == mf * nf * (s.k + R + C - 2 + R));
    }
  }
}

TEST_CASE("double-buffered folds hide the weight load when M >= 2R - 1", "[unit]") {
  // 4x4, WS, M=20, N=4, K=12: 3 K-folds. Loads at 0, 4, and for fold 2 when fold 0's
  // last operand (cycle 23) has left bank 0's column chains: 23 + 4 = 27; fold 2's
  // operands are due at 4 + 2*20 = 44 anyway, so no stalls:
  // last operand 4 + 3*20 - 1 = 63, out 63 + R + C - 1 = 70.
  const GemmTiming t =
      model_run(array_config(4, 4, "ws", true, "model"), {20, 4, 12}, nullptr, nullptr, nullptr);
  CHECK(t.cycles == 70);
  CHECK(t.stall_cycles == 0);
  // GEMV (M=1) on the same array: bank reuse limits it; fold f's operand enters at
  // L_f = max(S_f + R, L_{f-1} + 1) with S_f = max(S_{f-1} + R, L_{f-2} + R):
  // L = 4, 8, 12, 16; out 16 + 7 = 23 (vs 4 x (2R + C + M - 2) = 44 without overlap).
  const GemmTiming g =
      model_run(array_config(4, 4, "ws", true, "model"), {1, 4, 16}, nullptr, nullptr, nullptr);
  CHECK(g.cycles == 23);
  CHECK(g.stall_cycles == 12 - 3);
}

TEST_CASE("closed form equals the stepped model on random shapes", "[unit]") {
  std::mt19937_64 rng(11);
  for (auto [R, C] :
       {std::pair<uint32_t, uint32_t>{4, 4}, {8, 8}, {4, 8}, {8, 4}, {3, 5}, {16, 16}, {1, 1}}) {
    for (const char* df : {"ws", "os", "is"}) {
      for (bool overlap : {true, false}) {
        const ArrayConfig cfg = array_config(R, C, df, overlap, "model");
        for (const Shape& s : shapes_for(R, C, 40, rng)) {
          INFO(R << "x" << C << " " << df << " overlap " << overlap << " shape " << to_string(s));
          const GemmTiming m = model_run(cfg, s, nullptr, nullptr, nullptr);
          const GemmTiming c = closed(cfg, s);
          REQUIRE(m.cycles == c.cycles);
          REQUIRE(m.same_timing(c));
          REQUIRE(m.fill_cycles + m.busy_cycles + m.stall_cycles + m.drain_cycles == m.cycles);
        }
      }
    }
  }
}

TEST_CASE("closed form extrapolation matches stepping over many folds", "[unit]") {
  // Long jobs cross the closed form's 16-fold exact window.
  for (const char* df : {"ws", "os"})
    for (bool overlap : {true, false})
      for (const Shape& s : {Shape{1, 33, 200}, Shape{5, 40, 77}, Shape{9, 70, 3}, Shape{2, 9, 150},
                             Shape{200, 3, 1}, Shape{120, 4, 17}}) {
        const ArrayConfig cfg = array_config(4, 4, df, overlap, "model");
        INFO(df << " overlap " << overlap << " " << to_string(s));
        REQUIRE(model_run(cfg, s, nullptr, nullptr, nullptr).same_timing(closed(cfg, s)));
      }
}

TEST_CASE("the model computes the reference product in every dataflow", "[unit]") {
  std::mt19937_64 rng(3);
  for (auto [R, C] : {std::pair<uint32_t, uint32_t>{4, 4}, {8, 8}, {4, 8}, {5, 3}}) {
    for (const char* df : {"ws", "os", "is"}) {
      for (bool overlap : {true, false}) {
        for (const Shape& s : shapes_for(R, C, 20, rng)) {
          INFO(R << "x" << C << " " << df << " overlap " << overlap << " " << to_string(s));
          const auto a = random_i8(rng, size_t(s.m) * s.k);
          const auto b = random_i8(rng, size_t(s.k) * s.n);
          std::vector<int32_t> c(size_t(s.m) * s.n, 0x5a5a5a5a);
          model_run(array_config(R, C, df, overlap, "model"), s, a.data(), b.data(), c.data());
          REQUIRE(c == reference_gemm(a, b, s));
        }
      }
    }
  }
}

TEST_CASE("scratchpad traffic counts each operand byte the array reads", "[unit]") {
  // WS 4x4, M=3, N=6, K=10: N-folds 2, K-folds 3. Weights once: 10*6 = 60 bytes;
  // A once per N-fold: 2*3*10 = 60; partial sums spilled between the 3 K-folds:
  // 2 * 3*6*4 = 144 written and read back; final results 3*6*4 = 72.
  const GemmTiming t =
      model_run(array_config(4, 4, "ws", true, "model"), {3, 6, 10}, nullptr, nullptr, nullptr);
  CHECK(t.reads.weight == 60);
  CHECK(t.reads.ifmap == 60);
  CHECK(t.reads.psum == 144);
  CHECK(t.writes.psum == 144);
  CHECK(t.writes.ofmap == 72);
  // OS 4x4, same job: M-folds 1, N-folds 2: A per N-fold 2*30 = 60, B per M-fold 60,
  // no spills.
  const GemmTiming o =
      model_run(array_config(4, 4, "os", true, "model"), {3, 6, 10}, nullptr, nullptr, nullptr);
  CHECK(o.reads.ifmap == 60);
  CHECK(o.reads.weight == 60);
  CHECK(o.reads.psum == 0);
  CHECK(o.writes.ofmap == 72);
}

TEST_CASE("engine: stats, energy and utilisation", "[unit]") {
  sim::StatsRegistry reg;
  sim::EnergyLedger ledger;
  ArrayConfig cfg = array_config(4, 4, "ws", true, "closed-form");
  auto eng = make_gemm_engine(cfg, sim::StatsScope(reg, "tile0.gemm"), ledger, "tile0.gemm");
  const GemmTiming t = eng->run(GemmJob{20, 4, 12});
  // Same job as above: 70 cycles, 20*4*12 = 960 MACs on 16 PEs.
  CHECK(t.cycles == 70);
  CHECK(t.utilization() == Approx(960.0 / (70 * 16)));
  CHECK(t.mapping_efficiency() == Approx(1.0));
  CHECK(reg.value("tile0.gemm.cycles") == 70);
  CHECK(reg.value("tile0.gemm.macs") == 960);
  CHECK(reg.value("tile0.gemm.utilization") == Approx(960.0 / (70 * 16)));
  CHECK(ledger.total_pj() ==
        Approx(960 * cfg.mac_pj +
               double(t.reads.ifmap + t.reads.weight + t.reads.psum) * cfg.spad_read_pj_per_byte +
               double(t.writes.psum + t.writes.ofmap) * cfg.spad_write_pj_per_byte));
  // A partial fold: N = 3 of 4 columns used.
  const GemmTiming p = eng->run(GemmJob{20, 3, 12});
  CHECK(p.mapping_efficiency() == Approx(0.75));
  CHECK(reg.value("tile0.gemm.jobs") == 2);
}

TEST_CASE("bad input is a one-line user error", "[unit]") {
  sim::StatsRegistry reg;
  sim::EnergyLedger ledger;
  auto eng = make_gemm_engine(array_config(4, 4, "ws", true, "model"), sim::StatsScope(reg, "g"),
                              ledger, "g");
  CHECK_THROWS_AS(eng->run(GemmJob{0, 4, 4}), sim::UserError);
  CHECK_THROWS_WITH(eng->run(GemmJob{4, 4, 0}), Catch::Contains("k=0"));
  CHECK_THROWS_WITH(make_gemm_engine(array_config(4, 4, "xs", true, "model"),
                                     sim::StatsScope(reg, "h"), ledger, "h"),
                    Catch::Contains("dataflow"));
  try {
    make_gemm_engine(array_config(4, 4, "ws", true, "fast"), sim::StatsScope(reg, "i"), ledger,
                     "i");
    FAIL("no error");
  } catch (const sim::UserError& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

namespace {
// A model that corrupts one result, to show `both` names where it diverged.
class CorruptModel final : public SystolicDatapath {
 public:
  CorruptModel(uint32_t r, uint32_t c, uint64_t bad_cycle) : m_(r, c), bad_(bad_cycle) {}
  uint32_t rows() const override { return m_.rows(); }
  uint32_t cols() const override { return m_.cols(); }
  void set_pins(const ArrayPins& p) override { m_.set_pins(p); }
  bool out_valid() const override { return m_.out_valid(); }
  int32_t out(uint32_t c) const override { return m_.out(c) + (t_ >= bad_ && c == 2 ? 1 : 0); }
  void tick() override {
    m_.tick();
    ++t_;
  }

 private:
  SystolicModel m_;
  uint64_t bad_, t_ = 0;
};
}  // namespace

TEST_CASE("lockstep stops at the first divergence with fold, cycle and PE", "[unit]") {
  const ArrayConfig cfg = array_config(4, 4, "ws", true, "model");
  const FoldPlan plan = FoldPlan::make(cfg, Dataflow::kWs, 8, 8, 8);
  SystolicModel good(4, 4);
  // From cycle 30 on, column 2 is off by one. Fold f's operands enter from
  // L = 4, 12, 20, 28 (M = 8 >= 2R - 1, no stalls); the result out at cycle 30 is the
  // one that entered at 30 - (R + C - 1) = 23: fold 2.
  CorruptModel bad(4, 4, 30);
  std::vector<int8_t> a(64, 1), b(64, 1);
  std::vector<int32_t> c(64);
  CHECK_THROWS_WITH(
      run_gemm(plan, true, GemmJob{8, 8, 8, a.data(), b.data(), c.data()}, good, &bad),
      Catch::Contains("fold 2 at cycle 30, PE (3,2)"));
}

TEST_CASE("an engine reused for many jobs times each like a fresh one", "[unit]") {
  std::mt19937_64 rng(21);
  for (const char* df : {"ws", "os", "is"}) {
    sim::StatsRegistry reg;
    sim::EnergyLedger ledger;
    const ArrayConfig cfg = array_config(4, 8, df, true, "model");
    auto eng = make_gemm_engine(cfg, sim::StatsScope(reg, "g"), ledger, "g");
    for (const Shape& s : shapes_for(4, 8, 30, rng)) {
      INFO(df << " " << to_string(s));
      const auto a = random_i8(rng, size_t(s.m) * s.k);
      const auto b = random_i8(rng, size_t(s.k) * s.n);
      std::vector<int32_t> c(size_t(s.m) * s.n);
      const GemmTiming t = eng->run(GemmJob{s.m, s.n, s.k, a.data(), b.data(), c.data()});
      REQUIRE(t.same_timing(closed(cfg, s)));
      REQUIRE(c == reference_gemm(a, b, s));
    }
  }
}
