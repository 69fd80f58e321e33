// Zero-load latency, flow control and deadlock watch of the cycle-level network core.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "arrival_sink.h"
#include "models/sim/errors.h"
#include "noc/network_core.h"
#include "noc/synthetic_traffic.h"

using namespace tessera;
using namespace tessera::noc;

namespace {

// Sends one packet into an empty network and returns its latency in cycles.
uint64_t one_packet(const NocConfig& cfg, const Topology& topo, uint32_t src, uint32_t dst,
                    uint32_t flits) {
  sim::StatsRegistry reg;
  NetworkCore core(cfg, topo, 1, sim::StatsScope(reg, "noc"), nullptr);
  ArrivalSink a;
  core.set_sink(&a);
  core.skip_to(100);
  core.inject(src, dst, flits, 0);
  while (core.busy()) core.step();
  REQUIRE(a.count == 1);
  return a.cycle - 100;
}

// Routing 2, VC allocation 1, switch allocation 2, crossbar 1 cycles; 3-cycle links.
NocConfig deep_pipeline() {
  NocConfig c;
  c.routing_cycles = 2;
  c.vc_alloc_cycles = 1;
  c.sw_alloc_cycles = 2;
  c.crossbar_cycles = 1;
  c.link_cycles = 3;
  return c;
}

Topology make(const NocConfig& c, uint32_t kx, uint32_t ky, uint32_t concentration = 1) {
  const TopologyKind kind = parse_topology(c.topology);
  return Topology::build(kind, kx, ky, parse_routing(c.routing),
                         Topology::concentration(kind, kx, ky, concentration));
}

// A k-port network of `c`'s topology (one row), idle until cycle 100, that records the
// cycle each packet (by tag) arrived.
struct TaggedRig {
  struct Log : PacketSink {
    std::map<uint64_t, uint64_t> at;
    void on_packet(uint32_t, const Packet& p, uint64_t now) override { at[p.tag] = now; }
  };
  Topology t;
  sim::StatsRegistry reg;
  NetworkCore core;
  Log log;
  TaggedRig(const NocConfig& c, uint32_t k)
      : t(make(c, k, 1)), core(c, t, 1, sim::StatsScope(reg, "noc"), nullptr) {
    core.set_sink(&log);
    core.skip_to(100);
  }
};

}  // namespace

TEST_CASE("mesh zero-load latency equals the pipeline formula", "[unit]") {
  NocConfig c;  // textbook router: RC, VA, SA, ST 1 cycle each, 1-cycle links
  const Topology t = make(c, 8, 8);
  // (0,0) -> (7,7): 14 hops, 15 routers.
  // link in (1) + 15 routers x (RC 1 + VA 1 + SA 1 + ST 1 + link 1) = 76 for the head;
  // a 1-flit packet is done then, a 5-flit packet 4 cycles later.
  CHECK(one_packet(c, t, 0, 63, 1) == 76);
  CHECK(one_packet(c, t, 0, 63, 5) == 80);
  // Same router: 1 + 1 x 5 = 6.
  CHECK(one_packet(c, t, 9, 9, 1) == 6);
  // Every pair matches the formula with the topology's own path length.
  for (uint32_t s = 0; s < 64; s += 7)
    for (uint32_t d = 0; d < 64; d += 5)
      CHECK(one_packet(c, t, s, d, 4) == zero_load_latency(c, t.routers_on_path(s, d), 4));
}

TEST_CASE("zero-load latency with a deeper pipeline and slow links", "[unit]") {
  const NocConfig c = deep_pipeline();
  const Topology t = make(c, 4, 4);
  // (0,0) -> (3,2): 5 hops, 6 routers: 3 + 6 x (2+1+2+1+3) + (8-1) = 3 + 54 + 7 = 64.
  CHECK(one_packet(c, t, 0, 2 * 4 + 3, 8) == 64);
}

