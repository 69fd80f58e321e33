// Chakra import against the public sample traces. What the files hold is counted here
// independently of the importer, by a minimal protobuf wire walk (varint length prefixes,
// then the fields of each node record).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>
#include <cmath>

#include "models/sim/errors.h"
#include "traces/chakra_import.h"

using namespace tessera::traces;
using tessera::sim::UserError;
namespace fs = std::filesystem;

namespace {

const std::string kDir = TESSERA_CHAKRA_DIR;

struct Field {
  uint32_t number = 0, wire = 0;
  uint64_t varint = 0;
  std::string bytes;
};

bool varint(const std::string& s, size_t& i, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && i < s.size(); shift += 7) {
    uint8_t c = uint8_t(s[i++]);
    v |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

std::vector<Field> fields(const std::string& msg) {
  std::vector<Field> out;
  size_t i = 0;
  while (i < msg.size()) {
    uint64_t key = 0;
    REQUIRE(varint(msg, i, key));
    Field f;
    f.number = uint32_t(key >> 3);
    f.wire = uint32_t(key & 7);
    if (f.wire == 0) {
      REQUIRE(varint(msg, i, f.varint));
    } else if (f.wire == 2) {
      uint64_t len = 0;
      REQUIRE(varint(msg, i, len));
      f.bytes = msg.substr(i, len);
      i += len;
    } else if (f.wire == 1) {
      i += 8;
    } else if (f.wire == 5) {
      i += 4;
    } else {
      FAIL("unexpected wire type");
    }
    out.push_back(std::move(f));
  }
  return out;
}

// What one node record says, read straight off the wire.
struct RawNode {
  uint64_t id = 0, type = 0;
  size_t data_deps = 0;
  std::map<std::string, uint64_t> int_attrs;
  bool cpu = false, has_cpu_flag = false;
};

std::vector<RawNode> raw_nodes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<RawNode> out;
  size_t i = 0;
  bool first = true;
  while (i < buf.size()) {
    uint64_t len = 0;
    REQUIRE(varint(buf, i, len));
    std::string rec = buf.substr(i, len);
    i += len;
    if (first) {  // the metadata record
      first = false;
      continue;
    }
    RawNode n;
    for (const auto& fl : fields(rec)) {
      if (fl.number == 1) n.id = fl.varint;
      if (fl.number == 3) n.type = fl.varint;
      if (fl.number == 5) {
        if (fl.wire == 0) {
          ++n.data_deps;
        } else {  // packed
          size_t j = 0;
          uint64_t v;
          while (j < fl.bytes.size() && varint(fl.bytes, j, v)) ++n.data_deps;
        }
      }
      if (fl.number == 10) {
        std::string name;
        uint64_t value = 0;
        bool has_int = false, flag = false, has_flag = false;
        for (const auto& a : fields(fl.bytes)) {
          if (a.number == 1) name = a.bytes;
          if (a.wire == 0 && (a.number == 7 || a.number == 9 || a.number == 11 || a.number == 13)) {
            value = a.varint;
            has_int = true;
          }
          if (a.number == 27) {
            flag = a.varint != 0;
            has_flag = true;
          }
        }
        if (has_int) n.int_attrs[name] = value;
        if (name == "is_cpu_op" && has_flag) {
          n.cpu = flag;
          n.has_cpu_flag = true;
        }
      }
    }
    out.push_back(n);
  }
  return out;
}

size_t count_rank(const Workload& w, int64_t rank) {
  return size_t(
      std::count_if(w.ops().begin(), w.ops().end(), [&](const Op& op) { return op.rank == rank; }));
}

bool have_samples() {
  if (fs::exists(kDir)) return true;
  WARN("Chakra sample traces not found at " << kDir << "; nothing checked");
  return false;
}

}  // namespace

