// The array seen at its pins, cycle by cycle: implemented by the C++ cycle model
// (systolic_model.h) and by the Verilated RTL (RtlDatapath below). The gemm driver
// drives either, or both in lockstep, with the same sequencer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rtl/rtl_array.h"

namespace tessera::compute {

using ArrayPins = rtl::ArrayPins;

class SystolicDatapath {
 public:
  virtual ~SystolicDatapath() = default;
  virtual uint32_t rows() const = 0;
  virtual uint32_t cols() const = 0;
  virtual void set_pins(const ArrayPins& p) = 0;  // for the current cycle
  virtual bool out_valid() const = 0;             // bottom edge, current cycle
  virtual int32_t out(uint32_t col) const = 0;
  virtual void tick() = 0;  // to the next cycle
};

// The Verilated array. Construction throws sim::UserError when this size was not
// built (TESSERA_RTL_SIZES).
class RtlDatapath final : public SystolicDatapath {
 public:
  RtlDatapath(uint32_t rows, uint32_t cols, const std::string& vcd_path = "");
  uint32_t rows() const override { return rtl_->rows(); }
  uint32_t cols() const override { return rtl_->cols(); }
  void set_pins(const ArrayPins& p) override { rtl_->set_pins(p); }
  bool out_valid() const override { return rtl_->out_valid(); }
  int32_t out(uint32_t col) const override { return rtl_->out(col); }
  void tick() override { rtl_->tick(); }

 private:
  std::unique_ptr<rtl::RtlArray> rtl_;
};

}  // namespace tessera::compute