TEST_CASE("torus, ring and crossbar zero-load latency", "[unit]") {
  NocConfig c;
  c.topology = "torus";
  const Topology tor = make(c, 8, 8);
  // (0,0) -> (7,7) wraps both ways: 2 hops, 3 routers: 1 + 3 x 5 = 16 (+3 for 4 flits).
  CHECK(one_packet(c, tor, 0, 63, 1) == 16);
  CHECK(one_packet(c, tor, 0, 63, 4) == 19);
  // (0,0) -> (4,4): 8 hops, 9 routers: 1 + 45 = 46.
  CHECK(one_packet(c, tor, 0, 4 * 8 + 4, 1) == 46);
  c.topology = "ring";
  const Topology ring = make(c, 16, 1);
  // 0 -> 10 goes the short way (6 hops counter-clockwise, through the dateline): 7 routers.
  CHECK(one_packet(c, ring, 0, 10, 1) == 1 + 7 * 5);
  CHECK(one_packet(c, ring, 3, 5, 6) == 1 + 3 * 5 + 5);
  c.topology = "crossbar";
  const Topology xb = make(c, 16, 1);
  // One router between any two ports: 1 + 5 = 6, +7 for 8 flits.
  CHECK(one_packet(c, xb, 3, 12, 1) == 6);
  CHECK(one_packet(c, xb, 3, 12, 8) == 13);
}

TEST_CASE("zero-load latency of the speculative and lookahead pipelines", "[unit]") {
  // Lookahead routing: the head arrives with its route (computed upstream, by the
  // interface for the first router), so a router costs VA + SA + ST + link.
  // Speculative switch allocation: VA and SA in one stage of t_SA (t_VA <= t_SA), so
  // a router costs RC + SA + ST + link. Both: SA + ST + link.
  NocConfig c;
  const Topology t = make(c, 8, 8);
  c.lookahead_routing = true;
  CHECK(c.router_cycles() == 4);
  CHECK(one_packet(c, t, 0, 63, 1) == 1 + 15 * 4);
  c.lookahead_routing = false;
  c.speculative_sa = true;
  CHECK(c.router_cycles() == 4);
  CHECK(one_packet(c, t, 0, 63, 1) == 1 + 15 * 4);
  c.lookahead_routing = true;
  CHECK(c.router_cycles() == 3);
  CHECK(one_packet(c, t, 0, 63, 1) == 46);  // 1 + 15 x 3
  CHECK(one_packet(c, t, 0, 63, 5) == 50);
  CHECK(one_packet(c, t, 9, 9, 1) == 4);  // 1 + 1 x 3
  for (uint32_t s = 0; s < 64; s += 7)
    for (uint32_t d = 0; d < 64; d += 5)
      CHECK(one_packet(c, t, s, d, 4) == zero_load_latency(c, t.routers_on_path(s, d), 4));

  // Deeper pipeline, 4x4 mesh, (0,0) -> (3,2): 6 routers, 8 flits, link 3.
  NocConfig d = deep_pipeline();
  const Topology t4 = make(d, 4, 4);
  d.speculative_sa = true;  // 3 + 6 x (RC 2 + SA 2 + ST 1 + 3) + 7 = 58
  CHECK(one_packet(d, t4, 0, 11, 8) == 58);
  d.lookahead_routing = true;  // 3 + 6 x (SA 2 + ST 1 + 3) + 7 = 46
  CHECK(one_packet(d, t4, 0, 11, 8) == 46);
  d.speculative_sa = false;  // 3 + 6 x (VA 1 + SA 2 + ST 1 + 3) + 7 = 52
  CHECK(one_packet(d, t4, 0, 11, 8) == 52);

  // Torus (dateline classes are chosen with the lookahead route) and crossbar.
  c.topology = "torus";
  CHECK(one_packet(c, make(c, 8, 8), 0, 63, 1) == 1 + 3 * 3);
  CHECK(one_packet(c, make(c, 8, 8), 0, 4 * 8 + 4, 4) == 1 + 9 * 3 + 3);
  c.topology = "crossbar";
  CHECK(one_packet(c, make(c, 16, 1), 3, 12, 8) == 1 + 3 + 7);
}

