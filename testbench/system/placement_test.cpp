// The mapper on small traces: weight placement across stacks, barrier trees, GEMM splits
// and the scratchpad safety of the GEMM lowering.
#include <fmt/format.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mapper/gemm_tiling.h"
#include "mapper/mapper.h"
#include "models/system/address_map.h"
#include "traces/generators.h"
#include "traces/trace_format.h"

using namespace tessera;

namespace {
// The mapping of trace `text` on `preset` (with `sets` overrides).
mapper::Mapping map_text(const std::string& preset, const std::vector<std::string>& sets,
                         const std::string& text, const mapper::MapOptions& opt = {}) {
  const auto spec = system::load_spec(preset, sets);
  const system::AddressMap map(spec);
  return mapper::map_workload(traces::parse_trace(text, "t.tsr"), spec, map, opt);
}
// The bytes an op's loads and stores move, on every tile.
uint64_t dma_bytes(const mapper::Mapping& m, const std::string& op) {
  uint64_t b = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog)
      if (c.label == op &&
          (c.kind == tile::CmdKind::kDmaLoad || c.kind == tile::CmdKind::kDmaStore))
        b += c.dma.bytes();
  return b;
}
// The MACs of an op's GEMM commands, on every tile.
uint64_t macs(const mapper::Mapping& m, const std::string& op) {
  uint64_t n = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog)
      if (c.label == op && c.kind == tile::CmdKind::kGemm)
        n += uint64_t(c.gemm.m) * c.gemm.n * c.gemm.k;
  return n;
}
// Options that keep a prompt's qk, softmax and av three ops (--attention separate).
mapper::MapOptions separate_attention() {
  mapper::MapOptions o;
  o.fuse_attention = false;
  return o;
}
}  // namespace

TEST_CASE("placement: tiles equally near two stacks are shared between them", "[unit]") {
  // chiplet4: stacks at (0,1) and (3,2) of a 4x4 mesh. Six tiles are strictly nearer
  // each stack; (2,0), (2,1), (1,2) and (1,3) are equally near both. A GEMV split
  // evenly over the 16 tiles must then put half its weights in each stack.
  const auto spec = system::load_spec("chiplet4", {"package.chiplets=1"});
  const system::AddressMap map(spec);
  const traces::Workload w = traces::parse_trace(
      "tessera-trace 1\ngemm w m=1 n=4096 k=4096 weights=b dtype=bf16\n", "gemv.tsr");
  const mapper::Mapping m = mapper::map_workload(w, spec, map);
  REQUIRE(m.stack_bytes_used.size() == 2);
  const double a = double(m.stack_bytes_used[0]), b = double(m.stack_bytes_used[1]);
  INFO("stack 0: " << a << " B, stack 1: " << b << " B");
  REQUIRE(a + b >= 4096.0 * 4096 * 2);
  CHECK(a / b == Approx(1.0).epsilon(0.05));
}

TEST_CASE("barriers: a tree over chiplets and packages, one signal each way per link", "[unit]") {
  // chiplet4's chiplets (4 x 16 tiles) in 3 packages: 192 tiles in one rank group. One
  // GEMM over all of them ends with a barrier. A flat barrier would send 2 signals per
  // tile through the group leader; the tree sends, per barrier, one arrival and one
  // release per chiplet leader to its package leader and per package leader to the
  // root, so few signals leave a chiplet and fewer a package.
  const auto spec = system::load_spec("chiplet4", {"system.packages=3"});
  const system::AddressMap map(spec);
  const traces::Workload w = traces::parse_trace(
      "tessera-trace 1\ngemm w m=192 n=4096 k=1024 weights=b dtype=bf16\n", "gemm.tsr");
  const mapper::Mapping m = mapper::map_workload(w, spec, map);
  REQUIRE(m.programs.size() == 192);
  uint64_t signals = 0, cross_chiplet = 0, cross_package = 0;
  for (uint32_t t = 0; t < m.programs.size(); ++t)
    for (const tile::Command& c : m.programs[t]) {
      if (c.kind != tile::CmdKind::kSignal) continue;
      ++signals;
      const system::Place &from = map.tile_place(t), &to = map.tile_place(c.sync.tile);
      cross_chiplet += from.chiplet_gid != to.chiplet_gid;
      cross_package += from.package != to.package;
    }
  const uint64_t barriers = signals / (2 * (192 - 1));  // every tile but the root: 2 each
  REQUIRE(barriers >= 1);
  REQUIRE(signals == barriers * 2 * (192 - 1));
  // Per barrier: 12 chiplets -> 11 chiplet leaders below another tile, of which 2 are
  // package leaders (3 packages); each sends 1 arrival and receives 1 release.
  CHECK(cross_chiplet == barriers * 2 * 11);
  CHECK(cross_package == barriers * 2 * 2);
}

namespace {
// Scratchpad bytes [lo, hi) a command writes and reads (GEMM: C written, A, B and, when
// accumulating, C read; load: written; store: read).
struct Ranges {
  std::vector<std::pair<uint64_t, uint64_t>> writes, reads;
};
Ranges ranges(const tile::Command& c) {
  Ranges r;
  if (c.kind == tile::CmdKind::kDmaLoad)
    r.writes.push_back({c.dma.local_addr, c.dma.local_addr + c.dma.bytes()});
  if (c.kind == tile::CmdKind::kDmaStore)
    r.reads.push_back({c.dma.local_addr, c.dma.local_addr + c.dma.bytes()});
  if (c.kind == tile::CmdKind::kVector) {
    const auto& v = c.vec;
    r.reads.push_back({v.src_addr, v.src_addr + v.elements * v.inputs * v.elem_bytes});
    r.writes.push_back({v.dst_addr, v.dst_addr + v.elements * v.elem_bytes});
  }
  if (c.kind == tile::CmdKind::kGemm) {
    const auto& g = c.gemm;
    const uint64_t c_bytes = uint64_t(g.m) * g.n * 4;
    r.writes.push_back({g.c_addr, g.c_addr + c_bytes});
    r.reads.push_back({g.a_addr, g.a_addr + uint64_t(g.m) * g.k * g.operand_bytes});
    r.reads.push_back({g.b_addr, g.b_addr + uint64_t(g.k) * g.n * g.operand_bytes});
    if (g.accumulate) r.reads.push_back({g.c_addr, g.c_addr + c_bytes});
  }
  return r;
}
bool overlap(const std::vector<std::pair<uint64_t, uint64_t>>& a,
             const std::vector<std::pair<uint64_t, uint64_t>>& b) {
  for (const auto& x : a)
    for (const auto& y : b)
      if (x.first < y.second && y.first < x.second) return true;
  return false;
}
}  // namespace

namespace {
// Every command that writes scratchpad bytes an earlier command of its tile reads or
// writes must start after that command is done: through its dependencies, or (GEMMs)
// because the one array runs them in order, or (a wait right after a signal, as a
// barrier's release follows the tile's arrival) because the sync unit takes them in
// order, so the wait starts only once the signal's dependencies are done. Loads and
// stores on the DMA units may finish out of order. Returns the pairs checked.
size_t check_scratchpad_hazards(const mapper::Mapping& m) {
  size_t checked = 0;
  for (const tile::Program& prog : m.programs) {
    const size_t n = prog.size();
    // done_before[y][x]: command x is complete when command y starts.
    std::vector<std::vector<bool>> done(n, std::vector<bool>(n, false));
    int64_t prev_gemm = -1;
    for (size_t y = 0; y < n; ++y) {
      std::vector<uint32_t> pred = prog[y].deps;
      if (prog[y].kind == tile::CmdKind::kWait && y > 0 &&
          prog[y - 1].kind == tile::CmdKind::kSignal)
        pred.push_back(uint32_t(y - 1));
      if (prog[y].kind == tile::CmdKind::kGemm) {
        if (prev_gemm >= 0) pred.push_back(uint32_t(prev_gemm));
        prev_gemm = int64_t(y);
      }
      for (uint32_t x : pred) {
        done[y][x] = true;
        for (size_t z = 0; z < x; ++z)
          if (done[x][z]) done[y][z] = true;
      }
    }
    for (size_t y = 0; y < n; ++y) {
      const Ranges ry = ranges(prog[y]);
      if (ry.writes.empty()) continue;
      for (size_t x = 0; x < y; ++x) {
        const Ranges rx = ranges(prog[x]);
        if (!overlap(ry.writes, rx.reads) && !overlap(ry.writes, rx.writes)) continue;
        INFO("command " << y << " (" << tile::to_string(prog[y].kind) << ", " << prog[y].label
                        << ") vs " << x << " (" << tile::to_string(prog[x].kind) << ", "
                        << prog[x].label << ")");
        // A load into A/B and the GEMM accumulating into C it feeds are ordered by the
        // GEMM itself; only a later write over an earlier user matters.
        CHECK(done[y][x]);
        ++checked;
      }
    }
  }
  return checked;
}
}  // namespace

