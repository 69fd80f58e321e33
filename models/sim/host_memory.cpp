#include "models/sim/host_memory.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "models/sim/errors.h"
#include "models/sim/output_dir.h"

namespace tessera::sim {

namespace {

// A file's contents, or "" when it cannot be read (a file the kernel does not offer).
std::string slurp(const std::string& path) {
  try {
    return read_file(path);
  } catch (const UserError&) {
    return "";
  }
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

// The number after "key " (or "key:") at the start of a line of `text`.
bool field(const std::string& text, const std::string& key, uint64_t& v) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        (line[key.size()] == ' ' || line[key.size()] == ':'))
      return leading_number(line.substr(key.size() + 1), v);
  return false;
}

}  // namespace

uint64_t available_host_memory(const std::string& meminfo,
                               const std::vector<CgroupMemory>& cgroups) {
  uint64_t best = 0;  // 0: nothing known yet
  auto take = [&best](uint64_t v) { best = best == 0 ? v : std::min(best, v); };
  uint64_t kib = 0;
  if (field(meminfo, "MemAvailable", kib) && kib <= ~uint64_t(0) / 1024)
    take(std::max<uint64_t>(kib, 1) * 1024);
  for (const CgroupMemory& c : cgroups) {
    uint64_t limit = 0, v = 0;
    bool limited = leading_number(c.limit, limit);  // "max": none
    if (field(c.stat, "hierarchical_memory_limit", v) && (!limited || v < limit))
      limit = v, limited = true;  // v1: the least limit of it and its parents
    if (!limited) continue;
    // Usage counts page cache, which the kernel takes back before it kills: what is
    // used is usage less the inactive file pages (as container runtimes count a
    // working set).
    uint64_t used = 0, cache = 0;
    if (!leading_number(c.usage, used)) used = 0;
    if (field(c.stat, "total_inactive_file", cache) || field(c.stat, "inactive_file", cache))
      used -= std::min(used, cache);
    take(std::max<uint64_t>(limit > used ? limit - used : 0, 1));
  }
  return best;
}

uint64_t available_host_memory() {
  // The process's own cgroup and its parents: v2 ("0::/a/b") under /sys/fs/cgroup, v1
  // ("N:memory:/a/b") under /sys/fs/cgroup/memory. In a container without a cgroup
  // namespace the path is the host's, and the mount's root is the container's cgroup:
  // the root's files stand for a path that is not there.
  std::vector<CgroupMemory> cgroups;
  std::istringstream cg(slurp("/proc/self/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    const bool v1 = controllers == "memory";
    if (!v1 && !(controllers.empty() && line.compare(0, 2, "0:") == 0)) continue;
    const std::string root = v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup";
    const std::string limit_file = v1 ? "/memory.limit_in_bytes" : "/memory.max";
    const std::string usage_file = v1 ? "/memory.usage_in_bytes" : "/memory.current";
    if (!std::filesystem::exists(root + path + limit_file) &&
        !std::filesystem::exists(root + path + usage_file))
      path = "";
    // v2 limits nest: each level down to the mount's root may hold one (v1 reports the
    // least of them as hierarchical_memory_limit, so its own cgroup is enough).
    for (;;) {
      const std::string dir = root + path;
      cgroups.push_back(
          {slurp(dir + limit_file), slurp(dir + usage_file), slurp(dir + "/memory.stat")});
      if (v1 || path.empty() || path == "/") break;
      path = path.substr(0, path.find_last_of('/'));
    }
  }
  return available_host_memory(slurp("/proc/meminfo"), cgroups);
}

}  // namespace tessera::sim
