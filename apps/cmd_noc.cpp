// `tessera noc`: the on-chip network micro-benchmark (synthetic traffic on the
// cycle-level core), one load point or a whole latency-throughput sweep.
#include <cmath>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/sim/errors.h"
#include "noc/synthetic_traffic.h"

namespace tessera::apps {

namespace {

struct NocOptions {
  std::string topology = "mesh";
  uint32_t k = 8;
  uint32_t ky = 0;
  uint32_t concentration = 1;
  std::string traffic = "uniform";
  double rate = 0.3;
  uint32_t packet_flits = 4;
  uint32_t vcs = 2;
  uint32_t vc_buffer = 8;
  std::string routing = "dor";
  std::string allocator = "round_robin";
  bool speculative = false;
  bool lookahead = false;
  uint32_t sa_iterations = 1;
  uint32_t input_speedup = 1;
  uint64_t seed = 1;
  uint64_t warmup = 2000;
  uint64_t measure = 10000;
  std::string sweep;
  std::string format = "text";
};

std::vector<double> parse_sweep(const std::string& s) {
  double a, step, b;
  char c1, c2;
  std::istringstream is(s);
  if (!(is >> a >> c1 >> step >> c2 >> b) || c1 != ':' || c2 != ':' || !(step > 0) || a <= 0 ||
      b < a || b > 1.0 || !is.eof())
    throw sim::UserError("--sweep '" + s +
                         "' must be start:step:end with 0 < start <= end <= 1 and step > 0");
  if ((b - a) / step > 1000)
    throw sim::UserError("--sweep '" + s + "': more than 1000 rates (a larger step, please)");
  std::vector<double> r;
  for (int i = 0;; ++i) {
    const double v = a + i * step;
    if (v > b + 1e-9) break;
    r.push_back(std::round(v * 1e6) / 1e6);
  }
  return r;
}

nlohmann::json point_json(const noc::TrafficResult& r) {
  return {{"offered_rate", r.offered_rate},
          {"avg_packet_latency_cycles", r.avg_packet_latency},
          {"avg_network_latency_cycles", r.avg_network_latency},
          {"accepted_flits_per_node_cycle", r.accepted_rate},
          {"zero_load_latency_cycles", r.zero_load_latency},
          {"measured_packets", r.measured_packets},
          {"simulated_cycles", r.cycles},
          {"drained", r.drained}};
}

void run(const NocOptions& o) {
  if (o.format != "text" && o.format != "json")
    throw sim::UserError("--format must be text or json");
  noc::NocConfig cfg;
  cfg.topology = o.topology;
  cfg.vcs = o.vcs;
  cfg.vc_buffer_flits = o.vc_buffer;
  cfg.routing = o.routing;
  cfg.allocator = o.allocator;
  cfg.speculative_sa = o.speculative;
  cfg.lookahead_routing = o.lookahead;
  cfg.sw_alloc_iterations = o.sa_iterations;
  cfg.input_speedup = o.input_speedup;
  if (o.input_speedup > o.vcs)
    throw sim::UserError("--input-speedup " + std::to_string(o.input_speedup) + " exceeds --vcs " +
                         std::to_string(o.vcs) + " (each crossbar input serves at least one VC)");
  if (cfg.routing == "west_first" && cfg.topology != "mesh")
    throw sim::UserError("--routing west_first needs --topology mesh");
  const uint32_t ky = (o.topology == "mesh" || o.topology == "torus") ? (o.ky ? o.ky : o.k) : 1;
  noc::TrafficConfig tc;
  tc.pattern = noc::parse_traffic(o.traffic);
  tc.rate = o.rate;
  tc.packet_flits = o.packet_flits;
  tc.seed = o.seed;
  tc.warmup_cycles = o.warmup;
  tc.measure_cycles = o.measure;
  tc.concentration = o.concentration;
  if (o.measure == 0) throw sim::UserError("--measure must be at least 1 cycle");
  // What network and traffic a result is for (a concentration above 1 is named).
  const std::string conc =
      o.concentration > 1 ? fmt::format(" concentration={}", o.concentration) : "";
  auto label = [&o](nlohmann::json& j) {
    j["topology"] = o.topology;
    if (o.concentration > 1) j["concentration"] = o.concentration;
    j["traffic"] = o.traffic;
  };

  if (!o.sweep.empty()) {
    const noc::SweepResult s = noc::run_sweep(cfg, o.k, ky, tc, parse_sweep(o.sweep));
    if (o.format == "json") {
      nlohmann::json j;
      label(j);
      j["zero_load_latency_cycles"] = s.zero_load_latency;
      j["points"] = nlohmann::json::array();
      for (const auto& p : s.points) j["points"].push_back(point_json(p));
      if (s.saturation_rate >= 0)
        j["saturation_rate"] = s.saturation_rate;
      else
        j["saturation_rate"] = nullptr;
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format(
        "{} k={}{} traffic={} packet={} flits, zero-load latency {:.2f} cycles\n", o.topology, o.k,
        conc, o.traffic, o.packet_flits, s.zero_load_latency);
    std::cout << fmt::format("{:>8} {:>12} {:>12} {:>10}\n", "offered", "pkt latency",
                             "net latency", "accepted");
    for (const auto& p : s.points)
      std::cout << fmt::format("{:>8.3f} {:>12.2f} {:>12.2f} {:>10.4f}{}\n", p.offered_rate,
                               p.avg_packet_latency, p.avg_network_latency, p.accepted_rate,
                               p.drained ? "" : "  (not drained)");
    if (s.saturation_rate >= 0)
      std::cout << fmt::format("saturation (latency > 3x zero-load) at {:.4f} flits/node/cycle\n",
                               s.saturation_rate);
    else
      std::cout << "saturation not reached in the swept range\n";
    return;
  }
  const noc::TrafficResult r = noc::run_synthetic(cfg, o.k, ky, tc);
  if (o.format == "json") {
    nlohmann::json j = point_json(r);
    label(j);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format(
      "{} k={}{} traffic={} offered {:.3f} flits/node/cycle, {}-flit packets\n"
      "  average packet latency   {:.2f} cycles\n"
      "  average network latency  {:.2f} cycles\n"
      "  accepted throughput      {:.4f} flits/node/cycle\n"
      "  zero-load latency        {:.2f} cycles\n"
      "  measured packets         {}{}\n",
      o.topology, o.k, conc, o.traffic, o.rate, o.packet_flits, r.avg_packet_latency,
      r.avg_network_latency, r.accepted_rate, r.zero_load_latency, r.measured_packets,
      r.drained ? "" : " (not all drained: past saturation)");
  if (o.speculative)
    std::cout << fmt::format("  wasted switch grants     {} (speculations that lost the VC)\n",
                             r.misspeculations);
}

}  // namespace

void add_noc_command(CLI::App& app) {
  static NocOptions o;
  auto* cmd = app.add_subcommand("noc", "on-chip network micro-benchmark with synthetic traffic");
  cmd->add_option("--topology", o.topology, "mesh | torus | ring | crossbar")
      ->check(CLI::IsMember({"mesh", "torus", "ring", "crossbar"}));
  cmd->add_option("--k", o.k, "routers per dimension (ring size, crossbar ports)")
      ->check(CLI::Range(2u, 4096u));
  cmd->add_option("--ky", o.ky, "rows of a mesh/torus when not square (default --k)")
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--concentration", o.concentration,
                  "endpoints per router (mesh, torus, ring), each on a local port of its own")
      ->check(CLI::Range(1u, 16u));
  cmd->add_option("--traffic", o.traffic,
                  "uniform | transpose | bitcomp | bitrev | hotspot | neighbor");
  cmd->add_option("--rate", o.rate, "offered load, flits per node per cycle");
  cmd->add_option("--packet-flits", o.packet_flits, "flits per packet")
      ->check(CLI::Range(1u, 65535u));
  cmd->add_option("--vcs", o.vcs, "virtual channels per port")->check(CLI::Range(1u, 16u));
  cmd->add_option("--vc-buffer", o.vc_buffer, "flits per VC buffer")->check(CLI::Range(1u, 256u));
  cmd->add_option("--routing", o.routing, "dor | west_first")
      ->check(CLI::IsMember({"dor", "west_first"}));
  cmd->add_option("--allocator", o.allocator, "round_robin | islip")
      ->check(CLI::IsMember({"round_robin", "islip"}));
  cmd->add_flag("--speculative", o.speculative,
                "speculative switch allocation in parallel with VC allocation");
  cmd->add_flag("--lookahead", o.lookahead, "lookahead routing (route computed one hop ahead)");
  cmd->add_option("--sa-iterations", o.sa_iterations, "switch allocation iterations per cycle")
      ->check(CLI::Range(1u, 8u));
  cmd->add_option("--input-speedup", o.input_speedup,
                  "crossbar inputs per router input port (VC v on input v mod S)")
      ->check(CLI::Range(1u, 8u));
  cmd->add_option("--seed", o.seed, "random seed");
  cmd->add_option("--warmup", o.warmup, "warm-up cycles");
  cmd->add_option("--measure", o.measure, "measurement cycles");
  cmd->add_option("--sweep", o.sweep, "start:step:end offered rates");
  cmd->add_option("--format", o.format, "text | json");
  cmd->callback([] { run(o); });
}

}  // namespace tessera::apps
