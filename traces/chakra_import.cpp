#include "traces/chakra_import.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "chakra_et.pb.h"
#include "models/sim/errors.h"
#include "models/sim/output_dir.h"

namespace tessera::traces {

namespace fs = std::filesystem;
namespace pb = tessera::chakra;

namespace {

// ---- attributes -------------------------------------------------------------------

const pb::Attr* find_attr(const pb::TraceNode& n, const std::string& name) {
  for (const auto& a : n.attrs())
    if (a.name() == name) return &a;
  return nullptr;
}

// A float attribute as an integer; -1 (no count) where it is not finite or is beyond
// int64, which converting would make undefined.
int64_t float_attr(double x) {
  return std::isfinite(x) && std::fabs(x) < 0x1p63 ? int64_t(x) : -1;
}

// The attribute as an integer, whichever integer type the writer chose.
bool attr_int(const pb::TraceNode& n, const std::string& name, int64_t* out) {
  const pb::Attr* a = find_attr(n, name);
  if (!a) return false;
  switch (a->value_case()) {
    case pb::Attr::kI32:
      *out = a->i32();
      return true;
    case pb::Attr::kI64:
      *out = a->i64();
      return true;
    case pb::Attr::kU32:
      *out = a->u32();
      return true;
    case pb::Attr::kU64:
      *out = int64_t(std::min<uint64_t>(a->u64(), uint64_t(INT64_MAX)));
      return true;
    case pb::Attr::kS32:
      *out = a->s32();
      return true;
    case pb::Attr::kS64:
      *out = a->s64();
      return true;
    case pb::Attr::kX32:
      *out = a->x32();
      return true;
    case pb::Attr::kX64:
      *out = int64_t(std::min<uint64_t>(a->x64(), uint64_t(INT64_MAX)));
      return true;
    case pb::Attr::kSx32:
      *out = a->sx32();
      return true;
    case pb::Attr::kSx64:
      *out = a->sx64();
      return true;
    case pb::Attr::kF64:
      *out = float_attr(a->f64());
      return true;
    case pb::Attr::kF32:
      *out = float_attr(a->f32());
      return true;
    default:
      return false;
  }
}

bool attr_flag(const pb::TraceNode& n, const std::string& name, bool* out) {
  const pb::Attr* a = find_attr(n, name);
  if (!a || a->value_case() != pb::Attr::kFlag) return false;
  *out = a->flag();
  return true;
}

// ---- PyTorch shape and type strings -------------------------------------------------

// "[[32, 64, 56, 56], [[1, 2]], [], 3]" as a tree of lists and integers.
struct Node {
  bool is_list = false;
  int64_t value = 0;
  std::vector<Node> items;
};

bool parse_tree(const std::string& s, size_t& i, Node& out, int depth) {
  auto skip = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  skip();
  if (i >= s.size() || depth > 16) return false;
  if (s[i] == '[') {
    out.is_list = true;
    ++i;
    skip();
    if (i < s.size() && s[i] == ']') {
      ++i;
      return true;
    }
    while (true) {
      Node child;
      if (!parse_tree(s, i, child, depth + 1)) return false;
      out.items.push_back(std::move(child));
      skip();
      if (i >= s.size()) return false;
      if (s[i] == ',') {
        ++i;
        continue;
      }
      if (s[i] == ']') {
        ++i;
        return true;
      }
      return false;
    }
  }
  bool neg = s[i] == '-';
  if (neg) ++i;
  if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  int64_t v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (s[i++] - '0');
  }
  out.value = neg ? -v : v;
  return true;
}

std::vector<std::string> parse_types(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while ((i = s.find('\'', i)) != std::string::npos) {
    size_t j = s.find('\'', i + 1);
    if (j == std::string::npos) break;
    out.push_back(s.substr(i + 1, j - i - 1));
    i = j + 1;
  }
  return out;
}

struct Tensor {
  std::vector<int64_t> shape;
  int elem_bytes = 4;
  DType dtype = DType::kFp32;
  // Elements, 0 with an empty dimension; capped at 2^56 (the workload's bound).
  int64_t elements() const {
    int64_t e = 1;
    for (int64_t d : shape) {
      if (d <= 0) return 0;
      e = e <= kMaxCount / d ? e * d : kMaxCount;
    }
    return e;
  }
};

void type_of(const std::string& t, Tensor& x) {
  if (t.find("double") != std::string::npos || t.find("long") != std::string::npos) {
    x.elem_bytes = 8;
  } else if (t.find("Float8") != std::string::npos || t.find("float8") != std::string::npos) {
    x.elem_bytes = 1;
    x.dtype = DType::kFp8;
  } else if (t.find("Half") != std::string::npos || t.find("half") != std::string::npos ||
             t.find("BFloat16") != std::string::npos || t.find("short") != std::string::npos ||
             t.find("Short") != std::string::npos) {
    x.elem_bytes = 2;  // (a 16-bit integer is timed as a 2-byte type too)
    x.dtype = DType::kBf16;
  } else if (t.find("bool") != std::string::npos || t.find("char") != std::string::npos ||
             t.find("Byte") != std::string::npos) {
    x.elem_bytes = 1;
    x.dtype = DType::kInt8;
  }
}

bool flat_ints(const Node& n) {
  if (!n.is_list) return false;
  for (const auto& c : n.items)
    if (c.is_list) return false;
  return true;
}

// The tensors of an IOInfo, in order (lists of tensors are flattened).
std::vector<Tensor> tensors_of(const pb::Tensors& io) {
  std::vector<Tensor> out;
  Node root;
  size_t i = 0;
  if (io.shapes().empty() || !parse_tree(io.shapes(), i, root, 0) || !root.is_list) return out;
  auto types = parse_types(io.types());
  for (size_t k = 0; k < root.items.size(); ++k) {
    const std::string type = k < types.size() ? types[k] : "";
    if (type.find("Tensor") == std::string::npos) continue;
    auto add = [&](const Node& n) {
      Tensor t;
      for (const auto& c : n.items) t.shape.push_back(c.value);
      type_of(type, t);
      out.push_back(std::move(t));
    };
    const Node& item = root.items[k];
    if (flat_ints(item)) {
      add(item);
    } else if (item.is_list) {
      for (const auto& c : item.items)
        if (flat_ints(c)) add(c);
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains(const std::string& s, const char* what) {
  return s.find(what) != std::string::npos;
}

// ---- node -> op -------------------------------------------------------------------

const char* node_type_name(pb::Kind k) {
  switch (k) {
    case pb::KIND_METADATA:
      return "METADATA";
    case pb::KIND_MEM_LOAD:
      return "MEM_LOAD";
    case pb::KIND_MEM_STORE:
      return "MEM_STORE";
    case pb::KIND_COMP:
      return "COMP";
    case pb::KIND_SEND:
      return "COMM_SEND";
    case pb::KIND_RECV:
      return "COMM_RECV";
    case pb::KIND_COLLECTIVE:
      return "COMM_COLL";
    default:
      return "INVALID";
  }
}

std::optional<OpKind> collective_from_type(int64_t t) {
  switch (t) {
    case pb::COLL_ALL_REDUCE:
      return OpKind::kAllReduce;
    case pb::COLL_REDUCE:
      return OpKind::kReduce;
    case pb::COLL_ALL_GATHER:
      return OpKind::kAllGather;
    case pb::COLL_GATHER:
      return OpKind::kGather;
    case pb::COLL_SCATTER:
      return OpKind::kScatter;
    case pb::COLL_BROADCAST:
      return OpKind::kBroadcast;
    case pb::COLL_ALL_TO_ALL:
      return OpKind::kAllToAll;
    case pb::COLL_REDUCE_SCATTER:
    case pb::COLL_REDUCE_SCATTER_BLOCK:
      return OpKind::kReduceScatter;
    case pb::COLL_BARRIER:
      return OpKind::kBarrier;
    default:
      return std::nullopt;
  }
}

std::optional<OpKind> collective_from_name(const std::string& name) {
  const std::string n = lower(name);
  if (contains(n, "allreduce") || contains(n, "all_reduce")) return OpKind::kAllReduce;
  if (contains(n, "reducescatter") || contains(n, "reduce_scatter")) return OpKind::kReduceScatter;
  if (contains(n, "allgather") || contains(n, "all_gather")) return OpKind::kAllGather;
  if (contains(n, "alltoall") || contains(n, "all_to_all")) return OpKind::kAllToAll;
  if (contains(n, "broadcast")) return OpKind::kBroadcast;
  if (contains(n, "barrier")) return OpKind::kBarrier;
  if (contains(n, "gather")) return OpKind::kGather;
  if (contains(n, "scatter")) return OpKind::kScatter;
  if (contains(n, "reduce")) return OpKind::kReduce;
  return std::nullopt;
}

// Bytes of the tensors, held just above the workload's bound of 2^56 (so that validation
// refuses it) instead of overflowing: 32 tensors of 2^48 doubles came out as 0 bytes.
int64_t bytes_of(const std::vector<Tensor>& ts) {
  constexpr int64_t kOver = kMaxCount + 1;
  int64_t b = 0;
  // elements() is at most 2^56, so each term is at most 2^59 and the sum cannot overflow.
  for (const auto& t : ts) b = std::min(kOver, b + t.elements() * t.elem_bytes);
  return b;
}

// What a COMP node's shapes and argument list say it is. A convolution's arguments
// carry its stride, padding and dilation as integer lists after the tensors (so an
// elementwise op on two same-shaped 4-D tensors is not one); forward: input [N,C,H,W],
// weight [K,C/g,R,S], output [N,K,P,Q]; backward: grad_out [N,K,P,Q], input
// [N,C,H,W], weight [K,C/g,R,S].
enum class ConvSig { kNone, kForward, kBackward };

// A node's part in its convolution (found over the whole file, import_file): its
// signature, and how many GEMMs of the forward convolution's size it carries (a helper
// kernel none).
struct ConvRole {
  ConvSig sig = ConvSig::kNone;
  int gemms = 1;
};

bool positive(const Tensor& t) {
  for (int64_t d : t.shape)
    if (d <= 0) return false;
  return true;
}
bool dims(const Tensor& t, size_t r) {
  return t.shape.size() == r;
}

ConvSig conv_signature(const pb::TraceNode& n) {
  int lists = 0;
  for (const auto& t : parse_types(n.inputs().types())) lists += contains(t, "GenericList");
  if (lists < 2) return ConvSig::kNone;
  const auto in = tensors_of(n.inputs());
  const auto out = tensors_of(n.outputs());
  auto four = [](const Tensor& t) { return dims(t, 4) && positive(t); };
  // Grouped weights: K a multiple of the groups C / (C/g).
  auto weight_fits = [](const std::vector<int64_t>& x, const std::vector<int64_t>& wt) {
    return x[1] % wt[1] == 0 && wt[0] % (x[1] / wt[1]) == 0;
  };
  if (in.size() >= 3 && four(in[0]) && four(in[1]) && four(in[2])) {
    const auto &go = in[0].shape, &x = in[1].shape, &wt = in[2].shape;
    if (go[0] == x[0] && go[1] == wt[0] && weight_fits(x, wt)) return ConvSig::kBackward;
  }
  if (in.size() >= 2 && !out.empty() && four(in[0]) && four(in[1]) && four(out[0])) {
    const auto &x = in[0].shape, &wt = in[1].shape, &y = out[0].shape;
    if (y[0] == x[0] && y[1] == wt[0] && weight_fits(x, wt)) return ConvSig::kForward;
  }
  return ConvSig::kNone;
}

// A COMP node with no num_ops: a GEMM or convolution when its shapes say so, else an
// opaque op with one FLOP per output element and the bytes of its tensors. `conv`: its
// part in its convolution (a helper kernel, carrying no GEMM, is opaque).
void comp_from_shapes(const pb::TraceNode& n, Op& op, ChakraFileSummary& sum,
                      const ConvRole& conv) {
  const auto in = tensors_of(n.inputs());
  const auto out = tensors_of(n.outputs());
  const std::string name = lower(n.name());
  if (!in.empty()) op.dtype = in[0].dtype;
  const int conv_gemms = conv.gemms;
  const ConvSig sig = conv_gemms > 0 ? conv.sig : ConvSig::kNone;
  if (sig == ConvSig::kForward) {
    const auto &x = in[0].shape, &wt = in[1].shape, &y = out[0].shape;
    // (Shapes whose GEMM would pass the workload's 2^56 bound are not taken as one.)
    const double im2col = double(y[0]) * y[2] * y[3] * wt[1] * wt[2] * wt[3];
    if (im2col <= 0x1p56) {
      const int64_t g = x[1] / wt[1];
      op.kind = OpKind::kConv;
      op.m = y[0] * y[2] * y[3];
      op.n = wt[0] / g;
      op.k = wt[1] * wt[2] * wt[3];
      op.batch = g;
      op.weights = WeightOperand::kB;
      ++sum.shaped_gemms;
      return;
    }
  }
  // Backward: the data-gradient and weight-gradient GEMMs, each as large as the forward
  // one (over the kernels that carry them).
  if (sig == ConvSig::kBackward) {
    const auto &go = in[0].shape, &wt = in[2].shape;
    const double gemm = 2.0 * go[0] * go[2] * go[3] * wt[0] * wt[1] * wt[2] * wt[3];
    if (gemm * conv_gemms <= 0x1p56) {
      op.kind = OpKind::kOpaque;
      op.flops_given = int64_t(gemm) * conv_gemms;
      op.bytes_given = bytes_of(in) + bytes_of(out);
      return;
    }
  }
  const bool matmul_name = contains(name, "mm") || contains(name, "matmul") ||
                           contains(name, "linear") || contains(name, "gemm");
  if (matmul_name) {
    if (contains(name, "linear") && in.size() >= 2 && in[0].shape.size() >= 2 && dims(in[1], 2) &&
        positive(in[0]) && positive(in[1]) && in[0].shape.back() == in[1].shape[1]) {
      op.kind = OpKind::kGemm;
      op.m = in[0].elements() / in[0].shape.back();
      op.n = in[1].shape[0];
      op.k = in[1].shape[1];
      op.weights = WeightOperand::kB;
      ++sum.shaped_gemms;
      return;
    }
    for (size_t i = 0; i + 1 < in.size(); ++i) {
      const auto &a = in[i].shape, &b = in[i + 1].shape;
      if (!positive(in[i]) || !positive(in[i + 1])) continue;
      if (a.size() == 2 && b.size() == 2 && a[1] == b[0]) {
        op.kind = OpKind::kGemm;
        op.m = a[0];
        op.n = b[1];
        op.k = a[1];
        ++sum.shaped_gemms;
        return;
      }
      if (a.size() == 3 && b.size() == 3 && a[0] == b[0] && a[2] == b[1]) {
        op.kind = OpKind::kBatchedGemm;
        op.batch = a[0];
        op.m = a[1];
        op.n = b[2];
        op.k = a[2];
        ++sum.shaped_gemms;
        return;
      }
    }
  }
  op.kind = OpKind::kOpaque;
  int64_t elems = 0;
  for (const auto& t : out.empty() ? in : out) elems = std::max(elems, t.elements());
  op.flops_given = elems;
  op.bytes_given = bytes_of(in) + bytes_of(out);
}

// ---- files ------------------------------------------------------------------------

bool read_varint(const std::string& buf, size_t& pos, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= buf.size()) return false;
    const uint8_t c = uint8_t(buf[pos++]);
    v |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

struct RankFile {
  std::string path;
  int64_t rank = -1;   // as the file name says (else its place in the sorted list)
  int64_t index = -1;  // its rank in the workload: its place among the files imported
};

std::vector<RankFile> collect(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(in, ec))
        if (e.path().extension() == ".et") found.push_back(e.path().string());
      if (found.empty()) throw sim::UserError(in + ": no .et files in this folder");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(in, ec)) {
      files.push_back(in);
    } else {
      throw sim::UserError(in + ": no such file or folder");
    }
  }
  if (files.empty()) throw sim::UserError("tessera trace import-chakra: no input files");
  std::vector<RankFile> out;
  static const std::regex rank_re(R"(\.([0-9]{1,6})\.et$)");
  bool all_named = true;
  for (const auto& f : files) {
    std::smatch m;
    RankFile rf{f, -1};
    if (std::regex_search(f, m, rank_re))
      rf.rank = std::stoll(m[1]);
    else
      all_named = false;
    out.push_back(rf);
  }
  if (all_named) {
    std::sort(out.begin(), out.end(),
              [](const RankFile& a, const RankFile& b) { return a.rank < b.rank; });
  } else {
    for (size_t i = 0; i < out.size(); ++i) out[i].rank = int64_t(i);
  }
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i].rank == out[i - 1].rank)
      throw sim::UserError(out[i].path + ": rank " + std::to_string(out[i].rank) +
                           " also given by " + out[i - 1].path);
  for (size_t i = 0; i < out.size(); ++i) out[i].index = int64_t(i);
  return out;
}