TEST_CASE("gemm lowering: parts sharing a tile never overwrite a buffer still in use", "[unit]") {
  // tiny's 4 tiles take 7 experts of different token counts (so different block sizes)
  // and a batched GEMM of 8 equal items: two parts per tile. Every command that writes
  // scratchpad bytes an earlier command of its tile reads or writes must start after
  // that command is done: through its dependencies, or (GEMMs) because the one array
  // runs them in order. Loads and stores on the DMA units may finish out of order.
  const mapper::Mapping m =
      map_text("tiny", {},
               "tessera-trace 1\n"
               "expert e m=700 n=512 k=256 experts=7 dist=10,20,40,80,150,150,250 dtype=bf16\n"
               "bgemm b m=96 n=256 k=512 batch=8 dtype=bf16 deps=e\n");
  CHECK(check_scratchpad_hazards(m) > 100);
}

TEST_CASE("gemm split: every tile of a split has work, K slices included", "[unit]") {
  // ceil-sized slices must number exactly t along each axis: k = 6 in 4 slices of 2
  // leaves one empty, and a K split's reduction would add a partial never written.
  tile::TileConfig tc;
  tc.array.rows = tc.array.cols = 4;
  size_t splits = 0;
  for (const uint64_t m : {1, 3, 6, 33})
    for (const uint64_t n : {1, 5, 6, 64})
      for (const uint64_t k : {1, 5, 6, 7, 4096})
        for (const uint32_t tiles : {2u, 4u, 7u, 16u}) {
          const mapper::GemmSplit s =
              mapper::choose_split(m, n, k, 2, tiles, tc, 64 * 1024, mapper::StreamCost{0.5});
          INFO(m << "x" << n << "x" << k << " on " << tiles << ": " << s.tm << "/" << s.tn << "/"
                 << s.tk);
          auto fills = [](uint64_t x, uint32_t t) {
            return t <= x && mapper::ceil_div(x, mapper::ceil_div(x, t)) == t;
          };
          CHECK(fills(m, s.tm));
          CHECK(fills(n, s.tn));
          CHECK(fills(k, s.tk));
          splits += s.tiles() > 1;
        }
  CHECK(splits > 20);
}

TEST_CASE("gemm blocks: they fit, re-read little and keep rows of half a burst", "[unit]") {
  compute::ArrayConfig a;
  a.rows = a.cols = 32;
  const mapper::StreamCost cost{64, 512, 128};
  // Every choice fits the scratchpad twice over (double buffers) and lies in the share.
  size_t checked = 0;
  for (const uint64_t m : {1, 7, 256, 3000})
    for (const uint64_t n : {1, 33, 344, 5000})
      for (const uint64_t k : {1, 100, 4096})
        for (const uint32_t eb : {1u, 2u, 4u})
          for (const uint64_t spm : {uint64_t(64) << 10, uint64_t(1) << 20}) {
            const mapper::GemmBlocks b = mapper::choose_blocks(m, n, k, eb, spm, a, cost);
            INFO(m << "x" << n << "x" << k << " eb " << eb << " spm " << spm << ": " << b.bm << "x"
                   << b.bn << "x" << b.bk);
            CHECK(2 * (b.bm * b.bk + b.bk * b.bn) * eb + 2 * b.bm * b.bn * 4 <= spm);
            CHECK((b.bm >= 1 && b.bm <= m && b.bn >= 1 && b.bn <= n && b.bk >= 1 && b.bk <= k));
            ++checked;
          }
  CHECK(checked == 288);
  // chiplet4's 512-token FFN share (256 x 344 x 4096, bf16, packed weights): A and B are
  // each loaded once (the halving it replaced loaded A three times and B twice), in
  // activation rows of at least half a 512-byte burst.
  const mapper::GemmBlocks f =
      mapper::choose_blocks(256, 344, 4096, 2, 1 << 20, a, cost, mapper::GemmLayout{false, true});
  CHECK(f.bm == 256);
  CHECK(f.bn == 344);
  CHECK(f.bk * 2 >= 256);
  // Row-major rows shorter than half a burst only when nothing else fits: with A
  // row-major, K blocks of at least 128 bf16 elements where K allows.
  const mapper::GemmBlocks r = mapper::choose_blocks(512, 512, 4096, 2, 256 << 10, a, cost);
  CHECK(r.bk * 2 >= 256);
  // A row-major A whose largest fitting K block has rows of 1.4 bursts (136 x 256 x 352
  // for a 544-row prompt's share on chiplet4) takes whole-burst rows instead, and reads
  // each operand once still.
  const mapper::GemmBlocks w =
      mapper::choose_blocks(136, 256, 4096, 2, 1 << 20, a, cost, mapper::GemmLayout{false, true});
  CHECK(w.bk * 2 % 512 == 0);
  CHECK(w.bm == 136);
  CHECK(w.bn == 256);
  // An empty dimension is a block of one, not a division by zero.
  const mapper::GemmBlocks z = mapper::choose_blocks(0, 16, 16, 2, 1 << 20, a, cost);
  CHECK(z.bm == 1);
}

TEST_CASE("gemm lowering: weights in A of a batched GEMM are placed, not read from 0", "[unit]") {
  // weights=a with batch 4: each item's A (64 x 128 bf16 = 16 KiB) is a weight tensor
  // of its own in HBM; B comes from the input.
  const mapper::Mapping m = map_text(
      "tiny", {}, "tessera-trace 1\nbgemm b m=64 n=32 k=128 batch=4 weights=a dtype=bf16\n");
  uint64_t used = 0;
  for (uint64_t b : m.stack_bytes_used) used += b;
  // 4 x 16 KiB of weights, the 4 x 8 KiB input and the 4 x 4 KiB output at least (the
  // weights were read from address 0 on, never allocated).
  CHECK(used >= 4 * (16384 + 8192 + 4096));
}

