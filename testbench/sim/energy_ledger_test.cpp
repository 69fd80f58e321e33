#include "models/sim/energy_ledger.h"

#include <catch2/catch.hpp>

using namespace tessera::sim;

TEST_CASE("energy ledger sums accounts into joules and watts", "[unit]") {
  EnergyLedger l;
  auto& mac = l.account("chiplet0.tile0.gemm", "mac", 0.25);
  auto& rd = l.account("hbm0", "read", 100.0);
  auto& bg = l.account("hbm0", "background", 0.0);
  mac.charge(4000);      // 1000 pJ
  rd.charge(10);         // 1000 pJ
  bg.charge_pj(2000.0);  // 2000 pJ
  REQUIRE(l.total_pj() == Approx(4000.0));
  REQUIRE(l.total_joules() == Approx(4e-9));
  REQUIRE(l.total_pj_under("hbm0") == Approx(3000.0));
  REQUIRE(l.total_pj_under("chiplet0") == Approx(1000.0));
  REQUIRE(l.total_pj_under("chiplet") == Approx(0.0));  // whole path segments only
  // 4000 pJ over 1 us = 4 mW.
  REQUIRE(l.average_watts(1000000) == Approx(0.004));
  REQUIRE(l.pj_by_kind().at("read") == Approx(1000.0));
  REQUIRE_THROWS_AS(l.account("hbm0", "read", 1.0), std::logic_error);
  StatsRegistry s;
  l.publish(s, 1000000);
  REQUIRE(s.value("hbm0.energy.read") == Approx(1000.0));
  REQUIRE(s.value("energy.total") == Approx(4e-9));
}
