#include "models/system/address_map.h"

#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "models/system/system.h"

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

TEST_CASE("fabric attach nodes: spread along the south and north edges, gateways avoided",
          "[unit]") {
  // One node: the south-east corner, where the port always attached.
  CHECK(fabric_attach_nodes(1, 8, 8, {}) == std::vector<uint32_t>{63});
  // Eight on an 8x8 chiplet: four on the south edge, four on the north, evenly spaced.
  CHECK(fabric_attach_nodes(8, 8, 8, {}) == std::vector<uint32_t>{63, 61, 59, 57, 7, 5, 3, 1});
  // A die-to-die gateway moves an attach node to its nearest free neighbour.
  CHECK(fabric_attach_nodes(2, 8, 8, {63}) == std::vector<uint32_t>{62, 7});
  // More than both edges hold: the rest from the highest free node down, distinct.
  const auto all = fabric_attach_nodes(16, 4, 4, {5});
  CHECK(all.size() == 16);
  CHECK(std::set<uint32_t>(all.begin(), all.end()).size() == 16);
  CHECK(all.back() == 5);
  // One row: every node is on the edge.
  CHECK(fabric_attach_nodes(3, 8, 1, {}) == std::vector<uint32_t>{7, 5, 2});
}

TEST_CASE("d2d attach nodes: spread along the link's edge, other links' nodes avoided", "[unit]") {
  // One node: the middle of the edge (east, west, north, south), the one gateway of old.
  CHECK(d2d_attach_nodes(1, 4, 4, 0, {}) == std::vector<uint32_t>{11});
  CHECK(d2d_attach_nodes(1, 4, 4, 1, {}) == std::vector<uint32_t>{8});
  CHECK(d2d_attach_nodes(1, 4, 4, 2, {}) == std::vector<uint32_t>{2});
  CHECK(d2d_attach_nodes(1, 4, 4, 3, {}) == std::vector<uint32_t>{14});
  CHECK(d2d_attach_nodes(1, 6, 6, 0, {}) == std::vector<uint32_t>{23});
  // A chiplet's fifth link takes the east edge again (and shares its middle at one node).
  CHECK(d2d_attach_nodes(1, 4, 4, 4, {11}) == std::vector<uint32_t>{11});
  // Several: the middles of equal stretches of the edge.
  CHECK(d2d_attach_nodes(2, 4, 4, 0, {}) == std::vector<uint32_t>{7, 15});
  CHECK(d2d_attach_nodes(4, 4, 4, 1, {}) == std::vector<uint32_t>{0, 4, 8, 12});
  CHECK(d2d_attach_nodes(2, 8, 8, 2, {}) == std::vector<uint32_t>{2, 6});
  CHECK(d2d_attach_nodes(4, 8, 8, 3, {}) == std::vector<uint32_t>{57, 59, 61, 63});
  // Clamped to the edge's length.
  CHECK(d2d_attach_nodes(64, 4, 4, 0, {}) == std::vector<uint32_t>{3, 7, 11, 15});
  CHECK(d2d_attach_nodes(4, 8, 1, 0, {}) == std::vector<uint32_t>{7});
  // Another link's node moves to the nearest free node of the edge...
  CHECK(d2d_attach_nodes(2, 4, 4, 0, {7}) == std::vector<uint32_t>{11, 15});
  CHECK(d2d_attach_nodes(4, 4, 4, 2, {3}) == std::vector<uint32_t>{0, 1, 2, 3});
  const auto north = d2d_attach_nodes(3, 4, 4, 2, {0, 3});
  CHECK(north == std::vector<uint32_t>{1, 2, 3});
  // ...and is shared only when the edge has no other.
  CHECK(d2d_attach_nodes(2, 4, 4, 0, {3, 7, 11, 15}) == std::vector<uint32_t>{7, 15});
}

