// A compute tile: systolic GEMM engine, vector unit, banked scratchpad, two DMA
// engines (loads and stores) and the controller that runs the tile's program.
//
// The controller keeps one in-order queue per unit (dma_in, dma_out, gemm, vector,
// sync). A unit starts its next command when that command's dependencies have
// finished, so independent work on different units overlaps, as on hardware with
// per-engine command queues and semaphores.
//
// Address space of a tile (global addresses from the system's address map):
//   [base, base + scratchpad)           the scratchpad, reachable by other tiles
//   [base + scratchpad, + 4 KiB)        semaphores, 4 bytes each; a write adds to one
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include "models/compute/gemm_engine_if.h"
#include "models/sim/busy_time.h"
#include "models/sim/clock_domain.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "models/sim/timeline.h"
#include "models/tile/data_plane.h"
#include "models/tile/dma_engine.h"
#include "models/tile/program.h"
#include "models/tile/scratchpad.h"
#include "models/tile/tile_config.h"
#include "models/tile/vector_unit.h"

namespace tessera::tile {

// Global addresses of other tiles, for send/signal (given by the system).
class TileDirectory {
 public:
  virtual ~TileDirectory() = default;
  virtual uint64_t tile_base(uint32_t global_tile) const = 0;
};

class Tile : public sc_core::sc_module {
 public:
  // Remote accesses to this tile's scratchpad and semaphores (from the NoC).
  tlm_utils::simple_target_socket<Tile> target;

  Tile(sc_core::sc_module_name name, uint32_t global_id, uint64_t base, const TileConfig& cfg,
       const sim::StatsScope& stats, sim::EnergyLedger& energy, sim::Timeline& timeline,
       DataPlane* data, const TileDirectory* directory);

  DmaEngine& dma_in() { return *dma_in_; }
  DmaEngine& dma_out() { return *dma_out_; }
  Scratchpad& scratchpad() { return spm_; }
  const sim::ClockDomain& clock() const { return clock_; }
  uint32_t id() const { return id_; }
  uint64_t base() const { return base_; }
  uint64_t address_span() const { return spm_.size_bytes() + kSemaphoreBytes; }

  // Loads the program (before simulation starts). Validates it.
  void load_program(Program p);
  bool finished() const { return completed_ == program_.size(); }
  // Commands loaded (still known after take_program, as are their times).
  size_t commands() const { return start_ps_.size(); }
  size_t completed() const { return completed_; }
  // Moves forward while the tile makes progress: commands finished and memory requests
  // issued (a DMA issues one only when an earlier one has left a slot free).
  uint64_t progress() const;
  // Picosecond start and end of each command (valid once finished).
  uint64_t start_ps(uint32_t cmd) const { return start_ps_[cmd]; }
  uint64_t end_ps(uint32_t cmd) const { return end_ps_[cmd]; }
  const Program& program() const { return program_; }
  // Moves the program out (after the run): the tile is left with none.
  Program take_program() { return std::move(program_); }
  // Summary of a stuck tile for deadlock reports.
  std::string blocked_report() const;
  sc_core::sc_event& finished_event() { return finished_ev_; }

 private:
  void unit_thread(Unit u);
  // Bookkeeping around a command: busy time, timeline lane, completion.
  uint32_t begin_command(Unit u);
  void finish_command(Unit u, uint32_t id, uint32_t lane);
  void execute(const Command& c);
  void execute_gemm(const Command& c);
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& t);
  tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                     sc_core::sc_time& t);
  sc_core::sc_time remote_access(tlm::tlm_generic_payload& p);
  void signal_remote(uint32_t tile, uint32_t semaphore, uint32_t count);
  // Global address of another tile's semaphore (a 4-byte add there signals it).
  uint64_t semaphore_addr(uint32_t tile, uint32_t semaphore) const;

  uint32_t id_;
  uint64_t base_;
  TileConfig cfg_;
  sim::ClockDomain clock_;
  std::string path_;
  sim::Timeline& timeline_;
  DataPlane* data_;
  const TileDirectory* directory_;
  Scratchpad spm_;
  VectorUnit vector_;
  std::unique_ptr<compute::GemmEngineIf> gemm_;
  sim::EnergyAccount* wide_read_ = nullptr;  // operand bytes beyond the first (array rate)
  std::unique_ptr<DmaEngine> dma_in_;
  std::unique_ptr<DmaEngine> dma_out_;

  Program program_;
  std::vector<std::vector<uint32_t>> queue_;  // per unit, command ids in program order
  std::vector<uint8_t> done_;
  std::vector<uint64_t> start_ps_, end_ps_;
  std::vector<uint32_t> current_;  // per unit: command being run or waited on (or ~0)
  size_t completed_ = 0;
  sc_core::sc_event any_done_;
  sc_core::sc_event finished_ev_;
  std::vector<uint32_t> semaphores_;
  sc_core::sc_event semaphore_ev_;
  struct UnitState {
    std::unique_ptr<sim::BusyTime> busy;  // the union of the unit's command intervals
    std::vector<uint8_t> lane_busy;
    std::vector<uint32_t> tracks;  // timeline track per lane
  };
  UnitState units_[kNumUnits];
  sim::Counter& gemm_cmds_;
  sim::Counter* gemm_stall_;
  uint32_t signal_word_ = 0;
};

}  // namespace tessera::tile
