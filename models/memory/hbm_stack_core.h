// The plain-C++ core of an HBM stack: address mapper + one controller per channel +
// transaction splitting and completion. Driven by clock numbers (cycles of the
// stack's command clock), without SystemC, so benchmarks and unit tests can run it
// directly; HbmStack wraps it in a TLM-2.0 target.
//
// Use: while can_submit(), submit(); then advance(next_event()) and take the
// completions; repeat. Time never goes backwards.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "models/memory/hbm_address_mapper.h"
#include "models/memory/hbm_config.h"
#include "models/memory/hbm_controller.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/latency_log.h"
#include "models/sim/slot_table.h"
#include "models/sim/stats_registry.h"

namespace tessera::memory {

struct HbmCompletion {
  uint64_t tag;      // the submitter's tag
  uint64_t arrival;  // clock of submit()
  uint64_t finish;   // clock of the last data beat
  bool write;
};

class HbmStackCore : public HbmAccessSink {
 public:
  // Stats go under `scope` (scope.ch<N>.* per channel); energy accounts under the
  // scope's prefix. Throws sim::UserError for a config the mapper cannot use.
  HbmStackCore(const HbmConfig& cfg, const sim::StatsScope& scope, sim::EnergyLedger& energy);
  ~HbmStackCore() override;

  const HbmConfig& config() const { return cfg_; }
  uint64_t capacity_bytes() const { return capacity_; }
  double peak_gbps() const { return cfg_.peak_gbps(); }
  uint32_t access_bytes() const { return access_bytes_; }
  const HbmAddressMapper& mapper() const { return mapper_; }

  // A new transaction can be taken (the front-end transaction queue has room).
  bool can_submit() const { return staging_.size() < staging_cap_; }
  // Why a request is invalid, or empty when it is fine (address relative to the stack).
  std::string check_request(uint64_t addr, uint64_t bytes) const;
  // Takes a read or write of `bytes` (a multiple of the access granularity) at `addr`
  // (relative to the stack) at clock `now`; throws sim::UserError when invalid.
  void submit(uint64_t addr, uint64_t bytes, bool write, uint64_t tag, uint64_t now);

  // The next clock at which anything happens (kNever when idle).
  uint64_t next_event() const;
  // Runs every event up to and including clock `until`.
  void advance(uint64_t until);
  uint64_t now() const { return now_; }
  // Completed transactions since the last call (in completion order).
  std::vector<HbmCompletion>& completions() { return done_; }
  size_t in_flight() const { return live_; }

  // End-of-run derived stats (bandwidth, latency in ns, hit rates, background energy)
  // for a run of `cycles` clocks.
  void publish(uint64_t cycles);
  // Brings the channels' event counters and energy accounts up to date without the
  // end-of-run work (publish does this too).
  void flush_stats() {
    for (auto& c : channels_) c->flush_stats();
  }

 private:
  struct Txn {
    uint64_t tag = 0;
    uint64_t arrival = 0;
    uint64_t finish = 0;
    uint64_t bytes = 0;
    uint32_t parts_left = 0;
    bool write = false;
    bool staged = false;  // every part is in a queue
  };
  struct Staging {
    uint32_t txn;
    uint64_t addr;
    uint64_t left;         // bytes not yet queued
    HbmLocation loc;       // decoded `addr`, valid when `decoded`
    bool decoded = false;  // a blocked access is decoded once, not at every pump
  };
  void access_done(uint32_t txn, uint64_t finish_cycle, uint32_t pc) override;
  // A pump can only move a staged transaction on when a pseudo-channel that one of them
  // waits on (marked in pc_blocked_) gets a slot; other slots wake nothing.
  void slot_freed(uint32_t pc) override { pump_dirty_ |= pc_blocked_[pc] != 0; }
  void pump(uint64_t now);
  bool pump_one(Staging& s, uint64_t now);
  void retire_if_done(uint32_t id);
  // Channel c's stored addresses: [0] its controller, [1 + k] pseudo-channel k's state.
  const char* const* ahead(uint32_t c) const { return &ahead_[size_t(c) * (1 + pcs_per_channel_)]; }
  // Asks for a channel's controller line and its pseudo-channels' first two lines.
  void prefetch_channel(uint32_t c) const {
    const char* const* a = ahead(c);
    __builtin_prefetch(a[0]);
    for (uint32_t k = 1; k <= pcs_per_channel_; ++k) {
      __builtin_prefetch(a[k]);
      __builtin_prefetch(a[k] + 64);
    }
  }

  HbmConfig cfg_;
  HbmAddressMapper mapper_;
  uint64_t capacity_;
  uint32_t access_bytes_;
  uint32_t bgs_per_sid_;
  uint32_t banks_per_group_;
  HbmController::Params params_;                // shared by the channels
  static constexpr uint32_t kMaxChannels = 64;  // the config's bound (org.channels)
  std::vector<std::unique_ptr<HbmController>> channels_;
  // Each channel's next_wake(), refreshed after every enqueue and step: the event loop
  // reads one flat array instead of every controller.
  std::vector<uint64_t> wake_;
  // Per channel, the controller object and its pseudo-channels' states, for prefetching
  // a due channel's lines one channel ahead without a dependent load.
  std::vector<const char*> ahead_;
  uint64_t min_wake_ = kNever;  // the least of wake_
  sim::SlotTable<Txn> txns_;
  std::vector<Staging> staging_;  // front-end queue, in arrival order
  size_t staging_cap_;
  bool pump_dirty_ = false;
  // Per (channel, pc): a staged transaction waits on it (set by pump_one, cleared at
  // each pump).
  std::vector<uint8_t> pc_blocked_;
  uint32_t pcs_per_channel_;
  bool posted_writes_ = true;
  using Pending = std::pair<uint64_t, uint32_t>;  // (finish, txn)
  std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> finishing_;
  std::vector<HbmCompletion> done_;
  uint64_t now_ = 0;
  size_t live_ = 0;
  sim::LatencyLog<8192> latency_;  // read latencies, flushed at publish

  sim::Counter& reads_;
  sim::Counter& writes_;
  sim::Counter& bytes_read_;
  sim::Counter& bytes_written_;
  sim::Histogram& read_latency_;
  sim::Scalar& bandwidth_;
  sim::Scalar& peak_;
  sim::Scalar& lat_avg_ns_;
  sim::Scalar& lat_p50_ns_;
  sim::Scalar& lat_p99_ns_;
  sim::Scalar& hit_rate_;
};

}  // namespace tessera::memory
