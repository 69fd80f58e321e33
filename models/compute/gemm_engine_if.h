// The one interface a tile uses to run a GEMM on its systolic array, whatever the
// implementation behind it (tile.array.impl): the stepped C++ cycle model, the
// Verilated RTL, both in lockstep, or the closed-form timing.
//
// Use from a tile: call run() from an SC_THREAD (it returns at once, in zero
// simulated time), then wait(clock.duration(timing.cycles)) in the tile's clock
// domain. Every implementation returns identical timing for the same job and config.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "models/compute/array_config.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"

namespace tessera::compute {

// C[M x N] = A[M x K] * B[K x N], int8 operands, int32 result, all row-major in the
// scratchpad. Null pointers: timing only (no values are computed or written).
struct GemmJob {
  uint32_t m = 1;
  uint32_t n = 1;
  uint32_t k = 1;
  const int8_t* a = nullptr;
  const int8_t* b = nullptr;
  int32_t* c = nullptr;  // overwritten with A * B
};

// Adds two int32 partial sums as an int32 accumulator does: two's complement that
// wraps on overflow (a signed + in C++ is undefined there).
inline int32_t accumulate_int32(int32_t sum, int32_t add) {
  return int32_t(uint32_t(sum) + uint32_t(add));
}

// Scratchpad traffic of one job, in bytes.
struct SpadTraffic {
  uint64_t ifmap = 0;   // A (reads only)
  uint64_t weight = 0;  // B (reads only)
  uint64_t psum = 0;    // int32 partial sums spilled between K-folds
  uint64_t ofmap = 0;   // int32 final results (writes only)
  bool operator==(const SpadTraffic& o) const {
    return ifmap == o.ifmap && weight == o.weight && psum == o.psum && ofmap == o.ofmap;
  }
};

// Timing of one job. cycles = fill + busy + stall + drain.
struct GemmTiming {
  uint64_t cycles = 0;        // from start until the last result is on the array's output
  uint64_t folds = 0;         // array-sized pieces the job was cut into
  uint64_t busy_cycles = 0;   // cycles an operand vector entered the array
  uint64_t fill_cycles = 0;   // before the first operand entered (first weight load)
  uint64_t stall_cycles = 0;  // between first and last operand, waiting for a bank
  uint64_t drain_cycles = 0;  // after the last operand until the last result is out
  uint64_t macs = 0;          // useful multiply-accumulates, M*N*K
  SpadTraffic reads;
  SpadTraffic writes;
  uint32_t rows = 0, cols = 0;  // the array that ran it
  // Useful MACs over the array's capacity in the job's cycles.
  double utilization() const {
    return cycles ? double(macs) / (double(cycles) * rows * cols) : 0.0;
  }
  // Useful MACs over the PE slots the folds occupy while operands stream
  // (1.0 when every fold fills the whole array).
  double mapping_efficiency() const {
    return busy_cycles ? double(macs) / (double(busy_cycles) * rows * cols) : 0.0;
  }
  bool same_timing(const GemmTiming& o) const {
    return cycles == o.cycles && folds == o.folds && busy_cycles == o.busy_cycles &&
           fill_cycles == o.fill_cycles && stall_cycles == o.stall_cycles &&
           drain_cycles == o.drain_cycles && macs == o.macs && reads == o.reads &&
           writes == o.writes;
  }
};

class GemmEngineIf {
 public:
  virtual ~GemmEngineIf() = default;
  // Runs one job (values when the job has operands), updates statistics and energy,
  // and returns its timing. Bad dimensions throw sim::UserError; an RTL/model
  // divergence (impl: both) throws sim::SimulationError naming fold, cycle and PE.
  virtual GemmTiming run(const GemmJob& job) = 0;
  virtual const ArrayConfig& config() const = 0;
};

// The engine cfg.impl names. Stats go under `stats` (busy_cycles, macs, ...), energy
// into `ledger` under `component_name`. impl rtl/both with a size that was not
// Verilated throws sim::UserError (exit 2).
std::unique_ptr<GemmEngineIf> make_gemm_engine(const ArrayConfig& cfg, const sim::StatsScope& stats,
                                               sim::EnergyLedger& ledger,
                                               const std::string& component_name);

}  // namespace tessera::compute
