// Bench only (gemm_cosim_bench): the systolic array Verilated with --sc, behind the
// same rtl::RtlArray handle as the --cc build (rtl/rtl_array_adapter.h), so the
// same driver and sequencer run it. The Verilated sc_module's ports are bound to
// sc_signals and to an sc_clock of the tile's period; the generated eval() is an
// SC_METHOD sensitive to the clock and to every input port.
//
// Timing: the clock's rising edges fall mid-cycle (start time = half a period), so
// cycle n of the driver is the interval [n*T, (n+1)*T). tick() must be called from
// an SC_THREAD: it waits for the falling edge at the end of the cycle, by which
// time the rising edge has sampled this cycle's inputs and the outputs it wrote are
// visible. Same cycle convention as the --cc adapter; only who calls eval() differs.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include <verilated.h>
#include <systemc>

#include "rtl/rtl_array.h"

namespace tessera::rtl {

namespace sc_detail {
// Verilator --sc ports: bool for 1 bit, uint32_t up to 32, uint64_t up to 64,
// sc_bv<W> beyond.
template <class T>
inline void put8(T& v, unsigned idx, int8_t x) {
  const unsigned sh = idx * 8;
  v = T((v & ~(T(0xff) << sh)) | (T(uint8_t(x)) << sh));
}
template <int W>
inline void put8(sc_dt::sc_bv<W>& v, unsigned idx, int8_t x) {
  const unsigned w = idx / 4, sh = (idx % 4) * 8;
  v.set_word(int(w), (v.get_word(int(w)) & ~(0xffu << sh)) | (uint32_t(uint8_t(x)) << sh));
}
template <class T>
inline int32_t get32(const T& v, unsigned idx) {
  return int32_t(uint32_t(uint64_t(v) >> (idx * 32)));
}
template <int W>
inline int32_t get32(const sc_dt::sc_bv<W>& v, unsigned idx) {
  return int32_t(v.get_word(int(idx)));
}
// The value type of a generated port member (declared as a reference to sc_in<T>).
template <class Port>
using port_t = typename std::remove_reference_t<Port>::data_type;
}  // namespace sc_detail

template <class V>
class RtlScArrayAdapter final : public RtlArray, public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(RtlScArrayAdapter);
  // eval_count (may be null): count the runs of the generated eval() method there.
  RtlScArrayAdapter(sc_core::sc_module_name name, uint32_t rows, uint32_t cols,
                    const sc_core::sc_clock& clk, uint64_t* eval_count)
      : sc_core::sc_module(name),
        rows_(rows),
        cols_(cols),
        clk_(clk),
        eval_count_(eval_count),
        dut_("dut") {
    dut_.clk(clk);
    dut_.os_mode(os_mode_);
    dut_.a_vec(a_vec_);
    dut_.a_valid(a_valid_);
    dut_.a_sel(a_sel_);
    dut_.a_first(a_first_);
    dut_.b_vec(b_vec_);
    dut_.w_vec(w_vec_);
    dut_.sh_en(sh_en_);
    dut_.sh_bank(sh_bank_);
    dut_.out_vec(out_vec_);
    dut_.out_valid(out_valid_);
    if (eval_count_) {
      // The generated constructor's sensitivity: the clock and every input port.
      SC_METHOD(count_eval);
      sensitive << clk << os_mode_ << a_valid_ << a_sel_ << a_first_ << sh_en_ << sh_bank_ << a_vec_
                << b_vec_ << w_vec_;
    }
  }
  ~RtlScArrayAdapter() override { dut_.final(); }
  uint32_t rows() const override { return rows_; }
  uint32_t cols() const override { return cols_; }

  void set_pins(const ArrayPins& p) override {
    os_mode_.write(p.os_mode);
    a_valid_.write(p.a_valid);
    a_sel_.write(p.a_sel);
    a_first_.write(p.a_first);
    sh_en_.write(p.sh_en);
    sh_bank_.write(p.sh_bank);
    auto a = a_vec_.read();
    auto b = b_vec_.read();
    auto w = w_vec_.read();
    for (unsigned r = 0; r < rows_; ++r) sc_detail::put8(a, r, p.a ? p.a[r] : int8_t(0));
    for (unsigned c = 0; c < cols_; ++c) {
      sc_detail::put8(b, c, p.b ? p.b[c] : int8_t(0));
      sc_detail::put8(w, c, p.w ? p.w[c] : int8_t(0));
    }
    a_vec_.write(a);
    b_vec_.write(b);
    w_vec_.write(w);
  }
  bool out_valid() const override { return out_valid_.read(); }
  int32_t out(uint32_t col) const override { return sc_detail::get32(out_vec_.read(), col); }
  void tick() override {
    sc_core::wait(clk_.negedge_event());
    ++cycle_;
  }
  uint64_t cycle() const override { return cycle_; }

 private:
  void count_eval() { ++*eval_count_; }
  uint32_t rows_, cols_;
  const sc_core::sc_clock& clk_;
  uint64_t* eval_count_;
  V dut_;
  sc_core::sc_signal<bool> os_mode_, a_valid_, a_sel_, a_first_, sh_en_, sh_bank_, out_valid_;
  sc_core::sc_signal<sc_detail::port_t<decltype(V::a_vec)>> a_vec_;
  sc_core::sc_signal<sc_detail::port_t<decltype(V::b_vec)>> b_vec_;
  sc_core::sc_signal<sc_detail::port_t<decltype(V::w_vec)>> w_vec_;
  sc_core::sc_signal<sc_detail::port_t<decltype(V::out_vec)>> out_vec_;
  uint64_t cycle_ = 0;
};

}  // namespace tessera::rtl
