// An HBM stack as a SystemC module: one TLM-2.0 target socket (approximately-timed
// base protocol, BEGIN_REQ/END_REQ/BEGIN_RESP/END_RESP; b_transport accepted too) in
// front of the plain-C++ HbmStackCore, in the stack's own clock domain.
//
// Backpressure: END_REQ is withheld while the stack's transaction queue
// (controller.transaction_queue) is full; it drains into the pseudo-channel queues. A request must
// lie in [base, base + capacity) and be a multiple of the access granularity; otherwise it
// completes at once with TLM_ADDRESS_ERROR_RESPONSE / TLM_BURST_ERROR_RESPONSE (and counts in
// `rejected`). Timing only: payload data is not stored.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>

#include <tlm_utils/peq_with_cb_and_phase.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include "models/memory/hbm_config.h"
#include "models/memory/hbm_stack_core.h"
#include "models/sim/clock_domain.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"

namespace tessera::memory {

class HbmStack : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<HbmStack> socket;

  HbmStack(sc_core::sc_module_name name, const HbmConfig& cfg, const sim::StatsScope& scope,
           sim::EnergyLedger& energy, uint64_t base);
  SC_HAS_PROCESS(HbmStack);

  uint64_t base() const { return base_; }
  uint64_t capacity_bytes() const { return core_.capacity_bytes(); }
  double peak_gbps() const { return core_.peak_gbps(); }
  uint32_t access_bytes() const { return core_.access_bytes(); }
  const sim::ClockDomain& clock() const { return clock_; }
  HbmStackCore& core() { return core_; }

  // Addresses from `region` on belong to an interleaved region of several stacks:
  // `local` gives the offset in this stack of a request (address, length), or kNever
  // when it is not wholly in this stack. Below `region`, the offset is address - base.
  void set_interleaved(uint64_t region, std::function<uint64_t(uint64_t, uint64_t)> local) {
    ilv_region_ = region;
    ilv_local_ = std::move(local);
  }

  // End-of-run derived stats (bandwidth, latency in ns, background energy) for a run
  // that lasted `sim_time` (normally sc_time_stamp() at the end).
  void publish_stats(const sc_core::sc_time& sim_time);

 private:
  tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& t, tlm::tlm_phase& ph,
                                     sc_core::sc_time& delay);
  void b_transport(tlm::tlm_generic_payload& t, sc_core::sc_time& delay);
  void peq_cb(tlm::tlm_generic_payload& t, const tlm::tlm_phase& ph);
  void run();                  // SC_METHOD: advances the core to the current clock
  void send_responses();       // SC_METHOD
  uint64_t cycle_now() const;  // first clock edge at or after the current time
  void try_accept();
  void schedule_wake();
  bool reject_if_bad(tlm::tlm_generic_payload& t);
  uint64_t local(uint64_t addr, uint64_t len) const {
    return addr >= ilv_region_ ? ilv_local_(addr, len) : addr < base_ ? kNever : addr - base_;
  }

  sim::ClockDomain clock_;
  HbmStackCore core_;
  uint64_t base_;
  uint64_t ilv_region_ = kNever;
  std::function<uint64_t(uint64_t, uint64_t)> ilv_local_;
  tlm_utils::peq_with_cb_and_phase<HbmStack> peq_;
  sc_core::sc_event wake_event_;
  sc_core::sc_event resp_event_;
  // b_transport callers waiting for transaction-queue space, oldest first: only the
  // oldest is woken when space frees (no herd of wake-ups, no starvation).
  std::deque<sc_core::sc_event*> accept_waiters_;
  void wake_next_acceptor();
  tlm::tlm_generic_payload* pending_req_ = nullptr;  // waiting for queue space
  std::deque<tlm::tlm_generic_payload*> responses_;
  bool resp_busy_ = false;  // BEGIN_RESP sent, END_RESP not yet received
  std::unordered_map<uint64_t, sc_core::sc_event*> blocking_;  // b_transport callers by tag
  uint64_t next_btag_ = 1;
  sim::Counter& rejected_;
};

}  // namespace tessera::memory
