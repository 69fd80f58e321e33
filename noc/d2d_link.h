// A UCIe-style die-to-die link between gateway endpoints of two chiplets' networks:
// per direction `lanes` x `gbps_per_lane`, a fixed latency, and data carried in link
// flits of flit_payload_bytes plus flit_overhead_bytes (header/CRC). Each direction is
// a FIFO serialiser: a transaction's data flits go on the wire after everything booked
// before them (commands and completions are interleaved, see book()). Side A's target socket takes
// transactions bound for side B (delivered through b_out), and the other way round; responses
// return on the reverse direction.
//
// The link is an approximately-timed target and initiator (a blocking caller is
// adapted by the TLM sockets, on both sides): a request is taken (END_REQ) while the
// direction's buffer (buffer_bytes: transmit queue, wire and receive queue under credit
// flow control) has room, else it waits, END_REQ held, and the sending network keeps the
// requests behind it in its queue for that endpoint (unbounded: the routers are not held
// back); it is booked on the wire when taken, offered to the far side's network
// when its last bit arrives, one open request per direction as the base protocol asks (the
// far side's backpressure holds the others here), and its bytes' credit returns latency_ns
// after the far network takes it. Its response is booked on the reverse direction and
// handed back when it arrives (responses take no credit: the networks take them at once).
// No thread waits per request.
//
// A link end reached from several NoC nodes (package.d2d.attach_nodes) has one out
// socket per node: a request is offered to the node its address picks, in order per
// node, one open request per node and direction, so a node whose interface holds its
// END_REQ back does not hold back the requests for the others (as a PHY feeding
// several NoC ports through separate queues).
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

#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "models/sim/timed_queue.h"
#include "noc/at_forward.h"
#include "noc/noc_config.h"

namespace tessera::noc {

class D2dLink : public sc_core::sc_module {
 public:
  // a_ports / b_ports: out sockets on side A / B (the NoC nodes its end is reached
  // from); port_of picks one (needed when either has more than one).
  D2dLink(sc_core::sc_module_name name, const D2dConfig& cfg, const sim::StatsScope& stats,
          sim::EnergyLedger* energy, uint32_t a_ports = 1, uint32_t b_ports = 1,
          OutPicker port_of = nullptr);
  tlm_utils::simple_target_socket_tagged<D2dLink> a_in, b_in;
  // Out sockets of side A (requests that crossed B->A) and of side B.
  std::vector<std::unique_ptr<tlm_utils::simple_initiator_socket_tagged<D2dLink>>> a_out, b_out;

  // Link flits and wire time of a message of `bytes` payload bytes.
  uint64_t flits_for(uint64_t bytes) const;
  double wire_ps(uint64_t bytes) const;
  // Books a message on direction dir (0: A->B, 1: B->A) no earlier than t_ps; returns
  // the time its last bit arrived on the far side. A control message (a read request,
  // a write completion) is interleaved with data at flit granularity, so it does not
  // wait for the messages booked ahead of it; its flits still take their wire time,
  // from the data booked after it.
  double book(int dir, uint64_t bytes, double t_ps, bool control = false);
  // Bytes a read request or a write response carries (a command / completion).
  static constexpr uint32_t kCommandBytes = 8;
  // Writes per-direction utilisation over the elapsed time.
  void publish(double elapsed_ps);

 private:
  // AT: requests in on side `side` (0: a_in) cross in direction `side`.
  tlm::tlm_sync_enum nb_fw(int side, tlm::tlm_generic_payload& trans, tlm::tlm_phase& ph,
                           sc_core::sc_time& delay);
  // AT: the far side's answers on out socket `tag` = dir * kMaxPorts + port of
  // direction `dir` (0: b_out).
  tlm::tlm_sync_enum nb_bw(int tag, tlm::tlm_generic_payload& trans, tlm::tlm_phase& ph,
                           sc_core::sc_time& delay);
  static constexpr int kMaxPorts = 1 << 16;
  // Bytes a request takes on the wire and in the buffer: a write's data, a read's command.
  static uint64_t request_bytes(const tlm::tlm_generic_payload& t) {
    return t.is_write() ? t.get_data_length() : kCommandBytes;
  }
  bool fits(int dir, uint64_t bytes) const {
    return cfg_.buffer_bytes == 0 || held_[dir] == 0 || held_[dir] + bytes <= cfg_.buffer_bytes;
  }
  // Takes a request into direction `dir` at t_ps: books it, holds its bytes.
  void take(int dir, tlm::tlm_generic_payload& trans, double t_ps);
  void credit_back(int dir, uint64_t bytes);
  void answered(int dir, tlm::tlm_generic_payload& trans);  // the far side responded
  void returned(int dir, tlm::tlm_generic_payload& trans);  // the response is back
  tlm_utils::simple_target_socket_tagged<D2dLink>& in_of(int side) {
    return side == 0 ? a_in : b_in;
  }
  // Per direction and far-side out socket: what arrived, handed to the network in order.
  std::vector<AtForward> fwd_[2];
  OutPicker port_of_;
  struct Hop {
    int dir;
    tlm::tlm_generic_payload* trans;
  };
  sim::TimedQueue<Hop> arrive_q_, return_q_;
  struct Credit {
    int dir;
    uint64_t bytes;
  };
  sim::TimedQueue<Credit> credit_q_;
  uint64_t held_[2] = {0, 0};                         // buffer bytes in use
  std::deque<tlm::tlm_generic_payload*> waiting_[2];  // requests not yet taken, in order
  D2dConfig cfg_;
  double ps_per_byte_;
  double free_[2] = {0, 0};
  double busy_ps_[2] = {0, 0};
  sim::Counter* bytes_[2];
  sim::Counter* flits_[2];
  sim::Counter* stalls_[2];
  sim::Scalar* util_[2];
  sim::EnergyAccount* energy_bit_ = nullptr;
};

}  // namespace tessera::noc
