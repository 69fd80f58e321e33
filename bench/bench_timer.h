// Timers shared by the speed benchmarks: wall time, and CPU time of this process (on a
// shared machine less sensitive to load than wall time).
#pragma once

#include <chrono>
#include <ctime>

namespace tessera::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace tessera::bench