// `index_of`: a file's rank as named -> its rank in the workload.
void import_file(const RankFile& rf, int64_t group, const std::map<int64_t, int64_t>& index_of,
                 Workload& w, ChakraFileSummary& sum) {
  const std::string buf = sim::read_file(rf.path);
  sum.file = rf.path;
  sum.rank = rf.rank;
  sum.imported_rank = rf.index;
  size_t pos = 0;
  int64_t record = 0;
  std::vector<pb::TraceNode> nodes;
  while (pos < buf.size()) {
    const size_t at = pos;
    uint64_t len = 0;
    if (!read_varint(buf, pos, &len) || len > buf.size() - pos)
      throw sim::UserError(fmt::format(
          "{}: record {} at byte {}: bad length prefix (not a Chakra ET file, or truncated)",
          rf.path, record, at));
    if (record == 0) {
      pb::TraceHeader h;
      if (!h.ParseFromArray(buf.data() + pos, int(len)))
        throw sim::UserError(fmt::format("{}: the metadata record does not decode", rf.path));
      sum.schema = h.version();
      for (const auto& a : h.attrs())
        if (a.name() == "schema" && a.value_case() == pb::Attr::kText) sum.schema = a.text();
    } else {
      pb::TraceNode n;
      if (!n.ParseFromArray(buf.data() + pos, int(len)))
        throw sim::UserError(
            fmt::format("{}: record {} at byte {}: node does not decode", rf.path, record, at));
      nodes.push_back(std::move(n));
    }
    pos += len;
    ++record;
  }
  if (record == 0) throw sim::UserError(rf.path + ": empty file (no Chakra metadata record)");
  sum.nodes = int64_t(nodes.size());

  // When the trace holds GPU kernels, its CPU-side ops only launched them: they keep
  // their place in the graph but carry no work, so nothing is counted twice.
  bool has_device_nodes = false;
  for (const auto& n : nodes) {
    bool cpu = true;
    if (attr_flag(n, "is_cpu_op", &cpu) && !cpu) has_device_nodes = true;
  }
  // A convolution appears as several nodes with the same shapes: the CPU op split at
  // each launch (`aten::conv2d(0)`, `(1)`, ...) and, in a trace of GPU kernels, the
  // kernels cuDNN ran for it (offset and Winograd-transform helpers beside the GEMM
  // kernels), each carrying the convolution's shapes. Its work is counted once per run
  // of consecutive such nodes (CPU ops between kernels do not break a run): a forward
  // run's longest kernel carries the convolution; a backward run's two longest carry
  // one GEMM each (data and weight gradient; a first layer has only the latter, and
  // one kernel); the others none. Without GPU kernels the CPU op's run (from its `(0)`
  // node) carries the convolution (backward: both GEMMs) on its longest node.
  std::vector<ConvRole> conv(nodes.size());
  {
    std::string run_key;
    std::vector<size_t> run;
    auto close = [&]() {
      if (run.empty()) return;
      // Longest first; equal durations keep file order.
      std::vector<size_t> by_time = run;
      std::stable_sort(by_time.begin(), by_time.end(), [&](size_t a, size_t b) {
        return nodes[a].duration_us() > nodes[b].duration_us();
      });
      const bool backward = conv[run[0]].sig == ConvSig::kBackward;
      for (size_t i : run) conv[i].gemms = 0;
      if (!has_device_nodes)
        conv[by_time[0]].gemms = backward ? 2 : 1;
      else
        for (size_t k = 0; k < by_time.size() && k < (backward ? 2u : 1u); ++k)
          conv[by_time[k]].gemms = 1;
      run.clear();
      run_key.clear();
    };
    for (size_t i = 0; i < nodes.size(); ++i) {
      const auto& n = nodes[i];
      bool cpu = false;
      if (has_device_nodes && attr_flag(n, "is_cpu_op", &cpu) && cpu) continue;
      int64_t v = 0;
      const ConvSig sig = n.kind() == pb::KIND_COMP && !attr_int(n, "num_ops", &v)
                              ? conv_signature(n)
                              : ConvSig::kNone;
      conv[i].sig = sig;
      if (sig == ConvSig::kNone) {
        close();
        continue;
      }
      const std::string key = std::to_string(int(sig)) + n.inputs().shapes() + "|" +
                              n.outputs().shapes() + "|" + n.inputs().types();
      const std::string nm = n.name();
      const bool starts_op =
          !has_device_nodes && nm.size() >= 3 && nm.compare(nm.size() - 3, 3, "(0)") == 0;
      if (key != run_key || starts_op) close();
      run_key = key;
      run.push_back(i);
    }
    close();
  }
  std::set<uint64_t> ids;
  for (const auto& n : nodes)
    if (!ids.insert(n.id()).second)
      throw sim::UserError(fmt::format("{}: node id {} appears twice", rf.path, n.id()));
  auto op_name = [&](uint64_t id) { return fmt::format("r{}.n{}", rf.index, id); };

  // Data deps first (they form a DAG in the traces seen); then ctrl deps, except those
  // that would close a cycle (PyTorch-derived traces link a CPU op and its kernel both
  // ways) -- ASTRA-sim's feeder likewise orders nodes by their data deps.
  std::map<uint64_t, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) index[nodes[i].id()] = i;
  std::vector<std::vector<size_t>> deps(nodes.size()), users(nodes.size());
  auto resolve = [&](size_t i, uint64_t id) -> std::optional<size_t> {
    auto it = index.find(id);
    if (id == nodes[i].id() || it == index.end()) {
      ++sum.dropped_deps;
      return std::nullopt;
    }
    if (std::find(deps[i].begin(), deps[i].end(), it->second) != deps[i].end())
      return std::nullopt;  // already a dep
    return it->second;
  };
  auto link = [&](size_t i, size_t d) {
    deps[i].push_back(d);
    users[d].push_back(i);
  };
  for (size_t i = 0; i < nodes.size(); ++i)
    for (uint64_t d : nodes[i].data_deps())
      if (auto j = resolve(i, d)) link(i, *j);
  // A topological order of the data deps (file order where free).
  std::vector<size_t> ord(nodes.size(), 0);
  {
    std::vector<size_t> pending(nodes.size(), 0);
    for (size_t i = 0; i < nodes.size(); ++i) pending[i] = deps[i].size();
    std::set<size_t> ready;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (!pending[i]) ready.insert(i);
    size_t next = 0;
    while (!ready.empty()) {
      size_t u = *ready.begin();
      ready.erase(ready.begin());
      ord[u] = next++;
      for (size_t v : users[u])
        if (--pending[v] == 0) ready.insert(v);
    }
    if (next != nodes.size())
      throw sim::UserError(rf.path + ": the data dependencies form a cycle");
  }
  // Ctrl deps in file order, the order kept topological as each is added (Pearce and
  // Kelly's online algorithm: only the nodes between the two ends are visited and
  // renumbered). One that points forward in the order is dropped (and counted) only
  // when its node already reaches it, i.e. when it would close a cycle.
  std::vector<uint32_t> seen(nodes.size(), 0);
  uint32_t stamp = 0;
  std::vector<size_t> fwd, back, stack;
  // Depth first from `from` over `adj`, through the nodes `within` admits (each once per
  // stamp), into `out`; false when it reaches `stop`.
  auto search = [&](size_t from, const std::vector<std::vector<size_t>>& adj, auto within,
                    size_t stop, std::vector<size_t>& out) {
    out.clear();
    stack.assign(1, from);
    seen[from] = stamp;
    while (!stack.empty()) {
      const size_t u = stack.back();
      stack.pop_back();
      if (u == stop) return false;
      out.push_back(u);
      for (size_t v : adj[u])
        if (seen[v] != stamp && within(v)) {
          seen[v] = stamp;
          stack.push_back(v);
        }
    }
    return true;
  };
  // Adds "i after d"; false when d already depends on i.
  auto add_ordered = [&](size_t i, size_t d) {
    if (ord[d] < ord[i]) {
      link(i, d);
      return true;
    }
    const size_t lo = ord[i], hi = ord[d];
    ++stamp;
    // What follows i up to d's place (reaching d: a cycle), what precedes d down to i's.
    auto up_to_d = [&](size_t v) { return ord[v] <= hi; };
    auto down_to_i = [&](size_t v) { return ord[v] > lo; };
    if (!search(i, users, up_to_d, d, fwd)) return false;
    search(d, deps, down_to_i, SIZE_MAX, back);
    // The places of both sets, d's side first, each in its old order.
    auto by_ord = [&](size_t a, size_t b) { return ord[a] < ord[b]; };
    std::sort(fwd.begin(), fwd.end(), by_ord);
    std::sort(back.begin(), back.end(), by_ord);
    std::vector<size_t> places;
    for (size_t u : back) places.push_back(ord[u]);
    for (size_t u : fwd) places.push_back(ord[u]);
    std::sort(places.begin(), places.end());
    size_t k = 0;
    for (size_t u : back) ord[u] = places[k++];
    for (size_t u : fwd) ord[u] = places[k++];
    link(i, d);
    return true;
  };
  for (size_t i = 0; i < nodes.size(); ++i)
    for (uint64_t c : nodes[i].ctrl_deps())
      if (auto j = resolve(i, c))
        if (!add_ordered(i, *j)) ++sum.cyclic_ctrl_deps;

  int64_t rec = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    ++rec;
    const std::string where = fmt::format("{}: record {} (node {})", rf.path, rec, n.id());
    // A count attribute: refused when negative, not a number or beyond int64 (until the
    // twelfth session each became 0 without a word).
    auto count = [&where](int64_t v, const char* attr) {
      if (v < 0)
        throw sim::UserError(where + ": " + attr + " is not a count (negative, NaN or too large)");
      return v;
    };
    ++sum.node_types[node_type_name(n.kind())];
    Op op;
    op.name = op_name(n.id());
    op.rank = rf.index;
    op.dtype = DType::kFp32;
    for (size_t d : deps[i]) op.deps.push_back(op_name(nodes[d].id()));

    bool cpu = false;
    const bool host = has_device_nodes && attr_flag(n, "is_cpu_op", &cpu) && cpu;
    int64_t v = 0;
    if (host) {
      op.kind = OpKind::kOpaque;
      ++sum.host_nodes;
    } else {
      switch (n.kind()) {
        case pb::KIND_COMP:
          if (attr_int(n, "num_ops", &v)) {
            op.kind = OpKind::kOpaque;
            op.flops_given = count(v, "num_ops");
            if (attr_int(n, "tensor_size", &v)) op.bytes_given = count(v, "tensor_size");
          } else {
            comp_from_shapes(n, op, sum, conv[i]);
          }
          break;
        case pb::KIND_COLLECTIVE: {
          std::optional<OpKind> k;
          if (attr_int(n, "comm_type", &v)) {
            k = collective_from_type(v);
            if (!k) throw sim::UserError(where + ": unknown comm_type " + std::to_string(v));
          } else {
            k = collective_from_name(n.name());
          }
          if (!k)
            throw sim::UserError(where + ": collective node without comm_type, and its name '" +
                                 printable(n.name()) + "' names no collective");
          op.kind = *k;
          const auto in = tensors_of(n.inputs());
          if (!in.empty()) op.dtype = in[0].dtype;  // the reduction's element type
          if (attr_int(n, "comm_size", &v))
            op.bytes = count(v, "comm_size");
          else
            op.bytes = bytes_of(in);
          // An all-gather's comm_size is each rank's contribution (ASTRA-sim gathers
          // comm_size from every rank); Tessera's `bytes` is the gathered result.
          if (op.kind == OpKind::kAllGather && group > 1)
            op.bytes = op.bytes <= (int64_t(1) << 62) / group ? op.bytes * group : int64_t(1) << 62;
          op.group = group;
          break;
        }
        case pb::KIND_SEND:
        case pb::KIND_RECV: {
          const bool send = n.kind() == pb::KIND_SEND;
          op.kind = send ? OpKind::kSend : OpKind::kRecv;
          const auto in = tensors_of(n.inputs());
          if (!in.empty()) op.dtype = in[0].dtype;
          if (attr_int(n, "comm_size", &v)) op.bytes = count(v, "comm_size");
          if (!attr_int(n, send ? "comm_dst" : "comm_src", &v) || v < 0)
            throw sim::UserError(
                where + (send ? ": send node without comm_dst" : ": recv node without comm_src"));
          // Peers are ranks as the files are named; a subset of a run's files (x.2.et,
          // x.3.et) is renumbered from 0, and a peer must be among them.
          auto peer = index_of.find(v);
          if (peer == index_of.end())
            throw sim::UserError(where + (send ? ": sends to rank " : ": receives from rank ") +
                                 std::to_string(v) + ", whose file is not among those imported");
          op.peer = peer->second;
          break;
        }
        case pb::KIND_MEM_LOAD:
        case pb::KIND_MEM_STORE:
          op.kind = OpKind::kOpaque;
          if (attr_int(n, "tensor_size", &v)) op.bytes_given = count(v, "tensor_size");
          break;
        default:
          op.kind = OpKind::kOpaque;
          break;
      }
    }
    ++sum.op_kinds[to_string(op.kind)];
    w.add(std::move(op), where);
  }
}

}  // namespace

