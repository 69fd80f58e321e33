// The workload: a DAG of operations (GEMMs, attention parts, vector ops, MoE routing,
// collectives), each with shapes, a data type and dependencies by name. This is what the
// trace format, the generators and the Chakra importer produce and what the mapper lowers.
// It knows nothing of the hardware.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::traces {

// Bounds of what a workload may say, checked by the parsers and Workload::validate:
// counts (FLOPs, bytes, tokens, elements) far from int64 overflow when multiplied, and
// the ranks a trace may name.
inline constexpr int64_t kMaxCount = int64_t(1) << 56;
inline constexpr int64_t kMaxRanks = int64_t(1) << 20;

enum class OpKind {
  // Matrix work (operand A is M x K, operand B is K x N, result C is M x N, times batch).
  kGemm,
  kBatchedGemm,
  kConv,     // a convolution lowered to one im2col GEMM: M = N*P*Q, N = out channels, K = C*R*S
  kQk,       // attention scores Q.K^T (batched GEMM; in decode, B is the K cache)
  kAv,       // attention output P.V (batched GEMM; in decode, B is the V cache)
  kMoeGate,  // router GEMM (M tokens x K hidden x N experts) plus top-k selection
  kExpert,   // one GEMM per expert with its share of the tokens (the token distribution)
  // Vector work over `elems` elements.
  kSoftmax,
  kElementwise,
  kLayerNorm,
  kRmsNorm,
  kGelu,
  kSilu,
  kEmbedding,  // gathers `tokens` rows of a vocab x dim table
  // Opaque compute with given FLOPs and bytes (imported traces that carry no shapes).
  kOpaque,
  // Communication.
  kAllReduce,
  kAllGather,
  kReduceScatter,
  kAllToAll,
  kBroadcast,
  kReduce,
  kGather,
  kScatter,
  kBarrier,
  kSend,
  kRecv,
};

enum class DType { kFp32, kBf16, kFp8, kInt8 };

// Which GEMM operand holds the model's weights (read from memory, reused across tokens).
enum class WeightOperand { kNone, kA, kB };

const char* to_string(OpKind k);
const char* to_string(DType t);
const char* to_string(WeightOperand w);
std::optional<OpKind> op_kind_from_string(const std::string& s);
// Text from a user's file as one printable line for a message: its first 60 bytes,
// control and non-ASCII bytes as '?', "..." when cut.
std::string printable(const std::string& s);
std::optional<DType> dtype_from_string(const std::string& s);
std::optional<WeightOperand> weight_operand_from_string(const std::string& s);
int dtype_bytes(DType t);
// a + b, held at INT64_MAX instead of overflowing (b >= 0).
int64_t saturating_add(int64_t a, int64_t b);

enum class OpClass { kMatrix, kVector, kOpaque, kCollective, kPointToPoint };
OpClass op_class(OpKind k);
bool is_communication(OpKind k);

struct Op {
  std::string name;  // unique in the workload
  OpKind kind = OpKind::kGemm;
  DType dtype = DType::kBf16;
  std::vector<std::string> deps;  // names of ops that must finish first

  // Matrix shapes (matrix kinds).
  int64_t m = 0, n = 0, k = 0, batch = 1;
  WeightOperand weights = WeightOperand::kNone;
  int64_t kv_bytes = 0;  // qk/av: bytes of operand B streamed from the KV cache
  // qk/av: causal mask of a prompt attending to itself. The keys (n of qk, k of av) are
  // `past` cached tokens followed by the prompt's L tokens, and the m rows are heads of
  // L query tokens stacked: row r (token r mod L) sees keys 0 .. past + r mod L only,
  // and the masked scores are not computed. `past` > 0 is a chunked prefill: a prompt
  // chunk after `past` tokens already in the KV cache.
  bool causal = false;
  int64_t past = 0;
  std::string tied;  // weights are the same tensor as this op's (not counted twice)

