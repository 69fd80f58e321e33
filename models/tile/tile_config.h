// Configuration of a compute tile: clock, systolic array, vector unit, scratchpad, DMA.
#pragma once

#include <cstdint>
#include <string>

#include "models/compute/array_config.h"
#include "models/sim/config_schema.h"

namespace tessera::tile {

struct VectorConfig {
  uint32_t lanes = 16;
  uint32_t pipeline_depth = 4;
  // Cycles per element per lane for the costlier ops (exp/rsqrt/tanh are iterative
  // or table+polynomial units; one result per lane per N cycles).
  uint32_t exp_cycles = 4;
  uint32_t rsqrt_cycles = 4;
  double op_pj = 0.5;

  template <class V>
  void visit(V& v) {
    v.field("lanes", lanes, "lanes", "SIMD lanes; elements processed per cycle for simple ops",
            sim::Range{1, 4096});
    v.field("pipeline_depth", pipeline_depth, "cycles", "latency from first input to first result",
            sim::Range{0, 64});
    v.field("exp_cycles", exp_cycles, "cycles",
            "issue interval per lane of exp (softmax, SiLU, GELU)", sim::Range{1, 64});
    v.field("rsqrt_cycles", rsqrt_cycles, "cycles", "issue interval per lane of rsqrt/divide",
            sim::Range{1, 64});
    v.field("op_pj", op_pj, "pJ", "energy of one lane-operation", sim::Range{0, 1e3});
  }
};

struct ScratchpadConfig {
  uint32_t size_kib = 512;
  uint32_t banks = 16;
  uint32_t bank_width_bytes = 16;
  uint32_t ports_per_bank = 1;
  double access_pj_per_byte = 0.1;

  template <class V>
  void visit(V& v) {
    v.field("size_kib", size_kib, "KiB", "capacity", sim::Range{1, 1 << 20});
    v.field("banks", banks, "banks", "independent banks", sim::Range{1, 1024});
    v.field("bank_width_bytes", bank_width_bytes, "bytes", "bytes one bank port moves per cycle",
            sim::Range{1, 1024});
    v.field("ports_per_bank", ports_per_bank, "ports", "accesses one bank serves per cycle",
            sim::Range{1, 8});
    v.field("access_pj_per_byte", access_pj_per_byte, "pJ/B", "SRAM access energy",
            sim::Range{0, 100});
    v.check((size_kib * 1024ull) % banks == 0, "banks", "size_kib * 1024 must divide into banks");
  }
};

struct DmaConfig {
  uint32_t burst_bytes = 64;
  uint32_t outstanding = 32;
  uint32_t setup_cycles = 4;
  uint32_t align_bytes = 32;
  bool overlap_descriptors = true;

  template <class V>
  void visit(V& v) {
    v.field("burst_bytes", burst_bytes, "bytes", "bytes per memory request", sim::Range{4, 4096});
    v.field("outstanding", outstanding, "requests", "requests in flight per DMA engine",
            sim::Range{1, 4096});
    v.field("setup_cycles", setup_cycles, "cycles", "descriptor decode before the first request",
            sim::Range{0, 1000});
    v.field("align_bytes", align_bytes, "bytes",
            "memory access unit: a transfer's ends are widened to it (HBM: 32-byte bursts)",
            sim::Range{1, 4096});
    v.field("overlap_descriptors", overlap_descriptors, "",
            "the next load/store descriptor starts issuing while the previous one's bursts are "
            "in flight (a descriptor queue); false: each waits for the previous to drain");
    v.check((burst_bytes & (burst_bytes - 1)) == 0, "burst_bytes", "must be a power of two");
    v.check((align_bytes & (align_bytes - 1)) == 0 && align_bytes <= burst_bytes, "align_bytes",
            "must be a power of two no larger than burst_bytes");
  }
};

struct TileConfig {
  uint64_t clock_mhz = 1000;
  compute::ArrayConfig array;
  VectorConfig vector;
  ScratchpadConfig scratchpad;
  DmaConfig dma;

  template <class V>
  void visit(V& v) {
    v.field("clock_mhz", clock_mhz, "MHz", "tile clock (period kept as an exact fraction of ps)",
            sim::Range{1, 1000000});
    v.section("array", array, "systolic GEMM array");
    v.section("vector", vector, "vector unit");
    v.section("scratchpad", scratchpad, "banked scratchpad SRAM");
    v.section("dma", dma, "DMA engine");
  }
};

}  // namespace tessera::tile
