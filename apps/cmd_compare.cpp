// tessera compare A B: two runs' headline metrics side by side with the ratio B/A, for
// a quick A/B of one design change. A and B are run folders (report.json inside, as
// written by `tessera run --out` or a sweep point) or report.json files.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/sim/config_schema.h"
#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "sweep/result_store.h"

using nlohmann::json;

namespace tessera::apps {

namespace {

json load_report(const std::string& what) {
  std::string path = what;
  if (std::filesystem::is_directory(path)) path += "/report.json";
  if (!std::filesystem::exists(path))
    throw sim::UserError(what + ": no report.json (give a run's --out folder or its report.json)");
  try {
    json j = json::parse(sim::read_file(path));
    if (!j.is_object()) throw sim::UserError(path + ": not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw sim::UserError(path + ": not valid JSON: " + e.what());
  }
}

std::string text_of(const json& v) {
  if (v.is_number()) {  // 6 significant digits: a table to read (--format json is exact)
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
  }
  if (v.is_string()) return v.get<std::string>();
  return v.is_null() ? "-" : v.dump();
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "headline metrics of two runs side by side, B/A");
  static std::string a_path, b_path, format = "text";
  static bool all = false;
  cmd->add_option("a", a_path, "run A: output folder or report.json")->required();
  cmd->add_option("b", b_path, "run B: output folder or report.json")->required();
  cmd->add_flag("--all", all, "every numeric key of report.json, not just the headline");
  cmd->add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([] {
    const json a = load_report(a_path), b = load_report(b_path);
    std::vector<std::string> keys;
    std::set<std::string> seen;
    for (const auto& m : sweep::headline_metrics())
      if (a.contains(m) || b.contains(m)) keys.push_back(m), seen.insert(m);
    if (all)
      for (const json* r : {&a, &b})
        for (auto it = r->begin(); it != r->end(); ++it)
          if (it.value().is_number() && seen.insert(it.key()).second) keys.push_back(it.key());
    json rows = json::array();
    for (const auto& k : keys) {
      json row{{"metric", k}, {"a", a.value(k, json())}, {"b", b.value(k, json())}};
      if (a.contains(k) && b.contains(k) && a[k].is_number() && b[k].is_number() &&
          a[k].get<double>() != 0)
        row["ratio"] = b[k].get<double>() / a[k].get<double>();
      else
        row["ratio"] = nullptr;
      rows.push_back(row);
    }
    if (format == "json") {
      std::cout << json{{"a",
                         {{"path", a_path},
                          {"machine", a.value("machine", "")},
                          {"workload", a.value("workload", "")}}},
                        {"b",
                         {{"path", b_path},
                          {"machine", b.value("machine", "")},
                          {"workload", b.value("workload", "")}}},
                        {"metrics", rows}}
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("A: %s  (%s, %s)\nB: %s  (%s, %s)\n\n", a_path.c_str(),
                a.value("machine", "?").c_str(), a.value("workload", "?").c_str(), b_path.c_str(),
                b.value("machine", "?").c_str(), b.value("workload", "?").c_str());
    std::printf("%-22s %16s %16s %10s\n", "metric", "A", "B", "B/A");
    for (const auto& r : rows) {
      char ratio[32] = "-";
      if (!r["ratio"].is_null())
        std::snprintf(ratio, sizeof ratio, "%.4f", r["ratio"].get<double>());
      std::printf("%-22s %16s %16s %10s\n", r["metric"].get<std::string>().c_str(),
                  text_of(r["a"]).c_str(), text_of(r["b"]).c_str(), ratio);
    }
  });
}

}  // namespace tessera::apps
