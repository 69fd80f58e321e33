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
#include <functional>
#include <memory>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "noc/noc_config.h"

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
  // Per output queue: the times its last `output_queue_chunks` chunks left it (a ring).
  std::vector<std::vector<double>> out_left_;
  std::vector<uint64_t> out_count_;
  std::vector<sim::Counter*> port_bytes_in_, port_bytes_out_;
  sim::Counter* reductions_;
  sim::EnergyAccount* energy_bit_ = nullptr;
};

// The SystemC wrapper: port i has a target socket `in[i]` (the endpoint's requests come
// in) and an initiator socket `out[i]` (requests for the endpoint go out). The
// destination port of a transaction comes from the decoder.
class SwitchFabric : public sc_core::sc_module {
 public:
  using Decoder = std::function<uint32_t(uint64_t addr)>;
  SwitchFabric(sc_core::sc_module_name name, const FabricConfig& cfg, uint32_t ports,
               Decoder decode, const sim::StatsScope& stats, sim::EnergyLedger* energy);
  std::vector<std::unique_ptr<tlm_utils::simple_target_socket_tagged<SwitchFabric>>> in;
  std::vector<std::unique_ptr<tlm_utils::simple_initiator_socket_tagged<SwitchFabric>>> out;
  FabricCore& core() { return core_; }
  // Bytes a request or response header occupies on a fabric link.
  static constexpr uint32_t kHeaderBytes = 16;

 private:
  void b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  FabricCore core_;
  Decoder decode_;
};

}  // namespace tessera::noc
