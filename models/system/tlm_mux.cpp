#include "models/system/tlm_mux.h"

#include <stdexcept>

namespace tessera::system {

TlmMux::TlmMux(sc_core::sc_module_name name) : sc_module(name), in("in"), out("out") {
  in.register_nb_transport_fw(this, &TlmMux::fw);
  in.register_b_transport(this, &TlmMux::b_transport);
  out.register_nb_transport_bw(this, &TlmMux::bw);
  SC_HAS_PROCESS(TlmMux);
  SC_METHOD(next_method);
  sensitive << free_ev_;
  dont_initialize();
}

void TlmMux::b_transport(int, tlm::tlm_generic_payload& p, sc_core::sc_time& t) {
  out->b_transport(p, t);
}

tlm::tlm_sync_enum TlmMux::begin(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                 sc_core::sc_time& t) {
  open_ = &p;
  const tlm::tlm_sync_enum s = out->nb_transport_fw(p, ph, t);
  if (s == tlm::TLM_COMPLETED || (s == tlm::TLM_UPDATED && ph != tlm::BEGIN_REQ)) {
    // END_REQ (or the whole response) came back at once: the channel is free again.
    open_ = nullptr;
    if (s == tlm::TLM_COMPLETED) forget(&p);
    if (!waiting_.empty()) free_ev_.notify(t);
  }
  return s;
}

tlm::tlm_sync_enum TlmMux::fw(int id, tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                              sc_core::sc_time& t) {
  if (ph == tlm::BEGIN_REQ) {
    remember(&p, id);
    if (open_ || !waiting_.empty()) {
      waiting_.push_back(&p);  // END_REQ withheld until it goes downstream
      return tlm::TLM_ACCEPTED;
    }
    return begin(p, ph, t);
  }
  // END_RESP (and anything else) passes straight through.
  const tlm::tlm_sync_enum s = out->nb_transport_fw(p, ph, t);
  if (ph == tlm::END_RESP || s == tlm::TLM_COMPLETED) forget(&p);
  return s;
}

void TlmMux::next_method() {
  if (open_ || waiting_.empty()) return;
  tlm::tlm_generic_payload* p = waiting_.front();
  waiting_.pop_front();
  const int* owner = owner_of(p);
  if (!owner) throw std::out_of_range("TlmMux: a queued request without its initiator");
  const int id = *owner;
  tlm::tlm_phase ph = tlm::BEGIN_REQ;
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  const tlm::tlm_sync_enum s = begin(*p, ph, t);
  if (s == tlm::TLM_ACCEPTED) return;  // END_REQ will come on bw and be passed on
  // Tell the waiting initiator its request was taken (and maybe answered).
  tlm::tlm_phase up = ph;
  sc_core::sc_time ut = t;
  if (s == tlm::TLM_COMPLETED) {
    up = tlm::BEGIN_RESP;
    const tlm::tlm_sync_enum r = in[id]->nb_transport_bw(*p, up, ut);
    (void)r;
    return;
  }
  const tlm::tlm_sync_enum r = in[id]->nb_transport_bw(*p, up, ut);
  if (r == tlm::TLM_COMPLETED && ph == tlm::BEGIN_RESP) {
    // The initiator finished the response in its bw call: pass END_RESP downstream.
    tlm::tlm_phase end = tlm::END_RESP;
    sc_core::sc_time et = sc_core::SC_ZERO_TIME;
    out->nb_transport_fw(*p, end, et);
    forget(p);
  }
}

tlm::tlm_sync_enum TlmMux::bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                              sc_core::sc_time& t) {
  const int* owner = owner_of(&p);
  if (!owner) return tlm::TLM_COMPLETED;  // not ours (cannot happen)
  const int id = *owner;
  if (open_ == &p && (ph == tlm::END_REQ || ph == tlm::BEGIN_RESP)) {
    open_ = nullptr;
    if (!waiting_.empty()) free_ev_.notify(t);
  }
  const tlm::tlm_sync_enum s = in[id]->nb_transport_bw(p, ph, t);
  if (s == tlm::TLM_COMPLETED || ph == tlm::END_RESP) forget(&p);
  return s;
}

}  // namespace tessera::system
