// User-facing errors: one line, and the exit code the CLI returns for them.
#pragma once

#include <stdexcept>
#include <string>

namespace tessera::sim {

// Exit codes of the `tessera` command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the simulation itself failed (deadlock, divergence)
inline constexpr int kExitBadInput = 2;  // config, trace or command line was wrong

// An error caused by what the user gave us. what() is the whole one-line message.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& msg, int exit_code = kExitBadInput)
      : std::runtime_error(msg), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The simulated machine did something impossible (deadlock, RTL/model divergence).
class SimulationError : public UserError {
 public:
  explicit SimulationError(const std::string& msg) : UserError(msg, kExitFailure) {}
};

}  // namespace tessera::sim
