#include "models/system/address_map.h"

#include <catch2/catch.hpp>

using namespace tessera::system;

TEST_CASE("address map: stacks then tiles, decoded back", "[unit]") {
  auto spec = load_spec("tiny", {"package.chiplets=2", "chiplet.hbm_stacks=2",
                                 "chiplet.hbm_attach=[{x: 0, y: 0}, {x: 1, y: 1}]"});
  const AddressMap m(spec);
  REQUIRE(m.num_tiles() == 8);
  REQUIRE(m.num_stacks() == 4);
  for (uint32_t s = 0; s < m.num_stacks(); ++s) {
    const Target t = m.decode(m.stack_base(s) + 12345);
    REQUIRE(t.kind == Target::kHbm);
    REQUIRE(t.index == s);
    REQUIRE(t.offset == 12345);
    REQUIRE(m.stack_place(s).chiplet_gid == s / 2);
  }
  for (uint32_t t = 0; t < m.num_tiles(); ++t) {
    const Target d = m.decode(m.tile_base(t) + 64);
    REQUIRE(d.kind == Target::kTile);
    REQUIRE(d.index == t);
    REQUIRE(m.chiplet_of(m.tile_base(t)) == t / 4);
  }
  // Past a stack's capacity (inside its span) is unmapped.
  if (m.stack_span() > m.stack_capacity())
    REQUIRE(m.decode(m.stack_base(0) + m.stack_capacity()).kind == Target::kNone);
  // Hops: stack 1 of chiplet 0 sits at (1,1); tile 0 is at (0,0).
  REQUIRE(m.hops(0, 1) == 2);
  REQUIRE(m.hops(3, 1) == 0);
  REQUIRE(m.hops(0, 2) >= 1000);  // another chiplet
}
