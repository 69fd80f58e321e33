// The text report's number formatting.
#include <catch2/catch.hpp>

#include "apps/report.h"

using tessera::apps::si_figure;

TEST_CASE("report: figures take an SI prefix and three digits, never an exponent", "[unit]") {
  CHECK(si_figure(0.381, "J") == "381 mJ");
  CHECK(si_figure(9.54e-06, "J") == "9.54 uJ");
  CHECK(si_figure(2.37, "W") == "2.37 W");
  CHECK(si_figure(1.59e12, "") == "1.59 T");
  CHECK(si_figure(-0.5, "J") == "-500 mJ");
  CHECK(si_figure(0, "J") == "0 J");
  CHECK(si_figure(3.2e-12, "J") == "3.2 pJ");
  // Three digits that round up to 1000 take the next prefix.
  CHECK(si_figure(999.7, "W") == "1 kW");
  CHECK(si_figure(999.4, "W") == "999 W");
  CHECK(si_figure(0.99961, "J") == "1 J");
  CHECK(si_figure(0.0009997, "J") == "1 mJ");
  CHECK(si_figure(999.7e12, "") == "1 P");
  // At the boundaries of decimal fractions (0.0009995 scales to 999.4999... or 999.5).
  for (double v : {0.0009995, 9.995e-7, 9.995e-10, 0.9995, 999.5, 999.5e3}) {
    INFO(v);
    CHECK(si_figure(v, "J").find('e') == std::string::npos);
  }
  CHECK(si_figure(1.0 / 0.0, "J") == "inf J");
}
