// tessera sweep end to end: local workers, failures, kill-and-resume and MPI, first with
// a stand-in for `tessera run` (fake_run.py: same arguments and files, no simulation),
// then with real simulations of the tiny machine.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "models/sim/config_schema.h"
#include "models/sim/output_dir.h"
#include "sweep/child_process.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;

namespace {

const std::string kTessera = std::string(TESSERA_BINARY_DIR) + "/apps/tessera";

int sh(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

std::vector<std::string> split_csv(const std::string& line) {  // RFC 4180 fields
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// results.csv as a list of column -> value maps.
std::vector<std::map<std::string, std::string>> rows_of(const std::string& csv) {
  const auto ls = lines(csv);
  REQUIRE(!ls.empty());
  const auto head = split_csv(ls[0]);
  std::vector<std::map<std::string, std::string>> rows;
  for (size_t i = 1; i < ls.size(); ++i) {
    const auto f = split_csv(ls[i]);
    REQUIRE(f.size() == head.size());
    std::map<std::string, std::string> r;
    for (size_t k = 0; k < head.size(); ++k) r[head[k]] = f[k];
    rows.push_back(r);
  }
  return rows;
}

std::string sorted_lines(const std::string& text) {
  auto ls = lines(text);
  std::sort(ls.begin(), ls.end());
  std::string out;
  for (const auto& l : ls) out += l + "\n";
  return out;
}

std::string mpirun() {
  std::string cmd = std::string(TESSERA_MPIEXEC) + " --oversubscribe";
  if (::geteuid() == 0) cmd += " --allow-run-as-root";
  return cmd;
}

const char* kFakePlan =
    "name: fake\n"
    "config: tiny\n"
    "workload: gen:llama2-7b,phase=decode,batch=1,context=128,layers=1\n"
    "axes:\n"
    "  tile.array.rows: [16, 32, 64]\n"
    "  chiplet.hbm.preset: [hbm2e, hbm3]\n";

}  // namespace

TEST_CASE("a local sweep runs every point once and records its report", "[unit]") {
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  const std::string plan = write(d + "/plan.yaml", kFakePlan);
  const std::string log = d + "/runs.log";
  REQUIRE(sh("FAKE_RUN_LOG=" + log + " " + kTessera + " sweep " + plan + " --out " + d +
             "/out -j 3 -q --runner " + TESSERA_FAKE_RUN) == 0);
  const auto rows = rows_of(sim::read_file(d + "/out/results.csv"));
  REQUIRE(rows.size() == 6);
  CHECK(lines(sim::read_file(log)).size() == 6);
  for (const auto& r : rows) {
    CHECK(r.at("status") == "ok");
    // The row's metrics are the point's own report.json.
    const json rep =
        json::parse(sim::read_file(d + "/out/points/" + r.at("point") + "/report.json"));
    CHECK(r.at("sim_time_s") == sim::format_double(rep["sim_time_s"].get<double>()));
    CHECK(r.at("tflops") == sim::format_double(rep["tflops"].get<double>()));
    CHECK(fs::exists(d + "/out/points/" + r.at("point") + "/config.resolved.yaml"));
  }
  // Re-running the finished sweep runs nothing.
  REQUIRE(sh("FAKE_RUN_LOG=" + log + " " + kTessera + " sweep " + plan + " --out " + d +
             "/out -q --runner " + TESSERA_FAKE_RUN) == 0);
  CHECK(lines(sim::read_file(log)).size() == 6);
}

TEST_CASE("a local sweep of N jobs gives each run a 1/N share of the host's memory", "[unit]") {
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  const std::string plan = write(d + "/plan.yaml", kFakePlan);
  const std::string log = d + "/argv.log";
  auto run_sweep = [&](const std::string& out, int jobs) {
    return sh("FAKE_RUN_ARGV_LOG=" + log + " " + kTessera + " sweep " + plan + " --out " + d + "/" +
              out + " -j " + std::to_string(jobs) + " -q --runner " + TESSERA_FAKE_RUN);
  };
  REQUIRE(run_sweep("three", 3) == 0);
  REQUIRE(run_sweep("one", 1) == 0);
  REQUIRE(run_sweep("ten", 10) == 0);  // more workers than points: the share is the points' count
  const auto runs = lines(sim::read_file(log));
  REQUIRE(runs.size() == 18);
  for (const auto& r : runs) {
    INFO(r);
    const bool three = r.find("/three/") != std::string::npos;
    const bool ten = r.find("/ten/") != std::string::npos;
    CHECK((r.find(" --memory-share 3") != std::string::npos) == three);
    CHECK((r.find(" --memory-share 6") != std::string::npos) == ten);
    CHECK((r.find("--memory-share") != std::string::npos) == (three || ten));
  }
}

TEST_CASE("a failed point records its error and the sweep goes on", "[unit]") {
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  const std::string plan = write(d + "/plan.yaml",
                                 "workload: gen:x\naxes:\n  name: [a, boom, c]\n"
                                 "  chiplet.hbm_stacks: [1, 2]\n");
  CHECK(sh(kTessera + " sweep " + plan + " --out " + d + "/out -j 2 -q --runner " +
           TESSERA_FAKE_RUN + " 2>/dev/null") == 1);
  const auto rows = rows_of(sim::read_file(d + "/out/results.csv"));
  REQUIRE(rows.size() == 6);
  for (const auto& r : rows) {
    if (r.at("chiplet.hbm_stacks") == "2") {  // invalid combination, never run
      CHECK(r.at("status") == "failed");
      CHECK(r.at("error").find("hbm_attach") != std::string::npos);
    } else if (r.at("name") == "boom") {
      CHECK(r.at("status") == "failed");
      CHECK(r.at("error") == "fake run: exploded on purpose");
    } else {
      CHECK(r.at("status") == "ok");
    }
  }
}

TEST_CASE("a sweep killed with SIGKILL resumes with every point exactly once", "[unit]") {
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  const std::string plan = write(d + "/plan.yaml",
                                 "workload: gen:x\naxes:\n  tile.array.rows: [16, 32]\n"
                                 "  tile.array.cols: [8, 16, 24, 32]\n");
  const std::string log = d + "/runs.log";
  setenv("FAKE_RUN_LOG", log.c_str(), 1);
  setenv("FAKE_RUN_SLEEP", "0.4", 1);
  const pid_t pid = sweep::spawn_process(
      kTessera, {"sweep", plan, "--out", d + "/out", "-j", "2", "-q", "--runner", TESSERA_FAKE_RUN},
      d + "/o.txt", d + "/e.txt");
  // Kill it once three points are finished (point.json written).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t finished = 0;
  while (finished < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    finished = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d + "/out/points", ec))
      finished += fs::exists(e.path() / "point.json");
  }
  ::kill(pid, SIGKILL);
  sweep::wait_child(pid);
  REQUIRE(finished >= 3);
  std::vector<std::string> done_before;
  for (const auto& e : fs::directory_iterator(d + "/out/points"))
    if (fs::exists(e.path() / "point.json")) done_before.push_back(e.path().filename());
  REQUIRE(done_before.size() < 8);
  setenv("FAKE_RUN_SLEEP", "0", 1);
  REQUIRE(sh(kTessera + " sweep " + plan + " --out " + d + "/out -j 2 -q --runner " +
             TESSERA_FAKE_RUN) == 0);
  const auto rows = rows_of(sim::read_file(d + "/out/results.csv"));
  REQUIRE(rows.size() == 8);
  std::set<std::string> ids;
  for (const auto& r : rows) {
    CHECK(r.at("status") == "ok");
    ids.insert(r.at("point"));
  }
  CHECK(ids.size() == 8);
  // Points finished before the kill never ran again.
  const auto runs = lines(sim::read_file(log));
  for (const auto& id : done_before) CHECK(std::count(runs.begin(), runs.end(), id) == 1);
}

