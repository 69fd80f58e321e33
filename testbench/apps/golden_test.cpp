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

#include <nlohmann/json.hpp>

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
// the tiles it ran on), its memory floor (its HBM bytes at the peak of all stacks), its
// link floor (its bytes through the busiest die-to-die link or fabric port direction,
// or over every link) and its NoC floor (its HBM traffic's flits through the busiest
// stack's ports).
// The simulated ops of a run's ops.csv, split into their 14 fields.
std::vector<std::vector<std::string>> simulated_ops(const std::string& out) {
  std::istringstream in(tessera::sim::read_file(out + "/ops.csv"));
  std::string line;
  std::getline(in, line);
  REQUIRE(line.rfind("name,kind,layer,simulated,tiles,start_s,end_s,time_s,flops,", 0) == 0);
  std::vector<std::vector<std::string>> ops;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    REQUIRE(f.size() == 14);
    if (f[3] == "1") ops.push_back(std::move(f));
  }
  return ops;
}

void check_rooflines(const std::string& out) {
  int checked = 0;
  for (const auto& f : simulated_ops(out)) {
    const double t = std::stod(f[7]), compute = std::stod(f[9]), memory = std::stod(f[10]);
    const double link = std::stod(f[11]), noc = std::stod(f[12]);
    INFO(f[0]);
    CHECK(t >= compute * (1 - 1e-9));
    CHECK(t >= memory * (1 - 1e-9));
    CHECK(t >= link * (1 - 1e-9));
    CHECK(t >= noc * (1 - 1e-9));
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

TEST_CASE("physics: 7B decode on one HBM3 stack is HBM-bound, >= weights / bandwidth", "[slow]") {
  // One HBM3 stack (819.2 GB/s peak) on a machine whose NoC can carry it: tiny with 4x4
  // tiles, the stack reached through all 16 nodes, 128-byte flits and 512-byte bursts
  // (16 ports x 128 GB/s x 4/5 payload = 1.64 TB/s). Llama-2-7B in bf16 reads 13.21 GB
  // of weights per decoded token (docs/workloads.md), so no token can take less than
  // 13.21e9 / 819.2e9 = 16.1 ms, whatever the arrays do. One layer is simulated and the
  // rest scaled (the report says so). tiny itself reaches its stack through 4 ports of
  // 64-byte flits (205 GB/s of payload): there the same decode is NoC-bound, and until
  // the nineteenth session, with no NoC floor in the report, this test ran on it and
  // called it HBM-bound.
  const std::string out =
      std::string(TESSERA_BINARY_DIR) + "/golden_out/one_stack_llama2_7b_decode";
  std::filesystem::remove_all(out);
  const std::string cmd = std::string(TESSERA_EXE) +
                          " run -q --config tiny --set chiplet.tiles_x=4 --set chiplet.tiles_y=4"
                          " --set chiplet.hbm_ports=16 --set chiplet.noc.flit_bytes=128"
                          " --set tile.dma.burst_bytes=512"
                          " --trace gen:llama2-7b,phase=decode,batch=1,context=2048 --out " +
                          out + " > /dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  check_rooflines(out);
  const auto rep = nlohmann::json::parse(tessera::sim::read_file(out + "/report.json"));
  const double weights = 13.21e9, peak = 819.2e9;
  CHECK(rep.at("time_estimated").get<bool>());
  CHECK(rep.at("total_time_s").get<double>() >= weights / peak);
  // HBM-bound: ops the report calls HBM-bound, without the "(+NoC/sync)" mark (which
  // says the op took over 4x its largest floor), take most of the simulated time.
  double hbm = 0, all = 0;
  for (const auto& f : simulated_ops(out)) {
    all += std::stod(f[7]);
    if (f[13] == "HBM") hbm += std::stod(f[7]);
  }
  CHECK(hbm > 0.5 * all);
}

TEST_CASE("physics: an op run by several rank groups counts each group once in its floors",
          "[unit]") {
  // Two rank groups (dp=2) of chiplet4's 64 tiles each run a 1 x 4096 x 4096 bf16 GEMV
  // whose 32 MiB of weights stream from HBM: 2 x 2 x 4096 x 4096 FLOPs in all, over
  // 64 tiles of 2 x 32 x 32 FLOP a cycle at 1 GHz, and at least 2 x 32 MiB over the 8
  // stacks' 6.5536 TB/s.
  const std::string out = std::string(TESSERA_BINARY_DIR) + "/golden_out/chiplet4_dp2_gemv";
  fs::remove_all(out);
  fs::create_directories(fs::path(out).parent_path());
  std::ofstream(out + ".tsr")
      << "tessera-trace 1\nmeta dp=2\ngemm w m=1 n=4096 k=4096 dtype=bf16 weights=b\n";
  const std::string cmd = std::string(TESSERA_EXE) + " run -q --config chiplet4 --trace " + out +
                          ".tsr --out " + out + " > /dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  check_rooflines(out);
  const auto ops = simulated_ops(out);
  REQUIRE(ops.size() == 1);
  const auto& f = ops[0];
  const double flops = 2.0 * 2 * 4096 * 4096, weights = 2.0 * 4096 * 4096 * 2;
  CHECK(std::stod(f[8]) == Approx(flops));
  CHECK(std::stod(f[4]) == 64);
  CHECK(std::stod(f[9]) == Approx(flops / (64 * 2.0 * 32 * 32 * 1e9)).epsilon(1e-6));
  const double memory = std::stod(f[10]), floor = weights / 6.5536e12;
  CHECK(memory >= floor * (1 - 1e-9));
  CHECK(memory <= 1.25 * floor);  // the activations and results are small
  // NoC floor: the 64 MiB leave the 8 stacks through 32 ports of one 128-byte flit a
  // cycle at 1 GHz, in 512-byte bursts of 4 payload flits and a head.
  const double noc = std::stod(f[12]), noc_floor = weights * (1.0 / 128 + 1.0 / 512) / 32 / 1e9;
  CHECK(noc >= noc_floor * (1 - 1e-9));
  CHECK(noc <= 1.05 * noc_floor);  // the busiest stack holds a little more than an eighth
}
