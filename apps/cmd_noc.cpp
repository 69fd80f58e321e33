// Placeholder until the noc command is built; it refuses to run rather than invent output.
#include "apps/commands.h"
#include "models/sim/errors.h"

namespace tessera::apps {

void add_noc_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("noc", "(not built yet)");
  cmd->allow_extras();
  cmd->callback([] { throw sim::UserError("tessera noc: not built yet"); });
}

}  // namespace tessera::apps
