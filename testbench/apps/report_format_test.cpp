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

TEST_CASE("report: plain figures keep their digits without an exponent", "[unit]") {
  using tessera::apps::plain_figure;
  CHECK(plain_figure(111.33, 4) == "111.3");
  CHECK(plain_figure(85.8, 4) == "85.8");
  CHECK(plain_figure(676268.4, 4) == "676268");  // whole numbers keep every digit
  CHECK(plain_figure(4.108e-05, 4) == "0.00004108");
  CHECK(plain_figure(4, 4) == "4");
  CHECK(plain_figure(26.0, 3) == "26");
  CHECK(plain_figure(0.0747, 3) == "0.0747");
  CHECK(plain_figure(9.9996, 4) == "10");  // rounding carries into the next digit
  CHECK(plain_figure(-2.5, 3) == "-2.5");
  CHECK(plain_figure(0, 4) == "0");
  CHECK(plain_figure(1.5e12, 4) == "1500000000000");
}
