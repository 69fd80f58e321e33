#include "models/sim/host_memory.h"

#include <catch2/catch.hpp>

using tessera::sim::available_host_memory;

namespace {
const std::string kMeminfo =
    "MemTotal:       24000000 kB\nMemFree:         1000000 kB\n"
    "MemAvailable:   20000000 kB\nBuffers:           1000 kB\n";
}

TEST_CASE("host memory: MemAvailable, or less under a cgroup limit", "[unit]") {
  CHECK(available_host_memory(kMeminfo, "", "") == 20000000ull * 1024);
  CHECK(available_host_memory(kMeminfo, "max\n", "123\n") == 20000000ull * 1024);
  // v2 limit 8 GiB, 3 GiB in use: 5 GiB left, below MemAvailable.
  CHECK(available_host_memory(kMeminfo, "8589934592\n", "3221225472\n") == 5ull << 30);
  // v1 without a limit reads as a huge number: MemAvailable stands.
  CHECK(available_host_memory(kMeminfo, "9223372036854771712\n", "182116352\n") ==
        20000000ull * 1024);
  // A cgroup at or over its limit: 1 byte, not 0 (0 means unknown).
  CHECK(available_host_memory(kMeminfo, "1000\n", "5000\n") == 1);
  CHECK(available_host_memory("", "4096\n", "") == 4096);
}

TEST_CASE("host memory: unreadable or odd contents mean no limit known", "[unit]") {
  CHECK(available_host_memory("", "", "") == 0);
  CHECK(available_host_memory("MemTotal: 100 kB\n", "max", "") == 0);
  CHECK(available_host_memory("MemAvailable: lots\n", "-5", "x") == 0);
  CHECK(available_host_memory("MemAvailable: 99999999999999999999999 kB\n", "", "") == 0);
}

TEST_CASE("host memory: this host reports some", "[unit]") {
#ifdef __linux__
  CHECK(available_host_memory() > 0);
#endif
}
