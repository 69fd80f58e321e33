// `tessera trace`: generate, check, import and summarise workload traces.
//   tessera trace gen --model llama2-7b --phase decode --batch 1 --context 2048 [--out F]
//   tessera trace check F
//   tessera trace import-chakra DIR|FILES --out F
//   tessera trace stats F [--format json]
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "traces/chakra_import.h"
#include "traces/generators.h"
#include "traces/trace_format.h"

namespace tessera::apps {

namespace {

using traces::Workload;

// Refuses an existing --out file unless --force (before any work).
void check_out(const std::string& out, bool force) {
  if (!out.empty() && out != "-") sim::refuse_overwrite(out, force);
}

void emit(const Workload& w, const std::string& out) {
  const std::string text = traces::write_trace(w);
  if (out.empty() || out == "-")
    std::cout << text;
  else
    sim::write_file_atomic(out, text);
}

nlohmann::json stats_json(const Workload& w, const std::string& file) {
  nlohmann::json j;
  j["file"] = file;
  j["ops"] = w.size();
  j["meta"] = w.meta;
  std::map<std::string, int64_t> kinds;
  std::map<std::string, double> kind_flops;
  int64_t weight_bytes = 0, moved = 0, max_layer = -1;
  std::map<int64_t, int64_t> ranks;
  for (const auto& op : w.ops()) {
    ++kinds[traces::to_string(op.kind)];
    kind_flops[traces::to_string(op.kind)] += traces::flops(op);
    auto b = traces::operand_bytes(op);
    weight_bytes = traces::saturating_add(weight_bytes, b.weights);
    moved = traces::saturating_add(moved, b.total());
    max_layer = std::max(max_layer, op.layer);
    ++ranks[op.rank];
  }
  j["ops_by_kind"] = kinds;
  j["gflop_by_kind"] = nlohmann::json::object();
  for (const auto& [k, f] : kind_flops) j["gflop_by_kind"][k] = f / 1e9;
  j["gflop"] = w.total_flops() / 1e9;
  j["weight_params"] = w.total_weight_params();
  j["weight_bytes_read"] = weight_bytes;
  j["operand_bytes"] = moved;
  j["comm_bytes"] = w.total_comm_bytes();
  j["layers"] = max_layer + 1;
  j["ranks"] = ranks.size();
  return j;
}

void print_stats(const nlohmann::json& j) {
  std::cout << fmt::format("{}: {} ops, {} layers, {} rank(s)\n", j["file"].get<std::string>(),
                           j["ops"].get<int64_t>(), j["layers"].get<int64_t>(),
                           j["ranks"].get<int64_t>());
  for (const auto& [k, v] : j["meta"].items())
    std::cout << fmt::format("  meta {:<12} {}\n", k, v.get<std::string>());
  std::cout << fmt::format("  {:<14} {:>8} {:>14}\n", "kind", "ops", "GFLOP");
  for (const auto& [k, v] : j["ops_by_kind"].items())
    std::cout << fmt::format("  {:<14} {:>8} {:>14.3f}\n", k, v.get<int64_t>(),
                             j["gflop_by_kind"][k].get<double>());
  std::cout << fmt::format("  total GFLOP          {:.3f}\n", j["gflop"].get<double>());
  std::cout << fmt::format("  weight parameters    {} ({:.3f} B)\n",
                           j["weight_params"].get<int64_t>(),
                           j["weight_params"].get<int64_t>() / 1e9);
  std::cout << fmt::format("  weight bytes read    {:.3f} GB\n",
                           j["weight_bytes_read"].get<int64_t>() / 1e9);
  std::cout << fmt::format("  operand bytes        {:.3f} GB\n",
                           j["operand_bytes"].get<int64_t>() / 1e9);
  std::cout << fmt::format("  communication bytes  {:.3f} MB\n",
                           j["comm_bytes"].get<int64_t>() / 1e6);
}

}  // namespace

void add_trace_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("trace", "Generate, check, import and summarise workload traces");
  cmd->require_subcommand(1);

