// Running one point as its own process (SystemC elaborates once per process): fork,
// exec the runner with stdout and stderr sent to files, and wait.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tessera::sweep {

// The running executable (/proc/self/exe), so a sweep runs points with its own build.
std::string self_executable();
std::string host_name();

// Starts `exe args...`; the child dies with its parent (a killed sweep leaves no
// orphans writing into the results folder). Empty paths: the child keeps our stdio.
// Throws sim::UserError when fork fails.
pid_t spawn_process(const std::string& exe, const std::vector<std::string>& args,
                    const std::string& stdout_path, const std::string& stderr_path);

// Waits for `pid` (0: any child) and returns {pid, exit code}; a signal N gives 128+N.
std::pair<pid_t, int> wait_child(pid_t pid);

}  // namespace tessera::sweep
