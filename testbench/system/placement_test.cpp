// Weight placement across a chiplet's HBM stacks.
#include <catch2/catch.hpp>

#include "mapper/mapper.h"
#include "models/system/address_map.h"
#include "traces/trace_format.h"

using namespace tessera;

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
