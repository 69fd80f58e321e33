// Config validation: every error class gives one line `file:line:col: key.path: what`.
#include "models/sim/config_schema.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "models/sim/output_dir.h"
#include "models/system/system_spec.h"

using tessera::sim::ConfigError;
using tessera::system::load_spec;

namespace {
std::string write_tmp(const std::string& name, const std::string& text) {
  const std::string path = std::string(TESSERA_BINARY_DIR) + "/" + name;
  std::ofstream(path) << text;
  return path;
}
// The message load_spec throws for a config text (empty if it loads).
std::string error_of(const std::string& name, const std::string& text) {
  const std::string path = write_tmp(name, text);
  try {
    load_spec(path);
  } catch (const ConfigError& e) {
    REQUIRE(e.exit_code() == 2);
    const std::string msg = e.what();
    REQUIRE(msg.find('\n') == std::string::npos);  // one line
    return msg.substr(path.size());                // drop the folder part
  }
  return "";
}
}  // namespace

TEST_CASE("config: unknown key names line, column and a suggestion", "[unit]") {
  REQUIRE(error_of("unknown.yaml", "tile:\n  arrray: {rows: 3}\n") ==
          ":2:3: tile.arrray: unknown key (did you mean 'array'?)");
  REQUIRE(error_of("unknown2.yaml", "name: x\nbogus: 1\n") == ":2:1: bogus: unknown key");
}

TEST_CASE("config: wrong type", "[unit]") {
  REQUIRE(error_of("type.yaml", "tile:\n  array: {rows: abc}\n") ==
          ":2:17: tile.array.rows: expected an integer, got 'abc'");
  REQUIRE(error_of("type2.yaml", "tile:\n  array:\n    fold_overlap: maybe\n") ==
          ":3:19: tile.array.fold_overlap: expected true or false, got 'maybe'");
  REQUIRE(error_of("type3.yaml", "tile: 5\n") == ":1:7: tile: expected a mapping of keys, got '5'");
  REQUIRE(error_of("type4.yaml", "tile:\n  array:\n    rows: 1.5\n") ==
          ":3:11: tile.array.rows: expected an integer, got '1.5'");
}

TEST_CASE("config: out of range and unknown choice", "[unit]") {
  REQUIRE(error_of("range.yaml", "tile:\n  array:\n    rows: 0\n") ==
          ":3:11: tile.array.rows: 0 is out of range [1, 1024]");
  REQUIRE(error_of("range2.yaml", "tile:\n  array:\n    cols: -4\n") ==
          ":3:11: tile.array.cols: -4 is out of range (must be >= 0)");
  REQUIRE(error_of("choice.yaml", "tile:\n  array: {dataflow: xs}\n") ==
          ":2:21: tile.array.dataflow: 'xs' is not one of: ws, os, is");
}

TEST_CASE("config: inconsistent values", "[unit]") {
  REQUIRE(error_of("incons.yaml",
                   "chiplet:\n  hbm_stacks: 1\n  hbm_attach: [{x: 0, y: 0}, {x: 1, y: 0}]\n") ==
          ":3:15: chiplet.hbm_attach: must list one node per HBM stack");
  REQUIRE(error_of("incons2.yaml", "chiplet:\n  hbm_attach: [{x: 5, y: 0}]\n") ==
          ":2:15: chiplet.hbm_attach: node outside the tile grid");
  // Ports run into the next columns eastward: three from column 2 of 4 would leave the
  // grid (at the east edge they run westward and fit).
  const std::string row = "chiplet:\n  tiles_x: 4\n  tiles_y: 1\n  hbm_ports: 3\n";
  REQUIRE(error_of("incons3.yaml", row + "  hbm_attach: [{x: 2, y: 0}]\n") ==
          ":5:15: chiplet.hbm_attach: a stack at column 2 has its 3 hbm_ports in 3 columns "
          "from it eastward, past the grid");
  REQUIRE(error_of("incons4.yaml", row + "  hbm_attach: [{x: 3, y: 0}]\n").empty());
}

TEST_CASE("config: missing file and malformed YAML", "[unit]") {
  const std::string missing = std::string(TESSERA_BINARY_DIR) + "/no_such_dir/machine.yaml";
  try {
    load_spec(missing);
    FAIL("loaded a missing file");
  } catch (const ConfigError& e) {
    REQUIRE(std::string(e.what()) == missing + ": cannot read: No such file or directory");
  }
  REQUIRE(error_of("malformed.yaml", "tile:\n  array: {rows: 4\nname: x\n") ==
          ":3:5: yaml: end of map flow not found");
  REQUIRE(error_of("malformed2.yaml", "a: b: c\n") == ":1:5: yaml: illegal map value");
}

