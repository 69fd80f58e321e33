// SystemSpec: the whole machine, from YAML. Each block owns its config struct (next
// to the block); this file only arranges them into the hierarchy
// system -> packages -> chiplets -> tiles + HBM stacks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "models/memory/hbm_config.h"
#include "models/sim/config_schema.h"
#include "models/tile/tile_config.h"
#include "noc/noc_config.h"

namespace tessera::system {

// Where an HBM stack attaches to the chiplet's NoC.
struct HbmAttach {
  uint32_t x = 0;
  uint32_t y = 0;
  template <class V>
  void visit(V& v) {
    v.field("x", x, "", "NoC column of the router the stack's controller hangs off",
            sim::Range{0, 255});
    v.field("y", y, "", "NoC row", sim::Range{0, 255});
  }
};

// The column of a stack's port i, for a stack attached at column x: ports run down the
// stack's column (wrapping), then into the next columns eastward, or westward from the
// east edge. Negative or >= tiles_x: off the grid (ChipletConfig refuses such attaches).
inline int64_t hbm_port_column(uint32_t x, uint32_t i, uint32_t tiles_x, uint32_t tiles_y) {
  const bool east = x + 1 == tiles_x && tiles_x > 1;
  const int64_t off = int64_t(i / std::max<uint32_t>(1, tiles_y));
  return east ? int64_t(x) - off : int64_t(x) + off;
}

struct ChipletConfig {
  uint32_t tiles_x = 2;
  uint32_t tiles_y = 2;
  uint64_t noc_clock_mhz = 1000;
  noc::NocConfig noc;
  uint32_t hbm_stacks = 1;
  std::vector<HbmAttach> hbm_attach;
  uint32_t hbm_ports = 4;
  uint32_t hbm_port_interleave_bytes = 256;
  std::string io_ports = "shared";
  double static_w = 0;  // the compute die's power while it is on, whatever it does
  memory::HbmConfig hbm;

  template <class V>
  void visit(V& v) {
    v.field("tiles_x", tiles_x, "tiles", "tile columns on the chiplet's NoC", sim::Range{1, 64});
    v.field("tiles_y", tiles_y, "tiles", "tile rows", sim::Range{1, 64});
    v.field("noc_clock_mhz", noc_clock_mhz, "MHz", "NoC clock", sim::Range{1, 1000000});
    v.section("noc", noc, "on-chip network");
    v.field("hbm_stacks", hbm_stacks, "stacks", "HBM stacks attached to this chiplet",
            sim::Range{0, 16});
    v.list("hbm_attach", hbm_attach,
           "NoC node of each stack (default: spread along the west and east edges)");
    v.field("hbm_ports", hbm_ports, "ports",
            "NoC nodes each stack is reached through (its channels fan out over several "
            "routers): the attach node and the next ones along its column, then the next "
            "columns eastward (westward from the east edge)",
            sim::Range{1, 64});
    v.field("hbm_port_interleave_bytes", hbm_port_interleave_bytes, "bytes",
            "addresses alternate between a stack's ports every this many bytes",
            sim::Range{32, 1 << 20});
    v.choice("io_ports", io_ports, {"shared", "dedicated"},
             "shared: an HBM port, die-to-die link end or fabric port at a router enters the "
             "NoC through that router's tile interface; dedicated: each has a network "
             "interface and a local router port of its own (concentration), as HBM PHYs and "
             "link adapters usually do");
    v.check(io_ports != "dedicated" || noc.topology != "crossbar", "io_ports",
            "dedicated I/O ports need a mesh, torus or ring NoC (a crossbar's endpoints are "
            "its ports)");
    v.check(io_ports != "dedicated" || noc.target_buffer_fits(), "noc.target_buffer_flits",
            "target_buffer_flits must hold the largest packet (max_packet_flits) or be 0");
    v.check(hbm_ports <= tiles_x * tiles_y, "hbm_ports", "more ports than NoC nodes");
    v.check(noc.topology != "torus" || (tiles_x >= 3 && tiles_y >= 3), "noc",
            "a torus needs at least 3 tiles per dimension (use a mesh or a ring)");
    v.check((noc.topology != "ring" && noc.topology != "crossbar") || tiles_y == 1, "noc",
            "a ring or crossbar NoC puts the tiles in one row: set tiles_y to 1");
    v.check((hbm_port_interleave_bytes & (hbm_port_interleave_bytes - 1)) == 0,
            "hbm_port_interleave_bytes", "must be a power of two");
    v.field("static_w", static_w, "W",
            "power the compute chiplet draws all the time it is on (leakage, clock tree, "
            "always-on logic), charged over the run; its HBM stacks' standby power is "
            "hbm.energy.background_mw. 0: not modelled (the energy is then the modelled "
            "events' only)",
            sim::Range{0, 100000});
    v.section("hbm", hbm, "HBM stack (every stack of the chiplet is alike)");
    v.check(hbm_attach.empty() || hbm_attach.size() == hbm_stacks, "hbm_attach",
            "must list one node per HBM stack");
    // A stack's ports must stay on the grid (hbm_port_column; from the east edge they
    // do, given hbm_ports <= the tiles).
    const uint32_t port_cols = (hbm_ports + tiles_y - 1) / std::max<uint32_t>(1, tiles_y);
    for (const auto& a : hbm_attach) {
      v.check(a.x < tiles_x && a.y < tiles_y, "hbm_attach", "node outside the tile grid");
      const int64_t last = hbm_port_column(a.x, hbm_ports - 1, tiles_x, tiles_y);
      v.check(last >= 0 && last < int64_t(tiles_x), "hbm_attach",
              "a stack at column " + std::to_string(a.x) + " has its " + std::to_string(hbm_ports) +
                  " hbm_ports in " + std::to_string(port_cols) +
                  " columns from it eastward, past the grid");
    }
  }
};

struct PackageConfig {
  uint32_t chiplets = 1;
  std::string topology = "ring";
  noc::D2dConfig d2d;
  uint64_t hbm_interleave_bytes = 0;
  double hbm_interleave_share = 0.25;
  std::string hbm_interleave_over = "package";

