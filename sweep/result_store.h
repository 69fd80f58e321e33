// The results folder of a sweep:
//   DIR/plan.yaml              the plan as given
//   DIR/sweep.json             name, axis columns, metric names, plots (for `tessera plot`)
//   DIR/points/<id>/           one point: what `tessera run` wrote (config.resolved.yaml,
//                              stats.json, stats.csv, ops.csv, report.json), its stderr,
//                              and point.json — written last, atomically: a point is
//                              finished exactly when its point.json says "ok"
//   DIR/results.csv            one row per recorded point, rebuilt from the point.json
//                              records and renamed into place after every point, so a
//                              SIGKILL at any moment leaves either the old or the new file
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/sim/stats_registry.h"
#include "sweep/sweep_plan.h"

namespace tessera::sweep {

// The headline metrics of report.json, in the column order of results.csv.
const std::vector<std::string>& headline_metrics();

struct PointRecord {
  std::string status;  // ok | failed
  int exit_code = 0;
  std::string error;
  nlohmann::json report;  // report.json of the run (object), empty when failed
  double wall_s = 0;
  std::string host;
};

class ResultStore {
 public:
  // Opens (or creates) the folder. A non-empty folder that is not a sweep's is refused
  // unless `force`. Records of earlier runs of the same points are loaded (resume).
  ResultStore(std::string dir, const SweepPlan& plan, bool force);

  const std::string& dir() const { return dir_; }
  std::string point_dir(const Point& p) const;
  // True when the point has an "ok" record from an earlier run.
  bool finished(const Point& p) const;
  size_t recorded() const { return records_.size(); }

  // Writes files into the point's folder (MPI: results gathered from another rank).
  void write_point_files(const Point& p, const std::map<std::string, std::string>& files) const;
  // Builds the record of a run that wrote into point_dir(p) and exited with `exit_code`
  // (128+N for signal N), then stores it.
  const PointRecord& finish_point(const Point& p, int exit_code, double wall_s,
                                  const std::string& host);
  // Stores a record (point.json, then results.csv).
  void record(const Point& p, PointRecord r);

  // results.csv text from the current records (plan order).
  std::string results_csv() const;

 private:
  void write_results_csv() const;
  const SweepPlan& plan_;
  std::string dir_;
  std::map<size_t, PointRecord> records_;
};

using sim::csv_field;  // CSV field quoting (RFC 4180)

}  // namespace tessera::sweep
