// Import of MLCommons Chakra execution traces (the protobuf ET format ASTRA-sim reads):
// one file per rank, each a stream of varint-length-prefixed records (a metadata record,
// then one node per record). The mapping to ops is in docs/workloads.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "traces/workload.h"

namespace tessera::traces {

struct ChakraImportOptions {
  int64_t group = 0;  // ranks in each collective; 0 = the number of files imported
};

// What one file held and how it came in.
struct ChakraFileSummary {
  std::string file;
  int64_t rank = 0;           // as the file name says
  int64_t imported_rank = 0;  // its rank in the workload (the files renumbered from 0)
  std::string schema;         // version from the metadata record
  int64_t nodes = 0;          // node records
  std::map<std::string, int64_t> node_types;  // Chakra node type -> count
  std::map<std::string, int64_t> op_kinds;    // Tessera op kind -> count
  int64_t host_nodes = 0;                     // CPU-side nodes kept only for ordering
  int64_t shaped_gemms = 0;                   // GEMMs/convs recovered from input shapes
  int64_t dropped_deps = 0;                   // deps on nodes not in the file, or on self
  int64_t cyclic_ctrl_deps = 0;               // ctrl deps that would close a cycle, left out
};

// `inputs` are .et files or folders (every *.et file in them). Ranks come from names like
// "<prefix>.<rank>.et", else from the sorted order; the workload numbers the files' ranks
// from 0 in that order (importing x.2.et and x.3.et of a run gives ranks 0 and 1, and
// their send/recv peers are renumbered alike). UserError for anything unreadable, or for
// a peer whose file is not imported.
Workload import_chakra(const std::vector<std::string>& inputs, const ChakraImportOptions& opt,
                       std::vector<ChakraFileSummary>* summary = nullptr);

}  // namespace tessera::traces
