// Generators: parameter totals against the public sanity figures (shared FACTS.md),
// decode FLOPs against 2 x params x tokens, GQA KV-cache bytes, and the collectives of
// tensor / pipeline / data / expert parallelism.
#include <catch2/catch.hpp>

#include "models/sim/errors.h"
#include "traces/generators.h"
#include "traces/trace_format.h"

using namespace tessera::traces;
using tessera::sim::UserError;

namespace {

GenOptions decode(const std::string& model, int64_t batch = 1, int64_t context = 2048) {
  GenOptions o;
  o.model = model;
  o.phase = "decode";
  o.batch = batch;
  o.context = context;
  return o;
}

GenOptions prefill(const std::string& model, int64_t batch, int64_t seq, int64_t past = 0) {
  GenOptions o;
  o.model = model;
  o.phase = "prefill";
  o.batch = batch;
  o.seq = seq;
  o.past = past;
  return o;
}

double sum_flops(const Workload& w, OpKind kind) {
  double f = 0;
  for (const auto& op : w.ops())
    if (op.kind == kind) f += flops(op);
  return f;
}

std::vector<const Op*> of_kind(const Workload& w, OpKind kind) {
  std::vector<const Op*> out;
  for (const auto& op : w.ops())
    if (op.kind == kind) out.push_back(&op);
  return out;
}

}  // namespace

TEST_CASE("linear-layer parameter totals match the public figures", "[unit]") {
  // FACTS.md sanity figures (billions), checked to half a unit of their last digit.
  struct Fig {
    const char* model;
    double billions, half_unit;
  };
  for (const Fig& f : {Fig{"llama2-7b", 6.74, 0.005}, Fig{"llama3-8b", 8.03, 0.005},
                       Fig{"llama2-70b", 68.98, 0.005}, Fig{"gpt3-175b", 174.6, 0.05}}) {
    INFO(f.model);
    Workload w = generate(decode(f.model, 1, 128));
    CHECK(double(w.total_weight_params()) / 1e9 == Approx(f.billions).margin(f.half_unit));
  }
}

TEST_CASE("decode FLOPs are about 2 x params x tokens", "[unit]") {
  Workload w = generate(decode("llama2-7b", 1, 2048));
  const ModelSpec& s = find_model("llama2-7b");
  const double embed = double(s.vocab) * s.hidden;  // a gather, not a matmul
  const double params = double(w.total_weight_params());
  // The weight GEMMs are exactly 2 x (params - embedding) x 1 token.
  CHECK(sum_flops(w, OpKind::kGemm) == Approx(2.0 * (params - embed)).epsilon(1e-12));
  // Attention over 2048 cached tokens adds 4 x 2048 x 4096 per layer (about 8 %).
  const double attn = 32 * 4.0 * 2048 * 4096;
  CHECK(sum_flops(w, OpKind::kQk) + sum_flops(w, OpKind::kAv) == Approx(attn));
  const double ratio = w.total_flops() / (2.0 * params * 1);
  CHECK(ratio > 1.0);
  CHECK(ratio < 1.15);
}

TEST_CASE("a decoder's prompt attends causally, decode and BERT see every key", "[unit]") {
  // Llama-2-70B prefill, 2 sequences of 100 tokens: 8 KV heads of 8 query heads each.
  GenOptions o = prefill("llama2-70b", 2, 100);
  const Workload w = generate(o);
  const Op& qk = w.op(size_t(w.find("l0.qk")));
  const Op& av = w.op(size_t(w.find("l0.av")));
  CHECK(qk.causal);
  CHECK(av.causal);
  CHECK(qk.m == 8 * 100);
  // Each of 2 x 64 query heads sees 100 x 101 / 2 scores.
  const double scores = 2.0 * 64 * 100 * 101 / 2;
  CHECK(flops(qk) == Approx(2.0 * scores * 128));
  CHECK(flops(av) == Approx(2.0 * scores * 128));
  CHECK(w.op(size_t(w.find("l0.softmax"))).elems == int64_t(scores));
  CHECK_NOTHROW(w.validate());
  // Decode: one new token sees the whole cache. BERT: an encoder, no mask.
  const Workload d = generate(decode("llama2-70b", 2, 100));
  for (const auto& op : d.ops()) CHECK_FALSE(op.causal);
  o.model = "bert-large";
  const Workload bert = generate(o);
  for (const auto& op : bert.ops()) CHECK_FALSE(op.causal);
}

