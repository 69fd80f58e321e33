#include "models/sim/config_schema.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tessera::sim {

std::string format_double(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    std::ostringstream s;
    s << static_cast<long long>(v);
    return s.str();
  }
  for (int prec = 6; prec <= 17; ++prec) {
    std::ostringstream s;
    s.precision(prec);
    s << v;
    if (std::stod(s.str()) == v) return s.str();
  }
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

namespace {
// A value given on the command line (--set) carries this tag, followed by the
// argument, so that an error in it names the argument rather than a file position.
constexpr const char* kSetTag = "tag:tessera,set:";

// Tags `n` and everything below it (keys too) as coming from the argument `arg`. A node
// met again through an alias is tagged already and not walked again, so a value that
// shares a node or is a cycle of aliases (`&a [*a]`) is walked once.
void tag_as_set(YAML::Node n, const std::string& arg) {
  const std::string tag = kSetTag + arg;
  if (n.Tag() == tag) return;
  n.SetTag(tag);
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      YAML::Node key = it->first;
      key.SetTag(tag);
      tag_as_set(it->second, arg);
    }
  }
  if (n.IsSequence())
    for (size_t i = 0; i < n.size(); ++i) tag_as_set(n[i], arg);
}

// The key of a --set argument's tag ("a.b=v" -> "a.b"); empty if `tag` is not one.
std::string set_key(const std::string& tag) {
  if (tag.rfind(kSetTag, 0) != 0) return {};
  const std::string arg = tag.substr(std::strlen(kSetTag));
  return arg.substr(0, arg.find('='));
}

std::string where(const std::string& file, const YAML::Mark& m) {
  if (m.is_null() || m.line < 0) return file + ": ";
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

// Levenshtein distance, for "did you mean" on unknown keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string show(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}
}  // namespace

YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(where(file, e.mark) + "yaml: " + e.msg);
  }
}

YAML::Node load_yaml_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml(ss.str(), path);
}

void set_yaml_path(YAML::Node& root, const std::string& dotted_key, const std::string& value_text) {
  if (dotted_key.empty()) throw ConfigError("--set: empty key");
  std::vector<std::string> parts;
  std::stringstream ss(dotted_key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw ConfigError("--set: " + dotted_key + ": empty key segment");
    parts.push_back(p);
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  const std::string arg = dotted_key + "=" + value_text;
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node cur = chain.back();
    if (!cur.IsMap())
      throw ConfigError("--set: " + dotted_key + ": " +
                        (i == 0 ? std::string("the config") : "'" + parts[i - 1] + "'") +
                        " is not a mapping");
    YAML::Node next = cur[parts[i]];
    if (!next || next.IsNull()) {
      YAML::Node made(YAML::NodeType::Map);
      made.SetTag(kSetTag + arg);
      cur[parts[i]] = made;
      next = cur[parts[i]];
    }
    chain.push_back(next);
  }
  YAML::Node parent = chain.back();
  if (!parent.IsMap()) throw ConfigError("--set: " + dotted_key + ": parent is not a mapping");
  YAML::Node value = parse_yaml(value_text, "--set " + arg);
  if (!value.IsDefined() || value.IsNull()) value = YAML::Node(YAML::NodeType::Null);  // `k=`
  tag_as_set(value, arg);
  parent[parts.back()] = value;
}

void ConfigLoader::fail(const YAML::Node& at, const std::string& keypath,
                        const std::string& what) const {
  YAML::Mark m = YAML::Mark::null_mark();
  if (at) m = at.Mark();
  // A value that came from --set is named by its argument, when the key in question is
  // on the argument's path (a rule about another key of a section the argument made
  // points at the file).
  const std::string tag = at ? at.Tag() : std::string();
  const std::string key = set_key(tag);
  auto on_path = [](const std::string& a, const std::string& b) {  // a is b or above it
    return b.compare(0, a.size(), a) == 0 &&
           (b.size() == a.size() || b[a.size()] == '.' || b[a.size()] == '[');
  };
  if (!key.empty() && (on_path(key, keypath) || on_path(keypath, key))) {
    const std::string arg = tag.substr(std::strlen(kSetTag));
    throw ConfigError("--set " + arg + ": " + (key == keypath ? "" : keypath + ": ") + what);
  }
  throw ConfigError(where(file_, m) + (keypath.empty() ? "(top level)" : keypath) + ": " + what);
}

void ConfigLoader::require_map() const {
  if (!node_ || node_.IsNull()) return;  // an empty section: everything defaulted
  if (!node_.IsMap()) fail(node_, path_, "expected a mapping of keys, got " + show(node_));
}