TEST_CASE("gemm lowering: packed weights make each block load contiguous, read evenly", "[unit]") {
  // GEMMs on tiny's 4 tiles, each split along M or N only (no K-split partials), whose
  // weight shares are cut into several blocks: a share with a narrower last band, one
  // whose B blocks are read once per M block (its rows exceed the largest M block), and
  // weights in A. Row-major, a block narrower than its share is a strided 2-D load;
  // packed, every weight load is one contiguous run (a one-row descriptor). Either way
  // the distinct weight runs of a tile tile its share exactly, each read the same number
  // of times: once per M block (B) or N block (A).
  struct Case {
    const char* line;
    const char* split;
    uint64_t m, n, k;  // a tile's share
    bool weights_a;
  };
  const Case cases[] = {
      {"gemm w m=1 n=16000 k=512 weights=b", "M/1 N/4 K/1", 1, 4000, 512, false},
      {"gemm w m=8192 n=512 k=256 weights=b", "M/4 N/1 K/1", 2048, 512, 256, false},
      {"gemm w m=4400 n=64 k=600 weights=a", "M/4 N/1 K/1", 1100, 64, 600, true},
  };
  const auto spec = system::load_spec("tiny", {});
  const system::AddressMap map(spec);
  const uint64_t eb = 2;
  uint64_t max_reads = 0;
  for (const Case& c : cases) {
    const traces::Workload w =
        traces::parse_trace(std::string("tessera-trace 1\n") + c.line + " dtype=bf16\n", "t.tsr");
    for (const bool packed : {true, false}) {
      // The blocks the mapper cuts the share into (they depend on the layout).
      const mapper::GemmBlocks bl =
          mapper::choose_blocks(c.m, c.n, c.k, eb, uint64_t(spec.tile.scratchpad.size_kib) * 1024,
                                spec.tile.array, mapper::stream_cost(spec, map),
                                mapper::GemmLayout{c.weights_a && packed, !c.weights_a && packed});
      const uint64_t a_sz = bl.bm * bl.bk * eb, b_sz = bl.bk * bl.bn * eb;
      const uint64_t reads =
          c.weights_a ? mapper::ceil_div(c.n, bl.bn) : mapper::ceil_div(c.m, bl.bm);
      max_reads = std::max(max_reads, reads);
      // The weight buffers' scratchpad offsets (two A, then two B buffers).
      const uint64_t lo = c.weights_a ? 0 : 2 * a_sz,
                     hi = c.weights_a ? 2 * a_sz : 2 * a_sz + 2 * b_sz;
      const bool narrower = c.weights_a ? bl.bk < c.k : bl.bn < c.n;
      INFO(c.line << (packed ? ", packed" : ", row-major") << ": blocks " << bl.bm << " x " << bl.bn
                  << " x " << bl.bk);
      mapper::MapOptions o;
      o.pack_weights = packed;
      const mapper::Mapping m = mapper::map_workload(w, spec, map, o);
      INFO(m.ops[0].strategy);
      REQUIRE(m.ops[0].strategy.find(c.split) != std::string::npos);
      CHECK(m.ops[0].strategy.find(packed ? "weights packed" : "weights row-major") !=
            std::string::npos);
      uint64_t strided = 0, tiles = 0;
      for (const auto& prog : m.programs) {
        std::map<std::pair<uint64_t, uint64_t>, uint32_t> runs;  // remote [lo, hi) -> loads
        for (const tile::Command& x : prog) {
          if (x.kind != tile::CmdKind::kDmaLoad || x.dma.local_addr < lo || x.dma.local_addr >= hi)
            continue;
          strided += x.dma.size[1] > 1;
          for (uint64_t r = 0; r < x.dma.size[1]; ++r) {
            const uint64_t at = x.dma.remote_addr + r * x.dma.remote_stride[1];
            ++runs[{at, at + x.dma.size[0]}];
          }
        }
        if (runs.empty()) continue;
        ++tiles;
        uint64_t holes = 0, uneven = 0, end = runs.begin()->first.first;
        for (const auto& [run, n] : runs) {
          holes += run.first != end;
          end = run.second;
          uneven += n != reads;
        }
        CHECK(holes == 0);
        CHECK(uneven == 0);
        CHECK(end - runs.begin()->first.first ==
              c.m * c.k * eb * c.weights_a + c.k * c.n * eb * !c.weights_a);
      }
      CHECK(tiles == 4);
      if (packed || !narrower) {
        CHECK(strided == 0);
      } else {
        CHECK(strided > 0);
      }
    }
  }
  CHECK(max_reads > 1);  // the case of B read once per M block kept its several M blocks
}

TEST_CASE("gemm lowering: weights in A of a K/V op do not overlap its K/V cache", "[unit]") {
  // qk with its A given as weights, split along N (and perhaps M) over tiny's 4 tiles:
  // each tile's A block and its K/V slice are both resident near it. They were one
  // region sized for A, so B's loads read A's bytes (and past them when wider).
  const mapper::Mapping m = map_text(
      "tiny", {}, "tessera-trace 1\nqk q m=64 n=256 k=64 kv_bytes=32768 weights=a dtype=bf16\n");
  REQUIRE(m.ops[0].strategy.find("N/1 ") == std::string::npos);  // A blocks: several readers
  uint64_t used = 0;
  for (uint64_t b : m.stack_bytes_used) used += b;
  // A once (each block is read by every tile of its N split: one copy, not one per tile),
  // the K/V cache once, the 64 x 256 output; each a 4 KiB multiple, so nothing else and
  // no overlap.
  CHECK(used == 64 * 64 * 2 + 32768 + 64 * 256 * 2);
}

TEST_CASE("gemm lowering: a causal qk and av skip the blocks of hidden scores", "[unit]") {
  // 4 heads of 512 tokens on tiny's 4 tiles (16 x 16 arrays), in row bands of 128 that
  // each compute the keys up to their last row's: (1 + 2 + 3 + 4) / 16 of the full
  // products' MACs, and at least the visible scores'. Without the mask, all of them.
  const std::string trace =
      "tessera-trace 1\nqk s m=512 n=512 k=64 batch=4 dtype=bf16\n"
      "softmax p elems=1048576 dtype=bf16 deps=s\n"
      "av o m=512 n=64 k=512 batch=4 dtype=bf16 deps=p\n";
  std::string causal = trace;
  for (const char* op : {"s m=512 n=512 k=64 batch=4", "o m=512 n=64 k=512 batch=4"}) {
    const size_t at = causal.find(op) + std::string(op).size();
    causal.insert(at, " causal=1");
  }
  const mapper::Mapping full = map_text("tiny", {}, trace, separate_attention()),
                        mask = map_text("tiny", {}, causal, separate_attention());
  const uint64_t all = 4ull * 512 * 512 * 64, visible = 4ull * 512 * 513 / 2 * 64;
  for (const char* op : {"s", "o"}) {
    INFO(op);
    CHECK(macs(full, op) == all);
    CHECK(macs(mask, op) >= visible);
    CHECK(macs(mask, op) <= all * 10 / 16);
  }
  // One head over tiny's 4 tiles: split into pieces that start at other rows and keys
  // (a piece that took its first row or key for the head's would miss visible scores).
  // Heads of 200 tokens: bands end at each head's last row (a band across two heads
  // would see every key): 77 % of the MACs in bands of up to 128 rows.
  for (const char* one : {"tessera-trace 1\nqk s m=512 n=512 k=64 causal=1 dtype=bf16\n",
                          "tessera-trace 1\nav o m=512 n=64 k=512 causal=1 dtype=bf16\n",
                          "tessera-trace 1\nqk s m=400 n=200 k=64 batch=4 causal=1 dtype=bf16\n"}) {
    INFO(one);
    const mapper::Mapping s = map_text("tiny", {}, one);
    const auto& op = s.ops[0];
    const bool qk = op.kind == "qk";
    const bool long_head = std::string(one).find("m=512") != std::string::npos;
    if (long_head) CHECK(op.strategy.find("split") != std::string::npos);
    const uint64_t n_all = long_head ? 512ull * 512 * 64 : 4ull * 400 * 200 * 64;
    const uint64_t n_visible = long_head ? 512ull * 513 / 2 * 64 : 4ull * 400 * 201 / 2 * 64;
    CHECK(macs(s, qk ? "s" : "o") >= n_visible);
    CHECK(macs(s, qk ? "s" : "o") <= (long_head ? n_all * 10 / 16 : n_all * 78 / 100));
  }
  // --explain says so, and the memory floor's bytes shrink with the skipped blocks.
  CHECK(mask.ops[0].strategy.find("causal mask:") != std::string::npos);
  CHECK(full.ops[0].strategy.find("causal") == std::string::npos);
  CHECK(mask.ops[0].hbm_bytes < full.ops[0].hbm_bytes);
  CHECK(mask.ops[2].hbm_bytes < full.ops[2].hbm_bytes);
  // They stay a floor: no more than the op's loads and stores move.
  for (const mapper::Mapping* x : {&full, &mask})
    for (size_t i : {0, 2}) {
      INFO(x->ops[i].name << (x == &mask ? " causal" : ""));
      CHECK(x->ops[i].hbm_bytes <= dma_bytes(*x, x->ops[i].name));
      CHECK(x->ops[i].hbm_bytes >= dma_bytes(*x, x->ops[i].name) / 4);  // not far below
    }
}

