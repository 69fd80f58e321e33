// A sweep plan: a base machine, one or more workloads, and axes (config key paths with
// lists or ranges of values), crossed (grid) or zipped, with optional filters. Loading
// expands the plan into points and validates every key path against the machine schema
// before anything runs; errors name the plan's file:line:col.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sweep/filter_expression.h"

namespace tessera::sweep {

// One axis: a config key path and its values (each kept as YAML text for --set, and as
// display text for results.csv).
struct Axis {
  std::string key;
  std::vector<std::string> values;  // YAML text ("64", "hbm3", "[1, 2]")
  std::vector<std::string> labels;  // display text (scalars as written)
  std::vector<YAML::Mark> marks;    // where each value stands in the plan
  YAML::Mark key_mark;
};

struct Workload {
  std::string name;   // column value in results.csv
  std::string trace;  // trace file path (resolved) or gen:<model>,... spec
};

struct PlotSpec {
  std::string type;  // line | pareto
  std::string x, y, series;
};

// One simulation of the sweep.
struct Point {
  size_t index = 0;  // position in expansion order
  std::string id;    // folder name: p0003-1a2b3c4d
  std::string key;   // canonical text of everything that defines the run
  const Workload* workload = nullptr;
  std::vector<std::string> labels;  // per axis, display text
  // "key=value", fixed sets then axes: --set, or a run option for a mapping.* key
  std::vector<std::string> overrides;
  std::string invalid;  // non-empty: the combination fails validation (never run)
};

struct SweepPlan {
  std::string file;  // label used in errors
  std::string text;  // the plan as given (copied into the results folder)
  std::string name;
  std::string config;                   // preset name or resolved file path
  std::vector<std::string> fixed_sets;  // "key=value"
  std::vector<Workload> workloads;
  std::string mode = "grid";
  std::vector<Axis> axes;
  std::vector<FilterExpression> filters;
  std::vector<PlotSpec> plots;
  std::vector<Point> points;  // after expansion, filters and validation

  // Column names of the axes in results.csv: "workload" then each axis key.
  std::vector<std::string> axis_columns() const;
};

// Loads a plan: a file, or the name of a built-in plan (configs/sweeps/<name>.yaml).
// Relative config and trace paths are taken from the plan's folder. Validates every
// axis key and value against the machine schema (sim::ConfigError with file:line:col).
SweepPlan load_plan(const std::string& path_or_name);
// Same, from text (tests); `base_dir` resolves relative paths.
SweepPlan parse_plan(const std::string& text, const std::string& file, const std::string& base_dir);

// The arguments after the program name for `tessera run` of one point.
std::vector<std::string> run_arguments(const SweepPlan& plan, const Point& p,
                                       const std::string& out_dir);
// Adds `--memory-share N` to a point's arguments when `runs` (N, at most run's 4096) of
// them run on the host at once and share its free memory; nothing for one.
void add_memory_share(std::vector<std::string>& args, size_t runs);

// Every key path the machine schema declares (sections, lists and presets included).
const std::set<std::string>& schema_keys();

// FNV-1a 64-bit, as 16 hex digits: stable across runs and machines.
std::string stable_hash(const std::string& text);

}  // namespace tessera::sweep