  template <class V>
  void visit(V& v) {
    v.field("chiplets", chiplets, "chiplets", "compute chiplets in the package", sim::Range{1, 64});
    v.choice("topology", topology, {"ring", "mesh", "all-to-all"},
             "how die-to-die links join the chiplets");
    v.section("d2d", d2d, "die-to-die link (UCIe-style)");
    v.field("hbm_interleave_bytes", hbm_interleave_bytes, "bytes",
            "0: every address lies in one HBM stack; else the stacks of each package (or "
            "chiplet, hbm_interleave_over) also form one interleaved region, consecutive "
            "units of this many bytes going to its stacks in turn, as a GPU or a chiplet "
            "accelerator in a one-NUMA-node mode interleaves its memory; the mapper keeps "
            "activations there. A power of two, a multiple of tile.dma.burst_bytes and of "
            "the HBM access, at least chiplet.hbm_port_interleave_bytes",
            sim::Range{0, uint64_t(1) << 30});
    v.field("hbm_interleave_share", hbm_interleave_share, "ratio",
            "share of every stack's capacity that forms the interleaved region (the rest is "
            "addressed stack by stack, for data placed near its tiles)",
            sim::Range{0.0, 1.0});
    v.choice("hbm_interleave_over", hbm_interleave_over, {"package", "chiplet"},
             "package: one interleaved region over all stacks of the package (as a one-NUMA-"
             "node mode); chiplet: one per chiplet over its own stacks");
    v.check((hbm_interleave_bytes & (hbm_interleave_bytes - 1)) == 0, "hbm_interleave_bytes",
            "must be 0 or a power of two");
    v.check(hbm_interleave_bytes == 0 || (hbm_interleave_share > 0 && hbm_interleave_share < 1),
            "hbm_interleave_share", "must lie strictly between 0 and 1");
  }
};

struct FabricLevelConfig {
  uint32_t packages = 1;
  noc::FabricConfig fabric;
  template <class V>
  void visit(V& v) {
    v.field("packages", packages, "packages", "packages joined by the switch fabric",
            sim::Range{1, 1024});
    v.section("fabric", fabric, "NVSwitch-style switch fabric between packages");
  }
};

struct CostConfig {
  double dollars_per_hour = 2.0;
  // What dollars_per_hour prices: the whole system, or one package (a server of eight
  // GPUs, or one GPU of it), so that a sweep over system.packages prices each size.
  std::string per = "system";
  template <class V>
  void visit(V& v) {
    v.field("dollars_per_hour", dollars_per_hour, "$/h",
            "rental price for cost per million tokens: of the whole system, or of one package "
            "(cost.per)",
            sim::Range{0, 1e6});
    v.choice("per", per, {"system", "package"},
             "what dollars_per_hour prices: the whole system, or one package (the system then "
             "costs system.packages times as much)");
  }
  // The whole system's price per hour.
  double system_dollars_per_hour(uint32_t packages) const {
    return per == "package" ? dollars_per_hour * packages : dollars_per_hour;
  }
};

struct SystemSpec {
  std::string name = "tiny";
  std::string description;
  uint64_t seed = 1;
  tile::TileConfig tile;
  ChipletConfig chiplet;
  PackageConfig package;
  FabricLevelConfig system;
  CostConfig cost;

