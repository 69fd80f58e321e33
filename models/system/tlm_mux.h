// Interconnect glue at a NoC node: several initiators (a tile's two DMA engines, the
// inbound side of die-to-die or fabric links) share the node's one network-interface
// socket. Approximately-timed traffic keeps the base protocol's request exclusion:
// while one BEGIN_REQ waits for its END_REQ, the others queue here (that is the
// node's backpressure); responses go back to whoever sent the request.
#pragma once

#include <cstdint>
#include <deque>
#include <stdexcept>
#include <vector>

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
  // The initiator that sends the `count` payloads from `first` on (a DMA engine's own
  // pool, which it alone sends): their initiator is known by address, with no per-
  // transaction map entry (the map's probe was a cache miss per response).
  void own_payloads(const tlm::tlm_generic_payload* first, size_t count) {
    pools_.push_back({first, first + count, -1});
  }

 private:
  tlm::tlm_sync_enum fw(int id, tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                        sc_core::sc_time& t);
  tlm::tlm_sync_enum bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time& t);
  void b_transport(int id, tlm::tlm_generic_payload& p, sc_core::sc_time& t);
  // Forwards one request downstream; returns what the caller of fw should get.
  tlm::tlm_sync_enum begin(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time& t);
  void next_method();  // forwards the oldest queued request once the channel is free

  struct Pool {
    const tlm::tlm_generic_payload* first;
    const tlm::tlm_generic_payload* end;
    int id;  // the socket it comes in on, learnt from its first request (-1: none yet)
  };
  // The registered pool that holds `p`, or nullptr (compared as addresses: pointers
  // into different objects do not compare with < in C++).
  Pool* pool_of(const tlm::tlm_generic_payload* p) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    for (Pool& q : pools_)
      if (a >= reinterpret_cast<uintptr_t>(q.first) && a < reinterpret_cast<uintptr_t>(q.end))
        return &q;
    return nullptr;
  }
  // The initiator that sent `p` (nullptr: unknown); forget() drops a map entry.
  const int* owner_of(const tlm::tlm_generic_payload* p) {
    if (const Pool* q = pool_of(p)) return q->id >= 0 ? &q->id : nullptr;
    return owner_.find(p);
  }
  void remember(const tlm::tlm_generic_payload* p, int id) {
    Pool* q = pool_of(p);
    if (!q) {
      owner_.set(p, id);
      return;
    }
    if (q->id >= 0 && q->id != id)
      throw std::logic_error("TlmMux: a payload pool sent through two sockets");
    q->id = id;
  }
  void forget(const tlm::tlm_generic_payload* p) {
    if (!pool_of(p)) owner_.erase(p);
  }
  std::vector<Pool> pools_;
  sim::PtrMap<int> owner_;  // other payloads; looked up, never iterated
  std::deque<tlm::tlm_generic_payload*> waiting_;
  tlm::tlm_generic_payload* open_ = nullptr;  // BEGIN_REQ sent downstream, no END_REQ yet
  sc_core::sc_event free_ev_;
};

}  // namespace tessera::system
