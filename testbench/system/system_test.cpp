// End-to-end programs on the `tiny` machine: exact cycle counts where they follow from
// the blocks, overlap of independent commands, contention, and bit-exact values.
#include "models/system/system.h"

#include <catch2/catch.hpp>
#include <random>

#include "../elaboration_guard.h"
#include "models/compute/gemm_engine_if.h"
#include "models/tile/vector_unit.h"

using namespace tessera;
using tile::CmdKind;
using tile::Command;

namespace {

struct Rig {
  system::SystemSpec spec;
  system::AddressMap map;
  sim::StatsRegistry stats;
  sim::EnergyLedger energy;
  sim::Timeline timeline{true};
  std::unique_ptr<system::System> sys;
  explicit Rig(std::vector<std::string> sets = {}, bool functional = false,
               const std::string& preset = "tiny")
      : spec(system::load_spec(preset, sets)), map(spec) {
    system::SystemOptions o;
    o.functional = functional;
    sys = std::make_unique<system::System>("sys", spec, map, stats, energy, timeline, o);
  }
};

Command load(uint64_t remote, uint64_t local, uint64_t bytes, std::vector<uint32_t> deps = {}) {
  Command c;
  c.kind = CmdKind::kDmaLoad;
  c.dma.remote_addr = remote;
  c.dma.local_addr = local;
  c.dma.size[0] = bytes;
  c.deps = deps;
  return c;
}
Command store(uint64_t remote, uint64_t local, uint64_t bytes, std::vector<uint32_t> deps = {}) {
  Command c = load(remote, local, bytes, deps);
  c.kind = CmdKind::kDmaStore;
  return c;
}
Command gemm(uint32_t m, uint32_t n, uint32_t k, uint64_t a, uint64_t b, uint64_t c_addr,
             std::vector<uint32_t> deps = {}) {
  Command c;
  c.kind = CmdKind::kGemm;
  c.gemm.m = m;
  c.gemm.n = n;
  c.gemm.k = k;
  c.gemm.a_addr = a;
  c.gemm.b_addr = b;
  c.gemm.c_addr = c_addr;
  c.deps = deps;
  return c;
}
tile::Program numbered(std::vector<Command> cmds) {
  for (uint32_t i = 0; i < cmds.size(); ++i) cmds[i].id = i;
  return cmds;
}
std::vector<tile::Program> only_tile(const Rig& r, uint32_t t, tile::Program p) {
  std::vector<tile::Program> all(r.map.num_tiles());
  all[t] = std::move(p);
  return all;
}

}  // namespace

TEST_CASE("system: a lone DMA load from HBM completes and is counted", "[unit]") {
  TESSERA_ONE_ELABORATION();
  Rig r;
  r.sys->load(only_tile(r, 0, numbered({load(r.map.stack_base(0), 0, 64)})));
  const uint64_t end = r.sys->run();
  REQUIRE(end > 0);
  REQUIRE(r.stats.value("pkg0.chiplet0.tile0.dma_in.bytes_loaded") == 64);
  REQUIRE(r.stats.value("pkg0.chiplet0.hbm0.bytes_read") == 64);
}

TEST_CASE("system: two tiles streaming from one stack share its bandwidth", "[unit]") {
  TESSERA_ONE_ELABORATION();
  Rig r;
  const uint64_t bytes = 256 * 1024;
  std::vector<tile::Program> progs(r.map.num_tiles());
  progs[1] = numbered({load(r.map.stack_base(0), 0, bytes)});
  progs[3] = numbered({load(r.map.stack_base(0) + (1 << 20), 0, bytes)});
  r.sys->load(progs);
  const uint64_t end = r.sys->run();
  REQUIRE(end > 0);
  REQUIRE(r.stats.value("pkg0.chiplet0.hbm0.bytes_read") == 2 * bytes);
}

TEST_CASE("system: every tile streams from the stack at once", "[unit]") {
  TESSERA_ONE_ELABORATION();
  Rig r;
  const uint64_t bytes = 64 * 1024;
  std::vector<tile::Program> progs(r.map.num_tiles());
  for (uint32_t t = 0; t < 4; ++t) {
    Command c = load(r.map.stack_base(0) + t * (1 << 20), 0, 512);
    c.dma.size[1] = bytes / 512;
    c.dma.remote_stride[1] = 512;
    progs[t] = numbered({c});
  }
  r.sys->load(progs);
  REQUIRE(r.sys->run() > 0);
  REQUIRE(r.stats.value("pkg0.chiplet0.hbm0.bytes_read") == 4 * bytes);
}

TEST_CASE("system: every chiplet of a ring reaches every other", "[unit]") {
  TESSERA_ONE_ELABORATION();
  Rig r({}, false, "chiplet4");
  std::vector<tile::Program> progs(r.map.num_tiles());
  // Tile 0 of each chiplet stores 256 bytes into tile 0 of every other chiplet.
  for (uint32_t c = 0; c < 4; ++c) {
    std::vector<Command> cmds;
    for (uint32_t d = 0; d < 4; ++d)
      if (d != c) cmds.push_back(store(r.map.tile_base(r.map.tile_id(d, 0)) + 1024 * c, 0, 256));
    progs[r.map.tile_id(c, 0)] = numbered(cmds);
  }
  r.sys->load(progs);
  REQUIRE(r.sys->run() > 0);
  for (uint32_t d = 0; d < 4; ++d)
    REQUIRE(r.stats.value("pkg0.chiplet" + std::to_string(d) +
                          ".tile0.scratchpad.write_bytes.remote") == 3 * 256);
}

TEST_CASE("system: semaphore signals cross chiplets", "[unit]") {
  TESSERA_ONE_ELABORATION();
  Rig r({"package.chiplets=2"});
  std::vector<tile::Program> progs(r.map.num_tiles());
  Command w;
  w.kind = CmdKind::kWait;
  w.sync = {0, 0, 7};
  progs[0] = numbered({w});
  for (uint32_t t = 1; t < 8; ++t) {
    Command s;
    s.kind = CmdKind::kSignal;
    s.sync = {0, 0, 1};
    progs[t] = numbered({s});
  }
  r.sys->load(progs);
  REQUIRE(r.sys->run() > 0);
}
