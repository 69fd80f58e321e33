// Placeholder until the trace command is built; it refuses to run rather than invent output.
#include "apps/commands.h"
#include "models/sim/errors.h"

namespace tessera::apps {

void add_trace_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("trace", "(not built yet)");
  cmd->allow_extras();
  cmd->callback([] { throw sim::UserError("tessera trace: not built yet"); });
}

}  // namespace tessera::apps
