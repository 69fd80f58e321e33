// Test helpers for the approximately-timed forwarding of links and the fabric: a slow
// memory (one request at a time per socket) and an initiator that opens many requests
// at once.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

namespace tessera::testing {

// A memory that takes 100 ns per request (b_transport, so its socket holds the request
// phase open that long: one request at a time per socket).
struct SlowMemory : sc_core::sc_module {
  tlm_utils::simple_target_socket<SlowMemory> socket{"socket"};
  std::vector<uint64_t> addrs;
  explicit SlowMemory(sc_core::sc_module_name n) : sc_module(n) {
    socket.register_b_transport(this, &SlowMemory::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& t, sc_core::sc_time& d) {
    sc_core::wait(d + sc_core::sc_time(100, sc_core::SC_NS));
    d = sc_core::SC_ZERO_TIME;
    addrs.push_back(t.get_address());
    t.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};
// Issues `n` 64-byte writes at t = 0, approximately timed, addresses alternating
// between two 4 KiB regions, and records when each response came back.
struct AtSender : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<AtSender> socket{"socket"};
  std::vector<tlm::tlm_generic_payload> t;
  std::vector<unsigned char> data = std::vector<unsigned char>(64);
  std::vector<uint64_t> done_ps;
  SC_HAS_PROCESS(AtSender);
  AtSender(sc_core::sc_module_name nm, int n) : sc_module(nm), t(size_t(n)) {
    socket.register_nb_transport_bw(this, &AtSender::bw);
    SC_THREAD(run);
  }
  void run() {
    for (size_t i = 0; i < t.size(); ++i) {
      t[i].set_command(tlm::TLM_WRITE_COMMAND);
      t[i].set_address((i % 2) * 4096 + (i / 2) * 64);
      t[i].set_data_ptr(data.data());
      t[i].set_data_length(64);
      tlm::tlm_phase ph = tlm::BEGIN_REQ;
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      REQUIRE(socket->nb_transport_fw(t[i], ph, d) == tlm::TLM_UPDATED);  // END_REQ at once
    }
  }
  tlm::tlm_sync_enum bw(tlm::tlm_generic_payload&, tlm::tlm_phase& ph, sc_core::sc_time&) {
    if (ph == tlm::BEGIN_RESP) done_ps.push_back(sc_core::sc_time_stamp().value());
    ph = tlm::END_RESP;
    return tlm::TLM_COMPLETED;
  }
};

// The out socket an AtSender's address goes to: its 4 KiB region, alternating.
inline uint32_t region_of(uint64_t addr, uint32_t n) {
  return uint32_t(addr / 4096 % n);
}

// An AtSender's 8 writes arrived at the memories of the two regions, 4 each, in the
// order sent.
inline void check_regions_in_order(const SlowMemory& first, const SlowMemory& second) {
  REQUIRE(first.addrs.size() == 4);
  REQUIRE(second.addrs.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(first.addrs[i] == i * 64);
    CHECK(second.addrs[i] == 4096 + i * 64);
  }
}

}  // namespace tessera::testing