TEST_CASE("Chakra microbenchmarks: one collective per rank, sized as the files say", "[unit]") {
  if (!have_samples()) return;
  const std::map<std::string, OpKind> dirs = {{"all_reduce", OpKind::kAllReduce},
                                              {"all_gather", OpKind::kAllGather},
                                              {"reduce_scatter", OpKind::kReduceScatter},
                                              {"all_to_all", OpKind::kAllToAll}};
  for (const auto& [dir, kind] : dirs) {
    INFO(dir);
    const std::string path = kDir + "/microbench_4npus_1MB/" + dir;
    std::vector<ChakraFileSummary> sums;
    Workload w = import_chakra({path}, {}, &sums);
    REQUIRE(sums.size() == 4);
    REQUIRE(w.size() == 4);
    for (int64_t r = 0; r < 4; ++r) {
      auto raw = raw_nodes(path + "/" + dir + "." + std::to_string(r) + ".et");
      REQUIRE(raw.size() == 1);
      CHECK(raw[0].type == 7);  // COMM_COLL_NODE
      const Op& op = w.op(size_t(r));
      CHECK(op.rank == r);
      CHECK(op.kind == kind);
      // An all-gather's comm_size is each rank's part (ASTRA-sim); `bytes` the result.
      const uint64_t parts = kind == OpKind::kAllGather ? 4 : 1;
      CHECK(uint64_t(op.bytes) == parts * raw[0].int_attrs.at("comm_size"));
      CHECK(op.group == 4);
    }
  }
}

TEST_CASE("Chakra custom ring all-reduce: sends, receives and compute per rank", "[unit]") {
  if (!have_samples()) return;
  const std::string dir = kDir + "/custom_ring_allreduce_8npus_1MB";
  std::vector<ChakraFileSummary> sums;
  Workload w = import_chakra({dir}, {}, &sums);
  REQUIRE(sums.size() == 8);
  for (int64_t r = 0; r < 8; ++r) {
    INFO("rank " << r);
    auto raw = raw_nodes(dir + "/custom_allreduce." + std::to_string(r) + ".et");
    std::map<uint64_t, size_t> types;
    int64_t send_bytes = 0, deps = 0;
    for (const auto& n : raw) {
      ++types[n.type];
      if (n.type == 5) send_bytes += int64_t(n.int_attrs.at("comm_size"));
      deps += int64_t(n.data_deps);
    }
    CHECK(count_rank(w, r) == raw.size());
    int64_t sends = 0, recvs = 0, comps = 0, imported_send_bytes = 0, imported_deps = 0;
    for (const auto& op : w.ops()) {
      if (op.rank != r) continue;
      sends += op.kind == OpKind::kSend;
      recvs += op.kind == OpKind::kRecv;
      comps += op.kind == OpKind::kOpaque;
      if (op.kind == OpKind::kSend) imported_send_bytes += op.bytes;
      imported_deps += int64_t(op.deps.size());
    }
    CHECK(sends == int64_t(types[5]));
    CHECK(recvs == int64_t(types[6]));
    CHECK(comps == int64_t(types[4]));
    CHECK(imported_send_bytes == send_bytes);
    CHECK(imported_deps == deps);  // every data dependency survives
    CHECK(sums[size_t(r)].dropped_deps == 0);
  }
  // As the provenance notes say: 14 sends, 14 receives and 7 compute nodes per rank.
  CHECK(sums[0].node_types.at("COMM_SEND") == 14);
  CHECK(sums[0].node_types.at("COMM_RECV") == 14);
  CHECK(sums[0].node_types.at("COMP") == 7);
}

