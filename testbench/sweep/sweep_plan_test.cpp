// Sweep plans: expansion order (grid, zip, ranges), filters, and validation of every key
// path against the machine schema with the plan's file:line before anything runs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "models/sim/errors.h"
#include "models/sim/output_dir.h"
#include "sweep/filter_expression.h"
#include "sweep/sweep_plan.h"

using namespace tessera;
using Catch::Matchers::Contains;

namespace {
sweep::SweepPlan plan_of(const std::string& text) {
  return sweep::parse_plan(text, "p.yaml", "");
}

std::string error_of(const std::string& text) {
  try {
    plan_of(text);
  } catch (const sim::UserError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("a 3 x 2 grid expands workload-major with the last axis fastest", "[unit]") {
  const auto plan = plan_of(
      "config: tiny\n"
      "workload: gen:llama2-7b,phase=decode\n"
      "axes:\n"
      "  tile.array.rows: [16, 32, 64]\n"
      "  chiplet.hbm.preset: [hbm2e, hbm3]\n");
  REQUIRE(plan.points.size() == 6);
  REQUIRE(plan.axis_columns() ==
          std::vector<std::string>{"workload", "tile.array.rows", "chiplet.hbm.preset"});
  const std::vector<std::vector<std::string>> want{{"16", "hbm2e"}, {"16", "hbm3"},
                                                   {"32", "hbm2e"}, {"32", "hbm3"},
                                                   {"64", "hbm2e"}, {"64", "hbm3"}};
  for (size_t i = 0; i < 6; ++i) {
    CHECK(plan.points[i].index == i);
    CHECK(plan.points[i].labels == want[i]);
    CHECK(plan.points[i].invalid.empty());
  }
  CHECK(plan.points[3].overrides ==
        std::vector<std::string>{"tile.array.rows=32", "chiplet.hbm.preset=hbm3"});
  // Ids are unique and a function of the point's settings alone.
  std::set<std::string> ids;
  for (const auto& p : plan.points) ids.insert(p.id);
  CHECK(ids.size() == 6);
  const auto again = plan_of(plan.text);
  CHECK(again.points[5].id == plan.points[5].id);
  const auto args = sweep::run_arguments(plan, plan.points[1], "/o");
  CHECK(args == std::vector<std::string>{"run", "--config", "tiny", "--trace",
                                         "gen:llama2-7b,phase=decode", "--set",
                                         "tile.array.rows=16", "--set", "chiplet.hbm.preset=hbm3",
                                         "--out", "/o", "--force", "--format", "json"});
}

TEST_CASE("zip mode, ranges, fixed sets and several workloads", "[unit]") {
  const auto plan = plan_of(
      "workloads: {a: gen:x, b: gen:y}\n"
      "set: {seed: 7}\n"
      "mode: zip\n"
      "axes:\n"
      "  tile.array.rows: {from: 16, to: 64, mul: 2}\n"
      "  tile.array.cols: {from: 8, to: 24, step: 8}\n");
  REQUIRE(plan.points.size() == 6);  // 2 workloads x 3 zipped values
  CHECK(plan.points[0].workload->name == "a");
  CHECK(plan.points[3].workload->name == "b");
  CHECK(plan.points[2].labels == std::vector<std::string>{"64", "24"});
  CHECK(plan.points[2].overrides.front() == "seed=7");
  // Different workloads give different ids for the same axis values.
  CHECK(plan.points[0].id.substr(6) != plan.points[3].id.substr(6));
  CHECK_THAT(error_of("workload: gen:x\nmode: zip\naxes:\n  tile.array.rows: [16, 32]\n"
                      "  tile.array.cols: [8]\n"),
             Contains("p.yaml:5:3:") && Contains("equal length"));
}

TEST_CASE("filters keep only the points they accept", "[unit]") {
  const auto plan = plan_of(
      "workload: gen:x\n"
      "axes:\n"
      "  tile.array.rows: [16, 32, 64]\n"
      "  tile.array.cols: [16, 32, 64]\n"
      "filters:\n"
      "  - tile.array.rows * tile.array.cols <= 1024 and not (tile.array.rows == 16)\n"
      "  - workload == 'gen:x' or tile.array.rows > 1000\n");
  // Rows 16 are excluded; of rows 32 and 64, products <= 1024 are 32x16, 32x32, 64x16.
  REQUIRE(plan.points.size() == 3);
  CHECK(plan.points[0].labels == std::vector<std::string>{"32", "16"});
  CHECK(plan.points[1].labels == std::vector<std::string>{"32", "32"});
  CHECK(plan.points[2].labels == std::vector<std::string>{"64", "16"});
  CHECK_THAT(error_of("workload: gen:x\naxes: {tile.array.rows: [16]}\n"
                      "filters: [tile.array.colz > 3]\n"),
             Contains("p.yaml:3:11:") && Contains("'tile.array.colz' is not an axis"));
  CHECK_THAT(error_of("workload: gen:x\naxes: {tile.array.rows: [16]}\nfilters: ['(1 < 2']\n"),
             Contains("missing ')'"));
  CHECK_THAT(error_of("workload: gen:x\naxes: {tile.array.rows: [16]}\n"
                      "filters: [tile.array.rows > 99]\n"),
             Contains("no point of the plan is left"));
}

TEST_CASE("filter expressions compare numbers as numbers and text as text", "[unit]") {
  const sweep::FilterExpression f("a < 10 and b != 'x'", "", {"a", "b"});
  CHECK(f.keep({{"a", "9"}, {"b", "y"}}));
  CHECK_FALSE(f.keep({{"a", "10"}, {"b", "y"}}));  // 10 < 10 is false numerically
  CHECK_FALSE(f.keep({{"a", "9"}, {"b", "x"}}));
  const sweep::FilterExpression g("-a + 2 * 3 == 4", "", {"a"});  // precedence
  CHECK(g.keep({{"a", "2"}}));
  CHECK_FALSE(g.keep({{"a", "3"}}));
  // Deep nesting or a huge expression is refused, not a stack overflow.
  const std::string deep = std::string(200000, '(') + "a" + std::string(200000, ')') + " == 1";
  CHECK_THROWS_WITH(sweep::FilterExpression(deep, "", {"a"}), Contains("longer than 4096"));
  const std::string nested = std::string(150, '(') + "a" + std::string(150, ')') + " == 1";
  CHECK_THROWS_WITH(sweep::FilterExpression(nested, "", {"a"}), Contains("nested more than 100"));
  CHECK(sweep::FilterExpression(std::string(50, '(') + "a" + std::string(50, ')') + " == 1", "",
                                {"a"})
            .keep({{"a", "1"}}));
}

TEST_CASE("a bad axis key or value fails before any point runs, at the plan's line", "[unit]") {
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  tile.array.rowz: [16]\n"),
             Contains("p.yaml:3:3:") && Contains("tile.array.rowz: not a key"));
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  tile.array.rows: [16,\n    abc]\n"),
             Contains("p.yaml:4:5:") && Contains("tile.array.rows = abc"));
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  chiplet.hbm.preset: [hbm3, hbm9]\n"),
             Contains("p.yaml:3:30:") && Contains("unknown preset 'hbm9'"));
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  tile.array.rows: {from: 1, to: 8}\n"),
             Contains("p.yaml:3:20:") && Contains("exactly one of step or mul"));
  CHECK_THAT(error_of("workload: gen:x\nconfig: nosuch\n"), Contains("nosuch"));
  CHECK_THAT(error_of("workload: gen:x\nset: {tile.clock_mhz: -5}\n"),
             Contains("p.yaml:2:6:") && Contains("tile.clock_mhz"));
  CHECK_THAT(error_of("axes: {}\n"), Contains("needs a workload"));
  CHECK_THAT(error_of("workload: gen:x\nax: {}\n"),
             Contains("p.yaml:2:1:") && Contains("ax: unknown key"));
}

