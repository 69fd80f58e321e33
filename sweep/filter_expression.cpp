#include "sweep/filter_expression.h"

#include <cctype>
#include <cstdlib>

#include "models/sim/config_schema.h"

namespace tessera::sweep {

namespace {

// A value is a number when its whole text parses as one, else a string.
struct Value {
  bool is_num = false;
  double num = 0;
  std::string str;
};

Value from_text(const std::string& t) {
  Value v;
  v.str = t;
  if (!t.empty()) {
    char* end = nullptr;
    const double d = std::strtod(t.c_str(), &end);
    if (end && *end == '\0') {
      v.is_num = true;
      v.num = d;
    }
  }
  return v;
}

Value number(double d) {
  Value v;
  v.is_num = true;
  v.num = d;
  v.str = sim::format_double(d);
  return v;
}

bool truthy(const Value& v) {
  return v.is_num ? v.num != 0 : !v.str.empty();
}

}  // namespace

struct FilterExpression::Node {
  std::string op;  // num, str, name, or an operator
  Value literal;
  std::string name;
  std::shared_ptr<const Node> a, b;

  Value eval(const std::map<std::string, std::string>& vars) const {
    if (op == "lit") return literal;
    if (op == "name") {
      auto it = vars.find(name);
      return from_text(it == vars.end() ? std::string() : it->second);
    }
    if (op == "not") return number(!truthy(a->eval(vars)));
    if (op == "neg") return number(-a->eval(vars).num);
    if (op == "and") return number(truthy(a->eval(vars)) && truthy(b->eval(vars)));
    if (op == "or") return number(truthy(a->eval(vars)) || truthy(b->eval(vars)));
    const Value x = a->eval(vars), y = b->eval(vars);
    if (op == "+") return number(x.num + y.num);
    if (op == "-") return number(x.num - y.num);
    if (op == "*") return number(x.num * y.num);
    if (op == "/") return number(y.num == 0 ? 0 : x.num / y.num);
    // Comparisons: numerically when both sides are numbers, else as text.
    int c = 0;
    if (x.is_num && y.is_num)
      c = x.num < y.num ? -1 : (x.num > y.num ? 1 : 0);
    else
      c = x.str.compare(y.str) < 0 ? -1 : (x.str == y.str ? 0 : 1);
    if (op == "==") return number(c == 0);
    if (op == "!=") return number(c != 0);
    if (op == "<") return number(c < 0);
    if (op == "<=") return number(c <= 0);
    if (op == ">") return number(c > 0);
    return number(c >= 0);  // ">="
  }
};

namespace {

using NodeP = std::shared_ptr<const FilterExpression::Node>;

class Parser {
 public:
  Parser(const std::string& text, const std::string& where, const std::vector<std::string>& names)
      : s_(text), where_(where), names_(names) {}

  NodeP parse() {
    // Parsing and evaluation recurse along the expression: a filter is a line of a
    // plan, and one thousands of characters long or nested past 100 is refused rather
    // than allowed to exhaust the stack.
    if (s_.size() > 4096) fail("longer than 4096 characters");
    NodeP n = parse_or();
    skip();
    if (pos_ != s_.size()) fail("unexpected '" + s_.substr(pos_) + "'");
    return n;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw sim::ConfigError(where_ + "filter '" + s_ + "': " + what);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool word(const char* w) {
    skip();
    const std::string ww(w);
    if (s_.compare(pos_, ww.size(), ww) != 0) return false;
    const size_t e = pos_ + ww.size();
    if (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_'))
      return false;
    pos_ = e;
    return true;
  }
  bool sym(const char* t) {
    skip();
    const std::string tt(t);
    if (s_.compare(pos_, tt.size(), tt) != 0) return false;
    pos_ += tt.size();
    return true;
  }
  static NodeP bin(const std::string& op, NodeP a, NodeP b) {
    auto n = std::make_shared<FilterExpression::Node>();
    n->op = op;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  NodeP parse_or() {
    NodeP n = parse_and();
    while (word("or") || sym("||")) n = bin("or", n, parse_and());
    return n;
  }
  NodeP parse_and() {
    NodeP n = parse_not();
    while (word("and") || sym("&&")) n = bin("and", n, parse_not());
    return n;
  }
  NodeP parse_not() {
    if (word("not")) return bin("not", parse_not(), nullptr);
    skip();
    if (pos_ + 1 < s_.size() && s_[pos_] == '!' && s_[pos_ + 1] != '=') {
      ++pos_;
      return bin("not", parse_not(), nullptr);
    }
    return parse_cmp();
  }
  NodeP parse_cmp() {
    NodeP n = parse_sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"})
      if (sym(op)) return bin(op, n, parse_sum());
    if (sym("=")) fail("use == to compare");
    return n;
  }
  NodeP parse_sum() {
    NodeP n = parse_prod();
    for (;;) {
      if (sym("+"))
        n = bin("+", n, parse_prod());
      else if (sym("-"))
        n = bin("-", n, parse_prod());
      else
        return n;
    }
  }
  NodeP parse_prod() {
    NodeP n = parse_unary();
    for (;;) {
      if (sym("*"))
        n = bin("*", n, parse_unary());
      else if (sym("/"))
        n = bin("/", n, parse_unary());
      else
        return n;
    }
  }
  NodeP parse_unary() {
    if (sym("-")) {
      enter();
      NodeP n = bin("neg", parse_unary(), nullptr);
      --depth_;
      return n;
    }
    return parse_atom();
  }
  void enter() {
    if (++depth_ > 100) fail("nested more than 100 deep");
  }
  NodeP parse_atom() {
    skip();
    if (pos_ >= s_.size()) fail("expression ends too early");
    const char c = s_[pos_];
    auto n = std::make_shared<FilterExpression::Node>();
    if (c == '(') {
      ++pos_;
      enter();
      NodeP inner = parse_or();
      if (!sym(")")) fail("missing ')'");
      --depth_;
      return inner;
    }
    if (c == '\'' || c == '"') {
      const size_t end = s_.find(c, pos_ + 1);
      if (end == std::string::npos) fail("unterminated string");
      n->op = "lit";
      n->literal.str = s_.substr(pos_ + 1, end - pos_ - 1);
      pos_ = end + 1;
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      char* end = nullptr;
      const double d = std::strtod(s_.c_str() + pos_, &end);
      n->op = "lit";
      n->literal = number(d);
      pos_ = size_t(end - s_.c_str());
      return n;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = pos_;
      while (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_' ||
                               s_[e] == '.' || s_[e] == '[' || s_[e] == ']'))
        ++e;
      n->op = "name";
      n->name = s_.substr(pos_, e - pos_);
      bool known = false;
      for (const auto& k : names_) known = known || k == n->name;
      if (!known) {
        std::string all;
        for (const auto& k : names_) all += (all.empty() ? "" : ", ") + k;
        fail("'" + n->name + "' is not an axis of the plan (axes: " + all + ")");
      }
      pos_ = e;
      return n;
    }
    fail(std::string("unexpected '") + c + "'");
  }

  const std::string& s_;
  const std::string& where_;
  const std::vector<std::string>& names_;
  size_t pos_ = 0;
  int depth_ = 0;  // open parentheses and unary minus signs
};

}  // namespace

FilterExpression::FilterExpression(const std::string& text, const std::string& where,
                                   const std::vector<std::string>& names)
    : text_(text) {
  root_ = Parser(text_, where, names).parse();
}

bool FilterExpression::keep(const std::map<std::string, std::string>& values) const {
  return truthy(root_->eval(values));
}

}  // namespace tessera::sweep
