// The plain-C++ core of an on-chip network: routers from a Topology, links and credit
// wires as a timing wheel, and one network interface per endpoint that cuts packets
// into flits and reassembles them. Stepped cycle by cycle only while flits are in
// flight; idle cycles are skipped and idle routers are never touched. Used directly by
// the synthetic-traffic benchmark and wrapped by noc::Network for SystemC/TLM.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "models/sim/energy_ledger.h"
#include "models/sim/latency_log.h"
#include "models/sim/slot_table.h"
#include "models/sim/stats_registry.h"
#include "noc/noc_config.h"
#include "noc/router.h"
#include "noc/topology.h"

namespace tessera::noc {

// A growable array of plain records for the timing wheel's slots: the producer makes
// room for a step's worst case once (`room`), then appends without checks (`push`).
template <class T>
class EventList {
 public:
  void room(size_t n) {
    if (cap_ - size_ >= n) return;
    size_t cap = cap_ ? cap_ : 16;
    while (cap - size_ < n) cap *= 2;
    std::unique_ptr<T[]> d(new T[cap]);
    std::copy(data_.get(), data_.get() + size_, d.get());
    data_ = std::move(d);
    cap_ = cap;
  }
  T& push() { return data_[size_++]; }  // after room()
  T& emplace_back() {
    room(1);
    return push();
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  const T* begin() const { return data_.get(); }
  const T* end() const { return data_.get() + size_; }

 private:
  std::unique_ptr<T[]> data_;
  size_t size_ = 0, cap_ = 0;
};

struct Packet {
  uint32_t src = 0, dst = 0;
  uint16_t flits = 1;
  uint16_t received = 0;  // flits delivered so far (in order)
  uint8_t mclass = 0;     // message class (0: request, 1: response)
  bool measured = false;  // created inside a measurement window
  uint8_t vc = 0;         // at delivery: the VC of the ejection port it arrived on
  uint64_t created = 0;   // cycle the packet entered its source queue
  uint64_t injected = 0;  // cycle its head flit left the source interface
  uint64_t tag = 0;       // owner's handle (transaction, ...)
};

// Told about each packet once its tail flit reached the destination interface.
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void on_packet(uint32_t id, const Packet& p, uint64_t now) = 0;
  // Told, when NetworkCore::watch_injections is on, about each packet whose tail flit
  // left its source interface this cycle (at the end of the cycle's step).
  virtual void on_injected(uint32_t /*id*/, const Packet& /*p*/, uint64_t /*now*/) {}
};

class NetworkCore {
 public:
  // `message_classes` splits each port's VCs into that many disjoint groups (request /
  // response); rings and tori further split each group into two dateline classes.
  NetworkCore(const NocConfig& cfg, const Topology& topo, uint32_t message_classes,
              const sim::StatsScope& stats, sim::EnergyLedger* energy);

  const Topology& topology() const { return topo_; }
  const RouterTiming& timing() const { return timing_; }
  uint32_t num_nodes() const { return topo_.num_nodes(); }
  uint64_t now() const { return now_; }

  // Queues a packet at src's interface, created at the current cycle. Returns its id.
  uint32_t inject(uint32_t src, uint32_t dst, uint32_t flits, uint32_t mclass, uint64_t tag = 0,
                  bool measured = false);
  const Packet& packet(uint32_t id) const { return packets_[id]; }
  void set_sink(PacketSink* s) { sink_ = s; }
  // Whether the sink hears of every packet that has left its source interface.
  void watch_injections(bool on) { watch_injected_ = on; }
  // Bounds endpoint `node`'s ejection buffer for each VC of message class `mclass` to
  // `flits` flits: its router's ejection port sends no more on a VC until the owner
  // frees them (release_ejected), so a target that does not take its requests backs
  // them up into the routers. Unbounded (an endpoint takes every flit) by default.
  void bound_ejection(uint32_t node, uint32_t mclass, uint32_t flits);
  // Frees `flits` flits of VC `vc` at `node`'s bounded ejection buffer: their credits
  // reach its router credit_cycles after the current cycle. Freeing more than it holds
  // is a SimulationError.
  void release_ejected(uint32_t node, uint32_t vc, uint32_t flits);
  // How long the deadlock watch waits while a target's full ejection buffer holds flits
  // back (at least 100 x watchdog_cycles): the owner's own watchdog limit, in this
  // network's cycles, so that a slow target the owner allows is not called a deadlock.
  void set_held_limit(uint64_t cycles) { held_limit_ = cycles; }
  bool ejection_bounded(uint32_t node, uint32_t vc) const {
    return eject_held_[size_t(node) * vcs_ + vc] >= 0;
  }

