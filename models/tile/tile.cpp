#include "models/tile/tile.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "models/sim/errors.h"

namespace tessera::tile {

Tile::Tile(sc_core::sc_module_name name, uint32_t global_id, uint64_t base, const TileConfig& cfg,
           const sim::StatsScope& stats, sim::EnergyLedger& energy, sim::Timeline& timeline,
           DataPlane* data, const TileDirectory* directory)
    : sc_module(name),
      target("target"),
      id_(global_id),
      base_(base),
      cfg_(cfg),
      clock_(sim::ClockDomain::from_mhz(stats.prefix() + ".clock", cfg.clock_mhz)),
      path_(stats.prefix()),
      timeline_(timeline),
      data_(data),
      directory_(directory),
      spm_(cfg.scratchpad, stats.child("scratchpad"), energy, stats.prefix() + ".scratchpad",
           data != nullptr),
      vector_(cfg.vector, stats.child("vector"), energy, stats.prefix() + ".vector"),
      semaphores_(kNumSemaphores, 0),
      gemm_cmds_(stats.counter("gemm_commands", "commands", "GEMM commands executed")),
      gemm_stall_(&stats.counter("gemm_spm_stall_cycles", "cycles",
                                 "cycles GEMMs were stretched by scratchpad bandwidth")) {
  gemm_ = compute::make_gemm_engine(cfg.array, stats.child("gemm"), energy, path_ + ".gemm");
  wide_read_ = &energy.account(path_ + ".gemm", "spad_read_wide", cfg.array.spad_read_pj_per_byte);
  dma_in_ =
      std::make_unique<DmaEngine>("dma_in", cfg.dma, clock_, stats.child("dma_in"), spm_, data);
  dma_out_ =
      std::make_unique<DmaEngine>("dma_out", cfg.dma, clock_, stats.child("dma_out"), spm_, data);
  target.register_b_transport(this, &Tile::b_transport);
  target.register_nb_transport_fw(this, &Tile::nb_transport_fw);
  queue_.resize(kNumUnits);
  current_.assign(kNumUnits, ~0u);
  for (int u = 0; u < kNumUnits; ++u) {
    const std::string unit = to_string(Unit(u));
    units_[u].tracks.push_back(timeline_.track(path_ + "." + unit));
    units_[u].lane_busy.push_back(0);
    units_[u].busy = std::make_unique<sim::BusyTime>(
        clock_, stats.counter("unit_busy_cycles." + unit, "cycles",
                              "cycles the " + unit + " unit ran commands"));
    sc_core::sc_spawn_options opt;
    sc_core::sc_spawn([this, u] { unit_thread(Unit(u)); }, ("unit_" + unit).c_str(), &opt);
  }
}

uint64_t Tile::progress() const {
  return completed_ + dma_in_->bursts_issued() + dma_out_->bursts_issued();
}

void Tile::load_program(Program p) {
  validate_program(p, path_, spm_.size_bytes());
  program_ = std::move(p);
  for (auto& q : queue_) q.clear();
  for (const Command& c : program_) queue_[int(unit_of(c.kind))].push_back(c.id);
  done_.assign(program_.size(), 0);
  start_ps_.assign(program_.size(), 0);
  end_ps_.assign(program_.size(), 0);
  completed_ = 0;
}

void Tile::unit_thread(Unit u) {
  // Wait for the program to be loaded (it is, before sc_start), then run the queue.
  for (uint32_t id : queue_[int(u)]) {
    const Command& c = program_[id];
    current_[int(u)] = id;
    for (;;) {
      bool ready = true;
      for (uint32_t d : c.deps) ready = ready && done_[d];
      if (ready) break;
      wait(any_done_);
    }
    const uint64_t start = sc_core::sc_time_stamp().value();
    start_ps_[id] = start;
    const uint32_t lane = begin_command(u);
    if (cfg_.dma.overlap_descriptors &&
        (c.kind == CmdKind::kDmaLoad || c.kind == CmdKind::kDmaStore)) {
      // A descriptor queue: the unit moves on once the bursts are issued; the command
      // is done when its last burst completes.
      DmaEngine& dma = c.kind == CmdKind::kDmaLoad ? *dma_in_ : *dma_out_;
      dma.submit(c.dma, c.kind == CmdKind::kDmaStore,
                 [this, u, id, lane] { finish_command(u, id, lane); });
      continue;
    }
    execute(c);
    finish_command(u, id, lane);
  }
  current_[int(u)] = ~0u;
}

uint32_t Tile::begin_command(Unit u) {
  UnitState& us = units_[int(u)];
  us.busy->begin(sim::Picoseconds::from_sc(sc_core::sc_time_stamp()));
  // The lowest timeline lane with no command running (overlapping DMA descriptors get
  // lanes of their own, so that no two slices of a track overlap).
  uint32_t lane = 0;
  while (lane < us.lane_busy.size() && us.lane_busy[lane]) ++lane;
  if (lane == us.lane_busy.size()) {
    us.lane_busy.push_back(0);
    const std::string unit = to_string(u);
    us.tracks.push_back(timeline_.track(path_ + "." + unit +
                                        (lane ? "#" + std::to_string(lane + 1) : std::string())));
  }
  us.lane_busy[lane] = 1;
  return lane;
}

void Tile::finish_command(Unit u, uint32_t id, uint32_t lane) {
  const Command& c = program_[id];
  UnitState& us = units_[int(u)];
  const uint64_t start = start_ps_[id];
  const uint64_t end = sc_core::sc_time_stamp().value();
  end_ps_[id] = end;
  us.busy->end(sim::Picoseconds(end));
  us.lane_busy[lane] = 0;
  timeline_.record(us.tracks[lane], c.label.empty() ? to_string(c.kind) : c.label, start, end,
                   to_string(c.kind));
  done_[id] = 1;
  ++completed_;
  any_done_.notify(sc_core::SC_ZERO_TIME);
  if (completed_ == program_.size()) finished_ev_.notify(sc_core::SC_ZERO_TIME);
}

void Tile::execute(const Command& c) {
  switch (c.kind) {
    case CmdKind::kDmaLoad:
      dma_in_->transfer(c.dma, false);
      break;
    case CmdKind::kDmaStore:
      dma_out_->transfer(c.dma, true);
      break;
    case CmdKind::kSend:
      dma_out_->transfer(c.dma, true);
      signal_remote(c.sync.tile, c.sync.semaphore, c.sync.count);
      break;
    case CmdKind::kSignal:
      signal_remote(c.sync.tile, c.sync.semaphore, c.sync.count);
      break;
    case CmdKind::kReduce: {
      auto g = std::make_shared<noc::ReduceGroup>();
      g->id = c.reduce.id;
      g->contributors = c.reduce.contributors;
      g->bytes = c.dma.bytes();
      g->results = c.reduce.results;
      for (uint32_t t : c.reduce.notify)
        g->semaphores.push_back(semaphore_addr(t, c.reduce.semaphore));
      noc::ReduceExtension e;
      e.group = std::move(g);
      dma_out_->transfer(c.dma, true, &e);
      break;
    }
    case CmdKind::kWait: {
      if (c.sync.semaphore >= kNumSemaphores)
        throw sim::UserError(path_ + ": semaphore " + std::to_string(c.sync.semaphore) +
                             " out of range");
      uint32_t& s = semaphores_[c.sync.semaphore];
      while (s < c.sync.count) wait(semaphore_ev_);
      s -= c.sync.count;
      break;
    }
    case CmdKind::kGemm:
      execute_gemm(c);
      break;
    case CmdKind::kVector: {
      // Its scratchpad ranges were checked when the program was loaded.
      const VectorTiming t = vector_.execute(c.vec, spm_);
      wait(clock_.duration(sim::Cycles(t.cycles)));
      break;
    }
  }
}

void Tile::execute_gemm(const Command& c) {
  const GemmDesc& g = c.gemm;
  // Its operands' scratchpad ranges were checked when the program was loaded.
  compute::GemmJob job;
  job.m = g.m;
  job.n = g.n;
  job.k = g.k;
  std::vector<int32_t> partial;
  if (spm_.functional()) {
    job.a = reinterpret_cast<const int8_t*>(spm_.data(g.a_addr));
    job.b = reinterpret_cast<const int8_t*>(spm_.data(g.b_addr));
    int32_t* c = reinterpret_cast<int32_t*>(spm_.data(g.c_addr));
    if (g.accumulate) {
      partial.assign(size_t(g.m) * g.n, 0);
      job.c = partial.data();
    } else {
      job.c = c;
    }
  }
  const compute::GemmTiming t = gemm_->run(job);
  if (!partial.empty()) {
    // K split over commands: the array's output is added to the resident partial sums,
    // wrapping as the array's own folds do.
    int32_t* c = reinterpret_cast<int32_t*>(spm_.data(g.c_addr));
    for (size_t i = 0; i < partial.size(); ++i) c[i] = compute::accumulate_int32(c[i], partial[i]);
  }
  ++gemm_cmds_;
  // Operand traffic through the scratchpad. The engine counts int8 elements as bytes
  // and charges their energy itself; a wider dtype moves operand_bytes per element, and
  // the tile charges the extra bytes (and C's accumulation reads) here.
  // Those bytes are charged at the array's operand-read rate, as the engine charges the
  // first byte of each element (until the tenth session at the scratchpad's DMA rate,
  // about a tenth of it).
  const uint64_t acc = g.accumulate ? uint64_t(g.m) * g.n * 4 : 0;
  const uint64_t wide = g.operand_bytes - 1;
  spm_.record_read(SpmClient::kIfmap, t.reads.ifmap * g.operand_bytes, 0);
  spm_.record_read(SpmClient::kWeight, t.reads.weight * g.operand_bytes, 0);
  spm_.record_read(SpmClient::kPsum, t.reads.psum + acc, 0);
  wide_read_->charge((t.reads.ifmap + t.reads.weight) * wide + acc);
  spm_.record_write(SpmClient::kPsum, t.writes.psum + t.writes.ofmap, 0);
  // The scratchpad must also supply those bytes: a GEMM is stretched when its operand
  // traffic exceeds the scratchpad's bandwidth over the array's cycles.
  const uint64_t sram_bytes = (t.reads.ifmap + t.reads.weight) * g.operand_bytes + t.reads.psum +
                              acc + t.writes.psum + t.writes.ofmap;
  const uint64_t cycles = std::max<uint64_t>(t.cycles, spm_.stream_cycles(sram_bytes));
  *gemm_stall_ += cycles - t.cycles;
  wait(clock_.duration(sim::Cycles(cycles)));
}

uint64_t Tile::semaphore_addr(uint32_t tile, uint32_t semaphore) const {
  if (!directory_)
    throw sim::UserError(path_ + ": another tile's semaphore without a tile directory");
  return directory_->tile_base(tile) + spm_.size_bytes() + 4ull * semaphore;
}

void Tile::signal_remote(uint32_t tile, uint32_t semaphore, uint32_t count) {
  dma_out_->write_word(semaphore_addr(tile, semaphore), count);
}

sc_core::sc_time Tile::remote_access(tlm::tlm_generic_payload& p) {
  const uint64_t off = p.get_address() - base_;
  const uint64_t len = p.get_data_length();
  if (off >= spm_.size_bytes()) {
    // Semaphore region: a 4-byte write adds its value.
    const uint64_t idx = (off - spm_.size_bytes()) / 4;
    if (idx >= kNumSemaphores || len != 4 || p.get_command() != tlm::TLM_WRITE_COMMAND) {
      p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
      return sc_core::SC_ZERO_TIME;
    }
    uint32_t v = 0;
    std::memcpy(&v, p.get_data_ptr(), 4);
    semaphores_[idx] += v;
    semaphore_ev_.notify(sc_core::SC_ZERO_TIME);
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    return clock_.duration(sim::Cycles(1));
  }
  if (off + len > spm_.size_bytes()) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return sc_core::SC_ZERO_TIME;
  }
  if (p.get_command() == tlm::TLM_WRITE_COMMAND) {
    // A masked write (a store widened to whole units) writes its enabled bytes only.
    const unsigned char* be = p.get_byte_enable_ptr();
    const uint64_t written =
        be ? uint64_t(std::count(be, be + p.get_byte_enable_length(), TLM_BYTE_ENABLED)) : len;
    spm_.record_write(SpmClient::kRemote, written);
  } else
    spm_.record_read(SpmClient::kRemote, len);
  p.set_response_status(tlm::TLM_OK_RESPONSE);
  // One cycle of SRAM access plus the beats of the transfer.
  return clock_.duration(sim::Cycles(1 + spm_.stream_cycles(len)));
}

void Tile::b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& t) {
  t += remote_access(p);
}

tlm::tlm_sync_enum Tile::nb_transport_fw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                         sc_core::sc_time& t) {
  if (ph != tlm::BEGIN_REQ) return tlm::TLM_COMPLETED;  // END_RESP
  t += remote_access(p);
  ph = tlm::BEGIN_RESP;
  return tlm::TLM_COMPLETED;
}

std::string Tile::blocked_report() const {
  std::ostringstream os;
  os << path_ << ": " << completed_ << "/" << program_.size() << " commands done";
  for (int u = 0; u < kNumUnits; ++u) {
    if (current_[u] == ~0u) continue;
    const Command& c = program_[current_[u]];
    os << "; " << to_string(Unit(u)) << " at #" << c.id << " " << to_string(c.kind) << " '"
       << c.label << "'";
    if (c.kind == CmdKind::kWait)
      os << " (semaphore " << c.sync.semaphore << " = " << semaphores_[c.sync.semaphore]
         << ", needs " << c.sync.count << ")";
  }
  return os.str();
}

}  // namespace tessera::tile
