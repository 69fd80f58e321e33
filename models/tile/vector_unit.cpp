#include "models/tile/vector_unit.h"

#include <algorithm>

namespace tessera::tile {

VectorUnit::VectorUnit(const VectorConfig& cfg, const sim::StatsScope& stats,
                       sim::EnergyLedger& energy, const std::string& component)
    : cfg_(cfg),
      busy_(stats.counter("busy_cycles", "cycles", "cycles the vector unit worked")),
      ops_(stats.counter("commands", "commands", "vector commands executed")),
      elements_(stats.counter("elements", "elements", "output elements produced")),
      energy_(energy.account(component, "lane_op", cfg.op_pj)) {}

uint64_t vector_cost_per_element(const VectorConfig& cfg, VecOp op, RowPass pass) {
  // A row too long for the scratchpad, in two passes over its pieces: the statistics
  // pass does the whole op's reductions (softmax: the max and the exp-sum in one online
  // pass, rescaling the sum when the max grows; layer norm: mean and variance in one
  // pass), the apply pass normalises (softmax: the exponentials again, then the scale).
  const bool stats = pass == RowPass::kStats, apply = pass == RowPass::kApply;
  if (stats || apply) {
    switch (op) {
      case VecOp::kSoftmax:  // stats: max, exp and sum; apply: exp again, scale
        return 1 + cfg.exp_cycles;
      case VecOp::kLayerNorm:
        return stats ? 2 : 1;
      case VecOp::kRmsNorm:
        return 1;
      default:
        break;
    }
  }
  switch (op) {
    case VecOp::kAdd:
    case VecOp::kMul:
    case VecOp::kCopy:
    case VecOp::kReduceSum:
      return 1;
    case VecOp::kGelu:  // tanh form: one exp plus a few multiply-adds
    case VecOp::kSilu:  // x * sigmoid(x): one exp, one divide folded into rsqrt unit
      return cfg.exp_cycles + 1;
    case VecOp::kSoftmax:  // max pass, exp-and-sum pass, scale pass
      return 1 + cfg.exp_cycles + 1;
    case VecOp::kLayerNorm:  // mean pass, variance pass, normalise pass
      return 3;
    case VecOp::kRmsNorm:  // sum-of-squares pass, normalise pass
      return 2;
    case VecOp::kTopK:  // compare-select pass per chosen element, k small
      return 2;
  }
  return 1;
}

uint64_t vector_lane_ops(const VectorConfig& cfg, const VectorDesc& d) {
  if (d.elements == 0) return 0;
  // Per output element: the op, and one more lane op for each input it folds in beyond
  // the op's own. Add, multiply and sum combine their inputs: n inputs take n - 1 ops
  // (a residual add one, a K-split reduction of n partials n - 1); until the tenth
  // session every op was charged once per input, twice the work of a binary add.
  const uint64_t extra = d.inputs > 1 ? d.inputs - 1 : 0;
  const bool combining = d.op == VecOp::kAdd || d.op == VecOp::kMul || d.op == VecOp::kReduceSum;
  uint64_t ops = d.elements * (combining ? std::max<uint64_t>(1, extra)
                                         : vector_cost_per_element(cfg, d.op, d.pass) + extra);
  // Row-wise ops finish each row with one reciprocal square root / reciprocal (a cut
  // row at the end of its statistics pass).
  const bool row_wise =
      d.op == VecOp::kSoftmax || d.op == VecOp::kLayerNorm || d.op == VecOp::kRmsNorm;
  if (row_wise && d.pass != RowPass::kApply) ops += d.rows * cfg.rsqrt_cycles;
  return ops;
}

VectorTiming VectorUnit::timing(const VectorDesc& d, const Scratchpad& spm) const {
  VectorTiming t;
  if (d.elements == 0) return t;
  t.lane_ops = vector_lane_ops(cfg_, d);
  const uint64_t compute = (t.lane_ops + cfg_.lanes - 1) / cfg_.lanes;
  const uint64_t outputs = d.pass == RowPass::kStats ? 0 : 1;  // statistics stay in registers
  t.sram_bytes = d.elements * d.elem_bytes * (uint64_t(d.inputs) + outputs);
  const uint64_t sram = spm.stream_cycles(t.sram_bytes);
  t.cycles = cfg_.pipeline_depth + std::max(compute, sram);
  return t;
}

VectorTiming VectorUnit::execute(const VectorDesc& d, Scratchpad& spm) {
  const VectorTiming t = timing(d, spm);
  busy_ += t.cycles;
  ++ops_;
  if (d.pass != RowPass::kStats) elements_ += d.elements;  // outputs only
  energy_.charge(t.lane_ops);
  spm.record_read(SpmClient::kVector, d.elements * d.elem_bytes * d.inputs);
  if (d.pass != RowPass::kStats) spm.record_write(SpmClient::kVector, d.elements * d.elem_bytes);
  return t;
}

}  // namespace tessera::tile
