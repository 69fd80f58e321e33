// The UCIe-style die-to-die link: serialisation at lanes x rate with per-flit overhead.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "models/sim/stats_registry.h"
#include "noc/d2d_link.h"
#include "slow_target.h"
#include "testbench/elaboration_guard.h"

using namespace tessera;
using namespace tessera::noc;
using tessera::testing::AtSender;
using tessera::testing::SlowMemory;

namespace {
struct Memory : sc_core::sc_module {
  tlm_utils::simple_target_socket<Memory> socket{"socket"};
  uint64_t calls = 0;
  explicit Memory(sc_core::sc_module_name n) : sc_module(n) {
    socket.register_b_transport(this, &Memory::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& t, sc_core::sc_time&) {
    ++calls;
    t.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};
struct Sender : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Sender> socket{"socket"};
  std::vector<uint64_t> done_ps;
  uint32_t bytes;
  bool write;
  int count;
  SC_HAS_PROCESS(Sender);
  Sender(sc_core::sc_module_name n, uint32_t b, bool w, int c)
      : sc_module(n), bytes(b), write(w), count(c) {
    SC_THREAD(run);
  }
  void run() {
    std::vector<unsigned char> data(bytes);
    for (int i = 0; i < count; ++i) {
      tlm::tlm_generic_payload t;
      t.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
      t.set_address(0);
      t.set_data_ptr(data.data());
      t.set_data_length(bytes);
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      socket->b_transport(t, d);
      done_ps.push_back(sc_core::sc_time_stamp().value());
    }
  }
};
// A link of 64 lanes x 16 Gb/s = 1024 Gb/s = 128 B/ns (7.8125 ps per byte), 2 ns, flits
// of 64 + 4 bytes, with a sender and a memory on each side: `a` sends A->B, `b` B->A.
struct Rig {
  D2dConfig c = [] {
    D2dConfig d;
    d.latency_ns = 2;
    d.flit_payload_bytes = 64;
    d.flit_overhead_bytes = 4;
    return d;
  }();
  sim::StatsRegistry reg;
  sim::EnergyLedger led;
  D2dLink link{"link", c, sim::StatsScope(reg, "d2d"), &led};
  Sender a, b;
  Memory mb{"mb"}, ma{"ma"};
  Rig(uint32_t a_bytes, bool a_write, uint32_t b_bytes, bool b_write)
      : a("a", a_bytes, a_write, 1), b("b", b_bytes, b_write, 1) {
    a.socket.bind(link.a_in);
    link.b_out[0]->bind(mb.socket);
    b.socket.bind(link.b_in);
    link.a_out[0]->bind(ma.socket);
  }
};
}  // namespace

TEST_CASE("d2d write and read times follow lanes, rate, flit overhead and latency", "[unit]") {
  TESSERA_ONE_ELABORATION();
  Rig rig(4096, true, 4096, false);  // a write from A, a read from B
  const Sender &w = rig.a, &r = rig.b;
  const Memory &mb = rig.mb, &ma = rig.ma;
  sim::StatsRegistry& reg = rig.reg;
  sim::EnergyLedger& led = rig.led;
  sc_core::sc_start();
  // Write A->B: 4096 B = 64 flits x 68 B = 4352 B x 7.8125 = 34000 ps, + 2000 latency;
  // completion B->A: 1 flit of 68 B = 531.25 ps + 2000. Total 38531.25 ps.
  REQUIRE(w.done_ps.size() == 1);
  CHECK(std::abs(double(w.done_ps[0]) - 38531.25) <= 2.0);
  // The read from B starts at 0 too: its 8-byte command (1 flit) B->A, 531.25 + 2000;
  // its data A->B waits behind the write's 34000 ps on the wire (booked first at t=0).
  REQUIRE(r.done_ps.size() == 1);
  CHECK(double(r.done_ps[0]) >= 34000.0 + 2000.0);
  CHECK(mb.calls == 1);
  CHECK(ma.calls == 1);
  CHECK(reg.find_counter("d2d.a2b.flits")->value() == 64 + 64);
  // Energy: every wire bit, overhead included: (128 + 2 flits) x 68 B x 8 bits x 0.5 pJ.
  CHECK(led.total_pj() == Approx(130.0 * 68 * 8 * 0.5));
}

TEST_CASE("d2d completions and read commands are not queued behind the other way's data",
          "[unit]") {
  // B writes 64 KiB to A (B->A busy for 1024 flits x 68 B x 7.8125 ps = 544,000 ps) while
  // A writes 64 bytes to B. A's completion returns B->A: a link interleaves it with the
  // bulk data at flit granularity, so it takes its own flit (531.25 ps) and the latency,
  // not the 544 ns of data booked ahead of it. (It used to wait behind all of it.)
  TESSERA_ONE_ELABORATION();
  Rig rig(64, true, 65536, true);
  const Sender &small = rig.a, &bulk = rig.b;
  sim::StatsRegistry& reg = rig.reg;
  sc_core::sc_start();
  REQUIRE(small.done_ps.size() == 1);
  REQUIRE(bulk.done_ps.size() == 1);
  // 1 flit A->B + 2 ns, 1 flit B->A + 2 ns.
  CHECK(std::abs(double(small.done_ps[0]) - 2 * (531.25 + 2000)) <= 2.0);
  CHECK(double(bulk.done_ps[0]) >= 544000.0 + 2000.0);
  // Its bytes and flits are still counted on the B->A direction.
  CHECK(reg.find_counter("d2d.b2a.flits")->value() == 1024 + 1);
}

TEST_CASE("d2d control flits take their wire time from the data booked after them", "[unit]") {
  // 4 KiB of data at t = 0 (64 flits, 34,000 ps on the wire), a command at t = 100 ps
  // interleaved into it (one flit, 531.25 ps, arriving after its own flit time), then
  // 4 KiB more: the second block starts when the first and the command's flit are done.
  TESSERA_ONE_ELABORATION();
  Rig rig(64, true, 64, true);
  D2dLink& l = rig.link;
  const double first = l.book(0, 4096, 0);
  CHECK(first == Approx(34000.0 + 2000.0));
  const double cmd = l.book(0, D2dLink::kCommandBytes, 100, true);
  CHECK(cmd == Approx(100 + 531.25 + 2000.0));
  const double second = l.book(0, 4096, 200);
  CHECK(second == Approx(34000.0 + 531.25 + 34000.0 + 2000.0));
  // The wire was never busy for longer than it existed.
  l.publish(second - 2000.0);
  CHECK(rig.reg.value("d2d.a2b.utilisation") <= 1.0 + 1e-12);
  // On an idle wire too: a command, then data at the same instant, go one after the other.
  const double t = second;  // the other direction is idle; use it
  CHECK(l.book(1, D2dLink::kCommandBytes, t, true) == Approx(t + 531.25 + 2000.0));
  CHECK(l.book(1, 4096, t) == Approx(t + 531.25 + 34000.0 + 2000.0));
}

TEST_CASE("a link end with two out sockets serves them in parallel, in order within each",
          "[unit]") {
  // Side B reaches its network through two nodes (package.d2d.attach_nodes = 2), the
  // address picking one every 4 KiB. Eight writes alternate between the regions; each
  // node's memory takes 100 ns a request. With one open request per node the two
  // streams overlap: the last write completes after 4 x 100 ns and the wire time, not
  // after 8 x 100 ns as through a single out socket (one open request per direction).
  TESSERA_ONE_ELABORATION();
  D2dConfig c;
  sim::StatsRegistry reg;
  D2dLink link{"link2", c, sim::StatsScope(reg, "d2d"), nullptr, 1, 2, tessera::testing::region_of};
  AtSender a{"a", 8}, b{"b", 0};  // b sends nothing
  SlowMemory m0{"m0"}, m1{"m1"}, ma{"ma"};
  a.socket.bind(link.a_in);
  b.socket.bind(link.b_in);
  link.b_out[0]->bind(m0.socket);
  link.b_out[1]->bind(m1.socket);
  link.a_out[0]->bind(ma.socket);
  sc_core::sc_start();
  REQUIRE(a.done_ps.size() == 8);
  // Each node got its region's writes, in the order sent.
  tessera::testing::check_regions_in_order(m0, m1);
  const double last = double(*std::max_element(a.done_ps.begin(), a.done_ps.end()));
  CHECK(last >= 400e3);
  CHECK(last < 500e3);  // serially it would be past 800 ns
}

namespace {
// Sends `n` writes of `bytes` one after the other as the base protocol asks (the next
// BEGIN_REQ after the previous END_REQ), recording when each was taken.
struct PacedSender : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<PacedSender> socket{"socket"};
  std::vector<tlm::tlm_generic_payload> t;
  std::vector<unsigned char> data;
  std::vector<uint64_t> taken_ps, done_ps;
  sc_core::sc_event end_req;
  SC_HAS_PROCESS(PacedSender);
  PacedSender(sc_core::sc_module_name nm, int n, uint32_t bytes)
      : sc_module(nm), t(size_t(n)), data(bytes) {
    socket.register_nb_transport_bw(this, &PacedSender::bw);
    SC_THREAD(run);
  }
  void run() {
    for (size_t i = 0; i < t.size(); ++i) {
      t[i].set_command(tlm::TLM_WRITE_COMMAND);
      t[i].set_address(i * data.size());
      t[i].set_data_ptr(data.data());
      t[i].set_data_length(uint32_t(data.size()));
      tlm::tlm_phase ph = tlm::BEGIN_REQ;
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      if (socket->nb_transport_fw(t[i], ph, d) == tlm::TLM_ACCEPTED) sc_core::wait(end_req);
      taken_ps.push_back(sc_core::sc_time_stamp().value());
    }
  }
  tlm::tlm_sync_enum bw(tlm::tlm_generic_payload&, tlm::tlm_phase& ph, sc_core::sc_time&) {
    if (ph == tlm::END_REQ) {
      end_req.notify(sc_core::SC_ZERO_TIME);
      return tlm::TLM_ACCEPTED;
    }
    if (ph == tlm::BEGIN_RESP) done_ps.push_back(sc_core::sc_time_stamp().value());
    ph = tlm::END_RESP;
    return tlm::TLM_COMPLETED;
  }
};
}  // namespace