TEST_CASE("Chakra PyTorch ResNet trace: every node, collectives and conv shapes", "[unit]") {
  const std::string file = TESSERA_CHAKRA_RESNET;
  if (!fs::exists(file)) {
    WARN("unpacked ResNet Chakra trace not found at " << file << "; nothing checked");
    return;
  }
  auto raw = raw_nodes(file);
  std::vector<ChakraFileSummary> sums;
  Workload w = import_chakra({file}, {}, &sums);
  REQUIRE(sums.size() == 1);
  CHECK(w.size() == raw.size());
  CHECK(raw.size() == 3664);  // provenance notes: 3,643 COMP + 21 COMM_COLL
  // Device-side collectives carry comm_size; the importer's sizes are exactly those.
  std::vector<int64_t> file_sizes, imported;
  for (const auto& n : raw)
    if (n.type == 7 && n.has_cpu_flag && !n.cpu && n.int_attrs.count("comm_size"))
      file_sizes.push_back(int64_t(n.int_attrs.at("comm_size")));
  for (const auto& op : w.ops())
    if (is_communication(op.kind)) imported.push_back(op.bytes);
  std::sort(file_sizes.begin(), file_sizes.end());
  std::sort(imported.begin(), imported.end());
  CHECK(file_sizes.size() == 7);
  CHECK(imported == file_sizes);
  // A cuDNN forward kernel: input [32,64,56,56], weight [256,64,1,1], output [32,256,56,56].
  const Op& conv = w.op(size_t(w.find("r0.n1682")));
  CHECK(conv.kind == OpKind::kConv);
  CHECK(conv.m == 32 * 56 * 56);
  CHECK(conv.n == 256);
  CHECK(conv.k == 64);
  CHECK(sums[0].shaped_gemms > 50);
  CHECK(sums[0].host_nodes > 1000);
  // ResNet-50 has 53 convolutions (stem, 16 blocks of 3, 4 projections), about 8.2
  // GFLOP forward per image: each counted once although cuDNN ran helper kernels
  // (offsets, Winograd transforms) carrying the same shapes; backward is about twice
  // forward, so a training step at batch 32 is about 3 x 262 GFLOP.
  size_t convs = 0;
  double conv_flops = 0;
  for (const auto& op : w.ops())
    if (op.kind == OpKind::kConv) {
      ++convs;
      conv_flops += flops(op);
    }
  CHECK(convs == 53);
  CHECK(conv_flops == Approx(32 * 8.2e9).epsilon(0.03));
  CHECK(w.total_flops() == Approx(3 * 32 * 8.2e9).epsilon(0.1));
}

TEST_CASE("Chakra import refuses broken input with a one-line message", "[unit]") {
  const std::string tmp = TESSERA_BINARY_DIR "/traces_chakra_bad";
  fs::create_directories(tmp);
  {
    std::ofstream(tmp + "/junk.0.et", std::ios::binary)
        << "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
  }
  CHECK_THROWS_WITH(import_chakra({tmp + "/junk.0.et"}, {}),
                    Catch::Contains("junk.0.et: record 0 at byte 0: bad length prefix"));
  if (have_samples()) {
    // A real file cut short.
    std::ifstream in(kDir + "/custom_ring_allreduce_8npus_1MB/custom_allreduce.0.et",
                     std::ios::binary);
    std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(tmp + "/cut.1.et", std::ios::binary) << buf.substr(0, buf.size() - 10);
    CHECK_THROWS_AS(import_chakra({tmp + "/cut.1.et"}, {}), UserError);
  }
  CHECK_THROWS_WITH(import_chakra({tmp + "/none.et"}, {}), Catch::Contains("no such file"));
  fs::create_directories(tmp + "/empty");
  CHECK_THROWS_WITH(import_chakra({tmp + "/empty"}, {}), Catch::Contains("no .et files"));
}

namespace {
// Protobuf wire encoding, enough to write small ET files by hand.
std::string varint(uint64_t v) {
  std::string s;
  do {
    uint8_t b = uint8_t(v & 0x7f);
    v >>= 7;
    s += char(v ? b | 0x80 : b);
  } while (v);
  return s;
}
std::string field_int(int f, uint64_t v) {
  return varint(uint64_t(f) << 3) + varint(v);
}
std::string field_bytes(int f, const std::string& b) {
  return varint((uint64_t(f) << 3) | 2) + varint(b.size()) + b;
}
// A GPU-kernel COMP node (is_cpu_op = false) with its inputs, outputs and duration.
std::string kernel(uint64_t id, const std::string& name, const std::string& in_shapes,
                   const std::string& in_types, const std::string& out_shapes, uint64_t dur) {
  const std::string attr = field_bytes(1, "is_cpu_op") + field_int(27, 0);
  return field_int(1, id) + field_bytes(2, name) + field_int(3, 4) + field_int(7, dur) +
         field_bytes(8, field_bytes(2, in_shapes) + field_bytes(3, in_types)) +
         field_bytes(9, field_bytes(2, out_shapes) + field_bytes(3, "['Tensor(float)']")) +
         field_bytes(10, attr);
}
}  // namespace

