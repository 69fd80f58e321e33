// The array's controller: how a GEMM is cut into array-sized folds, and, cycle by
// cycle, when each fold's weights are loaded (WS), its operands enter, and its
// results are drained (OS). The same sequencer drives the C++ datapath model and the
// Verilated RTL, so both see the same pins; the closed form (gemm_timing.h) solves
// the same rules without stepping.
//
// Rules (R rows, C cols; a fold streams L operand vectors, one per cycle):
//   WS  load fold f into bank f%2: R cycles on the column shift chains, one load at
//       a time; bank f%2 must be idle: f < 2 or t >= last operand of fold f-2 + R.
//       Operands of fold f enter from load start + R, in order after fold f-1.
//   OS  operands of fold f enter once bank f%2 is drained: f < 2 or t >= drain start
//       of fold f-2 + R. Drain fold f (R cycles) from last operand + R, one drain
//       at a time.
//   fold_overlap false: a fold starts only when the previous fold's last result
//       has left the array (WS: last operand + R + C - 1; OS: drain + R + C - 1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/compute/array_config.h"

namespace tessera::compute {

enum class Dataflow { kWs, kOs, kIs };
// "ws" | "os" | "is"; anything else throws sim::UserError.
Dataflow parse_dataflow(const std::string& name);

// A GEMM as the array sees it. IS runs as WS on the transposed problem
// (C^T = B^T A^T): B^T streams through, A^T stays in the PEs.
struct FoldPlan {
  bool os = false;
  bool transposed = false;  // IS
  uint32_t rows = 0, cols = 0;
  uint32_t m = 0, n = 0, k = 0;   // the problem as the array sees it
  uint64_t outer = 0, inner = 0;  // WS: N-folds x K-folds; OS: M-folds x N-folds
  uint64_t folds = 0;
  uint64_t stream_len = 0;  // operand vectors per fold: WS M, OS K

  static FoldPlan make(const ArrayConfig& cfg, Dataflow df, uint32_t m, uint32_t n, uint32_t k);

  // Geometry of fold f: WS: rows hold k0..k0+ku-1, cols n0..n0+nu-1.
  // OS: rows hold m0.., cols n0...
  struct Fold {
    uint32_t row0, row_used;  // WS: k range; OS: m range
    uint32_t col0, col_used;  // n range
    bool first_k, last_k;     // WS: first / last K-fold of its column block
  };
  Fold fold(uint64_t f) const;
};

class ArraySequencer {
 public:
  ArraySequencer(const FoldPlan& plan, bool fold_overlap);

  struct Step {
    bool shift = false;  // WS: load one row of weights; OS: drain one row of results
    bool shift_bank = false;
    uint64_t shift_fold = 0;
    uint32_t shift_index = 0;  // 0..R-1 (WS: array row R-1-i; OS: result of row R-1-i)
    bool issue = false;        // one operand vector enters
    bool issue_bank = false;
    bool issue_first = false;  // first operand of its fold
    uint64_t issue_fold = 0;
    uint64_t issue_index = 0;  // WS: row m of A; OS: k
  };
  // The decisions for the current cycle; then the sequencer moves to the next cycle.
  Step step();
  uint64_t cycle() const { return t_; }
  bool all_issued() const { return sf_ == plan_.folds; }
  uint64_t first_issue() const { return first_issue_; }
  uint64_t last_issue() const { return last_issue_.empty() ? 0 : last_issue_.back(); }

 private:
  FoldPlan plan_;
  bool overlap_;
  uint64_t t_ = 0;
  uint64_t sf_ = 0, spos_ = 0;  // streaming fold and its next operand
  uint64_t shf_ = 0;            // fold of the load (WS) / drain (OS) unit
  uint32_t shpos_ = 0;          // its progress; 0 = idle
  bool shifting_ = false;
  std::vector<uint64_t> shift_start_;  // per fold
  std::vector<uint64_t> last_issue_;   // per fold, once fully issued
  uint64_t first_issue_ = 0;
};

}  // namespace tessera::compute
