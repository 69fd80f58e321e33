// tessera plot: PNG and SVG charts of a sweep's results.csv, drawn by matplotlib through
// tools/plot_sweep.py (built into the binary).
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "sweep/child_process.h"
#include "sweep/plot_script.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::apps {

void add_plot_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plot", "charts (PNG, SVG) of a sweep's results.csv");
  static std::string dir, out, x, y, series, pareto, script;
  // Debian's interpreter first: python3-matplotlib installs there, not into a pyenv/venv.
  static std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  cmd->add_option("dir", dir, "sweep results folder")->required();
  cmd->add_option("--out,-o", out, "folder for the charts (default: DIR/plots)");
  cmd->add_option("--x", x, "axis column for a line plot");
  cmd->add_option("--y", y, "metric column for a line plot");
  cmd->add_option("--series", series, "axis column: one line per value");
  cmd->add_option("--pareto", pareto,
                  "Pareto front of two metrics: X,Y (e.g. "
                  "tokens_per_s,joules_per_token)");
  cmd->add_option("--python", python, "Python interpreter with matplotlib");
  cmd->add_option("--script", script, "plotting script (default: the built-in plot_sweep.py)");
  cmd->callback([] {
    const std::string meta_path = dir + "/sweep.json";
    if (!fs::exists(meta_path))
      throw sim::UserError(dir + ": not a sweep results folder (no sweep.json)");
    json meta;
    try {
      meta = json::parse(sim::read_file(meta_path));
    } catch (const json::exception& e) {
      throw sim::UserError(meta_path + ": unreadable: " + e.what());
    }
    if (!fs::exists(dir + "/results.csv")) throw sim::UserError(dir + ": no results.csv");
    json plots = json::array();
    if (!x.empty() || !y.empty()) {
      if (x.empty() || y.empty()) throw sim::UserError("tessera plot: --x and --y go together");
      plots.push_back({{"type", "line"}, {"x", x}, {"y", y}, {"series", series}});
    }
    if (!pareto.empty()) {
      const auto comma = pareto.find(',');
      if (comma == std::string::npos || comma == 0 || comma + 1 == pareto.size())
        throw sim::UserError("tessera plot: --pareto wants two metrics X,Y, got '" + pareto + "'");
      plots.push_back(
          {{"type", "pareto"}, {"x", pareto.substr(0, comma)}, {"y", pareto.substr(comma + 1)}});
    }
    if (plots.empty()) plots = meta.value("plots", json::array());
    const std::string out_dir = out.empty() ? dir + "/plots" : out;
    fs::create_directories(out_dir);
    const json spec{{"csv", dir + "/results.csv"},
                    {"out", out_dir},
                    {"title", meta.value("name", "")},
                    {"axes", meta.value("axes", json::array())},
                    {"plots", plots}};
    int code = 127;
    {
      const sim::TempDir tmp("tessera-plot", "tessera plot");
      const std::string spec_path = tmp.path() + "/spec.json";
      const std::string script_path = script.empty() ? tmp.path() + "/plot_sweep.py" : script;
      sim::write_file_atomic(spec_path, spec.dump(2));
      if (script.empty()) sim::write_file_atomic(script_path, sweep::plot_script());
      const pid_t pid = sweep::spawn_process(python, {script_path, spec_path}, "", "");
      code = sweep::wait_child(pid).second;
    }
    if (code == 127)
      throw sim::UserError("tessera plot: cannot run " + python +
                           " (install python3-matplotlib or pass --python)");
    if (code != 0) throw sim::UserError("tessera plot: the plotting script failed", code);
  });
}

}  // namespace tessera::apps