TEST_CASE("mapping choices are axes and fixed sets that become run options", "[unit]") {
  const auto plan = plan_of(
      "config: tiny\n"
      "workload: gen:llama2-7b,phase=decode\n"
      "set: {mapping.collective: ring, tile.array.rows: 32}\n"
      "axes:\n"
      "  mapping.weight_layout: [packed, row-major]\n"
      "  mapping.simulate_layers: [0, 2]\n"
      "filters:\n"
      "  - mapping.weight_layout == 'row-major' or mapping.simulate_layers == 2\n");
  REQUIRE(plan.points.size() == 3);
  CHECK(plan.points[0].labels == std::vector<std::string>{"packed", "2"});
  CHECK(plan.points[0].invalid.empty());
  CHECK(plan.axis_columns() ==
        std::vector<std::string>{"workload", "mapping.weight_layout", "mapping.simulate_layers"});
  const auto args = sweep::run_arguments(plan, plan.points[1], "/o");
  CHECK(args == std::vector<std::string>{"run", "--config", "tiny", "--trace",
                                         "gen:llama2-7b,phase=decode", "--collective", "ring",
                                         "--set", "tile.array.rows=32", "--weight-layout",
                                         "row-major", "--simulate-layers", "0", "--out", "/o",
                                         "--force", "--format", "json"});
  // Different choices, different points (ids follow every setting).
  CHECK(plan.points[1].id != plan.points[2].id);
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  mapping.weight_layout: [packed, tiled]\n"),
             Contains("p.yaml:3:35:") && Contains("expected one of packed, row-major"));
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  mapping.layout: [packed]\n"),
             Contains("p.yaml:3:3:") && Contains("not a mapping choice (mapping.weight_layout"));
  CHECK_THAT(error_of("workload: gen:x\nset: {mapping.collective_channels: -1}\n"),
             Contains("p.yaml:2:7:") && Contains("expected a count"));
  // 010 would run as 8 (octal) while the results said 10.
  CHECK_THAT(error_of("workload: gen:x\naxes:\n  mapping.simulate_layers: [1, 010]\n"),
             Contains("p.yaml:3:32:") && Contains("no leading zero"));
  // Given twice, the run option would be refused by every point.
  CHECK_THAT(error_of("workload: gen:x\nset: {mapping.collective: ring}\naxes:\n"
                      "  mapping.collective: [auto, ring]\n"),
             Contains("p.yaml:4:3:") && Contains("also fixed under set"));
}

