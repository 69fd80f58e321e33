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
  // Estimates for the share they cut: bytes loaded and stored on the network, packet
  // headers included (A once per column band of bn, B once per row band of bm), and
  // tile cycles (compute or streaming).
  uint64_t bytes = 0;
  double cycles = 0;
};

// What streaming an operand costs a tile: its share of the memory bandwidth, and per
// DMA burst (at most `burst_bytes` of one row) an overhead of `header_bytes` (the
// packet's head flit on the network).
struct StreamCost {
  double bytes_per_cycle = 64;
  uint32_t burst_bytes = 512;
  uint32_t header_bytes = 0;
};

// How the operands lie in memory: packed (each block one contiguous run, as the mapper
// packs weights) or row-major (a block's rows are separate runs).
struct GemmLayout {
  bool a_packed = false, b_packed = false;
};

// Estimated cycles of an m x n x k GEMM on one array (weight-stationary fold count
// times the fold's streaming length; used only to choose splits and blocks).
double estimate_gemm_cycles(uint64_t m, uint64_t n, uint64_t k, const compute::ArrayConfig& a);

// Chooses the split of an M x N x K GEMM over at most `tiles` tiles by the estimated
// time: the busiest tile's share as its blocks run it (choose_blocks: compute, or
// streaming its operands with the re-reads the blocks cost), plus the K-split
// reduction. Near-ties (1 %) as in gemm_tiling.cpp's Best: few N slices kept unless a
// later split moves fewer bytes. Neither a causal mask nor a K split's barrier is
// weighed.
GemmSplit choose_split(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes, uint32_t tiles,
                       const tile::TileConfig& tc, uint64_t spm_bytes, const StreamCost& cost,
                       GemmLayout layout = {});

// Blocks of a tile's (m x n x k) share: A block bm x bk, B block bk x bn, C block
// bm x bn in int32, each double-buffered, fitting in `spm_bytes`; of the sizes that
// cut the share into near-equal blocks (with the largest K block that fits beside each
// M and N block), the least estimated time (compute, or streaming A once per column band
// and B once per row band), near-ties (1 %) as in gemm_tiling.cpp's Best (larger blocks
// visited first, kept unless a later choice moves fewer bytes). Row-major rows shorter
// than half a DMA burst only when nothing else fits. Throws UserError when even one
// array-sized block does not fit.
GemmBlocks choose_blocks(uint64_t m, uint64_t n, uint64_t k, uint32_t elem_bytes,
                         uint64_t spm_bytes, const compute::ArrayConfig& a, const StreamCost& cost,
                         GemmLayout layout = {});

std::string to_string(const GemmSplit& s);

}  // namespace tessera::mapper
