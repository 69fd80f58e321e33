#include "traces/workload.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "models/sim/errors.h"

namespace tessera::traces {

namespace {

struct KindName {
  OpKind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {
    {OpKind::kGemm, "gemm"},
    {OpKind::kBatchedGemm, "bgemm"},
    {OpKind::kConv, "conv"},
    {OpKind::kQk, "qk"},
    {OpKind::kAv, "av"},
    {OpKind::kMoeGate, "moe_gate"},
    {OpKind::kExpert, "expert"},
    {OpKind::kSoftmax, "softmax"},
    {OpKind::kElementwise, "elementwise"},
    {OpKind::kLayerNorm, "layernorm"},
    {OpKind::kRmsNorm, "rmsnorm"},
    {OpKind::kGelu, "gelu"},
    {OpKind::kSilu, "silu"},
    {OpKind::kEmbedding, "embedding"},
    {OpKind::kOpaque, "opaque"},
    {OpKind::kAllReduce, "allreduce"},
    {OpKind::kAllGather, "allgather"},
    {OpKind::kReduceScatter, "reducescatter"},
    {OpKind::kAllToAll, "alltoall"},
    {OpKind::kBroadcast, "broadcast"},
    {OpKind::kReduce, "reduce"},
    {OpKind::kGather, "gather"},
    {OpKind::kScatter, "scatter"},
    {OpKind::kBarrier, "barrier"},
    {OpKind::kSend, "send"},
    {OpKind::kRecv, "recv"},
};

std::string at(const std::string& where) {
  return where.empty() ? "" : where + ": ";
}

bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > 256) return false;
  for (unsigned char c : s)
    if (c <= ' ' || c >= 127 || c == ',' || c == '=' || c == '#') return false;
  return true;
}

}  // namespace

const char* to_string(OpKind k) {
  for (const auto& kn : kKindNames)
    if (kn.kind == k) return kn.name;
  return "?";
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 60)) out += (c < ' ' || c >= 127) ? '?' : char(c);
  return s.size() > 60 ? out + "..." : out;
}

std::optional<OpKind> op_kind_from_string(const std::string& s) {
  for (const auto& kn : kKindNames)
    if (s == kn.name) return kn.kind;
  return std::nullopt;
}

const char* to_string(DType t) {
  switch (t) {
    case DType::kFp32:
      return "fp32";
    case DType::kBf16:
      return "bf16";
    case DType::kFp8:
      return "fp8";
    case DType::kInt8:
      return "int8";
  }
  return "?";
}

std::optional<DType> dtype_from_string(const std::string& s) {
  if (s == "fp32") return DType::kFp32;
  if (s == "bf16") return DType::kBf16;
  if (s == "fp8") return DType::kFp8;
  if (s == "int8") return DType::kInt8;
  return std::nullopt;
}

const char* to_string(WeightOperand w) {
  switch (w) {
    case WeightOperand::kNone:
      return "none";
    case WeightOperand::kA:
      return "a";
    case WeightOperand::kB:
      return "b";
  }
  return "?";
}

std::optional<WeightOperand> weight_operand_from_string(const std::string& s) {
  if (s == "none") return WeightOperand::kNone;
  if (s == "a") return WeightOperand::kA;
  if (s == "b") return WeightOperand::kB;
  return std::nullopt;
}

int dtype_bytes(DType t) {
  switch (t) {
    case DType::kFp32:
      return 4;
    case DType::kBf16:
      return 2;
    case DType::kFp8:
    case DType::kInt8:
      return 1;
  }
  return 1;
}

OpClass op_class(OpKind k) {
  switch (k) {
    case OpKind::kGemm:
    case OpKind::kBatchedGemm:
    case OpKind::kConv:
    case OpKind::kQk:
    case OpKind::kAv:
    case OpKind::kMoeGate:
    case OpKind::kExpert:
      return OpClass::kMatrix;
    case OpKind::kSoftmax:
    case OpKind::kElementwise:
    case OpKind::kLayerNorm:
    case OpKind::kRmsNorm:
    case OpKind::kGelu:
    case OpKind::kSilu:
    case OpKind::kEmbedding:
      return OpClass::kVector;
    case OpKind::kOpaque:
      return OpClass::kOpaque;
    case OpKind::kSend:
    case OpKind::kRecv:
      return OpClass::kPointToPoint;
    default:
      return OpClass::kCollective;
  }
}

