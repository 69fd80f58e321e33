#include "models/system/tlm_demux.h"

namespace tessera::system {

TlmDemux::TlmDemux(sc_core::sc_module_name name, size_t ports, Route route)
    : sc_module(name), in("in"), route_(std::move(route)) {
  in.register_b_transport(this, &TlmDemux::b_transport);
  in.register_nb_transport_fw(this, &TlmDemux::nb_transport_fw);
  for (size_t i = 0; i < ports; ++i) {
    out.push_back(std::make_unique<tlm_utils::simple_initiator_socket_tagged<TlmDemux>>(
        sc_core::sc_gen_unique_name("out")));
    out.back()->register_nb_transport_bw(this, &TlmDemux::nb_transport_bw, int(i));
  }
}

tlm::tlm_sync_enum TlmDemux::nb_transport_fw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                             sc_core::sc_time& t) {
  const int port = route_(p.get_address());
  if (port < 0 || size_t(port) >= out.size()) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return tlm::TLM_COMPLETED;
  }
  return (*out[size_t(port)])->nb_transport_fw(p, ph, t);
}

tlm::tlm_sync_enum TlmDemux::nb_transport_bw(int, tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                             sc_core::sc_time& t) {
  return in->nb_transport_bw(p, ph, t);
}

void TlmDemux::b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& t) {
  const int port = route_(p.get_address());
  if (port < 0 || size_t(port) >= out.size()) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  (*out[size_t(port)])->b_transport(p, t);
}

}  // namespace tessera::system
