// Typed, self-describing configuration structs.
//
// A config struct declares its keys once, in a template member
//
//   template <class V> void visit(V& v) {
//     v.field("rows", rows, "PEs", "rows of processing elements", Range{1, 4096});
//     v.choice("dataflow", dataflow, {"ws", "os"}, "which operand stays in the PEs");
//     v.section("array", array, "the systolic array");
//     v.check(rows * cols <= 65536, "rows", "the array may hold at most 65536 PEs");
//   }
//
// and the same declaration serves every purpose: ConfigLoader reads and validates
// YAML into the struct (unknown key, wrong type, range and consistency errors as
// `file:line:col: key.path: what is wrong`), ConfigWriter emits the resolved
// struct, and ConfigDoc lists every key for docs/config.md. The docs therefore
// cannot drift from what is validated.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "models/sim/errors.h"

namespace tessera::sim {

// An inclusive range for numeric keys.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
};

class ConfigError : public UserError {
 public:
  explicit ConfigError(const std::string& msg) : UserError(msg, kExitBadInput) {}
};

// Shortest decimal text that reads back to the same double.
std::string format_double(double v);

// Parses YAML text; a syntax error becomes `file:line:col: yaml: message`.
YAML::Node parse_yaml(const std::string& text, const std::string& file);
// Reads and parses a file; a missing file is `file: cannot read: reason`.
YAML::Node load_yaml_file(const std::string& path);
// Sets `a.b.c` in a YAML map to a value given as YAML text ("64", "[1,2]", "hbm3"),
// creating maps on the way. Used by --set and by sweeps.
void set_yaml_path(YAML::Node& root, const std::string& dotted_key, const std::string& value_text);

// ---------------------------------------------------------------------------------
// Loading

class ConfigLoader {
 public:
  static constexpr bool kLoading = true;
  ConfigLoader(YAML::Node node, std::string file, std::string path)
      : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

  // Loads `node` into `obj` (absent keys keep obj's current values), then rejects
  // any key the struct did not declare.
  template <class S>
  static void load(S& obj, const YAML::Node& node, const std::string& file,
                   const std::string& path = "") {
    ConfigLoader v(node, file, path);
    v.require_map();
    obj.visit(v);
    v.reject_unknown_keys();
  }

  bool has(const char* key) const { return node_ && node_.IsMap() && node_[key]; }

  template <class T>
  void field(const char* key, T& value, const char* unit, const char* meaning, Range r = {}) {
    (void)unit;
    (void)meaning;
    if (!take(key)) return;
    read(node_[key], key, value, r);
  }

  void choice(const char* key, std::string& value, std::initializer_list<const char*> allowed,
              const char* meaning);

  template <class S>
  void section(const char* key, S& sub, const char* meaning) {
    (void)meaning;
    if (!take(key)) return;
    load(sub, node_[key], file_, join(key));
  }

  template <class S>
  void list(const char* key, std::vector<S>& items, const char* meaning) {
    (void)meaning;
    if (!take(key)) return;
    const YAML::Node n = node_[key];
    if (!n.IsSequence()) fail(n, join(key), "expected a list");
    items.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      items.emplace_back();
      load(items.back(), n[i], file_, join(key) + "[" + std::to_string(i) + "]");
    }
  }

  // A named base (HBM generation, machine preset): when the key is present, the
  // preset's YAML is loaded into `self` first, then the keys that follow override it.
  template <class S>
  void preset(const char* key, std::string& name, S& self,
              const std::function<std::vector<std::string>()>& names,
              const std::function<std::string(const std::string&)>& text, const char* meaning) {
    (void)meaning;
    if (!take(key)) return;
    const YAML::Node n = node_[key];
    std::string want = scalar_text(n, key, "a preset name");
    const auto all = names();
    bool ok = false;
    std::string list;
    for (const auto& s : all) {
      ok = ok || s == want;
      list += (list.empty() ? "" : ", ") + s;
    }
    if (!ok) fail(n, join(key), "unknown preset '" + want + "' (one of: " + list + ")");
    name = want;
    const std::string label = "<preset " + want + ">";
    load(self, parse_yaml(text(want), label), label, path_);
  }

  // A consistency rule across keys; the error points at `key` (or at the section).
  void check(bool ok, const char* key, const std::string& message);

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }

  [[noreturn]] void fail(const YAML::Node& at, const std::string& keypath,
                         const std::string& what) const;

 private:
  std::string join(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // Records `key` as declared; true (and recorded as used) when the YAML has it.
  bool take(const char* key) {
    declared_.push_back(key);
    if (!has(key)) return false;
    seen_.push_back(key);
    return true;
  }
  void require_map() const;
  void reject_unknown_keys() const;
  std::string scalar_text(const YAML::Node& n, const char* key, const char* expected) const;

  void read(const YAML::Node& n, const char* key, bool& out, Range r);
  void read(const YAML::Node& n, const char* key, std::string& out, Range r);
  void read(const YAML::Node& n, const char* key, double& out, Range r);
  void read_int(const YAML::Node& n, const char* key, long long& out, Range r, bool is_unsigned,
                long long lo, unsigned long long hi);

  template <class T>
  std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>> read(const YAML::Node& n,
                                                                           const char* key, T& out,
                                                                           Range r) {
    long long v = 0;
    read_int(n, key, v, r, std::is_unsigned_v<T>,
             static_cast<long long>(std::numeric_limits<T>::min()),
             static_cast<unsigned long long>(std::numeric_limits<T>::max()));
    out = static_cast<T>(v);
  }
  template <class T>
  void read(const YAML::Node& n, const char* key, std::vector<T>& out, Range r) {
    if (!n.IsSequence()) fail(n, join(key), "expected a list");
    out.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      T item{};
      const std::string k = std::string(key) + "[" + std::to_string(i) + "]";
      read(n[i], k.c_str(), item, r);
      out.push_back(item);
    }
  }

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::vector<std::string> seen_;
  std::vector<std::string> declared_;
};