TEST_CASE("a combination that fails a cross-key check becomes an invalid point", "[unit]") {
  // tiny lists one hbm_attach node; two stacks need two, which only the combination
  // (not the value 2 on its own key) gets wrong: the point is recorded as failed.
  const auto plan = plan_of("workload: gen:x\naxes:\n  chiplet.hbm_stacks: [1, 2]\n");
  REQUIRE(plan.points.size() == 2);
  CHECK(plan.points[0].invalid.empty());
  CHECK_THAT(plan.points[1].invalid, Contains("hbm_attach"));
}

TEST_CASE("a point's key follows its trace file's contents, so an edited trace reruns", "[unit]") {
  const sim::TempDir tmp("tessera-plan-key", "test");
  const std::string& dir = tmp.path();
  const std::string tsr = dir + "/w.tsr";
  std::ofstream(tsr) << "tessera-trace 1\ngemm g m=64 n=64 k=64 weights=b\n";
  const std::string text = "workload: w.tsr\naxes:\n  tile.array.rows: [16, 32]\n";
  const auto a = sweep::parse_plan(text, dir + "/p.yaml", dir);
  const auto same = sweep::parse_plan(text, dir + "/p.yaml", dir);
  std::ofstream(tsr) << "tessera-trace 1\ngemm g m=4096 n=4096 k=4096 weights=b\n";
  const auto edited = sweep::parse_plan(text, dir + "/p.yaml", dir);
  REQUIRE(a.points.size() == 2);
  CHECK(a.points[0].key == same.points[0].key);
  CHECK(a.points[0].key != edited.points[0].key);
  CHECK(a.points[0].id != edited.points[0].id);
}

TEST_CASE("a built-in plan run by name finds its own trace", "[unit]") {
  const auto plan = sweep::load_plan("fabric_mesh_vs_switch");
  REQUIRE_FALSE(plan.points.empty());
  for (const auto& p : plan.points) {
    INFO(p.workload->trace);
    CHECK(p.workload->trace == "configs/sweeps/train_step_dp4.tsr");
  }
}

TEST_CASE("every built-in plan validates", "[unit]") {
  for (const char* name : {"fabric_mesh_vs_switch", "llama2_decode_array_hbm", "tiny_array_hbm",
                           "llama2_chunked_prefill"}) {
    INFO(name);
    CHECK_FALSE(sweep::load_plan(name).points.empty());
  }
  // The chunk-size plan: three mixed iterations crossed with two HBM generations.
  CHECK(sweep::load_plan("llama2_chunked_prefill").points.size() == 6);
}

TEST_CASE("a stepped range gives the decimal values it names", "[unit]") {
  const auto p = sweep::parse_plan(
      "workload: gen:x\naxes:\n  chiplet.noc.vcs: {from: 2, to: 4, step: 2}\n"
      "  tile.array.mac_pj: {from: 0.1, to: 0.7, step: 0.1}\n",
      "p.yaml", "");
  std::set<std::string> rates;
  for (const auto& pt : p.points) rates.insert(pt.labels[1]);
  CHECK(rates == std::set<std::string>{"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"});
}
