// Shared helpers of the array tests: random operands, the reference product, and
// the shapes the issue asks for (1x1x1, one over a multiple of R or C, K >> R, GEMV).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "models/compute/array_config.h"
#include "rtl/rtl_array.h"

namespace tessera::compute::test {

struct Shape {
  uint32_t m, n, k;
};

inline std::string to_string(const Shape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

inline std::vector<int8_t> random_i8(std::mt19937_64& rng, size_t n) {
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = int8_t(d(rng));
  return v;
}

// Wrapping int32 accumulation, the array's arithmetic.
inline std::vector<int32_t> reference_gemm(const std::vector<int8_t>& a,
                                           const std::vector<int8_t>& b, const Shape& s) {
  std::vector<int32_t> c(size_t(s.m) * s.n);
  for (uint32_t i = 0; i < s.m; ++i)
    for (uint32_t j = 0; j < s.n; ++j) {
      uint32_t acc = 0;
      for (uint32_t k = 0; k < s.k; ++k)
        acc += uint32_t(int32_t(a[size_t(i) * s.k + k]) * int32_t(b[size_t(k) * s.n + j]));
      c[size_t(i) * s.n + j] = int32_t(acc);
    }
  return c;
}

// `count` shapes for an R x C array: the edge cases first, then random ones.
inline std::vector<Shape> shapes_for(uint32_t R, uint32_t C, size_t count, std::mt19937_64& rng) {
  std::vector<Shape> v = {
      {1, 1, 1},                  // one MAC
      {1, C + 1, 3 * R},          // GEMV, one over a column multiple
      {R + 1, C, R + 1},          // one over a row multiple
      {2 * R + 1, 2 * C + 1, 1},  // K = 1
      {3, 2, 9 * R + 1},          // K >> R
      {R, C, R},                  // exactly one fold
      {2 * C, R, 2 * C},          // OS: rows fold over M
      {1, 1, 4 * R + 3},
  };
  std::uniform_int_distribution<uint32_t> pick(0, 3);
  auto dim = [&](uint32_t unit) -> uint32_t {
    switch (pick(rng)) {
      case 0:
        return std::uniform_int_distribution<uint32_t>(1, unit)(rng);
      case 1:
        return unit * std::uniform_int_distribution<uint32_t>(1, 3)(rng) + 1;
      case 2:
        return std::uniform_int_distribution<uint32_t>(1, 3 * unit + 2)(rng);
      default:
        return std::uniform_int_distribution<uint32_t>(1, 6)(rng);
    }
  };
  while (v.size() < count) v.push_back({dim(std::max(R, C)), dim(C), dim(R)});
  v.resize(count);
  return v;
}

inline ArrayConfig array_config(uint32_t R, uint32_t C, const std::string& df, bool overlap,
                                const std::string& impl) {
  ArrayConfig cfg;
  cfg.rows = R;
  cfg.cols = C;
  cfg.dataflow = df;
  cfg.fold_overlap = overlap;
  cfg.impl = impl;
  return cfg;
}

// Whether this build Verilated the RxC array (TESSERA_RTL_SIZES may be narrowed).
inline bool rtl_built(uint32_t R, uint32_t C) {
  for (const auto& [r, c] : rtl::built_rtl_sizes())
    if (r == R && c == C) return true;
  return false;
}

}  // namespace tessera::compute::test
