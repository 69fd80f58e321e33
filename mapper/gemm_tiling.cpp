#include "mapper/gemm_tiling.h"

#include <algorithm>
#include <cmath>

#include "models/sim/errors.h"

namespace tessera::mapper {

double estimate_gemm_cycles(uint64_t m, uint64_t n, uint64_t k, const compute::ArrayConfig& a) {
  if (m == 0 || n == 0 || k == 0) return 0;
  // Every (rows x cols) fold of the stationary operand streams the moving operand
  // through the array; fill and drain add about rows + cols per fold.
  if (a.dataflow == "os") {
    const double folds = double(ceil_div(m, a.rows)) * double(ceil_div(n, a.cols));
    return folds * double(k + a.rows + a.cols);
  }
  if (a.dataflow == "is") {
    const double folds = double(ceil_div(k, a.rows)) * double(ceil_div(m, a.cols));
    return folds * double(n) + double(a.rows + a.cols);
  }
  const double folds = double(ceil_div(k, a.rows)) * double(ceil_div(n, a.cols));
  return folds * double(m) + (a.fold_overlap ? 1 : folds) * double(a.rows + a.cols);
}

GemmSplit choose_split(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes, uint32_t tiles,
                       const tile::TileConfig& tc, double bytes_per_cycle_per_tile) {
  GemmSplit best;
  double best_t = -1;
  const auto& a = tc.array;
  for (uint32_t tn = 1; tn <= tiles; ++tn) {
    if (tn > 1 && ceil_div(n, tn) < 1) break;
    for (uint32_t tm = 1; tm * tn <= tiles; ++tm) {
      for (uint32_t tk = 1; tm * tn * tk <= tiles; ++tk) {
        // Only splits that leave work on every tile: slices of ceil(x / t) must number t
        // (k = 6 in 4 slices of 2 leaves the fourth empty, and a K split's reduction
        // would still add its partial sums).
        auto fills = [](uint64_t x, uint32_t t) {
          return t <= x && ceil_div(x, ceil_div(x, t)) == t;
        };
        if (!fills(n, tn) || !fills(m, tm) || !fills(k, tk)) continue;
        const uint64_t mt = ceil_div(m, tm), nt = ceil_div(n, tn), kt = ceil_div(k, tk);
        const double compute = estimate_gemm_cycles(mt, nt, kt, a);
        const double bytes = double(mt * kt + kt * nt) * elem_bytes + double(mt * nt) * elem_bytes;
        const double stream = bytes / bytes_per_cycle_per_tile;
        // A K split sends (tk - 1) partial results of mt x nt int32 to one tile and adds.
        const double reduce =
            tk > 1 ? double(tk - 1) * double(mt * nt) * 4 / bytes_per_cycle_per_tile +
                         double(tk - 1) * double(mt * nt) / tc.vector.lanes
                   : 0;
        // Traffic also costs energy and NoC capacity others may need: a small charge
        // breaks ties between splits of equal time toward the one that moves less.
        const double t = std::max(compute, stream) + reduce + 0.05 * stream;
        // Prefer fewer tiles on ties (within 1 %): less synchronisation.
        if (best_t < 0 || t < best_t * 0.99) {
          best_t = t;
          best = {tm, tn, tk};
        }
      }
    }
  }
  return best;
}

GemmBlocks choose_blocks(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes,
                         uint64_t spm_bytes, const compute::ArrayConfig& a) {
  GemmBlocks b;
  // Start from the whole share (rounded to the array) and halve the largest dimension
  // until two A, two B and two C blocks fit.
  b.bm = std::min<uint64_t>(m, 1024);
  b.bn = std::min<uint64_t>(n, 4096);
  b.bk = std::min<uint64_t>(k, 4096);
  auto bytes = [&](const GemmBlocks& x) {
    return 2 * (x.bm * x.bk + x.bk * x.bn) * elem_bytes + 2 * x.bm * x.bn * 4;
  };
  const uint64_t min_m = std::min<uint64_t>(m, a.dataflow == "os" ? a.rows : 1);
  const uint64_t min_n = std::min<uint64_t>(n, a.cols);
  const uint64_t min_k = std::min<uint64_t>(k, a.dataflow == "os" ? 1 : a.rows);
  while (bytes(b) > spm_bytes) {
    // Halve the dimension whose halving saves the most bytes, keeping array multiples.
    uint64_t* pick = nullptr;
    uint64_t save = 0;
    auto consider = [&](uint64_t* d, uint64_t minv, uint64_t other_bytes) {
      if (*d <= minv) return;
      const uint64_t s = (*d - std::max(minv, *d / 2)) * other_bytes;
      if (s > save) save = s, pick = d;
    };
    consider(&b.bm, min_m, 2 * b.bk * elem_bytes + 2 * b.bn * 4);
    consider(&b.bn, min_n, 2 * b.bk * elem_bytes + 2 * b.bm * 4);
    consider(&b.bk, min_k, 2 * (b.bm + b.bn) * elem_bytes);
    if (!pick) break;
    *pick = std::max<uint64_t>(*pick / 2, 1);
  }
  // Keep blocks multiples of the array where the share is cut into several (a share
  // that fits whole stays one block: until the twelfth session a 27 x 129 share became
  // 16 + 11 columns x 128 + 1 rows, four GEMMs, and A was loaded twice).
  if (b.bn > a.cols && b.bn < n) b.bn = b.bn / a.cols * a.cols;
  if (b.bk > a.rows && b.bk < k) b.bk = b.bk / a.rows * a.rows;
  b.spm_bytes = bytes(b);
  if (b.spm_bytes > spm_bytes)
    throw sim::UserError("scratchpad of " + std::to_string(spm_bytes) +
                         " bytes cannot hold double-buffered GEMM blocks of the array (" +
                         std::to_string(b.spm_bytes) + " bytes needed)");
  return b;
}

std::string to_string(const GemmSplit& s) {
  return "M/" + std::to_string(s.tm) + " N/" + std::to_string(s.tn) + " K/" + std::to_string(s.tk);
}

}  // namespace tessera::mapper
