#include "models/compute/gemm_timing.h"

#include <algorithm>

namespace tessera::compute {

namespace {

// First and last operand cycle and the cycle the last result is out.
struct Span {
  uint64_t first_issue, last_issue, end;
};

// The per-fold recurrences are max-plus linear with constant coefficients, so after a
// short transient the start times grow by a constant every two folds. Solve the
// first folds exactly, then extrapolate once the two-fold increment has settled
// (checked on three consecutive pairs; otherwise keep iterating).
template <class Next>
uint64_t solve_last(uint64_t folds, uint64_t x0, uint64_t y0, Next next, uint64_t* y_last) {
  // x: the fold's first operand cycle (L_f), y: the auxiliary start (WS load S_f,
  // OS drain D_f). next(f, hist) computes fold f from folds f-1 and f-2.
  constexpr int kWindow = 16;
  uint64_t xs[kWindow], ys[kWindow];
  xs[0] = x0;
  ys[0] = y0;
  uint64_t f = 1;
  for (; f < folds && f < kWindow; ++f) next(f, xs, ys);
  if (folds <= uint64_t(kWindow)) {
    *y_last = ys[folds - 1];
    return xs[folds - 1];
  }
  // Settled: X[f] - X[f-2] equal for f = 13, 14, 15 and likewise for Y.
  const uint64_t dx = xs[15] - xs[13], dy = ys[15] - ys[13];
  bool settled = xs[14] - xs[12] == dx && xs[13] - xs[11] == dx && ys[14] - ys[12] == dy &&
                 ys[13] - ys[11] == dy;
  if (settled) {
    const uint64_t last = folds - 1;
    const uint64_t base = (last % 2 == 15 % 2) ? 15 : 14;
    const uint64_t pairs = (last - base) / 2;
    *y_last = ys[base] + pairs * dy;
    return xs[base] + pairs * dx;
  }
  // Not settled within the window: iterate the rest (never seen; kept for safety).
  uint64_t px = xs[15], ppx = xs[14], py = ys[15], ppy = ys[14];
  for (; f < folds; ++f) {
    uint64_t wx[3] = {ppx, px, 0}, wy[3] = {ppy, py, 0};
    next(2, wx, wy);
    ppx = px;
    px = wx[2];
    ppy = py;
    py = wy[2];
  }
  *y_last = py;
  return px;
}

Span span(const FoldPlan& p, bool overlap) {
  const uint64_t R = p.rows, C = p.cols, F = p.folds, L = p.stream_len;
  Span s{};
  if (!p.os) {
    // WS. S_f: load start, L_f: first operand. One fold: load R, stream L, and the
    // last result leaves R + C - 1 cycles after the last operand.
    if (!overlap) {
      const uint64_t per_fold = 2 * R + C + L - 2;
      s.first_issue = R;
      s.end = F * per_fold;
      s.last_issue = s.end - (R + C - 1);
      return s;
    }
    uint64_t y_last = 0;
    const uint64_t x_last = solve_last(
        F, R, 0,
        [&](uint64_t f, uint64_t* x, uint64_t* y) {
          // S_f = max(S_{f-1} + R, L_{f-2} + L - 1 + R); L_f = max(S_f + R, L_{f-1} + L)
          uint64_t sf = y[f - 1] + R;
          if (f >= 2) sf = std::max(sf, x[f - 2] + L - 1 + R);
          y[f] = sf;
          x[f] = std::max(sf + R, x[f - 1] + L);
        },
        &y_last);
    s.first_issue = R;
    s.last_issue = x_last + L - 1;
    s.end = s.last_issue + R + C - 1;
    return s;
  }
  // OS. L_f: first operand, D_f: drain start. The last result of a fold is out
  // C cycles after its last drain shift.
  if (!overlap) {
    const uint64_t per_fold = L + 2 * R + C - 2;
    s.first_issue = 0;
    s.end = F * per_fold;
    s.last_issue = s.end - per_fold + L - 1;
    return s;
  }
  uint64_t d_last = 0;
  const uint64_t x_last = solve_last(
      F, 0, L - 1 + R,
      [&](uint64_t f, uint64_t* x, uint64_t* d) {
        // L_f = max(L_{f-1} + L, D_{f-2} + R); D_f = max(D_{f-1} + R, L_f + L - 1 + R)
        uint64_t lf = x[f - 1] + L;
        if (f >= 2) lf = std::max(lf, d[f - 2] + R);
        x[f] = lf;
        d[f] = std::max(d[f - 1] + R, lf + L - 1 + R);
      },
      &d_last);
  s.first_issue = 0;
  s.last_issue = x_last + L - 1;
  s.end = d_last + R + C - 1;
  return s;
}

}  // namespace

void closed_form_traffic(const FoldPlan& p, GemmTiming& t) {
  const uint64_t M = p.m, N = p.n, K = p.k;
  t.reads = {};
  t.writes = {};
  if (p.os) {
    // Every fold streams its rows of A and columns of B once through the array.
    t.reads.ifmap = M * K * p.inner;
    t.reads.weight = K * N * p.outer;
    t.writes.ofmap = M * N * 4;
    return;
  }
  // WS: the stationary operand is read once, the streamed operand once per column
  // block; partial sums go out and come back between K-folds.
  const uint64_t stationary = K * N, streamed = M * K * p.outer;
  const uint64_t spills = M * N * 4 * (p.inner - 1);
  t.reads.psum = spills;
  t.writes.psum = spills;
  t.writes.ofmap = M * N * 4;
  if (p.transposed) {
    t.reads.ifmap = stationary;
    t.reads.weight = streamed;
  } else {
    t.reads.weight = stationary;
    t.reads.ifmap = streamed;
  }
}

GemmTiming closed_form_timing(const FoldPlan& p, bool fold_overlap) {
  const Span s = span(p, fold_overlap);
  GemmTiming t;
  t.rows = p.rows;
  t.cols = p.cols;
  t.folds = p.folds;
  t.cycles = s.end;
  t.busy_cycles = p.folds * p.stream_len;
  t.fill_cycles = s.first_issue;
  t.drain_cycles = s.end - s.last_issue - 1;
  t.stall_cycles = s.last_issue + 1 - s.first_issue - t.busy_cycles;
  t.macs = uint64_t(p.m) * p.n * p.k;
  closed_form_traffic(p, t);
  return t;
}

}  // namespace tessera::compute
