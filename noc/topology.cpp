#include "noc/topology.h"

#include <algorithm>
#include <cstdlib>

#include "models/sim/errors.h"

namespace tessera::noc {

TopologyKind parse_topology(const std::string& s) {
  if (s == "mesh") return TopologyKind::kMesh;
  if (s == "torus") return TopologyKind::kTorus;
  if (s == "ring") return TopologyKind::kRing;
  if (s == "crossbar") return TopologyKind::kCrossbar;
  throw sim::UserError("topology '" + s + "' is not one of mesh, torus, ring, crossbar");
}

RoutingKind parse_routing(const std::string& s) {
  if (s == "dor") return RoutingKind::kDor;
  if (s == "west_first") return RoutingKind::kWestFirst;
  throw sim::UserError("routing '" + s + "' is not one of dor, west_first");
}

void check_endpoint_count(uint64_t endpoints) {
  if (endpoints > 65536)
    throw sim::UserError("noc: at most 65,536 endpoints per network, not " +
                         std::to_string(endpoints));
}

int Topology::ring_offset(int from, int to, int k) {
  int d = ((to - from) % k + k) % k;  // 0..k-1 going the positive way
  return (2 * d <= k) ? d : d - k;
}

std::vector<uint32_t> Topology::concentration(TopologyKind kind, uint32_t kx, uint32_t ky,
                                              uint32_t c) {
  if (c < 1 || c > 16) throw sim::UserError("concentration must be 1..16 endpoints per router");
  if (c > 1 && kind == TopologyKind::kCrossbar)
    throw sim::UserError("a crossbar has one endpoint per port (concentration 1)");
  const uint32_t routers = kind == TopologyKind::kRing ? kx : kx * ky;
  check_endpoint_count(uint64_t(routers) * c);  // before the list and port table are built
  std::vector<uint32_t> extra;
  for (uint32_t s = 1; s < c; ++s)
    for (uint32_t r = 0; r < routers; ++r) extra.push_back(r);
  return extra;
}

Topology Topology::build(TopologyKind kind, uint32_t kx, uint32_t ky, RoutingKind routing,
                         const std::vector<uint32_t>& extra_endpoints) {
  Topology t;
  t.kind_ = kind;
  t.routing_ = routing;
  if (routing == RoutingKind::kWestFirst && kind != TopologyKind::kMesh)
    throw sim::UserError("routing west_first needs topology mesh");
  if (kx < 1 || kx > 4096) throw sim::UserError("topology size must be 1..4096 per dimension");
  switch (kind) {
    case TopologyKind::kMesh:
    case TopologyKind::kTorus: {
      if (ky < 1 || ky > 4096) throw sim::UserError("topology size must be 1..4096 per dimension");
      t.kx_ = kx;
      t.ky_ = ky;
      t.num_routers_ = t.num_nodes_ = kx * ky;
      t.ports_ = 5;
      t.out_.assign(size_t(t.num_routers_) * 5, PortPeer{});
      const bool wrap = kind == TopologyKind::kTorus;
      for (uint32_t y = 0; y < ky; ++y)
        for (uint32_t x = 0; x < kx; ++x) {
          const uint32_t r = y * kx + x;
          auto link = [&](uint32_t port, int nx, int ny, uint8_t in_port) {
            if (!wrap && (nx < 0 || ny < 0 || nx >= int(kx) || ny >= int(ky))) return;
            nx = (nx + int(kx)) % int(kx);
            ny = (ny + int(ky)) % int(ky);
            const uint32_t peer = uint32_t(ny) * kx + uint32_t(nx);
            if (peer == r) return;  // a dimension of size 1 has no links
            t.out_[r * 5 + port] = PortPeer{int32_t(peer), in_port, -1};
          };
          // Port p's link arrives on the neighbour's opposite port.
          link(1, int(x) + 1, int(y), 2);
          link(2, int(x) - 1, int(y), 1);
          link(3, int(x), int(y) + 1, 4);
          link(4, int(x), int(y) - 1, 3);
          t.out_[r * 5 + 0] = PortPeer{-1, 0, int32_t(r)};
        }
      // A 2-wide torus dimension would join the same pair twice; treat it as a mesh there.
      if (wrap && (kx == 2 || ky == 2))
        throw sim::UserError("a torus needs at least 3 routers per dimension (use a mesh)");
      t.node_router_.resize(t.num_nodes_);
      t.node_port_.assign(t.num_nodes_, 0);
      for (uint32_t n = 0; n < t.num_nodes_; ++n) t.node_router_[n] = n;
      break;
    }
    case TopologyKind::kRing: {
      if (kx < 3) throw sim::UserError("a ring needs at least 3 routers");
      t.kx_ = kx;
      t.ky_ = 1;
      t.num_routers_ = t.num_nodes_ = kx;
      t.ports_ = 3;
      t.out_.assign(size_t(kx) * 3, PortPeer{});
      for (uint32_t r = 0; r < kx; ++r) {
        t.out_[r * 3 + 0] = PortPeer{-1, 0, int32_t(r)};
        t.out_[r * 3 + 1] = PortPeer{int32_t((r + 1) % kx), 2, -1};
        t.out_[r * 3 + 2] = PortPeer{int32_t((r + kx - 1) % kx), 1, -1};
      }
      t.node_router_.resize(kx);
      t.node_port_.assign(kx, 0);
      for (uint32_t n = 0; n < kx; ++n) t.node_router_[n] = n;
      break;
    }
    case TopologyKind::kCrossbar: {
      if (kx < 2 || kx > 255) throw sim::UserError("a crossbar needs 2..255 ports");
      t.kx_ = kx;
      t.ky_ = 1;
      t.num_routers_ = 1;
      t.num_nodes_ = kx;
      t.ports_ = kx;
      t.out_.assign(kx, PortPeer{});
      t.node_router_.assign(kx, 0);
      t.node_port_.resize(kx);
      for (uint32_t n = 0; n < kx; ++n) {
        t.out_[n] = PortPeer{-1, 0, int32_t(n)};
        t.node_port_[n] = n;
      }
      break;
    }
  }
  t.base_ports_ = t.ports_;
  if (!extra_endpoints.empty()) {
    if (kind == TopologyKind::kCrossbar)
      throw sim::UserError("a crossbar has one endpoint per port (no extra endpoints)");
    std::vector<uint32_t> count(t.num_routers_, 0);
    uint32_t most = 0;
    for (uint32_t r : extra_endpoints) {
      if (r >= t.num_routers_)
        throw sim::UserError("extra endpoint at router " + std::to_string(r) + " of " +
                             std::to_string(t.num_routers_));
      most = std::max(most, ++count[r]);
    }
    if (t.base_ports_ + most > 64)
      throw sim::UserError("at most " + std::to_string(64 - t.base_ports_) +
                           " extra endpoints per router");
    const uint32_t base = t.base_ports_, ports = base + most;
    // Re-lay the port table with the wider routers (extra ports unconnected for now).
    std::vector<PortPeer> out(size_t(t.num_routers_) * ports, PortPeer{});
    for (uint32_t r = 0; r < t.num_routers_; ++r)
      for (uint32_t p = 0; p < base; ++p) out[size_t(r) * ports + p] = t.out_[size_t(r) * base + p];
    t.out_ = std::move(out);
    t.ports_ = ports;
    std::fill(count.begin(), count.end(), 0);
    for (uint32_t r : extra_endpoints) {
      const uint32_t node = t.num_nodes_++;
      const uint32_t port = base + count[r]++;
      t.out_[size_t(r) * ports + port] = PortPeer{-1, 0, int32_t(node)};
      t.node_router_.push_back(r);
      t.node_port_.push_back(port);
    }
  }
  if (kind == TopologyKind::kMesh) {
    t.xy_.resize(t.num_routers_);
    for (uint32_t r = 0; r < t.num_routers_; ++r)
      t.xy_[r] = Xy{uint16_t(r % t.kx_), uint16_t(r / t.kx_)};
    // The route for each sign pair, from a router in the middle (offsets of one hop
    // have the signs of any longer offset in the same direction).
    for (int sx = -1; sx <= 1; ++sx)
      for (int sy = -1; sy <= 1; ++sy) {
        if (sx == 0 && sy == 0) continue;
        if ((sx != 0 && t.kx_ < 2) || (sy != 0 && t.ky_ < 2)) continue;
        const uint32_t x = sx < 0 ? 1 : 0, y = sy < 0 ? 1 : 0;
        const uint32_t from = y * t.kx_ + x, to = (y + sy) * t.kx_ + (x + sx);
        t.mesh_routes_[(sx + 1) * 3 + sy + 1] = t.compute_route(from, 0, 0, to);
      }
  }
  return t;
}

uint32_t Topology::routers_on_path(uint32_t src_node, uint32_t dst_node) const {
  const uint32_t src = node_router_[src_node], dst = node_router_[dst_node];
  switch (kind_) {
    case TopologyKind::kMesh: {
      const int dx = int(dst % kx_) - int(src % kx_), dy = int(dst / kx_) - int(src / kx_);
      return uint32_t(std::abs(dx) + std::abs(dy)) + 1;
    }
    case TopologyKind::kTorus: {
      const int dx = ring_offset(int(src % kx_), int(dst % kx_), int(kx_));
      const int dy = ring_offset(int(src / kx_), int(dst / kx_), int(ky_));
      return uint32_t(std::abs(dx) + std::abs(dy)) + 1;
    }
    case TopologyKind::kRing:
      return uint32_t(std::abs(ring_offset(int(src), int(dst), int(kx_)))) + 1;
    case TopologyKind::kCrossbar:
      return 1;
  }
  return 1;
}

RouteChoice Topology::compute_route(uint32_t router, uint32_t in_port, uint32_t in_class,
                                    uint32_t dst) const {
  RouteChoice c;
  auto add = [&](uint32_t port, uint32_t cls) {
    c.port[c.n] = uint8_t(port);
    c.vc_class[c.n] = uint8_t(datelines_ ? cls : 0);
    ++c.n;
  };
  const uint32_t dst_router = node_router_[dst];
  switch (kind_) {
    case TopologyKind::kCrossbar:
      add(node_port_[dst], 0);
      return c;
    case TopologyKind::kRing: {
      const int d = ring_offset(int(router), int(dst_router), int(kx_));
      if (d == 0) {
        add(node_port_[dst], 0);
        return c;
      }
      const uint32_t port = d > 0 ? 1 : 2;
      // Dateline on the link between router k-1 and router 0: crossing it (or having
      // crossed it already on this ring) moves the packet to VC class 1.
      const bool wraps = (d > 0 && router == kx_ - 1) || (d < 0 && router == 0);
      const bool continuing = !local_port(in_port);
      add(port, (wraps || (continuing && in_class == 1)) ? 1 : 0);
      return c;
    }
    case TopologyKind::kMesh:
    case TopologyKind::kTorus: {
      const int x = int(router % kx_), y = int(router / kx_);
      const int tx = int(dst_router % kx_), ty = int(dst_router / kx_);
      int dx, dy;
      if (kind_ == TopologyKind::kTorus) {
        dx = ring_offset(x, tx, int(kx_));
        dy = ring_offset(y, ty, int(ky_));
      } else {
        dx = tx - x;
        dy = ty - y;
      }
      if (dx == 0 && dy == 0) {
        add(node_port_[dst], 0);
        return c;
      }
      if (kind_ == TopologyKind::kMesh) {
        if (routing_ == RoutingKind::kWestFirst && dx >= 0) {
          // West-first turn model: all west hops first (dx < 0 handled below), then
          // any minimal direction, chosen adaptively at VC allocation.
          if (dx > 0) add(1, 0);
          if (dy > 0) add(3, 0);
          if (dy < 0) add(4, 0);
          return c;
        }
        if (dx != 0)
          add(dx > 0 ? 1 : 2, 0);
        else
          add(dy > 0 ? 3 : 4, 0);
        return c;
      }
      // Torus, dimension order with a dateline per dimension between k-1 and 0.
      const uint32_t in_dim = local_port(in_port) ? 99 : (in_port - 1) / 2;
      if (dx != 0) {
        const bool wraps = (dx > 0 && x == int(kx_) - 1) || (dx < 0 && x == 0);
        add(dx > 0 ? 1 : 2, (wraps || (in_dim == 0 && in_class == 1)) ? 1 : 0);
      } else {
        const bool wraps = (dy > 0 && y == int(ky_) - 1) || (dy < 0 && y == 0);
        add(dy > 0 ? 3 : 4, (wraps || (in_dim == 1 && in_class == 1)) ? 1 : 0);
      }
      return c;
    }
  }
  return c;
}

std::string Topology::port_name(uint32_t port) const {
  if (kind_ == TopologyKind::kCrossbar) return "port" + std::to_string(port);
  static const char* mesh[] = {"local", "east", "west", "north", "south"};
  static const char* ring[] = {"local", "cw", "ccw"};
  if (port >= base_ports_) return "local" + std::to_string(port - base_ports_ + 1);
  if (kind_ == TopologyKind::kRing) return port < 3 ? ring[port] : "?";
  return port < 5 ? mesh[port] : "?";
}

}  // namespace tessera::noc