TEST_CASE(
    "an MPI sweep over 3 ranks gives the local sweep's results.csv and halves the runs' memory",
    "[unit]") {
  if (std::string(TESSERA_MPIEXEC).empty()) {
    WARN("built without MPI: not tested");
    return;
  }
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  const std::string plan = write(d + "/plan.yaml", kFakePlan);
  REQUIRE(sh(kTessera + " sweep " + plan + " --out " + d + "/local -j 2 -q --runner " +
             TESSERA_FAKE_RUN) == 0);
  const std::string log = d + "/argv.log";
  REQUIRE(sh(mpirun() + " -n 3 -x FAKE_RUN_ARGV_LOG=" + log + " " + kTessera + " sweep " + plan +
             " --out " + d + "/mpi --mpi -q --runner " + TESSERA_FAKE_RUN) == 0);
  // The two workers share this host: each run budgets half of its free memory.
  const auto runs = lines(sim::read_file(log));
  CHECK(runs.size() == 6);
  for (const auto& r : runs) CHECK(r.find(" --memory-share 2") != std::string::npos);
  const std::string local = sim::read_file(d + "/local/results.csv");
  const std::string mpi = sim::read_file(d + "/mpi/results.csv");
  CHECK(rows_of(mpi).size() == 6);
  CHECK(sorted_lines(mpi) == sorted_lines(local));
  // Rank 0 gathered every file of every point into the same layout.
  for (const auto& r : rows_of(mpi))
    for (const char* f : {"config.resolved.yaml", "stats.json", "stats.csv", "ops.csv",
                          "report.json", "point.json"})
      CHECK(fs::exists(d + "/mpi/points/" + r.at("point") + "/" + f));
}

