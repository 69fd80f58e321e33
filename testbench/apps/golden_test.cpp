// End-to-end regressions: `tessera run` on a machine and a workload writes stats.json;
// it must equal the committed golden file byte for byte (the same spec, workload and
// seed give the same statistics, run after run and build after build). A change of
// golden values needs a stated reason in the commit; regenerate with
//   TESSERA_UPDATE_GOLDEN=1 ctest -R golden
// Each run is also checked against physics: no op beats its roofline.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/sim/output_dir.h"

namespace fs = std::filesystem;

namespace {

std::string run_case(const std::string& machine, const std::string& trace) {
  const std::string name = machine + "_" + trace;
  const std::string out = std::string(TESSERA_BINARY_DIR) + "/golden_out/" + name;
  fs::remove_all(out);
  const std::string cmd = std::string(TESSERA_EXE) + " run -q --config " + machine + " --trace " +
                          trace + " --out " + out + " > " + out + ".log 2>&1";
  fs::create_directories(fs::path(out).parent_path());
  const int rc = std::system(cmd.c_str());
  INFO(tessera::sim::read_file(out + ".log"));
  REQUIRE(rc == 0);
  return out;
}

// Every op's simulated span is at least its compute floor (its FLOPs at the peak of
// the tiles it ran on) and its memory floor (its HBM bytes at the peak of all stacks).
void check_rooflines(const std::string& out) {
  std::istringstream in(tessera::sim::read_file(out + "/ops.csv"));
  std::string line;
  std::getline(in, line);
  REQUIRE(line.rfind("name,kind,layer,simulated,tiles,start_s,end_s,time_s,flops,", 0) == 0);
  int checked = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    REQUIRE(f.size() == 13);
    if (f[3] != "1") continue;
    const double t = std::stod(f[7]), compute = std::stod(f[9]), memory = std::stod(f[10]);
    INFO(line);
    CHECK(t >= compute * (1 - 1e-9));
    CHECK(t >= memory * (1 - 1e-9));
    ++checked;
  }
  REQUIRE(checked > 0);
}

void golden(const std::string& machine, const std::string& trace) {
  const std::string out = run_case(machine, trace);
  check_rooflines(out);
  const std::string got = tessera::sim::read_file(out + "/stats.json");
  const std::string file = std::string(TESSERA_SOURCE_DIR) + "/testbench/golden/" + machine + "_" +
                           trace + ".stats.json";
  if (std::getenv("TESSERA_UPDATE_GOLDEN")) {
    std::ofstream(file) << got;
    WARN("updated " << file);
    return;
  }
  REQUIRE(fs::exists(file));
  const std::string want = tessera::sim::read_file(file);
  // Compare stat by stat first for a readable failure, then the bytes.
  REQUIRE(got.size() > 0);
  CHECK(got == want);
}

}  // namespace

TEST_CASE("golden: tiny, GEMM layer", "[golden]") {
  golden("tiny", "gemm");
}
TEST_CASE("golden: tiny, transformer block prefill", "[golden]") {
  golden("tiny", "block");
}
TEST_CASE("golden: tiny, transformer block decode", "[golden]") {
  golden("tiny", "block_decode");
}
TEST_CASE("golden: tiny, ResNet-50 slice", "[golden]") {
  golden("tiny", "resnet_slice");
}
TEST_CASE("golden: chiplet4, GEMM layer", "[golden]") {
  golden("chiplet4", "gemm");
}
TEST_CASE("golden: chiplet4, transformer block prefill", "[golden]") {
  golden("chiplet4", "block");
}
TEST_CASE("golden: chiplet4, transformer block decode", "[golden]") {
  golden("chiplet4", "block_decode");
}
TEST_CASE("golden: chiplet4, ResNet-50 slice", "[golden][slow]") {
  golden("chiplet4", "resnet_slice");
}
