// The sweep's progress on stderr: points done, failures, elapsed time and ETA. On a
// terminal one line is redrawn; otherwise one line per finished point (logs, CI).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace tessera::sweep {

class ProgressBar {
 public:
  // `total` points of which `skipped` were finished by an earlier run.
  ProgressBar(size_t total, size_t skipped, bool quiet);
  void point_done(const std::string& id, bool ok, const std::string& error);
  void finish();
  size_t ok() const { return ok_; }
  size_t failed() const { return failed_; }

 private:
  void draw(const std::string& note);
  size_t total_, skipped_, ok_ = 0, failed_ = 0;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_;
};

// "1:05" / "2:03:04"
std::string format_duration(double seconds);

}  // namespace tessera::sweep