  template <class V>
  void visit(V& v) {
    v.field("name", name, "", "name of the machine, shown in reports", sim::Range{});
    v.field("description", description, "", "one line on what the machine is and its sources",
            sim::Range{});
    v.field("seed", seed, "", "seed of every random choice (same seed, same statistics)",
            sim::Range{});
    v.section("tile", tile, "compute tile (every tile is alike)");
    v.section("chiplet", chiplet, "compute chiplet (every chiplet is alike)");
    v.section("package", package, "package of chiplets");
    v.section("system", system, "packages and the fabric between them");
    v.section("cost", cost, "cost model");
    v.check(package.hbm_interleave_bytes == 0 ||
                (package.hbm_interleave_bytes % tile.dma.burst_bytes == 0 &&
                 package.hbm_interleave_bytes % chiplet.hbm.access_bytes() == 0 &&
                 package.hbm_interleave_bytes >= chiplet.hbm_port_interleave_bytes),
            "package.hbm_interleave_bytes",
            "must be a multiple of tile.dma.burst_bytes and of the HBM access, and at least "
            "chiplet.hbm_port_interleave_bytes (a request never spans two stacks)");
    v.check(package.hbm_interleave_bytes == 0 || chiplet.hbm_stacks > 0,
            "package.hbm_interleave_bytes", "needs HBM stacks");
    v.check(package.hbm_interleave_bytes == 0 ||
                uint64_t(double(chiplet.hbm.capacity_bytes()) * package.hbm_interleave_share) >=
                    package.hbm_interleave_bytes,
            "package.hbm_interleave_share",
            "gives each stack less than one unit of package.hbm_interleave_bytes");
    // HBM stacks refuse a request that is not whole accesses (misaligned, or shorter).
    v.check(chiplet.hbm_stacks == 0 || tile.dma.align_bytes % chiplet.hbm.access_bytes() == 0,
            "tile.dma.align_bytes",
            "must be a multiple of the HBM access (" + std::to_string(chiplet.hbm.access_bytes()) +
                " B): the stacks take only whole, aligned accesses");
    v.check(system.fabric.attach_nodes <= tiles_per_chiplet(), "system.fabric.attach_nodes",
            "more fabric attach nodes than NoC nodes of a chiplet (" +
                std::to_string(tiles_per_chiplet()) + ")");
  }

  uint32_t tiles_per_chiplet() const { return chiplet.tiles_x * chiplet.tiles_y; }
  uint32_t total_chiplets() const { return package.chiplets * system.packages; }
  uint32_t total_tiles() const { return tiles_per_chiplet() * total_chiplets(); }
};

// Loading: the built-in default (`tiny`), a preset name, or a file; then --set
// overrides ("tile.array.rows=64"). Throws sim::ConfigError with file:line:col.
SystemSpec default_spec();
SystemSpec load_spec(const std::string& path_or_preset,
                     const std::vector<std::string>& overrides = {});
// Where a spec came from, for reports.
std::vector<std::string> preset_names();
std::string resolved_yaml(SystemSpec spec);

}  // namespace tessera::system
