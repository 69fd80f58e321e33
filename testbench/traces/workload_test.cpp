// The op DAG: FLOPs and operand bytes per kind, topological order, validation.
#include <catch2/catch.hpp>

#include "models/sim/errors.h"
#include "traces/workload.h"

using namespace tessera::traces;
using tessera::sim::UserError;

namespace {

Op gemm(const std::string& name, int64_t m, int64_t n, int64_t k,
        std::vector<std::string> deps = {}) {
  Op op;
  op.name = name;
  op.kind = OpKind::kGemm;
  op.m = m;
  op.n = n;
  op.k = k;
  op.weights = WeightOperand::kB;
  op.deps = std::move(deps);
  return op;
}

}  // namespace

TEST_CASE("GEMM FLOPs and operand bytes", "[unit]") {
  Op op = gemm("g", 8, 16, 32);
  // 2 * M * N * K = 2 * 8 * 16 * 32 = 8192
  CHECK(flops(op) == 8192.0);
  auto b = operand_bytes(op);
  CHECK(b.a == 8 * 32 * 2);  // bf16
  CHECK(b.b == 32 * 16 * 2);
  CHECK(b.c == 8 * 16 * 2);
  CHECK(b.weights == b.b);
  CHECK(weight_params(op) == 32 * 16);
  op.dtype = DType::kFp8;
  CHECK(operand_bytes(op).b == 32 * 16);
  op.tied = "other";
  CHECK(weight_params(op) == 0);
}

namespace {
// An attention op named after its kind.
Op attention(OpKind kind, int64_t batch, int64_t m, int64_t n, int64_t k) {
  Op op;
  op.name = to_string(kind);
  op.kind = kind;
  op.batch = batch;
  op.m = m;
  op.n = n;
  op.k = k;
  return op;
}
}  // namespace

TEST_CASE("KV-cache bytes replace operand B of attention", "[unit]") {
  Op qk = attention(OpKind::kQk, 4, 1, 1024, 128);
  qk.kv_bytes = 4 * 1024 * 128 * 2;
  CHECK(flops(qk) == 2.0 * 4 * 1 * 1024 * 128);
  CHECK(operand_bytes(qk).b == qk.kv_bytes);
  CHECK(operand_bytes(qk).weights == 0);
}

TEST_CASE("a causal mask counts the visible attention scores only", "[unit]") {
  // Two heads of 4 query tokens over 4 keys: 2 x (1 + 2 + 3 + 4) = 20 visible scores of
  // 32, in each of 3 batch items.
  Op qk = attention(OpKind::kQk, 3, 8, 4, 16);
  CHECK(attention_scores(qk) == 32);
  qk.causal = true;
  CHECK(attention_scores(qk) == 20);
  CHECK(flops(qk) == 2.0 * 3 * 20 * 16);
  CHECK(operand_bytes(qk).c == 3 * 20 * 2);      // the visible scores written
  CHECK(operand_bytes(qk).a == 3 * 8 * 16 * 2);  // every query row read
  Op av = attention(OpKind::kAv, 3, 8, 16, 4);   // head dimension 16, 4 keys
  av.causal = true;
  CHECK(attention_scores(av) == 20);
  CHECK(flops(av) == 2.0 * 3 * 20 * 16);
  CHECK(operand_bytes(av).a == 3 * 20 * 2);  // the visible probabilities read
  CHECK(operand_bytes(av).c == 3 * 8 * 16 * 2);
  // Rows must be whole heads of one query token per key.
  Workload w;
  qk.m = 6;
  w.add(qk, "t.tsr:3");
  try {
    w.validate();
    FAIL("validated");
  } catch (const tessera::sim::UserError& e) {
    CHECK(std::string(e.what()).find("t.tsr:3") != std::string::npos);
    CHECK(std::string(e.what()).find("causal needs m (6)") != std::string::npos);
  }
  Op g = qk;
  g.name = "g";
  g.kind = OpKind::kGemm;
  g.m = 8;
  CHECK(attention_scores(g) == 0);
  Workload w2;
  w2.add(g);
  CHECK_THROWS_WITH(w2.validate(), Catch::Contains("causal applies to qk and av ops only"));
}

