#include "traces/generators.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "models/sim/errors.h"

namespace tessera::traces {

namespace {

ModelSpec decoder(std::string name, std::string display, int64_t layers, int64_t hidden,
                  int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t ffn, FfnType ffn_type,
                  int64_t vocab, int64_t context, std::string source) {
  ModelSpec s;
  s.name = std::move(name);
  s.display = std::move(display);
  s.layers = layers;
  s.hidden = hidden;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.head_dim = head_dim;
  s.ffn = ffn;
  s.ffn_type = ffn_type;
  s.vocab = vocab;
  s.max_context = context;
  s.rope = ffn_type == FfnType::kSwiGlu;
  s.source = std::move(source);
  return s;
}

std::vector<ModelSpec> build_specs() {
  std::vector<ModelSpec> v;
  auto gpt3 = decoder("gpt3-175b", "GPT-3 175B", 96, 12288, 96, 96, 128, 49152, FfnType::kGelu,
                      50257, 2048, "Brown et al. 2020, arXiv:2005.14165, Table 2.1");
  gpt3.tied_embeddings = true;
  gpt3.learned_positions = true;
  v.push_back(gpt3);
  v.push_back(decoder("llama2-7b", "Llama-2-7B", 32, 4096, 32, 32, 128, 11008, FfnType::kSwiGlu,
                      32000, 4096, "huggingface meta-llama/Llama-2-7b-hf config.json"));
  v.push_back(decoder("llama2-70b", "Llama-2-70B", 80, 8192, 64, 8, 128, 28672, FfnType::kSwiGlu,
                      32000, 4096, "huggingface meta-llama/Llama-2-70b-hf config.json"));
  v.push_back(decoder("llama3-8b", "Llama-3-8B", 32, 4096, 32, 8, 128, 14336, FfnType::kSwiGlu,
                      128256, 8192, "huggingface meta-llama/Meta-Llama-3-8B config.json"));
  auto mixtral =
      decoder("mixtral-8x7b", "Mixtral-8x7B", 32, 4096, 32, 8, 128, 14336, FfnType::kSwiGlu, 32000,
              32768, "huggingface mistralai/Mixtral-8x7B-v0.1 config.json");
  mixtral.experts = 8;
  mixtral.topk = 2;
  v.push_back(mixtral);
  auto bert = decoder("bert-large", "BERT-large", 24, 1024, 16, 16, 64, 4096, FfnType::kGelu, 30522,
                      512, "huggingface google-bert/bert-large-uncased config.json");
  bert.family = ModelFamily::kEncoder;
  bert.learned_positions = true;
  v.push_back(bert);
  // A made-up small model for quick runs and tests (not a public model).
  v.push_back(decoder("tiny", "tiny (toy model, not a public one)", 2, 256, 4, 4, 64, 704,
                      FfnType::kSwiGlu, 1024, 1024, "Tessera toy model (no source)"));
  ModelSpec resnet;
  resnet.name = "resnet50";
  resnet.display = "ResNet-50 (torchvision v1.5)";
  resnet.family = ModelFamily::kResNet;
  resnet.layers = 16;  // bottleneck blocks
  resnet.source = "He et al. 2016, arXiv:1512.03385, Table 1; torchvision resnet50 (v1.5)";
  v.push_back(resnet);
  return v;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Emits ops with a running "previous op" so chains read naturally.
class Builder {
 public:
  Builder(Workload& w, DType dt, std::string phase) : w_(w), dt_(dt), phase_(std::move(phase)) {}

  Op& make(OpKind kind, std::string name, std::vector<std::string> deps, int64_t layer) {
    pending_ = Op{};
    pending_.kind = kind;
    pending_.name = std::move(name);
    pending_.dtype = dt_;
    // Each dependency once: one op can stand for several (a fused wqkv is Q, K and V).
    for (auto& d : deps)
      if (std::find(pending_.deps.begin(), pending_.deps.end(), d) == pending_.deps.end())
        pending_.deps.push_back(std::move(d));
    pending_.layer = layer;
    pending_.phase = phase_;
    return pending_;
  }
  std::string emit() {
    std::string name = pending_.name;
    w_.add(pending_);
    return name;
  }

  std::string gemm(const std::string& name, const std::vector<std::string>& deps, int64_t layer,
                   int64_t m, int64_t n, int64_t k, const std::string& tied = "") {
    Op& op = make(OpKind::kGemm, name, deps, layer);
    op.m = m;
    op.n = n;
    op.k = k;
    op.weights = WeightOperand::kB;
    op.tied = tied;
    return emit();
  }
  std::string vec(OpKind kind, const std::string& name, const std::vector<std::string>& deps,
                  int64_t layer, int64_t elems, int64_t inputs = 1) {
    Op& op = make(kind, name, deps, layer);
    op.elems = elems;
    op.inputs = inputs;
    return emit();
  }
  std::string coll(OpKind kind, const std::string& name, const std::vector<std::string>& deps,
                   int64_t layer, int64_t bytes, const std::vector<int64_t>& ranks) {
    Op& op = make(kind, name, deps, layer);
    op.bytes = bytes;
    op.group = int64_t(ranks.size());
    op.ranks = ranks;
    return emit();
  }
  std::string p2p(OpKind kind, const std::string& name, const std::vector<std::string>& deps,
                  int64_t layer, int64_t bytes, int64_t peer) {
    Op& op = make(kind, name, deps, layer);
    op.bytes = bytes;
    op.peer = peer;
    return emit();
  }
  int64_t dt() const { return dtype_bytes(dt_); }

 private:
  Workload& w_;
  DType dt_;
  std::string phase_;
  Op pending_;
};

struct Layout {
  int64_t tp_i, pp_i, dp_i;
  std::vector<int64_t> tp_group, ep_group;
};

Layout layout(const GenOptions& o) {
  Layout l;
  l.tp_i = o.rank % o.tp;
  l.pp_i = (o.rank / o.tp) % o.pp;
  l.dp_i = o.rank / (o.tp * o.pp);
  for (int64_t t = 0; t < o.tp; ++t) l.tp_group.push_back((l.dp_i * o.pp + l.pp_i) * o.tp + t);
  // Expert-parallel groups are ep consecutive data-parallel replicas.
  int64_t first_dp = l.dp_i / o.ep * o.ep;
  for (int64_t d = first_dp; d < first_dp + o.ep; ++d)
    l.ep_group.push_back((d * o.pp + l.pp_i) * o.tp + l.tp_i);
  return l;
}

void check_options(const GenOptions& o, const ModelSpec& s) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw sim::UserError("tessera trace gen: " + what);
  };
  need(o.phase == "prefill" || o.phase == "decode" || o.phase == "mixed",
       "--phase '" + o.phase + "': expected prefill, decode or mixed");
  need(o.phase == "mixed" || o.decode_batch == 0,
       "--decode-batch is for --phase mixed (decode sequences beside a prompt chunk)");
  need(o.batch >= 1, "--batch must be at least 1");
  // Counts stay far from int64 overflow (a trace's shapes are bounded by 2^56).
  constexpr int64_t kMax = int64_t(1) << 40;
  need(o.batch <= kMax && o.decode_batch <= kMax && o.seq <= kMax && o.past <= kMax &&
           o.context <= kMax,
       "--batch, --decode-batch, --seq, --past and --context must be at most 2^40");
  need(o.tp >= 1 && o.pp >= 1 && o.dp >= 1 && o.ep >= 1, "parallel degrees must be at least 1");
  int64_t world = o.tp * o.pp * o.dp;
  need(o.rank >= 0 && o.rank < world,
       fmt::format("--rank {} outside the {} ranks (tp x pp x dp)", o.rank, world));
  need(o.batch % o.dp == 0,
       fmt::format("--batch {} does not split evenly across --dp {}", o.batch, o.dp));
  need(o.dp % o.ep == 0, fmt::format("--ep {} must divide --dp {} (experts are sharded across "
                                     "data-parallel replicas)",
                                     o.ep, o.dp));
  if (s.family == ModelFamily::kResNet) {
    need(o.tp == 1 && o.pp == 1 && o.ep == 1, "resnet50 supports only --dp");
    need(o.past == 0 && o.phase != "mixed", "resnet50 has no KV cache: no --past or --phase mixed");
    need(!o.fused_proj, "resnet50 has no attention or FFN projections to fuse");
    need(!o.all_logits, "resnet50 has no LM head (--all-logits)");
    need(o.image >= 32 && o.image <= 4096, "--image must be 32..4096");
    need(o.layers >= 0 && o.layers <= 16,
         fmt::format("--layers {}: resnet50 has 16 bottleneck blocks", o.layers));
    return;
  }
  int64_t layers = o.layers ? o.layers : s.layers;
  need(o.layers >= 0 && layers <= s.layers,
       fmt::format("--layers {}: {} has {} layers", o.layers, s.name, s.layers));
  need(layers % o.pp == 0,
       fmt::format("{} layers do not split evenly across --pp {}", layers, o.pp));
  need(s.heads % o.tp == 0, fmt::format("--tp {} does not divide the {} heads", o.tp, s.heads));
  need(o.ep == 1 || s.experts > 0, "--ep needs a mixture-of-experts model (mixtral-8x7b)");
  need(!o.all_logits || (s.family == ModelFamily::kDecoder && o.embed_and_head),
       "--all-logits needs a decoder's LM head (not " +
           (s.family == ModelFamily::kDecoder ? std::string("with --blocks-only") : s.name) + ")");
  need(s.experts == 0 || s.experts % o.ep == 0,
       fmt::format("--ep {} does not divide the {} experts", o.ep, s.experts));
  if (o.phase == "mixed") {
    need(s.family == ModelFamily::kDecoder, s.name + " is an encoder: only --phase prefill");
    need(o.decode_batch >= 1, "--phase mixed needs --decode-batch of at least 1");
    need(o.decode_batch % o.dp == 0, fmt::format("--decode-batch {} does not split evenly "
                                                 "across --dp {}",
                                                 o.decode_batch, o.dp));
    need(o.context >= 1 && o.context < s.max_context,
         fmt::format("--context {} outside 1..{}", o.context, s.max_context - 1));
  }
  if (o.phase == "prefill" || o.phase == "mixed") {
    need(o.seq >= 1 && o.seq <= s.max_context,
         fmt::format("--seq {} outside 1..{} (the model's context)", o.seq, s.max_context));
    need(o.past >= 0 && o.past <= s.max_context - o.seq,
         fmt::format("--past {} outside 0..{} (the model's context less --seq)", o.past,
                     s.max_context - o.seq));
    need(o.past == 0 || s.family == ModelFamily::kDecoder,
         s.name + " has no KV cache: --past needs a decoder");
  } else {
    need(o.past == 0, "--past is for prefill (a decode's cached tokens are --context)");
    need(s.family == ModelFamily::kDecoder, s.name + " is an encoder: only --phase prefill");
    need(o.context >= 1 && o.context < s.max_context,
         fmt::format("--context {} outside 1..{}", o.context, s.max_context - 1));
  }
}

void transformer(const GenOptions& o, const ModelSpec& s, Workload& w) {
  const Layout lay = layout(o);
  const bool decode = o.phase == "decode", mixed = o.phase == "mixed";
  const int64_t b = o.batch / o.dp;          // sequences on this rank (prompts when mixed)
  const int64_t q_len = decode ? 1 : o.seq;  // new tokens per sequence
  // Keys per sequence: the cache, or the prompt after the cached `past` tokens.
  const int64_t kv_len = decode ? o.context : o.past + o.seq;
  const int64_t b_dec = mixed ? o.decode_batch / o.dp : 0;  // decoding sequences beside them
  const int64_t T = b * q_len + b_dec;                      // token rows through the linear layers
  const int64_t d = s.hidden, hd = s.head_dim;
  const int64_t h_l = s.heads / o.tp;
  const int64_t kvh_l = std::max<int64_t>(1, s.kv_heads / o.tp);  // replicated when tp > kv heads
  const int64_t group = h_l / kvh_l;                              // query heads per KV head
  const int64_t ffn_l = ceil_div(s.ffn, o.tp);
  const int64_t vocab_l = ceil_div(s.vocab, o.tp);
  const int64_t layers = o.layers ? o.layers : s.layers;
  const int64_t per_stage = layers / o.pp;
  const int64_t first = lay.pp_i * per_stage, last = first + per_stage;
  const bool first_stage = lay.pp_i == 0, last_stage = lay.pp_i == o.pp - 1;
  const bool encoder = s.family == ModelFamily::kEncoder;
  const OpKind norm = s.ffn_type == FfnType::kSwiGlu ? OpKind::kRmsNorm : OpKind::kLayerNorm;
  // (A mixed iteration's shared ops carry no phase; its attention ops carry theirs.)
  Builder B(w, o.dtype, mixed ? "" : o.phase);
  const int64_t act = T * d * B.dt();  // one activation tensor, bytes

  std::string x;  // the op producing the residual stream
  if (first_stage && o.embed_and_head) {
    Op& e = B.make(OpKind::kEmbedding, "embed", {}, -1);
    e.m = T;
    e.n = d;
    e.vocab = o.tp > 1 ? vocab_l : s.vocab;
    x = B.emit();
    if (o.tp > 1) x = B.coll(OpKind::kAllReduce, "embed.ar", {x}, -1, act, lay.tp_group);
    if (s.learned_positions) {
      Op& p = B.make(OpKind::kEmbedding, "pos_embed", {}, -1);
      p.m = T;
      p.n = d;
      p.vocab = s.max_context;
      std::string pe = B.emit();
      std::vector<std::string> parts = {x, pe};
      if (encoder) {  // BERT's token-type (segment) table
        Op& t = B.make(OpKind::kEmbedding, "type_embed", {}, -1);
        t.m = T;
        t.n = d;
        t.vocab = 2;
        parts.push_back(B.emit());
      }
      x = B.vec(OpKind::kElementwise, "embed.add", parts, -1, T * d, int64_t(parts.size()));
      if (encoder) x = B.vec(OpKind::kLayerNorm, "embed.norm", {x}, -1, T * d);
    }
  }
  if (!first_stage) x = B.p2p(OpKind::kRecv, "pp.recv", {}, -1, act, o.rank - o.tp);

  auto dep = [&](const std::string& s_) {
    return s_.empty() ? std::vector<std::string>{} : std::vector<std::string>{s_};
  };

  for (int64_t l = first; l < last; ++l) {
    const std::string p = fmt::format("l{}.", l);
    // Attention. Pre-norm for decoders, post-norm for BERT.
    std::string in = encoder ? x : B.vec(norm, p + "attn_norm", dep(x), l, T * d);
    // Q, K and V: three GEMMs, or one whose output holds them one after another (its
    // readers take their part from its start: exact for one token, the addresses of a
    // longer prompt's rows approximate, the bytes right).
    std::string q, k, v;
    if (o.fused_proj) {
      q = k = v = B.gemm(p + "wqkv", dep(in), l, T, (h_l + 2 * kvh_l) * hd, d);
    } else {
      q = B.gemm(p + "wq", dep(in), l, T, h_l * hd, d);
      k = B.gemm(p + "wk", dep(in), l, T, kvh_l * hd, d);
      v = B.gemm(p + "wv", dep(in), l, T, kvh_l * hd, d);
    }
    std::vector<std::string> qk_deps = {q, k};
    if (s.rope)
      qk_deps = {B.vec(OpKind::kElementwise, p + "rope", {q, k}, l, T * (h_l + kvh_l) * hd, 2)};
    // qk -> softmax -> av of `seqs` sequences of `new_tokens` each over `keys` keys, named
    // with `tag`, its ops marked with `phase` (a mixed iteration has both).
    auto attention = [&](const std::string& tag, const std::string& phase, int64_t seqs,
                         int64_t new_tokens, int64_t keys, bool from_cache, bool causal,
                         int64_t past) {
      // K and V from the cache: a decode's, or a chunked prefill's (the chunk's own K and
      // V written to the cache first, as paged-attention kernels read them; here they are
      // stored as wk's and wv's outputs, not in the cache's place).
      const int64_t cache = from_cache ? seqs * kvh_l * keys * hd * B.dt() : 0;
      // qk and av alike. GQA: the query heads sharing a KV head are stacked as rows of one
      // GEMM.
      auto attn_op = [&](OpKind kind, const char* name, std::vector<std::string> deps, int64_t n,
                         int64_t k) {
        Op& op = B.make(kind, p + tag + name, std::move(deps), l);
        op.batch = seqs * kvh_l;
        op.m = new_tokens * group;
        op.n = n;
        op.k = k;
        op.kv_bytes = cache;
        op.causal = causal;
        op.past = causal ? past : 0;
        op.phase = phase;
        return B.emit();
      };
      std::string sc = attn_op(OpKind::kQk, "qk", qk_deps, keys, hd);
      const int64_t scores = causal ? new_tokens * past + new_tokens * (new_tokens + 1) / 2
                                    : new_tokens * keys;  // per head
      Op& sm = B.make(OpKind::kSoftmax, p + tag + "softmax", {sc}, l);
      sm.elems = seqs * h_l * scores;
      sm.phase = phase;
      std::string smax = B.emit();
      return attn_op(OpKind::kAv, "av", {smax, v}, hd, keys);
    };
    // A decoder's prompt attends causally to itself (and to the cached tokens before
    // it): the masked scores are skipped, as a FlashAttention-style kernel skips its
    // masked blocks (BERT's encoder sees all).
    std::vector<std::string> avs = {attention("", mixed ? "prefill" : o.phase, b, q_len, kv_len,
                                              decode || o.past > 0, !decode && !encoder, o.past)};
    // A mixed iteration's decoding sequences: one new token each over its cache.
    if (mixed) avs.push_back(attention("dec.", "decode", b_dec, 1, o.context, true, false, 0));
    std::string o_ = B.gemm(p + "wo", avs, l, T, d, h_l * hd);
    if (o.tp > 1) o_ = B.coll(OpKind::kAllReduce, p + "attn.ar", {o_}, l, act, lay.tp_group);
    std::vector<std::string> add_deps = {o_};
    if (!x.empty()) add_deps.push_back(x);
    x = B.vec(OpKind::kElementwise, p + "attn_add", add_deps, l, T * d, 2);
    if (encoder) x = B.vec(OpKind::kLayerNorm, p + "attn_norm", {x}, l, T * d);

    // Feed-forward: dense, or mixture of experts.
    in = encoder ? x : B.vec(norm, p + "ffn_norm", {x}, l, T * d);
    std::string f;
    if (s.experts > 0) {
      Op& g = B.make(OpKind::kMoeGate, p + "gate", {in}, l);
      g.m = T;
      g.n = s.experts;
      g.k = d;
      g.topk = s.topk;
      std::string gate = B.emit();
      // Route every token of the expert-parallel group (T per rank) to top-k experts with
      // a seeded generator: the token distribution over this rank's experts.
      const int64_t e_l = s.experts / o.ep;
      const int64_t e_first = (lay.dp_i % o.ep) * e_l;
      std::vector<int64_t> dist(e_l, 0);
      std::mt19937_64 rng(o.seed * 1000003u + uint64_t(l));
      for (int64_t t = 0; t < T * o.ep; ++t) {
        std::vector<int64_t> chosen;
        while (int64_t(chosen.size()) < s.topk) {
          int64_t e = int64_t(rng() % uint64_t(s.experts));
          if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
        }
        for (int64_t e : chosen)
          if (e >= e_first && e < e_first + e_l) ++dist[e - e_first];
      }
      int64_t m_l = 0;
      for (int64_t t : dist) m_l += t;
      const int64_t routed = T * s.topk * d * B.dt();
      std::string disp = gate;
      if (o.ep > 1)
        disp = B.coll(OpKind::kAllToAll, p + "moe.dispatch", {gate}, l, routed, lay.ep_group);
      auto expert = [&](const std::string& name, std::vector<std::string> deps, int64_t n,
                        int64_t k_) {
        Op& op = B.make(OpKind::kExpert, name, std::move(deps), l);
        op.m = m_l;
        op.n = n;
        op.k = k_;
        op.experts = e_l;
        op.tokens_per_expert = dist;
        return B.emit();
      };
      // Each expert's gate and up: two GEMMs, or one (w13, as vLLM's fused MoE kernel
      // holds them).
      const std::string w1 = o.fused_proj ? expert(p + "w13", {disp}, 2 * ffn_l, d)
                                          : expert(p + "w1", {disp}, ffn_l, d);
      const std::string w3 = o.fused_proj ? w1 : expert(p + "w3", {disp}, ffn_l, d);
      std::vector<std::string> w2_deps = {w1, w3};
      if (m_l > 0) {
        std::string act_ = B.vec(OpKind::kSilu, p + "silu", {w1}, l, m_l * ffn_l);
        w2_deps = {B.vec(OpKind::kElementwise, p + "mul", {act_, w3}, l, m_l * ffn_l, 2)};
      }
      f = expert(p + "w2", w2_deps, d, ffn_l);
      if (o.ep > 1) f = B.coll(OpKind::kAllToAll, p + "moe.combine", {f}, l, routed, lay.ep_group);
      f = B.vec(OpKind::kElementwise, p + "moe.combine_sum", {f}, l, T * d, s.topk);
    } else if (s.ffn_type == FfnType::kSwiGlu) {
      // Gate and up: two GEMMs, or one (w13) whose output holds the gate then the up part
      // (mul reads the up part at the gate part's addresses: the bytes are right).
      const std::string w1 = o.fused_proj ? B.gemm(p + "w13", {in}, l, T, 2 * ffn_l, d)
                                          : B.gemm(p + "w1", {in}, l, T, ffn_l, d);
      const std::string w3 = o.fused_proj ? w1 : B.gemm(p + "w3", {in}, l, T, ffn_l, d);
      std::string a = B.vec(OpKind::kSilu, p + "silu", {w1}, l, T * ffn_l);
      std::string mul = B.vec(OpKind::kElementwise, p + "mul", {a, w3}, l, T * ffn_l, 2);
      f = B.gemm(p + "w2", {mul}, l, T, d, ffn_l);
    } else {
      std::string w1 = B.gemm(p + "w1", {in}, l, T, ffn_l, d);
      std::string a = B.vec(OpKind::kGelu, p + "gelu", {w1}, l, T * ffn_l);
      f = B.gemm(p + "w2", {a}, l, T, d, ffn_l);
    }
    if (o.tp > 1) f = B.coll(OpKind::kAllReduce, p + "ffn.ar", {f}, l, act, lay.tp_group);
    x = B.vec(OpKind::kElementwise, p + "ffn_add", {f, x}, l, T * d, 2);
    if (encoder) x = B.vec(OpKind::kLayerNorm, p + "ffn_norm", {x}, l, T * d);
  }

  if (!last_stage) {
    B.p2p(OpKind::kSend, "pp.send", dep(x), -1, act, o.rank + o.tp);
  } else if (o.embed_and_head && !encoder) {
    // Next-token logits: one row per sequence (the last position in prefill), or every
    // token's (verifying drafted tokens).
    std::string n = B.vec(norm, "final_norm", dep(x), -1, T * d);
    const int64_t rows = o.all_logits ? T : b + b_dec;
    std::string tied = s.tied_embeddings && w.find("embed") >= 0 ? "embed" : "";
    std::string head = B.gemm("lm_head", {n}, -1, rows, o.tp > 1 ? vocab_l : s.vocab, d, tied);
    if (o.tp > 1)
      B.coll(OpKind::kAllGather, "lm_head.ag", {head}, -1, rows * s.vocab * B.dt(), lay.tp_group);
  }
}

void resnet50(const GenOptions& o, Workload& w) {
  const int64_t b = o.batch / o.dp;
  Builder B(w, o.dtype, "");
  int64_t hw = o.image;
  auto out_size = [](int64_t in, int64_t r, int64_t stride, int64_t pad) {
    return (in + 2 * pad - r) / stride + 1;
  };
  // conv + folded batch-norm (inference) + optional ReLU.
  auto conv = [&](const std::string& name, const std::vector<std::string>& deps, int64_t layer,
                  int64_t in_hw, int64_t cin, int64_t cout, int64_t r, int64_t stride, bool relu) {
    int64_t o_hw = out_size(in_hw, r, stride, r / 2);
    Op& op = B.make(OpKind::kConv, name, deps, layer);
    op.m = b * o_hw * o_hw;
    op.n = cout;
    op.k = cin * r * r;
    op.weights = WeightOperand::kB;
    std::string c = B.emit();
    if (relu) c = B.vec(OpKind::kElementwise, name + ".relu", {c}, layer, b * o_hw * o_hw * cout);
    return c;
  };
  std::string x = conv("stem.conv", {}, -1, hw, 3, 64, 7, 2, true);
  hw = out_size(hw, 7, 2, 3);
  int64_t pooled = out_size(hw, 3, 2, 1);
  x = B.vec(OpKind::kElementwise, "stem.maxpool", {x}, -1, b * pooled * pooled * 64,
            (hw * hw + pooled * pooled - 1) / (pooled * pooled));
  hw = pooled;
  const int64_t depths[4] = {3, 4, 6, 3}, widths[4] = {64, 128, 256, 512};
  int64_t cin = 64, block = 0;
  const int64_t blocks = o.layers ? o.layers : 16;
  for (int st = 0; st < 4 && block < blocks; ++st) {
    for (int64_t i = 0; i < depths[st] && block < blocks; ++i, ++block) {
      const std::string p = fmt::format("s{}b{}.", st + 1, i);
      const int64_t wd = widths[st], stride = (i == 0 && st > 0) ? 2 : 1;
      std::string c1 = conv(p + "conv1", {x}, block, hw, cin, wd, 1, 1, true);
      std::string c2 = conv(p + "conv2", {c1}, block, hw, wd, wd, 3, stride, true);
      const int64_t o_hw = out_size(hw, 3, stride, 1);
      std::string c3 = conv(p + "conv3", {c2}, block, o_hw, wd, 4 * wd, 1, 1, false);
      std::string sc = x;
      if (i == 0) sc = conv(p + "downsample", {x}, block, hw, cin, 4 * wd, 1, stride, false);
      std::string add =
          B.vec(OpKind::kElementwise, p + "add", {c3, sc}, block, b * o_hw * o_hw * 4 * wd, 2);
      x = B.vec(OpKind::kElementwise, p + "relu", {add}, block, b * o_hw * o_hw * 4 * wd);
      cin = 4 * wd;
      hw = o_hw;
    }
  }
  if (blocks == 16) {
    x = B.vec(OpKind::kElementwise, "avgpool", {x}, -1, b * cin, hw * hw);
    B.gemm("fc", {x}, -1, b, 1000, cin);
  }
}

}  // namespace

