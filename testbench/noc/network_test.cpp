// The TLM network: transactions cut into request/response packets, timing through the
// cycle-level core, backpressure on the approximately-timed protocol.
#include <catch2/catch.hpp>

#include <tlm_utils/peq_with_get.h>

#include "models/sim/clock_domain.h"
#include "noc/network.h"
#include "testbench/elaboration_guard.h"

using namespace tessera;
using namespace tessera::noc;

namespace {
struct Memory : sc_core::sc_module {
  tlm_utils::simple_target_socket<Memory> socket{"socket"};
  uint32_t node;
  uint64_t calls = 0;
  Memory(sc_core::sc_module_name n, uint32_t id) : sc_module(n), node(id) {
    socket.register_b_transport(this, &Memory::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& t, sc_core::sc_time&) {
    ++calls;
    if (t.is_read()) std::fill_n(t.get_data_ptr(), t.get_data_length(), uint8_t(node));
    t.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};
struct Reader : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Reader> socket{"socket"};
  uint64_t addr;
  uint32_t bytes;
  int count;
  std::vector<uint64_t> done_ps;
  std::vector<uint8_t> seen;
  SC_HAS_PROCESS(Reader);
  Reader(sc_core::sc_module_name n, uint64_t a, uint32_t b, int c)
      : sc_module(n), addr(a), bytes(b), count(c) {
    SC_THREAD(run);
  }
  void run() {
    std::vector<unsigned char> data(bytes);
    for (int i = 0; i < count; ++i) {
      tlm::tlm_generic_payload t;
      t.set_command(tlm::TLM_READ_COMMAND);
      t.set_address(addr);
      t.set_data_ptr(data.data());
      t.set_data_length(bytes);
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      socket->b_transport(t, d);
      done_ps.push_back(sc_core::sc_time_stamp().value());
      seen.push_back(data[0]);
    }
  }
};
uint32_t decode(uint64_t a) {
  return uint32_t(a >> 20);
}
}  // namespace

TEST_CASE("a read across the mesh takes request + response zero-load latency", "[unit]") {
  TESSERA_ONE_ELABORATION();
  NocConfig c;  // textbook router, 32-byte flits
  sim::StatsRegistry reg;
  const auto clk = sim::ClockDomain::from_mhz("noc", 1000);
  Network net("net", c, 4, 4, clk, decode, sim::StatsScope(reg, "noc"), nullptr);
  std::vector<std::unique_ptr<Memory>> mem;
  for (uint32_t i = 0; i < 16; ++i) {
    mem.push_back(std::make_unique<Memory>(("m" + std::to_string(i)).c_str(), i));
    net.initiator[i]->bind(mem.back()->socket);
  }
  Reader rd("rd", uint64_t(15) << 20, 64, 1);
  rd.socket.bind(*net.target[0]);
  std::vector<std::unique_ptr<Reader>> idle;  // unused endpoints need a bound socket
  for (uint32_t i = 1; i < 16; ++i) {
    idle.push_back(std::make_unique<Reader>(("i" + std::to_string(i)).c_str(), 0, 8, 0));
    idle.back()->socket.bind(*net.target[i]);
  }
  sc_core::sc_start();
  REQUIRE(rd.done_ps.size() == 1);
  // (0,0) -> (3,3): 6 hops, 7 routers. Request (1 flit): link 1 + 7 x 5 = 36 cycles.
  // Response: header + 64/32 = 3 flits: 36 + 2 = 38. Each message waits for the next
  // clock edge at its interface (+1 each): 1 + 36 + 1 + 38 = 76 cycles of 1 ns.
  CHECK(rd.done_ps[0] == 76000);
  CHECK(rd.seen[0] == 15);
  CHECK(mem[15]->calls == 1);
  // Stats: the request (1 flit) and response (3 flits) each crossed 7 routers; router 0
  // (the source's) sent the request east and delivered the 3-flit response locally.
  net.publish();
  CHECK(reg.find_counter("noc.router0.flits")->value() == 1 + 3);
  CHECK(reg.find_counter("noc.router0.east.flits")->value() == 1);
  CHECK(reg.find_counter("noc.flits_delivered")->value() == 4);
}

TEST_CASE("many readers to one memory all complete, slower than alone", "[unit]") {
  TESSERA_ONE_ELABORATION();
  NocConfig c;
  c.topology = "torus";
  c.vcs = 4;  // 2 message classes x 2 dateline classes
  sim::StatsRegistry reg;
  const auto clk = sim::ClockDomain::from_mhz("noc", 1000);
  Network net("net", c, 4, 4, clk, decode, sim::StatsScope(reg, "noc"), nullptr);
  std::vector<std::unique_ptr<Memory>> mem;
  std::vector<std::unique_ptr<Reader>> rd;
  for (uint32_t i = 0; i < 16; ++i) {
    mem.push_back(std::make_unique<Memory>(("m" + std::to_string(i)).c_str(), i));
    net.initiator[i]->bind(mem.back()->socket);
    rd.push_back(std::make_unique<Reader>(("r" + std::to_string(i)).c_str(), uint64_t(5) << 20,
                                          1024, i == 5 ? 0 : 20));
    rd.back()->socket.bind(*net.target[i]);
  }
  sc_core::sc_start();
  uint64_t last = 0;
  for (uint32_t i = 0; i < 16; ++i) {
    if (i == 5) continue;
    REQUIRE(rd[i]->done_ps.size() == 20);
    for (uint8_t v : rd[i]->seen) CHECK(v == 5);
    last = std::max(last, rd[i]->done_ps.back());
  }
  CHECK(mem[5]->calls == 15 * 20);
  // 300 reads of 1024 B = 32 data flits each leave node 5 on one ejection... injection
  // link at 1 flit/cycle (plus a header per packet of at most 9 flits): at least
  // 300 x (32 + 4) = 10800 cycles.
  CHECK(last >= 10800 * 1000);
  CHECK(reg.find_histogram("noc.transaction_latency")->count() == 300);
}

namespace {
// An approximately-timed initiator: BEGIN_REQ back to back, waiting for END_REQ.
// It issues `count` requests of `bytes` (writes, or reads) to `addr`, approximately timed,
// each as soon as the previous one's END_REQ came; counts the requests whose END_REQ
// was withheld and records when the last one was accepted.
struct AtInitiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<AtInitiator> socket{"socket"};
  std::vector<tlm::tlm_generic_payload> trans;
  std::vector<unsigned char> data;
  tlm::tlm_command cmd;
  uint64_t addr, last_accept_ps = 0;
  sc_core::sc_event end_req;
  int withheld = 0, responses = 0;
  SC_HAS_PROCESS(AtInitiator);
  AtInitiator(sc_core::sc_module_name n, int count, uint32_t bytes,
              tlm::tlm_command c = tlm::TLM_WRITE_COMMAND, uint64_t a = uint64_t(3) << 20)
      : sc_module(n), trans(count), data(bytes), cmd(c), addr(a) {
    socket.register_nb_transport_bw(this, &AtInitiator::nb_transport_bw);
    SC_THREAD(run);
  }
  void run() {
    for (auto& t : trans) {
      t.set_command(cmd);
      t.set_address(addr);
      t.set_data_ptr(data.data());
      t.set_data_length(uint32_t(data.size()));
      tlm::tlm_phase ph = tlm::BEGIN_REQ;
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      const tlm::tlm_sync_enum s = socket->nb_transport_fw(t, ph, d);
      if (s == tlm::TLM_ACCEPTED) {  // the interface is full: wait for END_REQ
        ++withheld;
        wait(end_req);
      }
      last_accept_ps = sc_core::sc_time_stamp().value();
    }
  }
  tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload&, tlm::tlm_phase& ph,
                                     sc_core::sc_time&) {
    if (ph == tlm::END_REQ) end_req.notify(sc_core::SC_ZERO_TIME);
    if (ph == tlm::BEGIN_RESP) {
      ++responses;
      return tlm::TLM_COMPLETED;
    }
    return tlm::TLM_ACCEPTED;
  }
};
// A k x k mesh network (1 GHz NoC clock) with a memory behind every node's interface
// and an idle reader on every node but 0 (its target socket is for the test's
// initiator).
struct MeshWithMemories {
  NocConfig cfg;
  sim::StatsRegistry reg;
  Network net;
  std::vector<std::unique_ptr<Memory>> mem;
  std::vector<std::unique_ptr<Reader>> idle;
  explicit MeshWithMemories(uint32_t k)
      : net("net", cfg, k, k, sim::ClockDomain::from_mhz("noc", 1000), decode,
            sim::StatsScope(reg, "noc"), nullptr) {
    for (uint32_t i = 0; i < k * k; ++i) {
      mem.push_back(std::make_unique<Memory>(("m" + std::to_string(i)).c_str(), i));
      net.initiator[i]->bind(mem.back()->socket);
      if (i == 0) continue;
      idle.push_back(std::make_unique<Reader>(("i" + std::to_string(i)).c_str(), 0, 8, 0));
      idle.back()->socket.bind(*net.target[i]);
    }
  }
};
}  // namespace

