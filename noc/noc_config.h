// Configuration of the on-chip network, die-to-die links and the switch fabric.
// (Placeholder: the NoC model fills this in.)
#pragma once

#include <cstdint>
#include <string>

#include "models/sim/config_schema.h"

namespace tessera::noc {

struct NocConfig {
  std::string topology = "mesh";
  uint32_t vcs = 2;
  uint32_t vc_buffer_flits = 8;
  uint32_t flit_bytes = 32;
  template <class V>
  void visit(V& v) {
    v.choice("topology", topology, {"mesh", "torus", "ring", "crossbar"}, "on-chip topology");
    v.field("vcs", vcs, "", "virtual channels per port", sim::Range{1, 16});
    v.field("vc_buffer_flits", vc_buffer_flits, "flits", "buffer depth per VC", sim::Range{1, 256});
    v.field("flit_bytes", flit_bytes, "bytes", "flit (and link) width", sim::Range{1, 1024});
  }
};

struct D2dConfig {
  uint32_t lanes = 64;
  double gbps_per_lane = 16;
  template <class V>
  void visit(V& v) {
    v.field("lanes", lanes, "lanes", "UCIe lanes per link and direction", sim::Range{1, 1024});
    v.field("gbps_per_lane", gbps_per_lane, "Gb/s", "rate of one lane", sim::Range{0.1, 256});
  }
};

struct FabricConfig {
  double port_gbytes_per_s = 450;
  template <class V>
  void visit(V& v) {
    v.field("port_gbytes_per_s", port_gbytes_per_s, "GB/s", "bandwidth of one port per direction",
            sim::Range{0.1, 1e5});
  }
};

}  // namespace tessera::noc
