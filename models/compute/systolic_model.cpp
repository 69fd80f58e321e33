#include "models/compute/systolic_model.h"

#include <cstring>
#include <string>

#include "models/sim/errors.h"

namespace tessera::compute {

RtlDatapath::RtlDatapath(uint32_t rows, uint32_t cols, const std::string& vcd_path)
    : rtl_(rtl::make_rtl_array(rows, cols, vcd_path)) {
  if (!rtl_) {
    std::string built;
    for (const auto& [r, c] : rtl::built_rtl_sizes())
      built += (built.empty() ? "" : ", ") + std::to_string(r) + "x" + std::to_string(c);
    throw sim::UserError("array: no RTL built for " + std::to_string(rows) + "x" +
                         std::to_string(cols) + " (built: " + built +
                         "; add it to TESSERA_RTL_SIZES)");
  }
}

SystolicModel::SystolicModel(uint32_t rows, uint32_t cols) : R_(rows), C_(cols) {
  bank_[0].assign(size_t(R_) * C_, 0);
  bank_[1].assign(size_t(R_) * C_, 0);
}

std::vector<int32_t> SystolicModel::take_row() {
  if (free_rows_.empty()) return std::vector<int32_t>(C_, 0);
  std::vector<int32_t> v = std::move(free_rows_.back());
  free_rows_.pop_back();
  return v;
}

void SystolicModel::hazard(const char* what, int bank) const {
  throw sim::SimulationError("array model: " + std::string(what) + " on bank " +
                             std::to_string(bank) + " at cycle " + std::to_string(t_) +
                             " while operands of that bank are in flight");
}

void SystolicModel::tick() {
  const ArrayPins& p = pins_;
  if (!started_) {
    os_mode_ = p.os_mode;
    started_ = true;
  }
  const int64_t t = int64_t(t_);
  // The operand vector entering now (reads the banks as they are before this edge).
  if (p.a_valid) {
    const int b = p.a_sel;
    if (last_shift_[b] == t) hazard("operand entering during a shift", b);
    last_issue_[b] = t;
    if (!os_mode_) {
      std::vector<int32_t> row = take_row();
      std::fill(row.begin(), row.end(), 0);
      if (p.a) {
        // Wrapping int32 arithmetic, as in the RTL.
        uint32_t* acc = reinterpret_cast<uint32_t*>(row.data());
        for (uint32_t r = 0; r < R_; ++r) {
          const int32_t a = p.a[r];
          if (a == 0) continue;
          const int32_t* w = bank_row(b, r);
          for (uint32_t c = 0; c < C_; ++c) acc[c] += uint32_t(a * int32_t(int8_t(w[c])));
        }
      }
      pending_.push_back({t_ + R_ + C_ - 1, std::move(row)});
    } else {
      if (p.a && p.b) {
        for (uint32_t r = 0; r < R_; ++r) {
          uint32_t* acc = reinterpret_cast<uint32_t*>(bank_row(b, r));
          const int32_t a = p.a[r];
          if (p.a_first) {
            for (uint32_t c = 0; c < C_; ++c) acc[c] = uint32_t(a * int32_t(p.b[c]));
          } else if (a != 0) {
            for (uint32_t c = 0; c < C_; ++c) acc[c] += uint32_t(a * int32_t(p.b[c]));
          }
        }
      } else if (p.a_first) {
        std::memset(bank_[b].data(), 0, bank_[b].size() * sizeof(int32_t));
      }
    }
  }
  // One shift of a bank down its column chains: row R-1 leaves, the top row loads w.
  if (p.sh_en) {
    const int b = p.sh_bank;
    if (last_issue_[b] + int64_t(R_) > t) hazard("shift", b);
    last_shift_[b] = t;
    head_[b] = (head_[b] + R_ - 1) % R_;
    int32_t* top = bank_row(b, 0);  // the old bottom row, now leaving
    if (os_mode_) {
      std::vector<int32_t> row = take_row();
      std::memcpy(row.data(), top, C_ * sizeof(int32_t));
      pending_.push_back({t_ + C_, std::move(row)});
    }
    for (uint32_t c = 0; c < C_; ++c) top[c] = p.w ? int32_t(p.w[c]) : 0;
  }
  ++t_;
  while (!pending_.empty() && pending_.front().at < t_) {
    free_rows_.push_back(std::move(pending_.front().row));
    pending_.pop_front();
  }
}

}  // namespace tessera::compute