TEST_CASE("fused attention: qk, softmax and av as one kernel without hazards", "[unit]") {
  // A prompt's attention on tiny: 2 KV heads of 2 query heads each (GQA stacking), causal,
  // Q and K from one producer (x: Q, then K), V from another (v). Heads of 200 tokens (a
  // band's keys in at most 2 blocks of 128) and of 512 (up to 4, so the double buffers'
  // slots are reused). The av carries every command: per row band Q once, K and V blocks
  // up to the band's last key, two GEMMs a block; qk and the softmax none. No command
  // overwrites a buffer still in use, every load lies inside x's or v's output, and no
  // score reaches HBM.
  for (const uint64_t L : {200ull, 512ull}) {
    INFO(L << "-token heads");
    const uint64_t rows = 2 * L, q = 2 * rows * 64, kv = 2 * 64 * L;  // elements
    const uint64_t scores = 2 * rows * (L + 1) / 2;
    const std::string chain = fmt::format(
        "tessera-trace 1\nelementwise x elems={} dtype=bf16\nelementwise v elems={} dtype=bf16\n"
        "qk s m={} n={} k=64 batch=2 causal=1 dtype=bf16 deps=x\n"
        "softmax p elems={} dtype=bf16 deps=s\n"
        "av o m={} n=64 k={} batch=2 causal=1 dtype=bf16 deps=p,v\n",
        q + kv, kv, rows, L, scores, rows, L);
    const mapper::Mapping m = map_text("tiny", {}, chain);
    CHECK(m.ops[2].strategy == "fused into o");
    CHECK(m.ops[3].strategy == "fused into o");
    CHECK(m.ops[4].strategy.find("fused with s and p") != std::string::npos);
    uint64_t gemm_macs = 0, stored = 0, by_others = 0;
    std::vector<std::pair<uint64_t, uint64_t>> produced;  // x's and v's stored rows
    for (const tile::Program& prog : m.programs)
      for (const tile::Command& c : prog)
        if ((c.label == "x" || c.label == "v") && c.kind == tile::CmdKind::kDmaStore)
          for (uint64_t r = 0; r < c.dma.size[1]; ++r)
            produced.emplace_back(c.dma.remote_addr + r * c.dma.remote_stride[1], c.dma.size[0]);
    // Rows that meet or touch are one range (the producers store in chunks).
    std::sort(produced.begin(), produced.end());
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    for (const auto& [p0, n] : produced)
      if (!merged.empty() && p0 <= merged.back().first + merged.back().second)
        merged.back().second = std::max(merged.back().second, p0 + n - merged.back().first);
      else
        merged.emplace_back(p0, n);
    produced = merged;
    auto inside = [&](uint64_t at, uint64_t len) {
      for (const auto& [p0, n] : produced)
        if (at >= p0 && at + len <= p0 + n) return true;
      return false;
    };
    size_t outside = 0;
    std::vector<std::pair<uint64_t, uint64_t>> loaded;
    for (const tile::Program& prog : m.programs)
      for (const tile::Command& c : prog) {
        if (c.label == "s" || c.label == "p") ++by_others;
        if (c.label != "o") continue;
        if (c.kind == tile::CmdKind::kGemm) gemm_macs += uint64_t(c.gemm.m) * c.gemm.n * c.gemm.k;
        if (c.kind == tile::CmdKind::kDmaStore) stored += c.dma.bytes();
        if (c.kind == tile::CmdKind::kDmaLoad)
          for (uint64_t r = 0; r < c.dma.size[1]; ++r) {
            const uint64_t at = c.dma.remote_addr + r * c.dma.remote_stride[1];
            outside += !inside(at, c.dma.size[0]);
            loaded.emplace_back(at, at + c.dma.size[0]);
          }
      }
    CHECK(by_others == 0);
    CHECK(outside == 0);
    // ... and every byte of them is read (Q, K and V each from its own place).
    std::sort(loaded.begin(), loaded.end());
    uint64_t covered = 0, end = 0;
    for (const auto& [b0, b1] : loaded) {
      if (b1 > std::max(b0, end)) covered += b1 - std::max(b0, end);
      end = std::max(end, b1);
    }
    CHECK(covered == (q + 2 * kv) * 2);
    CHECK(stored == q * 2);                          // only O is written
    CHECK(m.ops[4].hbm_bytes <= dma_bytes(m, "o"));  // the memory floor's bytes: a floor
    CHECK(m.ops[4].hbm_bytes == 2 * q * 2 + 2 * kv * 2);
    // Both products over the visible scores, at most the bands' whole-block share (77 %
    // of the full products for 200 tokens, 10/16 for 512).
    CHECK(gemm_macs >= 2 * scores * 64);
    CHECK(gemm_macs <= 2 * 2 * rows * L * 64 * (L == 200 ? 78 : 63) / 100);
    CHECK(check_scratchpad_hazards(m) > 100);
    // With room for a second Q and O (tiny's 512 KiB), a tile's next band loads its Q
    // without waiting for this band's GEMMs: the first load after a tile's first store
    // of O waits for no GEMM. (Until the twenty-fifth session it waited for the band's
    // last P V.)
    size_t tiles_with_two = 0;
    for (const tile::Program& prog : m.programs) {
      bool stored = false;
      for (const tile::Command& c : prog) {
        if (c.label != "o") continue;
        if (c.kind == tile::CmdKind::kDmaStore) stored = true;
        if (!stored || c.kind != tile::CmdKind::kDmaLoad) continue;
        ++tiles_with_two;
        for (uint32_t d : c.deps) CHECK(prog[d].kind != tile::CmdKind::kGemm);
        break;
      }
    }
    CHECK(tiles_with_two > 0);
    // --attention separate: three ops, as before.
    const mapper::Mapping sep = map_text("tiny", {}, chain, separate_attention());
    CHECK(sep.ops[2].strategy.find("fused") == std::string::npos);
    CHECK(sep.ops[4].strategy.find("fused") == std::string::npos);
    // A scratchpad too small for array-sized blocks: the three ops run separately.
    const mapper::Mapping small = map_text("tiny", {"tile.scratchpad.size_kib=16"}, chain);
    CHECK(small.ops[4].strategy.find("fused") == std::string::npos);
  }
  // Decode (a K/V cache) and a softmax someone else reads stay separate.
  const mapper::Mapping dec =
      map_text("tiny", {},
               "tessera-trace 1\nqk s m=2 n=256 k=64 batch=2 kv_bytes=65536 dtype=bf16\n"
               "softmax p elems=1024 dtype=bf16 deps=s\n"
               "av o m=2 n=64 k=256 batch=2 kv_bytes=65536 dtype=bf16 deps=p\n");
  CHECK(dec.ops[0].strategy.find("fused") == std::string::npos);
  const mapper::Mapping two = map_text("tiny", {},
                                       "tessera-trace 1\nqk s m=64 n=64 k=64 batch=2 dtype=bf16\n"
                                       "softmax p elems=8192 dtype=bf16 deps=s\n"
                                       "av o m=64 n=64 k=64 batch=2 dtype=bf16 deps=p\n"
                                       "elementwise e elems=8192 dtype=bf16 deps=p\n");
  CHECK(two.ops[0].strategy.find("fused") == std::string::npos);
}

