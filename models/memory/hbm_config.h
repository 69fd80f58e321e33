// Configuration of one HBM stack: organisation, timing, controller, address mapping
// and energy. (Placeholder: the HBM model fills this in.)
#pragma once

#include <cstdint>
#include <string>

#include "models/sim/config_schema.h"

namespace tessera::memory {

struct HbmConfig {
  std::string preset = "hbm3";
  template <class V>
  void visit(V& v) {
    v.choice("preset", preset, {"hbm2", "hbm2e", "hbm3", "hbm3e"}, "HBM generation");
  }
};

}  // namespace tessera::memory