bool is_communication(OpKind k) {
  auto c = op_class(k);
  return c == OpClass::kCollective || c == OpClass::kPointToPoint;
}

int flops_per_element(OpKind k) {
  switch (k) {
    case OpKind::kSoftmax:
      return 5;  // max, subtract, exp, sum, divide
    case OpKind::kElementwise:
      return 1;
    case OpKind::kLayerNorm:
      return 8;  // mean, variance (2), normalise (2), scale, shift, +eps
    case OpKind::kRmsNorm:
      return 4;  // square, sum, normalise, scale
    case OpKind::kGelu:
      return 8;  // tanh approximation
    case OpKind::kSilu:
      return 4;  // exp, add, divide, multiply
    default:
      return 0;
  }
}

bool Op::operator==(const Op& o) const {
  return name == o.name && kind == o.kind && dtype == o.dtype && deps == o.deps && m == o.m &&
         n == o.n && k == o.k && batch == o.batch && weights == o.weights &&
         kv_bytes == o.kv_bytes && causal == o.causal && past == o.past && tied == o.tied &&
         elems == o.elems && inputs == o.inputs && vocab == o.vocab && experts == o.experts &&
         topk == o.topk && tokens_per_expert == o.tokens_per_expert &&
         flops_given == o.flops_given && bytes_given == o.bytes_given && bytes == o.bytes &&
         group == o.group && ranks == o.ranks && peer == o.peer && layer == o.layer &&
         phase == o.phase && rank == o.rank;
}

int64_t attention_keys(const Op& op) {
  return op.kind == OpKind::kQk ? op.n : op.kind == OpKind::kAv ? op.k : 0;
}

int64_t attention_scores(const Op& op) {
  if (op.kind != OpKind::kQk && op.kind != OpKind::kAv) return 0;
  const int64_t keys = attention_keys(op);
  // Heads of L = keys - past rows, each L past + L (L + 1) / 2 visible pairs: m past +
  // m (L + 1) / 2 in all (an integer: m (L + 1) = heads L (L + 1)).
  return op.causal ? op.m * op.past + op.m * (keys - op.past + 1) / 2 : op.m * keys;
}

double flops(const Op& op) {
  const double m = double(op.m), n = double(op.n), k = double(op.k), b = double(op.batch);
  switch (op.kind) {
    case OpKind::kQk:  // k MACs per score
      return 2.0 * double(attention_scores(op)) * k * b;
    case OpKind::kAv:  // n MACs per score
      return 2.0 * double(attention_scores(op)) * n * b;
    case OpKind::kGemm:
    case OpKind::kBatchedGemm:
    case OpKind::kConv:
      return 2.0 * m * n * k * b;
    case OpKind::kMoeGate:  // router GEMM, then a softmax over the experts of each token
      return 2.0 * m * n * k + flops_per_element(OpKind::kSoftmax) * m * n;
    case OpKind::kExpert:
      return 2.0 * m * n * k;  // m = tokens summed over experts
    case OpKind::kSoftmax:
    case OpKind::kElementwise:
    case OpKind::kLayerNorm:
    case OpKind::kRmsNorm:
    case OpKind::kGelu:
    case OpKind::kSilu:
      return double(flops_per_element(op.kind)) * double(op.elems) *
             double(op.kind == OpKind::kElementwise ? std::max<int64_t>(1, op.inputs - 1) : 1);
    case OpKind::kEmbedding:
      return 0.0;
    case OpKind::kOpaque:
      return double(op.flops_given);
    case OpKind::kAllReduce:
    case OpKind::kReduceScatter:
    case OpKind::kReduce: {
      // Each rank adds (p-1)/p of the buffer's elements (ring or halving-doubling).
      if (op.group <= 1) return 0.0;
      double elems = double(op.bytes) / dtype_bytes(op.dtype);
      return elems * double(op.group - 1) / double(op.group);
    }
    default:
      return 0.0;
  }
}

