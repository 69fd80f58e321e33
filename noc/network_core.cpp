#include "noc/network_core.h"

#include <algorithm>

#include "models/sim/errors.h"

namespace tessera::noc {

NetworkCore::NetworkCore(const NocConfig& cfg, const Topology& topo, uint32_t message_classes,
                         const sim::StatsScope& stats, sim::EnergyLedger* energy)
    : cfg_(cfg), topo_(topo), mclasses_(message_classes), vcs_(cfg.vcs), stats_(stats) {
  // Lookahead: the route was computed upstream, no routing stage at this router.
  timing_ = RouterTiming{cfg.lookahead_routing ? 0 : cfg.routing_cycles,
                         cfg.vc_alloc_cycles,
                         cfg.sw_alloc_cycles,
                         cfg.crossbar_cycles,
                         cfg.link_cycles,
                         cfg.credit_cycles};
  if (!cfg.speculation_fits())
    throw sim::UserError("noc.speculative_sa needs vc_alloc_cycles <= sw_alloc_cycles");
  if (!cfg.lookahead_fits())
    throw sim::UserError("noc.lookahead_routing needs routing_cycles <= " +
                         std::to_string(cfg.lookahead_window()) + " (the cycles it overlaps with)");
  const uint32_t dclasses = topo_.vc_classes();
  if (mclasses_ < 1) mclasses_ = 1;
  // A head flit carries its destination in 16 bits and its class in 6 (Flit).
  check_endpoint_count(topo_.num_nodes());
  if (mclasses_ > 64) throw sim::UserError("noc: at most 64 message classes");
  if (vcs_ < mclasses_ * dclasses)
    throw sim::UserError("noc.vcs: " + std::to_string(vcs_) + " VCs cannot hold " +
                         std::to_string(mclasses_) + " message class(es) x " +
                         std::to_string(dclasses) + " dateline class(es) on this topology; need " +
                         std::to_string(mclasses_ * dclasses));
  if (vcs_ > 32) throw sim::UserError("noc.vcs: at most 32");
  vcs_per_mclass_ = vcs_ / mclasses_;
  vcs_per_dateline_ = vcs_per_mclass_ / dclasses;
  for (uint32_t v = 0; v < vcs_; ++v)
    dclass_of_vc_[v] = uint8_t((v % vcs_per_mclass_) / vcs_per_dateline_);

  const uint32_t P = topo_.ports();
  const bool islip = cfg.allocator == "islip";
  routers_.reserve(topo_.num_routers());
  scratch_touched_.assign(size_t(P) * vcs_, 0);
  scratch_sa_req_.assign(P, 0);
  upstream_.assign(size_t(topo_.num_routers()) * P, Upstream{});
  link_util_.assign(size_t(topo_.num_routers()) * P, nullptr);
  link_flits_.assign(size_t(topo_.num_routers()) * P, nullptr);
  for (uint32_t r = 0; r < topo_.num_routers(); ++r) {
    routers_.emplace_back(r, P, vcs_, cfg.vc_buffer_flits, islip, cfg.wait_for_tail_credit,
                          cfg.speculative_sa, cfg.sw_alloc_iterations, cfg.input_speedup);
    Router& rt = routers_.back();
    rt.share_scratch(scratch_touched_.data(), scratch_sa_req_.data());
    const sim::StatsScope rs = stats_.child("router" + std::to_string(r));
    router_flits_.push_back(&rs.counter("flits", "flits", "flits switched by this router"));
    for (uint32_t p = 0; p < P; ++p) {
      const PortPeer& pp = topo_.peer(r, p);
      if (pp.node >= 0) {
        rt.set_output(p, true, 0);
      } else if (pp.router >= 0) {
        rt.set_output(p, false, int32_t(cfg.vc_buffer_flits));
        upstream_[size_t(pp.router) * P + pp.port] = Upstream{int32_t(r), uint8_t(p), -1};
      } else {
        continue;  // mesh edge: no link
      }
      const std::string pn = topo_.port_name(p);
      link_flits_[r * P + p] =
          &rs.counter(pn + ".flits", "flits", "flits sent on this output link");
      link_util_[r * P + p] = &rs.scalar(pn + ".utilisation", "ratio",
                                         "flits per cycle on this output link over the run");
    }
  }
  ni_.resize(topo_.num_nodes());
  sq_.resize(size_t(topo_.num_nodes()) * mclasses_);
  ni_credits_.assign(size_t(topo_.num_nodes()) * vcs_, int32_t(cfg.vc_buffer_flits));
  eject_held_.assign(size_t(topo_.num_nodes()) * vcs_, -1);
  eject_bound_.assign(size_t(topo_.num_nodes()) * vcs_, 0);
  for (uint32_t n = 0; n < topo_.num_nodes(); ++n) {
    upstream_[size_t(topo_.node_router(n)) * P + topo_.node_port(n)] = Upstream{-1, 0, int32_t(n)};
    ni_[n].to = LinkEnd{topo_.node_router(n), uint16_t(topo_.node_port(n)), 0, 1};
  }
  // Each router's link ends: where an output port's flits land and where an input
  // port's credits go.
  for (uint32_t r = 0; r < topo_.num_routers(); ++r) {
    Router& rt = routers_[r];
    for (uint32_t p = 0; p < P; ++p) {
      const PortPeer& pp = topo_.peer(r, p);
      if (pp.node >= 0)
        rt.port_[p].down = LinkEnd{uint32_t(pp.node), 0, 1, 1};
      else if (pp.router >= 0)
        rt.port_[p].down = LinkEnd{uint32_t(pp.router), pp.port, 0, 1};
      const Upstream& u = upstream_[size_t(r) * P + p];
      if (u.node >= 0)
        rt.port_[p].up = LinkEnd{uint32_t(u.node), 0, 1, 1};
      else if (u.router >= 0)
        rt.port_[p].up = LinkEnd{uint32_t(u.router), u.port, 0, 1};
    }
  }
  uint64_t span =
      std::max<uint64_t>({timing_.sa + timing_.xbar + timing_.link, timing_.credit, timing_.link}) +
      2;
  uint64_t w = 1;
  while (w < span) w <<= 1;
  flit_wheel_.resize(w);
  node_flit_wheel_.resize(w);
  credit_wheel_.resize(w);
  node_credit_wheel_.resize(w);
  wheel_mask_ = w - 1;

  st_flits_injected_ = &stats_.counter("flits_injected", "flits", "flits sent by interfaces");
  st_flits_delivered_ = &stats_.counter("flits_delivered", "flits", "flits received by interfaces");
  st_packets_delivered_ = &stats_.counter("packets_delivered", "packets", "packets received");
  st_packet_latency_ =
      &stats_.histogram("packet_latency", "cycles", "packet creation to tail flit received");
  st_network_latency_ =
      &stats_.histogram("network_latency", "cycles", "head flit sent to tail flit received");
  if (energy)
    energy_hop_ = &energy->account(stats_.prefix().empty() ? "noc" : stats_.prefix(), "flit_hop",
                                   cfg.flit_hop_pj());
}

uint32_t NetworkCore::inject(uint32_t src, uint32_t dst, uint32_t flits, uint32_t mclass,
                             uint64_t tag, bool measured) {
  if (src >= num_nodes() || dst >= num_nodes())
    throw sim::SimulationError("noc: packet between endpoints " + std::to_string(src) + " and " +
                               std::to_string(dst) + " of a network of " +
                               std::to_string(num_nodes()) + " endpoints");
  if (flits < 1 || flits > 65535) throw sim::SimulationError("noc: packet of 0 or > 65535 flits");
  const uint32_t id = packets_.acquire();
  Packet& p = packets_[id];
  p = Packet{};
  p.src = src;
  p.dst = dst;
  p.flits = uint16_t(flits);
  p.mclass = uint8_t(std::min(mclass, mclasses_ - 1));
  p.measured = measured;
  p.created = now_;
  p.tag = tag;
  Interface& ni = ni_[src];
  sq_[size_t(src) * mclasses_ + p.mclass].q.push_back(id);
  ++ni.queued;
  ++queued_packets_;
  if (!busy()) last_move_ = now_;  // the watchdog counts from here, not from the last burst
  if (!ni.pending) {
    ni.pending = true;
    ++ni_pending_;
    ni_active_.push_back(src);
  }
  return id;
}

void NetworkCore::activate(uint32_t r) {
  Router& rt = routers_[r];
  if (!rt.active_flag) {
    rt.active_flag = true;
    active_.push_back(r);
  }
}

void NetworkCore::deliver(uint32_t node, const Flit& f) {
  Packet& p = packets_[f.pkt];
  if (p.dst != node || f.position() != p.received)
    throw sim::SimulationError("noc: flit " + std::to_string(f.position()) + " of packet " +
                               std::to_string(f.pkt) + " reached endpoint " + std::to_string(node) +
                               " (expected flit " + std::to_string(p.received) + " at endpoint " +
                               std::to_string(p.dst) + ")");
  ++p.received;
  if (int32_t& held = eject_held_[size_t(node) * vcs_ + f.vc]; held >= 0) ++held;
  --flits_in_network_;
  ++flits_delivered_;
  ++*st_flits_delivered_;
  if (!f.tail()) return;
  if (p.received != p.flits)
    throw sim::SimulationError("noc: packet " + std::to_string(f.pkt) + " tail after " +
                               std::to_string(p.received) + " of " + std::to_string(p.flits) +
                               " flits");
  ++packets_delivered_;
  ++*st_packets_delivered_;
  p.vc = f.vc;
  lat_packet_.record(now_ - p.created);
  lat_network_.record(now_ - p.injected);
  // The sink gets a copy: it may inject packets, and a growing table moves `p`.
  if (sink_) sink_->on_packet(f.pkt, Packet(p), now_);
  packets_.release(f.pkt);
}

void NetworkCore::bound_ejection(uint32_t node, uint32_t mclass, uint32_t flits) {
  if (node >= num_nodes() || mclass >= mclasses_ || flits == 0)
    throw sim::SimulationError("noc: ejection bound for endpoint " + std::to_string(node) +
                               ", class " + std::to_string(mclass) + " of " +
                               std::to_string(flits) + " flits");
  Router& rt = routers_[topo_.node_router(node)];
  for (uint32_t v = vc_base(mclass, 0); v < vc_base(mclass, 0) + vcs_per_mclass_; ++v) {
    rt.set_output_credits(topo_.node_port(node), v, int32_t(flits));
    eject_held_[size_t(node) * vcs_ + v] = 0;
    eject_bound_[size_t(node) * vcs_ + v] = int32_t(flits);
  }
}

bool NetworkCore::target_holds_back() const {
  for (size_t i = 0; i < eject_held_.size(); ++i)
    if (eject_held_[i] >= 0 && eject_held_[i] >= eject_bound_[i]) return true;
  return false;
}

void NetworkCore::release_ejected(uint32_t node, uint32_t vc, uint32_t flits) {
  int32_t& held = eject_held_[size_t(node) * vcs_ + vc];
  if (held < int32_t(flits))
    throw sim::SimulationError("noc: endpoint " + std::to_string(node) + " frees " +
                               std::to_string(flits) + " flit(s) of VC " + std::to_string(vc) +
                               " but its ejection buffer holds " + std::to_string(held));
  held -= int32_t(flits);
  last_move_ = now_;  // the target took a request: progress, for the deadlock watch
  // Credits carry no tail: the ejection port freed its VC when the tail left.
  EventList<CreditEvent>& w = credit_wheel_[(now_ + timing_.credit) & wheel_mask_];
  const CreditEvent credit{topo_.node_router(node), uint16_t(topo_.node_port(node)), uint8_t(vc),
                           0};
  w.room(flits);
  for (uint32_t i = 0; i < flits; ++i) w.push() = credit;
  in_flight_events_ += flits;
}

void NetworkCore::step_interface(uint32_t node) {
  Interface& ni = ni_[node];
  SourceQueue* const cls = &sq_[size_t(node) * mclasses_];
  int32_t* const credits = &ni_credits_[size_t(node) * vcs_];
  for (uint32_t k = 0; k < mclasses_; ++k) {
    uint32_t cl = ni.rr + k;  // round-robin over the classes, from ni.rr
    if (cl >= mclasses_) cl -= mclasses_;
    SourceQueue& sq = cls[cl];
    if (sq.cur < 0) {
      if (sq.q.empty()) continue;
      const uint32_t base = vc_base(cl, 0);
      // The free VC with the most credits (lowest on a tie): a VC whose buffer is
      // still draining the previous packet would stall the new one behind it.
      int32_t pick = -1;
      for (uint32_t v = base; v < base + vcs_per_dateline_; ++v)
        if (!((ni.busy >> v) & 1) && (pick < 0 || credits[v] > credits[uint32_t(pick)]))
          pick = int32_t(v);
      if (pick < 0) continue;
      sq.cur = int32_t(sq.q.front());
      sq.q.pop_front();
      --ni.queued;
      ++ni.sending;
      --queued_packets_;
      sq.vc = uint8_t(pick);
      sq.next_seq = 0;
      ni.busy |= 1u << uint32_t(pick);
      Packet& p = packets_[uint32_t(sq.cur)];
      p.injected = now_;
      sq.flits = p.flits;
      sq.dst = uint16_t(p.dst);
      sq.flags = uint8_t(p.mclass << Flit::kClassShift);
    }
    if (credits[sq.vc] <= 0) continue;
    Flit f;
    f.pkt = uint32_t(sq.cur);
    f.seq = sq.next_seq == 0 ? sq.dst : sq.next_seq;
    f.vc = sq.vc;
    f.flags = uint8_t((sq.next_seq == 0 ? Flit::kHead : 0) |
                      (sq.next_seq + 1 == sq.flits ? Flit::kTail : 0) | sq.flags);
    --credits[sq.vc];
    FlitEvent& e = flit_wheel_[(now_ + timing_.link) & wheel_mask_].emplace_back();
    e.to = ni.to;
    e.flit = f;
    ++in_flight_events_;
    ++flits_in_network_;
    ++flits_injected_;
    ++*st_flits_injected_;
    last_move_ = now_;
    if (f.tail()) {
      if (watch_injected_) injected_.push_back(uint32_t(sq.cur));
      sq.cur = -1;
      --ni.sending;
      if (!cfg_.wait_for_tail_credit) ni.busy &= ~(1u << sq.vc);
    } else {
      ++sq.next_seq;
    }
    ni.rr = uint8_t(cl + 1 == mclasses_ ? 0 : cl + 1);
    break;  // the injection link carries one flit per cycle
  }
  if (ni.queued == 0 && ni.sending == 0) {
    ni.pending = false;
    --ni_pending_;
  }
}

void NetworkCore::step() {
  const uint64_t c = now_;
  // Read through a local: the routers' byte-sized stores could alias the vector's own
  // pointer and make the compiler reload it for every event.
  Router* const routers = routers_.data();
  const uint64_t slot = c & wheel_mask_;
  // Deliveries and router arrivals touch disjoint state; each list keeps its order.
  EventList<FlitEvent>& deliveries = node_flit_wheel_[slot];
  if (!deliveries.empty()) {
    for (const FlitEvent& e : deliveries) deliver(e.to.id, e.flit);
    last_move_ = c;
    in_flight_events_ -= deliveries.size();
    deliveries.clear();
  }
  // The routers' state does not fit in L1, and a cycle's events and steps touch it in
  // no order the hardware prefetcher can follow: each loop asks for the lines it will
  // need a few items ahead (measured: about 8 % more simulated cycles per second on the
  // 8x8 mesh benchmark; the result is unchanged).
  constexpr size_t kAhead = 4, kAheadRouters = 3;
  EventList<FlitEvent>& flits = flit_wheel_[slot];
  if (!flits.empty()) {
    const FlitEvent* fl = flits.begin();
    const size_t nf = flits.size();
    for (size_t i = 0; i < nf; ++i) {
      const FlitEvent& e = fl[i];
      if (i + kAhead < nf) {
        const FlitEvent& a = fl[i + kAhead];
        routers[a.to.id].prefetch_input(a.to.port, a.flit.vc);
      }
      if (!routers[e.to.id].accept(e.to.port, e.flit))
        flow_control_violation(e.to.id, e.to.port, e.flit);
      activate(e.to.id);
    }
    in_flight_events_ -= flits.size();
    flits.clear();
  }
  EventList<CreditEvent>& credits = credit_wheel_[slot];
  if (!credits.empty()) {
    const CreditEvent* cl = credits.begin();
    const size_t nc = credits.size();
    for (size_t i = 0; i < nc; ++i) {
      const CreditEvent& e = cl[i];
      if (i + kAhead < nc) {
        const CreditEvent& a = cl[i + kAhead];
        routers[a.id].prefetch_output(a.port, a.vc);
      }
      if (routers[e.id].credit(e.port, e.vc, e.tail)) activate(e.id);
    }
    in_flight_events_ -= credits.size();
    credits.clear();
  }
  EventList<CreditEvent>& ni_credits = node_credit_wheel_[slot];
  if (!ni_credits.empty()) {
    for (const CreditEvent& e : ni_credits) {
      ++ni_credits_[size_t(e.id) * vcs_ + e.vc];
      if (cfg_.wait_for_tail_credit && e.tail) ni_[e.id].busy &= ~(1u << e.vc);
    }
    in_flight_events_ -= ni_credits.size();
    ni_credits.clear();
  }
  if (!active_.empty()) {
    // Every router sends at most one flit (and one credit) per output port and
    // switch-allocation iteration: make room once for all of them.
    const size_t most =
        active_.size() * topo_.ports() * std::max<uint32_t>(1, cfg_.sw_alloc_iterations);
    const uint64_t fs = (c + timing_.sa + timing_.xbar + timing_.link) & wheel_mask_;
    const uint64_t cs = (c + timing_.credit) & wheel_mask_;
    step_flits_[0] = &flit_wheel_[fs];
    step_flits_[1] = &node_flit_wheel_[fs];
    step_credits_[0] = &credit_wheel_[cs];
    step_credits_[1] = &node_credit_wheel_[cs];
    for (int k = 0; k < 2; ++k) {
      step_flits_[k]->room(most);
      step_credits_[k]->room(most);
    }
    const size_t before = step_flits_[0]->size() + step_flits_[1]->size();
    next_active_.clear();
    const size_t na = active_.size();
    for (size_t i = 0; i < na; ++i) {
      const uint32_t r = active_[i];
      if (i + kAheadRouters < na) routers[active_[i + kAheadRouters]].prefetch_state();
      Router& rt = routers[r];
      if (rt.step(*this, c))
        next_active_.push_back(r);
      else
        rt.active_flag = false;
    }
    active_.swap(next_active_);
    // Flits the routers sent this cycle (each with a credit back), counted once here
    // rather than in every router's step.
    const uint64_t moved = step_flits_[0]->size() + step_flits_[1]->size() - before;
    if (moved > 0) {
      in_flight_events_ += 2 * moved;
      flit_hops_ += moved;
      if (energy_hop_) energy_hop_->charge(moved);
      last_move_ = c;
    }
  }
  if (ni_pending_ > 0) {
    size_t keep = 0;
    for (size_t i = 0; i < ni_active_.size(); ++i) {
      const uint32_t n = ni_active_[i];
      step_interface(n);
      if (ni_[n].pending) ni_active_[keep++] = n;
    }
    ni_active_.resize(keep);
  }
  // After the interfaces' loop: the sink may inject (queued for the next cycle).
  if (!injected_.empty()) {
    for (const uint32_t id : injected_)
      if (sink_) sink_->on_injected(id, Packet(packets_[id]), c);
    injected_.clear();
  }
  // Flits inside, or packets waiting at an interface, and nothing moves: stop and say
  // where. While a target's full ejection buffer holds them back, 100 times as long or
  // the owner's limit (set_held_limit) if longer: a slow memory (an HBM with its tFAW at
  // 100,000 clocks) is not a deadlock of the network. (Looked at again once per watchdog
  // period, not every cycle.)
  if ((flits_in_network_ > 0 || queued_packets_ > 0) && c - last_move_ > cfg_.watchdog_cycles &&
      c >= held_recheck_) {
    if (c - last_move_ <= std::max(100 * uint64_t(cfg_.watchdog_cycles), held_limit_) &&
        target_holds_back())
      held_recheck_ = c + cfg_.watchdog_cycles;
    else
      report_deadlock();
  }
  now_ = c + 1;
}

uint64_t NetworkCore::misspeculations() const {
  uint64_t n = 0;
  for (const Router& r : routers_) n += r.misspeculations();
  return n;
}

uint32_t NetworkCore::max_vc_occupancy() const {
  uint32_t m = 0;
  for (const Router& r : routers_) m = std::max(m, r.max_occupancy());
  return m;
}

void NetworkCore::publish(uint64_t cycles) {
  lat_packet_.flush_into(*st_packet_latency_);
  lat_network_.flush_into(*st_network_latency_);
  const uint32_t P = topo_.ports();
  for (uint32_t r = 0; r < routers_.size(); ++r) {
    uint64_t total = 0;
    for (uint32_t p = 0; p < P; ++p) {
      const uint64_t sent = routers_[r].sent(p);
      total += sent;
      sim::Counter* c = link_flits_[size_t(r) * P + p];
      if (!c) continue;
      c->add(sent - c->value());
      if (cycles) link_util_[size_t(r) * P + p]->set(double(sent) / double(cycles));
    }
    router_flits_[r]->add(total - router_flits_[r]->value());
  }
}

void NetworkCore::report_deadlock() {
  std::vector<std::string> lines;
  for (const Router& r : routers_) r.describe_blocked(topo_, lines, now_);
  std::string msg = "noc: no flit moved for " + std::to_string(now_ - last_move_) +
                    " cycles with " + std::to_string(flits_in_network_) +
                    " flit(s) in the network and " + std::to_string(queued_packets_) +
                    " packet(s) waiting at interfaces (cycle " + std::to_string(now_) +
                    "): deadlock or livelock; blocked:";
  const size_t shown = std::min<size_t>(lines.size(), 16);
  for (size_t i = 0; i < shown; ++i) msg += (i ? "; " : " ") + lines[i];
  if (lines.size() > shown) msg += "; ... " + std::to_string(lines.size() - shown) + " more";
  throw sim::SimulationError(msg);
}

void NetworkCore::flow_control_violation(uint32_t router, uint32_t port, const Flit& f) {
  throw sim::SimulationError("noc: flow-control violation: router " + std::to_string(router) +
                             " input " + topo_.port_name(port) + " vc " + std::to_string(f.vc) +
                             " received a flit with its buffer full");
}

}  // namespace tessera::noc
