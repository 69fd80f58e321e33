#include "traces/trace_format.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "models/sim/resources.h"

namespace tessera::traces {

namespace {

struct Field {
  std::string key, value;
};

class LineError {
 public:
  LineError(const std::string& file, size_t line) : where_(fmt::format("{}:{}", file, line)) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw sim::UserError(where_ + ": " + what);
  }
  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

// Keep messages one printable line, whatever bytes the file held.
std::string shown(const std::string& s) {
  return printable(s);
}

// "a gemm op", "an allreduce op".
std::string an_op(OpKind kind) {
  const std::string k = to_string(kind);
  return (std::string("aeiou").find(k[0]) != std::string::npos ? "an " : "a ") + k + " op";
}

int64_t parse_int(const LineError& e, const std::string& key, const std::string& v) {
  if (v.empty()) e.fail("'" + key + "' has no value");
  int64_t x = 0;
  for (char c : v) {
    if (c < '0' || c > '9')
      e.fail("'" + key + "=" + shown(v) + "': expected a non-negative integer");
    x = x * 10 + (c - '0');
    if (x > kMaxCount) e.fail("'" + key + "=" + shown(v) + "': value too large (above 2^56)");
  }
  return x;
}

std::vector<std::string> split_list(const LineError& e, const std::string& key,
                                    const std::string& v) {
  std::vector<std::string> out;
  if (v.empty()) e.fail("'" + key + "' has no value");
  size_t start = 0;
  while (true) {
    size_t comma = v.find(',', start);
    std::string item =
        v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) e.fail("'" + key + "=" + shown(v) + "': empty item in the list");
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<int64_t> parse_int_list(const LineError& e, const std::string& key,
                                    const std::string& v) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(e, key, v)) out.push_back(parse_int(e, key, item));
  return out;
}

std::vector<std::string> tokenize(const std::string& line) {
  std::vector<std::string> toks;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) toks.push_back(line.substr(i, j - i));
    i = j;
  }
  return toks;
}

