#include "sweep/sweep_runner.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "sweep/child_process.h"
#include "sweep/progress_bar.h"

namespace tessera::sweep {

std::unique_ptr<PreparedSweep> prepare_sweep(const SweepOptions& o) {
  auto s = std::make_unique<PreparedSweep>();
  s->plan = load_plan(o.plan);
  s->store = std::make_unique<ResultStore>(o.out, s->plan, o.force);
  for (const auto& p : s->plan.points)
    if (!s->store->finished(p)) s->todo.push_back(p.index);
  s->exe = o.runner.empty() ? self_executable() : o.runner;
  return s;
}

SweepSummary run_local(PreparedSweep& s, const SweepOptions& o) {
  const unsigned jobs = o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  const size_t total = s.plan.points.size();
  ProgressBar bar(total, total - s.todo.size(), o.quiet);
  const std::string host = host_name();
  using Clock = std::chrono::steady_clock;
  struct Running {
    size_t index;
    Clock::time_point start;
  };
  std::map<pid_t, Running> running;
  // The runs at once share the host's free memory (tessera run's command budget).
  const size_t share = std::min<size_t>(jobs, s.todo.size());
  size_t next = 0;
  while (next < s.todo.size() || !running.empty()) {
    while (running.size() < jobs && next < s.todo.size()) {
      const Point& p = s.plan.points[s.todo[next++]];
      if (!p.invalid.empty()) {  // the combination fails validation: never run
        s.store->record(p, PointRecord{"failed", 2, p.invalid, {}, 0, host});
        bar.point_done(p.id, false, p.invalid);
        continue;
      }
      const std::string dir = s.store->point_dir(p);
      std::filesystem::create_directories(dir);
      std::vector<std::string> args = run_arguments(s.plan, p, dir);
      add_memory_share(args, share);
      const pid_t pid = spawn_process(s.exe, args, dir + "/stdout.txt", dir + "/stderr.txt");
      running[pid] = {p.index, Clock::now()};
    }
    if (running.empty()) continue;
    const auto [pid, code] = wait_child(0);
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Point& p = s.plan.points[it->second.index];
    const double wall = std::chrono::duration<double>(Clock::now() - it->second.start).count();
    running.erase(it);
    const PointRecord& r = s.store->finish_point(p, code, wall, host);
    bar.point_done(p.id, r.status == "ok", r.error);
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

SweepSummary run_sweep(const SweepOptions& o) {
  if (o.mpi) return run_sweep_mpi(o);
  auto s = prepare_sweep(o);
  return run_local(*s, o);
}

}  // namespace tessera::sweep
