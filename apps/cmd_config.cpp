// tessera config show|check|keys: the resolved machine, a validity check, and the
// list of every key (docs/config.md is generated from it).
#include <iostream>

#include "apps/commands.h"
#include "models/system/system_spec.h"

namespace tessera::apps {

void add_config_command(CLI::App& app) {
  auto* cfg = app.add_subcommand("config", "show, check or list machine configurations");
  cfg->require_subcommand(1);

  auto* show = cfg->add_subcommand("show", "print the resolved spec (defaults filled in)");
  static std::string show_config = "tiny";
  static std::vector<std::string> show_sets;
  show->add_option("--config,-c", show_config, "config file or built-in preset name");
  show->add_option("--set", show_sets, "override a key: tile.array.rows=64");
  show->callback(
      [] { std::cout << system::resolved_yaml(system::load_spec(show_config, show_sets)); });

  auto* check = cfg->add_subcommand("check", "validate a config; exit 2 with file:line:col if bad");
  static std::string check_file;
  check->add_option("file", check_file, "config file or preset")->required();
  check->callback([] {
    const auto spec = system::load_spec(check_file);
    std::cout << check_file << ": ok (" << spec.name << ", " << spec.total_tiles() << " tiles)\n";
  });

  auto* keys = cfg->add_subcommand("keys", "list every config key as a Markdown table");
  keys->callback([] {
    std::cout << sim::ConfigDoc::markdown(sim::ConfigDoc::describe<system::SystemSpec>());
  });

  auto* presets = cfg->add_subcommand("presets", "list the built-in machine presets");
  presets->callback([] {
    for (const auto& n : system::preset_names()) std::cout << n << "\n";
  });
}

}  // namespace tessera::apps