TEST_CASE("config: --set overrides are validated like the file", "[unit]") {
  const auto spec = load_spec("tiny", {"tile.array.rows=64", "chiplet.noc.vcs=4"});
  REQUIRE(spec.tile.array.rows == 64);
  REQUIRE(spec.chiplet.noc.vcs == 4);
  // An error in a value given with --set names the argument, not a place in the file.
  REQUIRE_THROWS_WITH(load_spec("tiny", {"tile.array.rowz=64"}),
                      "--set tile.array.rowz=64: unknown key (did you mean 'rows'?)");
  REQUIRE_THROWS_WITH(load_spec("tiny", {"tile.arrai.rows=64"}),
                      "--set tile.arrai.rows=64: tile.arrai: unknown key (did you mean 'array'?)");
  REQUIRE_THROWS_WITH(load_spec("tiny", {"system.fabric.pj_per_bit=1e30"}),
                      "--set system.fabric.pj_per_bit=1e30: 1e30 is out of range [0, 1000]");
  REQUIRE_THROWS_WITH(load_spec("tiny", {"tile.array={rows: x}"}),
                      "--set tile.array={rows: x}: tile.array.rows: expected an integer, got 'x'");
  // A rule across sections points at the key it names, here set on the command line
  // (an HBM stack refuses requests that are not whole 32-byte accesses; a run with
  // align_bytes=16 failed part way through before).
  REQUIRE_THROWS_WITH(load_spec("chiplet4", {"tile.dma.align_bytes=16"}),
                      "--set tile.dma.align_bytes=16: must be a multiple of the HBM access (32 "
                      "B): the stacks take only whole, aligned accesses");
  // A key inside a mapping given with --set, an empty value, and a value that is a cycle
  // of aliases (it overflowed the stack while being tagged).
  REQUIRE_THROWS_WITH(load_spec("tiny", {"tile.array={rowz: 8}"}),
                      "--set tile.array={rowz: 8}: tile.array.rowz: unknown key (did you mean "
                      "'rows'?)");
  REQUIRE_THROWS_WITH(load_spec("tiny", {"tile.array.rows="}),
                      "--set tile.array.rows=: expected an integer, got nothing");
  REQUIRE_THROWS_AS(load_spec("tiny", {"x=&a [*a]"}), ConfigError);
  // A node shared through aliases is tagged once (walked every time it was 2^33 steps).
  REQUIRE_THROWS_AS(load_spec("tiny", {"x=&a [*a, *a]"}), ConfigError);
  // An item of a list given with --set is named by the argument.
  REQUIRE_THROWS_WITH(load_spec("tiny", {"chiplet.hbm_attach=[{x: 999, y: 0}]"}),
                      "--set chiplet.hbm_attach=[{x: 999, y: 0}]: chiplet.hbm_attach[0].x: 999 "
                      "is out of range [0, 255]");
  // A rule about another key of a section that --set made points at the file.
  const std::string wide = write_tmp("wide_burst.yaml",
                                     "chiplet:\n  hbm:\n    preset: hbm3\n"
                                     "    org: {burst_length: 16}\n"
                                     "    timing: {tCCD_S: 8, tCCD_L: 8}\n");
  REQUIRE_THROWS_WITH(load_spec(wide, {"tile.dma.outstanding=8"}),
                      wide +
                          ": tile.dma.align_bytes: must be a multiple of the HBM access (64 "
                          "B): the stacks take only whole, aligned accesses");
  // A value the file gives keeps the file's position when another key is set.
  const std::string path = write_tmp("set_other.yaml", "tile:\n  array: {rows: x}\n");
  REQUIRE_THROWS_WITH(load_spec(path, {"tile.array.cols=8"}),
                      path + ":2:17: tile.array.rows: expected an integer, got 'x'");
  REQUIRE_THROWS_AS(load_spec("tiny", {"tile.array.rows"}), ConfigError);
  // A --set into a config that is not a mapping is refused, not a crash.
  const std::string scalar = write_tmp("scalar.yaml", "42\n");
  REQUIRE_THROWS_WITH(load_spec(scalar, {"a.b=1"}), "--set: a.b: the config is not a mapping");
}

TEST_CASE("config: the resolved spec loads back to itself", "[unit]") {
  const auto spec = load_spec("tiny", {"tile.array.rows=32"});
  const std::string yaml = tessera::system::resolved_yaml(spec);
  const std::string path = write_tmp("resolved.yaml", yaml);
  REQUIRE(tessera::system::resolved_yaml(load_spec(path)) == yaml);
}

TEST_CASE("docs/config.md lists exactly the keys the loader validates", "[unit]") {
  using tessera::sim::ConfigDoc;
  const std::string table = ConfigDoc::markdown(ConfigDoc::describe<tessera::system::SystemSpec>());
  const std::string doc =
      tessera::sim::read_file(std::string(TESSERA_SOURCE_DIR) + "/docs/config.md");
  INFO("regenerate with: tools/gen_config_doc.sh");
  REQUIRE(doc.find(table) != std::string::npos);
}
