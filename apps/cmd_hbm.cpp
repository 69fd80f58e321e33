// `tessera hbm`: the HBM micro-benchmark. Drives one stack's plain-C++ core with a
// synthetic pattern and prints bandwidth (total, per channel), % of peak, read
// latency, row-hit rate and energy per bit; `--format json` prints one object.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/memory/hbm_traffic.h"
#include "models/sim/config_schema.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/errors.h"
#include "models/sim/stats_registry.h"

namespace tessera::apps {

namespace {
struct HbmOptions {
  std::string preset = "hbm3";
  std::string config;
  std::vector<std::string> sets;
  memory::HbmTrafficSpec spec;
  double read_fraction = -1.0;
  std::string format = "text";
};

nlohmann::json run_hbm(const HbmOptions& o) {
  YAML::Node node;
  std::string label = "--preset " + o.preset;
  if (!o.config.empty()) {
    node = sim::load_yaml_file(o.config);
    label = o.config;
  } else {
    node["preset"] = o.preset;
  }
  for (const auto& s : o.sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      throw sim::UserError("--set " + s + ": expected key.path=value");
    sim::set_yaml_path(node, s.substr(0, eq), s.substr(eq + 1));
  }
  memory::HbmConfig cfg;
  sim::ConfigLoader::load(cfg, node, label);
  memory::HbmTrafficSpec spec = o.spec;
  spec.read_fraction =
      o.read_fraction >= 0 ? o.read_fraction : (spec.pattern == "mix" ? 0.67 : 1.0);
  sim::StatsRegistry reg;
  sim::EnergyLedger energy;
  memory::HbmStackCore core(cfg, sim::StatsScope(reg, "hbm"), energy);
  const auto r = memory::run_hbm_traffic(core, spec);
  const double ps = double(r.cycles) * cfg.tck_ps();

  auto chan = [&](const std::string& p, double bits) {
    nlohmann::json j;
    j["bandwidth_gbps"] = reg.value(p + "bandwidth");
    j["read_latency_ns"] = {{"avg", reg.value(p + "read_latency_avg_ns")},
                            {"p50", reg.value(p + "read_latency_p50_ns")},
                            {"p99", reg.value(p + "read_latency_p99_ns")}};
    j["row_hit_rate"] = reg.value(p + "row_hit_rate");
    const std::string comp = p.substr(0, p.size() - 1);
    j["energy_pj_per_bit"] = bits > 0 ? energy.total_pj_under(comp) / bits : 0.0;
    return j;
  };
  const double bits = 8.0 * (reg.value("hbm.bytes_read") + reg.value("hbm.bytes_written"));
  nlohmann::json out = chan("hbm.", bits);
  out["preset"] = cfg.preset.empty() ? "custom" : cfg.preset;
  out["pattern"] = spec.pattern;
  if (spec.pattern == "streams") out["streams"] = spec.streams;
  out["requests"] = r.requests;
  out["request_bytes"] = spec.request_bytes;
  out["read_fraction"] = spec.read_fraction;
  out["outstanding"] = spec.outstanding;
  out["seed"] = spec.seed;
  out["peak_gbps"] = cfg.peak_gbps();
  out["percent_of_peak"] = 100.0 * reg.value("hbm.bandwidth") / cfg.peak_gbps();
  out["sim_time_ns"] = ps / 1000.0;
  out["cycles"] = r.cycles;
  out["energy_pj"] = energy.total_pj_under("hbm");
  out["channels"] = nlohmann::json::array();
  for (uint32_t c = 0; c < cfg.org.channels; ++c) {
    const std::string p = "hbm.ch" + std::to_string(c) + ".";
    const double cbits = 8.0 * (reg.value(p + "bytes_read") + reg.value(p + "bytes_written"));
    out["channels"].push_back(chan(p, cbits));
  }
  return out;
}

void print_text(const nlohmann::json& j) {
  std::string pattern = j["pattern"].get<std::string>();
  if (j.contains("streams")) pattern += " (" + std::to_string(j["streams"].get<uint32_t>()) + ")";
  std::printf("HBM %s, pattern %s, %llu requests of %llu B, read fraction %.2f, %llu in flight\n",
              j["preset"].get<std::string>().c_str(), pattern.c_str(),
              (unsigned long long)j["requests"].get<uint64_t>(),
              (unsigned long long)j["request_bytes"].get<uint64_t>(),
              j["read_fraction"].get<double>(),
              (unsigned long long)j["outstanding"].get<uint64_t>());
  std::printf("  bandwidth      %8.1f GB/s of %.1f peak (%.1f %%)\n",
              j["bandwidth_gbps"].get<double>(), j["peak_gbps"].get<double>(),
              j["percent_of_peak"].get<double>());
  const auto& l = j["read_latency_ns"];
  std::printf("  read latency   avg %.1f ns, p50 %.1f ns, p99 %.1f ns\n", l["avg"].get<double>(),
              l["p50"].get<double>(), l["p99"].get<double>());
  std::printf("  row hit rate   %.3f\n", j["row_hit_rate"].get<double>());
  std::printf("  energy         %.2f pJ/bit (core array, background included)\n",
              j["energy_pj_per_bit"].get<double>());
  std::printf("  simulated      %.1f ns (%llu clocks)\n", j["sim_time_ns"].get<double>(),
              (unsigned long long)j["cycles"].get<uint64_t>());
  std::printf("  channel  GB/s     hit rate  p50 ns  p99 ns\n");
  int c = 0;
  for (const auto& ch : j["channels"])
    std::printf("  %-7d  %7.1f  %8.3f  %6.1f  %6.1f\n", c++, ch["bandwidth_gbps"].get<double>(),
                ch["row_hit_rate"].get<double>(), ch["read_latency_ns"]["p50"].get<double>(),
                ch["read_latency_ns"]["p99"].get<double>());
}
}  // namespace

void add_hbm_command(CLI::App& app) {
  static HbmOptions o;
  auto* cmd = app.add_subcommand("hbm", "HBM stack micro-benchmark (bandwidth, latency, energy)");
  cmd->add_option("--preset", o.preset, "HBM preset: hbm2, hbm2e, hbm3, hbm3e")
      ->capture_default_str();
  cmd->add_option("--config", o.config, "YAML file of an HBM config (instead of --preset)");
  cmd->add_option("--set", o.sets, "override a config key, e.g. --set timing.tRCD=40");
  cmd->add_option("--pattern", o.spec.pattern,
                  "seq, random, mix, strided or streams (--streams sequential streams from "
                  "random, disjoint bases, interleaved: tiles streaming weights at once)")
      ->capture_default_str();
  cmd->add_option("--streams", o.spec.streams, "concurrent sequential streams (streams)")
      ->capture_default_str();
  cmd->add_option("--read-fraction", o.read_fraction,
                  "share of reads (default 0.67 for mix, else 1)");
  cmd->add_option("--stride", o.spec.stride, "bytes between requests (strided)")
      ->capture_default_str();
  cmd->add_option("--requests", o.spec.requests, "number of requests")->capture_default_str();
  cmd->add_option("--request-bytes", o.spec.request_bytes, "bytes per request")
      ->capture_default_str();
  cmd->add_option("--outstanding", o.spec.outstanding, "requests kept in flight")
      ->capture_default_str();
  cmd->add_option("--seed", o.spec.seed, "random seed")->capture_default_str();
  cmd->add_option("--format", o.format, "text or json")->capture_default_str();
  cmd->callback([] {
    if (o.format != "text" && o.format != "json")
      throw sim::UserError("--format " + o.format + ": expected text or json");
    const auto names = memory::hbm_preset_names();
    if (o.config.empty() && std::find(names.begin(), names.end(), o.preset) == names.end())
      throw sim::UserError("--preset " + o.preset + ": unknown (hbm2, hbm2e, hbm3, hbm3e)");
    const nlohmann::json j = run_hbm(o);
    if (o.format == "json")
      std::cout << j.dump(2) << "\n";
    else
      print_text(j);
  });
}

}  // namespace tessera::apps
