// Files built into the binary: machine presets (configs/*.yaml), HBM presets
// (configs/hbm/*.yaml) and example traces, keyed by their path in the source tree.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tessera::sim {

const std::map<std::string, std::string>& resources();

// The text of a built-in file, or nullptr.
inline const std::string* find_resource(const std::string& path) {
  const auto& r = resources();
  auto it = r.find(path);
  return it == r.end() ? nullptr : &it->second;
}

// Names of built-in files in `folder` with `suffix`, without folder and suffix
// (names_in("configs/hbm/", ".yaml") -> {"hbm2", "hbm3", ...}).
inline std::vector<std::string> resource_names(const std::string& folder,
                                               const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& [k, v] : resources()) {
    if (k.size() <= folder.size() + suffix.size() || k.compare(0, folder.size(), folder) != 0 ||
        k.compare(k.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::string mid = k.substr(folder.size(), k.size() - folder.size() - suffix.size());
    if (mid.find('/') == std::string::npos) out.push_back(mid);
  }
  return out;
}

}  // namespace tessera::sim