TEST_CASE("chunked prefill: attention reads the cached keys and skips the hidden ones", "[unit]") {
  // 2 KV heads of 2 query heads each, a chunk of L = 512 tokens after 256 cached ones on
  // tiny; K and V (768 tokens) come from the cache. Row bands of at most 128 rows each
  // compute the keys up to past + their last row's: at most (384 + 512 + 640 + 768) /
  // (4 x 768) = 75 % of the full products, at least the visible scores' (past + the
  // prompt's triangle: 67 %). A band that ignored the past would compute less than the
  // visible share; one that ignored the mask, all of it.
  const uint64_t L = 512, past = 256, keys = L + past, rows = 2 * L;
  const uint64_t full = 2 * rows * keys * 64, visible = 2 * (rows * past + rows * (L + 1) / 2) * 64;
  const uint64_t q = 2 * rows * 64, kv = 2 * 64 * keys;  // elements
  const std::string chain = fmt::format(
      "tessera-trace 1\nelementwise x elems={} dtype=bf16\n"
      "qk s m={} n={} k=64 batch=2 kv_bytes={} causal=1 past={} dtype=bf16 deps=x\n"
      "softmax p elems={} dtype=bf16 deps=s\n"
      "av o m={} n=64 k={} batch=2 kv_bytes={} causal=1 past={} dtype=bf16 deps=p\n",
      q, rows, keys, kv * 2, past, visible / 64, rows, keys, kv * 2, past);
  // Fused (the default): one kernel; its K and V loads (every load outside x's output,
  // which holds Q) move one d x kb block of K and one of V per S = Q K block.
  const mapper::Mapping m = map_text("tiny", {}, chain);
  REQUIRE(m.ops[3].strategy.find("fused with s and p") != std::string::npos);
  uint64_t x_lo = ~0ull, x_hi = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog)
      if (c.label == "x" && c.kind == tile::CmdKind::kDmaStore) {
        x_lo = std::min(x_lo, c.dma.remote_addr);
        x_hi = std::max(
            x_hi, c.dma.remote_addr + (c.dma.size[1] - 1) * c.dma.remote_stride[1] + c.dma.size[0]);
      }
  uint64_t kv_loaded = 0, q_loaded = 0, block_elems = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) {
      if (c.label != "o") continue;
      if (c.kind == tile::CmdKind::kGemm) block_elems += uint64_t(c.gemm.n) * c.gemm.k;
      if (c.kind != tile::CmdKind::kDmaLoad) continue;
      const bool in_x = c.dma.remote_addr >= x_lo && c.dma.remote_addr < x_hi;
      (in_x ? q_loaded : kv_loaded) += c.dma.bytes();
    }
  CHECK(q_loaded == q * 2);
  CHECK(kv_loaded == block_elems * 2);  // S = Q K: d x kb of K; O += P V: kb x d of V
  CHECK(macs(m, "o") >= 2 * visible);
  CHECK(macs(m, "o") <= 2 * full * 75 / 100);
  CHECK(macs(m, "o") > 2 * full * 70 / 100);  // bands of 128 rows: near 75 %, not 67 %
  CHECK(check_scratchpad_hazards(m) > 100);
  // Separate: qk and av each compute their bands' keys, K and V from the cache.
  const mapper::Mapping sep = map_text("tiny", {}, chain, separate_attention());
  for (const char* op : {"s", "o"}) {
    INFO(op);
    CHECK(macs(sep, op) >= visible);
    CHECK(macs(sep, op) <= full * 75 / 100);
  }
  CHECK(sep.ops[1].strategy.find("causal mask:") != std::string::npos);
  // Parts that share one cache (kv_bytes of one part: the two heads read one KV head's K
  // and V) stay three ops, which stack the heads' rows and read it once.
  std::string shared = chain;
  for (size_t at; (at = shared.find(fmt::format("kv_bytes={} ", kv * 2))) != std::string::npos;)
    shared.replace(at, fmt::format("kv_bytes={} ", kv * 2).size(), fmt::format("kv_bytes={} ", kv));
  const mapper::Mapping sh = map_text("tiny", {}, shared);
  CHECK(sh.ops[3].strategy.find("fused") == std::string::npos);
  CHECK(sh.ops[1].strategy.rfind("split", 0) == 0);  // the two heads as one GEMM over it
  // Without the cached keys (past=0 and 512 keys), the same bands compute 10/16.
  const std::string own = fmt::format(
      "tessera-trace 1\nelementwise x elems={} dtype=bf16\n"
      "qk s m={} n={} k=64 batch=2 causal=1 dtype=bf16 deps=x\n",
      q + 2 * 64 * L, rows, L);
  const mapper::Mapping p0 = map_text("tiny", {}, own);
  CHECK(macs(p0, "s") <= 2 * rows * L * 64 * 10 / 16);
}

TEST_CASE("gemm lowering: a K split's reduction double-buffers without hazards", "[unit]") {
  // tiny's 4 tiles split a 64 x 16 x 65536 GEMM M/2 K/2 (one column fold: N does not
  // split, and an M split alone would read all of B on every tile); with a 16 KiB
  // scratchpad the two owners (one of them under the barrier's root, released by it)
  // add the partial sums where the GEMM's buffers were.
  const mapper::Mapping m = map_text("tiny", {"tile.scratchpad.size_kib=16"},
                                     "tessera-trace 1\ngemm w m=64 n=16 k=65536 dtype=bf16 "
                                     "weights=b\n");
  REQUIRE(m.ops[0].strategy.find("K/2") != std::string::npos);
  size_t adds = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) adds += c.kind == tile::CmdKind::kVector;
  CHECK(adds >= 2);  // an add per owner at least
  CHECK(check_scratchpad_hazards(m) > 20);
}

TEST_CASE("vector lowering: each input is read from its own producer's output", "[unit]") {
  // mul reads silu's and w3's outputs (2 x 64 x 512 bf16 = 2 x 64 KiB); rope-like `r`
  // reads a's output and then a tensor of its own. Every byte a vector op loads must lie
  // in one producer's stored output or in memory the op was given, never past a
  // producer's output (the second input used to be read after the first one's end).
  const mapper::Mapping m =
      map_text("tiny", {},
               "tessera-trace 1\n"
               "gemm silu m=64 n=512 k=256 weights=b dtype=bf16\n"
               "gemm w3 m=64 n=512 k=256 weights=b dtype=bf16\n"
               "elementwise mul elems=32768 inputs=2 dtype=bf16 deps=silu,w3\n"
               "elementwise r elems=32768 inputs=2 dtype=bf16 deps=silu\n"
               // w3's output stays live up to here, so that r's own input cannot
               // reuse its memory.
               "elementwise z elems=32768 inputs=1 dtype=bf16 deps=w3\n");
  // Stored byte ranges per op (its output), and loaded ranges per vector op.
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;  // [lo, hi)
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> loads;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) {
      const tile::DmaDesc& d = c.dma;
      const uint64_t lo = d.remote_addr, hi = lo + (d.size[2] - 1) * d.remote_stride[2] +
                                              (d.size[1] - 1) * d.remote_stride[1] + d.size[0];
      if (c.kind == tile::CmdKind::kDmaStore) {
        auto it = out.emplace(c.label, std::make_pair(lo, hi)).first;
        it->second.first = std::min(it->second.first, lo);
        it->second.second = std::max(it->second.second, hi);
      } else if (c.kind == tile::CmdKind::kDmaLoad && (c.label == "mul" || c.label == "r")) {
        loads[c.label].push_back({lo, hi});
      }
    }
  REQUIRE(out.count("silu"));
  REQUIRE(out.count("w3"));
  auto inside = [](std::pair<uint64_t, uint64_t> r, std::pair<uint64_t, uint64_t> o) {
    return r.first >= o.first && r.second <= o.second;
  };
  uint64_t from_silu = 0, from_w3 = 0, other = 0;
  for (const auto& r : loads["mul"]) {
    if (inside(r, out["silu"]))
      from_silu += r.second - r.first;
    else if (inside(r, out["w3"]))
      from_w3 += r.second - r.first;
    else
      other += r.second - r.first;
  }
  CHECK(from_silu == 65536);
  CHECK(from_w3 == 65536);
  CHECK(other == 0);
  // r: its first input is silu's output; the second is not w3's (not a dependency).
  uint64_t r_silu = 0, r_w3 = 0;
  for (const auto& x : loads["r"]) {
    r_silu += inside(x, out["silu"]) ? x.second - x.first : 0;
    r_w3 += inside(x, out["w3"]) ? x.second - x.first : 0;
  }
  CHECK(r_silu == 65536);
  CHECK(r_w3 == 0);
}

TEST_CASE("vector lowering: chunks reuse a scratchpad half only after its store", "[unit]") {
  // 1 M elements of two inputs over tiny's 4 tiles with a 64 KiB scratchpad: many chunks
  // per tile, alternating halves; a chunk's result must not overwrite what the store of
  // the chunk two before is still reading.
  const mapper::Mapping m =
      map_text("tiny", {"tile.scratchpad.size_kib=64"},
               "tessera-trace 1\nelementwise e elems=1048576 inputs=2 dtype=bf16\n");
  CHECK(check_scratchpad_hazards(m) > 100);
}

TEST_CASE("vector lowering: cut rows of an odd length reuse a slot only after its store",
          "[unit]") {
  // Rows of 4095 elements and their inputs in an 8 KiB scratchpad: pieces of 1024, the
  // last of each row 1023. A short piece's output once lay where the next piece in its
  // slot loads its inputs, which wait for its vector command, not for its store.
  const mapper::Mapping m =
      map_text("tiny", {"tile.scratchpad.size_kib=8"},
               "tessera-trace 1\nmeta hidden=4095\nrmsnorm n elems=32760 dtype=bf16\n");
  CHECK(check_scratchpad_hazards(m) > 100);
}

TEST_CASE("tree all-reduce: a rank's slots are reused only after their users", "[unit]") {
  // Four packages, 1 MiB: many pieces per tree, so every slot kind wraps round.
  mapper::MapOptions opt;
  opt.collective = "tree";
  const mapper::Mapping m =
      map_text("tiny", {"system.packages=4"},
               "tessera-trace 1\nmeta dp=4\nallreduce c bytes=1048576 group=4 dtype=bf16\n", opt);
  CHECK(check_scratchpad_hazards(m) > 500);
}

