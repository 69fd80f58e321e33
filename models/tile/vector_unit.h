// The tile's vector unit: `lanes` elements per cycle for simple ops, fewer for ops
// built on exp or rsqrt (issue interval exp_cycles / rsqrt_cycles per lane), and
// bounded by the scratchpad bandwidth it streams operands through.
#pragma once

#include <cstdint>

#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "models/tile/program.h"
#include "models/tile/scratchpad.h"
#include "models/tile/tile_config.h"

namespace tessera::tile {

struct VectorTiming {
  uint64_t cycles = 0;
  uint64_t lane_ops = 0;    // lane-cycles of work (energy)
  uint64_t sram_bytes = 0;  // bytes moved through the scratchpad
};

// Lane-cycles per output element of `op` (passes over the data times their cost) in
// `pass` of a row-wise op (the other ops have one).
uint64_t vector_cost_per_element(const VectorConfig& cfg, VecOp op, RowPass pass = RowPass::kWhole);
// Lane-cycles of work of one command on a unit of this config (what its energy is
// charged for, and what `lanes` lanes take lane_ops / lanes cycles to compute): pure, so
// that the report can bound an op by it.
uint64_t vector_lane_ops(const VectorConfig& cfg, const VectorDesc& d);

class VectorUnit {
 public:
  VectorUnit(const VectorConfig& cfg, const sim::StatsScope& stats, sim::EnergyLedger& energy,
             const std::string& component);
  // Timing of one command; pure (no stats), so the mapper and tests can ask.
  VectorTiming timing(const VectorDesc& d, const Scratchpad& spm) const;
  // Timing plus statistics and energy.
  VectorTiming execute(const VectorDesc& d, Scratchpad& spm);

 private:
  VectorConfig cfg_;
  sim::Counter& busy_;
  sim::Counter& ops_;
  sim::Counter& elements_;
  sim::EnergyAccount& energy_;
};

}  // namespace tessera::tile
