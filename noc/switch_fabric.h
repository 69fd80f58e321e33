// An NVSwitch-style switch fabric between packages: N ports, each a link of
// port_gbytes_per_s per direction split over `planes` independent switch planes;
// traffic moves in chunks, striped over the planes; every output has a FIFO queue of
// output_queue_chunks per plane, and a full queue holds the sender back (the sender's
// link stays blocked: head-of-line backpressure). Optional in-network reduction: the
// switch sums one chunk from every participant and multicasts the result.
//
// FabricCore is plain C++ on a reservation model (each link and queue slot is booked
// in time order, exact for FIFO resources); SwitchFabric is its SystemC/TLM wrapper.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include "models/sim/energy_ledger.h"
#include "models/sim/errors.h"
#include "models/sim/ptr_map.h"
#include "models/sim/stats_registry.h"
#include "models/sim/timed_queue.h"
#include "noc/at_forward.h"
#include "noc/noc_config.h"
#include "noc/reduce_extension.h"

namespace tessera::noc {

class FabricCore {
 public:
  FabricCore(const FabricConfig& cfg, uint32_t ports, const sim::StatsScope& stats,
             sim::EnergyLedger* energy);
  uint32_t ports() const { return ports_; }
  // Bytes per picosecond of one port per direction (all planes together).
  double port_bytes_per_ps() const { return bytes_per_ps_; }
  // Moves `bytes` from port src to port dst, starting no earlier than t_ps; returns the
  // time the last byte reached dst.
  double send(uint32_t src, uint32_t dst, uint64_t bytes, double t_ps);
  // A control message of `bytes` (a request without data, a write acknowledgement)
  // from src to dst at t_ps; returns its arrival. Links interleave such messages with
  // data at flit granularity (their own message class), so they are not queued behind
  // the chunks booked on the links ahead of them; their bytes are counted, not booked
  // (a 16-byte header per 4 KiB chunk).
  double control(uint32_t src, uint32_t dst, uint64_t bytes, double t_ps);
  // All-reduce of n_bytes per rank among ports 0..p-1, all starting at t_ps; returns the
  // finish time (every rank holds the sum).
  // Ring: reduce-scatter then all-gather, 2(p-1) steps of n/p bytes to the next rank,
  // each step starting when the previous one's data has arrived.
  double ring_all_reduce(uint32_t p, uint64_t n_bytes, double t_ps = 0);
  // In-network: every rank sends its n bytes once; the switch reduces chunk by chunk
  // and multicasts each result chunk to every rank. Needs in_network_reduction.
  double switch_all_reduce(uint32_t p, uint64_t n_bytes, double t_ps = 0);
  // The α of the α-β cost model on this fabric: endpoint link, switch, link, plus the
  // one chunk the switch stores before forwarding.
  double step_latency_ps() const;
  // In-network reduction one piece at a time (what switch_all_reduce and the SystemC
  // fabric's contributions use). A contribution of `bytes` from port src on `plane`,
  // no earlier than t_ps: books the ingress link; returns the time it is in the
  // switch's reduction unit.
  double contribute(uint32_t src, uint32_t plane, uint64_t bytes, double t_ps);
  // The sum, complete at all_in, leaves the reduction unit after the switch latency as
  // one copy per port of dsts through their output queues; arrive[i] is the time the
  // copy reached dsts[i]. The contributors' links (srcs) are held until every copy is
  // queued (a full output queue backs up into the reduction buffer and its inputs).
  void multicast(const std::vector<uint32_t>& srcs, const std::vector<uint32_t>& dsts,
                 uint32_t plane, uint64_t bytes, double all_in, std::vector<double>& arrive);
  // A small message the switch itself sends to port dst on `plane` (a semaphore signal
  // after a multicast): books the output queue and link; returns its arrival.
  double from_switch(uint32_t dst, uint32_t plane, uint64_t bytes, double t_ps);
  uint32_t planes() const { return planes_; }
  // Per port and direction, bytes moved over what the port could move in `elapsed_ps`.
  void publish(double elapsed_ps);
  const FabricConfig& config() const { return cfg_; }

