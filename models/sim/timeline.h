// Command timeline: every command's start and end per unit, exported as Chrome /
// Perfetto trace-event JSON (open in ui.perfetto.dev or chrome://tracing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::sim {

class Timeline {
 public:
  explicit Timeline(bool enabled = false) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  // A track is a unit ("pkg0.chiplet1.tile3.gemm"); returns its id.
  uint32_t track(const std::string& name);
  void record(uint32_t track, const std::string& name, uint64_t start_ps, uint64_t end_ps,
              const std::string& category) {
    if (enabled_) events_.push_back({track, name, category, start_ps, end_ps});
  }
  size_t size() const { return events_.size(); }
  // Trace-event JSON: one process per chiplet-level prefix, one thread per track.
  std::string to_json() const;

 private:
  struct Event {
    uint32_t track;
    std::string name, category;
    uint64_t start_ps, end_ps;
  };
  bool enabled_;
  std::vector<std::string> tracks_;
  std::vector<Event> events_;
};

}  // namespace tessera::sim
