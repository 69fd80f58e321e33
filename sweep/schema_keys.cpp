// The machine schema's key paths, for validating a plan's axes. In its own file because
// GCC 12 at -O2 reports a false -Wmaybe-uninitialized inside ConfigDoc::describe (a
// std::string member of a value-initialised spec); see sweep/CMakeLists.txt.
#include "models/system/system_spec.h"
#include "sweep/sweep_plan.h"

namespace tessera::sweep {

const std::set<std::string>& schema_keys() {
  static const std::set<std::string> keys = [] {
    std::set<std::string> k;
    for (const auto& row : sim::ConfigDoc::describe<system::SystemSpec>()) k.insert(row.key);
    return k;
  }();
  return keys;
}

}  // namespace tessera::sweep
