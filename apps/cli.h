// The `tessera` command line, callable from main and from tests.
#pragma once

namespace tessera::apps {

// Parses and runs one command; returns the process exit code. One-line errors go to
// stderr: 2 for bad input (config, trace, command line), 1 for a failed simulation.
int run_cli(int argc, char** argv);

}  // namespace tessera::apps
