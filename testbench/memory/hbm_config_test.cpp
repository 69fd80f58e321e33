#include <catch2/catch.hpp>

#include "models/memory/hbm_config.h"
#include "models/sim/errors.h"
#include "testbench/memory/hbm_test_util.h"

using namespace tessera;
using namespace tessera::memory;

TEST_CASE("hbm config: C++ defaults equal the hbm3 preset", "[unit]") {
  HbmConfig def;
  HbmConfig loaded = test::preset_config("hbm3");
  loaded.preset.clear();
  CHECK(sim::ConfigWriter::to_yaml(def) == sim::ConfigWriter::to_yaml(loaded));
}

TEST_CASE("hbm config: every preset loads with the expected peak and capacity", "[unit]") {
  struct Want {
    const char* name;
    double peak_gbps;
    uint64_t capacity_gib;
  };
  // channels x pseudo-channels x bus bits x Gb/s / 8
  for (const Want& w :
       {Want{"hbm2", 8 * 2 * 64 * 2.0 / 8, 8}, Want{"hbm2e", 8 * 2 * 64 * 3.2 / 8, 16},
        Want{"hbm3", 16 * 2 * 32 * 6.4 / 8, 16}, Want{"hbm3e", 16 * 2 * 32 * 9.6 / 8, 24}}) {
    INFO(w.name);
    const HbmConfig c = test::preset_config(w.name);
    CHECK(c.peak_gbps() == Approx(w.peak_gbps));
    CHECK(c.capacity_bytes() == w.capacity_gib << 30);
    CHECK(c.access_bytes() == 32);
    CHECK(c.tBL() == 2);
  }
}

TEST_CASE("hbm config: keys after the preset override it", "[unit]") {
  const HbmConfig c = load_hbm_config(
      "preset: hbm2\ntiming: {tRCD: 20}\ncontroller: {read_queue: 8, page_policy: closed}\n", "t");
  CHECK(c.timing.tRCD == 20);
  CHECK(c.timing.tRP == 14);  // from hbm2
  CHECK(c.controller.read_queue == 8);
  CHECK(c.controller.page_policy == "closed");
  CHECK(c.org.channels == 8);
}

static std::string error_of(const std::string& yaml) {
  try {
    load_hbm_config(yaml, "bad.yaml");
  } catch (const sim::UserError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("hbm config: impossible tables are rejected with a clear message", "[unit]") {
  const std::string trc = error_of("preset: hbm3\ntiming: {tRC: 60}\n");  // < 45 + 26
  CHECK_THAT(trc, Catch::Contains("bad.yaml") && Catch::Contains("timing.tRC") &&
                      Catch::Contains("tRAS + tRP"));
  CHECK_THAT(error_of("preset: hbm3\norg: {bus_width_bits: 0}\n"),
             Catch::Contains("org.bus_width_bits") && Catch::Contains("positive"));
  CHECK_THAT(error_of("preset: hbm3\ncontroller: {read_queue: 0}\n"),
             Catch::Contains("controller.read_queue") && Catch::Contains("at least 1"));
  CHECK_THAT(error_of("preset: hbm3\ncontroller: {write_queue: 0}\n"),
             Catch::Contains("controller.write_queue"));
  CHECK_THAT(error_of("preset: hbm9\n"), Catch::Contains("unknown preset"));
  CHECK_THAT(error_of("preset: hbm3\ntiming: {tFOO: 1}\n"), Catch::Contains("tFOO"));
  // REFpbs 196 clocks apart cannot keep up with one due every 6240 / 32 = 195 (ACTs held
  // for the due REFpb then waited for ever); all-bank refresh does not use the rule.
  CHECK_THAT(error_of("preset: hbm3\ntiming: {tPBR2PBR: 196}\n"),
             Catch::Contains("tPBR2PBR must be below"));
  CHECK_THAT(error_of("preset: hbm3\ntiming: {tACT2PBR: 195}\n"),
             Catch::Contains("tACT2PBR must be below"));
  CHECK_NOTHROW(load_hbm_config(
      "preset: hbm3\ntiming: {tPBR2PBR: 196}\ncontroller: {refresh: all-bank}\n", "ok.yaml"));
}

TEST_CASE("hbm config: a request beyond capacity is rejected", "[unit]") {
  test::Harness h(test::quiet_hbm3());
  const uint64_t cap = h.core.capacity_bytes();
  try {
    h.core.submit(cap, 64, false, 0, 0);
    FAIL("accepted an address beyond capacity");
  } catch (const sim::UserError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("beyond the stack's capacity"));
  }
  CHECK_THROWS_AS(h.core.submit(cap - 32, 64, false, 0, 0), sim::UserError);  // runs past the end
  CHECK_THROWS_WITH(h.core.submit(0, 48, false, 0, 0), Catch::Contains("multiple of the 32 B"));
  CHECK_NOTHROW(h.core.submit(cap - 64, 64, false, 0, 0));
}