Workload import_chakra(const std::vector<std::string>& inputs, const ChakraImportOptions& opt,
                       std::vector<ChakraFileSummary>* summary) {
  const auto files = collect(inputs);
  // A collective runs among its group's ranks, and only the files imported are ranks
  // of the workload: a larger group would make a trace that no run accepts.
  if (opt.group < 0)
    throw sim::UserError(
        fmt::format("tessera trace import-chakra: --group {} is negative", opt.group));
  if (opt.group > int64_t(files.size()))
    throw sim::UserError(fmt::format(
        "tessera trace import-chakra: --group {} is larger than the {} rank file{} imported "
        "(a collective runs among its group's ranks: import each of them)",
        opt.group, files.size(), files.size() == 1 ? "" : "s"));
  const int64_t group = opt.group > 0 ? opt.group : int64_t(files.size());
  Workload w;
  w.meta["source"] = "chakra";
  w.meta["ranks"] = std::to_string(files.size());
  std::vector<ChakraFileSummary> sums;
  std::map<int64_t, int64_t> index_of;
  for (const auto& f : files) index_of[f.rank] = f.index;
  for (const auto& f : files) {
    sums.emplace_back();
    import_file(f, group, index_of, w, sums.back());
  }
  if (!sums.empty() && !sums[0].schema.empty()) {
    // A meta value is one field of a .tsr line: no spaces, '#', control characters or
    // bytes outside ASCII (a schema of "1.0 beta#x" made a trace that did not read back).
    std::string schema = sums[0].schema.substr(0, 200);
    for (char& c : schema)
      if (std::isspace(static_cast<unsigned char>(c)) ||
          std::iscntrl(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 127 ||
          c == '#' || c == '=')
        c = '_';
    w.meta["chakra_schema"] = schema;
  }
  w.validate();
  if (summary) *summary = std::move(sums);
  return w;
}

}  // namespace tessera::traces
