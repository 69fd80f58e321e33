#include "sweep/result_store.h"

#include <unistd.h>

#include <filesystem>
#include <set>

#include "models/sim/config_schema.h"
#include "models/sim/errors.h"
#include "models/sim/output_dir.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::sweep {

const std::vector<std::string>& headline_metrics() {
  // The whole-model time first (sim_time_s covers only the simulated layers), and
  // whether it was estimated (1) or simulated (0).
  static const std::vector<std::string> m{"total_time_s", "time_estimated",   "sim_time_s",
                                          "tflops",       "energy_j",         "avg_power_w",
                                          "tokens_per_s", "joules_per_token", "cost_per_mtok_usd"};
  return m;
}

namespace {

json plots_json(const SweepPlan& plan) {
  json arr = json::array();
  for (const auto& p : plan.plots)
    arr.push_back({{"type", p.type}, {"x", p.x}, {"y", p.y}, {"series", p.series}});
  return arr;
}

// The last non-empty line of a text (a failed run's one-line error).
std::string last_line(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' '))
      --end;
    if (end == 0) break;
    const size_t start = text.rfind('\n', end - 1);
    const size_t b = start == std::string::npos ? 0 : start + 1;
    return text.substr(b, end - b);
  }
  return {};
}

}  // namespace

ResultStore::ResultStore(std::string dir, const SweepPlan& plan, bool force)
    : plan_(plan), dir_(std::move(dir)) {
  std::error_code ec;
  const bool is_sweep = fs::exists(fs::path(dir_) / "sweep.json", ec);
  if (!is_sweep) sim::prepare_output_dir(dir_, force);
  // A sweep folder resumes only its own plan: another plan would rewrite its plan,
  // summary and results table.
  if (is_sweep && !force) {
    std::string held;
    try {
      held = sim::read_file(dir_ + "/plan.yaml");
    } catch (const sim::UserError&) {
    }
    if (held != plan.text)
      throw sim::UserError(dir_ +
                           ": holds the results of another plan (its plan.yaml differs; "
                           "use --force to run this plan into it)");
  }
  fs::create_directories(fs::path(dir_) / "points", ec);
  if (ec) throw sim::UserError(dir_ + "/points: cannot create folder: " + ec.message());
  // Temporary files of a writer that was killed are garbage; the renamed files are
  // whole. Only in a sweep folder (a user's folder given with --force is left alone).
  if (is_sweep)
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) fs::remove(e.path(), ec);

  for (const auto& p : plan.points) {
    const std::string f = point_dir(p) + "/point.json";
    if (!fs::exists(f, ec)) continue;
    try {
      const json j = json::parse(sim::read_file(f));
      if (j.value("key", "") != p.key) continue;  // a different point under the same id
      PointRecord r;
      r.status = j.value("status", "failed");
      r.exit_code = j.value("exit_code", 0);
      r.error = j.value("error", "");
      r.report = j.value("report", json::object());
      r.wall_s = j.value("wall_s", 0.0);
      r.host = j.value("host", "");
      records_[p.index] = std::move(r);
    } catch (const std::exception&) {
      // Unreadable record: the point simply runs again.
    }
  }
  json meta{{"name", plan.name},
            {"plan", "plan.yaml"},
            {"config", plan.config},
            {"mode", plan.mode},
            {"points", plan.points.size()},
            {"axes", plan.axis_columns()},
            {"metrics", headline_metrics()},
            {"plots", plots_json(plan)}};
  sim::write_file_atomic(dir_ + "/plan.yaml", plan.text);
  sim::write_file_atomic(dir_ + "/sweep.json", meta.dump(2) + "\n");
  write_results_csv();
}

std::string ResultStore::point_dir(const Point& p) const {
  return dir_ + "/points/" + p.id;
}

bool ResultStore::finished(const Point& p) const {
  auto it = records_.find(p.index);
  return it != records_.end() && it->second.status == "ok";
}