 private:
  // Books one chunk (on one plane) through the switch; returns its arrival at dst.
  double chunk(uint32_t src, uint32_t dst, uint32_t plane, uint64_t bytes, double t);
  // Enqueues a chunk at output (dst, plane) at time e (or when a slot frees); returns
  // the time it entered the queue, books the output link, and gives the arrival at dst.
  double enqueue_out(uint32_t dst, uint32_t plane, uint64_t bytes, double e, double* entered);
  size_t idx(uint32_t port, uint32_t plane) const { return size_t(port) * planes_ + plane; }

  FabricConfig cfg_;
  uint32_t ports_, planes_;
  double bytes_per_ps_, plane_bytes_per_ps_, link_ps_, switch_ps_;
  std::vector<double> in_free_, out_free_;
  // Per source port, the plane its next chunk takes: a port's traffic is striped over
  // the planes chunk by chunk, across messages too (small requests would otherwise
  // all land on plane 0 and get a 1/planes share of the port).
  std::vector<uint32_t> next_plane_;
  // Per output queue: the times its last `output_queue_chunks` chunks left it (a ring).
  std::vector<std::vector<double>> out_left_;
  std::vector<uint64_t> out_count_;
  std::vector<sim::Counter*> port_bytes_in_, port_bytes_out_;
  std::vector<sim::Scalar*> port_util_;  // per port: in, out
  sim::Counter* reductions_;
  sim::Counter* contributions_;
  sim::Counter* contribution_bytes_;
  sim::Counter* multicast_bytes_;
  sim::EnergyAccount* energy_bit_ = nullptr;
};

// The SystemC wrapper: port i has a target socket `in[i]` (the endpoint's requests come
// in) and an initiator socket `out[i]` (requests for the endpoint go out). The
// destination port of a transaction comes from the decoder. Both sides use the
// approximately-timed base protocol (a blocking caller is adapted by the sockets).
//
// A write carrying a ReduceExtension is an in-network reduction contribution (see
// noc/reduce_extension.h): it is held in the reduction buffer until the last
// contribution of its (group, offset) arrives, then the sum is multicast to every
// member through the output queues (posted writes: the switch does not wait for the
// members' acknowledgements before taking more), and each member's semaphore is
// signalled once its whole piece has landed. The contributor is acknowledged when its
// burst is in the reduction unit (one link latency back; acknowledgements are not
// booked on the links). Partial sums are not computed on data: collectives are timed,
// not functionally modelled.
//
// A port whose package is reached from several NoC nodes (system.fabric.attach_nodes)
// has an out socket per node (`out[port * outs_per_port + i]`): the address picks the
// node, requests go to each node in order, one open request per node, so a node whose
// interface holds its END_REQ back does not hold back the others.
class SwitchFabric : public sc_core::sc_module {
 public:
  using Decoder = std::function<uint32_t(uint64_t addr)>;
  SwitchFabric(sc_core::sc_module_name name, const FabricConfig& cfg, uint32_t ports,
               Decoder decode, const sim::StatsScope& stats, sim::EnergyLedger* energy,
               uint32_t outs_per_port = 1, OutPicker out_of = nullptr);
  std::vector<std::unique_ptr<tlm_utils::simple_target_socket_tagged<SwitchFabric>>> in;
  std::vector<std::unique_ptr<tlm_utils::simple_initiator_socket_tagged<SwitchFabric>>> out;
  uint32_t outs_per_port() const { return outs_; }
  FabricCore& core() { return core_; }
  // Bytes a request or response header occupies on a fabric link.
  static constexpr uint32_t kHeaderBytes = 16;