TEST_CASE("a chunked prefill attends to the cached tokens and causally to its own", "[unit]") {
  // Llama-2-70B, 2 sequences, a chunk of 100 tokens after 300 cached ones.
  GenOptions o = prefill("llama2-70b", 2, 100, 300);
  const Workload w = generate(o);
  const Op& qk = w.op(size_t(w.find("l0.qk")));
  const Op& av = w.op(size_t(w.find("l0.av")));
  for (const Op* op : {&qk, &av}) {
    CHECK(op->causal);
    CHECK(op->past == 300);
    CHECK(op->kv_bytes == 2 * 8 * 400 * 128 * 2);  // K (or V) of 400 tokens, 8 KV heads
  }
  CHECK(qk.n == 400);
  CHECK(av.k == 400);
  CHECK(qk.m == 8 * 100);
  // Each of 2 x 64 query heads sees 100 x 300 cached and 100 x 101 / 2 prompt scores.
  const double scores = 2.0 * 64 * (100 * 300 + 100 * 101 / 2);
  CHECK(flops(qk) == Approx(2.0 * scores * 128));
  CHECK(flops(av) == Approx(2.0 * scores * 128));
  CHECK(w.op(size_t(w.find("l0.softmax"))).elems == int64_t(scores));
  CHECK(w.meta.at("past") == "300");
  // The linear layers see the chunk's tokens only: as a prompt of 100 without the past.
  o.past = 0;
  const Workload p = generate(o);
  CHECK(sum_flops(w, OpKind::kGemm) == sum_flops(p, OpKind::kGemm));
  CHECK(sum_flops(w, OpKind::kQk) > sum_flops(p, OpKind::kQk));
  CHECK(p.meta.count("past") == 0);
}

TEST_CASE("a mixed iteration runs prompt chunks and decoding sequences through one layer",
          "[unit]") {
  // Llama-3-8B (GQA: 8 KV heads of 4 query heads): 2 prompt chunks of 64 tokens after 128
  // cached ones, and 6 sequences decoding one token each over 1000 cached, at dp=2.
  GenOptions o;
  o.model = "llama3-8b";
  o.phase = "mixed";
  o.batch = 2;
  o.seq = 64;
  o.past = 128;
  o.decode_batch = 6;
  o.context = 1000;
  o.dp = 2;
  const Workload w = generate(o);
  // Per rank: 1 chunk and 3 decoding sequences: 67 rows through the linear layers.
  CHECK(w.op(size_t(w.find("l0.wq"))).m == 64 + 3);
  CHECK(w.op(size_t(w.find("l0.w2"))).m == 64 + 3);
  CHECK(w.op(size_t(w.find("lm_head"))).m == 1 + 3);  // the next token of every sequence
  // The chunk's attention is a chunked prefill's, the decode's a decode's.
  const Op& qk = w.op(size_t(w.find("l0.qk")));
  CHECK(qk.causal);
  CHECK(qk.past == 128);
  CHECK(qk.n == 192);
  CHECK(qk.phase == "prefill");
  const Op& dqk = w.op(size_t(w.find("l0.dec.qk")));
  CHECK_FALSE(dqk.causal);
  CHECK(dqk.batch == 3 * 8);
  CHECK(dqk.m == 4);
  CHECK(dqk.n == 1000);
  CHECK(dqk.kv_bytes == 3 * 8 * 1000 * 128 * 2);
  CHECK(dqk.phase == "decode");
  const Op& wo = w.op(size_t(w.find("l0.wo")));
  CHECK(wo.deps == std::vector<std::string>{"l0.av", "l0.dec.av"});
  CHECK(wo.phase.empty());  // shared by both
  // The same attention as a chunked prefill's and a decode's alone.
  GenOptions pre = o, dec = o;
  pre.phase = "prefill";
  pre.decode_batch = 0;
  dec.phase = "decode";
  dec.batch = 6;
  dec.past = 0;
  dec.decode_batch = 0;
  const Workload p = generate(pre), d = generate(dec);
  CHECK(flops(qk) == flops(p.op(size_t(p.find("l0.qk")))));
  CHECK(flops(dqk) == flops(d.op(size_t(d.find("l0.qk")))));
  CHECK(w.op(size_t(w.find("l0.dec.softmax"))).elems == d.op(size_t(d.find("l0.softmax"))).elems);
  CHECK(w.meta.at("phase") == "mixed");
  CHECK(w.meta.at("decode_batch") == "6");
  CHECK(w.meta.at("tokens") == "8");
  CHECK(write_trace(parse_trace(write_trace(w), "m.tsr")) == write_trace(w));
}