TEST_CASE("approximately-timed writes see backpressure and all complete", "[unit]") {
  TESSERA_ONE_ELABORATION();
  MeshWithMemories rig(4);
  Network& net = rig.net;
  const auto& mem = rig.mem;
  // 40 writes of 256 B: header + 8 data flits = one 9-flit packet each; the interface
  // holds at most 8 outstanding request packets, so END_REQ must be withheld.
  AtInitiator w("w", 40, 256);
  w.socket.bind(*net.target[0]);
  sc_core::sc_start();
  CHECK(w.withheld > 0);
  CHECK(w.responses == 40);
  CHECK(mem[3]->calls == 40);
  // The injection link carries 1 flit per cycle: at least 40 x 9 = 360 cycles.
  CHECK(sc_core::sc_time_stamp().value() >= 360 * 1000);
}

TEST_CASE("the request queue frees as packets leave the interface, not as they arrive", "[unit]") {
  // 40 one-flit read requests from corner to corner of an 8x8 mesh (14 hops). The
  // interface queues 8 request packets; its router takes a one-flit packet about every
  // two cycles (the request class has one VC: route and VC allocation per packet), so
  // all 40 are taken in about 75 cycles. A queue that freed only when a packet reached
  // its destination (before the tenth session) took the last one at 326 cycles.
  TESSERA_ONE_ELABORATION();
  MeshWithMemories rig(8);
  Network& net = rig.net;
  const auto& mem = rig.mem;
  AtInitiator r("r", 40, 64, tlm::TLM_READ_COMMAND, uint64_t(63) << 20);
  r.socket.bind(*net.target[0]);
  sc_core::sc_start();
  CHECK(r.responses == 40);
  CHECK(mem[63]->calls == 40);
  INFO("last request accepted at " << r.last_accept_ps / 1000 << " cycles");
  CHECK(r.last_accept_ps >= 32 * 1000);  // 8 queued, then at most one leaves per cycle
  CHECK(r.last_accept_ps <= 120 * 1000);
}