TEST_CASE("d2d link edges on a mesh package: the die edge facing the neighbour", "[unit]") {
  enum { kEast, kWest, kNorth, kSouth };
  // Eight chiplets: a 4 x 2 grid, 0 1 2 3 over 4 5 6 7.
  CHECK(mesh_link_edge(1, 2, 8) == kEast);
  CHECK(mesh_link_edge(2, 1, 8) == kWest);
  CHECK(mesh_link_edge(1, 5, 8) == kSouth);
  CHECK(mesh_link_edge(5, 1, 8) == kNorth);
  // Nine: 3 x 3; the centre chiplet's four links take its four edges.
  CHECK(mesh_link_edge(4, 1, 9) == kNorth);
  CHECK(mesh_link_edge(4, 3, 9) == kWest);
  CHECK(mesh_link_edge(4, 5, 9) == kEast);
  CHECK(mesh_link_edge(4, 7, 9) == kSouth);
}

TEST_CASE("address map: an interleaved region deals its units over the package's stacks",
          "[unit]") {
  auto spec = load_spec("chiplet4", {"system.packages=2", "package.hbm_interleave_bytes=4096",
                                     "package.hbm_interleave_share=0.25"});
  const AddressMap m(spec);
  REQUIRE(m.interleaved());
  const uint64_t unit = 4096, share = m.stack_capacity() / 4 / unit * unit;
  REQUIRE(m.direct_capacity() == m.stack_capacity() - share);
  REQUIRE(m.interleave_capacity() == 8 * share);  // 4 chiplets x 2 stacks a package
  for (uint32_t p = 0; p < 2; ++p) {
    std::set<std::pair<uint32_t, uint64_t>> seen;
    for (uint64_t g = 0; g < 8 * 70; ++g) {
      const Target t = m.decode(m.interleave_base(p) + g * unit + 100);
      REQUIRE(t.kind == Target::kHbm);
      REQUIRE(t.index / 8 == p);  // the package's own stacks
      REQUIRE(t.offset >= m.direct_capacity());
      REQUIRE(t.offset < m.stack_capacity());
      REQUIRE(t.offset % unit == 100);
      REQUIRE(seen.insert({t.index, t.offset}).second);  // no two units share a place
      if (g % 8 == 7) {                                  // each run of 8 units: every stack once
        std::set<uint32_t> run;
        for (uint64_t h = g - 7; h <= g; ++h)
          run.insert(m.decode(m.interleave_base(p) + h * unit).index);
        REQUIRE(run.size() == 8);
      }
    }
    // The region's last byte is mapped; past the last package's, nothing is.
    const uint64_t end = m.interleave_base(p) + m.interleave_capacity();
    REQUIRE(m.decode(end - 1).kind == Target::kHbm);
    REQUIRE(m.decode(end - 1).offset == m.stack_capacity() - 1);
    if (p == 1) REQUIRE(m.decode(end).kind == Target::kNone);
  }
  // Stacks and tiles decode as without the region.
  REQUIRE(m.decode(m.stack_base(5) + 77).index == 5);
  REQUIRE(m.decode(m.tile_base(70) + 64).kind == Target::kTile);
  REQUIRE(m.interleave_base(0) >= m.tile_base(m.num_tiles() - 1) + m.tile_span());
  REQUIRE(m.interleave_regions() == 2);
  REQUIRE(m.interleave_region_of(70) == 1);
  // One region per chiplet: over its own two stacks.
  const AddressMap c(load_spec(
      "chiplet4", {"package.hbm_interleave_bytes=4096", "package.hbm_interleave_over=chiplet"}));
  REQUIRE(c.interleave_regions() == 4);
  REQUIRE(c.interleave_capacity() == 2 * (c.stack_capacity() - c.direct_capacity()));
  REQUIRE(c.interleave_chiplets() == 1);
  REQUIRE(m.interleave_chiplets() == 4);
  for (uint32_t r = 0; r < 4; ++r) {
    REQUIRE(c.interleave_region_of(16 * r + 5) == r);
    std::set<uint32_t> stacks;
    for (uint64_t g = 0; g < 6; ++g) {
      const Target t = c.decode(c.interleave_base(r) + g * unit);
      REQUIRE(c.stack_place(t.index).chiplet_gid == r);
      stacks.insert(t.index);
    }
    REQUIRE(stacks.size() == 2);
  }
  // The top share of a stack is reached only through the region.
  REQUIRE(m.decode(m.stack_base(3) + m.direct_capacity() - 1).kind == Target::kHbm);
  REQUIRE(m.decode(m.stack_base(3) + m.direct_capacity()).kind == Target::kNone);
  // A region's units reach their stack through each of its ports alike (the port by the
  // offset in the stack: by the global address, which also picks the stack, a 512-byte
  // unit went to one port of four).
  const AddressMap f(load_spec("chiplet4", {"package.hbm_interleave_bytes=512"}));
  std::map<std::pair<uint32_t, uint32_t>, int> per_port;
  for (uint64_t g = 0; g < 8 * 4 * 16; ++g) {
    const uint64_t a = f.interleave_base(0) + g * 512;
    const Target t = f.decode(a);
    ++per_port[{t.index, f.stack_node(t, a)}];
  }
  REQUIRE(per_port.size() == 8 * 4);  // 4 ports a stack (a 512-byte unit is 2 port units)
  for (const auto& [at, n] : per_port) REQUIRE(n == 16);
  // Three stacks a region (tpu-like: each chip its own): a bijection up to its end.
  const AddressMap tp(load_spec("tpu-like"));
  REQUIRE(tp.interleave_chiplets() == 1);
  REQUIRE(tp.interleave_capacity() % 3 == 0);
  std::set<std::pair<uint32_t, uint64_t>> places;
  const uint64_t units = tp.interleave_capacity() / tp.interleave_unit();
  for (uint64_t g :
       {uint64_t(0), uint64_t(1), uint64_t(2), uint64_t(3), units - 3, units - 2, units - 1}) {
    const Target t = tp.decode(tp.interleave_base(2) + g * tp.interleave_unit());
    REQUIRE(t.kind == Target::kHbm);
    REQUIRE(tp.stack_place(t.index).chiplet_gid == 2);
    REQUIRE(places.insert({t.index, t.offset}).second);
  }
  REQUIRE(tp.decode(tp.interleave_base(2) + tp.interleave_capacity() - 1).offset ==
          tp.stack_capacity() - 1);
  REQUIRE(tp.decode(tp.interleave_base(3) + tp.interleave_capacity()).kind == Target::kNone);
  // Without it: every address from stacks and tiles only.
  const AddressMap plain(load_spec("chiplet4", {"package.hbm_interleave_bytes=0"}));
  REQUIRE_FALSE(plain.interleaved());
  REQUIRE(plain.direct_capacity() == plain.stack_capacity());
  REQUIRE(plain.interleave_start() == ~uint64_t(0));
}