TEST_CASE("Chakra convolutions: counted once per run of kernels, elementwise ops never", "[unit]") {
  // Batch 64 = 64 channels: an add of two [64,64,56,56] tensors has conv-compatible
  // shapes but no stride/padding/dilation lists, so it stays elementwise. A forward
  // convolution's three kernels (helper, GEMM kernel, helper) count it once, on the
  // longest; its backward's four kernels carry the data- and weight-gradient GEMMs on
  // the two longest.
  const std::string tmp = TESSERA_BINARY_DIR "/traces_chakra_conv";
  fs::create_directories(tmp);
  const std::string x = "[64,64,56,56]", wt = "[256,64,1,1]", y = "[64,256,56,56]";
  const std::string conv_types =
      "['Tensor(float)','Tensor(float)','GenericList[Int,Int]','GenericList[Int,Int]',"
      "'GenericList[Int,Int]','Int']";
  const std::string bwd_types =
      "['Tensor(float)','Tensor(float)','Tensor(float)',"
      "'GenericList[Int]','GenericList[Int]','GenericList[Int]']";
  std::string file;
  auto record = [&file](const std::string& msg) { file += varint(msg.size()) + msg; };
  record(field_bytes(1, "1.0.1"));
  record(kernel(1, "vectorized_elementwise_kernel<add>", "[" + x + "," + x + ",[]]",
                "['Tensor(float)','Tensor(float)','Int']", "[" + x + "]", 40));
  record(kernel(2, "computeOffsetsKernel", "[" + x + "," + wt + ",[],[],[],[]]", conv_types,
                "[" + y + "]", 2));
  record(kernel(3, "scudnn_128x128_relu_medium", "[" + x + "," + wt + ",[],[],[],[]]", conv_types,
                "[" + y + "]", 900));
  record(kernel(4, "winogradForwardOutput", "[" + x + "," + wt + ",[],[],[],[]]", conv_types,
                "[" + y + "]", 300));
  record(kernel(5, "computeBOffsetsKernel", "[" + y + "," + x + "," + wt + ",[],[],[]]", bwd_types,
                "[" + x + "]", 2));
  record(kernel(6, "scudnn_stridedB_small", "[" + y + "," + x + "," + wt + ",[],[],[]]", bwd_types,
                "[" + x + "]", 700));
  record(kernel(7, "computeWgradOffsets", "[" + y + "," + x + "," + wt + ",[],[],[]]", bwd_types,
                "[" + x + "]", 3));
  record(kernel(8, "scudnn_stridedB_splitK", "[" + y + "," + x + "," + wt + ",[],[],[]]", bwd_types,
                "[" + x + "]", 1500));
  // A bf16 all-reduce of 4 MiB: its element type comes from its input tensor.
  record(
      field_int(1, 9) + field_bytes(2, "nccl:all_reduce") + field_int(3, 7) +
      field_bytes(8, field_bytes(2, "[[2097152]]") + field_bytes(3, "['Tensor(c10::BFloat16)']")) +
      field_bytes(10, field_bytes(1, "comm_type") + field_int(9, 0)) +
      field_bytes(10, field_bytes(1, "comm_size") + field_int(9, 4194304)) +
      field_bytes(10, field_bytes(1, "is_cpu_op") + field_int(27, 0)));
  std::ofstream(tmp + "/conv.0.et", std::ios::binary) << file;

  std::vector<ChakraFileSummary> sums;
  const Workload w = import_chakra({tmp + "/conv.0.et"}, {}, &sums);
  REQUIRE(w.size() == 9);
  const Op& ar = w.op(size_t(w.find("r0.n9")));
  CHECK(ar.kind == OpKind::kAllReduce);
  CHECK(ar.bytes == 4194304);
  CHECK(ar.dtype == DType::kBf16);
  const Op& add = w.op(size_t(w.find("r0.n1")));
  CHECK(add.kind == OpKind::kOpaque);
  CHECK(add.flops_given == 64 * 64 * 56 * 56);
  const double gemm = 2.0 * 64 * 56 * 56 * 256 * 64;  // the forward GEMM's FLOPs
  double conv = 0, bwd = 0;
  for (uint64_t id = 2; id <= 4; ++id) {
    const Op& op = w.op(size_t(w.find("r0.n" + std::to_string(id))));
    if (op.kind == OpKind::kConv) conv += tessera::traces::flops(op);
    CHECK((op.kind == OpKind::kConv) == (id == 3));
  }
  for (uint64_t id = 5; id <= 8; ++id) {
    const Op& op = w.op(size_t(w.find("r0.n" + std::to_string(id))));
    REQUIRE(op.kind == OpKind::kOpaque);
    if (id == 6 || id == 8) {
      CHECK(op.flops_given == int64_t(gemm));
      bwd += double(op.flops_given);
    } else {
      CHECK(op.flops_given < int64_t(gemm) / 100);  // a helper: one FLOP per element
    }
  }
  CHECK(conv == Approx(gemm));
  CHECK(bwd == Approx(2 * gemm));
  CHECK(sums[0].shaped_gemms == 1);
}