OperandBytes operand_bytes(const Op& op) {
  const int64_t dt = dtype_bytes(op.dtype);
  OperandBytes r;
  switch (op.kind) {
    case OpKind::kGemm:
    case OpKind::kBatchedGemm:
    case OpKind::kConv:
    case OpKind::kQk:
    case OpKind::kAv:
      r.a = op.batch * op.m * op.k * dt;
      r.b = op.kv_bytes > 0 ? op.kv_bytes : op.batch * op.k * op.n * dt;
      r.c = op.batch * op.m * op.n * dt;
      // A causal mask's hidden scores are neither written (qk's C) nor read (av's A).
      if (op.causal && op.kind == OpKind::kQk) r.c = op.batch * attention_scores(op) * dt;
      if (op.causal && op.kind == OpKind::kAv) r.a = op.batch * attention_scores(op) * dt;
      if (op.weights == WeightOperand::kA) r.weights = r.a;
      if (op.weights == WeightOperand::kB) r.weights = r.b;
      break;
    case OpKind::kMoeGate:
      r.a = op.m * op.k * dt;
      r.b = op.k * op.n * dt;
      r.c = op.m * op.n * dt;
      r.weights = r.b;
      break;
    case OpKind::kExpert: {
      // Only experts that receive tokens have their weights read.
      int64_t active = 0;
      for (int64_t t : op.tokens_per_expert) active += t > 0 ? 1 : 0;
      r.a = op.m * op.k * dt;
      r.b = active * op.k * op.n * dt;
      r.c = op.m * op.n * dt;
      r.weights = r.b;
      break;
    }
    case OpKind::kEmbedding:
      r.a = op.m * op.n * dt;  // the rows gathered from the table
      r.c = op.m * op.n * dt;
      r.weights = r.a;
      break;
    case OpKind::kSoftmax:
    case OpKind::kElementwise:
    case OpKind::kLayerNorm:
    case OpKind::kRmsNorm:
    case OpKind::kGelu:
    case OpKind::kSilu:
      r.a = op.inputs * op.elems * dt;
      r.c = op.elems * dt;
      break;
    case OpKind::kOpaque:
      r.a = op.bytes_given;
      break;
    default:  // communication: read the buffer, write the buffer
      r.a = op.bytes;
      r.c = op.kind == OpKind::kSend ? 0 : op.bytes;
      if (op.kind == OpKind::kRecv) r.a = 0;
      break;
  }
  return r;
}

int64_t weight_params(const Op& op) {
  if (!op.tied.empty()) return 0;
  switch (op.kind) {
    case OpKind::kGemm:
    case OpKind::kConv:
    case OpKind::kBatchedGemm: {
      // Each batch item (conv group) has its own weights, as the operand bytes count.
      const int64_t b = std::max<int64_t>(op.batch, 1);
      if (op.weights == WeightOperand::kB) return b * op.k * op.n;
      if (op.weights == WeightOperand::kA) return b * op.m * op.k;
      return 0;
    }
    case OpKind::kMoeGate:
      return op.k * op.n;
    case OpKind::kExpert:
      return op.experts * op.k * op.n;
    case OpKind::kEmbedding:
      return op.vocab * op.n;
    default:
      return 0;
  }
}

int64_t Workload::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : int64_t(it->second);
}

void Workload::add(Op op, const std::string& where) {
  if (!plain_name(op.name))
    throw sim::UserError(at(where) + "op name '" + op.name +
                         "' must be 1-256 printable characters without spaces, ',', '=' or '#'");
  if (index_.count(op.name)) {
    const auto& first = where_[index_.at(op.name)];
    throw sim::UserError(at(where) + "op name '" + op.name + "' is used twice" +
                         (first.empty() ? "" : " (first at " + first + ")"));
  }
  index_.emplace(op.name, ops_.size());
  ops_.push_back(std::move(op));
  where_.push_back(where);
}

std::string Workload::op_context(size_t i) const {
  return at(where_[i]) + "op '" + ops_[i].name + "' (" + to_string(ops_[i].kind) + "): ";
}

