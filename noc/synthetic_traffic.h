// Synthetic traffic for the plain network core: the classic patterns, Bernoulli
// injection at a rate in flits/node/cycle, and warm-up / measurement / drain phases so
// that latency comes from steady state (packets created in the measurement window are
// followed until delivered, while injection goes on).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "noc/noc_config.h"
#include "noc/topology.h"

namespace tessera::noc {

enum class TrafficPattern {
  kUniform,
  kTranspose,
  kBitComplement,
  kBitReverse,
  kHotspot,
  kNeighbor
};
TrafficPattern parse_traffic(const std::string& s);

struct TrafficConfig {
  TrafficPattern pattern = TrafficPattern::kUniform;
  double rate = 0.1;  // offered flits per node per cycle
  uint32_t packet_flits = 4;
  uint64_t seed = 1;
  uint64_t warmup_cycles = 2000;
  uint64_t measure_cycles = 10000;
  uint64_t max_drain_cycles = 200000;  // give up following measured packets after this
  double hotspot_fraction = 0.2;       // hotspot: share of packets sent to the hot node
  uint32_t concentration = 1;          // endpoints per router (mesh, torus, ring)
};

struct TrafficResult {
  double offered_rate = 0;
  double avg_packet_latency = 0;   // creation to tail received, measured packets
  double avg_network_latency = 0;  // head sent to tail received
  double accepted_rate = 0;        // flits received per node per cycle in the window
  double zero_load_latency = 0;    // formula, averaged over the pattern's pairs
  uint64_t measured_packets = 0;
  uint64_t cycles = 0;  // simulated cycles
  bool drained = true;  // every measured packet arrived within max_drain_cycles
  uint64_t flits_injected = 0, flits_delivered = 0, flits_left = 0;
  uint32_t max_vc_occupancy = 0;
  uint64_t misspeculations = 0;  // speculative switch grants wasted (speculative_sa)
  double wall_seconds = 0;
};

// Destination of a packet from `src` (uniform and hotspot draw from `rng`).
class TrafficSource {
 public:
  TrafficSource(const Topology& topo, const TrafficConfig& cfg);
  template <class Rng>
  uint32_t destination(uint32_t src, Rng& rng) const;
  // Mean zero-load latency of the pattern under the network's pipeline.
  double zero_load_latency(const Topology& topo, const NocConfig& noc) const;

 private:
  uint32_t fixed_dest(uint32_t src) const;
  TrafficPattern pattern_;
  uint32_t n_, r_, kx_, ky_, bits_, hot_;
  double hot_frac_;
};

// Zero-load latency of one packet: the interface-to-router link, then per router
// NocConfig::router_cycles() (textbook: routing + VC allocation + switch allocation +
// crossbar + output link), then the remaining flits one per cycle.
uint64_t zero_load_latency(const NocConfig& noc, uint32_t routers, uint32_t packet_flits);

TrafficResult run_synthetic(const NocConfig& noc, uint32_t kx, uint32_t ky,
                            const TrafficConfig& traffic);

struct SweepResult {
  std::vector<TrafficResult> points;
  double zero_load_latency = 0;
  double saturation_rate = -1;  // offered rate where latency passes 3x zero-load (-1: not reached)
};
// Runs each rate in order; stops after the first point beyond 10x zero-load latency.
SweepResult run_sweep(const NocConfig& noc, uint32_t kx, uint32_t ky, TrafficConfig traffic,
                      const std::vector<double>& rates);

}  // namespace tessera::noc