namespace {
// A protobuf double field (wire type 1).
std::string field_f64(int f, double v) {
  std::string s = varint((uint64_t(f) << 3) | 1);
  s.append(reinterpret_cast<const char*>(&v), 8);
  return s;
}
}  // namespace

TEST_CASE("Chakra counts that are not counts are refused, a schema text stays one field",
          "[unit]") {
  // num_ops as NaN, 1e30 or -5, and tensors of more than 2^56 bytes in all, became 0
  // FLOPs or 0 bytes without a word until the twelfth session.
  const std::string tmp = TESSERA_BINARY_DIR "/traces_chakra_counts";
  fs::create_directories(tmp);
  auto one_node = [&](const std::string& name, const std::string& node) {
    const std::string path = tmp + "/" + name + ".0.et";
    std::string file;
    for (const std::string& msg : {field_bytes(1, "1.0 beta#x"), node})
      file += varint(msg.size()) + msg;
    std::ofstream(path, std::ios::binary) << file;
    return path;
  };
  auto comp = [](const std::string& num_ops_attr) {
    return field_int(1, 1) + field_bytes(2, "k") + field_int(3, 4) +
           field_bytes(10, field_bytes(1, "num_ops") + num_ops_attr);
  };
  for (double bad : {std::nan(""), 1e30}) {
    INFO(bad);
    CHECK_THROWS_WITH(import_chakra({one_node("nan", comp(field_f64(3, bad)))}, {}),
                      Catch::Contains("num_ops is not a count"));
  }
  CHECK_THROWS_WITH(import_chakra({one_node("neg", comp(field_int(9, uint64_t(-5))))}, {}),
                    Catch::Contains("num_ops is not a count"));
  // 32 inputs of 2^48 doubles: 2^56 bytes each time 32 overflowed int64 to 0.
  std::string shapes = "[", types = "[";
  for (int i = 0; i < 32; ++i) {
    shapes += std::string(i ? "," : "") + "[1024,1024,1024,1024,1024,256]";
    types += std::string(i ? "," : "") + "'Tensor(double)'";
  }
  const std::string big =
      field_int(1, 1) + field_bytes(2, "k") + field_int(3, 4) +
      field_bytes(8, field_bytes(2, shapes + "]") + field_bytes(3, types + "]"));
  CHECK_THROWS_WITH(import_chakra({one_node("big", big)}, {}), Catch::Contains("above 2^56"));
  // A collective named with a line break: the message quotes it on one line (it broke
  // the line before; found by mutating the sample files).
  CHECK_THROWS_WITH(
      import_chakra({one_node("nl", field_int(1, 1) + field_bytes(2, "x\ny") + field_int(3, 7))},
                    {}),
      Catch::Contains("its name 'x?y' names no collective"));
  // The schema "1.0 beta#x" becomes one meta field that reads back.
  const Workload w = import_chakra({one_node("ok", comp(field_int(9, 1000)))}, {});
  CHECK(w.meta.at("chakra_schema") == "1.0_beta_x");
}

