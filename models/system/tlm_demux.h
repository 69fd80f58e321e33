// Interconnect glue at a NoC node: requests the network delivers to this node go to
// one of the node's targets (the tile's scratchpad port, an HBM stack, the outbound
// side of a die-to-die or fabric link), chosen by a routing function of the address.
// Blocking calls pass through; so do approximately-timed ones (forward path routed by
// address, backward path returned to the one initiator), for targets that take them.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

namespace tessera::system {

class TlmDemux : public sc_core::sc_module {
 public:
  using Route = std::function<int(uint64_t addr)>;  // port index, or -1: no target
  tlm_utils::simple_target_socket<TlmDemux> in;
  std::vector<std::unique_ptr<tlm_utils::simple_initiator_socket_tagged<TlmDemux>>> out;

  TlmDemux(sc_core::sc_module_name name, size_t ports, Route route);

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& t);
  tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                     sc_core::sc_time& t);
  tlm::tlm_sync_enum nb_transport_bw(int port, tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                     sc_core::sc_time& t);
  Route route_;
};

}  // namespace tessera::system
