// The machine's global address map and the place of every tile and HBM stack, as a
// pure function of the SystemSpec (no modules): the mapper places data with it and
// the system builder routes transactions with it, so the two always agree.
//
//   [0, stacks * stack_span)                HBM stacks, stack s at s * stack_span
//   [tile_region, + tiles * tile_span)      tile scratchpads (+ semaphores), tile t at
//                                           tile_region + t * tile_span
//   [interleave_start, + regions * span)    with package.hbm_interleave_bytes: per package
//                                           or chiplet, the top share of its stacks as one
//                                           range dealt over them unit by unit
// Stacks and tiles are numbered package-major, then chiplet, then local index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/system/system_spec.h"

namespace tessera::system {

struct Place {
  uint32_t package = 0;
  uint32_t chiplet = 0;      // within the package
  uint32_t chiplet_gid = 0;  // global chiplet index
  uint32_t node = 0;         // NoC node on the chiplet (y * tiles_x + x)
  uint32_t x = 0, y = 0;
};

// Skewed interleave of address units over n ports: unit u goes to port
// (u + u/n + u/n^2 + ...) mod n. Plain u mod n sent every request larger than the
// unit (a 512-byte burst over 256-byte units starts on an even unit) to the even ports
// only, leaving half of them idle; the skew keeps consecutive units on consecutive
// ports and spreads aligned requests of any power-of-two multiple of the unit over all
// ports.
// It runs for every request crossing a network, so a power-of-two n (the usual port,
// stack and attach counts) shifts instead of dividing (the same sum).
inline uint32_t skewed_port(uint64_t unit, uint64_t n) {
  if (n <= 1) return 0;
  uint64_t sum = 0;
  if ((n & (n - 1)) == 0) {
    const int shift = __builtin_ctzll(n);
    for (uint64_t u = unit; u > 0; u >>= shift) sum += u;
    return uint32_t(sum & (n - 1));
  }
  for (uint64_t u = unit; u > 0; u /= n) sum += u;
  return uint32_t(sum % n);
}

struct Target {
  enum Kind { kNone, kHbm, kTile } kind = kNone;
  uint32_t index = 0;   // global stack or tile index
  uint64_t offset = 0;  // within it
};

class AddressMap {
 public:
  explicit AddressMap(const SystemSpec& spec);

  uint32_t num_tiles() const { return uint32_t(tiles_.size()); }
  uint32_t num_stacks() const { return uint32_t(stacks_.size()); }
  uint32_t stacks_per_chiplet() const { return stacks_per_chiplet_; }
  uint32_t tiles_per_chiplet() const { return tiles_per_chiplet_; }
  uint64_t stack_capacity() const { return stack_capacity_; }
  uint64_t stack_span() const { return stack_span_; }
  uint64_t tile_span() const { return tile_span_; }

  uint64_t stack_base(uint32_t s) const { return uint64_t(s) * stack_span_; }
  uint64_t tile_base(uint32_t t) const { return tile_region_ + uint64_t(t) * tile_span_; }
  const Place& tile_place(uint32_t t) const { return tiles_[t]; }
  const Place& stack_place(uint32_t s) const { return stacks_[s]; }
  // NoC nodes stack s is reached through, and the one an address goes to.
  const std::vector<uint32_t>& stack_ports(uint32_t s) const { return stack_ports_[s]; }
  // The node through which `addr` (decoded to `t`, a stack) reaches its stack: addresses
  // alternate between the ports every hbm_port_interleave_bytes (skewed). In an
  // interleaved region by the offset in the stack: the global address also picks the
  // stack, and would send a stack's units to few of its ports.
  uint32_t stack_node(const Target& t, uint64_t addr) const {
    const auto& p = stack_ports_[t.index];
    const uint64_t at = addr >= interleave_start() ? t.offset : addr;
    return p[skewed_port(at / port_interleave_, p.size())];
  }
  // Global tile id of the tile at (chiplet_gid, local index).
  uint32_t tile_id(uint32_t chiplet_gid, uint32_t local) const {
    return chiplet_gid * tiles_per_chiplet_ + local;
  }
  uint32_t stack_id(uint32_t chiplet_gid, uint32_t local) const {
    return chiplet_gid * stacks_per_chiplet_ + local;
  }
  Target decode(uint64_t addr) const;
  // The chiplet holding a decoded target (kNone: ~0u).
  uint32_t owner_chiplet(const Target& t) const {
    if (t.kind == Target::kHbm) return stacks_[t.index].chiplet_gid;
    if (t.kind == Target::kTile) return tiles_[t.index].chiplet_gid;
    return ~0u;
  }
  // The chiplet that owns an address (its stack or tile), or ~0u.
  uint32_t chiplet_of(uint64_t addr) const;
  // NoC hops (Manhattan distance on the chiplet mesh) from a tile to a stack on the
  // same chiplet; a large number for another chiplet.
  uint32_t hops(uint32_t tile, uint32_t stack) const;
  // One line per region, for `--explain` and docs.
  std::string describe() const;

  // The interleaved regions (package.hbm_interleave_bytes > 0): one per package, or per
  // chiplet (package.hbm_interleave_over), each the top share of its stacks as one
  // range whose units go to those stacks in turn.
  bool interleaved() const { return ilv_unit_ > 0; }
  uint64_t interleave_unit() const { return ilv_unit_; }
  uint32_t interleave_regions() const { return regions_; }
  // Chiplets whose stacks one region deals over (0: none).
  uint32_t interleave_chiplets() const { return interleaved() ? chiplets_per_region_ : 0; }
  // The region of the package or chiplet that holds tile t.
  uint32_t interleave_region_of(uint32_t tile) const {
    return per_chiplet_ ? tiles_[tile].chiplet_gid : tiles_[tile].package;
  }
  uint64_t interleave_base(uint32_t region) const { return ilv_start_ + region * ilv_span_; }
  uint64_t interleave_capacity() const { return ilv_capacity_; }  // per region
  // Where the interleaved regions start: every address from here on is decoded by them.
  uint64_t interleave_start() const { return interleaved() ? ilv_start_ : ~uint64_t(0); }
  // Bytes of each stack addressed on their own (below its interleaved share).
  uint64_t direct_capacity() const { return interleaved() ? ilv_local_ : stack_capacity_; }

 private:
  uint32_t tiles_per_chiplet_ = 0, stacks_per_chiplet_ = 0, tiles_x_ = 1;
  uint64_t stack_capacity_ = 0, stack_span_ = 0, tile_span_ = 0, tile_region_ = 0;
  std::vector<Place> tiles_, stacks_;
  std::vector<std::vector<uint32_t>> stack_ports_;
  uint64_t port_interleave_ = 256;
  uint64_t ilv_unit_ = 0, ilv_local_ = 0, ilv_capacity_ = 0, ilv_span_ = 1, ilv_start_ = 0;
  uint32_t stacks_per_region_ = 0, regions_ = 0;
  uint32_t chiplets_per_region_ = 0;
  bool per_chiplet_ = false;
  // log2 of the spans (powers of two): decode runs for every request, and shifts cost a
  // cycle where 64-bit divisions cost tens.
  int stack_shift_ = 0, tile_shift_ = 0, ilv_shift_ = 0;
  Target decode_interleaved(uint64_t addr) const;
};

// Default NoC node of HBM stack `i` of `n` on a tiles_x x tiles_y chiplet when the spec
// gives none: alternately on the west and east edges, spread along them.
std::pair<uint32_t, uint32_t> default_hbm_attach(uint32_t i, uint32_t n, uint32_t tiles_x,
                                                 uint32_t tiles_y);

}  // namespace tessera::system