void Workload::validate() const {
  // Byte and FLOP counts are int64 and get multiplied: keep every given one far from
  // overflow. Ranks index rank groups.
  // A trace of every rank's ops (meta ranks) runs ranks 0 .. ranks-1 only.
  const int64_t ranks = meta.count("ranks") ? meta_int("ranks", 1) : 0;
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& op = ops_[i];
    const std::string pre = op_context(i);
    auto need = [&](bool ok, const std::string& what) {
      if (!ok) throw sim::UserError(pre + what);
    };
    switch (op_class(op.kind)) {
      case OpClass::kMatrix:
        if (op.kind == OpKind::kExpert) {
          need(op.m >= 0 && op.n > 0 && op.k > 0, "needs m >= 0, n > 0 and k > 0");
          need(op.experts > 0, "needs experts > 0");
          need(int64_t(op.tokens_per_expert.size()) == op.experts,
               fmt::format("tokens lists {} counts but experts={}", op.tokens_per_expert.size(),
                           op.experts));
          int64_t sum = 0;
          for (int64_t t : op.tokens_per_expert) {
            need(t >= 0, "token counts must not be negative");
            need(t <= kMaxCount - sum, "token counts too large (above 2^56 in all)");
            sum += t;
          }
          need(sum == op.m, fmt::format("token counts sum to {} but m={}", sum, op.m));
        } else {
          need(op.m > 0 && op.n > 0 && op.k > 0 && op.batch > 0, "needs m, n, k and batch all > 0");
        }
        if (op.kind == OpKind::kMoeGate)
          need(op.topk >= 1 && op.topk <= op.n, "needs 1 <= topk <= n (experts)");
        need(op.kv_bytes >= 0, "kv_bytes must not be negative");
        if (op.causal) {
          const bool qk = op.kind == OpKind::kQk;
          need(qk || op.kind == OpKind::kAv, "causal applies to qk and av ops only");
          const int64_t keys = attention_keys(op);
          need(op.past >= 0 && op.past < keys,
               fmt::format("past ({}) must be at least 0 and below the keys ({} = {})", op.past,
                           qk ? "n" : "k", keys));
          need(keys > 0 && op.m % (keys - op.past) == 0,
               fmt::format("causal needs m ({}) to be a whole number of heads of {} query "
                           "tokens, one per key after the past ({} - past = {})",
                           op.m, keys - op.past, qk ? "n" : "k", keys - op.past));
        } else {
          need(op.past == 0, "past applies to causal qk and av ops only (causal=1)");
        }
        {
          // Byte counts are int64: keep every operand far from overflow.
          const double b = double(std::max<int64_t>(1, op.batch)), lim = 0x1p56;
          need(b * op.m * op.k <= lim && b * op.k * op.n <= lim && b * op.m * op.n <= lim &&
                   double(op.experts) * op.k * op.n <= lim,
               "shape too large (an operand above 2^56 elements)");
        }
        break;
      case OpClass::kVector:
        if (op.kind == OpKind::kEmbedding) {
          need(op.m > 0 && op.n > 0 && op.vocab > 0, "needs tokens, dim and vocab > 0");
          need(double(op.m) * op.n <= 0x1p56 && double(op.vocab) * op.n <= 0x1p56,
               "shape too large (above 2^56 elements)");
        } else {
          need(op.elems > 0, "needs elems > 0");
          need(op.inputs >= 1, "needs inputs >= 1");
          need(double(op.elems) * op.inputs <= 0x1p56, "elems x inputs too large (above 2^56)");
        }
        break;
      case OpClass::kOpaque:
        need(op.flops_given >= 0 && op.bytes_given >= 0, "flops and bytes must not be negative");
        need(op.flops_given <= kMaxCount && op.bytes_given <= kMaxCount,
             "flops or bytes too large (above 2^56)");
        break;
      case OpClass::kCollective:
        need(op.bytes >= 0, "bytes must not be negative");
        need(op.bytes <= kMaxCount, "bytes too large (above 2^56)");
        need(op.group >= 1, "needs group >= 1");
        need(op.group <= kMaxRanks, "group too large (above 2^20 ranks)");
        need(op.ranks.empty() || int64_t(op.ranks.size()) == op.group,
             fmt::format("lists {} ranks but group={}", op.ranks.size(), op.group));
        break;
      case OpClass::kPointToPoint:
        need(op.bytes >= 0, "bytes must not be negative");
        need(op.bytes <= kMaxCount, "bytes too large (above 2^56)");
        need(op.peer >= 0, "needs peer >= 0");
        need(op.peer < kMaxRanks, "peer too large (above 2^20 ranks)");
        break;
    }
    need(op.rank >= 0, "rank must not be negative");
    need(op.rank < kMaxRanks, "rank too large (above 2^20 ranks)");
    if (ranks > 0) {
      need(op.rank < ranks,
           fmt::format("rank {} outside the trace's {} (meta ranks)", op.rank, ranks));
      if (op_class(op.kind) == OpClass::kPointToPoint)
        need(op.peer < ranks,
             fmt::format("peer {} outside the trace's {} ranks (meta ranks)", op.peer, ranks));
    }
    if (!op.tied.empty()) {
      // Tied weights are another op's, held there (counted once).
      auto it = index_.find(op.tied);
      need(it != index_.end(), "tied to unknown op '" + op.tied + "'");
      need(op.tied != op.name, "tied to itself");
      const Op& owner = ops_[it->second];
      need(owner.tied.empty(), "tied to '" + op.tied + "', which is itself tied");
      need(weight_params(owner) > 0, "tied to '" + op.tied + "', which holds no weights");
    }
    std::set<std::string_view> seen;  // (some imported nodes have thousands of deps)
    for (const auto& dep : op.deps) {
      need(dep != op.name, "depends on itself");
      need(index_.count(dep) > 0, "depends on unknown op '" + dep + "'");
      need(seen.insert(dep).second, "lists dependency '" + dep + "' twice");
    }
  }
  topological_order();  // throws on a cycle
}

