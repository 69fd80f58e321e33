#include "models/system/system_spec.h"

#include <filesystem>

#include "models/sim/resources.h"

namespace tessera::system {

namespace {
// Loads YAML (file or built-in preset) into a spec that starts from the defaults.
SystemSpec load_node(YAML::Node node, const std::string& label,
                     const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw sim::ConfigError("--set " + o + ": expected key.path=value");
    sim::set_yaml_path(node, o.substr(0, eq), o.substr(eq + 1));
  }
  SystemSpec spec;
  sim::ConfigLoader::load(spec, node, label);
  return spec;
}
}  // namespace

std::vector<std::string> preset_names() {
  return sim::resource_names("configs/", ".yaml");
}

SystemSpec default_spec() {
  return load_spec("tiny");
}

SystemSpec load_spec(const std::string& path_or_preset, const std::vector<std::string>& overrides) {
  // A name without a path separator or suffix that matches a built-in preset.
  if (path_or_preset.find('/') == std::string::npos &&
      path_or_preset.find(".y") == std::string::npos) {
    if (const std::string* text = sim::find_resource("configs/" + path_or_preset + ".yaml")) {
      const std::string label = "configs/" + path_or_preset + ".yaml";
      return load_node(sim::parse_yaml(*text, label), label, overrides);
    }
    if (!std::filesystem::exists(path_or_preset)) {
      std::string all;
      for (const auto& n : preset_names()) all += (all.empty() ? "" : ", ") + n;
      throw sim::ConfigError(path_or_preset + ": no such file or built-in preset (presets: " + all +
                             ")");
    }
  }
  return load_node(sim::load_yaml_file(path_or_preset), path_or_preset, overrides);
}

std::string resolved_yaml(SystemSpec spec) {
  return sim::ConfigWriter::to_yaml(spec);
}

}  // namespace tessera::system