namespace {
// An approximately-timed memory that takes one request per 100 ns: BEGIN_REQ is
// accepted, END_REQ and the response follow 100 ns later (the network opens the next
// request only after END_REQ, as for a full HBM controller queue).
struct SlowAtMemory : sc_core::sc_module {
  tlm_utils::simple_target_socket<SlowAtMemory> socket{"socket"};
  tlm::tlm_generic_payload* cur = nullptr;
  sc_core::sc_event took;
  int taken = 0;
  uint64_t last_take_ps = 0;
  SC_HAS_PROCESS(SlowAtMemory);
  explicit SlowAtMemory(sc_core::sc_module_name n) : sc_module(n) {
    socket.register_nb_transport_fw(this, &SlowAtMemory::fw);
    SC_THREAD(run);
  }
  tlm::tlm_sync_enum fw(tlm::tlm_generic_payload& t, tlm::tlm_phase& ph, sc_core::sc_time&) {
    if (ph == tlm::BEGIN_REQ) {
      REQUIRE(cur == nullptr);  // one request phase at a time
      cur = &t;
      took.notify(100, sc_core::SC_NS);
    }
    return ph == tlm::END_RESP ? tlm::TLM_COMPLETED : tlm::TLM_ACCEPTED;
  }
  void run() {
    while (true) {
      wait(took);
      tlm::tlm_generic_payload* t = cur;
      cur = nullptr;
      ++taken;
      last_take_ps = sc_core::sc_time_stamp().value();
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      tlm::tlm_phase ph = tlm::END_REQ;
      socket->nb_transport_bw(*t, ph, d);  // may open the next request at once
      t->set_response_status(tlm::TLM_OK_RESPONSE);
      ph = tlm::BEGIN_RESP;
      socket->nb_transport_bw(*t, ph, d);
    }
  }
};
// A 4 x 1 mesh: node 0's AtInitiator sends 40 reads to the slow memory at node 2, node 1
// reads 10 times from a fast memory at node 3. Both streams cross router 1 -> router 2
// on the request class's one VC.
struct HeadOfLine {
  NocConfig cfg;
  sim::StatsRegistry reg;
  std::unique_ptr<Network> net;
  SlowAtMemory slow;
  std::vector<std::unique_ptr<Memory>> mem;
  AtInitiator a;
  Reader b;
  std::vector<std::unique_ptr<Reader>> idle;
  HeadOfLine(const std::string& name, uint32_t target_buffer_flits)
      : slow((name + "_slow").c_str()),
        a((name + "_a").c_str(), 40, 64, tlm::TLM_READ_COMMAND, uint64_t(2) << 20),
        b((name + "_b").c_str(), uint64_t(3) << 20, 8, 10) {
    cfg.target_buffer_flits = target_buffer_flits;
    net = std::make_unique<Network>((name + "_net").c_str(), cfg, 4, 1,
                                    sim::ClockDomain::from_mhz("noc", 1000), decode,
                                    sim::StatsScope(reg, "noc"), nullptr);
    net->set_nonblocking_targets(
        [](const tlm::tlm_generic_payload& p) { return decode(p.get_address()) == 2; });
    net->bound_ejection({2});
    for (uint32_t i : {0u, 1u, 3u}) {
      mem.push_back(std::make_unique<Memory>((name + "_m" + std::to_string(i)).c_str(), i));
      net->initiator[i]->bind(mem.back()->socket);
    }
    net->initiator[2]->bind(slow.socket);
    a.socket.bind(*net->target[0]);
    b.socket.bind(*net->target[1]);
    for (uint32_t i : {2u, 3u}) {
      idle.push_back(std::make_unique<Reader>((name + "_i" + std::to_string(i)).c_str(), 0, 8, 0));
      idle.back()->socket.bind(*net->target[i]);
    }
  }
};
}  // namespace

