// The C++ cycle model of systolic_array.sv: same pins, same cycle of every result,
// same int32 values. Instead of moving every operand through every PE register each
// cycle, it uses what the skewed wavefront guarantees: the operand vector entering
// at cycle t meets PE(r,c) at cycle t+r+c, so its whole effect (WS: one result row,
// OS: a rank-1 update of the accumulators) can be computed when it enters and the
// result delivered at the cycle the RTL delivers it (WS: t+R+C-1; OS drain: t+C).
// That equivalence holds while no bank is shifted under operands still in flight;
// the model checks this rule and throws sim::SimulationError if pins break it.
#pragma once

#include <deque>
#include <vector>

#include "models/compute/systolic_datapath.h"

namespace tessera::compute {

class SystolicModel final : public SystolicDatapath {
 public:
  SystolicModel(uint32_t rows, uint32_t cols);
  uint32_t rows() const override { return R_; }
  uint32_t cols() const override { return C_; }
  void set_pins(const ArrayPins& p) override { pins_ = p; }
  bool out_valid() const override { return !pending_.empty() && pending_.front().at == t_; }
  int32_t out(uint32_t col) const override { return pending_.front().row[col]; }
  void tick() override;

 private:
  struct Pending {
    uint64_t at;
    std::vector<int32_t> row;
  };
  int32_t* bank_row(int b, uint32_t r) { return &bank_[b][size_t((head_[b] + r) % R_) * C_]; }
  std::vector<int32_t> take_row();
  void hazard(const char* what, int bank) const;

  uint32_t R_, C_;
  uint64_t t_ = 0;
  ArrayPins pins_;
  std::vector<int32_t> bank_[2];  // R x C each, rows in a ring: logical row r at head+r
  uint32_t head_[2] = {0, 0};
  int64_t last_issue_[2] = {-1000000000, -1000000000};
  int64_t last_shift_[2] = {-1, -1};
  std::deque<Pending> pending_;
  std::vector<std::vector<int32_t>> free_rows_;
  bool os_mode_ = false;
  bool started_ = false;
};

}  // namespace tessera::compute
