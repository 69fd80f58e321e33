// A fresh directory under the system temp folder, removed with everything in it when the
// test case ends, so test runs leave nothing behind in /tmp.
#pragma once
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <system_error>

namespace tessera::test {

class TempDir {
 public:
  explicit TempDir(const std::string& stem = "tessera-test") {
    std::string t = (std::filesystem::temp_directory_path() / (stem + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(t.data()));
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;  // never throw from a destructor; a leftover is harmless
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tessera::test
