#include "models/memory/hbm_config.h"

#include "models/sim/errors.h"

namespace tessera::memory {

std::vector<std::string> hbm_preset_names() {
  return sim::resource_names("configs/hbm/", ".yaml");
}

std::string hbm_preset_text(const std::string& name) {
  const std::string* text = sim::find_resource("configs/hbm/" + name + ".yaml");
  if (!text) throw sim::ConfigError("configs/hbm/" + name + ".yaml: no such HBM preset");
  return *text;
}

HbmConfig load_hbm_config(const std::string& yaml_text, const std::string& label) {
  HbmConfig cfg;
  sim::ConfigLoader::load(cfg, sim::parse_yaml(yaml_text, label), label);
  return cfg;
}

}  // namespace tessera::memory
