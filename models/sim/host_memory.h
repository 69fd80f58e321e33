// How much memory this process can still take from its host, so that a workload too
// large to map and simulate is refused with one line while it is mapped, instead of the
// kernel's out-of-memory killer ending the run part way (Linux overcommits: new would
// not fail).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::sim {

// Bytes available: the least of the kernel's estimate for new allocations (MemAvailable
// in /proc/meminfo) and, under cgroup memory limits (v2 or v1, the process's cgroup and
// its parents), each limit less what its cgroup uses beyond reclaimable page cache. 0
// when nothing can be read (not Linux): no limit is known.
uint64_t available_host_memory();

// One cgroup's memory files, as read (empty: missing): v2 memory.max ("max" or bytes),
// memory.current and memory.stat; or v1 memory.limit_in_bytes, memory.usage_in_bytes
// and memory.stat.
struct CgroupMemory {
  std::string limit, usage, stat;
};

// The same from the given contents (for tests): `meminfo` as /proc/meminfo, and the
// cgroups whose limits apply.
uint64_t available_host_memory(const std::string& meminfo,
                               const std::vector<CgroupMemory>& cgroups);

}  // namespace tessera::sim
