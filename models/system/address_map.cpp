#include "models/system/address_map.h"

#include <cstdlib>
#include <sstream>

namespace tessera::system {

namespace {
uint64_t pow2_at_least(uint64_t x) {
  uint64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}
}  // namespace

std::pair<uint32_t, uint32_t> default_hbm_attach(uint32_t i, uint32_t n, uint32_t tiles_x,
                                                 uint32_t tiles_y) {
  const uint32_t side = i % 2;  // 0 west, 1 east
  const uint32_t on_side = (n + 1 - side) / 2;
  const uint32_t k = i / 2;
  const uint32_t y = on_side ? uint32_t((2 * k + 1) * tiles_y / (2 * on_side)) : 0;
  return {side ? tiles_x - 1 : 0, std::min(y, tiles_y - 1)};
}

AddressMap::AddressMap(const SystemSpec& spec) {
  const auto& ch = spec.chiplet;
  tiles_x_ = ch.tiles_x;
  tiles_per_chiplet_ = ch.tiles_x * ch.tiles_y;
  stacks_per_chiplet_ = ch.hbm_stacks;
  stack_capacity_ = ch.hbm.capacity_bytes();
  stack_span_ = pow2_at_least(stack_capacity_);
  tile_span_ = pow2_at_least(uint64_t(spec.tile.scratchpad.size_kib) * 1024 + 4096);
  stack_shift_ = __builtin_ctzll(stack_span_);
  tile_shift_ = __builtin_ctzll(tile_span_);
  uint32_t gid = 0;
  for (uint32_t p = 0; p < spec.system.packages; ++p) {
    for (uint32_t c = 0; c < spec.package.chiplets; ++c, ++gid) {
      for (uint32_t y = 0; y < ch.tiles_y; ++y)
        for (uint32_t x = 0; x < ch.tiles_x; ++x)
          tiles_.push_back({p, c, gid, y * ch.tiles_x + x, x, y});
      for (uint32_t s = 0; s < ch.hbm_stacks; ++s) {
        auto [x, y] = s < ch.hbm_attach.size()
                          ? std::make_pair(ch.hbm_attach[s].x, ch.hbm_attach[s].y)
                          : default_hbm_attach(s, ch.hbm_stacks, ch.tiles_x, ch.tiles_y);
        stacks_.push_back({p, c, gid, y * ch.tiles_x + x, x, y});
        // Ports: down the stack's column (wrapping), then the next columns
        // (hbm_port_column; load_spec refuses ports past the grid).
        std::vector<uint32_t> ports;
        for (uint32_t i = 0; i < ch.hbm_ports; ++i) {
          const auto px = uint32_t(hbm_port_column(x, i, ch.tiles_x, ch.tiles_y));
          const uint32_t py = (y + i) % ch.tiles_y;
          ports.push_back(py * ch.tiles_x + px);
        }
        stack_ports_.push_back(ports);
      }
    }
  }
  port_interleave_ = ch.hbm_port_interleave_bytes;
  tile_region_ = pow2_at_least(std::max<uint64_t>(1, stacks_.size()) * stack_span_);
  ilv_unit_ = spec.package.hbm_interleave_bytes;
  if (ilv_unit_ > 0) {
    const uint64_t share = uint64_t(double(stack_capacity_) * spec.package.hbm_interleave_share) /
                           ilv_unit_ * ilv_unit_;
    ilv_local_ = stack_capacity_ - share;
    per_chiplet_ = spec.package.hbm_interleave_over == "chiplet";
    chiplets_per_region_ = per_chiplet_ ? 1 : spec.package.chiplets;
    stacks_per_region_ = chiplets_per_region_ * ch.hbm_stacks;
    regions_ = uint32_t(stacks_.size() / stacks_per_region_);
    ilv_capacity_ = share * stacks_per_region_;
    ilv_span_ = pow2_at_least(ilv_capacity_);
    ilv_shift_ = __builtin_ctzll(ilv_span_);
    // After the tiles, aligned to a region's span (so every unit is aligned).
    const uint64_t end = tile_region_ + uint64_t(tiles_.size()) * tile_span_;
    ilv_start_ = (end + ilv_span_ - 1) / ilv_span_ * ilv_span_;
  }
}

// Interleaved region r (of a package or a chiplet, whose n stacks are numbered
// consecutively): unit g of it goes to its stack skewed_port(g, n) (within every run of
// n units each stack once), at the slot g / n of that stack's share, which lies at the
// top of its capacity.
Target AddressMap::decode_interleaved(uint64_t addr) const {
  Target t;
  const uint64_t rel = addr - ilv_start_;
  const uint64_t r = rel >> ilv_shift_, off = rel & (ilv_span_ - 1);
  if (r >= regions_ || off >= ilv_capacity_) return t;
  const uint64_t g = off / ilv_unit_;
  t.kind = Target::kHbm;
  t.index = uint32_t(r * stacks_per_region_ + skewed_port(g, stacks_per_region_));
  t.offset = ilv_local_ + g / stacks_per_region_ * ilv_unit_ + off % ilv_unit_;
  return t;
}

Target AddressMap::decode(uint64_t addr) const {
  Target t;
  if (ilv_unit_ > 0 && addr >= ilv_start_) return decode_interleaved(addr);
  if (addr < tile_region_) {
    const uint64_t s = addr >> stack_shift_, off = addr & (stack_span_ - 1);
    // (With interleaved regions, the top share of a stack is reached through them only.)
    if (s < stacks_.size() && off < direct_capacity()) {
      t.kind = Target::kHbm;
      t.index = uint32_t(s);
      t.offset = off;
    }
    return t;
  }
  const uint64_t i = (addr - tile_region_) >> tile_shift_;
  if (i < tiles_.size()) {
    t.kind = Target::kTile;
    t.index = uint32_t(i);
    t.offset = (addr - tile_region_) & (tile_span_ - 1);
  }
  return t;
}

uint32_t AddressMap::chiplet_of(uint64_t addr) const {
  return owner_chiplet(decode(addr));
}

uint32_t AddressMap::hops(uint32_t tile, uint32_t stack) const {
  const Place& a = tiles_[tile];
  const Place& b = stacks_[stack];
  if (a.chiplet_gid != b.chiplet_gid)
    return 1000 + std::abs(int(a.chiplet_gid) - int(b.chiplet_gid));
  return uint32_t(std::abs(int(a.x) - int(b.x)) + std::abs(int(a.y) - int(b.y)));
}

std::string AddressMap::describe() const {
  std::ostringstream os;
  os << std::hex;
  for (uint32_t s = 0; s < stacks_.size(); ++s)
    os << "0x" << stack_base(s) << "  hbm" << std::dec << s << " (pkg" << stacks_[s].package
       << ".chiplet" << stacks_[s].chiplet << ", node " << stacks_[s].x << "," << stacks_[s].y
       << ", " << (stack_capacity_ >> 20) << " MiB)\n"
       << std::hex;
  for (uint32_t t = 0; t < tiles_.size(); ++t)
    os << "0x" << tile_base(t) << "  tile" << std::dec << t << " (pkg" << tiles_[t].package
       << ".chiplet" << tiles_[t].chiplet << ", node " << tiles_[t].x << "," << tiles_[t].y << ")\n"
       << std::hex;
  for (uint32_t r = 0; r < regions_; ++r) {
    const Place& first = stacks_[r * stacks_per_region_];
    os << "0x" << interleave_base(r) << "  interleaved pkg" << std::dec << first.package;
    if (per_chiplet_) os << ".chiplet" << first.chiplet;
    os << " (" << (ilv_capacity_ >> 20) << " MiB over its " << stacks_per_region_ << " stacks, "
       << ilv_unit_ << "-byte units, each stack's top " << ((stack_capacity_ - ilv_local_) >> 20)
       << " MiB)\n"
       << std::hex;
  }
  return os.str();
}

}  // namespace tessera::system
