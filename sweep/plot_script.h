// tools/plot_sweep.py, built into the binary (sweep/embed_script.cmake).
#pragma once

#include <string>

namespace tessera::sweep {
const std::string& plot_script();
}  // namespace tessera::sweep
