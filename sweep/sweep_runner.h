// Running a sweep: load and validate the plan, open the results folder (resume), and
// run every unfinished point as its own `tessera run` process — on N local workers, or
// across MPI ranks with dynamic load balancing (rank 0 hands out points one at a time
// and writes every result, so the folder is the same either way).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sweep/result_store.h"
#include "sweep/sweep_plan.h"

namespace tessera::sweep {

struct SweepOptions {
  std::string plan;    // file or built-in plan name
  std::string out;     // results folder
  std::string runner;  // program run per point (default: this executable)
  unsigned jobs = 0;   // local workers (0: the core count)
  bool force = false;  // write into a non-empty folder that holds no sweep
  bool quiet = false;  // no progress output
  bool mpi = false;    // distribute over MPI ranks
};

struct SweepSummary {
  bool worker = false;  // an MPI rank other than 0: it ran points, rank 0 reports
  size_t total = 0, skipped = 0, ok = 0, failed = 0;
  std::string out;
};

// A loaded plan with its results folder and the points still to run.
struct PreparedSweep {
  SweepPlan plan;
  std::unique_ptr<ResultStore> store;
  std::vector<size_t> todo;  // indices into plan.points
  std::string exe;
};
std::unique_ptr<PreparedSweep> prepare_sweep(const SweepOptions& o);

SweepSummary run_sweep(const SweepOptions& o);
SweepSummary run_local(PreparedSweep& s, const SweepOptions& o);

// MPI (sweep_mpi.cpp when MPI was found at build time, else a stub that refuses).
bool mpi_built_in();
SweepSummary run_sweep_mpi(const SweepOptions& o);

}  // namespace tessera::sweep
