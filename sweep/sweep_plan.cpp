#include "sweep/sweep_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "mapper/mapper.h"
#include "models/sim/config_schema.h"
#include "models/sim/output_dir.h"
#include "models/sim/resources.h"
#include "models/system/system_spec.h"

namespace fs = std::filesystem;

namespace tessera::sweep {

namespace {

std::string at(const std::string& file, const YAML::Mark& m) {
  if (m.is_null() || m.line < 0) return file + ": ";
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

[[noreturn]] void fail(const std::string& file, const YAML::Node& n, const std::string& what) {
  throw sim::ConfigError(at(file, n ? n.Mark() : YAML::Mark::null_mark()) + what);
}

std::string flow_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::string scalar(const std::string& file, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) fail(file, n, key + ": expected a single value");
  return n.Scalar();
}

double number_of(const std::string& file, const YAML::Node& n, const std::string& key) {
  const std::string t = scalar(file, n, key);
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (t.empty() || !end || *end != '\0' || !std::isfinite(d))
    fail(file, n, key + ": expected a number, got '" + t + "'");
  return d;
}

bool is_preset_name(const std::string& s) {
  return s.find('/') == std::string::npos && s.find(".y") == std::string::npos;
}

// " #<hash of the contents>" of a config or trace that is a file, else "" (a preset,
// a built-in trace, a generator spec): what a stored result was computed from.
std::string content_tag(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !fs::is_regular_file(path, ec)) return "";
  return " #" + stable_hash(sim::read_file(path));
}

std::string resolve_path(const std::string& p, const std::string& base_dir) {
  if (p.empty() || fs::path(p).is_absolute() || base_dir.empty()) return p;
  const fs::path cand = fs::path(base_dir) / p;
  std::error_code ec;
  if (fs::exists(cand, ec)) return fs::absolute(cand, ec).lexically_normal().string();
  return p;
}

void read_axis_values(const std::string& file, const YAML::Node& v, Axis& axis) {
  auto add = [&](const std::string& text, const YAML::Mark& m) {
    axis.values.push_back(text);
    axis.labels.push_back(text);
    axis.marks.push_back(m);
  };
  if (v.IsSequence()) {
    if (v.size() == 0) fail(file, v, "axes: " + axis.key + ": empty list of values");
    for (const auto& item : v) add(flow_text(item), item.Mark());
    return;
  }
  if (!v.IsMap())
    fail(file, v, "axes: " + axis.key + ": expected a list of values or {from, to, step|mul}");
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (k != "from" && k != "to" && k != "step" && k != "mul")
      fail(file, it->first,
           "axes: " + axis.key + ": unknown range key '" + k + "' (from, to, step or mul)");
  }
  if (!v["from"] || !v["to"]) fail(file, v, "axes: " + axis.key + ": a range needs from and to");
  if (bool(v["step"]) == bool(v["mul"]))
    fail(file, v, "axes: " + axis.key + ": a range needs exactly one of step or mul");
  const double from = number_of(file, v["from"], axis.key + ".from");
  const double to = number_of(file, v["to"], axis.key + ".to");
  const bool mul = bool(v["mul"]);
  const double by = number_of(file, mul ? v["mul"] : v["step"], axis.key);
  if ((mul ? !(by > 1) : !(by > 0)) || from > to)
    fail(file, v,
         "axes: " + axis.key + (mul ? ": mul must be > 1" : ": step must be > 0") +
             " and from <= to");
  if (mul && from <= 0) fail(file, v, "axes: " + axis.key + ": a mul range needs from > 0");
  for (int i = 0;; ++i) {
    double x = mul ? from * std::pow(by, i) : from + by * i;
    // To 12 significant digits: 0.1 + 0.1 * 2 is the value 0.3, not 0.30000000000000004
    // (which a filter `== 0.3` would miss, and the runs would use).
    char text[32];
    std::snprintf(text, sizeof text, "%.12g", x);
    x = std::strtod(text, nullptr);
    if (x > to * (1 + 1e-12)) break;
    if (i >= 10000) fail(file, v, "axes: " + axis.key + ": range has more than 10000 values");
    add(sim::format_double(x), v.Mark());
  }
}