// ---------------------------------------------------------------------------------
// Writing the resolved configuration

class ConfigWriter {
 public:
  static constexpr bool kLoading = false;
  explicit ConfigWriter(YAML::Emitter& out) : out_(out) {}

  template <class S>
  static std::string to_yaml(S& obj) {
    YAML::Emitter out;
    ConfigWriter w(out);
    out << YAML::BeginMap;
    obj.visit(w);
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
  }

  bool has(const char*) const { return false; }
  template <class T>
  void field(const char* key, T& value, const char*, const char*, Range = {}) {
    out_ << YAML::Key << key << YAML::Value;
    emit(value);
  }
  void choice(const char* key, std::string& value, std::initializer_list<const char*>,
              const char*) {
    out_ << YAML::Key << key << YAML::Value << value;
  }
  template <class S>
  void section(const char* key, S& sub, const char*) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    sub.visit(*this);
    out_ << YAML::EndMap;
  }
  template <class S>
  void list(const char* key, std::vector<S>& items, const char*) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (auto& it : items) {
      out_ << YAML::BeginMap;
      it.visit(*this);
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndSeq;
  }
  template <class S, class F1, class F2>
  void preset(const char* key, std::string& name, S&, const F1&, const F2&, const char*) {
    if (!name.empty()) out_ << YAML::Key << key << YAML::Value << name;
  }
  void check(bool, const char*, const std::string&) {}

 private:
  void emit(bool v) { out_ << (v ? "true" : "false"); }
  void emit(const std::string& v) { out_ << YAML::DoubleQuoted << v; }
  void emit(double v) { out_ << format_double(v); }
  template <class T>
  std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>> emit(T v) {
    out_ << std::to_string(v);
  }
  template <class T>
  void emit(const std::vector<T>& v) {
    out_ << YAML::Flow << YAML::BeginSeq;
    for (const auto& x : v) emit(x);
    out_ << YAML::EndSeq;
  }
  YAML::Emitter& out_;
};

// ---------------------------------------------------------------------------------
// Listing every key for the docs

struct ConfigKeyDoc {
  std::string key;   // full dotted path; lists shown as key[]
  std::string type;  // integer, number, boolean, string, choice, list, section
  std::string unit;
  std::string def;      // default value as text
  std::string allowed;  // range or choices
  std::string meaning;
};

class ConfigDoc {
 public:
  static constexpr bool kLoading = false;
  template <class S>
  static std::vector<ConfigKeyDoc> describe(const std::string& prefix = "") {
    // On the heap: GCC 12 misreads a large stack aggregate here (-Wmaybe-uninitialized).
    auto obj = std::make_unique<S>();
    ConfigDoc d(prefix);
    obj->visit(d);
    return d.rows_;
  }
  // Markdown table of the keys.
  static std::string markdown(const std::vector<ConfigKeyDoc>& rows);

  explicit ConfigDoc(std::string prefix) : prefix_(std::move(prefix)) {}
  bool has(const char*) const { return false; }
  template <class T>
  void field(const char* key, T& value, const char* unit, const char* meaning, Range r = {}) {
    rows_.push_back({join(key), type_name(value), unit, text(value), range_text(r), meaning});
  }
  void choice(const char* key, std::string& value, std::initializer_list<const char*> allowed,
              const char* meaning);
  template <class S>
  void section(const char* key, S& sub, const char* meaning) {
    rows_.push_back({join(key), "section", "", "", "", meaning});
    ConfigDoc d(join(key));
    sub.visit(d);
    rows_.insert(rows_.end(), d.rows_.begin(), d.rows_.end());
  }
  template <class S>
  void list(const char* key, std::vector<S>&, const char* meaning) {
    rows_.push_back({join(key), "list", "", "[]", "", meaning});
    S item{};
    ConfigDoc d(join(key) + "[]");
    item.visit(d);
    rows_.insert(rows_.end(), d.rows_.begin(), d.rows_.end());
  }
  template <class S, class F1, class F2>
  void preset(const char* key, std::string& name, S&, const F1& names, const F2&,
              const char* meaning) {
    std::string all;
    for (const auto& n : names()) all += (all.empty() ? "" : ", ") + n;
    rows_.push_back({join(key), "preset", "", name.empty() ? "(none)" : name, all, meaning});
  }
  void check(bool, const char*, const std::string&) {}

 private:
  std::string join(const std::string& key) const {
    return prefix_.empty() ? key : prefix_ + "." + key;
  }
  static std::string type_name(bool) { return "boolean"; }
  static std::string type_name(const std::string&) { return "string"; }
  static std::string type_name(double) { return "number"; }
  template <class T>
  static std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, std::string> type_name(
      T) {
    return "integer";
  }
  template <class T>
  static std::string type_name(const std::vector<T>&) {
    return "list of " + type_name(T{});
  }
  static std::string text(bool v) { return v ? "true" : "false"; }
  static std::string text(const std::string& v) { return v.empty() ? "\"\"" : v; }
  static std::string text(double v) { return format_double(v); }
  template <class T>
  static std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, std::string> text(
      T v) {
    return std::to_string(v);
  }
  template <class T>
  static std::string text(const std::vector<T>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + text(v[i]);
    return s + "]";
  }
  static std::string range_text(Range r);

  std::string prefix_;
  std::vector<ConfigKeyDoc> rows_;
};

}  // namespace tessera::sim
