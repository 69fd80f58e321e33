// Placeholder until the compare command is built; it refuses to run rather than invent output.
#include "apps/commands.h"
#include "models/sim/errors.h"

namespace tessera::apps {

void add_compare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "(not built yet)");
  cmd->allow_extras();
  cmd->callback([] { throw sim::UserError("tessera compare: not built yet"); });
}

}  // namespace tessera::apps