void ResultStore::write_point_files(const Point& p,
                                    const std::map<std::string, std::string>& files) const {
  std::error_code ec;
  fs::create_directories(point_dir(p), ec);
  for (const auto& [name, content] : files) {
    if (name.empty() || name.find('/') != std::string::npos || name == "point.json")
      continue;  // never let a message name a path outside the point
    sim::write_file_atomic(point_dir(p) + "/" + name, content);
  }
}

const PointRecord& ResultStore::finish_point(const Point& p, int exit_code, double wall_s,
                                             const std::string& host) {
  PointRecord r;
  r.exit_code = exit_code;
  r.wall_s = wall_s;
  r.host = host;
  const std::string d = point_dir(p);
  std::error_code ec;
  std::string err_text;
  if (fs::exists(d + "/stderr.txt", ec)) err_text = sim::read_file(d + "/stderr.txt");
  if (exit_code == 0) {
    try {
      r.report = json::parse(sim::read_file(d + "/report.json"));
      if (!r.report.is_object()) throw std::runtime_error("not an object");
      r.status = "ok";
    } catch (const std::exception& e) {
      r.status = "failed";
      r.error = "report.json missing or unreadable after a successful exit";
    }
  } else {
    r.status = "failed";
    r.error = last_line(err_text);
    if (r.error.empty())
      r.error = exit_code > 128 ? "killed by signal " + std::to_string(exit_code - 128)
                                : "exit code " + std::to_string(exit_code);
  }
  record(p, std::move(r));
  return records_.at(p.index);
}

void ResultStore::record(const Point& p, PointRecord r) {
  json values = json::object();
  const auto cols = plan_.axis_columns();
  json j{{"index", p.index},   {"id", p.id},
         {"key", p.key},       {"workload", p.workload->name},
         {"status", r.status}, {"exit_code", r.exit_code},
         {"error", r.error},   {"report", r.report},
         {"wall_s", r.wall_s}, {"host", r.host}};
  for (size_t k = 0; k < plan_.axes.size(); ++k) values[plan_.axes[k].key] = p.labels[k];
  j["values"] = values;
  std::error_code ec;
  fs::create_directories(point_dir(p), ec);
  sim::write_file_atomic(point_dir(p) + "/point.json", j.dump(2) + "\n");
  records_[p.index] = std::move(r);
  write_results_csv();
}

std::string ResultStore::results_csv() const {
  // Metric columns: the headline metrics any run reported, then every other numeric
  // top-level key of report.json, sorted — the same for any order of completion.
  std::set<std::string> present, extra;
  for (const auto& [i, r] : records_)
    for (auto it = r.report.begin(); it != r.report.end(); ++it)
      if (it.value().is_number() || it.value().is_boolean()) present.insert(it.key());
  std::vector<std::string> metrics;
  for (const auto& m : headline_metrics())
    if (present.erase(m)) metrics.push_back(m);
  metrics.insert(metrics.end(), present.begin(), present.end());

  std::string out = "point";
  for (const auto& c : plan_.axis_columns()) out += "," + csv_field(c);
  out += ",status";
  for (const auto& m : metrics) out += "," + csv_field(m);
  out += ",error\n";
  for (const auto& [i, r] : records_) {
    const Point& p = plan_.points[i];
    out += p.id + "," + csv_field(p.workload->name);
    for (const auto& l : p.labels) out += "," + csv_field(l);
    out += "," + r.status;
    for (const auto& m : metrics) {
      out += ",";
      if (r.report.contains(m) && r.report[m].is_number())
        out += sim::format_double(r.report[m].get<double>());
      else if (r.report.contains(m) && r.report[m].is_boolean())
        out += r.report[m].get<bool>() ? "1" : "0";
    }
    out += "," + csv_field(r.error) + "\n";
  }
  return out;
}

void ResultStore::write_results_csv() const {
  sim::write_file_atomic(dir_ + "/results.csv", results_csv());
}

}  // namespace tessera::sweep