TEST_CASE("a failed speculation wastes the switch slot, non-speculative bids win", "[unit]") {
  // 4-port crossbar, 2 VCs, speculative + lookahead (a router costs SA + ST + link = 3).
  // Atomic VCs make endpoint 2's interface put its second packet on VC 1.
  NocConfig c;
  c.topology = "crossbar";
  c.speculative_sa = true;
  c.lookahead_routing = true;
  c.wait_for_tail_credit = true;
  TaggedRig rig(c, 4);
  NetworkCore& core = rig.core;
  auto& log = rig.log;
  // P1 (2 -> 3, VC 0) is alone at the router in cycle 101 and moves both round-robin
  // pointers of output 3: VC allocation now favours input VC (2,1), the switch port 0.
  core.inject(2, 3, 1, 0, 1);
  core.inject(2, 3, 1, 0, 2);  // P2, on VC 1 (VC 0 waits for P1's tail credit)
  core.step();
  core.inject(0, 3, 1, 0, 0);  // P0, reaches the router with P2 in cycle 102
  while (core.busy()) core.step();
  CHECK(log.at[1] == 100 + 4);  // 1 + 3: no contention
  // Cycle 102: P2 wins the output VC, P0 wins the switch speculatively: the slot is
  // lost. Cycle 103: P2 bids non-speculatively and beats P0's new speculative bid
  // (P0 got VC 1 meanwhile); cycle 104: P0.
  CHECK(core.misspeculations() == 1);
  CHECK(log.at[2] == 101 + 5);
  CHECK(log.at[0] == 101 + 6);
}

TEST_CASE("input speedup lets a second VC of a port cross while the first loses", "[unit]") {
  // 4-port crossbar, 2 VCs. Endpoint 0 sends a long packet to 1 and then one to 2 (on
  // its other VC); endpoint 3 sends a long packet to 1 as well. Output 1 alternates
  // between inputs 0 and 3. Without speedup, input 0 offers one VC per cycle and loses
  // the cycles it offers the packet bound for 1 and the other input wins; with speedup
  // 2 its packet to 2 bids every cycle on its own crossbar input.
  auto finish = [](uint32_t speedup) {
    NocConfig c;
    c.topology = "crossbar";
    c.input_speedup = speedup;
    TaggedRig rig(c, 4);
    NetworkCore& core = rig.core;
    auto& log = rig.log;
    core.inject(0, 1, 24, 0, 1);
    core.inject(3, 1, 24, 0, 3);
    core.inject(0, 2, 24, 0, 2);
    while (core.busy()) core.step();
    REQUIRE(log.at.size() == 3);
    return log.at;
  };
  const auto one = finish(1), two = finish(2);
  INFO("speedup 1: " << one.at(1) << " " << one.at(2) << " " << one.at(3)
                     << "; speedup 2: " << two.at(1) << " " << two.at(2) << " " << two.at(3));
  CHECK(two.at(2) < one.at(2));
  // Output 1 still sends one flit per cycle: its two packets need 48 cycles either way.
  CHECK(std::max(two.at(1), two.at(3)) >= 100 + 48);
  CHECK(std::max(one.at(1), one.at(3)) >= 100 + 48);
}

TEST_CASE("speculation and lookahead refuse pipelines they cannot overlap", "[unit]") {
  NocConfig c;
  sim::StatsRegistry reg;
  const Topology t = make(c, 4, 4);
  c.speculative_sa = true;
  c.vc_alloc_cycles = 2;  // the VC would be known only after the switch grant is used
  CHECK_THROWS_AS(NetworkCore(c, t, 1, sim::StatsScope(reg, "a"), nullptr), sim::UserError);
  c.vc_alloc_cycles = 1;
  c.lookahead_routing = true;
  c.routing_cycles = 4;  // longer than SA 1 + ST 1 + link 1, the time it overlaps with
  CHECK_THROWS_AS(NetworkCore(c, t, 1, sim::StatsScope(reg, "b"), nullptr), sim::UserError);
  c.routing_cycles = 3;
  CHECK_NOTHROW(NetworkCore(c, t, 1, sim::StatsScope(reg, "c"), nullptr));
}

