// The SystemC/TLM wrapper: AT base protocol timing, backpressure, b_transport, errors.
#include <catch2/catch.hpp>

#include <tlm_utils/simple_initiator_socket.h>

#include "models/memory/hbm_stack.h"
#include "testbench/elaboration_guard.h"
#include "testbench/memory/hbm_test_util.h"

using namespace tessera;
using namespace tessera::memory;
using namespace sc_core;

namespace {
struct Initiator : sc_module {
  tlm_utils::simple_initiator_socket<Initiator> socket;
  std::vector<tlm::tlm_generic_payload*> trans;
  std::vector<sc_time> end_req, begin_resp;
  std::vector<uint64_t> addrs;
  sc_event end_req_ev;
  SC_HAS_PROCESS(Initiator);
  explicit Initiator(sc_module_name n) : sc_module(n), socket("socket") {
    socket.register_nb_transport_bw(this, &Initiator::bw);
    SC_THREAD(go);
  }
  tlm::tlm_sync_enum bw(tlm::tlm_generic_payload& t, tlm::tlm_phase& ph, sc_time&) {
    const size_t i = size_t(std::find(trans.begin(), trans.end(), &t) - trans.begin());
    if (ph == tlm::END_REQ) {
      end_req[i] = sc_time_stamp();
      end_req_ev.notify();
      return tlm::TLM_ACCEPTED;
    }
    begin_resp[i] = sc_time_stamp();
    ph = tlm::END_RESP;
    return tlm::TLM_COMPLETED;
  }
  void go() {
    for (size_t i = 0; i < addrs.size(); ++i) {
      auto* t = new tlm::tlm_generic_payload();
      t->set_command(tlm::TLM_READ_COMMAND);
      t->set_address(addrs[i]);
      t->set_data_length(32);
      t->set_data_ptr(nullptr);
      trans.push_back(t);
      end_req.push_back(SC_ZERO_TIME);
      begin_resp.push_back(SC_ZERO_TIME);
      tlm::tlm_phase ph = tlm::BEGIN_REQ;
      sc_time d = SC_ZERO_TIME;
      const auto r = socket->nb_transport_fw(*t, ph, d);
      if (!(r == tlm::TLM_UPDATED && ph == tlm::END_REQ)) wait(end_req_ev);
    }
  }
};
}  // namespace

TEST_CASE("hbm stack: an idle read through TLM takes tRCD + tCL + BL/2 clocks", "[unit]") {
  TESSERA_ONE_ELABORATION();
  sim::StatsRegistry reg;
  sim::EnergyLedger energy;
  const uint64_t base = 1ull << 40;
  HbmStack stack("hbm0", test::quiet_hbm3("read_queue: 1, transaction_queue: 1"),
                 sim::StatsScope(reg, "hbm0"), energy, base);
  Initiator init("init");
  init.socket.bind(stack.socket);
  test::Harness probe(test::quiet_hbm3());
  // Three reads to one pseudo-channel (queue depth 1).
  for (uint32_t col = 0; col < 3; ++col)
    init.addrs.push_back(base + probe.addr(0, 0, 0, 0, 0, col));
  sc_start(10, SC_US);
  const double tck = 625.0;  // ps at 1.6 GHz
  // tRCD (31) + tCL (20) + tBL (2) = 53 clocks
  CHECK(init.begin_resp[0] == sc_time(53 * tck, SC_PS));
  CHECK(init.end_req[0] == SC_ZERO_TIME);
  // Backpressure: with one-entry queues the second request waits in the transaction
  // queue for the first to leave the read queue (its RD at 31), so the third request's
  // END_REQ comes at clock 31.
  CHECK(init.end_req[1] == SC_ZERO_TIME);
  CHECK(init.end_req[2] == sc_time(31 * tck, SC_PS));
  CHECK(init.begin_resp[1] > init.begin_resp[0]);
  stack.publish_stats(sc_time_stamp());
  CHECK(reg.value("hbm0.reads") == 3);
  CHECK(reg.value("hbm0.bandwidth") > 0);
  CHECK(energy.total_pj_under("hbm0") > 0);
}

