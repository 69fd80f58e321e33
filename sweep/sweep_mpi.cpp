// Sweeps across MPI ranks. Rank 0 loads the plan, owns the results folder and hands out
// one point at a time to whichever rank asks (dynamic load balancing: a rank that drew
// short points asks more often). A worker runs its point into a private temporary
// folder and sends every file back, so ranks need no shared file system; rank 0 writes
// them with the same store as a local sweep, hence the same results.csv.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "sweep/child_process.h"
#include "sweep/progress_bar.h"
#include "sweep/sweep_runner.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::sweep {

namespace {

constexpr int kTagToMaster = 1;  // ready / result
constexpr int kTagToWorker = 2;  // a point to run, or stop
const char* const kOutPlaceholder = "@TESSERA_POINT_DIR@";

void send_json(const json& j, int dest, int tag) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  MPI_Send(s.data(), int(s.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

json recv_json(int source, int tag, int* from) {
  MPI_Status st;
  MPI_Probe(source, tag, MPI_COMM_WORLD, &st);
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  std::string buf(size_t(n), '\0');
  MPI_Recv(buf.data(), n, MPI_CHAR, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (from) *from = st.MPI_SOURCE;
  return json::parse(buf);
}

SweepSummary master(PreparedSweep& s, const SweepOptions& o, int size) {
  const size_t total = s.plan.points.size();
  ProgressBar bar(total, total - s.todo.size(), o.quiet);
  size_t next = 0;
  int active = size - 1;
  while (active > 0) {
    int from = 0;
    const json m = recv_json(MPI_ANY_SOURCE, kTagToMaster, &from);
    if (m.contains("index")) {
      const Point& p = s.plan.points.at(m["index"].get<size_t>());
      std::map<std::string, std::string> files;
      for (auto it = m["files"].begin(); it != m["files"].end(); ++it)
        files[it.key()] = it.value().get<std::string>();
      s.store->write_point_files(p, files);
      const PointRecord& r = s.store->finish_point(
          p, m["exit_code"].get<int>(), m["wall_s"].get<double>(), m["host"].get<std::string>());
      bar.point_done(p.id, r.status == "ok", r.error);
    }
    while (next < s.todo.size() && !s.plan.points[s.todo[next]].invalid.empty()) {
      const Point& p = s.plan.points[s.todo[next++]];
      s.store->record(p, PointRecord{"failed", 2, p.invalid, {}, 0, host_name()});
      bar.point_done(p.id, false, p.invalid);
    }
    if (next < s.todo.size()) {
      const Point& p = s.plan.points[s.todo[next++]];
      send_json({{"index", p.index}, {"args", run_arguments(s.plan, p, kOutPlaceholder)}}, from,
                kTagToWorker);
    } else {
      send_json({{"stop", true}}, from, kTagToWorker);
      --active;
    }
  }
  bar.finish();
  SweepSummary sum;
  sum.total = total;
  sum.skipped = total - s.todo.size();
  sum.ok = bar.ok();
  sum.failed = bar.failed();
  sum.out = o.out;
  return sum;
}

// `share`: the workers on this host, whose runs share its free memory (tessera run's
// command budget).
void worker(const SweepOptions& o, int share) {
  const std::string exe = o.runner.empty() ? self_executable() : o.runner;
  const std::string host = host_name();
  send_json({{"ready", true}}, 0, kTagToMaster);
  for (;;) {
    const json m = recv_json(0, kTagToWorker, nullptr);
    if (m.contains("stop")) return;
    const sim::TempDir tmp("tessera-point", "tessera sweep");
    const std::string& dir = tmp.path();
    auto args = m["args"].get<std::vector<std::string>>();
    for (auto& a : args)
      if (a == kOutPlaceholder) a = dir;
    add_memory_share(args, size_t(share));
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = spawn_process(exe, args, dir + "/stdout.txt", dir + "/stderr.txt");
    const int code = wait_child(pid).second;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    json files = json::object();
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename().string().find(".tmp.") == std::string::npos)
        files[e.path().filename().string()] = sim::read_file(e.path().string());
    send_json({{"index", m["index"]},
               {"exit_code", code},
               {"wall_s", wall},
               {"host", host},
               {"files", files}},
              0, kTagToMaster);
  }
}

}  // namespace

bool mpi_built_in() {
  return true;
}

SweepSummary run_sweep_mpi(const SweepOptions& o) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  // The workers on each host (rank 0 hands out points and runs none when there are
  // others) run at once, so each run budgets its share of the host's free memory.
  MPI_Comm host;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &host);
  int on_host = 1, master_here = rank == 0 ? 1 : 0;
  MPI_Comm_size(host, &on_host);
  MPI_Allreduce(MPI_IN_PLACE, &master_here, 1, MPI_INT, MPI_MAX, host);
  MPI_Comm_free(&host);
  const int share = std::max(on_host - master_here, 1);
  SweepSummary sum;
  if (rank == 0) {
    std::unique_ptr<PreparedSweep> s;
    std::string err;
    int code = 0;
    try {
      s = prepare_sweep(o);
    } catch (const sim::UserError& e) {
      err = e.what();
      code = e.exit_code();
    }
    int ok = err.empty() ? 1 : 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!ok) {
      MPI_Finalize();
      throw sim::UserError(err, code);
    }
    try {
      sum = size == 1 ? run_local(*s, o) : master(*s, o, size);
    } catch (const std::exception& e) {
      std::cerr << "tessera sweep (rank 0): " << e.what() << "\n";
      MPI_Abort(MPI_COMM_WORLD, sim::kExitFailure);
    }
  } else {
    int ok = 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (ok) {
      try {
        worker(o, share);
      } catch (const std::exception& e) {
        std::cerr << "tessera sweep (rank " << rank << "): " << e.what() << "\n";
        MPI_Abort(MPI_COMM_WORLD, sim::kExitFailure);
      }
    }
    sum.worker = true;
  }
  MPI_Finalize();
  return sum;
}

}  // namespace tessera::sweep
