// Synthetic traffic: steady-state latency near zero load, saturation against the
// bisection bound, and determinism.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "noc/synthetic_traffic.h"

using namespace tessera::noc;

namespace {

// 4-flit packets, a short warm-up and measurement, and room to drain past saturation.
TrafficConfig sweep_traffic() {
  TrafficConfig t;
  t.packet_flits = 4;
  t.warmup_cycles = 1000;
  t.measure_cycles = 3000;
  t.max_drain_cycles = 20000;
  return t;
}

}  // namespace

TEST_CASE("low-load latency matches the zero-load formula and throughput matches offer", "[unit]") {
  NocConfig c;
  TrafficConfig t;
  t.rate = 0.02;
  t.packet_flits = 4;
  t.warmup_cycles = 1000;
  t.measure_cycles = 5000;
  const TrafficResult r = run_synthetic(c, 8, 8, t);
  // Uniform on an 8x8 mesh: mean 2 x (64-1)/(3 x 8)... = 2 x 2.625 = 5.25 hops, 6.25
  // routers; 1 + 6.25 x 5 + 3 = 35.25 cycles.
  CHECK(r.zero_load_latency == Approx(35.25));
  CHECK(r.avg_packet_latency >= r.zero_load_latency * 0.97);
  CHECK(r.avg_packet_latency <= r.zero_load_latency * 1.05);
  CHECK(r.accepted_rate == Approx(0.02).epsilon(0.1));
  CHECK(r.drained);
  // Injection goes on while measured packets drain; nothing is lost or duplicated.
  CHECK(r.flits_delivered + r.flits_left == r.flits_injected);
}

TEST_CASE("same seed, same result, another seed, another sample", "[unit]") {
  NocConfig c;
  TrafficConfig t;
  t.rate = 0.3;
  t.warmup_cycles = 500;
  t.measure_cycles = 2000;
  const TrafficResult a = run_synthetic(c, 4, 4, t), b = run_synthetic(c, 4, 4, t);
  CHECK(a.avg_packet_latency == b.avg_packet_latency);
  CHECK(a.flits_injected == b.flits_injected);
  t.seed = 2;
  const TrafficResult d = run_synthetic(c, 4, 4, t);
  CHECK(d.flits_injected != a.flits_injected);
}

TEST_CASE("8x8 mesh: uniform saturates near the bisection bound, transpose lower", "[unit]") {
  NocConfig c;  // DOR, 2 VCs x 8 flits
  TrafficConfig t = sweep_traffic();
  std::vector<double> rates;
  for (int i = 1; i <= 14; ++i) rates.push_back(0.05 * i);
  const SweepResult uni = run_sweep(c, 8, 8, t, rates);
  t.pattern = TrafficPattern::kTranspose;
  const SweepResult tr = run_sweep(c, 8, 8, t, rates);
  // Bisection bound for uniform traffic on a k x k mesh: half of the N/2 nodes' traffic
  // on one side crosses k channels per direction: (N/2)(r/2) <= k, r <= 4/k = 0.5.
  const double bound = 4.0 / 8;
  INFO("uniform saturation " << uni.saturation_rate << ", transpose " << tr.saturation_rate);
  REQUIRE(uni.saturation_rate > 0);
  REQUIRE(tr.saturation_rate > 0);
  CHECK(uni.saturation_rate <= bound);
  // Measured with this router (2 VCs of 8 flits, one-iteration separable allocators):
  // about 0.72 of the bound; the "within 10 %" is not reached by it (the next
  // test and docs/validation.md cover the router options).
  CHECK(uni.saturation_rate >= 0.65 * bound);
  // Transpose under DOR loads the diagonal's channels: it saturates first.
  CHECK(tr.saturation_rate < uni.saturation_rate);
}

