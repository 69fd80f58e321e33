#include "models/sim/host_memory.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tessera::sim {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream s;
  s << f.rdbuf();
  return f ? s.str() : std::string();
}

// A whole decimal number at the start of `s` (after blanks); false when there is none.
bool leading_number(const std::string& s, uint64_t& v) {
  size_t i = s.find_first_not_of(" \t");
  if (i == std::string::npos || s[i] < '0' || s[i] > '9') return false;
  v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    const uint64_t d = uint64_t(s[i] - '0');
    if (v > (~uint64_t(0) - d) / 10) return false;  // overflow: not a byte count
    v = v * 10 + d;
  }
  return true;
}

}  // namespace

uint64_t available_host_memory(const std::string& meminfo, const std::string& cgroup_max,
                               const std::string& cgroup_current) {
  uint64_t best = 0;  // 0: nothing known yet
  auto take = [&best](uint64_t v) { best = best == 0 ? v : std::min(best, v); };
  std::istringstream lines(meminfo);
  for (std::string line; std::getline(lines, line);) {
    const std::string key = "MemAvailable:";
    uint64_t kib = 0;
    if (line.compare(0, key.size(), key) == 0 && leading_number(line.substr(key.size()), kib)) {
      if (kib <= ~uint64_t(0) / 1024) take(std::max<uint64_t>(kib, 1) * 1024);
      break;
    }
  }
  uint64_t limit = 0, used = 0;
  if (leading_number(cgroup_max, limit)) {  // "max": no limit
    if (!leading_number(cgroup_current, used)) used = 0;
    take(std::max<uint64_t>(limit > used ? limit - used : 0, 1));
  }
  return best;
}

uint64_t available_host_memory() {
  // The process's own cgroup: v2 ("0::/path", memory.max and memory.current) or v1
  // ("N:memory:/path", memory.limit_in_bytes and memory.usage_in_bytes; no limit reads
  // as a huge number).
  std::string max_file, current_file;
  std::istringstream cg(slurp("/proc/self/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty() && max_file.empty()) {
      max_file = "/sys/fs/cgroup" + path + "/memory.max";
      current_file = "/sys/fs/cgroup" + path + "/memory.current";
    } else if (controllers == "memory") {
      max_file = "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes";
      current_file = "/sys/fs/cgroup/memory" + path + "/memory.usage_in_bytes";
    }
  }
  return available_host_memory(slurp("/proc/meminfo"),
                               max_file.empty() ? std::string() : slurp(max_file),
                               current_file.empty() ? std::string() : slurp(current_file));
}

}  // namespace tessera::sim
