#include "models/sim/ptr_map.h"

#include <map>
#include <random>

#include <catch2/catch.hpp>

using tessera::sim::PtrMap;

TEST_CASE("ptr map: set, find, erase and growth agree with std::map", "[unit]") {
  // Keys in one array (as payload pools are), so many share hash neighbourhoods; random
  // sets and erases exercise the probe runs and the backward-shift deletion.
  static int pool[4096];
  PtrMap<int> m;
  std::map<const void*, int> ref;
  std::mt19937 rng(7);
  for (int step = 0; step < 200000; ++step) {
    const void* k = &pool[rng() % 4096];
    const int v = int(rng() % 1000);
    switch (rng() % 3) {
      case 0:
        m.set(k, v);
        ref[k] = v;
        break;
      case 1:
        CHECK(m.erase(k) == (ref.erase(k) == 1));
        break;
      default: {
        const int* got = m.find(k);
        const auto it = ref.find(k);
        REQUIRE((got != nullptr) == (it != ref.end()));
        if (got) CHECK(*got == it->second);
      }
    }
    REQUIRE(m.size() == ref.size());
  }
  for (const auto& [k, v] : ref) {
    REQUIRE(m.find(k) != nullptr);
    CHECK(*m.find(k) == v);
  }
}
