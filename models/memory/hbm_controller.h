// The memory controller of one HBM channel: per pseudo-channel read and write queues,
// FR-FCFS scheduling with a starvation cap, write draining by watermarks, open- or
// closed-page policy, per-bank or all-bank refresh, and every command-to-command
// constraint of the timing table. The two pseudo-channels share the channel's row and
// column command buses (one command each per clock; an ACT holds the row bus for
// act_bus_cycles); each pseudo-channel has its own data bus.
//
// Plain C++, event-driven: step(now) issues what is legal at `now` and computes the
// exact next clock at which anything can issue (from the bank, group, pseudo-channel
// and bus timing state), so neither an idle nor a waiting channel costs anything.
// Queues are fixed pools of entries linked twice: in arrival order (FCFS, starvation,
// write drain) and per bank (FR-FCFS looks only at banks that have work, and at the
// oldest hit / oldest entry of each); nothing allocates on the hot path.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "models/memory/hbm_config.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/latency_log.h"
#include "models/sim/stats_registry.h"

namespace tessera::memory {

inline constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

// Column accesses (bursts) waiting in a controller queue: `count` consecutive accesses
// of one transaction to one row, queued together (each still takes its own queue slot
// and its own column command). They would be adjacent in both of the queue's orders
// and each would become the bank's oldest hit as the one before it issues, so one
// entry stands for all of them: the schedule is the same, with fewer entries to link.
struct HbmAccess {
  uint64_t arrival = 0;  // clock at which its transaction arrived
  uint32_t txn = 0;      // the transaction it belongs to (owned by the stack core)
  uint32_t row = 0;
  uint16_t bank = 0;   // flat bank index within the pseudo-channel
  uint16_t group = 0;  // flat bank-group index within the pseudo-channel (SID-major)
  bool write = false;
  bool posted = false;  // already acknowledged when queued: no access_done
  uint8_t kind = 0;     // 0: row hit, 1: miss (bank was closed), 2: conflict (another row open)
  uint8_t count = 1;    // accesses left (1 to 255)
};

// Told when an access's data has fully moved (its last beat). `pc` is the flat index
// of the pseudo-channel whose queue slot the access freed (channel * pseudo-channels
// + pseudo-channel), so that the sink knows which waiting requests may move in.
class HbmAccessSink {
 public:
  virtual ~HbmAccessSink() = default;
  virtual void access_done(uint32_t txn, uint64_t finish_cycle, uint32_t pc) = 0;
  // A queue slot was freed by an access that needs no access_done (a posted write):
  // requests waiting for queue space may move in.
  virtual void slot_freed(uint32_t pc) = 0;
};

class HbmController {
 public:
  // The configuration the scheduler reads on every step, derived from the config once
  // and shared by all controllers of a stack (one copy stays in cache instead of one
  // per channel).
  struct Params {
    explicit Params(const HbmConfig& cfg);
    HbmTiming t;
    uint32_t tBL;
    uint32_t rq_cap, wq_cap;
    uint32_t wq_hi, wq_lo;  // a drain starts at wq_hi writes, ends below wq_lo
    uint32_t starvation;
    uint32_t access_bytes;
    uint32_t banks_per_group;
    uint32_t groups_per_sid;
    uint32_t groups;        // bank groups per pseudo-channel (all SIDs)
    bool sid_gap;           // reads to another SID wait longer than tCCD_S (tCCDR)
    uint32_t nb;            // banks per pseudo-channel
    uint8_t sid_first[64];  // per bank group: the first group of its SID
    bool fcfs;
    bool closed_page;
    int refresh_mode;  // 0 none, 1 all-bank, 2 per-bank
    uint64_t ref_interval;
  };

  HbmController(const HbmController&) = delete;  // its pseudo-channels point into pools_
  HbmController& operator=(const HbmController&) = delete;
  // `params` (made from `cfg`) must outlive the controller.
  HbmController(const HbmConfig& cfg, const Params& params, uint32_t channel,
                const sim::StatsScope& scope, sim::EnergyLedger& energy, HbmAccessSink& sink);

