#include "models/compute/array_sequencer.h"

#include <algorithm>

#include "models/sim/errors.h"

namespace tessera::compute {

namespace {
uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}
}  // namespace

Dataflow parse_dataflow(const std::string& name) {
  if (name == "ws") return Dataflow::kWs;
  if (name == "os") return Dataflow::kOs;
  if (name == "is") return Dataflow::kIs;
  throw sim::UserError("dataflow: unknown '" + name + "' (one of: ws, os, is)");
}

FoldPlan FoldPlan::make(const ArrayConfig& cfg, Dataflow df, uint32_t m, uint32_t n, uint32_t k) {
  if (m == 0 || n == 0 || k == 0)
    throw sim::UserError("gemm: dimensions must be at least 1 (got m=" + std::to_string(m) +
                         " n=" + std::to_string(n) + " k=" + std::to_string(k) + ")");
  if (cfg.rows == 0 || cfg.cols == 0) throw sim::UserError("array: rows and cols must be >= 1");
  FoldPlan p;
  p.rows = cfg.rows;
  p.cols = cfg.cols;
  p.os = df == Dataflow::kOs;
  p.transposed = df == Dataflow::kIs;
  p.m = p.transposed ? n : m;
  p.n = p.transposed ? m : n;
  p.k = k;
  if (p.os) {
    p.outer = ceil_div(p.m, p.rows);
    p.inner = ceil_div(p.n, p.cols);
    p.stream_len = p.k;
  } else {
    p.outer = ceil_div(p.n, p.cols);
    p.inner = ceil_div(p.k, p.rows);
    p.stream_len = p.m;
  }
  p.folds = p.outer * p.inner;
  return p;
}

FoldPlan::Fold FoldPlan::fold(uint64_t f) const {
  const uint64_t o = f / inner, i = f % inner;
  Fold x{};
  if (os) {
    x.row0 = uint32_t(o * rows);
    x.col0 = uint32_t(i * cols);
    x.first_k = x.last_k = true;
    x.row_used = std::min<uint32_t>(rows, m - x.row0);
  } else {
    x.col0 = uint32_t(o * cols);
    x.row0 = uint32_t(i * rows);
    x.first_k = i == 0;
    x.last_k = i + 1 == inner;
    x.row_used = std::min<uint32_t>(rows, k - x.row0);
  }
  x.col_used = std::min<uint32_t>(cols, n - x.col0);
  return x;
}

ArraySequencer::ArraySequencer(const FoldPlan& plan, bool fold_overlap)
    : plan_(plan), overlap_(fold_overlap) {
  shift_start_.reserve(plan.folds);
  last_issue_.reserve(plan.folds);
}

ArraySequencer::Step ArraySequencer::step() {
  const uint64_t t = t_++;
  const uint32_t R = plan_.rows, C = plan_.cols;
  const uint64_t F = plan_.folds, L = plan_.stream_len;
  Step s;
  if (!plan_.os) {
    // Weight load unit.
    if (!shifting_ && shf_ < F) {
      const uint64_t f = shf_;
      bool ok;
      if (overlap_)
        ok = f < 2 || (last_issue_.size() > f - 2 && t >= last_issue_[f - 2] + R);
      else
        ok = f == 0 || (last_issue_.size() > f - 1 && t >= last_issue_[f - 1] + R + C - 1);
      if (ok) {
        shifting_ = true;
        shpos_ = 0;
        shift_start_.push_back(t);
      }
    }
    if (shifting_) {
      s.shift = true;
      s.shift_fold = shf_;
      s.shift_bank = shf_ & 1;
      s.shift_index = shpos_;
      if (++shpos_ == R) {
        shifting_ = false;
        ++shf_;
      }
    }
    // Operand stream: fold sf once its weights are in.
    if (sf_ < F && sf_ < shf_ && t >= shift_start_[sf_] + R) {
      if (sf_ == 0 && spos_ == 0) first_issue_ = t;
      s.issue = true;
      s.issue_fold = sf_;
      s.issue_bank = sf_ & 1;
      s.issue_first = spos_ == 0;
      s.issue_index = spos_;
      if (++spos_ == L) {
        last_issue_.push_back(t);
        ++sf_;
        spos_ = 0;
      }
    }
  } else {
    // Drain unit: fold shf once all its operands are in and reduced.
    if (!shifting_ && shf_ < sf_ && t >= last_issue_[shf_] + R) {
      shifting_ = true;
      shpos_ = 0;
      shift_start_.push_back(t);
    }
    if (shifting_) {
      s.shift = true;
      s.shift_fold = shf_;
      s.shift_bank = shf_ & 1;
      s.shift_index = shpos_;
      if (++shpos_ == R) {
        shifting_ = false;
        ++shf_;
      }
    }
    // Operand stream: a new fold needs its accumulator bank drained.
    if (sf_ < F) {
      bool ok = spos_ > 0;
      if (!ok) {
        const uint64_t f = sf_;
        if (overlap_)
          ok = f < 2 || (shf_ > f - 2 && t >= shift_start_[f - 2] + R);
        else
          ok = f == 0 || (shf_ > f - 1 && t >= shift_start_[f - 1] + R + C - 1);
      }
      if (ok) {
        if (sf_ == 0 && spos_ == 0) first_issue_ = t;
        s.issue = true;
        s.issue_fold = sf_;
        s.issue_bank = sf_ & 1;
        s.issue_first = spos_ == 0;
        s.issue_index = spos_;
        if (++spos_ == L) {
          last_issue_.push_back(t);
          ++sf_;
          spos_ = 0;
        }
      }
    }
  }
  return s;
}

}  // namespace tessera::compute