// Floods a network with random packets of random sizes from every node, checks every
// flit arrives once, in order (the core throws otherwise), and no buffer ever exceeds
// its depth (the core throws on a full-buffer write as well).
static uint64_t flood(NocConfig c, uint32_t kx, uint32_t ky, double rate, uint64_t cycles,
                      uint32_t concentration = 1) {
  const Topology t = make(c, kx, ky, concentration);
  sim::StatsRegistry reg;
  NetworkCore core(c, t, 1, sim::StatsScope(reg, "noc"), nullptr);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  uint64_t sent_flits = 0;
  for (uint64_t cyc = 0; cyc < cycles; ++cyc) {
    for (uint32_t n = 0; n < t.num_nodes(); ++n)
      if (u(rng) < rate / 4.5) {
        const uint32_t f = 1 + uint32_t(rng() % 8);
        core.inject(n, uint32_t(rng() % t.num_nodes()), f, 0);
        sent_flits += f;
      }
    core.step();
  }
  while (core.busy()) core.step();
  CHECK(core.flits_delivered() == sent_flits);
  CHECK(core.flits_injected() == sent_flits);
  CHECK(core.flits_in_network() == 0);
  CHECK(core.max_vc_occupancy() <= c.vc_buffer_flits);
  CHECK(core.max_vc_occupancy() >= 1);
  return core.misspeculations();
}

// flood() on a 6x6 mesh (DOR and west-first), a 5x5 torus, a 9-node ring and an
// 8-port crossbar; returns the wasted speculative grants of all of them.
static uint64_t flood_every_topology(NocConfig c, double rate) {
  uint64_t wasted = 0;
  c.topology = "mesh";
  c.routing = "dor";
  wasted += flood(c, 6, 6, rate, 3000);
  c.routing = "west_first";
  wasted += flood(c, 6, 6, rate, 3000);
  c.routing = "dor";
  c.topology = "torus";
  wasted += flood(c, 5, 5, rate, 3000);
  c.topology = "ring";
  wasted += flood(c, 9, 1, rate, 3000);
  c.topology = "crossbar";
  wasted += flood(c, 8, 1, rate, 3000);
  return wasted;
}

TEST_CASE("flow control holds below and past saturation on every topology", "[unit]") {
  NocConfig c;
  for (double rate : {0.1, 0.4, 1.0}) {
    INFO("rate " << rate);
    flood_every_topology(c, rate);
  }
  // Shallow buffers and the iSLIP-style allocator.
  c.topology = "mesh";
  c.vc_buffer_flits = 2;
  c.vcs = 4;
  c.allocator = "islip";
  flood(c, 4, 4, 1.0, 3000);
}

TEST_CASE("flow control holds with speculative switch allocation and lookahead routing", "[unit]") {
  NocConfig c;
  c.speculative_sa = true;
  c.lookahead_routing = true;
  uint64_t wasted = 0;
  for (double rate : {0.1, 0.4, 1.0}) {
    INFO("rate " << rate);
    for (uint32_t vcs : {2u, 4u}) {
      c.vcs = vcs;
      wasted += flood_every_topology(c, rate);
    }
  }
  // Past saturation heads do lose VC allocation after winning the switch.
  CHECK(wasted > 0);
  // Several switch allocation iterations, with and without speculation.
  c.vcs = 4;
  c.sw_alloc_iterations = 3;
  c.topology = "mesh";
  flood(c, 6, 6, 1.0, 3000);
  c.topology = "crossbar";
  flood(c, 8, 1, 1.0, 3000);
  c.speculative_sa = false;
  c.topology = "torus";
  flood(c, 5, 5, 1.0, 3000);
  c.speculative_sa = true;
  c.sw_alloc_iterations = 1;
  // Each option alone, shallow buffers, iSLIP, atomic VCs.
  c.topology = "mesh";
  c.vc_buffer_flits = 2;
  c.allocator = "islip";
  c.wait_for_tail_credit = true;
  c.lookahead_routing = false;
  flood(c, 4, 4, 1.0, 3000);
  c.speculative_sa = false;
  c.lookahead_routing = true;
  flood(c, 4, 4, 1.0, 3000);
  // A textbook router never speculates.
  CHECK(flood(NocConfig{}, 6, 6, 1.0, 3000) == 0);
}

