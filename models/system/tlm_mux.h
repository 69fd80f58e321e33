// Interconnect glue at a NoC node: several initiators (a tile's two DMA engines, the
// inbound side of die-to-die or fabric links) share the node's one network-interface
// socket. Approximately-timed traffic keeps the base protocol's request exclusion:
// while one BEGIN_REQ waits for its END_REQ, the others queue here (that is the
// node's backpressure); responses go back to whoever sent the request.
#pragma once

#include <deque>

#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <systemc>
#include <tlm>

#include "models/sim/ptr_map.h"

namespace tessera::system {

class TlmMux : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<TlmMux> in;
  tlm_utils::simple_initiator_socket<TlmMux> out;

  explicit TlmMux(sc_core::sc_module_name name);

 private:
  tlm::tlm_sync_enum fw(int id, tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                        sc_core::sc_time& t);
  tlm::tlm_sync_enum bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time& t);
  void b_transport(int id, tlm::tlm_generic_payload& p, sc_core::sc_time& t);
  // Forwards one request downstream; returns what the caller of fw should get.
  tlm::tlm_sync_enum begin(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time& t);
  void next_method();  // forwards the oldest queued request once the channel is free

  sim::PtrMap<int> owner_;  // by payload; looked up, never iterated
  std::deque<tlm::tlm_generic_payload*> waiting_;
  tlm::tlm_generic_payload* open_ = nullptr;  // BEGIN_REQ sent downstream, no END_REQ yet
  sc_core::sc_event free_ev_;
};

}  // namespace tessera::system