TEST_CASE("skewed interleave: the shifting path for powers of two deals as the dividing one",
          "[unit]") {
  // The definition: unit u goes to (u + u/n + u/n^2 + ...) mod n.
  auto reference = [](uint64_t u, uint64_t n) {
    uint64_t sum = 0;
    for (; u > 0; u /= n) sum += u;
    return uint32_t(sum % n);
  };
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (uint64_t n :
       {uint64_t(2), uint64_t(3), uint64_t(4), uint64_t(5), uint64_t(8), uint64_t(12), uint64_t(16),
        uint64_t(64), uint64_t(1024), uint64_t(1) << 32, uint64_t(1) << 40, uint64_t(1) << 63}) {
    for (uint64_t u = 0; u < 4096; ++u) REQUIRE(skewed_port(u, n) == reference(u, n));
    for (int i = 0; i < 4096; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: units across the whole range
      REQUIRE(skewed_port(x, n) == reference(x, n));
    }
  }
  REQUIRE(skewed_port(12345, 1) == 0);
  // Consecutive units land on consecutive ports, and the even units alone reach every
  // port (so 2-unit bursts, which start on even units, use them all: the point of the
  // skew).
  REQUIRE(skewed_port(5, 4) == (skewed_port(4, 4) + 1) % 4);
  std::set<uint32_t> first_of_pairs;
  for (uint64_t u = 0; u < 64; u += 2) first_of_pairs.insert(skewed_port(u, 4));
  REQUIRE(first_of_pairs.size() == 4);
}
