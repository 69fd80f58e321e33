// Built when CMake found no MPI: `--mpi` is refused with a clear message.
#include "models/sim/errors.h"
#include "sweep/sweep_runner.h"

namespace tessera::sweep {

bool mpi_built_in() {
  return false;
}

SweepSummary run_sweep_mpi(const SweepOptions&) {
  throw sim::UserError(
      "tessera sweep --mpi: this tessera was built without MPI (install "
      "libopenmpi-dev and rebuild)");
}

}  // namespace tessera::sweep
