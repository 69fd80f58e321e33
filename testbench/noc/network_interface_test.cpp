// The network interface's injection: which VC a new packet takes.
#include <catch2/catch.hpp>

#include "arrival_sink.h"
#include "noc/network_core.h"

using namespace tessera;
using namespace tessera::noc;

namespace {

// Cycles to deliver `packets` packets of `flits` flits from node 0 to node 1 of a 4x4
// mesh, all queued at once at node 0.
uint64_t stream(uint32_t vcs, uint32_t packets, uint32_t flits) {
  NocConfig c;
  c.vcs = vcs;
  const Topology t = Topology::build(parse_topology(c.topology), 4, 4, parse_routing(c.routing));
  sim::StatsRegistry reg;
  NetworkCore core(c, t, 1, sim::StatsScope(reg, "noc"), nullptr);
  ArrivalSink n;
  core.set_sink(&n);
  for (uint32_t i = 0; i < packets; ++i) core.inject(0, 1, flits, 0);
  while (core.busy()) core.step();
  REQUIRE(n.count == packets);
  return n.cycle;
}

// A 2x1 mesh with two message classes and a sink at the endpoints.
struct TwoNodes {
  sim::StatsRegistry reg;
  Topology topo;
  NetworkCore core;
  ArrivalSink sink;
  explicit TwoNodes(const NocConfig& c)
      : topo(Topology::build(parse_topology(c.topology), 2, 1, parse_routing(c.routing))),
        core(c, topo, 2, sim::StatsScope(reg, "noc"), nullptr) {
    core.set_sink(&sink);
  }
};

}  // namespace

TEST_CASE("a lone stream injects near one flit per cycle once it has two VCs", "[unit]") {
  // With one VC every packet pays route computation and VC allocation at the first
  // router before its head can bid for the switch (2 bubble cycles per 5-flit packet).
  // With two VCs the interface starts the next packet on the VC that has drained, so
  // one VC's bubbles hide behind the other's flits.
  const uint32_t packets = 400, flits = 5;
  const uint64_t one = stream(1, packets, flits);
  const uint64_t two = stream(2, packets, flits);
  CHECK(double(one) >= 1.3 * packets * flits);  // the bubbles are there...
  CHECK(double(two) <= 1.1 * packets * flits);  // ...and hidden with a second VC
}

TEST_CASE("a bounded ejection buffer takes packets only while it has room", "[unit]") {
  // Node 1 of a 2x1 mesh holds at most 9 flits of class 0: three 3-flit packets arrive,
  // a fourth waits in the routers until the owner frees a packet's flits. Freeing more
  // than the buffer holds is refused.
  TwoNodes net{NocConfig{}};
  NetworkCore& core = net.core;
  const ArrivalSink& n = net.sink;
  core.bound_ejection(1, 0, 9);
  for (int i = 0; i < 4; ++i) core.inject(0, 1, 3, 0);
  core.inject(0, 1, 3, 1);  // the response class is not bounded
  for (int k = 0; k < 200; ++k) core.step();
  CHECK(n.count == 4);  // three requests and the response
  CHECK(core.flits_in_network() == 3);
  CHECK(core.busy());
  core.release_ejected(1, core.vc_base(0, 0), 3);
  for (int k = 0; k < 200 && core.busy(); ++k) core.step();
  CHECK(n.count == 5);
  CHECK_FALSE(core.busy());
  // 3 + 3 + 3 held again (the first three minus one, plus the fourth): 9 may go, not 10.
  CHECK_THROWS_WITH(core.release_ejected(1, core.vc_base(0, 0), 10),
                    Catch::Contains("frees 10 flit(s) of VC 0 but its ejection buffer holds 9"));
  core.release_ejected(1, core.vc_base(0, 0), 9);
}

TEST_CASE("a full ejection buffer past the watchdog's limit is a slow target, not a deadlock",
          "[unit]") {
  // The target takes nothing for 5x the watchdog's cycles while a packet waits behind
  // its full buffer: the network does not report a deadlock (it stopped such a run with a
  // slow HBM before), and the packet arrives once the target frees room.
  NocConfig c;
  c.watchdog_cycles = 100;
  TwoNodes net{c};
  NetworkCore& core = net.core;
  const ArrivalSink& n = net.sink;
  core.bound_ejection(1, 0, 3);
  core.inject(0, 1, 3, 0);
  core.inject(0, 1, 3, 0);
  for (int k = 0; k < 500; ++k) CHECK_NOTHROW(core.step());
  CHECK(n.count == 1);
  core.release_ejected(1, core.vc_base(0, 0), 3);
  for (int k = 0; k < 200 && core.busy(); ++k) core.step();
  CHECK(n.count == 2);
  // A target that takes nothing for 100x the limit is reported after all (a real deadlock
  // behind a full buffer is not hidden for ever).
  core.inject(0, 1, 3, 0);
  bool reported = false;
  for (int k = 0; k < 100 * 100 + 200 && !reported; ++k) {
    try {
      core.step();
    } catch (const sim::SimulationError& e) {
      reported = std::string(e.what()).find("no flit moved for") != std::string::npos;
    }
  }
  CHECK(reported);
}

TEST_CASE("behind a full ejection buffer the network waits as long as its owner allows", "[unit]") {
  // The owner (the system, whose watchdog scales with its slowest clock) allows 20,000
  // cycles: a target that takes nothing for 15,000 is not a deadlock, one that takes
  // nothing for longer is (100x the network's own limit alone would have been 10,000).
  NocConfig c;
  c.watchdog_cycles = 100;
  TwoNodes net{c};
  NetworkCore& core = net.core;
  core.set_held_limit(20000);
  core.bound_ejection(1, 0, 3);
  core.inject(0, 1, 3, 0);
  core.inject(0, 1, 3, 0);
  for (int k = 0; k < 15000; ++k) core.step();
  CHECK(net.sink.count == 1);
  bool reported = false;
  for (int k = 0; k < 6000 && !reported; ++k) {
    try {
      core.step();
    } catch (const sim::SimulationError&) {
      reported = true;
    }
  }
  CHECK(reported);
}
