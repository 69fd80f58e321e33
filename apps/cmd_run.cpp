// tessera run: the main job. A machine (preset or YAML) and a workload (trace file,
// built-in example or generator spec) in; the report, stats, resolved config, ops CSV
// and optionally a timeline out.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <sstream>

#include "apps/commands.h"
#include "apps/report.h"
#include "mapper/mapper.h"
#include "models/sim/host_memory.h"
#include "models/sim/huge_pages.h"
#include "models/sim/output_dir.h"
#include "models/system/system.h"
#include "models/system/system_spec.h"
#include "traces/generators.h"
#include "traces/trace_format.h"

namespace tessera::apps {

namespace {

// Host memory a tile command takes, mapped and run: about 480-530 bytes measured while
// mapping (the command, its dependency list and the program's spare capacity; gpu-like
// mappings of 0.95 M and 19 M commands), and its times and queue entries in the run.
// Only a bound for refusing what cannot fit.
constexpr uint64_t kHostBytesPerCommand = 640;

// "gen:llama2-7b,phase=decode,batch=1,context=2048,layers=2" -> a generated workload.
traces::Workload generate_from_spec(const std::string& spec) {
  traces::GenOptions o;
  std::stringstream ss(spec.substr(4));
  std::string item;
  bool first = true;
  while (std::getline(ss, item, ',')) {
    if (first && item.find('=') == std::string::npos) {
      o.model = item;
      first = false;
      continue;
    }
    first = false;
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw sim::UserError("--trace " + spec + ": '" + item + "' is not key=value");
    const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    auto num = [&](int64_t& dst) {
      try {
        size_t used = 0;
        dst = std::stoll(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
      } catch (const std::exception&) {
        throw sim::UserError("--trace " + spec + ": " + k + "=" + v + " is not an integer");
      }
    };
    if (k == "model")
      o.model = v;
    else if (k == "phase")
      o.phase = v;
    else if (k == "batch")
      num(o.batch);
    else if (k == "seq")
      num(o.seq);
    else if (k == "context")
      num(o.context);
    else if (k == "past")
      num(o.past);
    else if (k == "decode_batch")
      num(o.decode_batch);
    else if (k == "layers")
      num(o.layers);
    else if (k == "tp")
      num(o.tp);
    else if (k == "pp")
      num(o.pp);
    else if (k == "dp")
      num(o.dp);
    else if (k == "ep")
      num(o.ep);
    else if (k == "image")
      num(o.image);
    else if (k == "embed")
      o.embed_and_head = v != "0" && v != "false";
    else if (k == "fused_proj")
      o.fused_proj = v != "0" && v != "false";
    else if (k == "all_logits")
      o.all_logits = v != "0" && v != "false";
    else if (k == "dtype") {
      auto d = traces::dtype_from_string(v);
      if (!d) throw sim::UserError("--trace " + spec + ": unknown dtype '" + v + "'");
      o.dtype = *d;
    } else {
      throw sim::UserError("--trace " + spec + ": unknown generator option '" + k + "'");
    }
  }
  return traces::generate(o);
}

}  // namespace

traces::Workload load_workload(const std::string& trace) {
  if (trace.rfind("gen:", 0) == 0) return generate_from_spec(trace);
  return traces::load_trace(trace);
}

void add_run_command(CLI::App& app) {
  auto* run = app.add_subcommand("run", "simulate a workload on a machine and report");
  static std::string config = "tiny", trace = "block", out, format = "text", timeline, dump;
  static std::string collective = "auto", weight_layout = "packed", attention = "fused",
                     weight_copies = "auto";
  static std::vector<std::string> sets;
  static bool force = false, explain = false, quiet = false, progress = false;
  static uint32_t layers = 1, channels = 0;
  static int64_t max_commands = -1;  // -1: from the host's free memory
  static uint32_t memory_share = 1;
  run->add_option("--config,-c", config, "machine: config file or built-in preset name");
  run->add_option(
      "--trace,-t", trace,
      "workload: a trace file, a built-in example (block), or a generator "
      "spec gen:MODEL,phase=decode,batch=1,context=2048[,layers=N,tp=N,...] (phase prefill "
      "takes seq and past, mixed also decode_batch)");
  run->add_option("--out,-o", out,
                  "folder for config.resolved.yaml, stats.json, stats.csv, "
                  "report.json, ops.csv");
  run->add_option("--format", format, "report on stdout: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  run->add_option("--set", sets, "override a config key: tile.array.rows=64");
  run->add_option("--timeline", timeline, "write a Chrome/Perfetto trace-event JSON here");
  run->add_option("--simulate-layers", layers,
                  "simulate this many of a model's identical layers and scale the rest "
                  "(the report marks the result estimated); 0 simulates every layer");
  run->add_option("--collective", collective,
                  "collective lowering: auto (the switch fabric's in-network reduction or "
                  "multicast where the machine allows it, else a ring), ring, tree (all-reduce "
                  "as a pipelined binary tree, the rest as ring), or switch")
      ->check(CLI::IsMember(mapper::kCollectiveModes));
  run->add_option("--collective-channels", channels,
                  "tiles per rank group that each move a slice of a collective, like NCCL "
                  "channels; 0 (the default) chooses from the machine and the size");
  run->add_option("--weight-layout", weight_layout,
                  "how the mapper stores each tile's weights in HBM: packed (block by block "
                  "in the order the tile loads them, as compilers pre-pack weights) or "
                  "row-major (a block narrower than the tile's share is a strided 2-D load)")
      ->check(CLI::IsMember(mapper::kWeightLayouts));
  run->add_option("--attention", attention,
                  "a prompt's attention: fused (qk, softmax and av as one FlashAttention-style "
                  "kernel, the scores kept in the scratchpad) or separate (three ops, the "
                  "scores through HBM)")
      ->check(CLI::IsMember(mapper::kAttentionModes));
  run->add_option("--weight-copies", weight_copies,
                  "a weight block that tiles on several chiplets read: once (in the first "
                  "reader's interleaved region, else a stack), per-chiplet (a copy near each "
                  "chiplet's readers, for more capacity), or auto (per chiplet when that takes "
                  "at most 80 % of the per-stack memory)")
      ->check(CLI::IsMember(mapper::kWeightCopies));
  run->add_option("--max-commands", max_commands,
                  "refuse a mapping of more tile commands than this (0: no limit; default: "
                  "what four fifths of the memory free to this run holds, at 640 bytes a "
                  "command)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--memory-share", memory_share,
                  "this run may take 1/N of the host's free memory for its --max-commands "
                  "default (tessera sweep -j N passes N: its runs start together)")
      ->check(CLI::Range(1, 4096));
  run->add_flag("--explain", explain, "print the mapping decisions");
  run->add_option("--dump-programs", dump, "write every tile's program (one command a line) here");
  run->add_flag("--force", force, "write into a non-empty --out folder");
  run->add_flag("--quiet,-q", quiet, "no progress line on a terminal");
  run->add_flag("--progress", progress,
                "a progress line on stderr even when it is not a terminal (for logs: a line "
                "at the start, about every half second, and at the end)");
  run->callback([] {
    const auto spec = system::load_spec(config, sets);
    const traces::Workload w = load_workload(trace);
    // The folder is made before the work, so that a path it cannot be made at is refused
    // at once; a run that then fails takes the folder away again if it made it (an
    // empty folder left behind would look like a run still to come, or a lost one).
    const bool made = !out.empty() && sim::prepare_output_dir(out, force);
    try {
      // Refuse to overwrite a user's file with the timeline or the programs.
      if (!timeline.empty()) sim::refuse_overwrite(timeline, force);
      if (!dump.empty()) sim::refuse_overwrite(dump, force);

      const system::AddressMap map(spec);
      mapper::MapOptions mo;
      mo.simulate_layers = layers;
      mo.collective = collective;
      mo.collective_channels = channels;
      mo.pack_weights = weight_layout == mapper::kWeightLayouts[0];
      mo.fuse_attention = attention == mapper::kAttentionModes[0];
      mo.weight_copies = weight_copies;
      if (max_commands >= 0) {
        mo.max_commands = uint64_t(max_commands);
        mo.max_commands_why = "--max-commands";
      } else if (const uint64_t free = sim::available_host_memory()) {
        // Four fifths of this run's share of what is free, for the programs: the model
        // and results need some.
        const uint64_t avail = free / memory_share;
        mo.max_commands = std::max<uint64_t>(1, avail / 5 * 4 / kHostBytesPerCommand);
        mo.max_commands_why =
            "the " + si_figure(double(avail), "B") + " of memory free to this run (" +
            (memory_share > 1 ? "a 1/" + std::to_string(memory_share) + " share, " : "") + "at " +
            std::to_string(kHostBytesPerCommand) +
            " bytes a command; --max-commands sets the limit)";
      }
      mapper::Mapping mapping = mapper::map_workload(w, spec, map, mo);
      if (!dump.empty()) {
        std::string text;
        for (size_t t = 0; t < mapping.programs.size(); ++t) {
          text += "tile " + std::to_string(t) + "\n";
          for (const auto& c : mapping.programs[t]) text += "  " + tile::describe(c) + "\n";
        }
        sim::write_file_atomic(dump, text);
      }
      if (explain)
        std::cerr << "address map:\n" << map.describe() << "mapping:\n" << mapping.explain();

      sim::StatsRegistry stats;
      sim::EnergyLedger energy;
      sim::Timeline tl(!timeline.empty());
      system::SystemOptions so;
      so.progress_redraw = isatty(STDERR_FILENO);
      so.progress = progress || (!quiet && so.progress_redraw);
      system::System sys("system", spec, map, stats, energy, tl, so);
      sim::end_huge_pages();  // the model state is built
      // The programs go to the tiles for the run and come back for the report (moved:
      // a large mapping's programs are gigabytes).
      sys.load(std::move(mapping.programs));
      const uint64_t end_ps = sys.run();
      sys.publish(end_ps);
      energy.publish(stats, end_ps);

      CommandTimes times;
      sys.command_times(times.start, times.end);
      mapping.programs = sys.take_programs();
      std::string wname = trace;
      const RunReport r = make_report(w, spec, mapping, times, stats, energy, end_ps, wname);
      nlohmann::json rj = r.to_json();
      if (format == "json")
        std::cout << rj.dump(2) << "\n";
      else
        std::cout << r.to_text();
      // The timeline first: if it cannot be written, no report.json marks the folder
      // complete.
      if (!timeline.empty()) sim::write_file_atomic(timeline, tl.to_json());
      if (!out.empty()) {
        sim::write_file_atomic(out + "/config.resolved.yaml", system::resolved_yaml(spec));
        std::ostringstream sj, sc;
        stats.write_json(sj);
        stats.write_csv(sc);
        sim::write_file_atomic(out + "/stats.json", sj.str());
        sim::write_file_atomic(out + "/stats.csv", sc.str());
        sim::write_file_atomic(out + "/ops.csv", r.ops_csv());
        // report.json last: its presence marks a complete result folder.
        sim::write_file_atomic(out + "/report.json", rj.dump(2) + "\n");
      }
    } catch (...) {
      if (made) sim::remove_if_empty(out);
      throw;
    }
  });
}

}  // namespace tessera::apps
