#include "models/memory/hbm_stack.h"

namespace tessera::memory {

using namespace sc_core;

HbmStack::HbmStack(sc_module_name name, const HbmConfig& cfg, const sim::StatsScope& scope,
                   sim::EnergyLedger& energy, uint64_t base)
    : sc_module(name),
      socket("socket"),
      clock_(sim::ClockDomain::from_mhz(std::string(name) + ".clk", cfg.timing.clock_mhz)),
      core_(cfg, scope, energy),
      base_(base),
      peq_(this, &HbmStack::peq_cb),
      rejected_(scope.counter("rejected", "requests",
                              "requests refused: outside the stack or not a whole number of "
                              "accesses")) {
  socket.register_nb_transport_fw(this, &HbmStack::nb_transport_fw);
  socket.register_b_transport(this, &HbmStack::b_transport);
  SC_METHOD(run);
  sensitive << wake_event_;
  dont_initialize();
  SC_METHOD(send_responses);
  sensitive << resp_event_;
  dont_initialize();
}

uint64_t HbmStack::cycle_now() const {
  const sim::Picoseconds now = sim::Picoseconds::from_sc(sc_time_stamp());
  sim::Cycles c = clock_.cycles_at(now);
  if (clock_.edge_ps(c).v < now.v) c = c + sim::Cycles(1);
  return c.v;
}

void HbmStack::schedule_wake() {
  const uint64_t t = core_.next_event();
  if (t == kNever) return;
  const uint64_t at = clock_.edge_ps(sim::Cycles(t)).v;
  const uint64_t now = sc_time_stamp().value();
  wake_event_.notify(sc_time::from_value(at > now ? at - now : 0));
}

tlm::tlm_sync_enum HbmStack::nb_transport_fw(tlm::tlm_generic_payload& t, tlm::tlm_phase& ph,
                                             sc_time& delay) {
  peq_.notify(t, ph, delay);
  delay = SC_ZERO_TIME;
  return tlm::TLM_ACCEPTED;
}

bool HbmStack::reject_if_bad(tlm::tlm_generic_payload& t) {
  const uint64_t off = local(t.get_address(), t.get_data_length());
  const uint64_t len = t.get_data_length();
  if (off == kNever || !core_.check_request(off, len).empty()) {
    const bool range_ok =
        off != kNever && off < core_.capacity_bytes() && len <= core_.capacity_bytes() - off;
    t.set_response_status(range_ok ? tlm::TLM_BURST_ERROR_RESPONSE
                                   : tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ++rejected_;
    return true;
  }
  return false;
}

void HbmStack::peq_cb(tlm::tlm_generic_payload& t, const tlm::tlm_phase& ph) {
  if (ph == tlm::BEGIN_REQ) {
    if (reject_if_bad(t)) {
      tlm::tlm_phase p = tlm::END_REQ;
      sc_time d = SC_ZERO_TIME;
      socket->nb_transport_bw(t, p, d);
      responses_.push_back(&t);
      resp_event_.notify(SC_ZERO_TIME);
      return;
    }
    if (t.has_mm()) t.acquire();
    pending_req_ = &t;
    try_accept();
  } else if (ph == tlm::END_RESP) {
    resp_busy_ = false;
    if (t.has_mm()) t.release();
    resp_event_.notify(SC_ZERO_TIME);
  }
}

void HbmStack::try_accept() {
  if (!pending_req_ || !core_.can_submit()) return;
  tlm::tlm_generic_payload& t = *pending_req_;
  pending_req_ = nullptr;
  const uint64_t now = std::max(cycle_now(), core_.now());
  core_.submit(local(t.get_address(), t.get_data_length()), t.get_data_length(), t.is_write(),
               reinterpret_cast<uint64_t>(&t), now);
  // In the transaction queue: the request is accepted.
  tlm::tlm_phase p = tlm::END_REQ;
  sc_time d = SC_ZERO_TIME;
  socket->nb_transport_bw(t, p, d);
  schedule_wake();
}

void HbmStack::run() {
  core_.advance(cycle_now());
  auto& done = core_.completions();
  for (const auto& c : done) {
    auto it = blocking_.find(c.tag);
    if (it != blocking_.end()) {
      it->second->notify(SC_ZERO_TIME);
      blocking_.erase(it);
      continue;
    }
    auto* t = reinterpret_cast<tlm::tlm_generic_payload*>(c.tag);
    t->set_response_status(tlm::TLM_OK_RESPONSE);
    responses_.push_back(t);
  }
  if (!done.empty()) resp_event_.notify(SC_ZERO_TIME);
  done.clear();
  if (core_.can_submit()) {
    try_accept();
    wake_next_acceptor();
  }
  schedule_wake();
}

void HbmStack::send_responses() {
  while (!resp_busy_ && !responses_.empty()) {
    tlm::tlm_generic_payload* t = responses_.front();
    responses_.pop_front();
    tlm::tlm_phase p = tlm::BEGIN_RESP;
    sc_time d = SC_ZERO_TIME;
    const tlm::tlm_sync_enum r = socket->nb_transport_bw(*t, p, d);
    const bool own = t->get_response_status() == tlm::TLM_OK_RESPONSE;
    if (r == tlm::TLM_COMPLETED || (r == tlm::TLM_UPDATED && p == tlm::END_RESP)) {
      if (own && t->has_mm()) t->release();
      continue;
    }
    resp_busy_ = true;
    if (!own && t->has_mm()) t->acquire();  // released on END_RESP like the others
  }
}

void HbmStack::b_transport(tlm::tlm_generic_payload& t, sc_time& delay) {
  wait(delay);
  delay = SC_ZERO_TIME;
  if (reject_if_bad(t)) return;
  if (pending_req_ || !core_.can_submit() || !accept_waiters_.empty()) {
    sc_event space;
    accept_waiters_.push_back(&space);
    while (accept_waiters_.front() != &space || pending_req_ || !core_.can_submit()) wait(space);
    accept_waiters_.pop_front();
  }
  sc_event done;
  const uint64_t tag = (next_btag_++ << 1) | 1;  // odd: never a payload address
  blocking_[tag] = &done;
  core_.submit(local(t.get_address(), t.get_data_length()), t.get_data_length(), t.is_write(), tag,
               std::max(cycle_now(), core_.now()));
  schedule_wake();
  wake_next_acceptor();
  wait(done);
  t.set_response_status(tlm::TLM_OK_RESPONSE);
}

void HbmStack::wake_next_acceptor() {
  if (!accept_waiters_.empty() && !pending_req_ && core_.can_submit())
    accept_waiters_.front()->notify(SC_ZERO_TIME);
}

void HbmStack::publish_stats(const sc_time& sim_time) {
  core_.publish(clock_.cycles_at(sim::Picoseconds::from_sc(sim_time)).v);
}

}  // namespace tessera::memory
