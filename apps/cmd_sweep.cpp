// Placeholder until the sweep command is built; it refuses to run rather than invent output.
#include "apps/commands.h"
#include "models/sim/errors.h"

namespace tessera::apps {

void add_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sweep", "(not built yet)");
  cmd->allow_extras();
  cmd->callback([] { throw sim::UserError("tessera sweep: not built yet"); });
}

}  // namespace tessera::apps
