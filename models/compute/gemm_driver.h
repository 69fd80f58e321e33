// Runs one GEMM on a pin-level array (the C++ model, the RTL, or both in lockstep):
// the sequencer decides each cycle's pins, the driver feeds them from the scratchpad
// operands, collects result rows into C (accumulating K-folds) and counts the
// scratchpad traffic. The job ends in the cycle its last result is on the pins.
#pragma once

#include <functional>

#include "models/compute/array_sequencer.h"
#include "models/compute/gemm_engine_if.h"
#include "models/compute/systolic_datapath.h"

namespace tessera::compute {

// `shadow` (may be null) runs in lockstep; the first cycle where its pins differ
// throws sim::SimulationError naming fold, cycle and PE. `per_cycle` (may be empty)
// is called once per simulated cycle, e.g. to wait one clock in SystemC.
GemmTiming run_gemm(const FoldPlan& plan, bool fold_overlap, const GemmJob& job,
                    SystolicDatapath& dp, SystolicDatapath* shadow = nullptr,
                    const std::function<void()>& per_cycle = {});

}  // namespace tessera::compute
