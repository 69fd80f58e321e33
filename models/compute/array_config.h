// Configuration of a tile's systolic GEMM array.
#pragma once

#include <cstdint>
#include <string>

#include "models/sim/config_schema.h"

namespace tessera::compute {

struct ArrayConfig {
  uint32_t rows = 16;
  uint32_t cols = 16;
  std::string dataflow = "ws";
  bool fold_overlap = true;
  std::string impl = "model";
  // Energy, int8 MAC and its operand registers. Horowitz, "Computing's energy
  // problem", ISSCC 2014, 45 nm: 8-bit multiply 0.2 pJ, 32-bit add 0.1 pJ.
  double mac_pj = 0.3;
  // Scratchpad traffic of the array's operands, per byte. Horowitz 2014: an 8 KB SRAM
  // reads 64 bits for about 10 pJ at 45 nm, i.e. 1.25 pJ/byte. The array charges these
  // for the operand and partial-sum traffic it causes; the scratchpad model should not
  // charge the same bytes again.
  double spad_read_pj_per_byte = 1.25;
  double spad_write_pj_per_byte = 1.25;

  template <class V>
  void visit(V& v) {
    v.field("rows", rows, "PEs", "rows of processing elements (the reduction side in WS)",
            sim::Range{1, 1024});
    v.field("cols", cols, "PEs", "columns of processing elements", sim::Range{1, 1024});
    v.choice("dataflow", dataflow, {"ws", "os", "is"},
             "weight-, output- or input-stationary dataflow");
    v.field("fold_overlap", fold_overlap, "",
            "true: next fold's operands load while the current fold computes "
            "(double-buffered PEs); false: every fold pays fill and drain again",
            sim::Range{});
    v.choice("impl", impl, {"model", "rtl", "both", "closed-form"},
             "cycle model, Verilated RTL, both in lockstep, or closed-form timing only");
    v.field("mac_pj", mac_pj, "pJ", "energy of one int8 multiply-accumulate", sim::Range{0, 1e3});
    v.field("spad_read_pj_per_byte", spad_read_pj_per_byte, "pJ",
            "energy per byte the array reads from the scratchpad (operands, partial sums)",
            sim::Range{0, 1e3});
    v.field("spad_write_pj_per_byte", spad_write_pj_per_byte, "pJ",
            "energy per byte the array writes to the scratchpad (partial sums, results)",
            sim::Range{0, 1e3});
    v.check(uint64_t(rows) * cols <= (1u << 20), "rows", "the array may hold at most 2^20 PEs");
  }
};

}  // namespace tessera::compute