TEST_CASE("grouped-query attention reads the KV cache of the KV heads only", "[unit]") {
  const int64_t b = 2, ctx = 1000;
  Workload w = generate(decode("llama2-70b", b, ctx));
  auto qk = of_kind(w, OpKind::kQk);
  REQUIRE(qk.size() == 80);
  CHECK(qk[0]->batch == b * 8);  // 8 KV heads
  CHECK(qk[0]->m == 8);          // 64 query heads / 8 KV heads share each
  CHECK(qk[0]->n == ctx);
  int64_t kv = 0;
  for (const auto& op : w.ops()) kv += op.kv_bytes;
  // K and V: 2 x layers x kv_heads x head_dim x context x bf16 x batch
  CHECK(kv == 2LL * 80 * 8 * 128 * ctx * 2 * b);
  auto wk = w.op(size_t(w.find("l0.wk")));
  CHECK(wk.n == 8 * 128);
}

TEST_CASE("tensor parallelism shards GEMMs and adds all-reduces", "[unit]") {
  GenOptions o = decode("llama2-7b", 4, 512);
  o.tp = 4;
  o.rank = 1;
  Workload w = generate(o);
  CHECK(w.op(size_t(w.find("l0.wq"))).n == 4096 / 4);
  CHECK(w.op(size_t(w.find("l0.w1"))).n == 11008 / 4);
  auto ars = of_kind(w, OpKind::kAllReduce);
  CHECK(ars.size() == 2 * 32 + 1);  // attention and FFN in each layer, and the embedding
  for (const Op* ar : ars) {
    CHECK(ar->bytes == 4 * 4096 * 2);  // 4 tokens x hidden x bf16
    CHECK(ar->ranks == std::vector<int64_t>{0, 1, 2, 3});
  }
  // The shards of one layer's weights add up to the unsharded layer.
  Workload one = generate(decode("llama2-7b", 4, 512));
  auto layer_params = [](const Workload& x) {
    int64_t p = 0;
    for (const auto& op : x.ops())
      if (op.layer == 0) p += weight_params(op);
    return p;
  };
  CHECK(4 * layer_params(w) == layer_params(one));
}

TEST_CASE("pipeline stages send activations to the next stage", "[unit]") {
  GenOptions o = decode("llama2-7b", 1, 256);
  o.pp = 2;
  o.tp = 2;
  o.rank = 1;  // stage 0, tp index 1
  Workload s0 = generate(o);
  auto send = of_kind(s0, OpKind::kSend);
  REQUIRE(send.size() == 1);
  CHECK(send[0]->peer == 3);
  CHECK(send[0]->bytes == 4096 * 2);
  CHECK(s0.find("l15.w2") >= 0);
  CHECK(s0.find("l16.wq") < 0);
  CHECK(s0.find("lm_head") < 0);
  o.rank = 3;  // stage 1
  Workload s1 = generate(o);
  auto recv = of_kind(s1, OpKind::kRecv);
  REQUIRE(recv.size() == 1);
  CHECK(recv[0]->peer == 1);
  CHECK(s1.find("l16.wq") >= 0);
  CHECK(s1.find("embed") < 0);
  CHECK(s1.find("lm_head") >= 0);
}

