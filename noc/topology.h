// Topologies (2D mesh, 2D torus, ring, crossbar) and their routing functions.
// A topology says which router port joins which, where each endpoint attaches,
// and for a head flit at a router which output ports (and VC class) it may take.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::noc {

enum class TopologyKind { kMesh, kTorus, kRing, kCrossbar };

// A head flit carries its destination endpoint in 16 bits (Flit, noc/router.h): a
// network of more endpoints is refused with one line.
void check_endpoint_count(uint64_t endpoints);
enum class RoutingKind { kDor, kWestFirst };

TopologyKind parse_topology(const std::string& s);
RoutingKind parse_routing(const std::string& s);

// Where an output port leads: another router's input port, or an endpoint (ejection).
struct PortPeer {
  int32_t router = -1;  // -1: not connected (mesh edge) or ejection
  uint8_t port = 0;
  int32_t node = -1;  // >= 0: this port ejects to that endpoint
};

// Up to two minimal output ports a head flit may take, each with the VC class
// (0 or 1: dateline classes on rings and tori) it must use downstream.
struct RouteChoice {
  uint8_t n = 0;
  uint8_t port[2] = {0, 0};
  uint8_t vc_class[2] = {0, 0};
};

class Topology {
 public:
  // mesh/torus: kx × ky routers, one endpoint each; ring: kx routers; crossbar: one
  // router with kx endpoint ports. `extra_endpoints` (mesh, torus, ring) attaches more
  // endpoints, each on a local port of its own at the router it names (concentration:
  // a router serving a core, a memory controller and a link adapter has a port for
  // each). Endpoint n < routers is router n's port 0; endpoint routers + i is the i-th
  // extra one, on port base + j at its router (base: 5 on a mesh/torus, 3 on a ring;
  // j: how many extras that router had before it). Every router gets the ports of the
  // router with the most extras; the others leave theirs unconnected.
  static Topology build(TopologyKind kind, uint32_t kx, uint32_t ky, RoutingKind routing,
                        const std::vector<uint32_t>& extra_endpoints = {});
  // `c` endpoints per router (mesh, torus, ring): the extra list of a uniform
  // concentration, endpoints r, r + R, r + 2R, ... on router r (R routers).
  static std::vector<uint32_t> concentration(TopologyKind kind, uint32_t kx, uint32_t ky,
                                             uint32_t c);

  TopologyKind kind() const { return kind_; }
  RoutingKind routing() const { return routing_; }
  uint32_t kx() const { return kx_; }
  uint32_t ky() const { return ky_; }
  uint32_t num_routers() const { return num_routers_; }
  uint32_t num_nodes() const { return num_nodes_; }
  uint32_t ports() const { return ports_; }  // ports per router (same for all)
  // Dateline VC classes needed for deadlock freedom (2 on rings and tori, else 1).
  uint32_t vc_classes() const {
    return datelines_ && (kind_ == TopologyKind::kTorus || kind_ == TopologyKind::kRing) ? 2 : 1;
  }
  // The same rings without dateline classes: deadlock-prone on purpose, to show (and
  // test) why datelines are there and that the watchdog catches the deadlock.
  Topology without_datelines() const {
    Topology t = *this;
    t.datelines_ = false;
    return t;
  }
  const PortPeer& peer(uint32_t router, uint32_t port) const {
    return out_[router * ports_ + port];
  }
  uint32_t node_router(uint32_t node) const { return node_router_[node]; }
  uint32_t node_port(uint32_t node) const { return node_port_[node]; }
  // Whether `port` is a local (endpoint) port rather than a link to another router.
  bool local_port(uint32_t port) const { return port == 0 || port >= base_ports_; }
  // Routers a packet visits from src to dst under the routing function (minimal).
  uint32_t routers_on_path(uint32_t src, uint32_t dst) const;
  // Route computation at `router` for a head flit that came in on `in_port` with VC
  // class `in_class`, heading to endpoint `dst`.
  RouteChoice route(uint32_t router, uint32_t in_port, uint32_t in_class, uint32_t dst) const {
    if (kind_ == TopologyKind::kMesh) {
      // A mesh route depends only on the signs of the offsets to the destination's
      // router: nine choices, the local one naming the destination's port.
      const uint32_t to = node_router_[dst];
      if (to == router) return RouteChoice{1, {uint8_t(node_port_[dst]), 0}, {0, 0}};
      const int sx = (xy_[to].x > xy_[router].x) - (xy_[to].x < xy_[router].x);
      const int sy = (xy_[to].y > xy_[router].y) - (xy_[to].y < xy_[router].y);
      return mesh_routes_[(sx + 1) * 3 + sy + 1];
    }
    return compute_route(router, in_port, in_class, dst);
  }
  std::string port_name(uint32_t port) const;

 private:
  TopologyKind kind_ = TopologyKind::kMesh;
  RoutingKind routing_ = RoutingKind::kDor;
  bool datelines_ = true;
  uint32_t kx_ = 1, ky_ = 1, num_routers_ = 1, num_nodes_ = 1, ports_ = 1;
  uint32_t base_ports_ = 1;  // port 0 and the links; extra local ports follow
  std::vector<PortPeer> out_;
  std::vector<uint32_t> node_router_, node_port_;
  // Shortest signed offset along a ring of size k (ties go the positive way).
  static int ring_offset(int from, int to, int k);
  RouteChoice compute_route(uint32_t router, uint32_t in_port, uint32_t in_class,
                            uint32_t dst) const;
  // Mesh: each router's coordinates, and the route for each pair of offset signs
  // (x, y in -1..1; a few bytes that stay in L1, where a router x node table of a 64
  // router mesh is 20 KiB and competed with the routers' state).
  struct Xy {
    uint16_t x, y;
  };
  std::vector<Xy> xy_;
  RouteChoice mesh_routes_[9];
};

}  // namespace tessera::noc
