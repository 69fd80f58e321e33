// The Verilated systolic array (systolic_array.sv) behind a size-independent C++
// handle: one call per clock cycle, unskewed vectors in and out. The cycle
// convention: inputs set during cycle t are sampled by the rising edge that ends
// cycle t; outputs read during cycle t come from registers written by earlier edges.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::rtl {

struct ArrayPins {
  bool os_mode = false;
  const int8_t* a = nullptr;  // rows values, left edge (null: zeros)
  bool a_valid = false;
  bool a_sel = false;
  bool a_first = false;
  const int8_t* b = nullptr;  // cols values, top edge (OS operand; null: zeros)
  const int8_t* w = nullptr;  // cols values, top edge (WS weight load; null: zeros)
  bool sh_en = false;
  bool sh_bank = false;
};

class RtlArray {
 public:
  virtual ~RtlArray() = default;
  virtual uint32_t rows() const = 0;
  virtual uint32_t cols() const = 0;
  // Drive the pins for the current cycle.
  virtual void set_pins(const ArrayPins& p) = 0;
  // The bottom edge during the current cycle.
  virtual bool out_valid() const = 0;
  virtual int32_t out(uint32_t col) const = 0;
  // One full clock cycle (rising edge, then falling edge); dumps waveforms if open.
  virtual void tick() = 0;
  virtual uint64_t cycle() const = 0;
};

// The array of this size, or null when it was not Verilated in this build
// (TESSERA_RTL_SIZES). A non-empty vcd_path dumps a VCD waveform there.
std::unique_ptr<RtlArray> make_rtl_array(uint32_t rows, uint32_t cols,
                                         const std::string& vcd_path = "");
// Sizes built into this binary, as (rows, cols), in the order they were configured.
const std::vector<std::pair<uint32_t, uint32_t>>& built_rtl_sizes();

}  // namespace tessera::rtl