TEST_CASE("data parallelism splits the batch", "[unit]") {
  GenOptions o = decode("llama3-8b", 8, 256);
  o.dp = 4;
  o.rank = 3;
  Workload w = generate(o);
  CHECK(w.op(size_t(w.find("l0.wq"))).m == 2);
  CHECK(w.meta.at("rank_batch") == "2");
  CHECK(of_kind(w, OpKind::kAllReduce).empty());  // inference replicas do not talk
}

TEST_CASE("Mixtral routes each token to two experts", "[unit]") {
  Workload w = generate(decode("mixtral-8x7b", 4, 512));
  for (const Op* e : of_kind(w, OpKind::kExpert)) {
    int64_t sum = 0, active = 0;
    for (int64_t t : e->tokens_per_expert) {
      sum += t;
      active += t > 0;
    }
    CHECK(sum == 4 * 2);  // 4 tokens x top-2
    CHECK(active <= 8);
    CHECK(e->experts == 8);
  }
  // Parameters: attention (GQA) + 8 SwiGLU experts + router per layer, embedding + head.
  const double d = 4096, f = 14336, kv = 8 * 128;
  const double per_layer = 2 * d * d + 2 * d * kv + 8 * 3 * d * f + d * 8;
  CHECK(double(w.total_weight_params()) == Approx(32 * per_layer + 2 * 32000 * d));

  // Expert parallelism: each rank holds 4 experts; between them they see every routing.
  GenOptions o = decode("mixtral-8x7b", 4, 512);
  o.dp = 2;
  o.ep = 2;
  int64_t routed = 0;
  for (int64_t r = 0; r < 2; ++r) {
    o.rank = r;
    Workload x = generate(o);
    const Op& w1 = x.op(size_t(x.find("l3.w1")));
    CHECK(w1.experts == 4);
    routed += w1.m;
    auto a2a = of_kind(x, OpKind::kAllToAll);
    REQUIRE(a2a.size() == 2 * 32);
    CHECK(a2a[0]->bytes == 2 * 2 * 4096 * 2);  // 2 tokens per rank x top-2 x hidden x bf16
    CHECK(a2a[0]->group == 2);
  }
  CHECK(routed == 2 * 2 * 2);  // 4 tokens across the group x top-2
}

TEST_CASE("ResNet-50 is about 4.1 GMACs per 224x224 image", "[unit]") {
  GenOptions o;
  o.model = "resnet50";
  o.batch = 1;
  Workload w = generate(o);
  double macs = 0;
  for (const auto& op : w.ops())
    if (op.kind == OpKind::kConv || op.kind == OpKind::kGemm) macs += flops(op) / 2;
  CHECK(macs / 1e9 == Approx(4.1).margin(0.05));
  CHECK(of_kind(w, OpKind::kConv).size() == 1 + 16 * 3 + 4);  // stem, blocks, projections
  // First 3x3 conv of stage 2 is strided: 56x56 -> 28x28 output rows, K = 128 x 3 x 3.
  const Op& c = w.op(size_t(w.find("s2b0.conv2")));
  CHECK(c.m == 28 * 28);
  CHECK(c.k == 128 * 9);
}

TEST_CASE("BERT-large has about 340 M parameters", "[unit]") {
  Workload w = generate(prefill("bert-large", 1, 512));
  // Devlin et al. quote 340 M; biases, norms and the pooler (about 6 M) are not GEMM weights.
  const double p = double(w.total_weight_params()) / 1e6;
  CHECK(p > 0.98 * 340);
  CHECK(p < 340);
  CHECK(w.find("lm_head") < 0);
}