  // Vector shapes.
  int64_t elems = 0;   // elements of the output
  int64_t inputs = 1;  // input tensors of `elems` elements each (2 for a residual add)
  int64_t vocab = 0;   // embedding: table rows (dim = n, tokens = m)

  // MoE: experts and top-k (gate); per-expert token counts (expert; sums to m).
  int64_t experts = 0, topk = 0;
  std::vector<int64_t> tokens_per_expert;

  // Opaque compute.
  int64_t flops_given = 0;
  int64_t bytes_given = 0;

  // Communication: bytes of each rank's buffer (see docs/workloads.md for each kind),
  // group size, optional explicit ranks, peer rank for send/recv.
  int64_t bytes = 0;
  int64_t group = 0;
  std::vector<int64_t> ranks;
  int64_t peer = -1;

  // Optional attributes.
  int64_t layer = -1;  // -1: not part of a layer
  std::string phase;   // "prefill", "decode" or empty
  int64_t rank = 0;    // which rank executes it (imports of several ranks)

  bool operator==(const Op& o) const;
};

// Operand sizes of one op, in bytes.
struct OperandBytes {
  int64_t a = 0;        // matrix A / vector inputs
  int64_t b = 0;        // matrix B (weights or KV cache)
  int64_t c = 0;        // result written
  int64_t weights = 0;  // of a + b, the part that is model weights
  int64_t total() const { return a + b + c; }
};

class Workload {
 public:
  // Workload-level attributes (model, phase, batch, seq, context, tokens, tp, pp, dp, ep,
  // rank, ...), written as `meta` lines. Ordered, so output is deterministic.
  std::map<std::string, std::string> meta;
  // A meta value as an integer; `def` when absent or not a number.
  int64_t meta_int(const std::string& key, int64_t def) const;

  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  const Op& op(size_t i) const { return ops_[i]; }
  // Index of the op named `name`, or -1.
  int64_t find(const std::string& name) const;

  // Appends an op; UserError if the name is empty, repeated or not a plain token.
  // `where` prefixes the message ("file:line").
  void add(Op op, const std::string& where = "");

  // Checks every op (shapes positive where needed, deps known, no cycles). Throws
  // sim::UserError naming the op and, when known, its source line ("file:line: ...").
  void validate() const;

  // Indices in a dependency-respecting order (ties broken by position: stable).
  std::vector<size_t> topological_order() const;

  // Source location of op i, for messages ("" when built in memory).
  const std::string& where(size_t i) const { return where_[i]; }
  // The start of a message about op i: "file:line: op 'name' (kind): " (no location
  // when built in memory).
  std::string op_context(size_t i) const;

  // Totals.
  double total_flops() const;
  // Totals over the ops, saturating at INT64_MAX.
  int64_t total_weight_params() const;  // elements of weight tensors, tied ones once
  int64_t total_comm_bytes() const;

  bool operator==(const Workload& o) const { return meta == o.meta && ops_ == o.ops_; }

 private:
  std::vector<Op> ops_;
  std::vector<std::string> where_;
  std::map<std::string, size_t> index_;
};

// Floating-point operations of one op (a multiply-add counts 2). Collectives count the
// additions of a reduction (bytes / dtype size per rank for all-reduce / reduce-scatter).
double flops(const Op& op);
OperandBytes operand_bytes(const Op& op);
// The keys a qk/av op's scores run over: n of qk, k of av (0 for other kinds).
int64_t attention_keys(const Op& op);
// Attention scores (row, key pairs) of one batch item that a qk/av op computes: m x keys,
// or m x past + m x (L + 1) / 2 under a causal mask, L = keys - past (0 for other kinds).
int64_t attention_scores(const Op& op);
// Weight elements of one op (0 when it holds none or they are tied to another op).
int64_t weight_params(const Op& op);

// Per-element FLOPs the vector kinds are counted at (documented in docs/workloads.md).
int flops_per_element(OpKind k);

}  // namespace tessera::traces
