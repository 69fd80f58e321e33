// The results folder: atomic per-point records, results.csv rebuilt from them, resume.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "sweep/result_store.h"

using namespace tessera;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
const char* kPlan =
    "workload: gen:x\naxes:\n  tile.array.rows: [16, 32]\n  chiplet.hbm.preset: [hbm2e, hbm3]\n";

sweep::PointRecord ok_record(double t, double tf) {
  sweep::PointRecord r;
  r.status = "ok";
  r.report = {{"sim_time_s", t}, {"tflops", tf}, {"machine", "tiny"}, {"zeta", 1}};
  return r;
}
}  // namespace

TEST_CASE("results.csv holds one row per record, in plan order, with headline metrics first",
          "[unit]") {
  const auto plan = sweep::parse_plan(kPlan, "p.yaml", "");
  const sim::TempDir tmp("tessera-store", "test");
  const std::string dir = tmp.path() + "/out";
  sweep::ResultStore store(dir, plan, false);
  CHECK(sim::read_file(dir + "/results.csv") ==
        "point,workload,tile.array.rows,chiplet.hbm.preset,status,error\n");
  store.record(plan.points[2], ok_record(0.5, 3));
  sweep::PointRecord bad;
  bad.status = "failed";
  bad.exit_code = 2;
  bad.error = "x.yaml:1:2: bad, \"quoted\"";
  store.record(plan.points[0], bad);
  const std::string want =
      "point,workload,tile.array.rows,chiplet.hbm.preset,status,sim_time_s,"
      "tflops,zeta,error\n" +
      plan.points[0].id + ",gen:x,16,hbm2e,failed,,,,\"x.yaml:1:2: bad, " + "\"\"quoted\"\"\"\n" +
      plan.points[2].id + ",gen:x,32,hbm2e,ok,0.5,3,1,\n";
  CHECK(sim::read_file(dir + "/results.csv") == want);
  CHECK(store.finished(plan.points[2]));
  CHECK_FALSE(store.finished(plan.points[0]));  // failed points run again on resume
}

TEST_CASE("reopening a results folder resumes: records are kept, garbage is dropped", "[unit]") {
  const auto plan = sweep::parse_plan(kPlan, "p.yaml", "");
  const sim::TempDir tmp("tessera-store", "test");
  const std::string dir = tmp.path() + "/out";
  {
    sweep::ResultStore store(dir, plan, false);
    store.record(plan.points[1], ok_record(1, 2));
    store.record(plan.points[3], ok_record(3, 4));
  }
  const std::string csv = sim::read_file(dir + "/results.csv");
  // What a SIGKILL mid-write leaves: a half-written temp file and a point folder without
  // its point.json; and a point.json whose key belongs to another plan.
  std::ofstream(dir + "/results.csv.tmp.12345") << "point,half";
  fs::create_directories(dir + "/points/" + plan.points[0].id);
  std::ofstream(dir + "/points/" + plan.points[0].id + "/report.json") << "{\"sim_time_s\": 9";
  std::ofstream(dir + "/points/" + plan.points[2].id + "/point.json")
      << R"({"key": "something else", "status": "ok", "report": {}})";
  sweep::ResultStore again(dir, plan, false);
  CHECK(again.recorded() == 2);
  CHECK(again.finished(plan.points[1]));
  CHECK(again.finished(plan.points[3]));
  CHECK_FALSE(again.finished(plan.points[0]));
  CHECK_FALSE(again.finished(plan.points[2]));
  CHECK(sim::read_file(dir + "/results.csv") == csv);
  CHECK_FALSE(fs::exists(dir + "/results.csv.tmp.12345"));
}

TEST_CASE("a non-empty folder that holds no sweep is refused without --force", "[unit]") {
  const auto plan = sweep::parse_plan(kPlan, "p.yaml", "");
  const sim::TempDir tmp("tessera-store", "test");
  const std::string& dir = tmp.path();
  std::ofstream(dir + "/precious.txt") << "x";
  CHECK_THROWS_WITH(sweep::ResultStore(dir, plan, false), Contains("not empty"));
  sweep::ResultStore forced(dir, plan, true);
  CHECK(fs::exists(dir + "/precious.txt"));
  CHECK(fs::exists(dir + "/sweep.json"));
}

TEST_CASE("a finished run becomes an ok record, a failed one keeps its last error line", "[unit]") {
  const auto plan = sweep::parse_plan(kPlan, "p.yaml", "");
  const sim::TempDir tmp("tessera-store", "test");
  const std::string dir = tmp.path() + "/out";
  sweep::ResultStore store(dir, plan, false);
  const auto& p0 = plan.points[0];
  fs::create_directories(store.point_dir(p0));
  std::ofstream(store.point_dir(p0) + "/report.json") << R"({"tflops": 1.25, "machine": "m"})";
  CHECK(store.finish_point(p0, 0, 0.1, "h").status == "ok");
  const auto& p1 = plan.points[1];
  fs::create_directories(store.point_dir(p1));
  std::ofstream(store.point_dir(p1) + "/stderr.txt") << "warning: x\nt.tsr:3: bad op\n\n";
  const auto& r1 = store.finish_point(p1, 2, 0.1, "h");
  CHECK(r1.status == "failed");
  CHECK(r1.error == "t.tsr:3: bad op");
  CHECK(store.finish_point(plan.points[2], 137, 0.1, "h").error == "killed by signal 9");
  CHECK(store.finish_point(plan.points[3], 0, 0.1, "h").status == "failed");  // no report
}

TEST_CASE("a sweep folder resumes only its own plan, another is refused without --force",
          "[unit]") {
  const auto plan = sweep::parse_plan(kPlan, "p.yaml", "");
  const sim::TempDir tmp("tessera-store", "test");
  const std::string dir = tmp.path() + "/out";
  { sweep::ResultStore store(dir, plan, false); }
  const std::string held = sim::read_file(dir + "/plan.yaml");
  const auto other =
      sweep::parse_plan("workload: gen:x\naxes:\n  tile.array.rows: [8, 64]\n", "q.yaml", "");
  CHECK_THROWS_WITH(sweep::ResultStore(dir, other, false), Contains("another plan"));
  CHECK(sim::read_file(dir + "/plan.yaml") == held);  // untouched
  { sweep::ResultStore same(dir, plan, false); }      // the same plan resumes
  sweep::ResultStore forced(dir, other, true);
  CHECK(sim::read_file(dir + "/plan.yaml") == other.text);
}