TEST_CASE("fused projections: one GEMM for Q, K and V and one for gate and up, same work",
          "[unit]") {
  // The trace of `o` without and with fused projections: the same FLOPs, parameters and
  // collectives.
  auto both = [](GenOptions o) {
    const Workload plain = generate(o);
    o.fused_proj = true;
    Workload fused = generate(o);
    CHECK(fused.total_flops() == Approx(plain.total_flops()).epsilon(1e-12));
    CHECK(fused.total_weight_params() == plain.total_weight_params());
    CHECK(fused.total_comm_bytes() == plain.total_comm_bytes());
    return std::make_pair(plain, std::move(fused));
  };
  // Llama-3-8B (grouped-query: 32 query heads, 8 KV heads) and GPT-3 (GELU FFN: Q, K and
  // V fused only), in prefill at tp=2 and in decode: the same FLOPs, parameters and
  // collectives as the unfused trace, with two (GPT-3: one) fewer GEMMs a layer, and
  // wqkv's and w13's widths the sums of the GEMMs they replace.
  for (const char* model : {"llama3-8b", "gpt3-175b"}) {
    for (const char* phase : {"prefill", "decode"}) {
      INFO(model << " " << phase);
      GenOptions o = decode(model, 2, 512);
      o.phase = phase;
      o.seq = 256;
      o.layers = 2;
      o.tp = 2;
      const auto [plain, fused] = both(o);
      const bool swiglu = find_model(model).ffn_type == FfnType::kSwiGlu;
      CHECK(of_kind(plain, OpKind::kGemm).size() - of_kind(fused, OpKind::kGemm).size() ==
            size_t(2 * (swiglu ? 3 : 2)));
      CHECK(fused.find("l1.wq") < 0);
      const Op& qkv = fused.op(size_t(fused.find("l1.wqkv")));
      CHECK(qkv.n == plain.op(size_t(plain.find("l1.wq"))).n +
                         plain.op(size_t(plain.find("l1.wk"))).n +
                         plain.op(size_t(plain.find("l1.wv"))).n);
      CHECK(fused.meta.at("fused_proj") == "1");
      if (swiglu) {
        const Op& w13 = fused.op(size_t(fused.find("l1.w13")));
        CHECK(w13.n == 2 * plain.op(size_t(plain.find("l1.w1"))).n);
        // silu reads the gate part, mul the activation and the up part, both from w13
        CHECK(fused.op(size_t(fused.find("l1.mul"))).deps ==
              std::vector<std::string>{"l1.silu", "l1.w13"});
      }
      // rope (or, without it, qk) and av read Q, K and V from wqkv
      const std::string first = find_model(model).rope ? "l1.rope" : "l1.qk";
      CHECK(fused.op(size_t(fused.find(first))).deps == std::vector<std::string>{"l1.wqkv"});
      CHECK(fused.op(size_t(fused.find("l1.av"))).deps ==
            std::vector<std::string>{"l1.softmax", "l1.wqkv"});
    }
  }
  // Mixtral's experts: one w13 each, the same work.
  GenOptions m = decode("mixtral-8x7b", 4, 256);
  m.layers = 1;
  const auto [plain, fused] = both(m);
  const Op& w13 = fused.op(size_t(fused.find("l0.w13")));
  CHECK(w13.kind == OpKind::kExpert);
  CHECK(w13.n == 2 * plain.op(size_t(plain.find("l0.w1"))).n);
  CHECK(w13.tokens_per_expert == plain.op(size_t(plain.find("l0.w1"))).tokens_per_expert);
  // At ep = 8 some rank's experts get no token in some layer: w2 then follows w13 alone
  // (it named w13 twice, a trace that does not validate).
  for (int64_t rank = 0; rank < 8; ++rank) {
    GenOptions e = decode("mixtral-8x7b", 8, 256);
    e.dp = e.ep = 8;
    e.rank = rank;
    e.fused_proj = true;
    CHECK_NOTHROW(generate(e));
  }
  GenOptions r;
  r.model = "resnet50";
  r.fused_proj = true;
  CHECK_THROWS_WITH(generate(r), Catch::Contains("resnet50 has no attention or FFN"));
}

