#include "models/system/system.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <sstream>

#include "models/sim/errors.h"

namespace tessera::system {

namespace {
// Addresses alternate between the attach nodes of a package's fabric port, and between
// those of a die-to-die link's end, every this many bytes (skewed, as HBM ports), both
// ways: toward the port or link (the NoC's node_of sees only the address, so "nearest to
// the source" is not available there) and from it (a multicast's copies all target one
// buffer, often in one HBM stack: "nearest to the target" would send them all through
// one attach node again). 4 KiB: a DMA window of bursts to consecutive addresses still
// spreads over several nodes, and a burst never straddles two.
constexpr uint64_t kAttachInterleaveBytes = 4096;
uint32_t attach_index(uint64_t addr, size_t nodes) {
  return skewed_port(addr / kAttachInterleaveBytes, nodes);
}
// Which way round a ring an address goes when both ways are as short: alternating
// (skewed) every 8 KiB, twice the attach interleave, so that each direction still
// spreads over all attach nodes of its link end.
static_assert(kRingTieBytes == 2 * kAttachInterleaveBytes);
bool ring_tie_positive(uint64_t addr) {
  return skewed_port(addr / kRingTieBytes, 2) == 0;
}

// SystemC object names may not contain dots; statistics keep the dotted path.
std::string sc_name(std::string path) {
  std::replace(path.begin(), path.end(), '.', '_');
  return path;
}

// Chiplet grid of a package "mesh": gx x gy with gx the largest divisor <= sqrt(n).
std::pair<uint32_t, uint32_t> chiplet_grid(uint32_t n) {
  uint32_t gx = 1;
  for (uint32_t d = 1; d * d <= n; ++d)
    if (n % d == 0) gx = d;
  return {n / gx, gx};
}
}  // namespace

// One chiplet's interconnect: its network and, per node, the mux in front of the
// network interface and the demux behind it.
struct System::Chiplet {
  uint32_t gid = 0, package = 0, local = 0;
  std::unique_ptr<noc::Network> noc;
  std::vector<std::unique_ptr<TlmMux>> mux;
  std::vector<std::unique_ptr<TlmDemux>> demux;
  // Per node, what each demux port leads to.
  struct Port {
    enum Kind { kTile, kStack, kLink, kFabric } kind;
    uint32_t index;  // stack id, or neighbour chiplet gid for a link
  };
  // Per network endpoint. Endpoint r < routers is router r's own (its tile); with
  // chiplet.io_ports "dedicated" each HBM port, link end and fabric port at router r
  // has an endpoint of its own after those (a local port of r), else it shares r's.
  std::vector<std::vector<Port>> ports;
  std::vector<uint32_t> extra_endpoints;  // router of each endpoint past the routers' own
  // By neighbour chiplet gid: the nodes where the link to it attaches (empty: not a
  // neighbour).
  std::vector<std::vector<uint32_t>> d2d_nodes;
  std::vector<uint32_t> fabric_nodes;  // where the package's fabric port attaches
  // Per router: its endpoints past its own (empty with shared I/O ports).
  std::vector<std::vector<uint32_t>> router_extras;
  // The endpoint through which `kind`/`index` is reached at `router`.
  uint32_t endpoint(uint32_t router, Port::Kind kind, uint32_t index) const {
    for (uint32_t ep : router_extras[router])
      for (const Port& p : ports[ep])
        if (p.kind == kind && p.index == index) return ep;
    return router;
  }
};

std::vector<std::pair<uint32_t, uint32_t>> d2d_link_pairs(const SystemSpec& spec) {
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  const uint32_t n = spec.package.chiplets;
  for (uint32_t p = 0; p < spec.system.packages; ++p) {
    const uint32_t o = p * n;
    if (n == 2) {
      pairs.push_back({o, o + 1});
    } else if (n > 2 && spec.package.topology == "ring") {
      for (uint32_t c = 0; c < n; ++c) pairs.push_back({o + c, o + (c + 1) % n});
    } else if (n > 2 && spec.package.topology == "mesh") {
      const auto [gx, gy] = chiplet_grid(n);
      for (uint32_t y = 0; y < gy; ++y)
        for (uint32_t x = 0; x < gx; ++x) {
          if (x + 1 < gx) pairs.push_back({o + y * gx + x, o + y * gx + x + 1});
          if (y + 1 < gy) pairs.push_back({o + y * gx + x, o + (y + 1) * gx + x});
        }
    } else if (n > 2) {
      for (uint32_t a = 0; a < n; ++a)
        for (uint32_t b = a + 1; b < n; ++b) pairs.push_back({o + a, o + b});
    }
  }
  return pairs;
}

uint32_t mesh_link_edge(uint32_t a, uint32_t b, uint32_t n) {
  const uint32_t gx = chiplet_grid(n).first;
  const uint32_t ax = a % gx, ay = a / gx, bx = b % gx, by = b / gx;
  if (ay == by) return bx > ax ? 0 : 1;
  return by > ay ? 3 : 2;
}

std::vector<uint32_t> d2d_attach_nodes(uint32_t count, uint32_t tx, uint32_t ty, uint32_t edge,
                                       const std::vector<uint32_t>& avoid) {
  edge %= 4;
  const uint32_t len = edge < 2 ? ty : tx;
  auto node_at = [&](uint32_t i) -> uint32_t {
    switch (edge) {
      case 0:
        return i * tx + tx - 1;  // east column
      case 1:
        return i * tx;  // west column
      case 2:
        return i;  // north row
      default:
        return (ty - 1) * tx + i;  // south row
    }
  };
  count = std::max(1u, std::min(count, len));
  // One node: the middle of the edge, always (the one gateway of old, shared by two
  // links when a chiplet has more than four).
  if (count == 1) return {node_at(len / 2)};
  std::vector<uint32_t> out;
  auto mine = [&](uint32_t n) { return std::find(out.begin(), out.end(), n) != out.end(); };
  auto avoided = [&](uint32_t n) {
    return std::find(avoid.begin(), avoid.end(), n) != avoid.end();
  };
  for (uint32_t j = 0; j < count; ++j) {
    // The middle of the j-th of `count` equal stretches of the edge...
    const uint32_t want = uint32_t((2 * uint64_t(j) + 1) * len / (2 * uint64_t(count)));
    // ...or the nearest free node of the edge (the higher index first on a tie); if
    // other links hold all of them, the nearest not yet this link's.
    uint32_t pick = ~0u;
    for (int pass = 0; pass < 2 && pick == ~0u; ++pass)
      for (uint32_t d = 0; d < len && pick == ~0u; ++d)
        for (const int64_t i : {int64_t(want) + d, int64_t(want) - d}) {
          if (i < 0 || i >= int64_t(len)) continue;
          const uint32_t n = node_at(uint32_t(i));
          if (!mine(n) && (pass == 1 || !avoided(n))) {
            pick = n;
            break;
          }
        }
    out.push_back(pick);
  }
  return out;
}

std::vector<uint32_t> fabric_attach_nodes(uint32_t count, uint32_t tx, uint32_t ty,
                                          const std::vector<uint32_t>& avoid) {
  const uint32_t nodes = tx * ty;
  count = std::min(count, nodes);
  std::vector<uint32_t> out;
  std::vector<char> used(nodes, 0);
  auto bad = [&](uint32_t n) {
    return used[n] || std::find(avoid.begin(), avoid.end(), n) != avoid.end();
  };
  auto take = [&](uint32_t n) {
    used[n] = 1;
    out.push_back(n);
  };
  // South edge (row ty-1) first, then north (row 0); the south edge takes the odd one.
  const uint32_t rows = ty > 1 ? 2 : 1;
  for (uint32_t r = 0; r < rows; ++r) {
    const uint32_t y = r == 0 ? ty - 1 : 0;
    const uint32_t want = std::min(tx, count / rows + (r < count % rows ? 1 : 0));
    for (uint32_t j = 0; j < want; ++j) {
      // Evenly spaced from the east end: x = tx-1, tx-1-tx/want, ...
      const uint32_t x = tx - 1 - uint32_t(uint64_t(j) * tx / want);
      // The nearest free node of the row (east first on a tie).
      for (uint32_t d = 0; d < tx; ++d) {
        if (x + d < tx && !bad(y * tx + x + d)) {
          take(y * tx + x + d);
          break;
        }
        if (d > 0 && x >= d && !bad(y * tx + x - d)) {
          take(y * tx + x - d);
          break;
        }
      }
    }
  }
  for (uint32_t n = nodes; n-- > 0 && out.size() < count;)
    if (!bad(n)) take(n);
  for (uint32_t n = nodes; n-- > 0 && out.size() < count;)
    if (!used[n]) take(n);
  return out;
}

uint32_t next_chiplet(const SystemSpec& spec, uint32_t from, uint32_t to, uint64_t addr) {
  const uint32_t n = spec.package.chiplets;
  const uint32_t pf = from / n, pt = to / n, a = from % n, b = to % n;
  if (pf != pt) return a == 0 ? kToFabric : next_chiplet(spec, from, pf * n, addr);
  if (a == b) return from;
  const std::string& topo = spec.package.topology;
  uint32_t next = b;
  if (topo == "ring") {
    // Half-way round an even ring both ways are shortest: the address picks one, so
    // traffic to the opposite chiplet loads both directions' links and attach nodes
    // instead of the positive way alone. Past the first hop there is no tie, so a
    // request keeps its direction.
    const uint32_t fwd = (b + n - a) % n;
    const bool positive = 2 * fwd < n || (2 * fwd == n && ring_tie_positive(addr));
    next = positive ? (a + 1) % n : (a + n - 1) % n;
  } else if (topo == "mesh") {
    const auto [gx, gy] = chiplet_grid(n);
    (void)gy;
    const uint32_t ax = a % gx, ay = a / gx, bx = b % gx, by = b / gx;
    if (ax != bx)
      next = ay * gx + (bx > ax ? ax + 1 : ax - 1);
    else
      next = (by > ay ? ay + 1 : ay - 1) * gx + ax;
  }
  return pf * n + next;
}

System::System(sc_core::sc_module_name name, const SystemSpec& spec, const AddressMap& map,
               sim::StatsRegistry& stats, sim::EnergyLedger& energy, sim::Timeline& timeline,
               const SystemOptions& opt)
    : sc_module(name), spec_(spec), map_(map), stats_(stats), opt_(opt) {
  if (opt.functional) data_ = std::make_unique<FunctionalMemory>(map);
  const auto& ch = spec.chiplet;
  const uint32_t nchip = spec.total_chiplets();
  const uint32_t nodes = ch.tiles_x * ch.tiles_y;
  const bool dedicated_io = ch.io_ports == "dedicated";
  auto chip_name = [&](uint32_t gid) {
    return "pkg" + std::to_string(gid / spec.package.chiplets) + ".chiplet" +
           std::to_string(gid % spec.package.chiplets);
  };
  // Static power: watts x picoseconds are picojoules, one "event" per picosecond.
  if (ch.static_w > 0)
    for (uint32_t g = 0; g < nchip; ++g)
      die_static_.push_back(&energy.account(chip_name(g) + ".die", "background", ch.static_w));

  // Tiles and HBM stacks.
  for (uint32_t t = 0; t < map.num_tiles(); ++t) {
    const Place& p = map.tile_place(t);
    const std::string path = chip_name(p.chiplet_gid) + ".tile" + std::to_string(p.node);
    tiles_.push_back(std::make_unique<tile::Tile>(sc_name(path).c_str(), t, map.tile_base(t),
                                                  spec.tile, sim::StatsScope(stats, path), energy,
                                                  timeline, data_.get(), this));
    if (data_)
      data_->set_tile_storage(t, tiles_.back()->scratchpad().data(0),
                              tiles_.back()->scratchpad().size_bytes());
  }
  for (uint32_t s = 0; s < map.num_stacks(); ++s) {
    const Place& p = map.stack_place(s);
    const std::string path =
        chip_name(p.chiplet_gid) + ".hbm" + std::to_string(s % map.stacks_per_chiplet());
    stacks_.push_back(std::make_unique<memory::HbmStack>(
        sc_name(path).c_str(), ch.hbm, sim::StatsScope(stats, path), energy, map.stack_base(s)));
    if (map.interleaved())
      stacks_.back()->set_interleaved(
          map.interleave_start(), [this, s](uint64_t addr, uint64_t len) {
            const Target t = map_.decode(addr);
            const uint64_t unit = map_.interleave_unit();
            const bool mine = t.kind == Target::kHbm && t.index == s && addr % unit + len <= unit;
            return mine ? t.offset : memory::kNever;
          });
  }

  // Each stack is reached through several NoC nodes: a mux joins them at its socket.
  for (uint32_t s = 0; s < map.num_stacks(); ++s) {
    stack_mux_.push_back(std::make_unique<TlmMux>(sc_core::sc_gen_unique_name("hbm_port_mux")));
    stack_mux_.back()->out.bind(stacks_[s]->socket);
  }

  // Die-to-die links of each package.
  const std::vector<std::pair<uint32_t, uint32_t>> pairs = d2d_link_pairs(spec);
  const uint32_t n = spec.package.chiplets;

  // Chiplets: gateways first (which node each link and the fabric port attach to).
  chiplets_.resize(nchip);
  const uint32_t tx = ch.tiles_x, ty = ch.tiles_y;
  std::vector<uint32_t> links_at(nchip, 0);
  for (uint32_t g = 0; g < nchip; ++g) {
    auto c = std::make_unique<Chiplet>();
    c->gid = g;
    c->package = g / n;
    c->local = g % n;
    c->d2d_nodes.assign(nchip, {});
    c->ports.resize(nodes);
    chiplets_[g] = std::move(c);
  }
  // Each end of a link is reached from package.d2d.attach_nodes nodes along one edge of
  // its chiplet, as a UCIe PHY spans the die edge facing the neighbour: one node's links
  // (one flit per cycle each way) would cap the link below its lanes' bandwidth. On a
  // mesh package that is the edge toward the neighbour on the chiplet grid. A ring or
  // all-to-all package has no layout here: a chiplet's links take the east, west, north
  // and south edges in turn (a ring's two on opposite edges, as a row of chiplets whose
  // closing link runs round it). Nodes another link of the chiplet already holds are
  // avoided where the edge has others.
  const bool grid = spec.package.topology == "mesh" && n > 2;
  auto attach_link_end = [&](uint32_t me, uint32_t other) {
    Chiplet& c = *chiplets_[me];
    std::vector<uint32_t> taken;
    for (const auto& v : c.d2d_nodes) taken.insert(taken.end(), v.begin(), v.end());
    const uint32_t edge = grid ? mesh_link_edge(me % n, other % n, n) : links_at[me]++ % 4;
    c.d2d_nodes[other] = d2d_attach_nodes(spec.package.d2d.attach_nodes, tx, ty, edge, taken);
  };
  for (const auto& [a, b] : pairs) {
    attach_link_end(a, b);
    attach_link_end(b, a);
  }
  // The fabric port of a package is reached from several nodes of its first chiplet
  // (system.fabric.attach_nodes), as a GPU reaches its NVLink ports from many points
  // of its on-chip network: one node's links (one flit per cycle each way) would cap
  // the port far below its bandwidth.
  if (spec.system.packages > 1)
    for (uint32_t g = 0; g < nchip; g += n) {
      Chiplet& c = *chiplets_[g];
      std::vector<uint32_t> gateways;
      for (const auto& v : c.d2d_nodes) gateways.insert(gateways.end(), v.begin(), v.end());
      c.fabric_nodes = fabric_attach_nodes(spec.system.fabric.attach_nodes, tx, ty, gateways);
    }

  for (uint32_t g = 0; g < nchip; ++g) {
    Chiplet& c = *chiplets_[g];
    const std::string cname = chip_name(g);
    // The network: an address goes to its node here, or to the gateway toward it.
    auto node_of = [this, g](uint64_t addr) -> uint32_t {
      const Chiplet& me = *chiplets_[g];
      const Target t = map_.decode(addr);
      if (t.kind == Target::kNone) return 0;
      const uint32_t owner = map_.owner_chiplet(t);
      if (owner == g)
        return t.kind == Target::kHbm
                   ? me.endpoint(map_.stack_node(t, addr), Chiplet::Port::kStack, t.index)
                   : map_.tile_place(t.index).node;
      const uint32_t next = next_chiplet(g, owner, addr);
      const auto& at = next == kToFabric ? me.fabric_nodes : me.d2d_nodes[next];
      return me.endpoint(at[attach_index(addr, at.size())],
                         next == kToFabric ? Chiplet::Port::kFabric : Chiplet::Port::kLink,
                         next == kToFabric ? 0 : next);
    };
    // What each router serves besides its tile: stack ports, link ends, the fabric
    // port, on the tile's endpoint or (dedicated) on endpoints of their own.
    c.router_extras.assign(nodes, {});
    for (uint32_t node = 0; node < nodes; ++node) {
      std::vector<Chiplet::Port> io;
      for (uint32_t s = 0; s < map.stacks_per_chiplet(); ++s) {
        const auto& sp = map.stack_ports(map.stack_id(g, s));
        if (std::find(sp.begin(), sp.end(), node) != sp.end())
          io.push_back({Chiplet::Port::kStack, map.stack_id(g, s)});
      }
      for (uint32_t nb = 0; nb < nchip; ++nb)
        if (std::find(c.d2d_nodes[nb].begin(), c.d2d_nodes[nb].end(), node) !=
            c.d2d_nodes[nb].end())
          io.push_back({Chiplet::Port::kLink, nb});
      if (std::find(c.fabric_nodes.begin(), c.fabric_nodes.end(), node) != c.fabric_nodes.end())
        io.push_back({Chiplet::Port::kFabric, 0});
      c.ports[node].push_back({Chiplet::Port::kTile, map.tile_id(g, node)});
      for (const Chiplet::Port& p : io) {
        if (!dedicated_io) {
          c.ports[node].push_back(p);
          continue;
        }
        c.router_extras[node].push_back(uint32_t(c.ports.size()));
        c.extra_endpoints.push_back(node);
        c.ports.push_back({p});
      }
    }
    c.noc = std::make_unique<noc::Network>(
        sc_name(cname + ".noc").c_str(), ch.noc, tx, ty,
        sim::ClockDomain::from_mhz(cname + ".noc.clock", ch.noc_clock_mhz), node_of,
        sim::StatsScope(stats, cname + ".noc"), &energy, c.extra_endpoints);
    // Behind a slow memory the network waits as long as the system's watchdog does.
    c.noc->core().set_held_limit(uint64_t(watchdog_limit_us() * double(ch.noc_clock_mhz)));
    // This chiplet's HBM stacks, its die-to-die links and the fabric take
    // approximately-timed requests (no server thread per request); tiles are served
    // with b_transport.
    c.noc->set_nonblocking_targets([this, g](const tlm::tlm_generic_payload& p) {
      const Target t = map_.decode(p.get_address());
      if (t.kind == Target::kNone) return false;
      const uint32_t owner = map_.owner_chiplet(t);
      return owner != g || t.kind == Target::kHbm;  // not ours: a link or the fabric
    });
    // An endpoint of a stack's own (dedicated I/O) holds the requests the stack has not
    // taken in a bounded buffer (noc.target_buffer_flits); a full one backs up into the
    // routers. Links and the fabric keep unbounded ones (see Network::bound_ejection),
    // and so does an endpoint a stack port shares with a tile or a link end: its
    // requests wait in one queue in arrival order, so a held stack request could wait
    // behind a link's, and a link's behind another chiplet's full buffers (a cycle
    // round the ring; the shared-ports all-to-all test deadlocked).
    std::vector<uint32_t> stack_endpoints;
    for (uint32_t node = 0; node < uint32_t(c.ports.size()); ++node)
      if (std::all_of(c.ports[node].begin(), c.ports[node].end(),
                      [](const Chiplet::Port& p) { return p.kind == Chiplet::Port::kStack; }))
        stack_endpoints.push_back(node);
    c.noc->bound_ejection(stack_endpoints);  // only this stack's requests arrive there
    // Per endpoint: demux ports (tile, stacks, links, fabric) and the mux in front of
    // it (none where nothing sends into the network: a stack's own endpoint).
    for (uint32_t node = 0; node < uint32_t(c.ports.size()); ++node) {
      const auto& ports = c.ports[node];
      auto route = [this, g, node](uint64_t addr) -> int {
        const Chiplet& me = *chiplets_[g];
        const auto& ps = me.ports[node];
        const Target t = map_.decode(addr);
        if (t.kind == Target::kNone) return -1;
        const uint32_t owner = map_.owner_chiplet(t);
        for (size_t i = 0; i < ps.size(); ++i) {
          const auto& p = ps[i];
          if (owner == g) {
            if (t.kind == Target::kTile && p.kind == Chiplet::Port::kTile && p.index == t.index)
              return int(i);
            if (t.kind == Target::kHbm && p.kind == Chiplet::Port::kStack && p.index == t.index)
              return int(i);
          } else {
            const uint32_t next = next_chiplet(g, owner, addr);
            if (next == kToFabric && p.kind == Chiplet::Port::kFabric) return int(i);
            if (p.kind == Chiplet::Port::kLink && p.index == next) return int(i);
          }
        }
        return -1;
      };
      const std::string nn = sc_name(cname + ".node" + std::to_string(node));
      c.demux.push_back(std::make_unique<TlmDemux>((nn + "_demux").c_str(), ports.size(), route));
      TlmDemux& dm = *c.demux.back();
      c.noc->initiator[node]->bind(dm.in);
      const bool sends = node < nodes || ports[0].kind != Chiplet::Port::kStack;
      c.mux.push_back(sends ? std::make_unique<TlmMux>((nn + "_mux").c_str()) : nullptr);
      if (sends) c.mux.back()->out.bind(*c.noc->target[node]);
      if (node < nodes) {
        tile::Tile& tl = *tiles_[map.tile_id(g, node)];
        for (tile::DmaEngine* d : {&tl.dma_in(), &tl.dma_out()}) {
          d->socket.bind(c.mux.back()->in);
          c.mux.back()->own_payloads(d->payloads(), d->payload_count());
        }
      }
      for (size_t i = 0; i < ports.size(); ++i) {
        if (ports[i].kind == Chiplet::Port::kTile) dm.out[i]->bind(tiles_[ports[i].index]->target);
        if (ports[i].kind == Chiplet::Port::kStack) dm.out[i]->bind(stack_mux_[ports[i].index]->in);
      }
    }
  }
  // A port off the chiplet (a link end, the fabric port) reached from several attach
  // nodes: every node's demux port toward it (`kind`, `index`) feeds its `in` socket
  // through a mux. Returns the endpoint of each attach node, where what leaves the port
  // enters the chiplet (by address: from a link through the link's own out socket for
  // that node, so the nodes do not block each other; from the fabric port's one socket
  // through a demux).
  auto join_attach_nodes = [this](Chiplet& c, const std::vector<uint32_t>& at,
                                  Chiplet::Port::Kind kind, uint32_t index, const std::string& name,
                                  auto& in) {
    attach_mux_.push_back(std::make_unique<TlmMux>((name + "_mux").c_str()));
    attach_mux_.back()->out.bind(in);
    std::vector<uint32_t> eps;
    for (uint32_t node : at) {
      const uint32_t ep = c.endpoint(node, kind, index);
      eps.push_back(ep);
      const auto& ports = c.ports[ep];
      for (size_t i = 0; i < ports.size(); ++i)
        if (ports[i].kind == kind && ports[i].index == index)
          c.demux[ep]->out[i]->bind(attach_mux_.back()->in);
    }
    return eps;
  };
  // Links: side A is the lower chiplet id.
  for (size_t l = 0; l < pairs.size(); ++l) {
    const auto [a, b] = pairs[l];
    const std::string path = "pkg" + std::to_string(a / n) + ".d2d" + std::to_string(l);
    links_.push_back(std::make_unique<noc::D2dLink>(
        sc_name(path).c_str(), spec.package.d2d, sim::StatsScope(stats, path), &energy,
        uint32_t(chiplets_[a]->d2d_nodes[b].size()), uint32_t(chiplets_[b]->d2d_nodes[a].size()),
        [](uint64_t addr, uint32_t k) { return attach_index(addr, k); }));
    noc::D2dLink& link = *links_.back();
    for (int side = 0; side < 2; ++side) {
      const uint32_t me = side == 0 ? a : b, other = side == 0 ? b : a;
      Chiplet& c = *chiplets_[me];
      const std::vector<uint32_t> eps = join_attach_nodes(
          c, c.d2d_nodes[other], Chiplet::Port::kLink, other,
          sc_name(path) + (side == 0 ? "_a" : "_b"), side == 0 ? link.a_in : link.b_in);
      auto& outs = side == 0 ? link.a_out : link.b_out;
      for (size_t i = 0; i < eps.size(); ++i) outs[i]->bind(c.mux[eps[i]]->in);
    }
  }
  // The fabric between packages.
  if (spec.system.packages > 1) {
    auto package_of = [this](uint64_t addr) -> uint32_t {
      const uint32_t c = map_.chiplet_of(addr);
      return c == ~0u ? 0 : c / spec_.package.chiplets;
    };
    // One out socket per attach node (every package's first chiplet is alike).
    const uint32_t outs = uint32_t(chiplets_[0]->fabric_nodes.size());
    for (uint32_t p = 0; p < spec.system.packages; ++p)
      if (chiplets_[p * n]->fabric_nodes.size() != outs)
        throw sim::SimulationError(
            "fabric: packages reach their ports from different numbers "
            "of attach nodes");
    fabric_ = std::make_unique<noc::SwitchFabric>(
        "fabric", spec.system.fabric, spec.system.packages, package_of,
        sim::StatsScope(stats, "fabric"), &energy, outs,
        [](uint64_t addr, uint32_t k) { return attach_index(addr, k); });
    for (uint32_t p = 0; p < spec.system.packages; ++p) {
      Chiplet& c = *chiplets_[p * n];
      const std::string name = "pkg" + std::to_string(p) + "_fabric";
      const std::vector<uint32_t> eps =
          join_attach_nodes(c, c.fabric_nodes, Chiplet::Port::kFabric, 0, name, *fabric_->in[p]);
      for (size_t i = 0; i < eps.size(); ++i)
        fabric_->out[p * fabric_->outs_per_port() + i]->bind(c.mux[eps[i]]->in);
    }
  }
  SC_HAS_PROCESS(System);
  SC_THREAD(monitor_thread);
}

System::~System() = default;

const std::vector<uint32_t>& System::fabric_nodes(uint32_t package) const {
  return chiplets_.at(package * spec_.package.chiplets)->fabric_nodes;
}

const std::vector<uint32_t>& System::d2d_nodes(uint32_t chiplet, uint32_t neighbour) const {
  return chiplets_.at(chiplet)->d2d_nodes.at(neighbour);
}

void System::load(const std::vector<tile::Program>& programs) {
  load(std::vector<tile::Program>(programs));
}

void System::load(std::vector<tile::Program>&& programs) {
  if (programs.size() != tiles_.size())
    throw sim::UserError("mapping has " + std::to_string(programs.size()) +
                         " programs for a machine of " + std::to_string(tiles_.size()) + " tiles");
  for (size_t t = 0; t < tiles_.size(); ++t) tiles_[t]->load_program(std::move(programs[t]));
  programs.clear();
}

std::vector<tile::Program> System::take_programs() {
  std::vector<tile::Program> out;
  out.reserve(tiles_.size());
  for (auto& t : tiles_) out.push_back(t->take_program());
  return out;
}

double System::watchdog_limit_us() const {
  // watchdog_us, or as many cycles of the machine's slowest clock if that is longer (a
  // tile at 1 MHz runs one GEMM block for milliseconds, legitimately).
  const uint64_t slowest_mhz = std::min(
      {spec_.tile.clock_mhz, spec_.chiplet.noc_clock_mhz, spec_.chiplet.hbm.timing.clock_mhz});
  return double(opt_.watchdog_us) *
         std::max(1.0, 1000.0 / double(std::max<uint64_t>(1, slowest_mhz)));
}

void System::monitor_thread() {
  sc_core::sc_event_or_list any;
  for (auto& t : tiles_) any |= t->finished_event();
  uint64_t last_moved = ~uint64_t(0);
  sc_core::sc_time last_progress = sc_core::SC_ZERO_TIME;
  const double limit_us = watchdog_limit_us();
  const sc_core::sc_time limit(limit_us, sc_core::SC_US);
  const sc_core::sc_time period = limit / 20;
  for (;;) {
    uint64_t moved = 0;
    bool all = true;
    for (const auto& t : tiles_) {
      moved += t->progress();
      all = all && t->finished();
    }
    if (all) {
      done_ = true;
      for (const auto& t : tiles_)
        for (uint32_t i = 0; i < t->commands(); ++i) end_ps_ = std::max(end_ps_, t->end_ps(i));
      sc_core::sc_stop();
      return;
    }
    if (moved != last_moved) {
      last_moved = moved;
      last_progress = sc_core::sc_time_stamp();
    } else if (sc_core::sc_time_stamp() - last_progress > limit) {
      failure_ = "no command finished and no memory request issued for " +
                 std::to_string(uint64_t(limit_us + 0.5)) +
                 " us of simulated time: " + deadlock_report();
      sc_core::sc_stop();
      return;
    }
    wait(period, any);
  }
}

std::string System::deadlock_report() const {
  std::string s;
  int shown = 0;
  for (const auto& t : tiles_) {
    if (t->finished()) continue;
    if (shown++ == 8) {
      s += "; ...";
      break;
    }
    s += (s.empty() ? "" : "; ") + t->blocked_report();
  }
  return s;
}

void System::print_progress(double wall_s) const {
  size_t total = 0, done = 0;
  for (const auto& t : tiles_) {
    total += t->commands();
    done += t->completed();
  }
  const double frac = total ? double(done) / double(total) : 1.0;
  // No command done yet: no rate to extrapolate.
  const std::string eta =
      frac > 0 ? std::to_string(int64_t(std::min(wall_s * (1 - frac) / frac, 1e15) + 0.5)) : "?";
  std::cerr << (opt_.progress_redraw ? "\r" : "") << "  simulated "
            << sc_core::sc_time_stamp().to_seconds() * 1e6 << " us, " << int(100 * frac)
            << " % of commands, ETA " << eta << " s" << (opt_.progress_redraw ? "   " : "\n")
            << std::flush;
}

void System::simulate() {
  if (!opt_.progress) {
    sc_core::sc_start();
    return;
  }
  // With a progress line: the run in slices of simulated time, sized to take about a
  // tenth of a second each, and the line redrawn between them at most twice a second.
  // Slicing adds no event and moves none (a process woken only to print did: same-time
  // processes then ran in another order, and results changed), so the results are
  // those of one sc_start() (test: "a progress line leaves the results unchanged").
  using clock = std::chrono::steady_clock;
  const auto wall0 = clock::now();
  // In a log the first line comes after the first slice and the last at the end, so
  // that a log shows the run started and ended.
  auto last_print = opt_.progress_redraw ? wall0 : wall0 - std::chrono::seconds(1);
  sc_core::sc_time slice(1, sc_core::SC_US);
  bool printed = false;  // the last slice printed a line
  do {                   // (before the first slice nothing is pending: processes start in it)
    const auto t0 = clock::now();
    sc_core::sc_start(slice);
    const auto t1 = clock::now();
    const double took = std::chrono::duration<double>(t1 - t0).count();
    slice = std::max(slice * std::clamp(0.1 / std::max(took, 1e-6), 0.5, 2.0),
                     sc_core::sc_time(1, sc_core::SC_NS));
    printed = t1 - last_print > std::chrono::milliseconds(500);
    if (printed) {
      last_print = t1;
      print_progress(std::chrono::duration<double>(t1 - wall0).count());
    }
  } while (sc_core::sc_get_status() != sc_core::SC_STOPPED && sc_core::sc_pending_activity());
  if (!opt_.progress_redraw && !printed)  // (the last slice's line already says it)
    print_progress(std::chrono::duration<double>(clock::now() - wall0).count());
}

uint64_t System::run() {
  try {
    simulate();
  } catch (const sc_core::sc_report& r) {
    // SystemC reports an exception that leaves a process as an "uncaught exception"
    // error whose message is the exception's text; give back our one-line error with
    // the process and time it rose in.
    if (std::string(r.get_msg_type()).find("uncaught exception") == std::string::npos) throw;
    throw sim::SimulationError(std::string(r.get_msg()) + " (in " + r.get_process_name() + " at " +
                               sc_core::sc_time_stamp().to_string() + ")");
  }
  if (opt_.progress && opt_.progress_redraw)
    std::cerr << "\r" << std::string(70, ' ') << "\r" << std::flush;
  if (!failure_.empty()) throw sim::SimulationError("deadlock: " + failure_);
  if (!done_)
    throw sim::SimulationError("deadlock: nothing left to simulate but programs unfinished: " +
                               deadlock_report());
  return end_ps_;
}

void System::publish(uint64_t end_ps) {
  const sc_core::sc_time t = sc_core::sc_time::from_value(end_ps);
  for (auto& s : stacks_) s->publish_stats(t);
  for (auto& l : links_) l->publish(double(end_ps));
  if (fabric_) fabric_->core().publish(double(end_ps));
  const auto noc_clock = sim::ClockDomain::from_mhz("noc", spec_.chiplet.noc_clock_mhz);
  for (auto& c : chiplets_) c->noc->publish(noc_clock.cycles_at(sim::Picoseconds(end_ps)).v);
  for (sim::EnergyAccount* a : die_static_)
    if (end_ps > a->events()) a->charge(end_ps - a->events());  // up to end_ps, once
  stats_.scalar("system.sim_time", "ps", "simulated time to the last command's end")
      .set(double(end_ps));
}

void System::command_times(std::vector<std::vector<uint64_t>>& start,
                           std::vector<std::vector<uint64_t>>& end) const {
  start.assign(tiles_.size(), {});
  end.assign(tiles_.size(), {});
  for (size_t t = 0; t < tiles_.size(); ++t) {
    for (uint32_t i = 0; i < tiles_[t]->commands(); ++i) {
      start[t].push_back(tiles_[t]->start_ps(i));
      end[t].push_back(tiles_[t]->end_ps(i));
    }
  }
}

}  // namespace tessera::system
