// tessera sweep: a design-space sweep, each point its own `tessera run` process, on
// local workers or across MPI ranks; re-running the same command resumes.
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/sim/errors.h"
#include "sweep/progress_bar.h"
#include "sweep/sweep_runner.h"

namespace tessera::apps {

void add_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep", "run every point of a sweep plan (resumes an interrupted sweep in --out)");
  static sweep::SweepOptions o;
  static std::string format = "text";
  static bool list = false;
  cmd->add_option("plan", o.plan, "sweep plan: YAML file or built-in plan name")->required();
  cmd->add_option("--out,-o", o.out, "results folder (results.csv, points/<id>/...)");
  cmd->add_option("--jobs,-j", o.jobs, "local workers (default: the core count)");
  cmd->add_flag("--mpi", o.mpi,
                "distribute the points over MPI ranks (mpirun -n N tessera sweep ... --mpi)");
  cmd->add_flag("--force", o.force, "write into a non-empty folder that holds no sweep");
  cmd->add_flag("--quiet,-q", o.quiet, "no progress output");
  cmd->add_flag("--list", list, "validate the plan and list its points; run nothing");
  cmd->add_option("--runner", o.runner,
                  "program run per point with `tessera run` arguments (default: this tessera)");
  cmd->add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([] {
    if (list) {
      const auto plan = sweep::load_plan(o.plan);
      nlohmann::json pts = nlohmann::json::array();
      for (const auto& p : plan.points) {
        nlohmann::json v = nlohmann::json::object();
        for (size_t k = 0; k < plan.axes.size(); ++k) v[plan.axes[k].key] = p.labels[k];
        pts.push_back(
            {{"id", p.id}, {"workload", p.workload->name}, {"values", v}, {"invalid", p.invalid}});
        if (format == "text") {
          std::cout << p.id << "  " << p.workload->name;
          for (size_t k = 0; k < plan.axes.size(); ++k)
            std::cout << "  " << plan.axes[k].key << "=" << p.labels[k];
          if (!p.invalid.empty()) std::cout << "  (invalid: " << p.invalid << ")";
          std::cout << "\n";
        }
      }
      if (format == "json")
        std::cout << nlohmann::json{{"name", plan.name}, {"points", pts}}.dump(2) << "\n";
      return;
    }
    if (o.out.empty()) throw sim::UserError("tessera sweep: --out DIR is required");
    const auto sum = sweep::run_sweep(o);
    if (sum.worker) return;  // MPI rank > 0: rank 0 reports
    if (format == "json") {
      std::cout << nlohmann::json{{"out", sum.out},         {"points", sum.total},
                                  {"skipped", sum.skipped}, {"ok", sum.ok},
                                  {"failed", sum.failed},   {"results", sum.out + "/results.csv"}}
                       .dump(2)
                << "\n";
    } else if (!o.quiet) {
      std::cout << sum.total << " points: " << sum.ok << " ran, " << sum.skipped
                << " already finished, " << sum.failed << " failed; results in " << sum.out
                << "/results.csv\n";
    }
    if (sum.failed > 0)
      throw sim::SimulationError("tessera sweep: " + std::to_string(sum.failed) + " of " +
                                 std::to_string(sum.total) +
                                 " points failed (see the error column of results.csv)");
  });
}

}  // namespace tessera::apps
