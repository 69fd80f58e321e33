#include "sweep/progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace tessera::sweep {

std::string format_duration(double s) {
  long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

ProgressBar::ProgressBar(size_t total, size_t skipped, bool quiet)
    : total_(total),
      skipped_(skipped),
      quiet_(quiet),
      tty_(::isatty(2) != 0),
      start_(std::chrono::steady_clock::now()) {
  if (!quiet_ && skipped_ > 0)
    std::cerr << "resuming: " << skipped_ << " of " << total_ << " points already finished\n";
}

void ProgressBar::point_done(const std::string& id, bool ok, const std::string& error) {
  (ok ? ok_ : failed_)++;
  draw(ok ? id + " ok" : id + " FAILED: " + error);
}

void ProgressBar::draw(const std::string& note) {
  if (quiet_) return;
  const size_t done = skipped_ + ok_ + failed_;
  const double el =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const size_t ran = ok_ + failed_;
  const std::string eta =
      ran == 0 ? "?" : format_duration(el / double(ran) * double(total_ - done));
  const int width = 30;
  const int fill = total_ ? int(double(done) / double(total_) * width) : width;
  std::string bar(size_t(fill), '#');
  bar.resize(width, '.');
  char line[256];
  std::snprintf(line, sizeof line, "[%s] %zu/%zu points, %zu failed, %s elapsed, ETA %s",
                bar.c_str(), done, total_, failed_, format_duration(el).c_str(), eta.c_str());
  if (tty_) {
    if (note.find("FAILED") != std::string::npos) std::cerr << "\r\033[K" << note << "\n";
    std::cerr << "\r\033[K" << line << std::flush;
  } else {
    std::cerr << line << "  " << note << "\n";
  }
}

void ProgressBar::finish() {
  if (!quiet_ && tty_) std::cerr << "\n";
}

}  // namespace tessera::sweep