TEST_CASE("all logits: the LM head over every token, as verifying drafted tokens needs", "[unit]") {
  // Speculative decoding's verification of 4 drafted tokens of 2 sequences after 2048
  // cached ones: a chunk of 4 after past 2048, whose LM head has 2 x 4 rows (one per
  // sequence without the option); a mixed iteration's has every prompt token and every
  // decoding sequence.
  GenOptions o = prefill("llama2-7b", 2, 4, 2048);
  o.layers = 1;
  Workload w = generate(o);
  CHECK(w.op(size_t(w.find("lm_head"))).m == 2);
  o.all_logits = true;
  w = generate(o);
  CHECK(w.op(size_t(w.find("lm_head"))).m == 2 * 4);
  CHECK(w.meta.at("all_logits") == "1");
  o.phase = "mixed";
  o.past = 0;
  o.seq = 16;
  o.decode_batch = 3;
  o.context = 100;
  w = generate(o);
  CHECK(w.op(size_t(w.find("lm_head"))).m == 2 * 16 + 3);
  o = prefill("bert-large", 1, 8);
  o.all_logits = true;
  CHECK_THROWS_WITH(generate(o), Catch::Contains("--all-logits needs a decoder's LM head"));
  o = decode("llama2-7b");
  o.embed_and_head = false;
  o.all_logits = true;
  CHECK_THROWS_WITH(generate(o), Catch::Contains("not with --blocks-only"));
}

TEST_CASE("inconsistent generator options are refused", "[unit]") {
  auto bad = [](GenOptions o, const char* msg) {
    INFO(msg);
    CHECK_THROWS_WITH(generate(o), Catch::Contains(msg));
  };
  GenOptions o = decode("llama2-7b");
  o.tp = 3;
  bad(o, "does not divide the 32 heads");
  o = decode("llama2-7b");
  o.past = 10;
  bad(o, "--past is for prefill");
  o.phase = "prefill";
  o.seq = 4096;  // the whole context
  bad(o, "--past 10 outside 0..0");
  o.model = "bert-large";
  o.seq = 128;
  bad(o, "bert-large has no KV cache: --past needs a decoder");
  o = decode("llama2-7b");
  o.decode_batch = 4;
  bad(o, "--decode-batch is for --phase mixed");
  o.phase = "mixed";
  o.decode_batch = 0;
  bad(o, "--phase mixed needs --decode-batch of at least 1");
  o.decode_batch = 3;
  o.dp = 2;
  o.batch = 2;
  bad(o, "--decode-batch 3 does not split evenly across --dp 2");
  o = GenOptions{};
  o.model = "resnet50";
  o.past = 3;
  bad(o, "resnet50 has no KV cache");
  o = GenOptions{};
  o.model = "bert-large";
  o.phase = "mixed";
  o.decode_batch = 1;
  bad(o, "bert-large is an encoder");
  o = GenOptions{};
  o.model = "resnet50";
  o.layers = 20;
  bad(o, "--layers 20: resnet50 has 16 bottleneck blocks");
  o.layers = -1;
  bad(o, "--layers -1: resnet50 has 16");
  o = decode("nope");
  bad(o, "unknown --model 'nope'");
  o = decode("bert-large");
  bad(o, "encoder");
  o = decode("llama2-7b", 1, 4096);
  bad(o, "--context 4096 outside");
  o = decode("llama2-7b");
  o.rank = 1;
  bad(o, "--rank 1 outside the 1 ranks");
  o = decode("llama2-7b", 2);
  o.ep = 2;
  o.dp = 2;
  bad(o, "mixture-of-experts");
  o = decode("llama2-7b", 3);
  o.dp = 2;
  bad(o, "does not split evenly across --dp 2");
  o = decode("llama2-7b");
  o.layers = 31;
  o.pp = 2;
  bad(o, "31 layers do not split evenly");
}
