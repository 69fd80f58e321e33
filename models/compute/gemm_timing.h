// Closed-form timing of a GEMM on the systolic array: the sequencer's rules
// (array_sequencer.h) solved without stepping cycles, in constant time. Derivation
// in docs/validation.md (systolic array section).
#pragma once

#include "models/compute/array_sequencer.h"
#include "models/compute/gemm_engine_if.h"

namespace tessera::compute {

// Cycles, fill/busy/stall/drain, MACs and scratchpad traffic of a job.
GemmTiming closed_form_timing(const FoldPlan& plan, bool fold_overlap);

// Scratchpad traffic of a job (the same bytes the stepped engines count).
void closed_form_traffic(const FoldPlan& plan, GemmTiming& t);

}  // namespace tessera::compute
