// The text trace format: every kind of malformed line is reported as "file:line: ...",
// write(parse(x)) == x, and random mutations of valid traces only ever raise UserError.
#include <random>

#include <catch2/catch.hpp>

#include "models/sim/errors.h"
#include "models/sim/resources.h"
#include "traces/generators.h"
#include "traces/trace_format.h"

using namespace tessera::traces;
using tessera::sim::UserError;

namespace {

// One op of every kind (hand-written, in canonical form).
const char* kAllKinds = R"(tessera-trace 1
meta model=handmade phase=decode
embedding embed tokens=4 dim=64 vocab=100 dtype=bf16 phase=decode
rmsnorm norm elems=256 dtype=bf16 deps=embed layer=0
gemm wq m=4 n=64 k=64 weights=b dtype=bf16 deps=norm layer=0
bgemm bg m=4 n=8 k=16 batch=2 dtype=fp32 deps=wq
conv cv m=49 n=32 k=27 weights=b dtype=int8
qk scores m=1 n=128 k=16 batch=4 kv_bytes=16384 dtype=bf16 deps=wq layer=0 phase=decode
softmax sm elems=512 dtype=bf16 deps=scores
av out m=1 n=16 k=128 batch=4 kv_bytes=16384 dtype=bf16 deps=sm
elementwise add elems=256 inputs=2 dtype=bf16 deps=out,embed
layernorm ln elems=256 dtype=bf16 deps=add
gelu ge elems=256 dtype=bf16 deps=ln
silu si elems=256 dtype=bf16 deps=ge
moe_gate gate m=4 n=8 k=64 topk=2 dtype=bf16 deps=si
expert e1 m=8 n=32 k=64 experts=4 dist=2,0,5,1 dtype=fp8 deps=gate
opaque op flops=1000 bytes=2000 dtype=fp32 rank=1
allreduce ar bytes=512 group=4 ranks=0,1,2,3 dtype=bf16 deps=e1
allgather ag bytes=512 group=2 dtype=bf16 deps=ar
reducescatter rs bytes=512 group=2 dtype=bf16
alltoall a2a bytes=512 group=8 dtype=bf16
broadcast bc bytes=64 group=2 dtype=fp32
reduce rd bytes=64 group=2 dtype=fp32
gather ga bytes=64 group=2 dtype=fp32
scatter sc bytes=64 group=2 dtype=fp32
barrier bar bytes=0 group=4 dtype=fp32 deps=sc,ga,rd,bc
send tx bytes=1024 peer=1 dtype=bf16 deps=bar
recv rx bytes=1024 peer=3 dtype=bf16
)";

