// tessera run: the main job. (Until the system model lands it validates the machine
// and writes the resolved spec; it prints no numbers it did not simulate.)
#include <iostream>

#include "apps/commands.h"
#include "models/sim/output_dir.h"
#include "models/system/system_spec.h"

namespace tessera::apps {

void add_run_command(CLI::App& app) {
  auto* run = app.add_subcommand("run", "simulate a workload on a machine and report");
  static std::string config = "tiny", trace, out, format = "text";
  static std::vector<std::string> sets;
  static bool force = false;
  run->add_option("--config,-c", config, "machine: config file or built-in preset name");
  run->add_option("--trace,-t", trace, "workload trace (default: built-in transformer block)");
  run->add_option("--out,-o", out, "folder for config.resolved.yaml, stats.json, stats.csv");
  run->add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  run->add_option("--set", sets, "override a config key: tile.array.rows=64");
  run->add_flag("--force", force, "write into a non-empty --out folder");
  run->callback([] {
    const auto spec = system::load_spec(config, sets);
    if (!out.empty()) {
      sim::prepare_output_dir(out, force);
      sim::write_file_atomic(out + "/config.resolved.yaml", system::resolved_yaml(spec));
    }
    throw sim::SimulationError("tessera run: the system model is not built yet");
  });
}

}  // namespace tessera::apps