  // gen
  static traces::GenOptions g;
  static std::string gen_out, gen_dtype = "bf16";
  static bool blocks_only = false;
  auto* gen = cmd->add_subcommand("gen", "Generate a model's trace (one rank of a parallel run)");
  std::string models;
  for (const auto& s : traces::model_specs()) models += (models.empty() ? "" : ", ") + s.name;
  gen->add_option("--model", g.model, "Model: " + models)->capture_default_str();
  gen->add_option("--phase", g.phase,
                  "prefill, decode, or mixed (a continuous-batching iteration: --batch prompt "
                  "chunks of --seq tokens after --past cached ones, and --decode-batch "
                  "sequences decoding one token each over --context cached tokens)")
      ->capture_default_str();
  gen->add_option("--batch", g.batch, "Global batch (sequences or images)")->capture_default_str();
  gen->add_option("--seq", g.seq, "Prefill: prompt length")->capture_default_str();
  gen->add_option("--context", g.context, "Decode: tokens in the KV cache")->capture_default_str();
  gen->add_option("--past", g.past,
                  "Prefill: tokens already in the KV cache before the prompt (a chunked "
                  "prefill: the prompt is the chunk after them)")
      ->capture_default_str();
  gen->add_option("--decode-batch", g.decode_batch,
                  "Mixed: decoding sequences beside the prompt chunks (global, split across dp)")
      ->capture_default_str();
  gen->add_option("--layers", g.layers, "Layers (ResNet: bottleneck blocks); 0 = all")
      ->capture_default_str();
  gen->add_flag("--blocks-only", blocks_only, "Transformer blocks only: no embedding, no LM head");
  gen->add_flag("--fused-proj", g.fused_proj,
                "One GEMM for Q, K and V (wqkv) and one for the gate and up projections (w13), "
                "as serving engines merge them");
  gen->add_flag("--all-logits", g.all_logits,
                "LM head over every token, not one per sequence (speculative decoding's "
                "verification of drafted tokens)");
  gen->add_option("--tp", g.tp, "Tensor-parallel degree")->capture_default_str();
  gen->add_option("--pp", g.pp, "Pipeline-parallel degree")->capture_default_str();
  gen->add_option("--dp", g.dp, "Data-parallel degree")->capture_default_str();
  gen->add_option("--ep", g.ep, "Expert-parallel degree (MoE)")->capture_default_str();
  gen->add_option("--rank", g.rank, "Which rank's trace")->capture_default_str();
  gen->add_option("--dtype", gen_dtype, "fp32, bf16, fp8 or int8")->capture_default_str();
  gen->add_option("--seed", g.seed, "MoE routing seed")->capture_default_str();
  gen->add_option("--image", g.image, "ResNet input size")->capture_default_str();
  gen->add_option("--out", gen_out, "Output file (default: standard output)");
  static bool gen_force = false;
  gen->add_flag("--force", gen_force, "overwrite an existing --out file");
  gen->callback([] {
    check_out(gen_out, gen_force);
    auto dt = traces::dtype_from_string(gen_dtype);
    if (!dt) throw sim::UserError("--dtype '" + gen_dtype + "': expected fp32, bf16, fp8 or int8");
    g.dtype = *dt;
    g.embed_and_head = !blocks_only;
    emit(traces::generate(g), gen_out);
  });

  // check
  static std::string check_file, check_format = "text";
  auto* check = cmd->add_subcommand("check", "Parse and validate a trace (exit 2 if malformed)");
  check->add_option("file", check_file, "Trace file (.tsr) or built-in example name")->required();
  check->add_option("--format", check_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  check->callback([] {
    Workload w = traces::load_trace(check_file);
    if (check_format == "json") {
      std::cout << nlohmann::json{{"file", check_file}, {"ok", true}, {"ops", w.size()}}.dump()
                << "\n";
    } else {
      std::cout << fmt::format("{}: ok ({} ops, {:.3f} GFLOP)\n", check_file, w.size(),
                               w.total_flops() / 1e9);
    }
  });

  // import-chakra
  static std::vector<std::string> chakra_in;
  static std::string chakra_out;
  static traces::ChakraImportOptions chakra_opt;
  auto* imp = cmd->add_subcommand("import-chakra", "Convert Chakra ET files (one per rank)");
  imp->add_option("inputs", chakra_in, "Folder(s) or .et files")->required();
  imp->add_option("--out", chakra_out, "Output trace (default: standard output)");
  imp->add_option("--group", chakra_opt.group, "Ranks per collective (default: files given)");
  static bool imp_force = false;
  imp->add_flag("--force", imp_force, "overwrite an existing --out file");
  imp->callback([] {
    check_out(chakra_out, imp_force);
    std::vector<traces::ChakraFileSummary> sums;
    Workload w = traces::import_chakra(chakra_in, chakra_opt, &sums);
    emit(w, chakra_out);
    for (const auto& s : sums) {
      std::string types;
      for (const auto& [k, v] : s.node_types) types += fmt::format(" {}={}", k, v);
      if (types.empty()) types = " none";
      std::cerr << fmt::format(
          "{}: rank {}{}, schema {}, {} nodes ({}), {} host-side, {} GEMM/conv from shapes, "
          "{} dangling deps dropped, {} cycle-closing ctrl deps left out\n",
          s.file, s.rank,
          s.imported_rank != s.rank ? fmt::format(" (imported as rank {})", s.imported_rank) : "",
          s.schema.empty() ? "?" : traces::printable(s.schema), s.nodes, types.substr(1),
          s.host_nodes, s.shaped_gemms, s.dropped_deps, s.cyclic_ctrl_deps);
    }
  });

  // stats
  static std::string stats_file, stats_format = "text";
  auto* st = cmd->add_subcommand("stats", "Summarise a trace: ops, FLOPs, parameters, bytes");
  st->add_option("file", stats_file, "Trace file (.tsr) or built-in example name")->required();
  st->add_option("--format", stats_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  st->callback([] {
    auto j = stats_json(traces::load_trace(stats_file), stats_file);
    if (stats_format == "json")
      std::cout << j.dump() << "\n";
    else
      print_stats(j);
  });
}

}  // namespace tessera::apps