void ConfigLoader::reject_unknown_keys() const {
  if (!node_ || !node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    if (std::find(seen_.begin(), seen_.end(), k) != seen_.end()) continue;
    // Every declared key that was present was recorded in seen_; what is left is unknown.
    std::string what = "unknown key";
    std::string best;
    size_t best_d = 3;  // suggest only close spellings
    for (const auto& d : declared_) {
      const size_t dist = edit_distance(k, d);
      if (dist < best_d) best_d = dist, best = d;
    }
    if (!best.empty()) what += " (did you mean '" + best + "'?)";
    // A key added by set_yaml_path has no tag or position of its own: its value carries
    // the argument (a key inside a --set value is tagged itself).
    const bool bare = set_key(it->first.Tag()).empty() && it->first.Mark().is_null();
    fail(bare ? it->second : it->first, join(k), what);
  }
}

void ConfigLoader::check(bool ok, const char* key, const std::string& message) {
  if (ok) return;
  // The deepest node the YAML has on the key's path (`a.b.c` walks the maps).
  YAML::Node at = node_;
  std::stringstream parts(key);
  for (std::string p; std::getline(parts, p, '.');) {
    if (!at.IsMap() || !at[p]) break;
    at.reset(at[p]);  // rebinds `at` (assignment would overwrite the node it refers to)
  }
  fail(at, join(key), message);
}

std::string ConfigLoader::scalar_text(const YAML::Node& n, const char* key,
                                      const char* expected) const {
  if (!n.IsScalar()) fail(n, join(key), std::string("expected ") + expected + ", got " + show(n));
  return n.Scalar();
}

void ConfigLoader::read(const YAML::Node& n, const char* key, bool& out, Range) {
  const std::string s = scalar_text(n, key, "true or false");
  if (s == "true") {
    out = true;
  } else if (s == "false") {
    out = false;
  } else {
    fail(n, join(key), "expected true or false, got '" + s + "'");
  }
}

void ConfigLoader::read(const YAML::Node& n, const char* key, std::string& out, Range) {
  out = scalar_text(n, key, "a string");
}

namespace {
std::string range_str(Range r) {
  const bool lo = std::isfinite(r.lo), hi = std::isfinite(r.hi);
  if (lo && hi) return "[" + format_double(r.lo) + ", " + format_double(r.hi) + "]";
  if (lo) return ">= " + format_double(r.lo);
  if (hi) return "<= " + format_double(r.hi);
  return "";
}
}  // namespace

void ConfigLoader::read(const YAML::Node& n, const char* key, double& out, Range r) {
  const std::string s = scalar_text(n, key, "a number");
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v))
    fail(n, join(key), "expected a number, got '" + s + "'");
  if (v < r.lo || v > r.hi) fail(n, join(key), s + " is out of range " + range_str(r));
  out = v;
}

void ConfigLoader::read_int(const YAML::Node& n, const char* key, long long& out, Range r,
                            bool is_unsigned, long long lo, unsigned long long hi) {
  const std::string s = scalar_text(n, key, "an integer");
  // Digits only (an optional sign, '_' separators allowed for readability).
  std::string digits;
  for (char c : s)
    if (c != '_') digits += c;
  bool ok = !digits.empty();
  for (size_t i = 0; i < digits.size() && ok; ++i)
    ok = std::isdigit(static_cast<unsigned char>(digits[i])) || (i == 0 && digits[i] == '-');
  if (!ok || digits == "-") fail(n, join(key), "expected an integer, got '" + s + "'");
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), nullptr, 10);
  if (errno == ERANGE) fail(n, join(key), s + " does not fit in an integer");
  if ((is_unsigned && v < 0) || v < lo || (v > 0 && static_cast<unsigned long long>(v) > hi))
    fail(n, join(key), s + " is out of range " + (is_unsigned ? "(must be >= 0)" : ""));
  if (double(v) < r.lo || double(v) > r.hi)
    fail(n, join(key), s + " is out of range " + range_str(r));
  out = v;
}

void ConfigLoader::choice(const char* key, std::string& value,
                          std::initializer_list<const char*> allowed, const char*) {
  if (!take(key)) return;
  const YAML::Node n = node_[key];
  const std::string s = scalar_text(n, key, "a name");
  std::string list;
  for (const char* a : allowed) {
    if (s == a) {
      value = s;
      return;
    }
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  fail(n, join(key), "'" + s + "' is not one of: " + list);
}

void ConfigDoc::choice(const char* key, std::string& value,
                       std::initializer_list<const char*> allowed, const char* meaning) {
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  rows_.push_back({join(key), "choice", "", value, list, meaning});
}

std::string ConfigDoc::range_text(Range r) {
  return range_str(r);
}

std::string ConfigDoc::markdown(const std::vector<ConfigKeyDoc>& rows) {
  std::string s = "| key | type | unit | default | allowed | meaning |\n";
  s += "| --- | --- | --- | --- | --- | --- |\n";
  auto esc = [](std::string t) {
    std::string o;
    for (char c : t) o += (c == '|') ? std::string("\\|") : std::string(1, c);
    return o;
  };
  for (const auto& r : rows)
    s += "| `" + r.key + "` | " + r.type + " | " + esc(r.unit) + " | " + esc(r.def) + " | " +
         esc(r.allowed) + " | " + esc(r.meaning) + " |\n";
  return s;
}

}  // namespace tessera::sim
