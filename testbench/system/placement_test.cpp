// Weight placement across a chiplet's HBM stacks.
#include <catch2/catch.hpp>

#include "mapper/mapper.h"
#include "models/system/address_map.h"
#include "traces/trace_format.h"

using namespace tessera;

TEST_CASE("placement: tiles equally near two stacks are shared between them", "[unit]") {
  // chiplet4: stacks at (0,1) and (3,2) of a 4x4 mesh. Six tiles are strictly nearer
  // each stack; (2,0), (2,1), (1,2) and (1,3) are equally near both. A GEMV split
  // evenly over the 16 tiles must then put half its weights in each stack.
  const auto spec = system::load_spec("chiplet4", {"package.chiplets=1"});
  const system::AddressMap map(spec);
  const traces::Workload w = traces::parse_trace(
      "tessera-trace 1\ngemm w m=1 n=4096 k=4096 weights=b dtype=bf16\n", "gemv.tsr");
  const mapper::Mapping m = mapper::map_workload(w, spec, map);
  REQUIRE(m.stack_bytes_used.size() == 2);
  const double a = double(m.stack_bytes_used[0]), b = double(m.stack_bytes_used[1]);
  INFO("stack 0: " << a << " B, stack 1: " << b << " B");
  REQUIRE(a + b >= 4096.0 * 4096 * 2);
  CHECK(a / b == Approx(1.0).epsilon(0.05));
}