TEST_CASE("Chakra ctrl deps are kept unless they close a cycle", "[unit]") {
  // Until the thirteenth session a ctrl dep was kept only when it agreed with one
  // topological order of the data deps: "a after c" below was dropped although nothing
  // orders c after a.
  const std::string tmp = TESSERA_BINARY_DIR "/traces_chakra_ctrl";
  fs::create_directories(tmp);
  auto node = [](uint64_t id, std::vector<uint64_t> data, std::vector<uint64_t> ctrl) {
    std::string s = field_int(1, id) + field_bytes(2, "k" + std::to_string(id)) + field_int(3, 4) +
                    field_bytes(10, field_bytes(1, "num_ops") + field_int(9, 100));
    for (uint64_t d : ctrl) s += field_int(4, d);
    for (uint64_t d : data) s += field_int(5, d);
    return s;
  };
  auto write = [&](const std::string& name, const std::vector<std::string>& nodes) {
    const std::string path = tmp + "/" + name + ".0.et";
    std::string file;
    const std::string meta = field_bytes(1, "1.0");
    file += varint(meta.size()) + meta;
    for (const std::string& msg : nodes) file += varint(msg.size()) + msg;
    std::ofstream(path, std::ios::binary) << file;
    return path;
  };
  auto deps_of = [](const Workload& w, const std::string& op) {
    auto d = w.op(size_t(w.find(op))).deps;
    std::sort(d.begin(), d.end());
    return d;
  };
  // Data: b after a. Ctrl, in file order: a after c, b after c (implied already, kept),
  // c after d, d after b (the last read closes the cycle d -> c -> a -> b -> d).
  std::vector<ChakraFileSummary> sums;
  const Workload w = import_chakra(
      {write("ctrl", {node(1, {}, {3}), node(2, {1}, {3}), node(3, {}, {4}), node(4, {}, {2})})},
      {}, &sums);
  REQUIRE(sums.size() == 1);
  CHECK(deps_of(w, "r0.n1") == std::vector<std::string>{"r0.n3"});
  CHECK(deps_of(w, "r0.n2") == std::vector<std::string>{"r0.n1", "r0.n3"});
  CHECK(deps_of(w, "r0.n3") == std::vector<std::string>{"r0.n4"});
  CHECK(deps_of(w, "r0.n4").empty());  // "d after b" would close the cycle
  CHECK(sums[0].cyclic_ctrl_deps == 1);
  // Both directions between two nodes: the first one read is kept.
  sums.clear();
  const Workload w2 =
      import_chakra({write("both", {node(1, {}, {2}), node(2, {}, {1})})}, {}, &sums);
  CHECK(deps_of(w2, "r0.n1") == std::vector<std::string>{"r0.n2"});
  CHECK(deps_of(w2, "r0.n2").empty());
  CHECK(sums[0].cyclic_ctrl_deps == 1);
}

