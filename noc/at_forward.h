// The initiator side of the approximately-timed base protocol for a block that hands
// requests on (a die-to-die link into the far chiplet, a fabric port into the
// destination package): requests go out in order through one socket, at most one open
// (BEGIN_REQ without its END_REQ) at a time, so the target's END_REQ is the
// backpressure and the rest wait here. Responses are taken at once.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include <systemc>
#include <tlm>

namespace tessera::noc {

// Which of `n` out sockets a request for `addr` leaves by, where a link end or fabric
// port reaches its network through several attach nodes (an AtForward each).
using OutPicker = std::function<uint32_t(uint64_t addr, uint32_t n)>;
inline uint32_t pick_out(const OutPicker& pick, uint64_t addr, uint32_t n) {
  return n == 1 ? 0 : pick(addr, n);
}

class AtForward {
 public:
  // Sends BEGIN_REQ on the socket; called with (payload, phase, delay).
  using Fw = std::function<tlm::tlm_sync_enum(tlm::tlm_generic_payload&, tlm::tlm_phase&,
                                              sc_core::sc_time&)>;
  // Told of each response (its BEGIN_RESP, or a request completed in one call).
  using Answered = std::function<void(tlm::tlm_generic_payload&)>;
  // Told when the target has taken a request (its END_REQ, or a response that ends the
  // request phase too); optional.
  using Taken = std::function<void(tlm::tlm_generic_payload&)>;

  AtForward(Fw fw, Answered answered, Taken taken = nullptr)
      : fw_(std::move(fw)), answered_(std::move(answered)), taken_(std::move(taken)) {}

  void push(tlm::tlm_generic_payload& p) {
    q_.push_back(&p);
    pump();
  }
  // The target's backward call on the socket.
  tlm::tlm_sync_enum bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph) {
    if (ph != tlm::END_REQ && ph != tlm::BEGIN_RESP) return tlm::TLM_ACCEPTED;
    if (open_ == &p) {
      open_ = nullptr;  // BEGIN_RESP ends the request phase too
      if (taken_) taken_(p);
    }
    const bool resp = ph == tlm::BEGIN_RESP;
    if (resp) answered_(p);
    pump();
    if (!resp) return tlm::TLM_ACCEPTED;
    ph = tlm::END_RESP;
    return tlm::TLM_COMPLETED;
  }

 private:
  void pump() {
    while (!open_ && !q_.empty()) {
      tlm::tlm_generic_payload& p = *q_.front();
      q_.pop_front();
      open_ = &p;
      tlm::tlm_phase ph = tlm::BEGIN_REQ;
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      const tlm::tlm_sync_enum s = fw_(p, ph, d);
      if (s == tlm::TLM_ACCEPTED) continue;  // END_REQ (or BEGIN_RESP) comes on bw
      if (open_ == &p) {                     // (a nested bw may have opened another)
        open_ = nullptr;
        if (taken_) taken_(p);
      }
      if (s == tlm::TLM_UPDATED && ph == tlm::BEGIN_RESP) {
        answered_(p);
        tlm::tlm_phase end = tlm::END_RESP;
        sc_core::sc_time ed = sc_core::SC_ZERO_TIME;
        fw_(p, end, ed);
      } else if (s == tlm::TLM_COMPLETED) {
        answered_(p);
      }
    }
  }

  Fw fw_;
  Answered answered_;
  Taken taken_;
  std::deque<tlm::tlm_generic_payload*> q_;
  tlm::tlm_generic_payload* open_ = nullptr;
};

}  // namespace tessera::noc
