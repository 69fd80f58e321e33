// Result folders and atomic file writes: a result file is either absent or complete
// (written to a temporary name in the same folder, flushed, then renamed).
#pragma once

#include <string>

namespace tessera::sim {

// Makes `dir` ready for a run's results. A folder that exists and is not empty is
// refused (UserError) unless `force`; nothing in it is deleted either way. Returns
// true when it created the folder.
bool prepare_output_dir(const std::string& dir, bool force);

// Removes `dir` if it is an empty folder (one prepare_output_dir created for a run that
// then failed, so that no empty result folder is left behind); never anything else.
void remove_if_empty(const std::string& dir);

// Refuses (UserError) to let a command write over an existing file `path` unless
// `force`: called before the work, so nothing is computed only to be refused.
void refuse_overwrite(const std::string& path, bool force);

// Writes `content` to `path` atomically (temp file + fsync + rename).
void write_file_atomic(const std::string& path, const std::string& content);

// Reads a whole file; UserError naming the file when it cannot be read.
std::string read_file(const std::string& path);

// A fresh folder under the system temp folder ("<stem>-XXXXXX"), removed with
// everything in it when the object goes, also on an exception. `who` names the command
// in the UserError when the folder cannot be made.
class TempDir {
 public:
  TempDir(const std::string& stem, const std::string& who);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tessera::sim