const std::vector<ModelSpec>& model_specs() {
  static const std::vector<ModelSpec> specs = build_specs();
  return specs;
}

const ModelSpec& find_model(const std::string& name) {
  std::string names;
  for (const auto& s : model_specs()) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  throw sim::UserError("tessera trace gen: unknown --model '" + name + "' (known: " + names + ")");
}

Workload generate(const GenOptions& o) {
  const ModelSpec& s = find_model(o.model);
  check_options(o, s);
  Workload w;
  w.meta["model"] = s.name;
  w.meta["batch"] = std::to_string(o.batch);
  w.meta["rank_batch"] = std::to_string(o.batch / o.dp);
  w.meta["dp"] = std::to_string(o.dp);
  w.meta["rank"] = std::to_string(o.rank);
  w.meta["world"] = std::to_string(o.tp * o.pp * o.dp);
  w.meta["generator"] = "tessera-trace-gen";
  if (s.family == ModelFamily::kResNet) {
    w.meta["image"] = std::to_string(o.image);
    w.meta["blocks"] = std::to_string(o.layers ? o.layers : 16);
    resnet50(o, w);
  } else {
    const bool decode = o.phase == "decode", mixed = o.phase == "mixed";
    w.meta["phase"] = o.phase;
    if (decode || mixed) w.meta["context"] = std::to_string(o.context);
    if (!decode) w.meta["seq"] = std::to_string(o.seq);
    if (o.past > 0) w.meta["past"] = std::to_string(o.past);
    if (mixed) w.meta["decode_batch"] = std::to_string(o.decode_batch);
    // Tokens this pass produces across all ranks: one per sequence (the next token).
    w.meta["tokens"] = std::to_string(o.batch + o.decode_batch);
    w.meta["layers"] = std::to_string(o.layers ? o.layers : s.layers);
    w.meta["hidden"] = std::to_string(s.hidden);  // a norm's row (the mapper reads it)
    if (o.fused_proj) w.meta["fused_proj"] = "1";
    if (o.all_logits) w.meta["all_logits"] = "1";
    w.meta["tp"] = std::to_string(o.tp);
    w.meta["pp"] = std::to_string(o.pp);
    w.meta["ep"] = std::to_string(o.ep);
    if (s.experts) w.meta["seed"] = std::to_string(o.seed);
    transformer(o, s, w);
  }
  w.validate();
  return w;
}

}  // namespace tessera::traces