TEST_CASE("multi-rank traces: each rank's compute comes before its part of a collective",
          "[unit]") {
  // Every rank's ops (as a Chakra import gives them): rank 0's all-reduce is lowered
  // once over both ranks, so rank 1's GEMM, which its all-reduce depends on, must come
  // before that collective in rank 1's tile programs (it came after: lowered by index).
  const mapper::Mapping m = map_text("tiny", {},
                                     "tessera-trace 1\nmeta ranks=2\n"
                                     "gemm c0 m=64 n=64 k=64 weights=b dtype=bf16 rank=0\n"
                                     "allreduce a0 bytes=8192 group=2 dtype=bf16 deps=c0 rank=0\n"
                                     "gemm c1 m=64 n=64 k=64 weights=b dtype=bf16 rank=1\n"
                                     "allreduce a1 bytes=8192 group=2 dtype=bf16 deps=c1 rank=1\n");
  REQUIRE(m.groups == 2);
  size_t checked = 0;
  for (uint32_t t = 2; t < 4; ++t) {  // rank 1's tiles
    int64_t first_c1 = -1, first_a0 = -1;
    for (const tile::Command& c : m.programs[t]) {
      if (c.label == "c1" && first_c1 < 0) first_c1 = c.id;
      if (c.label == "a0" && first_a0 < 0) first_a0 = c.id;
    }
    if (first_c1 < 0 || first_a0 < 0) continue;
    CHECK(first_c1 < first_a0);
    ++checked;
  }
  CHECK(checked > 0);
  // Ranks whose collectives differ in number are refused.
  CHECK_THROWS_WITH(map_text("tiny", {},
                             "tessera-trace 1\nmeta ranks=2\n"
                             "allreduce a0 bytes=8192 group=2 rank=0\n"
                             "gemm c1 m=64 n=64 k=64 weights=b rank=1\n"),
                    Catch::Contains("rank 1 has 0 communication ops"));
}

TEST_CASE("pipeline stages: a middle stage's recv and send move the data once", "[unit]") {
  // A middle stage (rank 1 of 4) receives from the stage before and sends to the one
  // after. Every rank runs the program, so the recv already moves every stage's data to
  // the next: the send is its other end and adds no transfer.
  const mapper::Mapping m = map_text("tiny", {},
                                     "tessera-trace 1\nmeta tp=1 pp=4 dp=1 rank=1\n"
                                     "recv r bytes=65536 peer=0 dtype=bf16\n"
                                     "gemm g m=64 n=512 k=512 weights=b dtype=bf16 deps=r\n"
                                     "send s bytes=65536 peer=2 dtype=bf16 deps=g\n");
  uint64_t recv_bytes = 0, send_cmds = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) {
      if (c.label == "r" && c.kind == tile::CmdKind::kDmaStore) recv_bytes += c.dma.bytes();
      send_cmds += c.label == "s";
    }
  // Three stage-to-stage transfers of 64 KiB (stages 0->1, 1->2, 2->3).
  CHECK(recv_bytes == 3 * 65536);
  CHECK(send_cmds == 0);
  CHECK(m.ops[2].strategy.find("other end") != std::string::npos);
}

TEST_CASE("collectives: the HBM traffic they make at least goes to the memory floor", "[unit]") {
  // 4 ranks on tiny's 4 tiles: an all-reduce of N reads N and writes N on every rank,
  // an all-gather reads N/4 and writes N (the report's memory floor had been 0).
  const mapper::Mapping m = map_text("tiny", {},
                                     "tessera-trace 1\nmeta tp=4\n"
                                     "allreduce a bytes=65536 group=4 dtype=bf16\n"
                                     "allgather g bytes=65536 group=4 dtype=bf16 deps=a\n");
  CHECK(m.ops[0].hbm_bytes == 2 * 4 * 65536);
  CHECK(m.ops[1].hbm_bytes == 4 * 16384 + 4 * 65536);
}

TEST_CASE("embedding: row gathers overlap, a slot is reused only after its store", "[unit]") {
  // 512 token rows of 4096 bf16 (8 KiB) over tiny's 4 tiles: each tile rotates its
  // rows through the slots that fit its scratchpad. A gather waits for the store that
  // last read its slot, not for the previous row's store (which serialised them).
  const mapper::Mapping m = map_text(
      "tiny", {}, "tessera-trace 1\nembedding e tokens=512 dim=4096 vocab=32000 dtype=bf16\n");
  size_t loads = 0, after_store = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) {
      if (c.kind != tile::CmdKind::kDmaLoad) continue;
      ++loads;
      for (uint32_t d : c.deps) after_store += prog[d].kind == tile::CmdKind::kDmaStore;
    }
  REQUIRE(loads == 512);
  CHECK(after_store > 0);           // slots are reused (512 rows do not fit at once) ...
  CHECK(after_store < loads - 16);  // ... but many gathers start without waiting
  CHECK(check_scratchpad_hazards(m) > 100);
}

TEST_CASE("opaque ops: no work lowers to nothing, bytes alone to a stream", "[unit]") {
  const mapper::Mapping m = map_text("tiny", {},
                                     "tessera-trace 1\nopaque z flops=0 bytes=0\n"
                                     "opaque b flops=0 bytes=1048576 dtype=bf16 deps=z\n");
  size_t z_cmds = 0, b_gemms = 0;
  uint64_t b_bytes = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) {
      z_cmds += c.label == "z";
      if (c.label != "b") continue;
      b_gemms += c.kind == tile::CmdKind::kGemm;
      if (c.kind == tile::CmdKind::kDmaLoad || c.kind == tile::CmdKind::kDmaStore)
        b_bytes += c.dma.bytes();
    }
  CHECK(z_cmds == 0);  // was a one-MAC GEMM with its loads
  CHECK(b_gemms == 0);
  CHECK(b_bytes == 1048576);  // half read, half written
}

TEST_CASE("opaque ops with FLOPs and bytes move their bytes", "[unit]") {
  // tiny's 16x16 arrays. Until the thirteenth session an opaque op was always an
  // M x 16 x 16 GEMM whatever its bytes: an elementwise kernel of a Chakra trace (1 FLOP
  // per element, 12 bytes per element) moved about a hundredth of its bytes, a GEMM of
  // known num_ops and tensor_size many times its bytes.
  // Elementwise-like: 1 M FLOPs, 12 MiB (fp32 a + b = c).
  const mapper::Mapping e =
      map_text("tiny", {}, "tessera-trace 1\nopaque e flops=1048576 bytes=12582912 dtype=fp32\n");
  CHECK(e.ops[0].strategy.find("streamed as a copy") != std::string::npos);
  CHECK(dma_bytes(e, "e") >= 12582912 * 9 / 10);
  CHECK(dma_bytes(e, "e") <= 12582912 * 11 / 10);
  // GEMM-like: a 1024 x 1024 x 1024 bf16 GEMM's FLOPs and operand bytes: shaped as a
  // cube (its operands hold 6 MiB) instead of 2^20 x 16 x 16 (about 260 MiB).
  const mapper::Mapping g =
      map_text("tiny", {}, "tessera-trace 1\nopaque g flops=2147483648 bytes=6291456 dtype=bf16\n");
  CHECK(g.ops[0].strategy.find("1024x1024x1024 GEMM") != std::string::npos);
  CHECK(dma_bytes(g, "g") < 64ull << 20);
  // Between the two: bytes set the block size (K = N) between the array's and the cube.
  const mapper::Mapping h = map_text(
      "tiny", {}, "tessera-trace 1\nopaque h flops=2147483648 bytes=33554432 dtype=bf16\n");
  const std::string& hs = h.ops[0].strategy;
  CHECK(hs.find("streamed") == std::string::npos);
  CHECK(hs.find("1024x1024x1024") == std::string::npos);
  CHECK(hs.find("x16x16 GEMM") == std::string::npos);
  // A 16 x 64 array: bytes between the square-block GEMM's and the array-shaped GEMM's
  // traffic were left unmoved (the square search started above the array's shape): a
  // 512 x 64 x 64 GEMM moved 160 of these 293 KiB.
  const mapper::Mapping w =
      map_text("tiny", {"tile.array.cols=64"},
               "tessera-trace 1\nopaque x flops=4194304 bytes=300000 dtype=bf16\n");
  CHECK(dma_bytes(w, "x") >= 300000 * 9 / 10);
}

