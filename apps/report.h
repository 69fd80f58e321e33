// The run report: from the mapping, every command's simulated start and end, the
// statistics registry and the energy ledger, the headline figures a user asks for
// (time, TFLOP/s, utilisation, energy, tokens/s, cost) and the per-op breakdown.
// Rendered as a text table, as JSON (report.json) and as a CSV of ops.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mapper/mapper.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"
#include "models/system/system_spec.h"
#include "traces/workload.h"

namespace tessera::apps {

// A figure with an SI prefix (p to P), to three significant digits and never in
// exponent notation within that range: 0.381 J as "381 mJ", 9.54e-06 J as "9.54 uJ"
// ("u" as in the times' "us"), 999.7 W as "1 kW".
std::string si_figure(double v, const char* unit);
// A figure to `digits` significant digits in plain decimals, never an exponent:
// 4.108e-05 as "0.00004108", 111.33 as "111.3" (4 digits); whole numbers keep every
// digit (676268.4 as "676268").
std::string plain_figure(double v, int digits);

// Simulated start and end (ps) of each command, per tile.
struct CommandTimes {
  std::vector<std::vector<uint64_t>> start, end;
};

struct OpResult {
  std::string name, kind, bound, strategy;
  int64_t layer = -1;
  bool simulated = true;
  bool issued = true;  // it gave some tile a command (an op can be empty on this machine)
  uint32_t tiles = 0;
  uint64_t start_ps = 0, end_ps = 0;
  double flops = 0;
  double compute_floor_s = 0;  // its flops (every rank group's) at the peak of its tiles
  double memory_floor_s = 0;   // its HBM bytes at the peak of the machine's stacks
  // The larger of: its rank-to-rank bytes over every die-to-die and fabric link of the
  // machine, both ways; and the bytes its DMA rows and in-network reductions move
  // through its busiest die-to-die link direction or fabric port direction (to or from
  // another chiplet's HBM or scratchpads) at that link's rate.
  double link_floor_s = 0;
  // Its HBM traffic's flits (payload and one head flit per burst) through the busiest
  // stack's NoC ports, at one flit per port and cycle each way: where a stack's ports
  // carry less than the stack can deliver, the op cannot stream faster than this.
  double noc_floor_s = 0;
  double time_s() const { return double(end_ps - start_ps) * 1e-12; }
  // Its floors in the order the bound names them (compute, HBM, link, NoC), and the
  // largest: the one its bound names.
  std::array<double, 4> floors() const {
    return {compute_floor_s, memory_floor_s, link_floor_s, noc_floor_s};
  }
  double floor_s() const {
    const auto f = floors();
    return *std::max_element(f.begin(), f.end());
  }
};

struct RunReport {
  std::string machine, workload;
  double sim_time_s = 0;        // simulated
  double total_time_s = 0;      // sim_time_s, or scaled to all layers (estimated)
  bool time_estimated = false;  // true when repeated layers were not simulated
  uint32_t layers_total = 0, layers_simulated = 0;
  bool layers_differ = false;  // the scaled layers are not copies of the simulated ones
  double flops = 0;            // of the whole workload
  double tflops = 0, peak_tflops = 0;
  double util_array = 0, util_vector = 0, util_hbm = 0, util_noc = 0, util_d2d = 0, util_fabric = 0;
  double energy_j = 0, avg_power_w = 0;
  std::vector<std::pair<std::string, double>> energy_by_component;  // J
  bool llm = false;
  std::string phase;
  // Prefill: tokens in the KV cache before the prompt (meta past; a chunked prefill, whose
  // time is the time to first token only when it is the prompt's last chunk).
  int64_t past_tokens = 0;
  // Mixed (a continuous-batching iteration): decode sequences' new tokens and the prompt
  // chunks' tokens, and the iteration's time (the decode sequences' time between tokens,
  // and the chunks' time).
  double decode_tokens = 0, prompt_tokens = 0, iteration_s = 0;
  // Per-token figures only with tokens and simulated time (JSON null and no text line
  // otherwise).
  bool has_per_token_figures() const { return llm && tokens > 0 && total_time_s > 0; }
  double tokens = 0, tokens_per_s = 0, ttft_s = 0, per_token_latency_s = 0, joules_per_token = 0,
         cost_per_mtok_usd = 0;
  double dollars_per_hour = 0;  // the whole system's price (cost.per package: times packages)
  double static_power_w = 0;    // the compute dies' static power (chiplet.static_w x chiplets)
  // Pipeline parallelism (meta pp): the trace is one stage, and every stage ran at once
  // (a full pipeline). A token crosses all of them, so its latency (time to first token,
  // per-token latency) is pipeline_stages x the stage's time: estimated, not simulated.
  uint32_t pipeline_stages = 1;
  bool latency_estimated = false;
  std::vector<OpResult> ops;

  nlohmann::json to_json() const;
  std::string to_text() const;
  std::string ops_csv() const;
};

RunReport make_report(const traces::Workload& w, const system::SystemSpec& spec,
                      const mapper::Mapping& m, const CommandTimes& times,
                      const sim::StatsRegistry& stats, const sim::EnergyLedger& energy,
                      uint64_t sim_time_ps, const std::string& workload_name);

}  // namespace tessera::apps
