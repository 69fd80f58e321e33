#include "models/memory/hbm_stack_core.h"

#include <algorithm>

#include "models/sim/errors.h"

namespace tessera::memory {

HbmStackCore::HbmStackCore(const HbmConfig& cfg, const sim::StatsScope& scope,
                           sim::EnergyLedger& energy)
    : cfg_(cfg),
      mapper_(cfg),
      capacity_(cfg.capacity_bytes()),
      access_bytes_(cfg.access_bytes()),
      bgs_per_sid_(cfg.org.bank_groups),
      banks_per_group_(cfg.org.banks_per_group),
      params_(cfg),
      reads_(scope.counter("reads", "requests", "read transactions completed")),
      writes_(scope.counter("writes", "requests", "write transactions completed")),
      bytes_read_(scope.counter("bytes_read", "B", "bytes read")),
      bytes_written_(scope.counter("bytes_written", "B", "bytes written")),
      read_latency_(scope.histogram("read_latency", "cycles",
                                    "arrival to last data beat of each read transaction")),
      bandwidth_(scope.scalar("bandwidth", "GB/s", "achieved data bandwidth of the stack")),
      peak_(scope.scalar("peak_bandwidth", "GB/s", "theoretical peak data bandwidth")),
      lat_avg_ns_(scope.scalar("read_latency_avg_ns", "ns", "mean read transaction latency")),
      lat_p50_ns_(scope.scalar("read_latency_p50_ns", "ns", "median read transaction latency")),
      lat_p99_ns_(scope.scalar("read_latency_p99_ns", "ns", "99th percentile read latency")),
      hit_rate_(scope.scalar("row_hit_rate", "ratio", "row hits / column accesses")) {
  staging_cap_ = cfg.controller.transaction_queue;
  pcs_per_channel_ = cfg.org.pseudo_channels;
  posted_writes_ = cfg.controller.write_response == "posted";
  if (cfg.org.channels > kMaxChannels)  // the config's bound; advance() relies on it
    throw sim::SimulationError("HBM: " + std::to_string(cfg.org.channels) + " channels, at most " +
                               std::to_string(kMaxChannels));
  pc_blocked_.assign(size_t(cfg.org.channels) * cfg.org.pseudo_channels, 0);
  for (uint32_t c = 0; c < cfg.org.channels; ++c)
    channels_.push_back(std::make_unique<HbmController>(
        cfg, params_, c, scope.child("ch" + std::to_string(c)), energy, *this));
  wake_.assign(cfg.org.channels, kNever);
  for (auto& c : channels_) {
    ahead_.push_back(reinterpret_cast<const char*>(c.get()));
    for (uint32_t k = 0; k < pcs_per_channel_; ++k)
      ahead_.push_back(static_cast<const char*>(c->pc_state(k)));
  }
}

HbmStackCore::~HbmStackCore() = default;

std::string HbmStackCore::check_request(uint64_t addr, uint64_t bytes) const {
  if (bytes == 0 || bytes % access_bytes_ != 0)
    return "length " + std::to_string(bytes) + " B is not a positive multiple of the " +
           std::to_string(access_bytes_) + " B access granularity";
  if (addr % access_bytes_ != 0)
    return "address " + std::to_string(addr) + " is not aligned to the " +
           std::to_string(access_bytes_) + " B access granularity";
  if (addr >= capacity_ || bytes > capacity_ - addr)
    return "address range [" + std::to_string(addr) + ", " + std::to_string(addr + bytes) +
           ") lies beyond the stack's capacity of " + std::to_string(capacity_) + " B";
  return {};
}

void HbmStackCore::submit(uint64_t addr, uint64_t bytes, bool write, uint64_t tag, uint64_t now) {
  const std::string why = check_request(addr, bytes);
  if (!why.empty()) throw sim::UserError("HBM request rejected: " + why);
  if (!can_submit()) throw sim::SimulationError("HBM: submit while the transaction queue is full");
  const uint32_t id = txns_.acquire();
  Txn& t = txns_[id];
  t = Txn{tag, now, 0, bytes, uint32_t(bytes / access_bytes_), write, false};
  ++live_;
  staging_.push_back(Staging{id, addr, bytes, HbmLocation{}, false});
  now_ = std::max(now_, now);
  // The pseudo-channels it goes to, asked for all at once: queueing into them one
  // after another met each one's cold lines in turn. (The first 16 parts: a long
  // transaction queues in several pumps.)
  int parts = 16;
  for (uint64_t a = addr, end = addr + bytes; a < end && parts-- > 0;
       a += mapper_.run_accesses(a) * access_bytes_) {
    const HbmLocation l = mapper_.decode(a);
    const char* const* q = ahead(l.channel);
    __builtin_prefetch(q[0]);
    __builtin_prefetch(q[1 + l.pc]);
    __builtin_prefetch(q[1 + l.pc] + 64);
    __builtin_prefetch(q[1 + l.pc] + 128);
  }
  if (pump_dirty_) {
    pump(now_);
  } else if (pump_one(staging_.back(), now_)) {
    // No slot was freed since the last pump on a pseudo-channel a staged transaction
    // waits on, so its blocked marks still hold and only the new transaction can move
    // (an O(1) step instead of a pass over the queue).
    staging_.pop_back();
  }
}

// Queues what it can of one staged transaction, in order; marks the pseudo-channel
// it waits on. Returns true when every access is queued.
bool HbmStackCore::pump_one(Staging& s, uint64_t now) {
  const bool write = txns_[s.txn].write;
  const uint64_t arrival = txns_[s.txn].arrival;
  while (s.left > 0) {
    if (!s.decoded) {
      s.loc = mapper_.decode(s.addr);
      s.decoded = true;
    }
    const HbmLocation& loc = s.loc;
    uint8_t& blocked = pc_blocked_[size_t(loc.channel) * pcs_per_channel_ + loc.pc];
    HbmController& ch = *channels_[loc.channel];
    if (blocked || !ch.can_accept(loc.pc, write)) {
      blocked = 1;
      return false;
    }
    // The following accesses to the same row of the same bank (the rest of an
    // interleaving unit) go in as one entry, as far as the queue has room.
    const uint32_t n = uint32_t(std::min<uint64_t>(
        {mapper_.run_accesses(s.addr), s.left / access_bytes_, ch.room(loc.pc, write), 255}));
    HbmAccess a;
    a.arrival = arrival;
    a.txn = s.txn;
    a.row = loc.row;
    a.group = uint16_t(loc.sid * bgs_per_sid_ + loc.bank_group);
    a.bank = uint16_t(a.group * banks_per_group_ + loc.bank);
    a.write = write;
    a.posted = write && posted_writes_;
    a.count = uint8_t(n);
    ch.enqueue(loc.pc, a, now);
    wake_[loc.channel] = ch.next_wake();
    min_wake_ = std::min(min_wake_, wake_[loc.channel]);
    if (a.posted) {
      // Posted write: the write buffer holds its data; it completes on acceptance.
      Txn& t = txns_[s.txn];
      t.finish = std::max(t.finish, now);
      t.parts_left -= n;
    }
    s.addr += uint64_t(n) * access_bytes_;
    s.left -= uint64_t(n) * access_bytes_;
    s.decoded = false;
  }
  txns_[s.txn].staged = true;
  retire_if_done(s.txn);
  return true;
}

// Moves queued transactions' column accesses into the pseudo-channel queues. Per
// pseudo-channel, accesses enter in transaction order: once one waits for a slot,
// later transactions' accesses to that pseudo-channel wait behind it.
void HbmStackCore::pump(uint64_t now) {
  if (!pump_dirty_) return;
  pump_dirty_ = false;
  std::fill(pc_blocked_.begin(), pc_blocked_.end(), 0);
  size_t keep = 0;
  for (size_t k = 0; k < staging_.size(); ++k) {
    if (pump_one(staging_[k], now)) continue;
    if (keep != k) staging_[keep] = staging_[k];
    ++keep;
  }
  staging_.resize(keep);
}

void HbmStackCore::access_done(uint32_t id, uint64_t finish, uint32_t pc) {
  Txn& t = txns_[id];
  t.finish = std::max(t.finish, finish);
  --t.parts_left;
  slot_freed(pc);
  retire_if_done(id);
}

void HbmStackCore::retire_if_done(uint32_t id) {
  const Txn& t = txns_[id];
  if (t.parts_left == 0 && t.staged) finishing_.push({t.finish, id});
}

uint64_t HbmStackCore::next_event() const {
  const uint64_t t = finishing_.empty() ? kNever : finishing_.top().first;
  return std::min(t, min_wake_);
}

void HbmStackCore::advance(uint64_t until) {
  for (;;) {
    const uint64_t t = next_event();
    if (t == kNever || t > until) break;
    now_ = std::max(now_, t);
    while (!finishing_.empty() && finishing_.top().first <= now_) {
      const uint32_t id = finishing_.top().second;
      finishing_.pop();
      Txn& x = txns_[id];
      if (x.write) {
        ++writes_;
        bytes_written_ += x.bytes;
      } else {
        ++reads_;
        bytes_read_ += x.bytes;
        latency_.record(x.finish - x.arrival);
      }
      done_.push_back({x.tag, x.arrival, x.finish, x.write});
      txns_.release(id);
      --live_;
    }
    // The channels due now, stepped in order, each one's state asked for while the
    // previous one is stepped.
    uint32_t due[kMaxChannels];
    uint32_t nd = 0;
    // Without a branch: which channels are due follows no pattern a predictor learns.
    for (uint32_t c = 0; c < uint32_t(wake_.size()); ++c) {
      due[nd] = c;
      nd += wake_[c] <= now_;
    }
    if (nd > 0) prefetch_channel(due[0]);
    for (uint32_t i = 0; i < nd; ++i) {
      if (i + 1 < nd) prefetch_channel(due[i + 1]);
      HbmController& ch = *channels_[due[i]];
      ch.step(now_);
      wake_[due[i]] = ch.next_wake();
    }
    uint64_t m = kNever;
    for (const uint64_t w : wake_) m = std::min(m, w);
    min_wake_ = m;
    pump(now_);
  }
  now_ = std::max(now_, until == kNever ? now_ : until);
}

void HbmStackCore::publish(uint64_t cycles) {
  latency_.flush_into(read_latency_);
  uint64_t hits = 0, acc = 0;
  for (size_t c = 0; c < channels_.size(); ++c) {
    channels_[c]->settle(cycles);
    channels_[c]->publish(cycles, cfg_.tck_ps());
    hits += channels_[c]->row_hit_count();
    acc += channels_[c]->access_count();
    wake_[c] = channels_[c]->next_wake();  // a refresh settle left under way
    min_wake_ = std::min(min_wake_, wake_[c]);
  }
  const double tck_ns = cfg_.tck_ps() / 1000.0;
  const double ns = double(cycles) * tck_ns;
  const double bytes = double(bytes_read_.value() + bytes_written_.value());
  bandwidth_.set(ns > 0 ? bytes / ns : 0.0);
  peak_.set(cfg_.peak_gbps());
  hit_rate_.set(acc ? double(hits) / double(acc) : 0.0);
  lat_avg_ns_.set(read_latency_.mean() * tck_ns);
  lat_p50_ns_.set(double(read_latency_.percentile(50)) * tck_ns);
  lat_p99_ns_.set(double(read_latency_.percentile(99)) * tck_ns);
}

}  // namespace tessera::memory