TEST_CASE("flow control holds with input speedup", "[unit]") {
  NocConfig c;
  for (double rate : {0.1, 0.4, 1.0}) {
    INFO("rate " << rate);
    for (uint32_t s : {2u, 3u}) {
      c.vcs = 4;
      c.input_speedup = s;
      flood_every_topology(c, rate);
    }
  }
  // With speculation, lookahead and several iterations; with shallow buffers and iSLIP.
  c.topology = "mesh";
  c.input_speedup = 2;
  c.speculative_sa = true;
  c.lookahead_routing = true;
  c.sw_alloc_iterations = 2;
  c.vcs = 8;
  flood(c, 6, 6, 1.0, 3000);
  c.topology = "crossbar";
  flood(c, 8, 1, 1.0, 3000);
  c.topology = "mesh";
  c.vcs = 2;
  c.vc_buffer_flits = 2;
  c.allocator = "islip";
  flood(c, 4, 4, 1.0, 3000);
}

TEST_CASE("concentration: endpoints on local ports of their own, same zero-load formula",
          "[unit]") {
  NocConfig c;
  const Topology t = make(c, 4, 4, 2);
  REQUIRE(t.num_nodes() == 32);
  REQUIRE(t.ports() == 6);
  // Endpoint 16 + r is router r's second local port.
  CHECK(t.node_router(21) == 5);
  CHECK(t.node_port(21) == 5);
  CHECK(t.port_name(5) == "local1");
  CHECK(t.peer(5, 5).node == 21);
  // The two endpoints of one router reach each other through it: 1 + 5.
  CHECK(one_packet(c, t, 5, 21, 1) == 6);
  // (0,0) second endpoint -> (3,3) first: 7 routers, 1 + 35, +3 for 4 flits.
  CHECK(one_packet(c, t, 16, 15, 4) == 39);
  for (uint32_t s = 0; s < 32; s += 3)
    for (uint32_t d = 0; d < 32; d += 5)
      CHECK(one_packet(c, t, s, d, 4) == zero_load_latency(c, t.routers_on_path(s, d), 4));
  // Torus and ring: routes from and to extra local ports (dateline classes restart at
  // injection on any local port).
  c.topology = "torus";
  const Topology tor = make(c, 5, 5, 3);
  CHECK(tor.num_nodes() == 75);
  for (uint32_t s = 0; s < 75; s += 7)
    for (uint32_t d = 0; d < 75; d += 4)
      CHECK(one_packet(c, tor, s, d, 3) == zero_load_latency(c, tor.routers_on_path(s, d), 3));
  c.topology = "ring";
  const Topology ring = make(c, 6, 1, 2);
  for (uint32_t s = 0; s < 12; ++s)
    for (uint32_t d = 0; d < 12; ++d)
      CHECK(one_packet(c, ring, s, d, 2) == zero_load_latency(c, ring.routers_on_path(s, d), 2));
  // Endpoints only where they are wanted: two more at router 0, one at router 5; every
  // router gets router 0's seven ports, the others leave theirs unconnected.
  c.topology = "mesh";
  const Topology some = Topology::build(TopologyKind::kMesh, 4, 4, RoutingKind::kDor, {0, 5, 0});
  CHECK(some.num_nodes() == 19);
  CHECK(some.ports() == 7);
  CHECK(some.node_router(16) == 0);
  CHECK(some.node_port(16) == 5);
  CHECK(some.node_router(17) == 5);
  CHECK(some.node_port(17) == 5);
  CHECK(some.node_port(18) == 6);
  CHECK(some.peer(5, 6).node < 0);
  CHECK(one_packet(c, some, 18, 17, 1) == zero_load_latency(c, some.routers_on_path(18, 17), 1));
  CHECK(some.routers_on_path(18, 17) == 3);
  // A crossbar's endpoints are its ports.
  c.topology = "crossbar";
  CHECK_THROWS_AS(make(c, 8, 1, 2), sim::UserError);
}