TEST_CASE("a barrier synchronises its ranks: an all-reduce of one element", "[unit]") {
  // 4 ranks on tiny: every rank group's leader sends, so no rank can leave before all
  // have arrived (a barrier of no bytes lowered to nothing before).
  const mapper::Mapping m =
      map_text("tiny", {}, "tessera-trace 1\nmeta tp=4\nbarrier b bytes=0 group=4\n");
  size_t senders = 0;
  for (const tile::Program& prog : m.programs) {
    bool sends = false;
    for (const tile::Command& c : prog)
      sends = sends || (c.label == "b" && c.kind == tile::CmdKind::kSend);
    senders += sends;
  }
  CHECK(senders == 4);
  CHECK(m.ops[0].strategy.find("ring") != std::string::npos);
}

TEST_CASE("placement: with an interleaved region, activations live there, weights near tiles",
          "[unit]") {
  const std::string trace =
      "tessera-trace 1\ngemm a m=128 n=1024 k=1024 dtype=bf16 weights=b\n"
      "gemm b m=128 n=1024 k=1024 dtype=bf16 weights=b deps=a\n"
      "gemm g m=1 n=4096 k=1024 dtype=bf16 weights=b deps=b\n";
  const auto spec = system::load_spec("chiplet4", {"package.hbm_interleave_bytes=4096"});
  const system::AddressMap map(spec);
  mapper::MapOptions once;
  once.weight_copies = "once";
  const mapper::Mapping m =
      mapper::map_workload(traces::parse_trace(trace, "t.tsr"), spec, map, once);
  REQUIRE(m.interleaved_bytes_used.size() == 1);
  // b's input (a's output, 256 KiB) and b's output at least (a's input is free again
  // once a is done).
  CHECK(m.interleaved_bytes_used[0] >= 2 * 128 * 1024 * 2);
  uint64_t in_region = 0, near = 0;
  for (size_t t = 0; t < m.programs.size(); ++t)
    for (const tile::Command& c : m.programs[t]) {
      if (c.kind != tile::CmdKind::kDmaLoad && c.kind != tile::CmdKind::kDmaStore) continue;
      const system::Target d = map.decode(c.dma.remote_addr);
      REQUIRE(d.kind == system::Target::kHbm);
      if (c.dma.remote_addr >= map.interleave_start()) {
        ++in_region;
        continue;
      }
      // Everything else is a weight that only this tile reads (g, a GEMV: every tile
      // its own columns), in a stack of the tile's own chiplet. Weights that tiles on
      // several chiplets read (a's and b's, split along M) are in the region.
      CHECK(c.kind == tile::CmdKind::kDmaLoad);
      CHECK(c.label == "g");
      CHECK(map.stack_place(d.index).chiplet_gid == map.tile_place(uint32_t(t)).chiplet_gid);
      ++near;
    }
  CHECK(in_region > 0);
  CHECK(near > 0);
  // A copy per chiplet instead: every weight load stays on the tile's own chiplet.
  mapper::MapOptions per_chiplet;
  per_chiplet.weight_copies = "per-chiplet";
  const mapper::Mapping pc =
      mapper::map_workload(traces::parse_trace(trace, "t.tsr"), spec, map, per_chiplet);
  CHECK(pc.weights_per_chiplet);
  uint64_t own_chiplet = 0;
  for (size_t t = 0; t < pc.programs.size(); ++t)
    for (const tile::Command& c : pc.programs[t])
      if (c.kind == tile::CmdKind::kDmaLoad && c.dma.remote_addr < map.interleave_start()) {
        CHECK(map.stack_place(map.decode(c.dma.remote_addr).index).chiplet_gid ==
              map.tile_place(uint32_t(t)).chiplet_gid);
        ++own_chiplet;
      }
  CHECK(own_chiplet > near);
  // Four ranks, one per chiplet: each keeps its activations in its own chiplet's stacks
  // under the package-wide region, and uses its own chiplet's region when there is one.
  const std::string ranks = "tessera-trace 1\nmeta tp=4\n" + trace.substr(trace.find('\n') + 1);
  for (const char* over : {"package", "chiplet"}) {
    INFO(over);
    const auto s4 =
        system::load_spec("chiplet4", {std::string("package.hbm_interleave_over=") + over});
    const system::AddressMap m4(s4);
    const mapper::Mapping r = mapper::map_workload(traces::parse_trace(ranks, "t.tsr"), s4, m4);
    REQUIRE(r.groups == 4);
    uint64_t placed = 0;
    for (uint64_t b : r.interleaved_bytes_used) placed += b;
    CHECK((placed > 0) == (std::string(over) == "chiplet"));
    for (size_t t = 0; t < r.programs.size(); ++t)
      for (const tile::Command& c : r.programs[t])
        if (c.kind == tile::CmdKind::kDmaLoad || c.kind == tile::CmdKind::kDmaStore)
          CHECK(m4.owner_chiplet(m4.decode(c.dma.remote_addr)) ==
                m4.tile_place(uint32_t(t)).chiplet_gid);
  }
  // Without the region nothing is placed there.
  const auto plain = system::load_spec("chiplet4", {"package.hbm_interleave_bytes=0"});
  const system::AddressMap pmap(plain);
  CHECK(mapper::map_workload(traces::parse_trace(trace, "t.tsr"), plain, pmap)
            .interleaved_bytes_used.empty());
}

TEST_CASE("placement: a weight block that several tiles read is stored once", "[unit]") {
  // A GEMM split along M: every row piece reads the same B blocks. Until the twenty-third
  // session each tile stored its own copy (an M split of 32: 32 copies of the weights).
  const std::string trace = "tessera-trace 1\ngemm w m=4096 n=1024 k=1024 dtype=bf16 weights=b\n";
  // With a copy per chiplet (auto, for weights this small), four copies.
  for (const char* copies : {"once", "per-chiplet", "auto"})
    for (const char* ilv : {"0", "4096"}) {
      INFO("package.hbm_interleave_bytes=" << ilv << ", " << copies);
      mapper::MapOptions o;
      o.weight_copies = copies;
      const mapper::Mapping m =
          map_text("chiplet4", {std::string("package.hbm_interleave_bytes=") + ilv}, trace, o);
      INFO(m.ops[0].strategy);
      REQUIRE(m.ops[0].strategy.find("M/1 ") == std::string::npos);  // split along M
      CHECK(m.weights_per_chiplet == (std::string(copies) != "once"));
      uint64_t used = 0;
      for (uint64_t b : m.stack_bytes_used) used += b;
      for (uint64_t b : m.interleaved_bytes_used) used += b;
      const uint64_t weights = 1024 * 1024 * 2 * (m.weights_per_chiplet ? 4 : 1),
                     activations = 2 * 4096 * 1024 * 2;
      CHECK(used >= weights + activations);
      // 4 KiB alignment of at most one allocation per tile and tensor.
      CHECK(used <= weights + activations + (64 + 2) * 4096);
    }
}

TEST_CASE("placement: weights are copied per chiplet only when the copies leave room", "[unit]") {
  // 16 layers of a 2 GiB weight on chiplet4 (about 103 GB of per-stack memory): stored
  // once, 34 GB; a copy per chiplet would take 137 GB. One layer: 8.6 GB, copied. Only
  // the first layer is lowered, so the choice counts every layer's weights, not what
  // is simulated.
  auto layers = [](int n) {
    std::string t = "tessera-trace 1\n";
    for (int l = 0; l < n; ++l)
      t += fmt::format("gemm w{} m=1 n=32768 k=32768 dtype=bf16 weights=b layer={}\n", l, l);
    return t;
  };
  mapper::MapOptions o;
  o.simulate_layers = 1;
  CHECK(map_text("chiplet4", {}, layers(1), o).weights_per_chiplet);
  const mapper::Mapping big = map_text("chiplet4", {}, layers(16), o);
  INFO(big.weight_copies_why);
  CHECK_FALSE(big.weights_per_chiplet);
  o.weight_copies = "per-chiplet";
  CHECK(map_text("chiplet4", {}, layers(16), o).weights_per_chiplet);
  // One chiplet: nothing to copy.
  CHECK_FALSE(map_text("chiplet4", {"package.chiplets=1"}, layers(1), o).weights_per_chiplet);
}

