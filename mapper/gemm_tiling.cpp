#include "mapper/gemm_tiling.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

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

namespace {

// Block sizes along a dimension of `x`: x cut into j near-equal blocks (j = 1, 2, 3, 4,
// 6, 8, 12, ...: two a doubling), each rounded up to a multiple of `unit` when the
// dimension is cut (the array's side: a block is whole folds), at most `cap`, and
// down to `least`. Largest first.
std::vector<uint64_t> block_sizes(uint64_t x, uint64_t cap, uint64_t unit, uint64_t least) {
  std::vector<uint64_t> v;
  auto add = [&](uint64_t j) {
    uint64_t b = ceil_div(x, j);
    if (b < x && unit > 1 && b > unit) b = ceil_div(b, unit) * unit;
    b = std::max(b, least);
    if (b <= cap && (v.empty() || b < v.back())) v.push_back(b);
  };
  for (uint64_t p = 1;; p *= 2) {
    add(p);
    if (p >= 2) add(p + p / 2);
    if (ceil_div(x, p) <= least) break;
  }
  return v;
}

// The choice kept while candidates are visited in order: a later one replaces it when
// it is more than 1 % faster than the fastest so far, or within 1 % of that and moving
// fewer bytes, or when the kept one has fallen more than 1 % behind. The result depends
// on the order (a candidate passed over is not looked at again): splits are visited with
// few N slices first, blocks largest first. A review found an exact rule (the fewest
// bytes among all candidates within 1 % of the fastest) picking N/64 for a decode's
// GEMVs, 2-4 % slower in simulation than the N/16 K/4 this keeps (the tiles of an N
// slice each read the same small A, which then queues at the few stacks holding it),
// and K splits for small GEMMs that their barrier made 70 % slower: what the estimate
// leaves out, this order happens to favour. See docs/validation.md.
struct Best {
  double fastest = -1;  // least time seen
  double t = 0;
  uint64_t bytes = 0;
  // Whether a choice of time `x` moving `b` bytes replaces the best; updates `fastest`.
  bool take(double x, uint64_t b) {
    const bool first = fastest < 0;
    const bool clearly = first || x < fastest * 0.99;
    fastest = first ? x : std::min(fastest, x);
    if (clearly || (x <= fastest * 1.01 && b < bytes) || t > fastest * 1.01) {
      t = x, bytes = b;
      return true;
    }
    return false;
  }
};

// A byte count estimated in floating point, saturated (absurd shapes move more than
// 2^64 bytes; the count only breaks near-ties).
uint64_t saturated(double bytes) {
  return bytes >= 0x1p63 ? uint64_t(1) << 63 : uint64_t(std::llround(bytes));
}

uint64_t double_buffered_bytes(uint64_t bm, uint64_t bn, uint64_t bk, uint32_t eb) {
  return 2 * (bm * bk + bk * bn) * eb + 2 * bm * bn * 4;
}

// The smallest blocks of an m x n x k share the array takes: a fold's columns of N, and
// a fold's rows of the dimension its stationary operand spans (M under os, else K).
struct Least {
  uint64_t m, n, k;
};
Least least_block(uint64_t m, uint64_t n, uint64_t k, const compute::ArrayConfig& a) {
  const bool os = a.dataflow == "os";
  return {std::min<uint64_t>(m, os ? a.rows : 1), std::min<uint64_t>(n, a.cols),
          std::min<uint64_t>(k, os ? 1 : a.rows)};
}

// The blocks of least estimated time (see choose_blocks) of a share of at least one
// element a dimension; false when none fits.
bool best_blocks(uint64_t m, uint64_t n, uint64_t k, uint32_t eb, uint64_t spm_bytes,
                 const compute::ArrayConfig& a, const StreamCost& cost, GemmLayout layout,
                 GemmBlocks& best) {
  const bool os = a.dataflow == "os";
  const Least least = least_block(m, n, k, a);
  const std::vector<uint64_t> ms = block_sizes(m, 1024, os ? a.rows : 1, least.m);
  const std::vector<uint64_t> ns = block_sizes(n, 4096, a.cols, least.n);
  const std::vector<uint64_t> ks = block_sizes(k, 4096, os ? 1 : a.rows, least.k);
  // A dimension of x in blocks of b: (size, count) of the full blocks and the rest.
  struct Piece {
    uint64_t size, count;
  };
  auto pieces = [](uint64_t x, uint64_t b) {
    return std::array<Piece, 2>{Piece{b, x / b}, Piece{x % b, x % b ? 1u : 0u}};
  };
  const uint64_t burst = std::max<uint64_t>(cost.burst_bytes, 1);
  // Bytes of `rows` rows of `row` bytes on the network, with a header per burst: each
  // row in bursts of its own, or (packed) all of them as one run.
  auto moved = [&cost, burst](uint64_t rows, uint64_t row, bool packed) {
    const uint64_t bursts = packed ? ceil_div(rows * row, burst) : rows * ceil_div(row, burst);
    return double(rows * row) + double(cost.header_bytes) * double(bursts);
  };
  const double bpc = std::max(cost.bytes_per_cycle, 1e-9);
  // Row-major operands keep rows of at least half a DMA burst where the share allows:
  // each row is a burst of its own, and the estimate leaves out what many short bursts
  // and thin K blocks cost (bursts in flight per DMA; C read and written back by every
  // command of a K loop). Measured: 64-byte rows made tiny's ResNet stem 8 % slower than
  // whole rows; 256-byte rows (half of chiplet4's burst) read A once and ran a 512-token
  // FFN projection 37 % faster than full-burst rows that read it twice. Blocks with
  // shorter rows are taken only when no others fit.
  const uint64_t least_row = std::max<uint64_t>(cost.burst_bytes / 2, 1);
  auto short_rows = [&](uint64_t bn, uint64_t bk) {
    return (!layout.a_packed && bk * eb < std::min<uint64_t>(k * eb, least_row)) ||
           (!layout.b_packed && bn * eb < std::min<uint64_t>(n * eb, least_row));
  };
  // Besides the largest K block that fits beside an M and N block (fewer, longer GEMM
  // commands), for a row-major A the largest whose rows are whole DMA bursts: a row of
  // 1.4 bursts is two bursts, one of them short, whose round trip the DMA's window pays
  // as for a full one (measured: 544 x 4096 x 4096 on chiplet4, blocks of 136 x 256 x
  // 352 took 216 us, x 256 177 us). Only where the share's rows are whole bursts too:
  // the DMA cuts bursts at burst-aligned addresses, so a block's rows start on a burst
  // boundary only then.
  const bool aligned_rows = !layout.a_packed && (k * eb) % burst == 0;
  Best pick, pick_short;
  GemmBlocks best_short;
  for (const uint64_t bm : ms)
    for (const uint64_t bn : ns) {
      const uint64_t rows_m = ceil_div(m, bm), cols_n = ceil_div(n, bn);
      uint64_t fits[2] = {0, 0};
      for (const uint64_t c : ks)
        if (double_buffered_bytes(bm, bn, c, eb) <= spm_bytes) {
          if (fits[0] == 0) fits[0] = c;
          if (aligned_rows && c < k && (c * eb) % burst == 0) {
            fits[1] = c;
            break;
          }
          if (layout.a_packed || c >= k) break;
        }
      for (int f = 0; f < 2; ++f) {
        const uint64_t bk = fits[f];
        if (bk == 0 || (f == 1 && bk == fits[0])) continue;
        double compute = 0, a_moved = 0, b_moved = 0, c_moved = 0;
        for (const Piece pm : pieces(m, bm))
          for (const Piece pn : pieces(n, bn))
            for (const Piece pk : pieces(k, bk))
              if (pm.count && pn.count && pk.count)
                compute += double(pm.count * pn.count * pk.count) *
                           estimate_gemm_cycles(pm.size, pn.size, pk.size, a);
        // The lowering's loops: column bands of B outermost, row bands of A inside, K
        // innermost; so A is loaded once per column band and B once per row band.
        for (const Piece pk : pieces(k, bk))
          a_moved += double(pk.count) * moved(m, pk.size * eb, layout.a_packed);
        for (const Piece pn : pieces(n, bn)) {
          b_moved += double(pn.count) * moved(k, pn.size * eb, layout.b_packed);
          c_moved += double(pn.count) * moved(m, pn.size * eb, false);
        }
        const double traffic = a_moved * double(cols_n) + b_moved * double(rows_m) + c_moved;
        const double stream = traffic / bpc;
        // Traffic also costs energy and capacity others may need: a small charge breaks
        // near-ties toward the blocks that move less.
        const double t = std::max(compute, stream) + 0.05 * stream;
        const uint64_t bytes = saturated(traffic);
        const bool short_row = short_rows(bn, bk);
        GemmBlocks& into = short_row ? best_short : best;
        if ((short_row ? pick_short : pick).take(t, bytes)) {
          into.bm = bm, into.bn = bn, into.bk = bk;
          into.spm_bytes = double_buffered_bytes(bm, bn, bk, eb);
          into.bytes = bytes;
          into.cycles = t;
        }
      }
    }
  if (pick.fastest < 0) best = best_short;
  return pick.fastest >= 0 || pick_short.fastest >= 0;
}

}  // namespace