  // Room for `n` more accesses in a pseudo-channel's read or write queue.
  bool can_accept(uint32_t pc, bool write, uint32_t n = 1) const { return room(pc, write) >= n; }
  // Free slots of a pseudo-channel's read or write queue.
  uint32_t room(uint32_t pc, bool write) const {
    return (write ? P_.wq_cap : P_.rq_cap) - pcs_[pc].q[write].size;
  }
  // Queues a.count accesses at clock `now` (the caller checked can_accept).
  void enqueue(uint32_t pc, const HbmAccess& a, uint64_t now);
  // Issues what is legal at clock `now` (now >= every earlier call's now).
  void step(uint64_t now);
  // The next clock at which step() has something to do (kNever: idle).
  uint64_t next_wake() const { return wake_; }
  // Where a pseudo-channel's scheduling state starts (fixed for the controller's life):
  // the stack core asks for those lines without reading the controller first.
  const void* pc_state(uint32_t pc) const { return &pcs_[pc]; }
  // Accounts the refreshes an idle channel performed up to `now` (end of run).
  void settle(uint64_t now);
  // Writes derived stats (bandwidth, hit rate, latency in ns) for `cycles` of run time.
  void publish(uint64_t cycles, double tck_ps);
  uint64_t row_hit_count() const { return row_hits_.value() + n_.kind[0]; }
  uint64_t access_count() const { return reads_.value() + writes_.value() + n_.reads + n_.writes; }
  // Adds the events counted since the last call to the registry's counters and the
  // energy ledger (publish does this too).
  void flush_stats();

 private:
  // Banks (at most 64 per pseudo-channel, the width of the bank masks) and bank groups
  // are kept inside the pseudo-channel: a bank's whole state (timing and its entries in
  // both queues) in half a cache line, each bank-group field as one array, so a scan over
  // the candidate banks touches half a line per bank (the whole-machine run is bound by
  // cache misses here).
  static constexpr uint32_t kMaxBanks = 64;
  // Queued accesses in a pool; linked in arrival order and in its bank's list.
  struct Entry {
    HbmAccess a;
    uint64_t seq = 0;  // arrival order within the pseudo-channel
    int32_t prev = -1, next = -1, bprev = -1, bnext = -1;
  };
  struct Queue {
    uint32_t size = 0;       // accesses (an entry counts a.count)
    int32_t head = -1;       // oldest entry (its tail is Pc::tail)
    uint64_t bank_mask = 0;  // banks with at least one entry
    uint64_t hit_mask = 0;   // banks with an entry to their open row (hit >= 0)
  };
  // One bank: everything the scheduler reads of it in half a cache line. Its clocks are
  // kept in 32 bits, relative to the pseudo-channel's `base` (see Pc::rel). Per queue (0:
  // reads, 1: writes), in arrival order: the first entry of the bank's list, and the
  // oldest entry to the bank's open row (-1: none, or bank closed); the lists' last
  // entries, needed only to queue, lie elsewhere (Pc::bank_tail).
  struct alignas(32) BankState {
    uint32_t act, pre, rd, wr;  // earliest ACT, PRE, RD, WR, relative to Pc::base
    int32_t open_row;           // -1: closed
    int16_t head[2], hit[2];    // pool entries (pools hold at most 8192)
    uint8_t group;              // its bank group
  };
  static_assert(sizeof(BankState) == 32, "two banks a cache line");
  static_assert(sizeof(Queue) == 24,
                "both queues, the refresh due time and the flags share a line");
  // Laid out by use: a step's refresh and drain decisions and a scan's candidate
  // masks in the first cache line, the command clocks and the pool in the second, the
  // rest (written on enqueue and issue) after them.
  struct alignas(64) Pc {
    Queue q[2];  // 0: reads, 1: writes
    uint64_t ref_due = 0;
    bool write_mode = false;
    bool ref_pending = false;
    uint32_t ref_bank = 0;
    uint64_t act_ready = 0, rd_ready = 0, wr_ready = 0, data_free = 0;
    uint64_t pre_ready = 0;  // earliest PRE (tPPD after the last)
    // The clock the banks' clocks count from (see rel).
    uint64_t base = 0;
    Entry* pool = nullptr;       // rq_cap + wq_cap entries, in HbmController::pools_
    int32_t tail[2] = {-1, -1};  // newest entry of each queue
    int32_t free_head = -1;      // free entries, linked through Entry::next
    uint16_t faw_head = 0;
    uint16_t faw_count = 0;  // ACTs in faw[], at most 4
    uint64_t faw[4] = {0, 0, 0, 0};
    uint64_t seq = 0;
    uint64_t ref_done = 0;     // per-bank: banks refreshed in the current round (bit mask)
    uint64_t refpb_ready = 0;  // earliest REFpb (tACT2PBR after an ACT, tPBR2PBR after one)
    // A pending REFpb whose bank is closed: the clock it can issue (else kNever). ACTs
    // of other banks that would push it later (tACT2PBR) wait for it, as a controller
    // gives a due refresh priority; otherwise a stream of ACTs could hold it off.
    uint64_t ref_at = kNever;
    // Standby power: open banks, the latest close so far (an auto-precharge may lie
    // ahead; with no bank open, precharged standby runs from it), and the clocks spent so
    // before the last bank opened.
    uint32_t open_banks = 0;
    uint64_t last_close = 0, closed_cycles = 0;
    alignas(64) BankState bank[kMaxBanks];  // from the fifth cache line on
    int32_t bank_tail[2][kMaxBanks];        // per queue and bank: the newest entry (-1: none)
    // Per bank group.
    uint64_t g_act[kMaxBanks], g_rd[kMaxBanks], g_wr[kMaxBanks];
    // A bank clock at or after `base` (and less than 2^32 clocks after it) in the banks'
    // 32-bit form, and back. Half the bytes per bank keep twice the banks in cache; the
    // controller moves `base` up (rebase) before a clock could leave the range.
    uint32_t rel(uint64_t t) const { return uint32_t(t - base); }
    uint64_t abs(uint32_t r) const { return base + r; }
    void set_hit(bool write, uint32_t b, int32_t e) {
      bank[b].hit[write] = int16_t(e);
      const uint64_t bit = uint64_t(1) << b;
      q[write].hit_mask = e >= 0 ? q[write].hit_mask | bit : q[write].hit_mask & ~bit;
    }
  };

