#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "models/memory/hbm_address_mapper.h"
#include "models/sim/errors.h"
#include "testbench/memory/hbm_test_util.h"

using namespace tessera;
using namespace tessera::memory;

TEST_CASE("hbm mapper: decode and encode are inverse for every scheme and preset", "[unit]") {
  for (const char* preset : {"hbm2", "hbm3", "hbm3e"}) {
    for (const char* scheme : {"cacheline", "row"}) {
      for (const char* hash : {"true", "false"}) {
        INFO(preset << " " << scheme << " xor " << hash);
        const HbmConfig c = test::preset_config(
            preset, std::string("mapping: {scheme: ") + scheme + ", xor_bank_hash: " + hash + "}");
        HbmAddressMapper m(c);
        std::mt19937_64 rng(7);
        std::uniform_int_distribution<uint64_t> pick(0, c.capacity_bytes() / 32 - 1);
        for (int i = 0; i < 2000; ++i) {
          const uint64_t a = pick(rng) * 32;
          const HbmLocation l = m.decode(a);
          REQUIRE(l.channel < c.org.channels);
          REQUIRE(l.row < c.org.rows);
          REQUIRE(l.column < c.columns());
          REQUIRE(m.encode(l) == a);
        }
      }
    }
  }
}

TEST_CASE("hbm mapper: the default spreads a sequential stream over every pseudo-channel",
          "[unit]") {
  const HbmConfig c = test::preset_config("hbm3");
  HbmAddressMapper m(c);
  std::set<std::pair<uint32_t, uint32_t>> seen;
  // One 64 B line per pseudo-channel: 16 x 2 lines cover all of them.
  for (uint64_t a = 0; a < 32 * 64; a += 64) {
    const HbmLocation l = m.decode(a);
    seen.insert({l.channel, l.pc});
    CHECK(m.decode(a + 32).channel == l.channel);  // a line stays together
  }
  CHECK(seen.size() == 32);
}

TEST_CASE("hbm mapper: the row scheme keeps a page in one pseudo-channel", "[unit]") {
  const HbmConfig c = test::preset_config("hbm3", "mapping: {scheme: row}");
  HbmAddressMapper m(c);
  const HbmLocation first = m.decode(0);
  for (uint64_t a = 0; a < c.org.row_bytes; a += 32) {
    const HbmLocation l = m.decode(a);
    CHECK(l.channel == first.channel);
    CHECK(l.pc == first.pc);
    CHECK(l.row == first.row);
    CHECK(l.bank == first.bank);
  }
  CHECK(m.decode(c.org.row_bytes).channel != first.channel);
}

TEST_CASE("hbm mapper: a custom order must name every field once", "[unit]") {
  CHECK_THROWS_WITH(HbmAddressMapper(test::preset_config(
                        "hbm3", "mapping: {scheme: custom, order: [row, bank, column]}")),
                    Catch::Contains("is missing"));
  CHECK_THROWS_WITH(
      HbmAddressMapper(test::preset_config(
          "hbm3",
          "mapping: {scheme: custom, order: [row, row, bank, sid, bankgroup, pseudochannel, "
          "channel, column]}")),
      Catch::Contains("twice"));
  const HbmConfig c = test::preset_config(
      "hbm3",
      "mapping: {scheme: custom, order: [channel, pseudochannel, row, bank, sid, bankgroup, "
      "column]}");
  HbmAddressMapper m(c);
  CHECK(m.decode(c.capacity_bytes() / 2).channel == c.org.channels / 2);
}

// The stack core queues a row's run of accesses as one entry, sized by run_accesses:
// it must end exactly where decode first leaves the row and bank.
TEST_CASE("hbm mapper: a row's run ends where the next access leaves the row", "[unit]") {
  const char* cases[] = {
      "mapping: {scheme: cacheline}",
      "mapping: {scheme: row}",
      "mapping: {scheme: cacheline, interleave_bytes: 256, xor_bank_hash: false}",
      "mapping: {scheme: custom, order: [column, row, bank, sid, bankgroup, pseudochannel, "
      "channel]}",
      "org: {rows: 12000}\nmapping: {scheme: custom, order: [channel, row, bank, sid, "
      "bankgroup, pseudochannel, column]}",
      // A field of one value between the column digits: the run goes through it.
      "org: {sids: 1}\nmapping: {scheme: custom, order: [row, bank, bankgroup, "
      "pseudochannel, channel, column, sid]}",
      // The column above the bank, with the bank hash on.
      "mapping: {scheme: custom, xor_bank_hash: true, order: [row, sid, bankgroup, "
      "pseudochannel, channel, column, bank]}",
  };
  for (const char* extra : cases) {
    INFO(extra);
    const HbmConfig c = test::preset_config("hbm3", extra);
    HbmAddressMapper m(c);
    std::mt19937_64 rng(11);
    std::uniform_int_distribution<uint64_t> pick(0, c.capacity_bytes() / 32 - 1);
    auto same = [](const HbmLocation& a, const HbmLocation& b) {
      return a.channel == b.channel && a.pc == b.pc && a.sid == b.sid &&
             a.bank_group == b.bank_group && a.bank == b.bank && a.row == b.row;
    };
    for (int i = 0; i < 300; ++i) {
      const uint64_t a = pick(rng) * 32;
      const HbmLocation l = m.decode(a);
      uint64_t n = 1;
      while (a + n * 32 < c.capacity_bytes() && same(m.decode(a + n * 32), l)) ++n;
      REQUIRE(m.run_accesses(a) == n);
    }
  }
}
