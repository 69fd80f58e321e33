// GEMM tiling: how a GEMM is split over tiles (M, N and K splits) and how each tile's
// share is cut into scratchpad blocks that fit with double buffering. Pure functions
// of shapes and the tile config, so they are tested on their own and shown by --explain.
#pragma once

#include <cstdint>
#include <string>

#include "models/tile/tile_config.h"

namespace tessera::mapper {

inline uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

struct GemmSplit {
  uint32_t tm = 1, tn = 1, tk = 1;  // tiles along M, N, K (tm * tn * tk <= tiles)
  uint32_t tiles() const { return tm * tn * tk; }
};

struct GemmBlocks {
  uint64_t bm = 0, bn = 0, bk = 0;  // block of one GEMM command
  uint64_t spm_bytes = 0;           // scratchpad the double-buffered blocks take
};

// Estimated cycles of an m x n x k GEMM on one array (weight-stationary fold count
// times the fold's streaming length; used only to choose a split).
double estimate_gemm_cycles(uint64_t m, uint64_t n, uint64_t k, const compute::ArrayConfig& a);

// Chooses the split of an M x N x K GEMM over at most `tiles` tiles that minimises the
// estimated time: the busiest tile's compute, its operand streaming at
// `bytes_per_cycle_per_tile`, plus the K-split reduction. `weights_b`: B is weights
// (each N-split tile streams only its own columns).
GemmSplit choose_split(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes, uint32_t tiles,
                       const tile::TileConfig& tc, double bytes_per_cycle_per_tile);

// Blocks of a tile's (m x n x k) share: A block bm x bk, B block bk x bn, C block
// bm x bn in int32, each double-buffered, fitting in `spm_bytes`. Throws UserError
// when even one array-sized block does not fit.
GemmBlocks choose_blocks(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes,
                         uint64_t spm_bytes, const compute::ArrayConfig& a);

std::string to_string(const GemmSplit& s);

}  // namespace tessera::mapper
