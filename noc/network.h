// noc::Network: the SystemC/TLM face of one on-chip network. Endpoint i has a
// network interface with
//   target[i]    - an initiator (a tile's DMA) sends reads/writes in: b_transport, or
//                  the approximately-timed base protocol (END_REQ is withheld while the
//                  interface's request queue is full: backpressure);
//   initiator[i] - requests whose address decodes to node i go out to the target
//                  attached there (HBM stack, scratchpad port), and its response returns.
// Requests and responses travel as packets in separate message classes (disjoint VCs).
// One SC_METHOD steps the plain NetworkCore at the clock's edges while flits are in
// flight, and sleeps otherwise.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include "models/sim/clock_domain.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/ptr_map.h"
#include "models/sim/slot_table.h"
#include "models/sim/stats_registry.h"
#include "noc/network_core.h"
#include "noc/noc_config.h"

namespace tessera::noc {

class Network : public sc_core::sc_module, private PacketSink {
 public:
  using Decoder = std::function<uint32_t(uint64_t addr)>;
  // kx, ky: mesh/torus dimensions; ring size or crossbar ports in kx (ky = 1).
  // extra_endpoints: routers with a further endpoint each (Topology::build), numbered
  // after the routers' own.
  Network(sc_core::sc_module_name name, const NocConfig& cfg, uint32_t kx, uint32_t ky,
          const sim::ClockDomain& clock, Decoder decode, const sim::StatsScope& stats,
          sim::EnergyLedger* energy, const std::vector<uint32_t>& extra_endpoints = {});
  uint32_t num_nodes() const { return core_.num_nodes(); }
  // An endpoint that sends nothing (a memory's own interface) leaves its target unbound.
  std::vector<std::unique_ptr<tlm_utils::simple_target_socket_tagged_optional<Network>>> target;
  std::vector<std::unique_ptr<tlm_utils::simple_initiator_socket_tagged<Network>>> initiator;
  NetworkCore& core() { return core_; }
  // Requests that pass `f` are handed to the target at their node with the
  // approximately-timed base protocol (the target must take it: an HBM stack, a
  // die-to-die link, the fabric), the others with b_transport from a server thread.
  // AT needs no thread per request.
  void set_nonblocking_targets(std::function<bool(const tlm::tlm_generic_payload&)> f) {
    nonblocking_ = std::move(f);
  }
  // The request ejection buffers of `nodes` hold cfg.target_buffer_flits flits per
  // request VC (nothing changes when it is 0: unbounded). An approximately-timed
  // request there keeps its last packet's flits until its target takes it (END_REQ),
  // so a memory whose queues are full backs its requests up into the routers; blocking
  // requests (and a request's earlier packets, which only wait for the rest of it) free
  // theirs on arrival. Only for endpoints whose AT targets never wait on this network's
  // requests themselves (a memory's own, not a link's: requests forwarded round a ring
  // of chiplets could close a cycle of full buffers).
  void bound_ejection(const std::vector<uint32_t>& nodes);
  // Brings router/link counters and utilisation up to date (also at end of simulation).
  // Copies router/link counters into the stats; utilisation over `cycles` (default:
  // up to the last cycle the network stepped).
  void publish(uint64_t cycles = 0) { core_.publish(cycles ? cycles : core_.now()); }
  void end_of_simulation() override { publish(); }
  // Flits a transaction's request and response take (header + data flits).
  uint32_t request_flits(const tlm::tlm_generic_payload& t) const;
  uint32_t response_flits(const tlm::tlm_generic_payload& t) const;
  // Request packets an interface queues before it withholds END_REQ.
  static constexpr size_t kRequestQueuePackets = 8;
  // Server threads an interface starts with for blocking targets (more are started
  // when every one is busy). Few: a thread is a stack and memory maps, a large machine
  // has thousands of interfaces, and the targets with parallelism of their own (HBM
  // stacks) are served without threads (approximately-timed).
  static constexpr uint32_t kServersPerNode = 2;

 private:
  struct Txn {
    tlm::tlm_generic_payload* trans = nullptr;
    uint32_t src = 0, dst = 0;
    uint32_t req_left = 0, resp_left = 0;
    bool nb = false;
    uint8_t eject_vc = 0;      // a held request: the VC and flits it holds in the
    uint16_t eject_flits = 0;  // destination's ejection buffer (0: none)
    uint64_t start_ps = 0;
    sc_core::sc_event* done = nullptr;  // b_transport caller waits here
  };
  void b_transport(int node, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  tlm::tlm_sync_enum nb_transport_fw(int node, tlm::tlm_generic_payload& trans,
                                     tlm::tlm_phase& phase, sc_core::sc_time& delay);
  tlm::tlm_sync_enum nb_transport_bw(int node, tlm::tlm_generic_payload& trans,
                                     tlm::tlm_phase& phase, sc_core::sc_time& delay);
  // Starts a transaction: cut into request packets at src's interface.
  uint64_t start(uint32_t src, tlm::tlm_generic_payload& trans, bool nb, sc_core::sc_event* done);
  // Packets of `flits` in total, at most max_packet_flits each.
  void send_packets(uint32_t src, uint32_t dst, uint32_t flits, uint32_t mclass, uint64_t tag);
  uint32_t packets_for(uint32_t flits) const;
  void on_packet(uint32_t id, const Packet& p, uint64_t now) override;
  void on_injected(uint32_t id, const Packet& p, uint64_t now) override;
  void step_method();
  void serve_thread(uint32_t node, sc_core::sc_event* ev);
  // AT requests at a node: sends BEGIN_REQ for queued ones while the socket is free.
  void at_send(uint32_t node);
  void at_respond(uint32_t node, tlm::tlm_generic_payload& trans);
  // The target took request `tag`: frees what it held in the ejection buffer.
  void taken(uint64_t tag);
  void spawn_server(uint32_t node);
  // Wakes (or spawns) exactly as many servers as requests wait at `node`.
  void dispatch(uint32_t node);
  void respond_method_for(uint32_t node);
  void sync_core();

  NocConfig cfg_;
  sim::ClockDomain clock_;
  Decoder decode_;
  NetworkCore core_;
  // Transactions in flight, by tag (a slot of this table; slots are reused).
  sim::SlotTable<Txn> txns_;
  sc_core::sc_event wake_;
  std::vector<std::deque<uint64_t>> serve_q_;  // per node: requests for its target
  // Each server thread sleeps on its own event, so a request wakes one server, not all.
  std::deque<sc_core::sc_event> server_ev_;               // stable addresses
  std::vector<std::deque<sc_core::sc_event*>> sleeping_;  // per node: parked servers
  std::vector<size_t> awake_;  // per node: servers woken or spawned, not yet at the queue
  std::function<bool(const tlm::tlm_generic_payload&)> nonblocking_;
  std::vector<std::deque<uint64_t>> at_q_;  // per node: AT requests waiting for the socket
  std::vector<const tlm::tlm_generic_payload*> at_open_;         // per node: awaits END_REQ
  sim::PtrMap<uint64_t> at_tag_;                                 // by payload, while at the target
  std::vector<std::deque<tlm::tlm_generic_payload*>> held_req_;  // END_REQ withheld
  std::vector<std::deque<tlm::tlm_generic_payload*>> resp_q_;    // BEGIN_RESP to send
  std::vector<uint8_t> resp_busy_;                               // a BEGIN_RESP awaits END_RESP
  std::vector<size_t> req_queued_;  // request packets waiting at each interface
  sim::Histogram* txn_latency_;
};

}  // namespace tessera::noc
