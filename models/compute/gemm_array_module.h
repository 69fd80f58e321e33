// The array as a SystemC module clocked in the tile's clock domain: run() (called
// from an SC_THREAD) advances simulated time one clock per array cycle while the
// Verilated RTL (or the C++ model) is stepped, so waveforms and the rest of the
// tile line up in time. For speed a tile should prefer GemmEngineIf::run() followed
// by one wait(clock.duration(cycles)): same cycles, no per-cycle kernel cost.
#pragma once

#include <memory>
#include <string>

#include <systemc>

#include "models/compute/gemm_engine.h"
#include "models/sim/clock_domain.h"

namespace tessera::compute {

class GemmArrayModule : public sc_core::sc_module {
 public:
  GemmArrayModule(sc_core::sc_module_name name, const ArrayConfig& cfg,
                  const sim::ClockDomain& clock, const sim::StatsScope& stats,
                  sim::EnergyLedger& ledger, const EngineOptions& opts = {});
  // From an SC_THREAD, at a clock edge: returns at the edge where the last result is
  // out, cycles later.
  GemmTiming run(const GemmJob& job);

 private:
  sim::ClockDomain clock_;
  std::unique_ptr<SteppedGemmEngine> engine_;
};

}  // namespace tessera::compute