TEST_CASE("expert GEMM reads weights only of experts with tokens", "[unit]") {
  Op e;
  e.name = "e";
  e.kind = OpKind::kExpert;
  e.experts = 4;
  e.tokens_per_expert = {3, 0, 1, 0};
  e.m = 4;
  e.n = 10;
  e.k = 20;
  CHECK(flops(e) == 2.0 * 4 * 10 * 20);
  CHECK(operand_bytes(e).b == 2 * 20 * 10 * 2);  // two active experts, bf16
  CHECK(weight_params(e) == 4 * 20 * 10);        // the parameters of all four
  Workload w;
  w.add(e);
  CHECK_NOTHROW(w.validate());
  Workload bad;
  e.m = 5;  // counts sum to 4
  bad.add(e);
  CHECK_THROWS_WITH(bad.validate(), Catch::Contains("sum to 4 but m=5"));
}

TEST_CASE("collective reduction FLOPs follow (p-1)/p of the buffer", "[unit]") {
  Op ar;
  ar.name = "ar";
  ar.kind = OpKind::kAllReduce;
  ar.dtype = DType::kFp32;
  ar.bytes = 4096;
  ar.group = 4;
  // 1024 fp32 elements, 3/4 of them added on each rank = 768
  CHECK(flops(ar) == 768.0);
  ar.kind = OpKind::kAllGather;
  CHECK(flops(ar) == 0.0);
}

TEST_CASE("topological order respects deps declared out of order", "[unit]") {
  Workload w;
  w.add(gemm("c", 1, 1, 1, {"b"}));
  w.add(gemm("a", 1, 1, 1));
  w.add(gemm("b", 1, 1, 1, {"a"}));
  auto order = w.topological_order();
  REQUIRE(order.size() == 3);
  CHECK(w.op(order[0]).name == "a");
  CHECK(w.op(order[1]).name == "b");
  CHECK(w.op(order[2]).name == "c");
}

TEST_CASE("validation names the op and its line", "[unit]") {
  Workload w;
  w.add(gemm("a", 1, 1, 1, {"nope"}), "t.tsr:3");
  CHECK_THROWS_WITH(w.validate(), "t.tsr:3: op 'a' (gemm): depends on unknown op 'nope'");

  Workload cyc;
  cyc.add(gemm("x", 1, 1, 1), "t.tsr:2");
  cyc.add(gemm("a", 1, 1, 1, {"b", "x"}), "t.tsr:3");
  cyc.add(gemm("b", 1, 1, 1, {"a"}), "t.tsr:4");
  cyc.add(gemm("after", 1, 1, 1, {"b"}), "t.tsr:5");
  try {
    cyc.validate();
    FAIL("no error for a cycle");
  } catch (const UserError& e) {
    std::string msg = e.what();
    CHECK(msg.find("dependency cycle") != std::string::npos);
    // The op named lies on the cycle, not merely after it.
    CHECK((msg.rfind("t.tsr:3:", 0) == 0 || msg.rfind("t.tsr:4:", 0) == 0));
  }

  Workload dup;
  dup.add(gemm("a", 1, 1, 1), "t.tsr:2");
  CHECK_THROWS_WITH(dup.add(gemm("a", 1, 1, 1), "t.tsr:7"),
                    "t.tsr:7: op name 'a' is used twice (first at t.tsr:2)");

  Workload zero;
  zero.add(gemm("z", 0, 1, 1), "t.tsr:9");
  CHECK_THROWS_WITH(zero.validate(), Catch::StartsWith("t.tsr:9: op 'z' (gemm): needs m, n, k"));
}

TEST_CASE("every op kind has a name that converts back", "[unit]") {
  for (int k = 0; k <= int(OpKind::kRecv); ++k) {
    auto kind = OpKind(k);
    auto back = op_kind_from_string(to_string(kind));
    REQUIRE(back.has_value());
    CHECK(*back == kind);
  }
  CHECK_FALSE(op_kind_from_string("matmul").has_value());
}
