// `tessera gemm`: one GEMM on one systolic array, as a micro-benchmark of the array
// model, the Verilated RTL, both in lockstep, or the closed form.
#include <iostream>
#include <random>
#include <regex>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/compute/gemm_engine.h"
#include "models/sim/errors.h"

namespace tessera::apps {

namespace {

struct GemmOptions {
  std::string array = "32x32";
  std::string dataflow = "ws";
  long long m = 512, n = 512, k = 512;
  std::string fold_overlap = "true";
  std::string impl = "model";
  std::string vcd;
  std::string format = "text";
  uint64_t seed = 1;
};

uint32_t dim(long long v, const char* opt) {
  if (v < 1 || v > (1ll << 24))
    throw sim::UserError(std::string("tessera gemm: ") + opt +
                         " must be between 1 and 16777216 (got " + std::to_string(v) + ")");
  return uint32_t(v);
}

void run_gemm_command(const GemmOptions& o) {
  compute::ArrayConfig cfg;
  std::smatch sm;
  if (!std::regex_match(o.array, sm, std::regex("([0-9]{1,5})x([0-9]{1,5})")))
    throw sim::UserError("tessera gemm: --array must be RxC, e.g. 32x32 (got '" + o.array + "')");
  cfg.rows = uint32_t(std::stoul(sm[1]));
  cfg.cols = uint32_t(std::stoul(sm[2]));
  if (cfg.rows < 1 || cfg.cols < 1 || cfg.rows > 1024 || cfg.cols > 1024)
    throw sim::UserError("tessera gemm: --array rows and cols must be 1..1024 (got '" + o.array +
                         "')");
  cfg.dataflow = o.dataflow;
  compute::parse_dataflow(o.dataflow);
  if (o.fold_overlap != "true" && o.fold_overlap != "false")
    throw sim::UserError("tessera gemm: --fold-overlap must be true or false (got '" +
                         o.fold_overlap + "')");
  cfg.fold_overlap = o.fold_overlap == "true";
  cfg.impl = o.impl;
  const uint32_t m = dim(o.m, "--m"), n = dim(o.n, "--n"), k = dim(o.k, "--k");
  // Counts derived from the product (MACs, operand and partial-sum bytes) stay far from
  // 64-bit overflow; engines that compute values hold the operands and results in memory.
  if (double(m) * n * k > 0x1p50)
    throw sim::UserError("tessera gemm: m x n x k = " + fmt::format("{:.3g}", double(m) * n * k) +
                         " multiply-accumulates, more than 2^50");
  if (o.impl != "closed-form" && double(m) * k + double(k) * n + 8.0 * m * n > 0x1p31)
    throw sim::UserError("tessera gemm: --impl " + o.impl +
                         " holds the operands and results in memory, more than 2 GiB at this "
                         "size (--impl closed-form computes no values)");
  if (!o.vcd.empty() && o.impl != "rtl" && o.impl != "both")
    throw sim::UserError("tessera gemm: --vcd needs --impl rtl or both");

  sim::StatsRegistry reg;
  sim::EnergyLedger ledger;
  auto engine = compute::make_gemm_engine(cfg, sim::StatsScope(reg, "gemm"), ledger, "gemm",
                                          compute::EngineOptions{o.vcd});
  // Stepped engines compute values on random operands and check them.
  const bool values = o.impl != "closed-form";
  std::vector<int8_t> a, b;
  std::vector<int32_t> c;
  if (values) {
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int> d(-128, 127);
    a.resize(size_t(m) * k);
    b.resize(size_t(k) * n);
    c.resize(size_t(m) * n);
    for (auto& x : a) x = int8_t(d(rng));
    for (auto& x : b) x = int8_t(d(rng));
  }
  compute::GemmJob job{m,
                       n,
                       k,
                       values ? a.data() : nullptr,
                       values ? b.data() : nullptr,
                       values ? c.data() : nullptr};
  const compute::GemmTiming t = engine->run(job);
  bool verified = false;
  if (values) {
    std::vector<uint32_t> ref(size_t(m) * n, 0);
    for (uint32_t i = 0; i < m; ++i)
      for (uint32_t kk = 0; kk < k; ++kk) {
        const int32_t av = a[size_t(i) * k + kk];
        const int8_t* brow = &b[size_t(kk) * n];
        uint32_t* r = &ref[size_t(i) * n];
        for (uint32_t j = 0; j < n; ++j) r[j] += uint32_t(av * int32_t(brow[j]));
      }
    verified = true;
    for (size_t i = 0; i < ref.size(); ++i) verified = verified && int32_t(ref[i]) == c[i];
    if (!verified)
      throw sim::SimulationError("tessera gemm: results differ from the reference product");
  }

  nlohmann::json j;
  j["array"] = o.array;
  j["dataflow"] = o.dataflow;
  j["impl"] = o.impl;
  j["fold_overlap"] = cfg.fold_overlap;
  j["m"] = m;
  j["n"] = n;
  j["k"] = k;
  j["cycles"] = t.cycles;
  j["utilization"] = t.utilization();
  j["mapping_efficiency"] = t.mapping_efficiency();
  j["folds"] = t.folds;
  j["busy_cycles"] = t.busy_cycles;
  j["fill_cycles"] = t.fill_cycles;
  j["stall_cycles"] = t.stall_cycles;
  j["drain_cycles"] = t.drain_cycles;
  j["macs"] = t.macs;
  j["sram_reads"] = {{"ifmap", t.reads.ifmap}, {"weight", t.reads.weight}, {"psum", t.reads.psum}};
  j["sram_writes"] = {{"psum", t.writes.psum}, {"ofmap", t.writes.ofmap}};
  j["energy_pj"] = ledger.total_pj();
  if (values) j["values_checked"] = verified;
  if (o.format == "json") {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format(
      "gemm {}x{}x{} on {} {} (fold_overlap {}, impl {})\n"
      "  cycles             {}\n  folds              {}\n"
      "  fill/busy/stall/drain  {} / {} / {} / {}\n"
      "  utilization        {:.4f}\n  mapping efficiency {:.4f}\n"
      "  sram reads (bytes) ifmap {} weight {} psum {}\n"
      "  sram writes (bytes) psum {} ofmap {}\n  energy             {:.1f} pJ\n",
      m, n, k, o.array, o.dataflow, o.fold_overlap, o.impl, t.cycles, t.folds, t.fill_cycles,
      t.busy_cycles, t.stall_cycles, t.drain_cycles, t.utilization(), t.mapping_efficiency(),
      t.reads.ifmap, t.reads.weight, t.reads.psum, t.writes.psum, t.writes.ofmap,
      ledger.total_pj());
  if (values) std::cout << "  values             match the reference product\n";
}

}  // namespace

void add_gemm_command(CLI::App& app) {
  static GemmOptions o;
  auto* cmd = app.add_subcommand("gemm", "one GEMM on a systolic array (micro-benchmark)");
  cmd->add_option("--array", o.array, "array size RxC")->capture_default_str();
  cmd->add_option("--dataflow", o.dataflow, "ws | os | is")->capture_default_str();
  cmd->add_option("--m", o.m, "rows of A and C")->capture_default_str();
  cmd->add_option("--n", o.n, "columns of B and C")->capture_default_str();
  cmd->add_option("--k", o.k, "the reduction dimension")->capture_default_str();
  cmd->add_option("--fold-overlap", o.fold_overlap,
                  "true: double-buffered folds overlap; false: every fold fills and drains")
      ->capture_default_str();
  cmd->add_option("--impl", o.impl, "model | rtl | both | closed-form")->capture_default_str();
  cmd->add_option("--vcd", o.vcd, "write the RTL's waveform (impl rtl or both)");
  cmd->add_option("--format", o.format, "text | json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of the random operands")->capture_default_str();
  cmd->callback([] { run_gemm_command(o); });
}

}  // namespace tessera::apps
