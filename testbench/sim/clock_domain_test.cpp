#include "models/sim/clock_domain.h"

#include <catch2/catch.hpp>

#include "models/sim/errors.h"

using tessera::sim::ClockDomain;
using tessera::sim::Cycles;
using tessera::sim::Picoseconds;

TEST_CASE("integer-period clocks convert exactly", "[unit]") {
  const auto c = ClockDomain::from_mhz("tile", 1000);
  REQUIRE(c.integer_period());
  REQUIRE(c.period_num_ps() == 1000);
  REQUIRE(c.edge_ps(Cycles(7)).v == 7000);
  REQUIRE(c.cycles_at(Picoseconds(6999)).v == 6);
  REQUIRE(c.cycles_at(Picoseconds(7000)).v == 7);
  const auto p = ClockDomain::from_period_ps("hbm", 625);  // 1.6 GHz
  REQUIRE(p.edge_ps(Cycles(3)).v == 1875);
  REQUIRE(p.freq_ghz() == Approx(1.6));
}

TEST_CASE("a 1.5 GHz clock is represented exactly as a 2000/3 ps period", "[unit]") {
  // 1e6 / 1500 MHz = 666.666... ps, kept as the fraction 2000/3.
  const auto c = ClockDomain::from_mhz("tile", 1500);
  REQUIRE_FALSE(c.integer_period());
  REQUIRE(c.period_num_ps() == 2000);
  REQUIRE(c.period_den() == 3);
  // Edge n is at ceil(n * 2000 / 3) ps: 667, 1334, then exactly 2000.
  REQUIRE(c.edge_ps(Cycles(1)).v == 667);
  REQUIRE(c.edge_ps(Cycles(2)).v == 1334);
  REQUIRE(c.edge_ps(Cycles(3)).v == 2000);
  // No drift: 1.5 billion cycles are exactly one second.
  REQUIRE(c.edge_ps(Cycles(1500000000ull)).v == 1000000000000ull);
  // With a rounded 667 ps period the same count would be 0.5 ms late.
  REQUIRE(Cycles(1500000000ull).v * 667 - 1000000000000ull == 500000000ull);
  // cycles_at inverts edge_ps exactly.
  for (uint64_t n = 0; n < 1000; ++n) {
    REQUIRE(c.cycles_at(c.edge_ps(Cycles(n))).v == n);
    if (c.edge_ps(Cycles(n)).v > 0)
      REQUIRE(c.cycles_at(Picoseconds(c.edge_ps(Cycles(n)).v - 1)).v == n - 1);
  }
}

TEST_CASE("delay to the next edge follows the clock", "[unit]") {
  const auto c = ClockDomain::from_mhz("noc", 1500);
  // At t = 700 ps the last edge was cycle 1 (667 ps); the next is cycle 2 at 1334 ps.
  REQUIRE(c.delay_to_edge(sc_core::sc_time::from_value(700)).value() == 634);
  // Three cycles from t = 0: the edge of cycle 3, 2000 ps.
  REQUIRE(c.delay_to_edge(sc_core::SC_ZERO_TIME, Cycles(3)).value() == 2000);
}

TEST_CASE("impossible clocks are rejected", "[unit]") {
  REQUIRE_THROWS_AS(ClockDomain::from_mhz("x", 0), tessera::sim::UserError);
  REQUIRE_THROWS_AS(ClockDomain::from_period_ps("x", 0), tessera::sim::UserError);
}

TEST_CASE("conversions agree with exact 128-bit arithmetic on both sides of the 64-bit path",
          "[unit]") {
  // edge_ps and cycles_at take 64-bit arithmetic while the products fit and 128-bit
  // beyond; both must give the exact rational answer everywhere.
  for (uint64_t mhz : {1ull, 1000ull, 1500ull, 1600ull, 2400ull, 999999ull, 1000000ull}) {
    const ClockDomain c = ClockDomain::from_mhz("c", mhz);
    const unsigned __int128 num = c.period_num_ps(), den = c.period_den();
    const uint64_t edge_limit = UINT64_MAX / c.period_num_ps() - 1;
    for (uint64_t n : {uint64_t(0), uint64_t(1), uint64_t(12345), edge_limit - 1, edge_limit,
                       edge_limit + 1, UINT64_MAX / c.period_num_ps()}) {
      INFO("mhz " << mhz << " n " << n);
      const unsigned __int128 want = (n * num + den - 1) / den;
      if (want <= UINT64_MAX) CHECK(c.edge_ps(Cycles(n)).v == uint64_t(want));
    }
    const uint64_t t_limit = UINT64_MAX / c.period_den();
    for (uint64_t t : {uint64_t(0), uint64_t(999), t_limit - 1, t_limit, t_limit + 1, UINT64_MAX}) {
      INFO("mhz " << mhz << " t " << t);
      const unsigned __int128 want = (t * den) / num;
      CHECK(c.cycles_at(Picoseconds(t)).v == uint64_t(want));
    }
  }
}
