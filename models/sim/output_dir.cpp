#include "models/sim/output_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/sim/errors.h"

namespace fs = std::filesystem;

namespace tessera::sim {

bool prepare_output_dir(const std::string& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw UserError(dir + ": exists and is not a folder");
    if (!fs::is_empty(dir, ec) && !force)
      throw UserError(dir + ": folder is not empty (use --force to write into it)");
    return false;
  }
  fs::create_directories(dir, ec);
  if (ec) throw UserError(dir + ": cannot create folder: " + ec.message());
  return true;
}

void remove_if_empty(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) fs::remove(dir, ec);
}

void refuse_overwrite(const std::string& path, bool force) {
  std::error_code ec;
  if (!force && fs::exists(path, ec)) throw UserError(path + ": exists (use --force to overwrite)");
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw UserError(path + ": cannot write: " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw UserError(path + ": cannot write: " + why);
    }
    done += size_t(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw UserError(path + ": cannot write: " + why);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot read: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir(const std::string& stem, const std::string& who) {
  // The error_code form: a TMPDIR that is no folder is the user's, not a crash.
  std::error_code ec;
  const fs::path base = fs::temp_directory_path(ec);
  std::string t = (base / (stem + "-XXXXXX")).string();
  if (ec || !::mkdtemp(t.data()))
    throw UserError(who + ": cannot make a temp folder under " +
                    (ec ? "TMPDIR (" + ec.message() + ")" : base.string()));
  path_ = t;
}

TempDir::~TempDir() {
  std::error_code ec;  // a destructor must not throw; a leftover folder is harmless
  fs::remove_all(path_, ec);
}

}  // namespace tessera::sim