// ---------------------------------------------------------------------------------
// With real simulations of the tiny machine (one decoder layer, short context).

namespace {

const char* kRealPlan =
    "name: real\n"
    "config: tiny\n"
    "workload: gen:tiny,phase=decode,batch=1,context=64,layers=1\n"
    "axes:\n"
    "  tile.array.rows: [8, 16, 32]\n"
    "  chiplet.hbm.preset: [hbm2e, hbm3]\n";

// The tiny machine simulates the plan's workload at all.
void require_simulator(const std::string& d) {
  REQUIRE(sh(kTessera + " run --config tiny --trace " +
             "gen:tiny,phase=decode,batch=1,context=64,layers=1 --out " + d +
             "/probe --format json > " + d + "/probe.out") == 0);
}

}  // namespace

TEST_CASE("a 3 x 2 sweep gives six rows equal to six single runs", "[golden]") {
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  require_simulator(d);
  const std::string plan = write(d + "/plan.yaml", kRealPlan);
  REQUIRE(sh(kTessera + " sweep " + plan + " --out " + d + "/out -j 2 -q") == 0);
  const auto rows = rows_of(sim::read_file(d + "/out/results.csv"));
  REQUIRE(rows.size() == 6);
  for (const auto& r : rows) {
    REQUIRE(r.at("status") == "ok");
    const std::string single = d + "/" + r.at("point") + ".json";
    REQUIRE(sh(kTessera + " run --config tiny --trace " + r.at("workload") +
               " --set tile.array.rows=" + r.at("tile.array.rows") + " --set chiplet.hbm.preset=" +
               r.at("chiplet.hbm.preset") + " --format json > " + single) == 0);
    const json rep = json::parse(sim::read_file(single));
    size_t compared = 0;
    for (const auto& [col, val] : r) {
      if (!rep.contains(col) || !rep[col].is_number()) continue;
      CHECK(val == sim::format_double(rep[col].get<double>()));
      ++compared;
    }
    CHECK(compared >= 4);  // at least sim_time_s, tflops, energy_j, avg_power_w
  }
}

TEST_CASE("MPI and local sweeps of real simulations give the same results.csv", "[golden]") {
  if (std::string(TESSERA_MPIEXEC).empty()) {
    WARN("built without MPI: not tested");
    return;
  }
  const sim::TempDir tmp("tessera-sweep-test", "test");
  const std::string& d = tmp.path();
  require_simulator(d);
  const std::string plan = write(d + "/plan.yaml", kRealPlan);
  REQUIRE(sh(kTessera + " sweep " + plan + " --out " + d + "/local -j 2 -q") == 0);
  REQUIRE(sh(mpirun() + " -n 3 " + kTessera + " sweep " + plan + " --out " + d + "/mpi --mpi -q") ==
          0);
  const std::string local = sim::read_file(d + "/local/results.csv");
  CHECK(rows_of(local).size() == 6);
  CHECK(sorted_lines(sim::read_file(d + "/mpi/results.csv")) == sorted_lines(local));
}
