#include "models/sim/host_memory.h"

#include <catch2/catch.hpp>

using tessera::sim::available_host_memory;
using tessera::sim::CgroupMemory;

namespace {
const std::string kMeminfo =
    "MemTotal:       24000000 kB\nMemFree:         1000000 kB\n"
    "MemAvailable:   20000000 kB\nBuffers:           1000 kB\n";
constexpr uint64_t kAvail = 20000000ull * 1024;
}  // namespace

TEST_CASE("host memory: MemAvailable, or less under a cgroup limit", "[unit]") {
  CHECK(available_host_memory(kMeminfo, {}) == kAvail);
  CHECK(available_host_memory(kMeminfo, {{"max\n", "123\n", ""}}) == kAvail);
  // v2 limit 8 GiB, 3 GiB in use: 5 GiB left, below MemAvailable.
  CHECK(available_host_memory(kMeminfo, {{"8589934592\n", "3221225472\n", ""}}) == 5ull << 30);
  // A parent's tighter limit counts too (v2 nests them).
  CHECK(available_host_memory(kMeminfo, {{"max\n", "100\n", ""}, {"4096\n", "96\n", ""}}) == 4000);
  // v1 without a limit reads as a huge number: MemAvailable stands.
  CHECK(available_host_memory(kMeminfo, {{"9223372036854771712\n", "182116352\n", ""}}) == kAvail);
  // A cgroup at or over its limit: 1 byte, not 0 (0 means unknown).
  CHECK(available_host_memory(kMeminfo, {{"1000\n", "5000\n", ""}}) == 1);
  CHECK(available_host_memory("", {{"4096\n", "", ""}}) == 4096);
}

TEST_CASE("host memory: reclaimable page cache is not counted as used", "[unit]") {
  // 8 GiB limit, 7 GiB used of which 6 GiB inactive file pages: 7 GiB left.
  const std::string v2_stat = "anon 1073741824\nfile 6442450944\ninactive_file 6442450944\n";
  CHECK(available_host_memory(kMeminfo, {{"8589934592", "7516192768", v2_stat}}) == 7ull << 30);
  // v1: the hierarchy's least limit and its inactive file pages (total_ counts children).
  const std::string v1_stat =
      "cache 100\ninactive_file 10\nhierarchical_memory_limit 2147483648\n"
      "total_inactive_file 1073741824\n";
  CHECK(available_host_memory(kMeminfo, {{"9223372036854771712", "1610612736", v1_stat}}) ==
        (2ull << 30) - (512ull << 20));
  // Cache larger than the usage read: nothing counted as used.
  CHECK(available_host_memory(kMeminfo, {{"4096", "100", "inactive_file 5000\n"}}) == 4096);
}

TEST_CASE("host memory: unreadable or odd contents mean no limit known", "[unit]") {
  CHECK(available_host_memory("", {}) == 0);
  CHECK(available_host_memory("MemTotal: 100 kB\n", {{"max", "", ""}}) == 0);
  CHECK(available_host_memory("MemAvailable: lots\n", {{"-5", "x", "y"}}) == 0);
  CHECK(available_host_memory("MemAvailable: 99999999999999999999999 kB\n", {}) == 0);
  // A key that only starts like another is not it.
  CHECK(available_host_memory("MemAvailableX: 5 kB\n", {}) == 0);
}

TEST_CASE("host memory: this host reports some", "[unit]") {
#ifdef __linux__
  CHECK(available_host_memory() > 0);
#endif
}