TEST_CASE("flow control holds with concentration", "[unit]") {
  NocConfig c;
  for (double rate : {0.2, 1.0}) {
    INFO("rate " << rate);
    c.topology = "mesh";
    flood(c, 4, 4, rate, 3000, 2);
    c.routing = "west_first";
    flood(c, 4, 4, rate, 3000, 3);
    c.routing = "dor";
    c.topology = "torus";
    flood(c, 4, 4, rate, 3000, 2);
    c.topology = "ring";
    flood(c, 6, 1, rate, 3000, 4);
  }
}

TEST_CASE("a torus with too few VCs for its dateline classes is refused", "[unit]") {
  NocConfig c;
  c.topology = "torus";
  c.vcs = 1;
  sim::StatsRegistry reg;
  CHECK_THROWS_AS(NetworkCore(c, make(c, 4, 4), 1, sim::StatsScope(reg, "a"), nullptr),
                  sim::UserError);
}

TEST_CASE("the watchdog reports a deadlocked ring instead of hanging", "[unit]") {
  // A ring without dateline classes, one VC of 2 flits and long packets all going the
  // same way round: the cyclic channel dependency closes and every buffer fills.
  NocConfig c;
  c.topology = "ring";
  c.vcs = 1;
  c.vc_buffer_flits = 2;
  c.watchdog_cycles = 200;
  const Topology t = make(c, 6, 1).without_datelines();
  sim::StatsRegistry reg;
  NetworkCore core(c, t, 1, sim::StatsScope(reg, "noc"), nullptr);
  std::string what;
  try {
    for (int cyc = 0; cyc < 100000; ++cyc) {
      for (uint32_t n = 0; n < 6; ++n)
        if (cyc % 4 == 0) core.inject(n, (n + 3) % 6, 16, 0);  // 3 hops clockwise
      core.step();
    }
  } catch (const sim::SimulationError& e) {
    what = e.what();
  }
  INFO(what);
  CHECK(what.find("deadlock") != std::string::npos);
  CHECK(what.find("router") != std::string::npos);
  CHECK(what.find("vc 0") != std::string::npos);
  // The same load with datelines (2 VCs) drains.
  c.vcs = 2;
  NetworkCore ok(c, make(c, 6, 1), 1, sim::StatsScope(reg, "ok"), nullptr);
  for (int cyc = 0; cyc < 4000; ++cyc) {
    for (uint32_t n = 0; n < 6; ++n)
      if (cyc % 64 == 0) ok.inject(n, (n + 3) % 6, 16, 0);
    ok.step();
  }
  while (ok.busy()) ok.step();
  CHECK(ok.flits_in_network() == 0);
}

TEST_CASE("a sink may inject packets while it is told of one", "[unit]") {
  // The network interface answers a request from inside the delivery callback, which
  // injects packets; the packet table may grow (and move) meanwhile. The packet the
  // sink was given must stay valid through the callback: it used to be a reference
  // into the table, and a large all-reduce crashed reading it after such a growth.
  NocConfig c;
  const Topology t = make(c, 2, 2);
  sim::StatsRegistry reg;
  NetworkCore core(c, t, 1, sim::StatsScope(reg, "noc"), nullptr);
  struct Grower : PacketSink {
    NetworkCore* core = nullptr;
    std::map<uint32_t, uint64_t> tag_of;  // packet id -> the tag it was injected with
    uint64_t checked = 0, wrong = 0;
    void on_packet(uint32_t id, const Packet& p, uint64_t) override {
      if (checked == 0)  // many more packets than the table holds: it must grow
        for (uint32_t i = 0; i < 40000; ++i) core->inject(1, 2, 1, 0, 1000000 + i);
      ++checked;
      const auto it = tag_of.find(id);
      if (it != tag_of.end() && (p.tag != it->second || p.dst != 3)) ++wrong;
      if (it != tag_of.end()) tag_of.erase(it);
    }
  } sink;
  sink.core = &core;
  core.set_sink(&sink);
  // Enough packets queued that the table is large (well past what malloc keeps in
  // its heap, so the storage it leaves is returned to the system).
  for (uint32_t i = 0; i < 8000; ++i) sink.tag_of[core.inject(0, 3, 1, 0, i)] = i;
  while (core.busy()) core.step();
  CHECK(sink.wrong == 0);
  CHECK(sink.tag_of.empty());
  CHECK(sink.checked == 48000);
}
