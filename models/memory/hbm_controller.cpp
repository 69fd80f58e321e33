#include "models/memory/hbm_controller.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <type_traits>

#include "models/sim/config_schema.h"

namespace tessera::memory {

HbmController::Params::Params(const HbmConfig& cfg)
    : t(cfg.timing),
      tBL(cfg.tBL()),
      rq_cap(cfg.controller.read_queue),
      wq_cap(cfg.controller.write_queue),
      starvation(cfg.controller.starvation_cycles),
      access_bytes(cfg.access_bytes()),
      banks_per_group(cfg.org.banks_per_group),
      groups_per_sid(cfg.org.bank_groups),
      groups(cfg.org.sids * cfg.org.bank_groups),
      sid_gap(cfg.org.sids > 1 && cfg.timing.tCCDR > cfg.timing.tCCD_S),
      nb(cfg.banks_per_pc()),
      fcfs(cfg.controller.scheduler == "fcfs"),
      closed_page(cfg.controller.page_policy == "closed") {
  for (uint32_t g = 0; g < kMaxBanks; ++g)
    sid_first[g] = uint8_t(groups_per_sid ? g / groups_per_sid * groups_per_sid : 0);
  // As Ramulator 2 drains writes: from a write queue fill above high x depth until one
  // below low x depth (strictly; a product that is a whole number up to 1e-9 counts as
  // one); at the latest when the queue is full.
  auto product = [this](double frac) {
    const double x = frac * wq_cap;
    return std::fabs(x - std::round(x)) < 1e-9 ? std::round(x) : x;
  };
  wq_hi =
      std::clamp<uint32_t>(uint32_t(std::floor(product(cfg.controller.write_high_watermark))) + 1,
                           1, std::max<uint32_t>(1, wq_cap));
  wq_lo = uint32_t(std::ceil(product(cfg.controller.write_low_watermark)));
  const std::string& r = cfg.controller.refresh;
  refresh_mode = r == "none" ? 0 : r == "all-bank" ? 1 : 2;
  ref_interval = refresh_mode == 2 ? cfg.refpb_interval() : t.tREFI;
}

HbmController::HbmController(const HbmConfig& cfg, const Params& params, uint32_t channel,
                             const sim::StatsScope& s, sim::EnergyLedger& energy,
                             HbmAccessSink& sink)
    : P_(params),
      sink_(sink),
      first_pc_(channel * cfg.org.pseudo_channels),
      reads_(s.counter("reads", "accesses", "read column accesses (bursts)")),
      writes_(s.counter("writes", "accesses", "write column accesses (bursts)")),
      bytes_read_(s.counter("bytes_read", "B", "bytes read")),
      bytes_written_(s.counter("bytes_written", "B", "bytes written")),
      row_hits_(s.counter("row_hits", "accesses", "accesses that found their row open")),
      row_misses_(
          s.counter("row_misses", "accesses", "accesses that needed an ACT to a closed bank")),
      row_conflicts_(s.counter("row_conflicts", "accesses",
                               "accesses that needed a PRE of another row and an ACT")),
      cmd_act_(s.counter("cmd.act", "commands", "ACT commands")),
      cmd_pre_(s.counter("cmd.pre", "commands", "PRE commands (explicit and auto-precharge)")),
      cmd_rd_(s.counter("cmd.rd", "commands", "RD commands")),
      cmd_wr_(s.counter("cmd.wr", "commands", "WR commands")),
      cmd_ref_(s.counter("cmd.ref", "commands", "all-bank REF commands")),
      cmd_refpb_(s.counter("cmd.refpb", "commands", "per-bank REF commands")),
      read_latency_(s.histogram("read_latency", "cycles",
                                "arrival of the request to the last data beat of each read burst")),
      bandwidth_(s.scalar("bandwidth", "GB/s", "achieved data bandwidth (read + write)")),
      read_bandwidth_(s.scalar("read_bandwidth", "GB/s", "achieved read bandwidth")),
      write_bandwidth_(s.scalar("write_bandwidth", "GB/s", "achieved write bandwidth")),
      hit_rate_(s.scalar("row_hit_rate", "ratio", "row hits / accesses")),
      lat_avg_ns_(s.scalar("read_latency_avg_ns", "ns", "mean read latency")),
      lat_p50_ns_(s.scalar("read_latency_p50_ns", "ns", "median read latency")),
      lat_p99_ns_(s.scalar("read_latency_p99_ns", "ns", "99th percentile read latency")),
      precharged_(s.scalar("precharged_fraction", "ratio",
                           "share of the run a pseudo-channel had every bank closed (precharged "
                           "standby power), averaged over its pseudo-channels")),
      e_act_(energy.account(s.prefix(), "act", cfg.energy.act_pj)),
      e_rd_(energy.account(s.prefix(), "rd", cfg.energy.rd_pj)),
      e_wr_(energy.account(s.prefix(), "wr", cfg.energy.wr_pj)),
      e_ref_(energy.account(s.prefix(), "ref", cfg.energy.ref_pj)),
      e_refpb_(energy.account(s.prefix(), "refpb", cfg.energy.refpb_pj)),
      e_bg_(energy.account(s.prefix(), "background", 0.0)),
      active_standby_mw_(cfg.energy.background_mw),
      precharged_standby_mw_(cfg.energy.background_mw * cfg.energy.precharged_standby_fraction) {
  const uint32_t banks = P_.nb;
  const uint32_t npc = cfg.org.pseudo_channels;
  const uint32_t total = cfg.org.channels * npc;
  pcs_.resize(npc);
  if (npc > 4) throw sim::ConfigError("HBM controller: at most 4 pseudo-channels");
  const size_t pool_size = size_t(P_.rq_cap) + P_.wq_cap;
  if (pool_size > size_t(std::numeric_limits<int16_t>::max()))  // the config's bounds keep it so
    throw sim::ConfigError("HBM controller: read_queue + write_queue above 32767");
  pools_.resize(pool_size * npc);
  for (uint32_t i = 0; i < npc; ++i) {
    Pc& p = pcs_[i];
    for (uint32_t b = 0; b < kMaxBanks; ++b) {
      BankState& bs = p.bank[b];
      bs.open_row = -1;
      bs.group = uint8_t(b < banks ? b / P_.banks_per_group : 0);
      bs.act = bs.pre = bs.rd = bs.wr = 0;
      for (int w = 0; w < 2; ++w) bs.head[w] = bs.hit[w] = p.bank_tail[w][b] = -1;
      p.g_act[b] = p.g_rd[b] = p.g_wr[b] = 0;
    }
    p.pool = &pools_[pool_size * i];
    // Free entries are linked through `next`, lowest index first.
    for (int32_t e = 0; e < int32_t(pool_size); ++e)
      p.pool[e].next = e + 1 < int32_t(pool_size) ? e + 1 : -1;
    p.free_head = 0;
    // Per-bank refreshes are staggered over the stack. All-bank refreshes are aligned:
    // behind one in-order port a stream stalls on any refreshing pseudo-channel, so
    // staggering would stall it 32 times per tREFI instead of once.
    const uint64_t k = uint64_t(channel) * npc + i;
    p.ref_due =
        P_.refresh_mode == 2 ? P_.ref_interval + P_.ref_interval * k / total : P_.ref_interval;
  }
}

void HbmController::enqueue(uint32_t pc, const HbmAccess& a, uint64_t now) {
  assert(a.count >= 1);
  Pc& p = pcs_[pc];
  const bool idle = p.q[0].size == 0 && p.q[1].size == 0 && !p.ref_pending;
  const int32_t e = p.free_head;
  Entry& x = p.pool[size_t(e)];
  p.free_head = x.next;
  x.a = a;
  x.seq = p.seq;
  p.seq += a.count;
  Queue& q = p.q[a.write];
  x.prev = p.tail[a.write];
  x.next = -1;
  (x.prev >= 0 ? p.pool[size_t(x.prev)].next : q.head) = e;
  p.tail[a.write] = e;
  BankState& bs = p.bank[a.bank];
  const int w = a.write;
  int32_t& tail = p.bank_tail[w][a.bank];
  x.bprev = tail;
  x.bnext = -1;
  if (tail >= 0)
    p.pool[size_t(tail)].bnext = e;
  else
    bs.head[w] = int16_t(e);
  tail = e;
  q.bank_mask |= uint64_t(1) << a.bank;
  q.size += a.count;
  if (idle) catch_up_refresh(p, now);  // sees the new access, so refresh avoids its bank
  if (bs.hit[w] < 0 && bs.open_row == int32_t(a.row)) p.set_hit(a.write, a.bank, e);
  // Wake at once, even when nothing new can issue: the stack's SystemC wrapper runs the
  // core at every next_event(), so the wake pattern is part of the observable timing.
  pc_wake_[pc] = now;
  wake_ = std::min(wake_, now);
}

void HbmController::step(uint64_t now) {
  uint64_t w = kNever;
  for (size_t i = 0; i < pcs_.size(); ++i) {
    if (pc_wake_[i] <= now) pc_wake_[i] = schedule(pcs_[i], now);
    w = std::min(w, pc_wake_[i]);
  }
  wake_ = w;
}

// ---------------------------------------------------------------------------------
// Refresh

void HbmController::do_refresh_at(Pc& p, uint64_t t, bool all_bank, uint32_t bank) {
  if (all_bank) {
    const uint32_t done = p.rel(t + P_.t.tRFC);
    for (uint32_t b = 0; b < P_.nb; ++b) p.bank[b].act = std::max(p.bank[b].act, done);
    ++n_.ref;
  } else {
    p.bank[bank].act = std::max(p.bank[bank].act, p.rel(t + P_.t.tRFCpb));
    p.act_ready = std::max(p.act_ready, t + P_.t.tRREFD);  // every other bank's ACT
    p.refpb_ready = std::max(p.refpb_ready, t + P_.t.tPBR2PBR);
    ++n_.refpb;
  }
}

// Per-bank refresh may visit the banks in any order within a round (JESD235/238 REFpb);
// the controller picks a bank that no queued request wants, closed if possible, so
// that a streaming bank is not taken away for tRFCpb.
uint32_t HbmController::pick_refresh_bank(const Pc& p) const {
  const uint32_t nb = P_.nb;
  const uint64_t wanted = p.q[0].bank_mask | p.q[1].bank_mask;
  int64_t idle_open = -1, any = -1;
  for (uint32_t k = 0; k < nb; ++k) {
    const uint32_t b = p.ref_bank + k < nb ? p.ref_bank + k : p.ref_bank + k - nb;
    if (p.ref_done >> b & 1) continue;
    if (any < 0) any = b;
    if (wanted >> b & 1) continue;
    if (p.bank[b].open_row < 0) return b;
    if (idle_open < 0) idle_open = b;
  }
  return uint32_t(idle_open >= 0 ? idle_open : any);
}

void HbmController::finish_bank_refresh(Pc& p) {
  const uint32_t nb = P_.nb;
  p.ref_done |= uint64_t(1) << p.ref_bank;
  if (p.ref_done == (nb == 64 ? ~uint64_t(0) : (uint64_t(1) << nb) - 1)) p.ref_done = 0;
  p.ref_bank = (p.ref_bank + 1) % nb;
}

// An idle pseudo-channel is not woken for refresh; when work (or the end of the run)
// arrives, the refreshes it would have done meanwhile are replayed here as an idle
// controller issues them: PRE of open banks as soon as legal, one per clock, REF after
// tRP. (The other pseudo-channel's use of the shared row bus is not replayed.)
void HbmController::catch_up_refresh(Pc& p, uint64_t now) {
  if (P_.refresh_mode == 0) return;
  const bool all = P_.refresh_mode == 1;
  const uint32_t nb = P_.nb;
  uint64_t pre_at[kMaxBanks];  // when each bank this refresh closes gets its PRE
  while (p.ref_due <= now) {
    // An idle stretch may be far longer than the banks' clocks reach: they count from
    // near the refresh being replayed (nothing here looks at a clock before it).
    // (Refresh never lags 2^30 clocks behind the last command: config validation keeps
    // refresh sustainable, so the base, at most 2^30 clocks before that command, is at
    // or before the refresh due.)
    assert(p.ref_due >= p.base);
    rebase(p, p.ref_due);
    if (!all) p.ref_bank = pick_refresh_bank(p);
    const uint32_t first = all ? 0 : p.ref_bank, last = all ? nb : p.ref_bank + 1;
    // The PREs go one per clock on the row bus from the due time, the lowest-numbered
    // bank that may precharge first, as refresh_work issues them; REF follows tRP after
    // the last, once every bank's tRC/tRFC allows.
    uint64_t open = 0;
    for (uint32_t b = first; b < last; ++b)
      if (p.bank[b].open_row >= 0) open |= uint64_t(1) << b;
    const uint64_t opened = open;
    uint64_t t_ref = p.ref_due;
    for (uint64_t t = std::max(p.ref_due, p.pre_ready); open;) {
      uint64_t next = kNever;
      int32_t pick = -1;
      for (uint64_t m = open; m; m &= m - 1) {
        const uint32_t b = uint32_t(__builtin_ctzll(m));
        if (p.abs(p.bank[b].pre) <= t) {
          pick = int32_t(b);
          break;
        }
        next = std::min(next, p.abs(p.bank[b].pre));
      }
      if (pick < 0) {
        t = next;
        continue;
      }
      pre_at[pick] = t;
      t_ref = std::max(t_ref, t + P_.t.tRP);
      open &= ~(uint64_t(1) << pick);
      t += P_.t.tPPD;  // tPPD >= 1 also keeps to one row command a clock
    }
    for (uint32_t b = first; b < last; ++b) t_ref = std::max(t_ref, p.abs(p.bank[b].act));
    if (!all) t_ref = std::max(t_ref, p.refpb_ready);
    // The replay's PREs placed before `until`, as they were issued: each bank closed
    // (its ACT tRP later) and the next PRE tPPD after the last.
    auto issue_pres = [&](uint64_t until) {
      uint64_t last_done = 0;
      uint32_t done = 0;
      for (uint64_t m = opened; m; m &= m - 1) {
        const uint32_t b = uint32_t(__builtin_ctzll(m));
        if (pre_at[b] >= until) continue;
        p.bank[b].open_row = -1;
        clear_hits(p, b);
        p.bank[b].act = std::max(p.bank[b].act, p.rel(pre_at[b] + P_.t.tRP));
        ++n_.pre;
        last_done = std::max(last_done, pre_at[b]);
        ++done;
      }
      if (done) {
        p.pre_ready = std::max(p.pre_ready, last_done + P_.t.tPPD);
        banks_closed(p, done, last_done);
      }
    };
    if (t_ref >= now) {
      // In progress at `now`: the PREs placed before `now` were issued then (until the
      // sixteenth session they were issued again from `now`, delaying the REF); the
      // scheduler issues the rest and the REF.
      issue_pres(now);
      p.ref_pending = true;
      return;
    }
    // Many idle intervals in a row: every bank is closed and each refresh lands on its
    // due time; count the ones whose effect a later refresh overwrites.
    const uint64_t n_due = (now - p.ref_due) / P_.ref_interval + 1;
    const uint64_t keep = all ? 2 : uint64_t(nb) + 1;
    bool all_closed = true;
    for (uint32_t b = 0; b < nb; ++b) all_closed = all_closed && p.bank[b].open_row < 0;
    if (all_closed && n_due > 2 * keep) {
      const uint64_t skip = all ? n_due - keep : (n_due - keep) / nb * nb;  // whole rounds
      (all ? n_.ref : n_.refpb) += skip;
      p.ref_due += skip * P_.ref_interval;
      continue;
    }
    issue_pres(kNever);
    do_refresh_at(p, t_ref, all, p.ref_bank);
    if (!all) finish_bank_refresh(p);
    p.ref_due += P_.ref_interval;
  }
}

// Refresh commands of a pending refresh; returns the next clock it can progress.
uint64_t HbmController::refresh_work(Pc& p, uint64_t now, bool& row_used) {
  const bool all = P_.refresh_mode == 1;
  uint64_t wake = kNever;
  bool any_open = false;
  uint64_t ref_t = now;
  p.ref_at = kNever;
  const uint32_t first = all ? 0 : p.ref_bank;
  const uint32_t last = all ? P_.nb : p.ref_bank + 1;
  for (uint32_t i = first; i < last; ++i) {
    if (p.bank[i].open_row >= 0) {
      const uint64_t t = std::max({p.abs(p.bank[i].pre), row_bus_free_, p.pre_ready});
      if (t <= now && !row_used) {
        issue_pre(p, i, now);
        row_used = true;
        wake = std::min(wake, now + 1);
      } else {
        wake = std::min(wake, std::max(t, now + 1));
      }
      any_open = true;
    }
    ref_t = std::max(ref_t, p.abs(p.bank[i].act));
  }
  if (any_open) return wake;
  if (!all) ref_t = std::max(ref_t, p.refpb_ready);
  const uint64_t t = std::max(ref_t, row_bus_free_);
  if (t <= now && !row_used) {
    do_refresh_at(p, now, all, p.ref_bank);
    row_bus_free_ = now + 1;
    row_used = true;
    p.ref_pending = false;
    if (!all) finish_bank_refresh(p);
    p.ref_due += P_.ref_interval;
    return now + 1;
  }
  if (!all) p.ref_at = t;
  return std::max(t, now + 1);
}

void HbmController::rebase_slow(Pc& p, uint64_t t) const {
  const uint64_t base = t - kRebaseSpan / 2;
  const uint64_t d = base - p.base;
  const auto shift = [d](uint32_t& r) { r = r > d ? uint32_t(r - d) : 0; };
  for (BankState& bs : p.bank) {
    shift(bs.act);
    shift(bs.pre);
    shift(bs.rd);
    shift(bs.wr);
  }
  p.base = base;
}

// ---------------------------------------------------------------------------------
// Commands

void HbmController::find_hits(Pc& p, uint32_t bank) {
  const int32_t row = p.bank[bank].open_row;
  for (int w = 0; w < 2; ++w) {
    int32_t e = p.bank[bank].head[w];
    while (e >= 0 && int32_t(p.pool[size_t(e)].a.row) != row) e = p.pool[size_t(e)].bnext;
    p.set_hit(w != 0, bank, e);
  }
}

// Removes an entry whose last access issued.
void HbmController::unlink(Pc& p, bool write, int32_t e) {
  Entry& x = p.pool[size_t(e)];
  Queue& q = p.q[write];
  (x.prev >= 0 ? p.pool[size_t(x.prev)].next : q.head) = x.next;
  (x.next >= 0 ? p.pool[size_t(x.next)].prev : p.tail[write]) = x.prev;
  const uint32_t b = x.a.bank;
  BankState& bs = p.bank[b];
  if (x.bprev >= 0)
    p.pool[size_t(x.bprev)].bnext = x.bnext;
  else
    bs.head[write] = int16_t(x.bnext);
  (x.bnext >= 0 ? p.pool[size_t(x.bnext)].bprev : p.bank_tail[write][b]) = x.bprev;
  if (bs.head[write] < 0) q.bank_mask &= ~(uint64_t(1) << b);
  --q.size;
  x.next = p.free_head;
  p.free_head = e;
}

void HbmController::issue_act(Pc& p, HbmAccess& a, uint64_t now) {
  const uint32_t b = a.bank;
  p.bank[b].open_row = int32_t(a.row);
  bank_opened(p, now);
  p.bank[b].rd = p.rel(now + P_.t.tRCD);
  p.bank[b].wr = p.rel(now + P_.t.tRCDWR);
  p.bank[b].pre = p.rel(now + P_.t.tRAS);
  p.bank[b].act = p.rel(now + P_.t.tRC);
  p.g_act[a.group] = std::max(p.g_act[a.group], now + P_.t.tRRD_L);
  p.act_ready = std::max(p.act_ready, now + P_.t.tRRD_S);
  p.refpb_ready = std::max(p.refpb_ready, now + P_.t.tACT2PBR);
  p.faw[p.faw_head] = now;
  p.faw_head = uint16_t((p.faw_head + 1) & 3);
  if (p.faw_count < 4) ++p.faw_count;
  row_bus_free_ = now + P_.t.act_bus_cycles;
  if (a.kind == 0) a.kind = 1;
  find_hits(p, a.bank);
  ++n_.act;
}

void HbmController::issue_pre(Pc& p, uint32_t bank, uint64_t now) {
  p.bank[bank].open_row = -1;
  banks_closed(p, 1, now);
  clear_hits(p, bank);
  p.bank[bank].act = std::max(p.bank[bank].act, p.rel(now + P_.t.tRP));
  p.pre_ready = now + P_.t.tPPD;
  row_bus_free_ = now + 1;
  ++n_.pre;
}

void HbmController::issue_column(Pc& p, bool write, int32_t e, uint64_t now) {
  HbmAccess& x = p.pool[size_t(e)].a;
  const HbmAccess a = x;
  if (a.count > 1) {
    // The entry's next access is the bank's oldest hit now; it found its row open.
    --x.count;
    x.kind = 0;
    --p.q[write].size;
  } else {
    // `e` is its bank's oldest hit (scan picks no other): the next hit is younger.
    int32_t next_hit = p.pool[size_t(e)].bnext;
    while (next_hit >= 0 && p.pool[size_t(next_hit)].a.row != a.row)
      next_hit = p.pool[size_t(next_hit)].bnext;
    p.set_hit(write, a.bank, next_hit);
    unlink(p, write, e);
  }
  const uint32_t b = a.bank, g = a.group;
  uint64_t finish;
  if (!a.write) {
    finish = now + P_.t.tCL + P_.tBL;
    p.rd_ready = std::max(p.rd_ready, now + P_.t.tCCD_S);
    p.wr_ready = std::max(p.wr_ready, now + P_.t.tRTW);
    p.g_rd[g] = std::max(p.g_rd[g], now + P_.t.tCCD_L);
    if (P_.sid_gap) {
      // The groups of the other SIDs: their next RD waits tCCDR (g_rd per group is
      // exactly "earliest RD" of its banks, so the scan needs no term of its own). Two
      // plain loops round this SID's groups: this runs at every read.
      const uint32_t first = P_.sid_first[g], gps = P_.groups_per_sid;
      const uint64_t t = now + P_.t.tCCDR;
      if (gps == 4 && P_.groups == 8) {
        // Two SIDs of four groups (HBM3's 8-high stacks): the other SID's four groups
        // in one straight run.
        uint64_t* const o = p.g_rd + (first ? 0 : 4);
        o[0] = std::max(o[0], t);
        o[1] = std::max(o[1], t);
        o[2] = std::max(o[2], t);
        o[3] = std::max(o[3], t);
      } else {
        for (uint32_t h = 0; h < first; ++h) p.g_rd[h] = std::max(p.g_rd[h], t);
        for (uint32_t h = first + gps; h < P_.groups; ++h) p.g_rd[h] = std::max(p.g_rd[h], t);
      }
    }
    p.bank[b].pre = std::max(p.bank[b].pre, p.rel(now + P_.t.tRTP));
    ++n_.reads;
    latency_.record(finish - a.arrival);
  } else {
    finish = now + P_.t.tWL + P_.tBL;
    p.wr_ready = std::max(p.wr_ready, now + P_.t.tCCD_S);
    p.rd_ready = std::max(p.rd_ready, finish + P_.t.tWTR_S);
    p.g_wr[g] = std::max(p.g_wr[g], now + P_.t.tCCD_L);
    p.g_rd[g] = std::max(p.g_rd[g], finish + P_.t.tWTR_L);
    p.bank[b].pre = std::max(p.bank[b].pre, p.rel(finish + P_.t.tWR));
    ++n_.writes;
  }
  p.data_free = finish;
  col_bus_free_ = now + 1;
  ++n_.kind[a.kind];
  // Closed page: auto-precharge once no queued access wants this row.
  if (P_.closed_page && p.bank[b].hit[0] < 0 && p.bank[b].hit[1] < 0) {
    p.bank[b].open_row = -1;
    p.bank[b].act = std::max(p.bank[b].act, p.bank[b].pre + P_.t.tRP);
    banks_closed(p, 1, p.abs(p.bank[b].pre));  // the PRE goes as soon as tRAS/tRTP/tWR allow
    ++n_.pre;
  }
  const uint32_t pc = first_pc_ + uint32_t(&p - pcs_.data());
  if (a.posted)
    sink_.slot_freed(pc);
  else
    sink_.access_done(a.txn, finish, pc);
}

// ---------------------------------------------------------------------------------
// Scheduling one pseudo-channel at clock `now`

bool HbmController::next_write_mode(const Pc& p, bool mode, uint32_t hi, uint32_t lo) {
  const uint32_t nr = p.q[0].size, nw = p.q[1].size;
  if (!mode) return nw >= hi || (nr == 0 && nw > 0);
  return !(nw == 0 || (nw < lo && nr > 0));
}

// Per bank with work, the candidates are its oldest row hit (column command) and its
// oldest entry (PRE or ACT); every hit of a bank is ready at the same clock, as is
// every entry needing a row command, so the oldest stands for all. Picks are the
// oldest ready candidate of each kind, as a scan of the whole queue in arrival order.
// The candidate banks are bit masks (the banks' oldest hits are kept on the queue), so
// the loops only compute clocks; the pseudo-channel terms shared by every bank are
// applied once per loop.
uint64_t HbmController::scan(Pc& p, bool write, uint64_t now, bool pick, Picks& out) {
  if (write) return pick ? scan_t<true, true>(p, now, out) : scan_t<false, true>(p, now, out);
  return pick ? scan_t<true, false>(p, now, out) : scan_t<false, false>(p, now, out);
}

// Compiled per queue and per use (picking, or only the next wake), so the loops carry
// no run-time tests of either; a loop that cannot pick only takes minima.
template <bool kPick, bool kWrite, bool kReuse>
uint64_t HbmController::scan_t(Pc& p, uint64_t now, Picks& out) {
  static_assert(!(kPick && kReuse), "a reusing scan only computes the wake");
  Queue& q = p.q[kWrite];
  if (q.size == 0) return kNever;
  const bool all_ref = p.ref_pending && P_.refresh_mode == 1;
  if (all_ref) return kNever;  // the refresh's own wake covers the end of it
  const uint64_t ref_bit =
      p.ref_pending && P_.refresh_mode == 2 ? uint64_t(1) << p.ref_bank : 0;  // refresh owns it
  const HbmAccess& a0 = p.pool[size_t(q.head)].a;
  const uint64_t bit0 = uint64_t(1) << a0.bank;
  const bool hit0 = p.bank[a0.bank].hit[kWrite] == q.head;
  // Starvation cap: an old request whose row conflicts takes its bank back from hits
  // (its PRE goes ahead of the bank's hits, which wait).
  const bool starving = now - a0.arrival > P_.starvation;
  uint64_t wake = starving ? kNever : a0.arrival + P_.starvation + 1;  // when the cap binds
  uint64_t col_banks, row_banks;
  if (P_.fcfs) {
    // Only the oldest request: its bank's list starts with it.
    col_banks = hit0 ? bit0 : 0;
    row_banks = hit0 ? 0 : bit0;
  } else {
    const uint64_t starve_bit = starving && !hit0 && p.bank[a0.bank].open_row >= 0 ? bit0 : 0;
    // Hits first: a bank with a hit issues no row command.
    col_banks = q.hit_mask & ~starve_bit;
    row_banks = (q.bank_mask & ~q.hit_mask) | starve_bit;
  }
  col_banks &= ~ref_bit;
  row_banks &= ~ref_bit;

  // Over `banks`, each with its ready time `at(bank)`: when `pick`, the bank ready by
  // now whose candidate entry (`entry(bank)`) arrived first (nullptr: none), the ready
  // times of the others folded into `later`; else every ready time folded into `later`.
  // (`pick` is a type, std::true_type or std::false_type: each use is compiled without
  // the other's test.)
  auto scan_banks = [&](auto pick, uint64_t banks, auto at, auto entry,
                        uint64_t& later) -> const BankState* {
    const BankState* found = nullptr;
    uint64_t oldest = kNever;
    for (uint64_t m = banks; m; m &= m - 1) {
      const BankState& bs = p.bank[__builtin_ctzll(m)];
      const uint64_t t = at(bs);
      if (decltype(pick)::value && t <= now) {
        const uint64_t seq = p.pool[size_t(entry(bs))].seq;
        if (seq < oldest) {
          oldest = seq;
          found = &bs;
        }
      } else {
        later = std::min(later, t);
      }
    }
    return found;
  };
  auto oldest_ready = [&](bool pick, uint64_t banks, auto at, auto entry, uint64_t& later) {
    return pick ? scan_banks(std::true_type{}, banks, at, entry, later)
                : scan_banks(std::false_type{}, banks, at, entry, later);
  };
  uint64_t first = kNever;  // earliest clock of a candidate not picked
  if (col_banks) {
    const uint64_t pc_col = col_ready(p, kWrite);
    const uint64_t* gt = kWrite ? p.g_wr : p.g_rd;
    uint64_t x_min = kNever;
    // pc_col covers the column bus.
    const BankState* b = oldest_ready(
        kPick && pc_col <= now, col_banks,
        [gt, &p](const BankState& bs) {
          return std::max(p.abs(kWrite ? bs.wr : bs.rd), gt[bs.group]);
        },
        [](const BankState& bs) { return bs.hit[kWrite]; }, x_min);
    if (b) out.col = b->hit[kWrite];
    first = std::max(x_min, pc_col);
  }
  uint64_t banks = row_banks;
  if (kReuse && !(out.row_banks & ~row_banks)) {
    // No bank left the row candidates: the picking scan's earliest stands for those it
    // saw; the newcomers are read below.
    first = std::min(first, out.row_first);
    banks &= ~out.row_banks;
  }
  if (banks) {
    uint64_t pc_act = act_ready(p);
    // An ACT now would hold off a due REFpb (tACT2PBR): it waits for the REFpb.
    if (ref_bit && p.ref_at < now + P_.t.tACT2PBR) pc_act = std::max(pc_act, p.ref_at);
    const uint64_t row_free = row_bus_free_;
    const uint64_t pre_free = std::max(row_free, p.pre_ready);  // a PRE also waits tPPD
    uint64_t later = kNever;
    const BankState* b = oldest_ready(
        kPick && row_free <= now, banks,
        [pc_act, pre_free, &p](const BankState& bs) {
          return bs.open_row < 0 ? std::max({pc_act, p.abs(bs.act), p.g_act[bs.group]})
                                 : std::max(p.abs(bs.pre), pre_free);
        },
        [](const BankState& bs) { return bs.head[kWrite]; }, later);
    first = std::min(first, later);
    if (b) {
      out.row = b->head[kWrite];
      out.row_is_act = b->open_row < 0;
    }
    if (kPick) out.row_first = later;
  }
  if (kPick) out.row_banks = row_banks;
  return std::min(wake, std::max(first, now + 1));
}

uint64_t HbmController::schedule(Pc& p, uint64_t now) {
  // The one rebase for live work: an enqueue sets no bank clock (its refresh replay
  // rebases itself) and wakes this step at once.
  rebase(p, now);
  if (P_.refresh_mode && !p.ref_pending && now >= p.ref_due) {
    p.ref_pending = true;
    if (P_.refresh_mode == 2) p.ref_bank = pick_refresh_bank(p);
  }
  bool row_used = row_bus_free_ > now;
  uint64_t ref_wake = kNever;
  if (p.ref_pending) ref_wake = refresh_work(p, now, row_used);

  // Write drain by watermarks; an empty read queue lets writes go.
  p.write_mode = next_write_mode(p, p.write_mode, P_.wq_hi, P_.wq_lo);
  if (p.q[p.write_mode].size == 0) return p.ref_pending ? ref_wake : kNever;  // both empty
  Picks picks;
  uint64_t wake = scan(p, p.write_mode, now, true, picks);
  bool issued = false;
  if (picks.row >= 0) {
    Entry& x = p.pool[size_t(picks.row)];
    if (picks.row_is_act) {
      issue_act(p, x.a, now);
    } else {
      x.a.kind = 2;
      issue_pre(p, x.a.bank, now);
    }
    issued = true;
  }
  if (picks.col >= 0) {
    issue_column(p, p.write_mode, picks.col, now);
    issued = true;
  }
  if (issued) {
    // The drain decision the next clock would take; a change wakes it at once.
    if (next_write_mode(p, p.write_mode, P_.wq_hi, P_.wq_lo) != p.write_mode) {
      wake = now + 1;
    } else if (picks.row < 0) {
      // Only a column command: the row candidates' clocks stand (see scan_t).
      wake = p.write_mode ? scan_t<false, true, true>(p, now, picks)
                          : scan_t<false, false, true>(p, now, picks);
    } else {
      Picks none;
      wake = scan(p, p.write_mode, now, false, none);
    }
  }
  wake = std::min(wake, ref_wake);
  if (P_.refresh_mode && !p.ref_pending) wake = std::min(wake, std::max(p.ref_due, now + 1));
  if (p.q[0].size == 0 && p.q[1].size == 0) {
    // Emptied now: the next clock still starts a refresh that falls due (as an idle
    // controller would); later ones are replayed by catch_up_refresh.
    wake = p.ref_pending ? ref_wake : P_.refresh_mode && p.ref_due <= now + 1 ? now + 1 : kNever;
  }
  return wake;
}

// ---------------------------------------------------------------------------------
// End of run

void HbmController::settle(uint64_t now) {
  for (size_t i = 0; i < pcs_.size(); ++i) {
    Pc& p = pcs_[i];
    if (p.q[0].size == 0 && p.q[1].size == 0 && !p.ref_pending) catch_up_refresh(p, now);
    // A replayed refresh still under way at `now` goes on at the next step, should the run
    // go on (it was left pending without a wake until the thirty-first session).
    if (p.ref_pending) pc_wake_[i] = std::min(pc_wake_[i], now);
  }
  for (const uint64_t w : pc_wake_) wake_ = std::min(wake_, w);
}

void HbmController::flush_stats() {
  reads_ += n_.reads;
  cmd_rd_ += n_.reads;
  bytes_read_ += n_.reads * P_.access_bytes;
  e_rd_.charge(n_.reads);
  writes_ += n_.writes;
  cmd_wr_ += n_.writes;
  bytes_written_ += n_.writes * P_.access_bytes;
  e_wr_.charge(n_.writes);
  row_hits_ += n_.kind[0];
  row_misses_ += n_.kind[1];
  row_conflicts_ += n_.kind[2];
  cmd_act_ += n_.act;
  e_act_.charge(n_.act);
  cmd_pre_ += n_.pre;
  cmd_ref_ += n_.ref;
  e_ref_.charge(n_.ref);
  cmd_refpb_ += n_.refpb;
  e_refpb_.charge(n_.refpb);
  n_ = Counts{};
}

void HbmController::publish(uint64_t cycles, double tck_ps) {
  flush_stats();
  latency_.flush_into(read_latency_);

  const double ns = double(cycles) * tck_ps / 1000.0;
  const double rd = double(bytes_read_.value()), wr = double(bytes_written_.value());
  bandwidth_.set(ns > 0 ? (rd + wr) / ns : 0.0);  // bytes per ns = GB/s
  read_bandwidth_.set(ns > 0 ? rd / ns : 0.0);
  write_bandwidth_.set(ns > 0 ? wr / ns : 0.0);
  const uint64_t acc = reads_.value() + writes_.value();
  hit_rate_.set(acc ? double(row_hits_.value()) / double(acc) : 0.0);
  lat_avg_ns_.set(read_latency_.mean() * tck_ps / 1000.0);
  lat_p50_ns_.set(double(read_latency_.percentile(50)) * tck_ps / 1000.0);
  lat_p99_ns_.set(double(read_latency_.percentile(99)) * tck_ps / 1000.0);
  // Standby power over the run (mW * ns = pJ): each pseudo-channel draws its share of
  // the channel's, at the precharged level while every one of its banks is closed
  // (IDD2N against IDD3N, as DRAMsim3 and DRAMPower count it). Charged up to `cycles`.
  double pj = 0, closed = 0;
  for (const Pc& p : pcs_) {
    const uint64_t c = std::min<uint64_t>(
        cycles,
        p.closed_cycles + (p.open_banks == 0 && cycles > p.last_close ? cycles - p.last_close : 0));
    closed += double(c);
    pj += (precharged_standby_mw_ * double(c) + active_standby_mw_ * double(cycles - c)) * tck_ps /
          1000.0 / double(pcs_.size());
  }
  precharged_.set(cycles ? closed / double(cycles) / double(pcs_.size()) : 0.0);
  if (pj > background_charged_pj_) {
    e_bg_.charge_pj(pj - background_charged_pj_);
    background_charged_pj_ = pj;
  }
}

}  // namespace tessera::memory
