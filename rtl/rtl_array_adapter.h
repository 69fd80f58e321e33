// RtlArray over one Verilated size (V = the generated class; Traced: Verilated with
// --trace). Included only by the per-size sources CMake generates.
#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include <verilated.h>
#include <verilated_vcd_c.h>

#include "models/sim/errors.h"
#include "rtl/rtl_array.h"

namespace tessera::rtl {

namespace detail {
// Verilator ports are CData/SData/IData/QData up to 64 bits and VlWide<N> beyond.
template <class T>
inline void put8(T& port, unsigned idx, int8_t v) {
  using U = std::make_unsigned_t<T>;
  const unsigned sh = idx * 8;
  port = T((U(port) & ~(U(0xff) << sh)) | (U(uint8_t(v)) << sh));
}
template <std::size_t N>
inline void put8(VlWide<N>& port, unsigned idx, int8_t v) {
  uint32_t& w = port[idx / 4];
  const unsigned sh = (idx % 4) * 8;
  w = (w & ~(0xffu << sh)) | (uint32_t(uint8_t(v)) << sh);
}
template <class T>
inline int32_t get32(const T& port, unsigned idx) {
  return int32_t(uint32_t(uint64_t(port) >> (idx * 32)));
}
template <std::size_t N>
inline int32_t get32(const VlWide<N>& port, unsigned idx) {
  return int32_t(port[idx]);
}
}  // namespace detail

template <class V, bool Traced>
class RtlArrayAdapter final : public RtlArray {
 public:
  RtlArrayAdapter(uint32_t rows, uint32_t cols, const std::string& vcd_path)
      : rows_(rows), cols_(cols) {
    if (!Traced && !vcd_path.empty())
      throw sim::UserError("array: the " + std::to_string(rows) + "x" + std::to_string(cols) +
                           " RTL was built without tracing (more than "
                           "TESSERA_RTL_TRACE_MAX_PES PEs); no VCD");
    ctx_ = std::make_unique<VerilatedContext>();
    if (!vcd_path.empty()) ctx_->traceEverOn(true);
    top_ = std::make_unique<V>(ctx_.get(), "array");
    if constexpr (Traced) {
      if (!vcd_path.empty()) {
        vcd_ = std::make_unique<VerilatedVcdC>();
        top_->trace(vcd_.get(), 99);
        vcd_->open(vcd_path.c_str());
      }
    }
    top_->clk = 0;
    top_->eval();
    dump();
  }
  ~RtlArrayAdapter() override {
    if (vcd_) vcd_->close();
    top_->final();
  }
  uint32_t rows() const override { return rows_; }
  uint32_t cols() const override { return cols_; }

  void set_pins(const ArrayPins& p) override {
    top_->os_mode = p.os_mode;
    top_->a_valid = p.a_valid;
    top_->a_sel = p.a_sel;
    top_->a_first = p.a_first;
    top_->sh_en = p.sh_en;
    top_->sh_bank = p.sh_bank;
    for (unsigned r = 0; r < rows_; ++r) detail::put8(top_->a_vec, r, p.a ? p.a[r] : int8_t(0));
    for (unsigned c = 0; c < cols_; ++c) {
      detail::put8(top_->b_vec, c, p.b ? p.b[c] : int8_t(0));
      detail::put8(top_->w_vec, c, p.w ? p.w[c] : int8_t(0));
    }
  }
  bool out_valid() const override { return top_->out_valid; }
  int32_t out(uint32_t col) const override { return detail::get32(top_->out_vec, col); }

  void tick() override {
    top_->clk = 1;
    top_->eval();
    ++cycle_;
    ctx_->time(cycle_ * 2);
    dump();
    top_->clk = 0;
    top_->eval();
    ctx_->time(cycle_ * 2 + 1);
    dump();
  }
  uint64_t cycle() const override { return cycle_; }

 private:
  void dump() {
    if (vcd_) vcd_->dump(ctx_->time());
  }
  uint32_t rows_, cols_;
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<V> top_;
  std::unique_ptr<VerilatedVcdC> vcd_;
  uint64_t cycle_ = 0;
};

}  // namespace tessera::rtl