  static_assert(offsetof(Pc, pool) + sizeof(Entry*) <= 128,
                "a scan's and a step's fields fill two lines");
  // Bank clocks stay within kRebaseSpan of `base` where they are used, so that a clock a
  // command sets (at most a few million clocks ahead: each timing is at most 10^6) fits
  // in 32 bits.
  static constexpr uint64_t kRebaseSpan = uint64_t(1) << 31;
  // Moves `base` to kRebaseSpan / 2 before `t` when `t` is kRebaseSpan or more past it.
  // Clocks before the new base become the base: every later use compares them with, or
  // raises them to, a clock at or after the new base (the idle replay, catch_up_refresh,
  // looks at the banks from the refresh due on, which lies after it), where the two
  // are alike.
  void rebase(Pc& p, uint64_t t) const {
    assert(t >= p.base);
    if (t - p.base >= kRebaseSpan) rebase_slow(p, t);
  }
  void rebase_slow(Pc& p, uint64_t t) const;
  static_assert(offsetof(Pc, bank) == 256, "the banks start on the fifth line");
  // Bank-state changes for standby power: a bank opens at `t`; `n` banks closed, the
  // last at `t`. With every bank closed, the pseudo-channel is in precharged standby from
  // the latest close (a closed page's auto-precharge lies ahead of its command, so a
  // later command's may close earlier).
  static void bank_opened(Pc& p, uint64_t t) {
    if (p.open_banks++ == 0 && t > p.last_close) p.closed_cycles += t - p.last_close;
  }
  static void banks_closed(Pc& p, uint32_t n, uint64_t t) {
    p.open_banks -= n;
    p.last_close = std::max(p.last_close, t);
  }
  struct Picks {
    int32_t col = -1, row = -1;
    bool row_is_act = false;
    // What a picking scan saw of the row candidates: their banks and, when it picked
    // none of them, the earliest clock among them (kNever: none).
    uint64_t row_banks = 0;
    uint64_t row_first = kNever;
  };
  // Issues what is legal at `now`; returns the pseudo-channel's next wake.
  uint64_t schedule(Pc& p, uint64_t now);
  // Picks what can issue at `now` (when `pick`) and returns the earliest later clock at
  // which a candidate that was not picked can issue (kNever: none).
  uint64_t scan(Pc& p, bool write, uint64_t now, bool pick, Picks& out);
  // kReuse: the wake after a step that issued only a column command, given that step's
  // picking scan in `out`. A column command moves no row candidate's clock (row bus,
  // ACT and PRE clocks, refresh), so the row candidates the picking scan saw keep its
  // earliest clock; only banks that became row candidates since (the commanded bank, a
  // new starving head's) are read. Exactly the full scan's result.
  template <bool kPick, bool kWrite, bool kReuse = false>
  uint64_t scan_t(Pc& p, uint64_t now, Picks& out);
  static bool next_write_mode(const Pc& p, bool mode, uint32_t hi, uint32_t lo);
  void unlink(Pc& p, bool write, int32_t e);
  uint64_t refresh_work(Pc& p, uint64_t now, bool& row_used);
  void catch_up_refresh(Pc& p, uint64_t now);
  void do_refresh_at(Pc& p, uint64_t t, bool all_bank, uint32_t bank);
  void issue_act(Pc& p, HbmAccess& a, uint64_t now);
  void issue_pre(Pc& p, uint32_t bank, uint64_t now);
  void issue_column(Pc& p, bool write, int32_t e, uint64_t now);
  void find_hits(Pc& p, uint32_t bank);
  static void clear_hits(Pc& p, uint32_t bank) {
    p.set_hit(false, bank, -1);
    p.set_hit(true, bank, -1);
  }
  uint32_t pick_refresh_bank(const Pc& p) const;
  void finish_bank_refresh(Pc& p);
  uint64_t faw_ready(const Pc& p) const {
    return p.faw_count >= 4 ? p.faw[p.faw_head] + P_.t.tFAW : 0;
  }
  // The pseudo-channel and bus terms of a column command's (ACT's) earliest clock.
  uint64_t col_ready(const Pc& p, bool write) const {
    const uint64_t data = p.data_free > (write ? P_.t.tWL : P_.t.tCL)
                              ? p.data_free - (write ? P_.t.tWL : P_.t.tCL)
                              : 0;  // the data bus frees in time for this burst
    return std::max({write ? p.wr_ready : p.rd_ready, data, col_bus_free_});
  }
  uint64_t act_ready(const Pc& p) const {
    return std::max({p.act_ready, faw_ready(p), row_bus_free_});
  }

