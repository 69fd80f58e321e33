// sim::TempDir: the scratch folder of `tessera plot`, MPI sweep workers and tests.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "models/sim/errors.h"
#include "models/sim/output_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using tessera::sim::TempDir;
using tessera::sim::UserError;

TEST_CASE("a temp folder is fresh while held and gone with its contents after", "[unit]") {
  std::string path;
  {
    const TempDir a("tessera-tempdir-test", "test");
    const TempDir b("tessera-tempdir-test", "test");
    path = a.path();
    CHECK(a.path() != b.path());
    CHECK(fs::is_directory(path));
    CHECK(fs::path(path).filename().string().rfind("tessera-tempdir-test-", 0) == 0);
    fs::create_directories(path + "/sub");
    std::ofstream(path + "/sub/f.txt") << "x";
  }
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a TMPDIR that is no folder is a one-line user error", "[unit]") {
  const char* old = ::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", "/nonexistent/tessera-tmp", 1);
  std::string what;
  try {
    TempDir t("tessera-tempdir-test", "tessera plot");
  } catch (const UserError& e) {
    what = e.what();
  }
  old ? ::setenv("TMPDIR", saved.c_str(), 1) : ::unsetenv("TMPDIR");
  CHECK_THAT(what, Contains("tessera plot: cannot make a temp folder under TMPDIR"));
  CHECK(what.find('\n') == std::string::npos);
}