GemmSplit choose_split(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes, uint32_t tiles,
                       const tile::TileConfig& tc, uint64_t spm_bytes, const StreamCost& cost,
                       GemmLayout layout) {
  GemmSplit best;
  Best pick;
  const double bpc = std::max(cost.bytes_per_cycle, 1e-9);
  for (uint32_t tn = 1; tn <= tiles; ++tn) {
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
        GemmBlocks bl;
        if (!best_blocks(mt, nt, kt, elem_bytes, spm_bytes, tc.array, cost, layout, bl)) continue;
        // A K split sends (tk - 1) partial results of mt x nt int32 to one tile and adds.
        const double reduce = tk > 1 ? double(tk - 1) * double(mt * nt) * 4 / bpc +
                                           double(tk - 1) * double(mt * nt) / tc.vector.lanes
                                     : 0;
        const double t = bl.cycles + reduce;
        // Bytes of all its tiles, a K split's partial sums included (written and read).
        const uint64_t bytes =
            saturated((double(bl.bytes) + (tk > 1 ? double(mt * nt) * 4 * 2 : 0)) * tm * tn * tk);
        // Few N slices are visited first (the loop's order) and kept on near-ties unless
        // a later split moves fewer bytes (see Best).
        if (pick.take(t, bytes)) best = {tm, tn, tk};
      }
    }
  }
  return best;
}

GemmBlocks choose_blocks(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes,
                         uint64_t spm_bytes, const compute::ArrayConfig& a, const StreamCost& cost,
                         GemmLayout layout) {
  m = std::max<uint64_t>(m, 1), n = std::max<uint64_t>(n, 1), k = std::max<uint64_t>(k, 1);
  GemmBlocks b;
  if (best_blocks(m, n, k, elem_bytes, spm_bytes, a, cost, layout, b)) return b;
  const Least least = least_block(m, n, k, a);
  const uint64_t need = double_buffered_bytes(least.m, least.n, least.k, elem_bytes);
  throw sim::UserError("scratchpad of " + std::to_string(spm_bytes) +
                       " bytes (tile.scratchpad.size_kib) cannot hold double-buffered GEMM "
                       "blocks of the array (" +
                       std::to_string(need) + " bytes needed)");
}

std::string to_string(const GemmSplit& s) {
  return "M/" + std::to_string(s.tm) + " N/" + std::to_string(s.tn) + " K/" + std::to_string(s.tk);
}

}  // namespace tessera::mapper