TEST_CASE("Chakra: a subset of a run's rank files imports, renumbered from rank 0", "[unit]") {
  // Until the thirteenth session `x.2.et` alone was refused (its rank 2 lay outside the
  // one rank imported). The files' ranks are now numbered from 0 in order, send/recv
  // peers alike; a peer whose file is not imported is refused with its record.
  if (!have_samples()) return;
  const std::string ar = kDir + "/microbench_4npus_1MB/all_reduce/all_reduce.";
  std::vector<ChakraFileSummary> sums;
  const Workload w = import_chakra({ar + "2.et", ar + "3.et"}, {}, &sums);
  REQUIRE(sums.size() == 2);
  CHECK(sums[0].rank == 2);
  CHECK(sums[0].imported_rank == 0);
  CHECK(sums[1].imported_rank == 1);
  CHECK(w.meta.at("ranks") == "2");
  REQUIRE(w.size() == 2);
  CHECK(w.op(0).rank == 0);
  CHECK(w.op(0).name == "r0.n2");
  CHECK(w.op(0).group == 2);  // among the ranks imported
  // A group larger than the files imported made a trace every run refused; refused here.
  ChakraImportOptions big;
  big.group = 4;
  CHECK_THROWS_WITH(import_chakra({ar + "2.et", ar + "3.et"}, big),
                    Catch::Contains("--group 4 is larger than the 2 rank files imported"));
  big.group = -1;
  CHECK_THROWS_WITH(import_chakra({ar + "2.et"}, big), Catch::Contains("--group -1 is negative"));
  big.group = 2;
  CHECK(import_chakra({ar + "2.et", ar + "3.et"}, big).op(0).group == 2);
  const std::string ring = kDir + "/custom_ring_allreduce_8npus_1MB/custom_allreduce.";
  CHECK_THROWS_WITH(import_chakra({ring + "2.et", ring + "3.et"}, {}),
                    Catch::Contains("custom_allreduce.2.et: record") &&
                        Catch::Contains("receives from rank 1, whose file is not among those "
                                        "imported"));
}

// Mutated real files (seeded, 1-4 edits each: a byte replaced, inserted or deleted, a
// slice repeated, the file cut short) either import into a workload that validates or
// are refused with a UserError naming the file: never another exception or a crash.
TEST_CASE("Chakra import: mutated sample files import or are refused and never crash", "[unit]") {
  if (!have_samples()) return;
  const std::string tmp = TESSERA_BINARY_DIR "/traces_chakra_fuzz";
  fs::create_directories(tmp);
  std::vector<std::string> seeds;
  for (const char* f : {"/custom_ring_allreduce_8npus_1MB/custom_allreduce.0.et",
                        "/microbench_4npus_1MB/all_reduce/all_reduce.0.et",
                        "/microbench_4npus_1MB/all_to_all/all_to_all.0.et"}) {
    std::ifstream in(kDir + f, std::ios::binary);
    seeds.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(!seeds.back().empty());
  }
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&x](uint64_t n) {  // xorshift64*, in [0, n)
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    return (x * 0x2545F4914F6CDD1Dull) % std::max<uint64_t>(n, 1);
  };
  int imported = 0, refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string b = seeds[size_t(i) % seeds.size()];
    for (uint64_t e = 0, edits = 1 + next(4); e < edits && !b.empty(); ++e) {
      const size_t at = size_t(next(b.size()));
      switch (next(5)) {
        case 0:
          b[at] = char(next(256));
          break;
        case 1:
          b.insert(b.begin() + long(at), char(next(256)));
          break;
        case 2:
          b.erase(at, 1);
          break;
        case 3:
          b.insert(at, b.substr(at, size_t(next(64))));
          break;
        default:
          b.resize(at);
          break;
      }
    }
    const std::string path = tmp + "/fuzz.0.et";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << b;
    INFO("mutation " << i);
    try {
      const Workload w = import_chakra({path}, {});
      w.validate();
      ++imported;
    } catch (const UserError& e) {
      CHECK(std::string(e.what()).find('\n') == std::string::npos);  // one line
      ++refused;
    }
  }
  // Both outcomes occur: most mutations break the wire format, some land in values the
  // importer takes (59 and 1,941 with this seed).
  CHECK(imported > 20);
  CHECK(refused > 1000);
}
