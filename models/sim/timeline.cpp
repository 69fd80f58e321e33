#include "models/sim/timeline.h"

#include <map>

#include <nlohmann/json.hpp>

namespace tessera::sim {

uint32_t Timeline::track(const std::string& name) {
  for (uint32_t i = 0; i < tracks_.size(); ++i)
    if (tracks_[i] == name) return i;
  tracks_.push_back(name);
  return uint32_t(tracks_.size() - 1);
}

std::string Timeline::to_json() const {
  // Group tracks into processes by everything before the last two name segments
  // ("pkg0.chiplet1" for "pkg0.chiplet1.tile3.gemm"), so Perfetto folds per chiplet.
  std::map<std::string, int> pids;
  std::vector<int> pid_of(tracks_.size());
  nlohmann::json ev = nlohmann::json::array();
  for (size_t t = 0; t < tracks_.size(); ++t) {
    const std::string& n = tracks_[t];
    size_t cut = n.rfind('.');
    if (cut != std::string::npos && cut > 0) cut = n.rfind('.', cut - 1);
    const std::string proc = cut == std::string::npos ? n : n.substr(0, cut);
    auto it = pids.emplace(proc, int(pids.size()) + 1).first;
    pid_of[t] = it->second;
    ev.push_back({{"ph", "M"},
                  {"name", "thread_name"},
                  {"pid", it->second},
                  {"tid", t + 1},
                  {"args", {{"name", n}}}});
  }
  for (const auto& [name, pid] : pids)
    ev.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"args", {{"name", name}}}});
  for (const auto& e : events_) {
    // Trace-event timestamps are microseconds; keep picosecond precision as fractions.
    ev.push_back({{"ph", "X"},
                  {"name", e.name},
                  {"cat", e.category},
                  {"pid", pid_of[e.track]},
                  {"tid", e.track + 1},
                  {"ts", double(e.start_ps) / 1e6},
                  {"dur", double(e.end_ps - e.start_ps) / 1e6}});
  }
  nlohmann::json root;
  root["traceEvents"] = std::move(ev);
  root["displayTimeUnit"] = "ns";
  return root.dump();
}

}  // namespace tessera::sim
