// Collectives on the NVSwitch-style fabric against the alpha-beta cost models of
// shared/workloads/FACTS.md ("Collective cost models").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "noc/switch_fabric.h"
#include "slow_target.h"
#include "testbench/elaboration_guard.h"

using namespace tessera;
using namespace tessera::noc;

namespace {
FabricConfig fabric(uint32_t planes) {
  FabricConfig c;
  c.port_gbytes_per_s = 450;  // B
  c.link_latency_ns = 100;
  c.switch_latency_ns = 200;
  c.chunk_bytes = 4096;
  c.planes = planes;
  return c;
}
}  // namespace

TEST_CASE("ring all-reduce takes 2(P-1)*alpha + 2(P-1)/P * N/B", "[unit]") {
  for (uint32_t planes : {1u, 4u})
    for (uint32_t p : {2u, 4u, 8u, 16u})
      for (uint64_t n : {uint64_t(1) << 20, uint64_t(64) << 20}) {
        sim::StatsRegistry reg;
        FabricCore f(fabric(planes), 16, sim::StatsScope(reg, "fabric"), nullptr);
        const double B = f.port_bytes_per_ps();
        // alpha per step: endpoint->switch link, switch, switch->endpoint link, plus the
        // one chunk the switch stores before forwarding.
        const double alpha = f.step_latency_ps();
        const double model = 2.0 * (p - 1) * alpha + 2.0 * (p - 1) / p * double(n) / B;
        const double sim = f.ring_all_reduce(p, n);
        INFO("planes " << planes << " P " << p << " N " << n << " sim " << sim << " model "
                       << model);
        CHECK(std::abs(sim - model) <= 0.05 * model);
        // Each rank's link carried 2(P-1) segments of N/P.
        CHECK(reg.find_counter("fabric.port0.bytes_in")->value() ==
              2 * (p - 1) * ((n + p - 1) / p));
      }
}

TEST_CASE("switch-offloaded all-reduce takes N/B plus latency", "[unit]") {
  for (uint32_t p : {2u, 4u, 8u, 16u})
    for (uint64_t n : {uint64_t(1) << 20, uint64_t(64) << 20}) {
      sim::StatsRegistry reg;
      FabricCore f(fabric(1), 16, sim::StatsScope(reg, "fabric"), nullptr);
      const double B = f.port_bytes_per_ps();
      const double model = double(n) / B + f.step_latency_ps();
      const double sim = f.switch_all_reduce(p, n);
      INFO("P " << p << " N " << n << " sim " << sim << " model " << model);
      CHECK(std::abs(sim - model) <= 0.05 * model);
      // In-network reduction beats the ring by about 2(P-1)/P for large N.
      sim::StatsRegistry reg2;
      FabricCore g(fabric(1), 16, sim::StatsScope(reg2, "fabric"), nullptr);
      if (p > 2 && n > (1u << 20)) CHECK(g.ring_all_reduce(p, n) > 1.4 * sim);
    }
}

TEST_CASE("incast is limited by the output port, and backpressure holds senders", "[unit]") {
  FabricConfig c = fabric(1);
  c.output_queue_chunks = 2;
  sim::StatsRegistry reg;
  FabricCore f(c, 8, sim::StatsScope(reg, "fabric"), nullptr);
  const uint64_t n = 8 << 20;
  double done = 0;
  for (uint32_t s = 1; s <= 4; ++s) done = std::max(done, f.send(s, 0, n, 0));
  // Four senders into one output: 4N/B on its link, plus one step latency.
  const double bound = 4.0 * double(n) / f.port_bytes_per_ps();
  CHECK(done >= bound);
  CHECK(done <= bound + 2 * f.step_latency_ps());
  // A fifth sender to another port is held behind its own chunks only.
  const double other = f.send(5, 6, 4096, 0);
  CHECK(other <= 2 * f.step_latency_ps());
}

TEST_CASE("a stream of sub-chunk messages is striped over every plane", "[unit]") {
  // 4096 messages of 256 bytes (each smaller than a chunk) from port 0 to port 1, all
  // offered at t = 0, on 4 planes: the port's whole bandwidth, not one plane's quarter.
  sim::StatsRegistry reg;
  FabricCore f(fabric(4), 4, sim::StatsScope(reg, "fabric"), nullptr);
  const uint64_t n = 4096, bytes = 256;
  double done = 0;
  for (uint64_t i = 0; i < n; ++i) done = std::max(done, f.send(0, 1, bytes, 0.0));
  const double model = double(n * bytes) / f.port_bytes_per_ps() + f.step_latency_ps();
  INFO("sim " << done << " model " << model);
  CHECK(std::abs(done - model) <= 0.05 * model);
}

TEST_CASE("a fabric port reached from two nodes serves them in parallel, in order within each",
          "[unit]") {
  // Package 1 is reached from two NoC nodes (system.fabric.attach_nodes = 2), the address
  // picking one every 4 KiB. Eight writes from package 0 alternate between them; each
  // node's memory takes 100 ns a request. With an out socket and one open request per
  // node the two streams overlap: the last write completes about 4 x 100 ns after the
  // first arrives, not 8 x 100 ns as through one socket.
  TESSERA_ONE_ELABORATION();
  sim::StatsRegistry reg;
  SwitchFabric f{"fab2",
                 fabric(1),
                 2,
                 [](uint64_t) { return 1u; },
                 sim::StatsScope(reg, "fabric"),
                 nullptr,
                 2,
                 testing::region_of};
  testing::AtSender a{"a", 8}, b{"b", 0};
  testing::SlowMemory m10{"m10"}, m11{"m11"}, m00{"m00"}, m01{"m01"};
  REQUIRE(f.outs_per_port() == 2);
  REQUIRE(f.out.size() == 4);
  a.socket.bind(*f.in[0]);
  b.socket.bind(*f.in[1]);
  f.out[0]->bind(m00.socket);
  f.out[1]->bind(m01.socket);
  f.out[2]->bind(m10.socket);
  f.out[3]->bind(m11.socket);
  sc_core::sc_start();
  REQUIRE(a.done_ps.size() == 8);
  testing::check_regions_in_order(m10, m11);
  CHECK(m00.addrs.empty());
  // A write crosses two 100 ns links and the 200 ns switch, plus its wire time; its
  // acknowledgement comes back the same way (about 400 ns each way).
  const double last = double(*std::max_element(a.done_ps.begin(), a.done_ps.end()));
  const double first = double(*std::min_element(a.done_ps.begin(), a.done_ps.end()));
  CHECK(last - first >= 290e3);  // 3 more requests behind the first at each node
  CHECK(last - first < 500e3);   // serially: 7 x 100 ns behind the first
}
