#include "sweep/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "models/sim/errors.h"

namespace tessera::sweep {

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    throw sim::UserError("tessera sweep: cannot find its own executable (/proc/self/exe)");
  return std::string(buf, size_t(n));
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

pid_t spawn_process(const std::string& exe, const std::vector<std::string>& args,
                    const std::string& stdout_path, const std::string& stderr_path) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls.
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0)
    throw sim::UserError(std::string("tessera sweep: fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    if (!stdout_path.empty()) {
      const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || err < 0 || in < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
    }
    ::execvp(exe.c_str(), argv.data());
    const char msg[] = "tessera sweep: cannot execute the runner\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  return pid;
}

std::pair<pid_t, int> wait_child(pid_t pid) {
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid == 0 ? -1 : pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0)
    throw sim::UserError(std::string("tessera sweep: wait failed: ") + std::strerror(errno));
  const int code =
      WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1);
  return {got, code};
}

}  // namespace tessera::sweep