  // Runs one cycle (arrivals, routers, interfaces) and advances to the next.
  void step();
  // Something is in flight or queued: the next cycle must be stepped.
  bool busy() const {
    return in_flight_events_ > 0 || !active_.empty() || ni_pending_ > 0 || flits_in_network_ > 0;
  }
  // Jumps over idle cycles (only when !busy()).
  void skip_to(uint64_t cycle) {
    if (!busy() && cycle > now_) now_ = last_move_ = cycle;
  }

  // Flits inside the network (injected, not yet delivered).
  uint64_t flits_in_network() const { return flits_in_network_; }
  uint64_t flits_injected() const { return flits_injected_; }
  uint64_t flits_delivered() const { return flits_delivered_; }
  uint64_t packets_delivered() const { return packets_delivered_; }
  uint64_t source_queue_packets() const { return queued_packets_; }
  // Largest number of flits ever held in one VC buffer (never above vc_buffer_flits).
  uint32_t max_vc_occupancy() const;
  // Speculative switch grants wasted by heads that lost their VC (speculative_sa).
  uint64_t misspeculations() const;
  uint64_t router_flit_hops() const { return flit_hops_; }
  // Brings the per-router and per-link flit counters and the latency histograms up to
  // date and writes link utilisation over `cycles` (call before reading stats, e.g. at
  // the end of a run).
  void publish(uint64_t cycles);

  uint32_t vcs() const { return vcs_; }
  uint32_t vcs_per_class() const { return vcs_per_dateline_; }
  // First VC of (message class, dateline class).
  uint32_t vc_base(uint32_t mclass, uint32_t dclass) const {
    return mclass * vcs_per_mclass_ + dclass * vcs_per_dateline_;
  }
  uint32_t dateline_class_of(uint32_t vc) const { return dclass_of_vc_[vc]; }

 private:
  // Timing-wheel entries: flits and credits in separate compact lists (processing
  // order between them within a cycle does not matter: they touch disjoint state).
  struct FlitEvent {
    LinkEnd to;
    Flit flit;
  };
  struct CreditEvent {
    uint32_t id;  // router or endpoint
    uint16_t port;
    uint8_t vc;
    uint8_t tail;
  };
  // A source interface's state in flat arrays and one small record per endpoint (each
  // step of an interface touches a few lines, not a vector per field).
  struct SourceQueue {
    int32_t cur = -1;  // packet being sent
    uint16_t next_seq = 0;
    uint8_t vc = 0;
    uint8_t flags = 0;   // its message class bits (Flit::flags)
    uint16_t flits = 0;  // its length and destination, copied from the packet table
    uint16_t dst = 0;    // so that a flit's injection does not read the table
    std::deque<uint32_t> q;
  };
  struct Interface {
    uint32_t busy = 0;     // one bit per VC of the router's local input port held by a packet
    uint32_t queued = 0;   // packets waiting in its class queues
    uint32_t sending = 0;  // classes with a packet on its way out
    LinkEnd to;            // its router's local input port
    uint8_t rr = 0;
    bool pending = false;
  };
  struct Upstream {
    int32_t router = -1;
    uint8_t port = 0;
    int32_t node = -1;
  };