TEST_CASE("8x8 mesh: speculation, lookahead, VCs and iterations lift saturation", "[unit]") {
  TrafficConfig t = sweep_traffic();
  std::vector<double> rates;
  for (int i = 1; i <= 28; ++i) rates.push_back(0.025 * i);
  const double bound = 4.0 / 8;
  const SweepResult base = run_sweep(NocConfig{}, 8, 8, t, rates);
  NocConfig c;
  c.speculative_sa = true;
  c.lookahead_routing = true;
  c.vcs = 8;
  c.sw_alloc_iterations = 2;
  const SweepResult best = run_sweep(c, 8, 8, t, rates);
  t.pattern = TrafficPattern::kTranspose;
  const SweepResult tr = run_sweep(c, 8, 8, t, rates);
  INFO("textbook " << base.saturation_rate << ", speculative + lookahead, 8 VCs, 2 iterations "
                   << best.saturation_rate << ", transpose " << tr.saturation_rate);
  CHECK(best.zero_load_latency == Approx(1 + 6.25 * 3 + 3));
  REQUIRE(best.saturation_rate > 0);
  CHECK(best.saturation_rate <= bound);
  CHECK(best.saturation_rate >= base.saturation_rate + 0.03);
  // Peak accepted throughput of the best router: close to, but below, the bound.
  double peak = 0;
  for (const TrafficResult& p : best.points) peak = std::max(peak, p.accepted_rate);
  CHECK(peak >= 0.85 * bound);
  CHECK(peak <= bound);
  REQUIRE(tr.saturation_rate > 0);
  CHECK(tr.saturation_rate < best.saturation_rate);
}

TEST_CASE("8x8 mesh: input speedup brings saturation within 10 % of the bisection bound",
          "[unit]") {
  // Input speedup 2 (VC v on crossbar input v mod 2), 8 VCs, two switch allocation
  // iterations: an input port whose first VC loses its output can still send from
  // another, which is what holds the textbook router near 0.7 of the bound.
  TrafficConfig t = sweep_traffic();
  std::vector<double> rates;
  for (int i = 0; i <= 12; ++i) rates.push_back(0.36 + 0.015 * i);
  const double bound = 4.0 / 8;
  NocConfig c;
  c.vcs = 8;
  c.sw_alloc_iterations = 2;
  c.input_speedup = 2;
  const SweepResult uni = run_sweep(c, 8, 8, t, rates);
  t.pattern = TrafficPattern::kTranspose;
  const SweepResult tr = run_sweep(c, 8, 8, t, {0.05, 0.1, 0.125, 0.15, 0.175, 0.2});
  INFO("uniform saturation " << uni.saturation_rate << ", transpose " << tr.saturation_rate);
  // Zero-load latency is the textbook pipeline's: speedup adds no stage.
  CHECK(uni.zero_load_latency == Approx(35.25));
  REQUIRE(uni.saturation_rate > 0);
  CHECK(uni.saturation_rate >= 0.9 * bound);
  CHECK(uni.saturation_rate <= bound);
  REQUIRE(tr.saturation_rate > 0);
  CHECK(tr.saturation_rate < uni.saturation_rate);
}

TEST_CASE("fixed traffic patterns: neighbour, transpose and hotspot, with concentration",
          "[unit]") {
  std::mt19937_64 rng(1);
  TrafficConfig t;
  t.pattern = TrafficPattern::kNeighbor;
  // A crossbar's and a ring's neighbour is the next endpoint.
  const Topology xb = Topology::build(TopologyKind::kCrossbar, 8, 1, RoutingKind::kDor);
  const TrafficSource xs(xb, t);
  for (uint32_t s = 0; s < 8; ++s) CHECK(xs.destination(s, rng) == (s + 1) % 8);
  const Topology ring = Topology::build(TopologyKind::kRing, 6, 1, RoutingKind::kDor);
  const TrafficSource rs(ring, t);
  for (uint32_t s = 0; s < 6; ++s) CHECK(rs.destination(s, rng) == (s + 1) % 6);
  // A 4x4 mesh with 2 endpoints a router: the next router in the row, same place at it.
  const Topology m = Topology::build(TopologyKind::kMesh, 4, 4, RoutingKind::kDor,
                                     Topology::concentration(TopologyKind::kMesh, 4, 4, 2));
  const TrafficSource ms(m, t);
  CHECK(ms.destination(5, rng) == 6);
  CHECK(ms.destination(7, rng) == 4);
  CHECK(ms.destination(16 + 5, rng) == 16 + 6);
  t.pattern = TrafficPattern::kTranspose;
  const TrafficSource mt(m, t);
  CHECK(mt.destination(1, rng) == 4);            // (1,0) -> (0,1)
  CHECK(mt.destination(16 + 1, rng) == 16 + 4);  // second endpoints likewise
  // Hotspot: the hot node is the middle router's own endpoint, or the middle port.
  t.pattern = TrafficPattern::kHotspot;
  t.hotspot_fraction = 1.0;
  CHECK(TrafficSource(m, t).destination(0, rng) == 2 * 4 + 2);
  CHECK(TrafficSource(xb, t).destination(0, rng) == 4);
}