  // What step() and scan() read first, together at the start of the object.
  std::vector<Pc> pcs_;
  std::vector<Entry> pools_;  // the pseudo-channels' entry pools, one after another
  // Per pseudo-channel next wake (at most 4, see the config), inline beside pcs_ and
  // apart from the large Pc, so that a step touches only the pseudo-channels that are
  // due (the whole-machine run is bound by cache misses here).
  uint64_t pc_wake_[4] = {kNever, kNever, kNever, kNever};
  uint64_t row_bus_free_ = 0;
  uint64_t col_bus_free_ = 0;
  uint64_t wake_ = kNever;
  const Params& P_;
  HbmAccessSink& sink_;
  uint32_t first_pc_;  // flat index of this channel's first pseudo-channel (for the sink)
  // Event counts on the hot path, beside the scheduling state (the registry's counters
  // and energy accounts lie elsewhere, a cache line each); flush_stats() adds them.
  struct Counts {
    uint64_t reads = 0, writes = 0;  // RD and WR commands (one per access)
    uint64_t kind[3] = {0, 0, 0};    // row hits, misses, conflicts
    uint64_t act = 0, pre = 0, ref = 0, refpb = 0;
  };
  Counts n_;

  // Stats handles.
  sim::Counter& reads_;
  sim::Counter& writes_;
  sim::Counter& bytes_read_;
  sim::Counter& bytes_written_;
  sim::Counter& row_hits_;
  sim::Counter& row_misses_;
  sim::Counter& row_conflicts_;
  sim::Counter& cmd_act_;
  sim::Counter& cmd_pre_;
  sim::Counter& cmd_rd_;
  sim::Counter& cmd_wr_;
  sim::Counter& cmd_ref_;
  sim::Counter& cmd_refpb_;
  sim::Histogram& read_latency_;
  sim::Scalar& bandwidth_;
  sim::Scalar& read_bandwidth_;
  sim::Scalar& write_bandwidth_;
  sim::Scalar& hit_rate_;
  sim::Scalar& lat_avg_ns_;
  sim::Scalar& lat_p50_ns_;
  sim::Scalar& lat_p99_ns_;
  sim::Scalar& precharged_;
  // Read latencies, counted locally on the hot path and flushed into the registry's
  // histogram at publish.
  sim::LatencyLog<8192> latency_;

  sim::EnergyAccount& e_act_;
  sim::EnergyAccount& e_rd_;
  sim::EnergyAccount& e_wr_;
  sim::EnergyAccount& e_ref_;
  sim::EnergyAccount& e_refpb_;
  sim::EnergyAccount& e_bg_;
  double active_standby_mw_;      // a channel with a bank open
  double precharged_standby_mw_;  // a channel with every bank closed
  double background_charged_pj_ = 0;
};

}  // namespace tessera::memory