  void activate(uint32_t router);
  void step_interface(uint32_t node);
  void deliver(uint32_t node, const Flit& f);
  [[noreturn]] void report_deadlock();
  [[noreturn]] void flow_control_violation(uint32_t router, uint32_t port, const Flit& f);

  NocConfig cfg_;
  Topology topo_;
  RouterTiming timing_;
  uint32_t mclasses_, vcs_, vcs_per_mclass_, vcs_per_dateline_;
  // Per-step scratch every router shares (Router::share_scratch).
  std::vector<uint32_t> scratch_touched_;
  std::vector<uint64_t> scratch_sa_req_;
  uint8_t dclass_of_vc_[32] = {};  // dateline class of each VC (a table: no divisions)
  std::vector<Router> routers_;
  std::vector<Upstream> upstream_;  // per router input port
  std::vector<Interface> ni_;
  std::vector<SourceQueue> sq_;      // per endpoint and message class: node * classes + class
  std::vector<int32_t> ni_credits_;  // per endpoint and VC: node * vcs + vc
  // Per endpoint and VC: flits held in a bounded ejection buffer (-1: unbounded), and its
  // bound.
  std::vector<int32_t> eject_held_;
  std::vector<int32_t> eject_bound_;
  uint64_t held_recheck_ = 0;  // the watchdog's next look at a held-back network
  uint64_t held_limit_ = 0;    // cycles it waits behind a full ejection buffer (0: 100x)
  // A bounded ejection buffer is full: its target, not the network, holds flits back.
  bool target_holds_back() const;
  std::vector<uint32_t> ni_active_;
  uint64_t ni_pending_ = 0;
  sim::SlotTable<Packet> packets_;
  std::vector<uint32_t> active_, next_active_;
  // Per slot, events for routers and events for endpoints in separate lists, so that
  // taking them needs no test per event (and a router picks the list by the link end's
  // `node` flag as an index, not a branch).
  std::vector<EventList<FlitEvent>> flit_wheel_, node_flit_wheel_;
  std::vector<EventList<CreditEvent>> credit_wheel_, node_credit_wheel_;
  // The slots this cycle's router steps write to (set by step() before it steps them),
  // indexed by LinkEnd::node.
  EventList<FlitEvent>* step_flits_[2] = {nullptr, nullptr};
  EventList<CreditEvent>* step_credits_[2] = {nullptr, nullptr};
  uint64_t wheel_mask_ = 0;
  uint64_t in_flight_events_ = 0;
  uint64_t now_ = 0, last_move_ = 0;
  uint64_t flits_in_network_ = 0, flits_injected_ = 0, flits_delivered_ = 0;
  uint64_t packets_delivered_ = 0, queued_packets_ = 0, flit_hops_ = 0;
  PacketSink* sink_ = nullptr;
  bool watch_injected_ = false;
  std::vector<uint32_t> injected_;  // this cycle's packets that left their interface
  sim::StatsScope stats_;
  sim::Counter* st_flits_injected_;
  sim::Counter* st_flits_delivered_;
  sim::Counter* st_packets_delivered_;
  sim::Histogram* st_packet_latency_;
  sim::Histogram* st_network_latency_;
  sim::EnergyAccount* energy_hop_ = nullptr;
  // Latency samples, moved into the registry's histograms by publish() (the
  // histogram's map is too slow for every packet). Dense up to 2^20 cycles: a
  // saturated network's latencies reach far beyond an HBM controller's.
  sim::LatencyLog<(1u << 20)> lat_packet_, lat_network_;
  std::vector<sim::Scalar*> link_util_;  // per router output port (nullptr: unused)
  std::vector<sim::Counter*> link_flits_;
  std::vector<sim::Counter*> router_flits_;

  friend class Router;
};

}  // namespace tessera::noc
