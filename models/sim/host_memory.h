// How much memory this process can still take from its host, so that a workload too
// large to map and simulate is refused with one line at once instead of the kernel's
// out-of-memory killer ending the run part way (Linux overcommits: new would not fail).
#pragma once

#include <cstdint>
#include <string>

namespace tessera::sim {

// Bytes available: the least of the kernel's estimate for new allocations (MemAvailable
// in /proc/meminfo) and, under a cgroup memory limit (v2 or v1), the limit less the
// cgroup's usage. 0 when neither can be read (not Linux): no limit is known.
uint64_t available_host_memory();

// The same from the given file contents (for tests): `meminfo` as /proc/meminfo, the
// cgroup's limit ("max" or bytes) and its usage in bytes; empty strings are unknown.
uint64_t available_host_memory(const std::string& meminfo, const std::string& cgroup_max,
                               const std::string& cgroup_current);

}  // namespace tessera::sim