bool is_key(const std::string& k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// The meta keys the report and mapper read as numbers: a whole number in range, or the
// line is refused (until the twelfth session `tp=-2`, `ranks=abc` and `dp=4294967296`
// were taken, read as the default, or wrapped).
void check_meta_number(const LineError& e, const Field& f) {
  struct Range {
    const char* key;
    int64_t lo, hi;
  };
  static const Range ranges[] = {
      {"ranks", 1, kMaxRanks},      {"world", 1, kMaxRanks},  {"tp", 1, kMaxRanks},
      {"pp", 1, kMaxRanks},         {"dp", 1, kMaxRanks},     {"ep", 1, kMaxRanks},
      {"rank", 0, kMaxRanks - 1},   {"layers", 1, kMaxRanks}, {"batch", 1, kMaxCount},
      {"rank_batch", 1, kMaxCount}, {"seq", 1, kMaxCount},    {"context", 1, kMaxCount},
      {"tokens", 0, kMaxCount},     {"past", 0, kMaxCount},   {"decode_batch", 0, kMaxCount},
      {"hidden", 1, kMaxCount}};
  for (const Range& r : ranges) {
    if (f.key != r.key) continue;
    const bool digits =
        !f.value.empty() && f.value.size() <= 18 &&
        std::all_of(f.value.begin(), f.value.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int64_t v = digits ? std::stoll(f.value) : -1;
    if (!digits || v < r.lo || v > r.hi)
      e.fail(fmt::format("meta {}={}: must be a whole number in [{}, {}]", f.key, shown(f.value),
                         r.lo, r.hi));
  }
}

std::vector<Field> parse_fields(const LineError& e, const std::vector<std::string>& toks,
                                size_t from) {
  std::vector<Field> fields;
  std::set<std::string> seen;
  for (size_t i = from; i < toks.size(); ++i) {
    size_t eq = toks[i].find('=');
    if (eq == std::string::npos) e.fail("'" + shown(toks[i]) + "': expected key=value");
    Field f{toks[i].substr(0, eq), toks[i].substr(eq + 1)};
    if (!is_key(f.key)) e.fail("'" + shown(toks[i]) + "': bad key (use a-z, 0-9, _)");
    if (!seen.insert(f.key).second) e.fail("key '" + f.key + "' given twice");
    if (f.value.empty()) e.fail("key '" + f.key + "' has no value");
    fields.push_back(std::move(f));
  }
  return fields;
}

// The keys each op class accepts, beyond the common ones.
bool key_allowed(OpKind kind, const std::string& key) {
  static const std::set<std::string> common = {"dtype", "deps", "layer", "phase", "rank"};
  if (common.count(key)) return true;
  switch (op_class(kind)) {
    case OpClass::kMatrix:
      if (kind == OpKind::kExpert)
        return key == "m" || key == "n" || key == "k" || key == "experts" || key == "dist";
      if (kind == OpKind::kMoeGate) return key == "m" || key == "n" || key == "k" || key == "topk";
      if (key == "m" || key == "n" || key == "k" || key == "batch" || key == "weights" ||
          key == "tied")
        return true;
      return (kind == OpKind::kQk || kind == OpKind::kAv) &&
             (key == "kv_bytes" || key == "causal" || key == "past");
    case OpClass::kVector:
      if (kind == OpKind::kEmbedding) return key == "tokens" || key == "dim" || key == "vocab";
      // Only an elementwise op reads several input tensors (the docs' table).
      return key == "elems" || (key == "inputs" && kind == OpKind::kElementwise);
    case OpClass::kOpaque:
      return key == "flops" || key == "bytes";
    case OpClass::kCollective:
      return key == "bytes" || key == "group" || key == "ranks";
    case OpClass::kPointToPoint:
      return key == "bytes" || key == "peer";
  }
  return false;
}

// Keys an op cannot do without (checked so the message names the missing key).
std::vector<const char*> required_keys(OpKind kind) {
  switch (op_class(kind)) {
    case OpClass::kMatrix:
      if (kind == OpKind::kExpert) return {"m", "n", "k", "experts", "dist"};
      if (kind == OpKind::kMoeGate) return {"m", "n", "k", "topk"};
      return {"m", "n", "k"};
    case OpClass::kVector:
      if (kind == OpKind::kEmbedding) return {"tokens", "dim", "vocab"};
      return {"elems"};
    case OpClass::kOpaque:
      return {"flops", "bytes"};
    case OpClass::kCollective:
      return {"bytes", "group"};
    case OpClass::kPointToPoint:
      return {"bytes", "peer"};
  }
  return {};
}

Op parse_op(const LineError& e, OpKind kind, const std::vector<std::string>& toks) {
  if (toks.size() < 2) e.fail(std::string("'") + to_string(kind) + "' needs an op name");
  Op op;
  op.kind = kind;
  op.name = toks[1];
  if (op.name.find('=') != std::string::npos)
    e.fail("'" + shown(op.name) + "': the op name comes before the key=value fields");
  auto fields = parse_fields(e, toks, 2);
  std::set<std::string> given;
  for (const auto& f : fields) {
    if (!key_allowed(kind, f.key)) e.fail("key '" + f.key + "' does not apply to " + an_op(kind));
    given.insert(f.key);
    const auto& k = f.key;
    const auto& v = f.value;
    if (k == "dtype") {
      auto t = dtype_from_string(v);
      if (!t) e.fail("dtype '" + shown(v) + "': expected fp32, bf16, fp8 or int8");
      op.dtype = *t;
    } else if (k == "deps") {
      op.deps = split_list(e, k, v);
    } else if (k == "layer") {
      op.layer = parse_int(e, k, v);
    } else if (k == "phase") {
      if (v != "prefill" && v != "decode")
        e.fail("phase '" + shown(v) + "': expected prefill or decode");
      op.phase = v;
    } else if (k == "rank") {
      op.rank = parse_int(e, k, v);
    } else if (k == "m" || k == "tokens") {
      op.m = parse_int(e, k, v);
    } else if (k == "n" || k == "dim") {
      op.n = parse_int(e, k, v);
    } else if (k == "k") {
      op.k = parse_int(e, k, v);
    } else if (k == "batch") {
      op.batch = parse_int(e, k, v);
    } else if (k == "weights") {
      auto w = weight_operand_from_string(v);
      if (!w) e.fail("weights '" + shown(v) + "': expected a, b or none");
      op.weights = *w;
    } else if (k == "kv_bytes") {
      op.kv_bytes = parse_int(e, k, v);
    } else if (k == "causal") {
      if (v != "0" && v != "1") e.fail("causal '" + shown(v) + "': expected 0 or 1");
      op.causal = v == "1";
    } else if (k == "past") {
      op.past = parse_int(e, k, v);
    } else if (k == "tied") {
      op.tied = v;
    } else if (k == "elems") {
      op.elems = parse_int(e, k, v);
    } else if (k == "inputs") {
      op.inputs = parse_int(e, k, v);
    } else if (k == "vocab") {
      op.vocab = parse_int(e, k, v);
    } else if (k == "experts") {
      op.experts = parse_int(e, k, v);
    } else if (k == "topk") {
      op.topk = parse_int(e, k, v);
    } else if (k == "dist") {
      op.tokens_per_expert = parse_int_list(e, k, v);
    } else if (k == "flops") {
      op.flops_given = parse_int(e, k, v);
    } else if (k == "bytes") {
      if (op_class(kind) == OpClass::kOpaque)
        op.bytes_given = parse_int(e, k, v);
      else
        op.bytes = parse_int(e, k, v);
    } else if (k == "group") {
      op.group = parse_int(e, k, v);
    } else if (k == "ranks") {
      op.ranks = parse_int_list(e, k, v);
    } else if (k == "peer") {
      op.peer = parse_int(e, k, v);
    }
  }
  for (const char* req : required_keys(kind))
    if (!given.count(req)) e.fail(an_op(kind) + " needs '" + req + "='");
  return op;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

Workload parse_trace(const std::string& text, const std::string& file) {
  Workload w;
  bool header = false;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    LineError e(file, line_no);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    for (unsigned char c : line)
      if ((c < ' ' && c != '\t') || c == 127) e.fail("control character in the line");
    auto toks = tokenize(line);
    if (toks.empty()) continue;
    if (!header) {
      if (toks[0] != kTraceMagic)
        e.fail(std::string("expected the header '") + kTraceMagic + " " +
               std::to_string(kTraceFormatVersion) + "' before anything else");
      if (toks.size() != 2) e.fail("the header is 'tessera-trace <version>'");
      if (toks[1] != std::to_string(kTraceFormatVersion))
        e.fail("unsupported trace format version '" + shown(toks[1]) + "' (this build reads " +
               std::to_string(kTraceFormatVersion) + ")");
      header = true;
      continue;
    }
    if (toks[0] == kTraceMagic) e.fail("a second header line");
    if (toks[0] == "meta") {
      for (auto& f : parse_fields(e, toks, 1)) {
        if (w.meta.count(f.key)) e.fail("meta key '" + f.key + "' given twice");
        check_meta_number(e, f);
        w.meta[f.key] = f.value;
      }
      continue;
    }
    auto kind = op_kind_from_string(toks[0]);
    if (!kind) e.fail("unknown op kind '" + shown(toks[0]) + "'");
    w.add(parse_op(e, *kind, toks), e.where());
  }
  if (!header)
    throw sim::UserError(file + ":" + std::to_string(std::max<size_t>(1, line_no)) +
                         ": empty trace (no 'tessera-trace 1' header)");
  w.validate();
  return w;
}

std::string write_trace(const Workload& w) {
  std::ostringstream os;
  os << kTraceMagic << " " << kTraceFormatVersion << "\n";
  if (!w.meta.empty()) {
    os << "meta";
    for (const auto& [k, v] : w.meta) os << " " << k << "=" << v;
    os << "\n";
  }
  for (const auto& op : w.ops()) {
    os << to_string(op.kind) << " " << op.name;
    switch (op_class(op.kind)) {
      case OpClass::kMatrix:
        os << " m=" << op.m << " n=" << op.n << " k=" << op.k;
        if (op.kind == OpKind::kMoeGate) {
          os << " topk=" << op.topk;
        } else if (op.kind == OpKind::kExpert) {
          os << " experts=" << op.experts << " dist=" << join(op.tokens_per_expert);
        } else {
          if (op.batch != 1) os << " batch=" << op.batch;
          if (op.weights != WeightOperand::kNone) os << " weights=" << to_string(op.weights);
          if (op.kv_bytes) os << " kv_bytes=" << op.kv_bytes;
          if (op.causal) os << " causal=1";
          if (op.past) os << " past=" << op.past;
          if (!op.tied.empty()) os << " tied=" << op.tied;
        }
        break;
      case OpClass::kVector:
        if (op.kind == OpKind::kEmbedding) {
          os << " tokens=" << op.m << " dim=" << op.n << " vocab=" << op.vocab;
        } else {
          os << " elems=" << op.elems;
          if (op.kind == OpKind::kElementwise && op.inputs != 1) os << " inputs=" << op.inputs;
        }
        break;
      case OpClass::kOpaque:
        os << " flops=" << op.flops_given << " bytes=" << op.bytes_given;
        break;
      case OpClass::kCollective:
        os << " bytes=" << op.bytes << " group=" << op.group;
        if (!op.ranks.empty()) os << " ranks=" << join(op.ranks);
        break;
      case OpClass::kPointToPoint:
        os << " bytes=" << op.bytes << " peer=" << op.peer;
        break;
    }
    os << " dtype=" << to_string(op.dtype);
    if (!op.deps.empty()) os << " deps=" << join(op.deps);
    if (op.layer >= 0) os << " layer=" << op.layer;
    if (!op.phase.empty()) os << " phase=" << op.phase;
    if (op.rank != 0) os << " rank=" << op.rank;
    os << "\n";
  }
  return os.str();
}

Workload load_trace(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    for (const std::string& key : {path, "traces/examples/" + path + ".tsr"})
      if (const std::string* text = sim::find_resource(key))
        return parse_trace(*text, "builtin:" + key);
  }
  return parse_trace(sim::read_file(path), path);
}

}  // namespace tessera::traces