std::string error_of(const std::string& text) {
  try {
    parse_trace(text, "t.tsr");
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("a trace with every op kind parses and round-trips", "[unit]") {
  Workload w = parse_trace(kAllKinds, "all.tsr");
  CHECK(w.size() == 26);
  CHECK(w.meta.at("model") == "handmade");
  CHECK(write_trace(w) == kAllKinds);
  const Op& e = w.op(size_t(w.find("e1")));
  CHECK(e.tokens_per_expert == std::vector<int64_t>{2, 0, 5, 1});
  CHECK(e.dtype == DType::kFp8);
  CHECK(w.op(size_t(w.find("op"))).rank == 1);
  CHECK(w.op(size_t(w.find("ar"))).ranks.size() == 4);
}

TEST_CASE("comments, blank lines, tabs and CRLF are accepted", "[unit]") {
  std::string text =
      "# a comment first\r\n\r\ntessera-trace 1   # header\r\n"
      "\tgemm  a m=1 n=2 k=3 dtype=bf16 # trailing\r\n";
  Workload w = parse_trace(text, "c.tsr");
  REQUIRE(w.size() == 1);
  CHECK(w.op(0).n == 2);
  CHECK(write_trace(w) == "tessera-trace 1\ngemm a m=1 n=2 k=3 dtype=bf16\n");
}

TEST_CASE("each malformed line is reported with file and line", "[unit]") {
  const std::string h = "tessera-trace 1\n";
  struct Case {
    std::string text, expect;
  };
  const Case cases[] = {
      {"", "t.tsr:1: empty trace"},
      {"gemm a m=1 n=1 k=1\n", "t.tsr:1: expected the header"},
      {"tessera-trace 2\n", "t.tsr:1: unsupported trace format version '2'"},
      {"tessera-trace\n", "t.tsr:1: the header is"},
      {h + h, "t.tsr:2: a second header line"},
      {h + "matmul a m=1\n", "t.tsr:2: unknown op kind 'matmul'"},
      {h + "gemm\n", "t.tsr:2: 'gemm' needs an op name"},
      {h + "gemm m=1 n=1 k=1\n", "t.tsr:2: 'm=1': the op name comes before"},
      {h + "gemm a m=1 n=1\n", "t.tsr:2: a gemm op needs 'k='"},
      {h + "gemm a m=1 n=1 k\n", "t.tsr:2: 'k': expected key=value"},
      {h + "gemm a m=1 n=1 k=\n", "t.tsr:2: key 'k' has no value"},
      {h + "gemm a m=1 n=1 k=x\n", "t.tsr:2: 'k=x': expected a non-negative integer"},
      {h + "gemm a m=1 n=1 k=-4\n", "t.tsr:2: 'k=-4': expected a non-negative integer"},
      {h + "gemm a m=1 n=1 k=99999999999999999999\n",
       "t.tsr:2: 'k=99999999999999999999': value too large"},
      {h + "gemm a m=1 n=1 k=1 m=2\n", "t.tsr:2: key 'm' given twice"},
      {h + "gemm a m=1 n=1 k=1 elems=3\n", "t.tsr:2: key 'elems' does not apply to a gemm op"},
      {h + "gemm a m=1 n=1 k=1 Dtype=bf16\n", "t.tsr:2: 'Dtype=bf16': bad key"},
      {h + "gemm a m=1 n=1 k=1 dtype=fp16\n", "t.tsr:2: dtype 'fp16': expected fp32, bf16"},
      {h + "gemm a m=1 n=1 k=1 weights=c\n", "t.tsr:2: weights 'c': expected a, b or none"},
      {h + "gemm a m=1 n=1 k=1 phase=train\n",
       "t.tsr:2: phase 'train': expected prefill or decode"},
      {h + "gemm a m=1 n=1 k=1 deps=x,,y\n", "t.tsr:2: 'deps=x,,y': empty item in the list"},
      {h + "gemm a m=1 n=1 k=1\ngemm a m=1 n=1 k=1\n",
       "t.tsr:3: op name 'a' is used twice (first at t.tsr:2)"},
      {h + "gemm a m=0 n=1 k=1\n", "t.tsr:2: op 'a' (gemm): needs m, n, k"},
      {h + "gemm a m=1 n=1 k=1 deps=zz\n", "t.tsr:2: op 'a' (gemm): depends on unknown op 'zz'"},
      {h + "gemm a m=1 n=1 k=1 deps=a\n", "t.tsr:2: op 'a' (gemm): depends on itself"},
      {h + "gemm a m=1 n=1 k=1 deps=b\ngemm b m=1 n=1 k=1 deps=a\n", "dependency cycle"},
      {h + "allreduce r bytes=4 group=2 ranks=0,1,2\n",
       "t.tsr:2: op 'r' (allreduce): lists 3 ranks but group=2"},
      {h + "send s bytes=4\n", "t.tsr:2: a send op needs 'peer='"},
      {h + "allreduce a bytes=4\n", "t.tsr:2: an allreduce op needs 'group='"},
      {h + "embedding e tokens=1 hidden=4\n",
       "t.tsr:2: key 'hidden' does not apply to an embedding op"},
      {h + "meta a=1\nmeta a=2\n", "t.tsr:3: meta key 'a' given twice"},
      {h + "gemm a m=1 n=1 k=1 \x01\n", "t.tsr:2: control character"},
      {h + "gemm a m=1 n=1 k=1\n\ngemm b m=1 n=1 k=1 tied=q\n",
       "t.tsr:4: op 'b' (gemm): tied to unknown op 'q'"},
      {h + "gemm a m=536870912 n=536870912 k=536870912\n",
       "t.tsr:2: op 'a' (gemm): shape too large"},
      // Ninth session (a review): inputs only on elementwise ops, byte counts, ranks and
      // token sums bounded, ties only to another op's own weights.
      {h + "softmax s elems=10 inputs=1000000\n",
       "t.tsr:2: key 'inputs' does not apply to a softmax op"},
      {h + "allreduce r bytes=100000000000000000 group=2\n",
       "t.tsr:2: 'bytes=100000000000000000': value too large"},
      {h + "send s bytes=4 peer=2000000\n", "t.tsr:2: op 's' (send): peer too large"},
      {h + "opaque o flops=100000000000000000 bytes=1\n",
       "t.tsr:2: 'flops=100000000000000000': value too large"},
      {h + "gemm a m=1 n=1 k=1 weights=b tied=a\n", "t.tsr:2: op 'a' (gemm): tied to itself"},
      {h + "gemm a m=1 n=1 k=1 weights=b\ngemm b m=1 n=1 k=1 weights=b tied=a\n"
           "gemm c m=1 n=1 k=1 weights=b tied=b\n",
       "t.tsr:4: op 'c' (gemm): tied to 'b', which is itself tied"},
      {h + "softmax s elems=4\ngemm b m=1 n=1 k=1 weights=b tied=s\n",
       "t.tsr:3: op 'b' (gemm): tied to 's', which holds no weights"},
      {h + "expert e m=0 n=1 k=1 experts=2 dist=72057594037927935,72057594037927935\n",
       "t.tsr:2: op 'e' (expert): token counts too large"},
      // Tenth session (a review): a multi-rank trace's ops and peers lie in its ranks
      // (an op of rank 5 of 2 was dropped by the mapper without a word).
      {h + "meta ranks=2\ngemm a m=1 n=1 k=1 rank=5\n",
       "t.tsr:3: op 'a' (gemm): rank 5 outside the trace's 2 (meta ranks)"},
      {h + "meta ranks=2\nsend s bytes=4 peer=3 rank=1\n",
       "t.tsr:3: op 's' (send): peer 3 outside the trace's 2 ranks (meta ranks)"},
      // Twenty-first session: the causal mask of a prompt's attention.
      {h + "qk s m=8 n=4 k=2 causal=yes\n", "t.tsr:2: causal 'yes': expected 0 or 1"},
      {h + "gemm a m=8 n=4 k=2 causal=1\n", "t.tsr:2: key 'causal' does not apply to a gemm op"},
      {h + "av o m=6 n=2 k=4 causal=1\n",
       "t.tsr:2: op 'o' (av): causal needs m (6) to be a whole number of heads"},
      // Twenty-fifth session: a chunked prefill's cached keys (past).
      {h + "qk s m=8 n=4 k=2 past=1\n",
       "t.tsr:2: op 's' (qk): past applies to causal qk and av ops only"},
      {h + "qk s m=8 n=4 k=2 causal=1 past=4\n",
       "t.tsr:2: op 's' (qk): past (4) must be at least 0 and below the keys (n = 4)"},
      {h + "av o m=6 n=2 k=6 causal=1 past=2\n",
       "t.tsr:2: op 'o' (av): causal needs m (6) to be a whole number of heads of 4 query"},
      {h + "gemm a m=8 n=4 k=2 past=1\n", "t.tsr:2: key 'past' does not apply to a gemm op"},
      {h + "meta past=-1\n", "t.tsr:2: meta past=-1: must be a whole number in [0, "},
      {h + "meta decode_batch=x\n", "t.tsr:2: meta decode_batch=x: must be a whole number"},
      {h + "qk s m=8 n=4 k=2 causal=1 past=x\n", "t.tsr:2: 'past=x': expected a non-negative"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string err = error_of(c.text);
    CHECK(err.find(c.expect) != std::string::npos);
    CHECK(err.rfind("t.tsr:", 0) == 0);
    CHECK(err.find('\n') == std::string::npos);
  }
}

TEST_CASE("a causal mask round-trips", "[unit]") {
  const std::string text =
      "tessera-trace 1\nqk s m=8 n=4 k=2 causal=1 dtype=bf16\n"
      "av o m=8 n=2 k=4 causal=1 dtype=bf16 deps=s\n";
  const Workload w = parse_trace(text, "c.tsr");
  CHECK(w.op(0).causal);
  CHECK(w.op(1).causal);
  CHECK(write_trace(w) == text);
  // A chunked prefill: 2 heads of 4 query tokens after 6 cached ones, K and V from the
  // cache; 8 x 6 + 8 x 5 / 2 visible scores.
  const std::string chunk =
      "tessera-trace 1\nqk s m=8 n=10 k=2 kv_bytes=40 causal=1 past=6 dtype=bf16\n"
      "av o m=8 n=2 k=10 kv_bytes=40 causal=1 past=6 dtype=bf16 deps=s\n";
  const Workload c = parse_trace(chunk, "c.tsr");
  CHECK(c.op(0).past == 6);
  CHECK(write_trace(c) == chunk);
  CHECK(attention_scores(c.op(0)) == 68);
  CHECK(attention_scores(c.op(1)) == 68);
  CHECK(flops(c.op(0)) == 2.0 * 68 * 2);
  CHECK(operand_bytes(c.op(0)).c == 68 * 2);
  // causal=0 is the default, not written back.
  CHECK(write_trace(parse_trace("tessera-trace 1\nqk s m=8 n=4 k=2 causal=0 dtype=bf16\n",
                                "c.tsr")) == "tessera-trace 1\nqk s m=8 n=4 k=2 dtype=bf16\n");
}

TEST_CASE("generated traces round-trip exactly", "[unit]") {
  for (const char* model :
       {"tiny", "llama2-7b", "mixtral-8x7b", "gpt3-175b", "bert-large", "resnet50"}) {
    GenOptions o;
    o.model = model;
    o.layers = std::string(model) == "resnet50" ? 0 : 2;
    o.phase = std::string(model) == "bert-large" ? "prefill" : "decode";
    o.seq = 128;
    o.context = 512;
    Workload w = generate(o);
    std::string text = write_trace(w);
    Workload back = parse_trace(text, "gen.tsr");
    CHECK(back == w);
    CHECK(write_trace(back) == text);
  }
}

TEST_CASE("built-in example traces parse and are canonical", "[unit]") {
  auto names = tessera::sim::resource_names("traces/examples/", ".tsr");
  REQUIRE(std::find(names.begin(), names.end(), "block") != names.end());
  for (const auto& n : names) {
    INFO(n);
    const std::string key = "traces/examples/" + n + ".tsr";
    const std::string& text = *tessera::sim::find_resource(key);
    Workload w = parse_trace(text, key);
    CHECK(w.size() > 0);
    // The examples carry a comment header; the ops themselves are in canonical form.
    Workload again = parse_trace(write_trace(w), key);
    CHECK(again == w);
  }
  CHECK(load_trace("block").size() > 0);
}

TEST_CASE("fuzz: mutated traces only ever raise UserError naming file:line", "[unit]") {
  GenOptions o;
  o.model = "mixtral-8x7b";
  o.layers = 1;
  o.tp = 2;
  o.ep = 2;
  o.dp = 2;
  o.batch = 2;
  const std::vector<std::string> seeds = {kAllKinds, write_trace(generate(o))};
  const std::string alphabet = "= ,#\n\t-0123456789abkmnz_.\r\x01\xff";
  std::mt19937_64 rng(20240607);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string t = seeds[rng() % seeds.size()];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !t.empty(); ++e) {
      size_t pos = rng() % t.size();
      switch (rng() % 7) {
        case 0:
          t.erase(pos, 1);
          break;
        case 1:
          t.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          t[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 3:
          t.insert(pos, "99999999999999999999");
          break;
        case 4: {  // duplicate a line
          size_t b = t.rfind('\n', pos), en = t.find('\n', pos);
          b = b == std::string::npos ? 0 : b + 1;
          if (en != std::string::npos) t.insert(b, t.substr(b, en - b + 1));
          break;
        }
        case 5:
          t.resize(pos);
          break;
        case 6: {  // delete a line
          size_t b = t.rfind('\n', pos), en = t.find('\n', pos);
          b = b == std::string::npos ? 0 : b + 1;
          t.erase(b, en == std::string::npos ? std::string::npos : en - b + 1);
          break;
        }
      }
    }
    try {
      Workload w = parse_trace(t, "fuzz.tsr");
      ++parsed;
      // Whatever parses writes back to text that parses to the same workload.
      REQUIRE(parse_trace(write_trace(w), "again.tsr") == w);
    } catch (const UserError& err) {
      ++rejected;
      std::string msg = err.what();
      INFO(msg);
      REQUIRE(msg.rfind("fuzz.tsr:", 0) == 0);
      REQUIRE(msg.size() > 9);
      REQUIRE(std::isdigit(static_cast<unsigned char>(msg[9])));
      REQUIRE(msg.find('\n') == std::string::npos);
    }
  }
  // Both outcomes occur, so the mutations reach past the first check.
  CHECK(parsed > 50);
  CHECK(rejected > 1000);
}

TEST_CASE("a grouped convolution's weights count every group", "[unit]") {
  // 32 groups of 9 weights each: operand bytes and weight parameters agree.
  const Workload w =
      parse_trace("tessera-trace 1\nconv c m=100 n=1 k=9 batch=32 weights=b dtype=int8\n", "t.tsr");
  CHECK(weight_params(w.op(0)) == 32 * 9);
  CHECK(w.total_weight_params() == 32 * 9);
}