// Mapping choices of `tessera run` that a plan may fix (set:) or vary (axes:) like
// config keys: the key, the run option it becomes, and its values (none listed: a
// count of at least 0).
struct MappingKey {
  const char* key;
  const char* option;
  std::vector<std::string> choices;
};
const std::vector<MappingKey>& mapping_keys() {
  static const std::vector<MappingKey> keys = {
      {"mapping.weight_layout", "--weight-layout", mapper::kWeightLayouts},
      {"mapping.attention", "--attention", mapper::kAttentionModes},
      {"mapping.weight_copies", "--weight-copies", mapper::kWeightCopies},
      {"mapping.collective", "--collective", mapper::kCollectiveModes},
      {"mapping.collective_channels", "--collective-channels", {}},
      {"mapping.simulate_layers", "--simulate-layers", {}},
  };
  return keys;
}
const MappingKey* mapping_key(const std::string& key) {
  for (const auto& k : mapping_keys())
    if (key == k.key) return &k;
  return nullptr;
}
bool is_mapping(const std::string& key) {
  return key.rfind("mapping.", 0) == 0;
}
// A "mapping.*" key and its value: why they are not allowed, or "".
std::string check_mapping(const std::string& key, const std::string& value) {
  const MappingKey* k = mapping_key(key);
  if (!k) {
    std::string all;
    for (const auto& m : mapping_keys()) all += (all.empty() ? "" : ", ") + std::string(m.key);
    return key + ": not a mapping choice (" + all + ")";
  }
  if (k->choices.empty()) {
    // Plain decimal only: `tessera run` would read a leading zero as octal.
    const bool count = !value.empty() && value.size() <= 6 &&
                       value.find_first_not_of("0123456789") == std::string::npos &&
                       (value == "0" || value[0] != '0');
    return count ? "" : key + " = " + value + ": expected a count (0 to 999999, no leading zero)";
  }
  for (const auto& c : k->choices)
    if (value == c) return "";
  std::string all;
  for (const auto& c : k->choices) all += (all.empty() ? "" : ", ") + c;
  return key + " = " + value + ": expected one of " + all;
}