TEST_CASE("placement: a K/V cache is stored once, even with weights per chiplet", "[unit]") {
  // A qk of 4096 query rows over a 64 MiB K cache (split along M too, so tiles on all
  // four chiplets read each block), with a copy of the weights per chiplet: the cache is
  // stored once
  // (it is state each step writes; copies would each need the new token's K). And the
  // auto choice counts caches once: 16 layers of 4 GiB caches (64 GiB, 69 GB) beside a
  // small weight still copy the weight (needed once: 69 GB, of about 103).
  mapper::MapOptions o;
  o.weight_copies = "per-chiplet";
  const mapper::Mapping m =
      map_text("chiplet4", {},
               "tessera-trace 1\nqk s m=4096 n=262144 k=128 kv_bytes=67108864 dtype=bf16\n", o);
  REQUIRE(m.weights_per_chiplet);
  uint64_t used = 0;
  for (uint64_t b : m.stack_bytes_used) used += b;
  for (uint64_t b : m.interleaved_bytes_used) used += b;
  INFO(m.ops[0].strategy);
  REQUIRE(m.ops[0].strategy.find("M/1 ") == std::string::npos);
  const uint64_t scores = 4096ull * 262144 * 2;  // C
  CHECK(used >= 67108864 + scores);
  CHECK(used < 2 * 67108864 + scores);
  std::string t = "tessera-trace 1\ngemm w m=1 n=4096 k=4096 dtype=bf16 weights=b\n";
  for (int l = 0; l < 16; ++l)
    t += fmt::format("qk s{} m=1 n=16777216 k=128 kv_bytes=4294967296 dtype=bf16 layer={}\n", l, l);
  mapper::MapOptions a;
  a.simulate_layers = 1;
  const mapper::Mapping big = map_text("chiplet4", {}, t, a);
  INFO(big.weight_copies_why);
  CHECK(big.weights_per_chiplet);
}

TEST_CASE("placement: an activation's memory is reused once its last reader is done", "[unit]") {
  // A chain of 32 ops of 1 MiB each on tiny (one stack): at most the tensors of two
  // neighbouring ops are live, so the chain needs a few MiB, not 33.
  std::string trace = "tessera-trace 1\nelementwise e0 elems=524288 inputs=1 dtype=bf16\n";
  for (int i = 1; i < 32; ++i)
    trace += fmt::format("elementwise e{} elems=524288 inputs=1 dtype=bf16 deps=e{}\n", i, i - 1);
  const mapper::Mapping m = map_text("tiny", {}, trace);
  REQUIRE(m.stack_bytes_used.size() == 1);
  CHECK(m.stack_bytes_used[0] >= 2 * 1048576);
  CHECK(m.stack_bytes_used[0] <= 3 * 1048576);
}

TEST_CASE("placement: every byte an op loads was last written by one of its producers", "[unit]") {
  // With activation memory reused, a tensor freed too early would be overwritten by a
  // later op before its reader loads it. For every load of every op (programs in trace
  // order), the last op that stored into those bytes must be the op itself (K-split
  // partials) or one it depends on (for a fused attention kernel, also one its fused qk
  // and softmax depend on); bytes nobody stored are weights, K/V caches or model inputs.
  // Separate attention on BERT (not causal): a causal softmax writes only the visible
  // scores, and the av's blocks across the diagonal also read masked ones it never wrote.
  for (const char* preset : {"tiny", "chiplet4"})
    for (bool fuse : {true, false}) {
      traces::GenOptions g;
      g.model = fuse ? "llama2-7b" : "bert-large";
      g.phase = "prefill";
      g.seq = 128;
      g.layers = 2;
      const traces::Workload w = traces::generate(g);
      INFO(preset << ", " << g.model << (fuse ? ", fused attention" : ", separate attention"));
      const auto spec = system::load_spec(preset, {});
      const system::AddressMap map(spec);
      mapper::MapOptions o;
      o.fuse_attention = fuse;
      const mapper::Mapping m = mapper::map_workload(w, spec, map, o);
      std::map<std::string, size_t> index;
      for (size_t i = 0; i < w.size(); ++i) index[w.op(i).name] = i;
      // Per op: the byte ranges it stores (merged) and its loads.
      using Range = std::pair<uint64_t, uint64_t>;
      std::vector<std::vector<Range>> stores(w.size()), loads(w.size());
      for (const tile::Program& prog : m.programs)
        for (const tile::Command& c : prog) {
          if (c.kind != tile::CmdKind::kDmaLoad && c.kind != tile::CmdKind::kDmaStore) continue;
          const tile::DmaDesc& d = c.dma;
          const uint64_t lo = d.remote_addr, hi = lo + (d.size[2] - 1) * d.remote_stride[2] +
                                                  (d.size[1] - 1) * d.remote_stride[1] + d.size[0];
          const size_t op = index.at(c.label);
          (c.kind == tile::CmdKind::kDmaStore ? stores : loads)[op].push_back({lo, hi});
        }
      for (auto& s : stores) {
        std::sort(s.begin(), s.end());
        std::vector<Range> merged;
        for (const Range& r : s)
          if (!merged.empty() && r.first <= merged.back().second)
            merged.back().second = std::max(merged.back().second, r.second);
          else
            merged.push_back(r);
        s = merged;
      }
      // Ops whose outputs an op may read: its deps, and those of the ops fused into it.
      std::vector<std::set<size_t>> may_read(w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        size_t at = i;
        const std::string& st = m.ops[i].strategy;
        if (m.ops[i].fused) at = index.at(st.substr(st.find("fused into ") + 11));
        for (const auto& d : w.op(i).deps) may_read[at].insert(index.at(d));
      }
      size_t checked = 0, bad = 0;
      std::string why;
      for (size_t z = 0; z < w.size(); ++z)
        for (const Range& l : loads[z]) {
          for (size_t y = z + 1; y-- > 0;) {
            const bool hit = std::any_of(stores[y].begin(), stores[y].end(), [&](const Range& s) {
              return s.first < l.second && l.first < s.second;
            });
            if (!hit) continue;
            ++checked;
            // (An op reading what it wrote itself: K-split partials.)
            if (y != z && !may_read[z].count(y) && bad++ < 5)
              why += w.op(z).name + " loads bytes last written by " + w.op(y).name +
                     fmt::format(" [{:#x}, {:#x}); ", l.first, l.second);
            break;
          }
        }
      CHECK(checked > 100);
      INFO(why);
      CHECK(bad == 0);
    }
}

TEST_CASE("placement: an embedding after other ops gathers only after their barrier", "[unit]") {
  // Its output may take the memory of a tensor that the op before read (a here, dead
  // after b): its gathers, and so its stores, wait for the barrier after b, or they
  // could overwrite a while other tiles still load it.
  const mapper::Mapping m = map_text("tiny", {},
                                     "tessera-trace 1\nelementwise a elems=65536 dtype=bf16\n"
                                     "elementwise b elems=65536 dtype=bf16 deps=a\n"
                                     "embedding e tokens=64 dim=1024 vocab=1000 dtype=bf16\n"
                                     "elementwise c elems=65536 inputs=2 dtype=bf16 deps=b,e\n");
  size_t gathers = 0;
  for (const tile::Program& prog : m.programs)
    for (const tile::Command& c : prog) {
      if (c.label != "e" || c.kind != tile::CmdKind::kDmaLoad) continue;
      ++gathers;
      const bool gated = std::any_of(c.deps.begin(), c.deps.end(), [&](uint32_t d) {
        return prog[d].kind == tile::CmdKind::kWait && prog[d].label == "b";
      });
      CHECK(gated);
    }
  CHECK(gathers == 64);
}

TEST_CASE("mapping: a command limit refuses a larger mapping with one line", "[unit]") {
  const std::string text = "tessera-trace 1\ngemm w m=512 n=4096 k=4096 weights=b dtype=bf16\n";
  size_t total = 0;
  for (const auto& p : map_text("tiny", {}, text).programs) total += p.size();
  REQUIRE(total > 10);
  mapper::MapOptions o;
  o.max_commands = total;  // exactly enough
  o.max_commands_why = "the test's budget";
  size_t again = 0;
  for (const auto& p : map_text("tiny", {}, text, o).programs) again += p.size();
  CHECK(again == total);
  o.max_commands = total - 1;
  try {
    map_text("tiny", {}, text, o);
    FAIL("no error");
  } catch (const sim::UserError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("more than " + std::to_string(total - 1) + " tile commands (op 'w')") !=
          std::string::npos);
    CHECK(msg.find("the test's budget allows") != std::string::npos);
    CHECK(msg.find("--simulate-layers") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(e.exit_code() == sim::kExitFailure);  // the host's limit, not bad input
  }
}
