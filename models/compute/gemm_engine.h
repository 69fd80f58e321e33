// The GEMM engines behind GemmEngineIf: stepped (C++ model, RTL, or both in
// lockstep) and closed-form. They share statistics and energy accounting.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "models/compute/array_sequencer.h"
#include "models/compute/gemm_engine_if.h"
#include "models/compute/systolic_datapath.h"

namespace tessera::compute {

struct EngineOptions {
  std::string vcd_path;  // impl rtl|both: dump the RTL's waveform here
};

std::unique_ptr<GemmEngineIf> make_gemm_engine(const ArrayConfig& cfg, const sim::StatsScope& stats,
                                               sim::EnergyLedger& ledger,
                                               const std::string& component_name,
                                               const EngineOptions& opts);

class GemmEngineBase : public GemmEngineIf {
 public:
  GemmEngineBase(const ArrayConfig& cfg, const sim::StatsScope& stats, sim::EnergyLedger& ledger,
                 const std::string& component_name);
  GemmTiming run(const GemmJob& job) final;
  const ArrayConfig& config() const final { return cfg_; }

 protected:
  virtual GemmTiming execute(const FoldPlan& plan, const GemmJob& job) = 0;
  ArrayConfig cfg_;
  Dataflow dataflow_;

 private:
  void account(const GemmTiming& t);
  struct Stats;
  std::unique_ptr<Stats> st_;
  sim::EnergyAccount* mac_e_;
  sim::EnergyAccount* rd_e_;
  sim::EnergyAccount* wr_e_;
};

// Steps the datapath cycle by cycle: impl model, rtl or both.
class SteppedGemmEngine final : public GemmEngineBase {
 public:
  SteppedGemmEngine(const ArrayConfig& cfg, const sim::StatsScope& stats, sim::EnergyLedger& ledger,
                    const std::string& component_name, const EngineOptions& opts = {});
  ~SteppedGemmEngine() override;
  // Called once per simulated cycle (co-simulation: wait one clock in SystemC).
  void set_per_cycle(std::function<void()> fn) { per_cycle_ = std::move(fn); }

 protected:
  GemmTiming execute(const FoldPlan& plan, const GemmJob& job) override;

 private:
  std::unique_ptr<SystolicDatapath> primary_;
  std::unique_ptr<SystolicDatapath> shadow_;
  std::function<void()> per_cycle_;
};

class ClosedFormGemmEngine final : public GemmEngineBase {
 public:
  using GemmEngineBase::GemmEngineBase;

 protected:
  GemmTiming execute(const FoldPlan& plan, const GemmJob& job) override;
};

}  // namespace tessera::compute