std::vector<size_t> Workload::topological_order() const {
  const size_t n = ops_.size();
  std::vector<int64_t> pending(n, 0);
  std::vector<std::vector<size_t>> users(n);
  for (size_t i = 0; i < n; ++i)
    for (const auto& dep : ops_[i].deps) {
      auto it = index_.find(dep);
      if (it == index_.end())
        throw sim::UserError(at(where_[i]) + "op '" + ops_[i].name + "' depends on unknown op '" +
                             dep + "'");
      users[it->second].push_back(i);
      ++pending[i];
    }
  // Smallest index first among the ready ops: the file's order when it is already valid.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (order.size() != n) {
    // Every op left waits on another op left; walking back along such deps n times
    // lands on an op that lies on a cycle.
    size_t i = 0;
    while (pending[i] == 0) ++i;
    for (size_t step = 0; step < n; ++step)
      for (const auto& dep : ops_[i].deps) {
        size_t d = index_.at(dep);
        if (pending[d] > 0) {
          i = d;
          break;
        }
      }
    throw sim::UserError(at(where_[i]) + "op '" + ops_[i].name + "' is part of a dependency cycle");
  }
  return order;
}

double Workload::total_flops() const {
  double f = 0;
  for (const auto& op : ops_) f += flops(op);
  return f;
}

int64_t saturating_add(int64_t a, int64_t b) {
  return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

// Each op's count is at most 2^56, but a few hundred of them are not (until the twelfth
// session the totals wrapped and `trace stats` printed negative numbers): they saturate.
int64_t Workload::total_weight_params() const {
  int64_t p = 0;
  for (const auto& op : ops_) p = saturating_add(p, weight_params(op));
  return p;
}

int64_t Workload::total_comm_bytes() const {
  int64_t b = 0;
  for (const auto& op : ops_)
    if (is_communication(op.kind)) b = saturating_add(b, op.bytes);
  return b;
}

int64_t Workload::meta_int(const std::string& key, int64_t def) const {
  auto it = meta.find(key);
  if (it == meta.end()) return def;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return def;
  }
}

}  // namespace tessera::traces
