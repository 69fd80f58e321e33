#include "noc/synthetic_traffic.h"
#include <catch2/catch.hpp>
using namespace tessera::noc;
TEST_CASE("placeholder synthetic", "[unit]") {
  CHECK(true);
}
