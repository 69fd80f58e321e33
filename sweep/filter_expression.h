// Filters of a sweep plan: small boolean expressions over a point's axis values,
// e.g. "tile.array.rows * tile.array.cols <= 65536 and workload != 'prefill'".
// Grammar: or/and/not, comparisons (== != < <= > >=), + - * /, parentheses, numbers,
// 'strings', and names (an axis key or `workload`).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tessera::sweep {

class FilterExpression {
 public:
  // Parses `text`; throws sim::ConfigError prefixed with `where` on a syntax error or on
  // a name that is not in `names`.
  FilterExpression(const std::string& text, const std::string& where,
                   const std::vector<std::string>& names);
  // True when the point (name -> value text) passes.
  bool keep(const std::map<std::string, std::string>& values) const;
  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace tessera::sweep
