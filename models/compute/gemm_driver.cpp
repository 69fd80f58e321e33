#include "models/compute/gemm_driver.h"

#include <string>
#include <vector>

#include "models/compute/gemm_timing.h"
#include "models/sim/errors.h"

namespace tessera::compute {

namespace {

// A matrix in the scratchpad as the array sees it (IS reads the operands transposed).
struct View {
  const int8_t* base = nullptr;
  uint64_t s0 = 0, s1 = 0;
  int8_t at(uint64_t i, uint64_t j) const { return base[i * s0 + j * s1]; }
};

[[noreturn]] void diverge(uint64_t fold, uint64_t cycle, uint32_t r, uint32_t c,
                          const std::string& what) {
  throw sim::SimulationError("impl both: RTL and model diverge in fold " + std::to_string(fold) +
                             " at cycle " + std::to_string(cycle) + ", PE (" + std::to_string(r) +
                             "," + std::to_string(c) + "): " + what);
}

}  // namespace

GemmTiming run_gemm(const FoldPlan& p, bool overlap, const GemmJob& job, SystolicDatapath& dp,
                    SystolicDatapath* shadow, const std::function<void()>& per_cycle) {
  const uint32_t R = p.rows, C = p.cols;
  const bool values = job.a && job.b && job.c;
  // Operand views: A' (streamed in WS, left edge in OS), B' (stationary / top edge),
  // result C'(i, j).
  View av, bv;
  uint64_t c0 = 0, c1 = 0;
  if (!p.transposed) {
    av = {job.a, p.k, 1};
    bv = {job.b, p.n, 1};
    c0 = p.n;
    c1 = 1;
  } else {
    av = {job.b, 1, p.m};  // A'(i=n, k) = B[k][n]; p.m is the original N
    bv = {job.a, 1, p.k};  // B'(k, j=m) = A[m][k]
    c0 = 1;
    c1 = p.m;
  }

  GemmTiming t;
  t.rows = R;
  t.cols = C;
  t.folds = p.folds;
  t.macs = uint64_t(p.m) * p.n * p.k;
  t.busy_cycles = p.folds * p.stream_len;
  uint64_t& stream_reads = p.os || !p.transposed ? t.reads.ifmap : t.reads.weight;
  uint64_t& stationary_reads = p.os || !p.transposed ? t.reads.weight : t.reads.ifmap;

  std::vector<int8_t> abuf(R, 0), bbuf(C, 0), wbuf(C, 0);
  ArraySequencer seq(p, overlap);
  const uint64_t expected = p.folds * (p.os ? R : p.stream_len);
  const uint64_t limit = closed_form_timing(p, overlap).cycles * 2 + 64;
  uint64_t outputs = 0;
  for (uint64_t cyc = 0;; ++cyc) {
    // Results on the pins during this cycle.
    const bool valid = dp.out_valid();
    if (shadow && shadow->out_valid() != valid)
      diverge(
          p.os ? outputs / R : outputs / p.stream_len, cyc, R - 1, C - 1,
          std::string("out_valid rtl ") + (valid ? "1" : "0") + ", model " + (valid ? "0" : "1"));
    if (valid) {
      const uint64_t o = outputs++;
      const uint64_t f = p.os ? o / R : o / p.stream_len;
      const FoldPlan::Fold g = p.fold(f);
      if (shadow) {
        for (uint32_t c = 0; c < C; ++c)
          if (dp.out(c) != shadow->out(c))
            diverge(
                f, cyc, p.os ? R - 1 - uint32_t(o % R) : R - 1, c,
                "rtl " + std::to_string(dp.out(c)) + ", model " + std::to_string(shadow->out(c)));
      }
      if (!p.os) {
        const uint64_t i = o % p.stream_len;
        if (!g.first_k) t.reads.psum += uint64_t(g.col_used) * 4;
        (g.last_k ? t.writes.ofmap : t.writes.psum) += uint64_t(g.col_used) * 4;
        if (values) {
          for (uint32_t c = 0; c < g.col_used; ++c) {
            int32_t& dst = job.c[i * c0 + (g.col0 + c) * c1];
            dst = g.first_k ? dp.out(c) : accumulate_int32(dst, dp.out(c));
          }
        }
      } else {
        const uint32_t r = R - 1 - uint32_t(o % R);
        if (r < g.row_used) {
          t.writes.ofmap += uint64_t(g.col_used) * 4;
          if (values)
            for (uint32_t c = 0; c < g.col_used; ++c)
              job.c[(g.row0 + r) * c0 + (g.col0 + c) * c1] = dp.out(c);
        }
      }
    }
    if (outputs == expected) {
      t.cycles = cyc;
      // Move the array past this cycle, so the next job does not see this job's last
      // result still on the pins (the job's timing is unaffected).
      ArrayPins idle;
      idle.os_mode = p.os;
      dp.set_pins(idle);
      dp.tick();
      if (shadow) {
        shadow->set_pins(idle);
        shadow->tick();
      }
      break;
    }
    if (cyc > limit)
      throw sim::SimulationError("array: job " + std::to_string(p.m) + "x" + std::to_string(p.n) +
                                 "x" + std::to_string(p.k) + " produced only " +
                                 std::to_string(outputs) + " of " + std::to_string(expected) +
                                 " result rows");

    // This cycle's pins.
    const ArraySequencer::Step s = seq.step();
    ArrayPins pins;
    pins.os_mode = p.os;
    if (s.issue) {
      const FoldPlan::Fold g = p.fold(s.issue_fold);
      pins.a_valid = true;
      pins.a_sel = s.issue_bank;
      pins.a_first = s.issue_first;
      if (s.issue_fold == 0 && s.issue_index == 0) t.fill_cycles = cyc;
      if (!p.os) {
        stream_reads += g.row_used;
        if (values) {
          for (uint32_t r = 0; r < R; ++r)
            abuf[r] = r < g.row_used ? av.at(s.issue_index, g.row0 + r) : 0;
          pins.a = abuf.data();
        }
      } else {
        stream_reads += g.row_used;
        stationary_reads += g.col_used;
        if (values) {
          for (uint32_t r = 0; r < R; ++r)
            abuf[r] = r < g.row_used ? av.at(g.row0 + r, s.issue_index) : 0;
          for (uint32_t c = 0; c < C; ++c)
            bbuf[c] = c < g.col_used ? bv.at(s.issue_index, g.col0 + c) : 0;
          pins.a = abuf.data();
          pins.b = bbuf.data();
        }
      }
    }
    if (s.shift) {
      pins.sh_en = true;
      pins.sh_bank = s.shift_bank;
      if (!p.os) {
        const FoldPlan::Fold g = p.fold(s.shift_fold);
        const uint32_t r = R - 1 - s.shift_index;  // bottom row's weights go in first
        if (r < g.row_used) stationary_reads += g.col_used;
        if (values) {
          for (uint32_t c = 0; c < C; ++c)
            wbuf[c] = (r < g.row_used && c < g.col_used) ? bv.at(g.row0 + r, g.col0 + c) : 0;
          pins.w = wbuf.data();
        }
      }
    }
    dp.set_pins(pins);
    if (shadow) shadow->set_pins(pins);
    dp.tick();
    if (shadow) shadow->tick();
    if (per_cycle) per_cycle();
  }
  const uint64_t last_issue = seq.last_issue();
  t.drain_cycles = t.cycles - last_issue - 1;
  t.stall_cycles = last_issue + 1 - t.fill_cycles - t.busy_cycles;
  return t;
}

}  // namespace tessera::compute