TEST_CASE("hbm stack: b_transport works and bad addresses get an error response", "[unit]") {
  TESSERA_ONE_ELABORATION();
  sim::StatsRegistry reg;
  sim::EnergyLedger energy;
  HbmStack stack("hbm0", test::quiet_hbm3(), sim::StatsScope(reg, "hbm0"), energy, 0);
  struct Blocking : sc_module {
    tlm_utils::simple_initiator_socket<Blocking> socket;
    uint64_t cap;
    sc_time done;
    tlm::tlm_response_status beyond = tlm::TLM_INCOMPLETE_RESPONSE,
                             ragged = tlm::TLM_INCOMPLETE_RESPONSE,
                             ok = tlm::TLM_INCOMPLETE_RESPONSE;
    SC_HAS_PROCESS(Blocking);
    Blocking(sc_module_name n, uint64_t c) : sc_module(n), socket("socket"), cap(c) {
      SC_THREAD(go);
    }
    void go() {
      tlm::tlm_generic_payload t;
      sc_time d = SC_ZERO_TIME;
      t.set_command(tlm::TLM_WRITE_COMMAND);
      t.set_address(0);
      t.set_data_length(64);
      socket->b_transport(t, d);
      ok = t.get_response_status();
      done = sc_time_stamp();
      t.set_address(cap);
      socket->b_transport(t, d);
      beyond = t.get_response_status();
      t.set_address(0);
      t.set_data_length(40);
      socket->b_transport(t, d);
      ragged = t.get_response_status();
    }
  } init("init", stack.capacity_bytes());
  init.socket.bind(stack.socket);
  sc_start(10, SC_US);
  CHECK(init.ok == tlm::TLM_OK_RESPONSE);
  // 64 B write, one bank group: ACT 0, WR 15, WR 15 + tCCD_L 4 = 19, 19 + tWL 10 + tBL 2 = 31
  CHECK(init.done == sc_time(31 * 625.0, SC_PS));
  CHECK(init.beyond == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  CHECK(init.ragged == tlm::TLM_BURST_ERROR_RESPONSE);
  CHECK(reg.value("hbm0.rejected") == 2);
}

TEST_CASE(
    "hbm stack: addresses in an interleaved region become its own offsets and others are refused",
    "[unit]") {
  TESSERA_ONE_ELABORATION();
  sim::StatsRegistry reg;
  sim::EnergyLedger energy;
  HbmStack stack("hbm0", test::quiet_hbm3(), sim::StatsScope(reg, "hbm0"), energy, 0);
  // A region from 2^40 of 4 KiB units, every other one this stack's, at offsets from 1 MiB
  // (what the system's address map decodes, in small).
  const uint64_t region = 1ull << 40, unit = 4096;
  stack.set_interleaved(region, [&](uint64_t addr, uint64_t len) {
    const uint64_t g = (addr - region) / unit, in = (addr - region) % unit;
    return g % 2 == 0 && in + len <= unit ? (1u << 20) + g / 2 * unit + in : kNever;
  });
  struct Blocking : sc_module {
    tlm_utils::simple_initiator_socket<Blocking> socket;
    std::vector<std::pair<uint64_t, uint32_t>> reqs;
    std::vector<tlm::tlm_response_status> got;
    SC_HAS_PROCESS(Blocking);
    explicit Blocking(sc_module_name n) : sc_module(n), socket("socket") { SC_THREAD(go); }
    void go() {
      for (const auto& [addr, len] : reqs) {
        tlm::tlm_generic_payload t;
        sc_time d = SC_ZERO_TIME;
        t.set_command(tlm::TLM_READ_COMMAND);
        t.set_address(addr);
        t.set_data_length(len);
        socket->b_transport(t, d);
        got.push_back(t.get_response_status());
      }
    }
  } init("init");
  init.reqs = {{region, 64},                  // unit 0: this stack's
               {region + 2 * unit + 64, 32},  // unit 2: this stack's
               {region + unit, 32},           // unit 1: another stack's
               {region + unit - 32, 64}};     // across units 0 and 1
  init.socket.bind(stack.socket);
  sc_start(10, SC_US);
  REQUIRE(init.got.size() == 4);
  CHECK(init.got[0] == tlm::TLM_OK_RESPONSE);
  CHECK(init.got[1] == tlm::TLM_OK_RESPONSE);
  CHECK(init.got[2] == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  CHECK(init.got[3] == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  stack.publish_stats(sc_time_stamp());
  CHECK(reg.value("hbm0.bytes_read") == 96);
  CHECK(reg.value("hbm0.rejected") == 2);
}
