// The whole machine elaborated from a SystemSpec: per chiplet, the tiles on the NoC
// (one tile per node), HBM stacks at their attach nodes, die-to-die links between
// chiplets of a package (ring, 2-D mesh or all-to-all), and a switch fabric joining
// the packages. Every instance has a hierarchical name (pkg0.chiplet2.tile5) under
// which it registers its statistics and energy.
//
// Routing: every node's demux sends an address that lives on another chiplet to the
// link toward it (shortest way round a ring, half-way ties split by address, X then
// Y on a chiplet mesh, direct on all-to-all; to chiplet 0 and the fabric for another
// package). Requests cross chiplets hop by hop through the gateways' network
// interfaces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <systemc>

#include "models/memory/hbm_stack.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "models/sim/timeline.h"
#include "models/system/address_map.h"
#include "models/system/functional_memory.h"
#include "models/system/system_spec.h"
#include "models/system/tlm_demux.h"
#include "models/system/tlm_mux.h"
#include "models/tile/tile.h"
#include "noc/d2d_link.h"
#include "noc/network.h"
#include "noc/switch_fabric.h"

namespace tessera::system {

struct SystemOptions {
  bool functional = false;      // keep data (HBM pages, scratchpads) and compute values
  bool progress = false;        // a progress line on stderr while running
  bool progress_redraw = true;  // redrawn in place (a terminal), else a line each time
  // Stop with a deadlock report when no command finishes for this long (simulated).
  uint64_t watchdog_us = 10000;
};

// The NoC nodes of a tiles_x x tiles_y chiplet where a package reaches its fabric port,
// `count` of them: spread evenly along the south edge (from the south-east corner, the
// one node of count 1) and the north edge, as NVLink ports sit along a GPU die's edges
// away from its HBM sides; a node in `avoid` (die-to-die gateways) moves to the nearest
// free node of its edge. More than the two edges hold fill the remaining nodes, highest
// index first, gateways last.
std::vector<uint32_t> fabric_attach_nodes(uint32_t count, uint32_t tiles_x, uint32_t tiles_y,
                                          const std::vector<uint32_t>& avoid);

// The die-to-die links of every package, as pairs of global chiplet ids: a ring (two
// chiplets: one link), the grid of a mesh (chiplet_grid), or every pair (all-to-all).
std::vector<std::pair<uint32_t, uint32_t>> d2d_link_pairs(const SystemSpec& spec);

// Where a request from chiplet `from` (global id) for an address owned by chiplet `to`
// goes next: a neighbour over a die-to-die link (same package), `from` itself when it is
// `to`, or toward another package: chiplet 0 of its own package, then kToFabric (the
// package's fabric port; from the fabric it enters the other package at its chiplet
// 0). `addr` breaks the tie half-way round an even ring. Responses retrace the path.
inline constexpr uint32_t kToFabric = ~0u - 1;
// Half-way round an even ring, the way an address takes alternates every this many
// bytes (aligned).
inline constexpr uint64_t kRingTieBytes = 8192;
uint32_t next_chiplet(const SystemSpec& spec, uint32_t from, uint32_t to, uint64_t addr);

// The edge of chiplet a's die (0 east, 1 west, 2 north, 3 south) facing its neighbour b
// on a "mesh" package's chiplet grid of n (local indices; b beside or above/below a):
// its die-to-die PHY sits there.
uint32_t mesh_link_edge(uint32_t a, uint32_t b, uint32_t n);

// The NoC nodes of a tiles_x x tiles_y chiplet where one end of a die-to-die link
// attaches, `count` of them (clamped to the edge's length) on edge `edge` (0 east, 1
// west, 2 north, 3 south; on a mesh package the edge facing the neighbour, else the
// chiplet's links take them in turn): count 1 is the middle
// of the edge; more sit at the middles of `count` equal stretches of it, as a UCIe PHY
// spans the die edge facing the neighbour. A node in `avoid` (another link's) moves to
// the nearest free node of the edge, and is shared only when the edge has none.
std::vector<uint32_t> d2d_attach_nodes(uint32_t count, uint32_t tiles_x, uint32_t tiles_y,
                                       uint32_t edge, const std::vector<uint32_t>& avoid);

class System : public sc_core::sc_module, public tile::TileDirectory {
 public:
  System(sc_core::sc_module_name name, const SystemSpec& spec, const AddressMap& map,
         sim::StatsRegistry& stats, sim::EnergyLedger& energy, sim::Timeline& timeline,
         const SystemOptions& opt);
  ~System() override;

  void load(const std::vector<tile::Program>& programs);
  void load(std::vector<tile::Program>&& programs);  // moved into the tiles, not copied
  // The tiles' programs, moved out (the tiles are left without; after the run and
  // command_times).
  std::vector<tile::Program> take_programs();
  // Runs until every tile has finished its program; returns the end time in ps.
  // Throws sim::SimulationError naming the blocked tiles on a deadlock.
  uint64_t run();
  // End-of-run derived statistics (bandwidths, utilisations, background energy).
  void publish(uint64_t end_ps);
  void command_times(std::vector<std::vector<uint64_t>>& start,
                     std::vector<std::vector<uint64_t>>& end) const;

  uint64_t tile_base(uint32_t t) const override { return map_.tile_base(t); }
  tile::Tile& tile(uint32_t t) { return *tiles_[t]; }
  memory::HbmStack& stack(uint32_t s) { return *stacks_[s]; }
  FunctionalMemory* data() { return data_.get(); }
  const AddressMap& address_map() const { return map_; }
  // system::next_chiplet on this machine.
  uint32_t next_chiplet(uint32_t from, uint32_t to, uint64_t addr) const {
    return system::next_chiplet(spec_, from, to, addr);
  }
  // The NoC nodes (of the package's first chiplet) where `package` reaches the fabric.
  const std::vector<uint32_t>& fabric_nodes(uint32_t package) const;
  // The NoC nodes of `chiplet` where its link to `neighbour` attaches (empty: none).
  const std::vector<uint32_t>& d2d_nodes(uint32_t chiplet, uint32_t neighbour) const;

 private:
  struct Chiplet;
  void monitor_thread();
  // sc_start() until the run ends; with opt_.progress, in slices with a progress line.
  void simulate();
  void print_progress(double wall_s) const;
  // Simulated time without progress after which the run is stopped as a deadlock.
  double watchdog_limit_us() const;
  std::string deadlock_report() const;

  SystemSpec spec_;
  const AddressMap& map_;
  sim::StatsRegistry& stats_;
  // Each chiplet's static power account (chiplet.static_w > 0), charged at publish.
  std::vector<sim::EnergyAccount*> die_static_;
  SystemOptions opt_;
  std::unique_ptr<FunctionalMemory> data_;
  std::vector<std::unique_ptr<Chiplet>> chiplets_;
  std::vector<std::unique_ptr<tile::Tile>> tiles_;
  std::vector<std::unique_ptr<memory::HbmStack>> stacks_;
  std::vector<std::unique_ptr<TlmMux>> stack_mux_;
  std::vector<std::unique_ptr<noc::D2dLink>> links_;
  std::unique_ptr<noc::SwitchFabric> fabric_;
  // Per link end (link l: 2l side A, 2l+1 side B), then per package's fabric port: the
  // mux joining its attach nodes at its in socket (what comes out leaves through the
  // link's or the fabric's out socket for each attach node, bound straight to it).
  std::vector<std::unique_ptr<TlmMux>> attach_mux_;
  uint64_t end_ps_ = 0;
  bool done_ = false;
  std::string failure_;
};

}  // namespace tessera::system