 private:
  // Approximately-timed messages (no thread per request): taken at once, offered to
  // the destination package when they arrive there (one open request per port), the
  // response booked back and handed over when it arrives. A reduction contribution is
  // taken at once too; one that would open a new sum in a full reduction buffer waits
  // in the switch, off its link, until a sum completes (as a blocked sender would).
  tlm::tlm_sync_enum nb_fw(int port, tlm::tlm_generic_payload& trans, tlm::tlm_phase& ph,
                           sc_core::sc_time& delay);
  tlm::tlm_sync_enum nb_bw(int port, tlm::tlm_generic_payload& trans, tlm::tlm_phase& ph,
                           sc_core::sc_time& delay);
  void returned(tlm::tlm_generic_payload& trans);
  void answered(tlm::tlm_generic_payload& trans);
  struct Route {
    uint32_t src, dst;
  };
  sim::PtrMap<Route> routes_;  // AT messages in flight, by payload
  // The route of a payload in flight (every payload the fabric forwards has one).
  Route route_of(tlm::tlm_generic_payload& t) {
    const Route* r = routes_.find(&t);
    if (!r) throw sim::SimulationError("fabric: a payload it did not route came back");
    return *r;
  }
  std::vector<AtForward> fwd_;  // per out socket: into its package, in order
  uint32_t outs_ = 1;
  OutPicker out_of_;
  // The out socket of `port` that `addr` leaves by.
  uint32_t out_index(uint32_t port, uint64_t addr) const {
    return port * outs_ + pick_out(out_of_, addr, outs_);
  }
  sim::TimedQueue<tlm::tlm_generic_payload*> arrive_q_, return_q_;
  // AT contributions: admitted to the reduction buffer (booked on the link from then),
  // counted when they are in the reduction unit, acknowledged a link latency later.
  struct Contribution {
    uint32_t port;
    tlm::tlm_generic_payload* trans;
  };
  bool admit(const ReduceExtension& ext);
  void contribute_at(const Contribution& c);
  void contribution_in(Contribution& c);
  void sum_complete(const ReduceExtension& ext);
  uint32_t plane_of(const ReduceExtension& ext) const;  // the plane its chunk is striped on
  std::deque<Contribution> held_;                       // waiting for room in the reduction buffer
  sim::TimedQueue<Contribution> contrib_q_;
  // One copy of a multicast (or a member's semaphore signal) handed to a worker thread.
  struct Delivery {
    uint32_t port;
    double at_ps;  // when it reaches the port
    uint64_t addr;
    uint32_t bytes;
    std::shared_ptr<const ReduceGroup> group;
    uint32_t member;
    bool signal;  // a 4-byte semaphore add instead of result data
  };
  void dispatch(Delivery d);
  // Hands port's queued copies to workers while its window has room.
  void start_deliveries(uint32_t port);
  void worker_thread(sc_core::sc_event* ev);
  void deliver(Delivery& d, tlm::tlm_generic_payload& p, std::vector<uint8_t>& buf);

  FabricCore core_;
  Decoder decode_;
  // The reduction buffer: open sums by (group id, offset).
  struct Pending {
    uint32_t count = 0;
    std::vector<uint32_t> srcs;
  };
  std::map<std::pair<uint64_t, uint64_t>, Pending> open_;
  uint64_t held_bytes_ = 0, buffer_bytes_ = 0;
  // Bytes of each (group id, member) landed so far; signalled when complete.
  std::map<std::pair<uint64_t, uint32_t>, uint64_t> landed_;
  // Copies waiting for room in their port's delivery window, and the bytes of each
  // port's copies handed to the package but not yet acknowledged by it. The window is
  // one plane's output queue (output_queue_chunks x chunk_bytes): the link into the
  // package is credit-controlled, so a package that takes its copies slower than the
  // switch sends them leaves them queued in the switch instead of taking ever more
  // writes at once. (Without the bound, on gpu-like with several attach nodes, the
  // writes in flight, one worker thread each, ran the process out of memory maps.)
  std::vector<std::deque<Delivery>> waiting_;
  std::vector<uint64_t> in_flight_;
  uint64_t window_bytes_ = 0;
  // Delivery workers: started on demand, each sleeping on its own event when idle.
  std::deque<Delivery> jobs_;
  std::deque<sc_core::sc_event> worker_ev_;
  std::vector<sc_core::sc_event*> idle_;
  sim::Scalar* buffer_peak_;
};

}  // namespace tessera::noc
