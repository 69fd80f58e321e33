// The Tessera trace format (".tsr"): a versioned, human-readable text file with one op
// per line. The full grammar is in docs/workloads.md; in short:
//
//   tessera-trace 1                      # header: magic word and format version
//   meta model=llama2-7b phase=decode    # workload attributes (optional)
//   gemm l0.wq m=1 n=4096 k=4096 dtype=bf16 weights=b deps=l0.attn_norm layer=0
//
// parse_trace() reports "file:line: problem" (sim::UserError) for every malformed line,
// and write_trace(parse_trace(x)) == x for any x that write_trace produced.
#pragma once

#include <string>

#include "traces/workload.h"

namespace tessera::traces {

inline constexpr int kTraceFormatVersion = 1;
inline constexpr const char* kTraceMagic = "tessera-trace";

// Parses trace text. `file` names the source in error messages.
Workload parse_trace(const std::string& text, const std::string& file);

// The canonical text of a workload.
std::string write_trace(const Workload& w);

// Reads a trace file; a name that is not a file but names a built-in example
// ("block" or "traces/examples/block.tsr") loads the embedded copy.
Workload load_trace(const std::string& path);

}  // namespace tessera::traces