TEST_CASE("a full d2d buffer holds requests back (credit flow control)", "[unit]") {
  // 128 B/ns, 2 ns; 512-byte writes take 8 flits x 68 B x 7.8125 ps = 4250 ps on the wire.
  // With a 4 KiB buffer the first eight are taken at once; the ninth waits for the
  // first's credit: it reaches the far side at 4250 + 2000, the memory there takes it
  // at once, and its credit is back 2000 ps later, at 8250 ps. The wire stays busy, so
  // the last write lands as without the limit. (Until the thirteenth session a link took
  // every request at once, and a full link never backed up into the sending network.)
  TESSERA_ONE_ELABORATION();
  D2dConfig c;
  c.latency_ns = 2;
  c.buffer_bytes = 4096;
  sim::StatsRegistry reg;
  D2dLink link{"link3", c, sim::StatsScope(reg, "d2d"), nullptr};
  PacedSender a{"a", 16, 512};
  AtSender b{"b", 0};
  Memory mb{"mb"}, ma{"ma"};
  a.socket.bind(link.a_in);
  link.b_out[0]->bind(mb.socket);
  b.socket.bind(link.b_in);
  link.a_out[0]->bind(ma.socket);
  sc_core::sc_start();
  REQUIRE(a.taken_ps.size() == 16);
  for (int i = 0; i < 8; ++i) CHECK(a.taken_ps[size_t(i)] == 0);
  CHECK(a.taken_ps[8] == 8250);
  // Each later one waits for the credit of the one eight before it.
  for (size_t i = 9; i < 16; ++i) CHECK(a.taken_ps[i] == a.taken_ps[i - 1] + 4250);
  CHECK(reg.value("d2d.a2b.buffer_stalls") == 8);
  REQUIRE(a.done_ps.size() == 16);
  // 16 writes back to back on the wire: 16 x 4250 + 2000, and the completion's flit back.
  CHECK(std::abs(double(*std::max_element(a.done_ps.begin(), a.done_ps.end())) -
                 (16 * 4250.0 + 2000 + 531.25 + 2000)) <= 2.0);
}