TEST_CASE("a memory's full request buffer backs up into the routers (head-of-line)", "[unit]") {
  // With an unbounded buffer at the slow memory's interface, its 40 requests all leave
  // the network at once and wait there; node 1's reads to node 3 pass them in a few
  // cycles each. With a 16-flit buffer, 16 requests wait at the interface and the rest
  // fill router 2's input and router 1's output toward it: node 1's reads, on the same
  // request VC, wait behind them until the memory has taken enough (about 100 ns each).
  TESSERA_ONE_ELABORATION();
  HeadOfLine open("open", 0), bounded("bounded", 16);
  sc_core::sc_start();
  for (HeadOfLine* h : {&open, &bounded}) {
    CHECK(h->slow.taken == 40);
    CHECK(h->a.responses == 40);
    REQUIRE(h->b.done_ps.size() == 10);
    for (uint8_t v : h->b.seen) CHECK(v == 3);
  }
  const uint64_t open_b = open.b.done_ps.back(), bounded_b = bounded.b.done_ps.back();
  INFO("node 1's last read: " << open_b / 1000 << " ns unbounded, " << bounded_b / 1000
                              << " ns bounded");
  CHECK(open_b < 500 * 1000);
  // 40 requests less the 16 the buffer holds (the slow memory's open one among them:
  // it holds its flits until END_REQ) and the 8 of router 2's input VC leave at least
  // 15 ahead of node 1's read: 1.5 us.
  CHECK(bounded_b >= 1500 * 1000);
  // The slow memory never waits for a request in either (it is the bottleneck): it takes
  // the 40th at 40 x 100 ns after the first arrived, a few cycles after t = 0.
  for (HeadOfLine* h : {&open, &bounded}) {
    CHECK(h->slow.last_take_ps >= 4000 * 1000);
    CHECK(h->slow.last_take_ps <= 4020 * 1000);
  }
}