// Validates the machine with `overrides` (the mapping choices among them are not
// machine keys and are checked apart); returns the error text or "".
std::string check_spec(const std::string& config, const std::vector<std::string>& overrides) {
  std::vector<std::string> machine;
  for (const auto& o : overrides)
    if (!is_mapping(o.substr(0, o.find('=')))) machine.push_back(o);
  try {
    system::load_spec(config, machine);
  } catch (const sim::UserError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

std::string stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<std::string> SweepPlan::axis_columns() const {
  std::vector<std::string> cols{"workload"};
  for (const auto& a : axes) cols.push_back(a.key);
  return cols;
}

SweepPlan parse_plan(const std::string& text, const std::string& file,
                     const std::string& base_dir) {
  SweepPlan plan;
  plan.file = file;
  plan.text = text;
  const YAML::Node root = sim::parse_yaml(text, file);
  if (!root.IsMap()) fail(file, root, "(top level): a sweep plan is a mapping of keys");
  static const std::set<std::string> known{"name",     "description", "config", "set",
                                           "workload", "workloads",   "mode",   "axes",
                                           "filters",  "plots"};
  for (auto it = root.begin(); it != root.end(); ++it)
    if (!known.count(it->first.Scalar()))
      fail(file, it->first,
           it->first.Scalar() +
               ": unknown key (name, description, config, set, workload(s), "
               "mode, axes, filters, plots)");

  plan.name = root["name"] ? scalar(file, root["name"], "name") : fs::path(file).stem().string();
  const std::string config = root["config"] ? scalar(file, root["config"], "config") : "tiny";
  plan.config = is_preset_name(config) ? config : resolve_path(config, base_dir);

  if (const YAML::Node s = root["set"]) {
    if (!s.IsMap()) fail(file, s, "set: expected a mapping of key.path: value");
    std::set<std::string> mapping_set;
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string key = it->first.Scalar(), value = flow_text(it->second);
      if (is_mapping(key)) {
        if (const std::string err = check_mapping(key, value); !err.empty())
          fail(file, it->first, "set: " + err);
        // One value each: a run option given twice is refused by `tessera run`.
        if (!mapping_set.insert(key).second)
          fail(file, it->first, "set: " + key + ": appears twice");
      }
      plan.fixed_sets.push_back(key + "=" + value);
    }
  }
  if (const std::string err = check_spec(plan.config, plan.fixed_sets); !err.empty())
    fail(file, root["set"] ? root["set"] : root["config"], "base machine: " + err);

  // Workloads: one spec, a list of specs, or a mapping name -> spec.
  if (root["workload"] && root["workloads"])
    fail(file, root["workloads"], "workloads: give either workload or workloads");
  if (const YAML::Node w = root["workload"]) {
    plan.workloads.push_back({"", scalar(file, w, "workload")});
  } else if (const YAML::Node ws = root["workloads"]) {
    if (ws.IsSequence()) {
      for (const auto& item : ws) plan.workloads.push_back({"", scalar(file, item, "workloads")});
    } else if (ws.IsMap()) {
      for (auto it = ws.begin(); it != ws.end(); ++it)
        plan.workloads.push_back(
            {it->first.Scalar(), scalar(file, it->second, "workloads." + it->first.Scalar())});
    } else {
      fail(file, ws, "workloads: expected a list or a mapping name: trace");
    }
    if (plan.workloads.empty()) fail(file, ws, "workloads: empty");
  } else {
    fail(file, root, "(top level): the plan needs a workload (a trace file or gen:<model>,...)");
  }
  std::set<std::string> wl_names;
  for (auto& w : plan.workloads) {
    if (w.name.empty()) w.name = w.trace;
    if (!wl_names.insert(w.name).second)
      fail(file, root["workloads"], "workloads: '" + w.name + "' appears twice");
    if (w.trace.rfind("gen:", 0) != 0) w.trace = resolve_path(w.trace, base_dir);
    // A built-in plan's own trace is a built-in resource beside it (run reads those).
    if (base_dir.empty() && file.rfind("configs/sweeps/", 0) == 0 &&
        sim::find_resource("configs/sweeps/" + w.trace))
      w.trace = "configs/sweeps/" + w.trace;
  }

  if (const YAML::Node m = root["mode"]) {
    plan.mode = scalar(file, m, "mode");
    if (plan.mode != "grid" && plan.mode != "zip")
      fail(file, m, "mode: expected grid or zip, got '" + plan.mode + "'");
  }

  if (const YAML::Node axes = root["axes"]) {
    if (!axes.IsMap()) fail(file, axes, "axes: expected a mapping key.path: values");
    for (auto it = axes.begin(); it != axes.end(); ++it) {
      Axis a;
      a.key = it->first.Scalar();
      a.key_mark = it->first.Mark();
      if (is_mapping(a.key)) {
        if (!mapping_key(a.key)) fail(file, it->first, "axes: " + check_mapping(a.key, ""));
        for (const auto& f : plan.fixed_sets)
          if (f.rfind(a.key + "=", 0) == 0)
            fail(file, it->first, "axes: " + a.key + ": also fixed under set (give it once)");
      } else if (!schema_keys().count(a.key)) {
        fail(file, it->first,
             "axes: " + a.key + ": not a key of the machine config (see " +
                 "`tessera config keys`) or a mapping choice (mapping.*)");
      }
      for (const auto& other : plan.axes)
        if (other.key == a.key) fail(file, it->first, "axes: " + a.key + ": appears twice");
      read_axis_values(file, it->second, a);
      if (is_mapping(a.key)) {
        for (size_t i = 0; i < a.values.size(); ++i)
          if (const std::string err = check_mapping(a.key, a.values[i]); !err.empty())
            throw sim::ConfigError(at(file, a.marks[i]) + "axes: " + err);
        plan.axes.push_back(std::move(a));
        continue;
      }
      // Each value alone on the base machine: a value of the wrong type or out of range
      // is the plan's fault, reported at the value. Errors about other keys may be
      // combination effects and are judged per point below.
      for (size_t i = 0; i < a.values.size(); ++i) {
        auto sets = plan.fixed_sets;
        sets.push_back(a.key + "=" + a.values[i]);
        const std::string err = check_spec(plan.config, sets);
        if (!err.empty() && err.find(a.key) != std::string::npos)
          throw sim::ConfigError(at(file, a.marks[i]) + "axes: " + a.key + " = " + a.labels[i] +
                                 ": " + err);
      }
      plan.axes.push_back(std::move(a));
    }
  }
  if (plan.mode == "zip")
    for (const auto& a : plan.axes)
      if (a.values.size() != plan.axes.front().values.size())
        throw sim::ConfigError(at(file, a.key_mark) + "axes: " + a.key + ": zip mode needs " +
                               "lists of equal length (" + std::to_string(a.values.size()) +
                               " vs " + std::to_string(plan.axes.front().values.size()) + ")");

  const auto names = plan.axis_columns();
  if (const YAML::Node fs_ = root["filters"]) {
    const YAML::Node list = fs_.IsSequence() ? fs_ : YAML::Node();
    if (!fs_.IsSequence()) fail(file, fs_, "filters: expected a list of expressions");
    for (const auto& f : list)
      plan.filters.emplace_back(scalar(file, f, "filters"),
                                at(file, f.Mark()) + "filters: ", names);
  }
  if (const YAML::Node ps = root["plots"]) {
    if (!ps.IsSequence()) fail(file, ps, "plots: expected a list");
    for (const auto& p : ps) {
      if (!p.IsMap()) fail(file, p, "plots: each plot is {type, x, y[, series]}");
      PlotSpec spec;
      for (auto it = p.begin(); it != p.end(); ++it) {
        const std::string k = it->first.Scalar();
        const std::string v = scalar(file, it->second, "plots." + k);
        if (k == "type")
          spec.type = v;
        else if (k == "x")
          spec.x = v;
        else if (k == "y")
          spec.y = v;
        else if (k == "series")
          spec.series = v;
        else
          fail(file, it->first, "plots: unknown key '" + k + "' (type, x, y, series)");
      }
      if (spec.type != "line" && spec.type != "pareto")
        fail(file, p, "plots: type must be line or pareto");
      if (spec.x.empty() || spec.y.empty()) fail(file, p, "plots: a plot needs x and y");
      plan.plots.push_back(spec);
    }
  }

  // Expansion: workloads outermost, then the axes (grid: last axis fastest).
  size_t combos = plan.axes.empty() ? 1 : (plan.mode == "zip" ? plan.axes[0].values.size() : 1);
  if (plan.mode == "grid")
    for (const auto& a : plan.axes) combos *= a.values.size();
  if (combos * plan.workloads.size() > 1000000)
    fail(file, root["axes"], "axes: more than a million points");
  // The files' contents are part of every point's key: a point whose config or trace
  // file changed since its result was stored runs again (its id changes with them).
  // Each file is read and hashed once, not once per point.
  const std::string config_key = "config=" + plan.config + content_tag(plan.config) + "\n";
  for (const auto& w : plan.workloads) {
    const std::string workload_key = config_key + "trace=" + w.trace + content_tag(w.trace) + "\n";
    for (size_t c = 0; c < combos; ++c) {
      std::vector<size_t> pick(plan.axes.size());
      size_t rest = c;
      for (size_t k = plan.axes.size(); k-- > 0;) {
        if (plan.mode == "zip") {
          pick[k] = c;
        } else {
          pick[k] = rest % plan.axes[k].values.size();
          rest /= plan.axes[k].values.size();
        }
      }
      Point p;
      p.workload = &w;
      std::map<std::string, std::string> vars{{"workload", w.name}};
      p.overrides = plan.fixed_sets;
      for (size_t k = 0; k < plan.axes.size(); ++k) {
        const Axis& a = plan.axes[k];
        p.labels.push_back(a.labels[pick[k]]);
        p.overrides.push_back(a.key + "=" + a.values[pick[k]]);
        vars[a.key] = a.labels[pick[k]];
      }
      bool keep = true;
      for (const auto& f : plan.filters) keep = keep && f.keep(vars);
      if (!keep) continue;
      p.index = plan.points.size();
      p.key = workload_key;
      for (const auto& o : p.overrides) p.key += "set=" + o + "\n";
      char idx[32];
      std::snprintf(idx, sizeof idx, "p%04zu-", p.index);
      p.id = idx + stable_hash(p.key).substr(0, 8);
      p.invalid = check_spec(plan.config, p.overrides);
      plan.points.push_back(std::move(p));
    }
  }
  if (plan.points.empty()) fail(file, root["filters"], "filters: no point of the plan is left");
  return plan;
}

SweepPlan load_plan(const std::string& path_or_name) {
  std::error_code ec;
  if (!fs::exists(path_or_name, ec) && is_preset_name(path_or_name)) {
    const std::string res = "configs/sweeps/" + path_or_name + ".yaml";
    if (const std::string* text = sim::find_resource(res)) return parse_plan(*text, res, "");
    std::string all;
    for (const auto& n : sim::resource_names("configs/sweeps/", ".yaml"))
      all += (all.empty() ? "" : ", ") + n;
    throw sim::UserError(path_or_name + ": no such plan file or built-in plan (built-in: " +
                         (all.empty() ? "none" : all) + ")");
  }
  const std::string text = sim::read_file(path_or_name);
  const fs::path dir = fs::absolute(fs::path(path_or_name), ec).parent_path();
  return parse_plan(text, path_or_name, dir.string());
}

std::vector<std::string> run_arguments(const SweepPlan& plan, const Point& p,
                                       const std::string& out_dir) {
  std::vector<std::string> args{"run", "--config", plan.config, "--trace", p.workload->trace};
  for (const auto& o : p.overrides) {
    const size_t eq = o.find('=');
    if (const MappingKey* k = mapping_key(o.substr(0, eq))) {
      args.push_back(k->option);
      args.push_back(o.substr(eq + 1));
    } else {
      args.push_back("--set");
      args.push_back(o);
    }
  }
  for (const char* a : {"--out", out_dir.c_str(), "--force", "--format", "json"})
    args.emplace_back(a);
  return args;
}

void add_memory_share(std::vector<std::string>& args, size_t runs) {
  if (runs <= 1) return;
  args.push_back("--memory-share");
  args.push_back(std::to_string(std::min<size_t>(runs, 4096)));
}

}  // namespace tessera::sweep
