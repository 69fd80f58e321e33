#include "noc/synthetic_traffic.h"

#include <chrono>
#include <random>

#include "models/sim/errors.h"
#include "noc/network_core.h"

namespace tessera::noc {

TrafficPattern parse_traffic(const std::string& s) {
  if (s == "uniform") return TrafficPattern::kUniform;
  if (s == "transpose") return TrafficPattern::kTranspose;
  if (s == "bitcomp" || s == "bit_complement") return TrafficPattern::kBitComplement;
  if (s == "bitrev" || s == "bit_reverse") return TrafficPattern::kBitReverse;
  if (s == "hotspot") return TrafficPattern::kHotspot;
  if (s == "neighbor" || s == "neighbour") return TrafficPattern::kNeighbor;
  throw sim::UserError("--traffic '" + s +
                       "' is not one of uniform, transpose, bitcomp, bitrev, hotspot, neighbor");
}

TrafficSource::TrafficSource(const Topology& topo, const TrafficConfig& cfg)
    : pattern_(cfg.pattern),
      n_(topo.num_nodes()),
      // Endpoints that are each a router's own: the routers, or a crossbar's ports.
      r_(topo.kind() == TopologyKind::kCrossbar ? topo.num_nodes() : topo.num_routers()),
      kx_(topo.kx()),
      ky_(topo.ky()),
      bits_(0),
      hot_(0),
      hot_frac_(cfg.hotspot_fraction) {
  while ((1u << bits_) < n_) ++bits_;
  const bool pow2 = (1u << bits_) == n_;
  const bool grid = topo.kind() == TopologyKind::kMesh || topo.kind() == TopologyKind::kTorus;
  if (pattern_ == TrafficPattern::kTranspose && !(grid && kx_ == ky_) && !(pow2 && bits_ % 2 == 0))
    throw sim::UserError("--traffic transpose needs a square mesh/torus or 4^n endpoints");
  if (pattern_ == TrafficPattern::kBitReverse && !pow2)
    throw sim::UserError("--traffic bitrev needs a power-of-two number of endpoints");
  // The hot node sits in the middle of a grid (the worst place for nobody in particular).
  hot_ = grid ? (ky_ / 2) * kx_ + kx_ / 2 : r_ / 2;
}

uint32_t TrafficSource::fixed_dest(uint32_t src) const {
  // With several endpoints per router (concentration), the grid patterns move the
  // router and keep the endpoint's place at it (endpoint = slot * routers + router).
  const uint32_t slot_base = src / r_ * r_, r = src % r_;
  switch (pattern_) {
    case TrafficPattern::kTranspose:
      if (ky_ == kx_ && ky_ > 1) return slot_base + (r % kx_) * kx_ + r / kx_;
      return ((src >> (bits_ / 2)) | (src << (bits_ / 2))) & (n_ - 1);
    case TrafficPattern::kBitComplement:
      return n_ - 1 - src;  // equals ~src for a power of two
    case TrafficPattern::kBitReverse: {
      uint32_t d = 0;
      for (uint32_t b = 0; b < bits_; ++b)
        if (src & (1u << b)) d |= 1u << (bits_ - 1 - b);
      return d;
    }
    case TrafficPattern::kNeighbor:
      if (ky_ > 1) return slot_base + (r / kx_) * kx_ + (r % kx_ + 1) % kx_;
      return slot_base + (r + 1) % r_;
    default:
      return src;
  }
}

template <class Rng>
uint32_t TrafficSource::destination(uint32_t src, Rng& rng) const {
  if (pattern_ == TrafficPattern::kUniform)
    return uint32_t(std::uniform_int_distribution<uint32_t>(0, n_ - 1)(rng));
  if (pattern_ == TrafficPattern::kHotspot) {
    if (std::uniform_real_distribution<double>(0, 1)(rng) < hot_frac_) return hot_;
    return uint32_t(std::uniform_int_distribution<uint32_t>(0, n_ - 1)(rng));
  }
  return fixed_dest(src);
}

template uint32_t TrafficSource::destination<std::mt19937_64>(uint32_t, std::mt19937_64&) const;

uint64_t zero_load_latency(const NocConfig& c, uint32_t routers, uint32_t packet_flits) {
  return c.link_cycles + uint64_t(routers) * c.router_cycles() + (packet_flits - 1);
}

double TrafficSource::zero_load_latency(const Topology& topo, const NocConfig& noc) const {
  // Averaged over sources (and, for random patterns, destinations) with the pattern's weights.
  double sum = 0;
  for (uint32_t s = 0; s < n_; ++s) {
    double r;
    if (pattern_ == TrafficPattern::kUniform || pattern_ == TrafficPattern::kHotspot) {
      double u = 0;
      for (uint32_t d = 0; d < n_; ++d) u += topo.routers_on_path(s, d);
      u /= n_;
      r = pattern_ == TrafficPattern::kHotspot
              ? hot_frac_ * topo.routers_on_path(s, hot_) + (1 - hot_frac_) * u
              : u;
    } else {
      r = topo.routers_on_path(s, fixed_dest(s));
    }
    sum += r;
  }
  const double routers = sum / n_;
  return noc.link_cycles + routers * double(noc.router_cycles());  // + (F - 1) added by the caller
}

namespace {

class MeasureSink : public PacketSink {
 public:
  uint64_t window_lo = 0, window_hi = 0;
  uint64_t window_flits = 0;
  uint64_t measured_done = 0;
  double lat_sum = 0, net_sum = 0;
  void on_packet(uint32_t, const Packet& p, uint64_t now) override {
    (void)now;
    if (p.measured) {
      ++measured_done;
      lat_sum += double(now - p.created);
      net_sum += double(now - p.injected);
    }
  }
};

}  // namespace

TrafficResult run_synthetic(const NocConfig& noc, uint32_t kx, uint32_t ky,
                            const TrafficConfig& tc) {
  if (!(tc.rate > 0) || tc.rate > 1.0)
    throw sim::UserError("--rate must be in (0, 1] flits/node/cycle");
  if (tc.packet_flits < 1 || tc.packet_flits > 65535)
    throw sim::UserError("--packet-flits must be 1..65535");
  const TopologyKind kind = parse_topology(noc.topology);
  const Topology topo = Topology::build(kind, kx, ky, parse_routing(noc.routing),
                                        Topology::concentration(kind, kx, ky, tc.concentration));
  sim::StatsRegistry reg;
  NetworkCore core(noc, topo, 1, sim::StatsScope(reg, "noc"), nullptr);
  MeasureSink sink;
  core.set_sink(&sink);
  TrafficSource src(topo, tc);
  const uint32_t N = topo.num_nodes();
  std::mt19937_64 rng(tc.seed);
  const double p = tc.rate / tc.packet_flits;  // packets per node per cycle
  // Bernoulli trials per cycle, drawn as geometric gaps so idle cycles cost nothing.
  auto gap = [&]() -> uint64_t {
    if (p >= 1.0) return 0;
    return std::geometric_distribution<uint64_t>(p)(rng);
  };
  std::vector<uint64_t> next(N);
  for (uint32_t n = 0; n < N; ++n) next[n] = gap();
  const uint64_t lo = tc.warmup_cycles, hi = tc.warmup_cycles + tc.measure_cycles;
  uint64_t measured_created = 0, window_flits = 0;
  uint64_t delivered_at_lo = 0;
  const auto t0 = std::chrono::steady_clock::now();
  TrafficResult res;
  res.offered_rate = tc.rate;
  while (true) {
    const uint64_t now = core.now();
    if (now == lo) delivered_at_lo = core.flits_delivered();
    if (now == hi) window_flits = core.flits_delivered() - delivered_at_lo;
    if (now >= hi && sink.measured_done == measured_created) break;
    if (now >= hi + tc.max_drain_cycles) {
      res.drained = false;
      break;
    }
    const bool measuring = now >= lo && now < hi;
    uint64_t earliest = UINT64_MAX;
    for (uint32_t n = 0; n < N; ++n) {
      if (next[n] == now) {
        core.inject(n, src.destination(n, rng), tc.packet_flits, 0, 0, measuring);
        measured_created += measuring;
        next[n] = now + 1 + gap();
      }
      earliest = std::min(earliest, next[n]);
    }
    core.step();
    if (!core.busy()) {
      // Idle: jump to the next injection (but not over the phase boundaries).
      uint64_t to = earliest;
      if (core.now() <= lo) to = std::min(to, lo);
      if (core.now() <= hi) to = std::min(to, hi);
      core.skip_to(to);
    }
  }
  res.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.cycles = core.now();
  res.measured_packets = sink.measured_done;
  res.avg_packet_latency = sink.measured_done ? sink.lat_sum / double(sink.measured_done) : 0;
  res.avg_network_latency = sink.measured_done ? sink.net_sum / double(sink.measured_done) : 0;
  res.accepted_rate = double(window_flits) / (double(N) * double(tc.measure_cycles));
  res.zero_load_latency = src.zero_load_latency(topo, noc) + (tc.packet_flits - 1);
  res.flits_injected = core.flits_injected();
  res.flits_delivered = core.flits_delivered();
  res.flits_left = core.flits_in_network();
  res.max_vc_occupancy = core.max_vc_occupancy();
  res.misspeculations = core.misspeculations();
  return res;
}

SweepResult run_sweep(const NocConfig& noc, uint32_t kx, uint32_t ky, TrafficConfig tc,
                      const std::vector<double>& rates) {
  SweepResult s;
  for (double r : rates) {
    tc.rate = r;
    TrafficResult res = run_synthetic(noc, kx, ky, tc);
    s.zero_load_latency = res.zero_load_latency;
    s.points.push_back(res);
    if (!res.drained || res.avg_packet_latency > 10 * res.zero_load_latency) break;
  }
  // Saturation: linear interpolation of the offered rate where latency crosses 3x zero-load.
  const double limit = 3 * s.zero_load_latency;
  for (size_t i = 0; i < s.points.size(); ++i) {
    const TrafficResult& b = s.points[i];
    if (b.drained && b.avg_packet_latency <= limit) continue;
    if (i == 0) {
      s.saturation_rate = b.offered_rate;
    } else {
      const TrafficResult& a = s.points[i - 1];
      const double lb = b.drained ? b.avg_packet_latency : std::max(b.avg_packet_latency, limit);
      const double f = (lb > a.avg_packet_latency)
                           ? (limit - a.avg_packet_latency) / (lb - a.avg_packet_latency)
                           : 1.0;
      s.saturation_rate = a.offered_rate + f * (b.offered_rate - a.offered_rate);
    }
    break;
  }
  return s;
}

}  // namespace tessera::noc
