// The mapper lowers a workload (op DAG) onto a machine (SystemSpec): it splits each op
// over the tiles, tiles GEMMs to the arrays and scratchpads with double buffering,
// places weights, activations and KV caches in HBM stacks near the tiles that read
// them, turns collectives into ring transfers between rank groups or into reductions
// and multicasts in the package switch fabric, and emits one
// program per tile. It knows the spec and the address map, never the modules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mapper/gemm_tiling.h"
#include "models/system/address_map.h"
#include "models/system/system_spec.h"
#include "models/tile/program.h"
#include "traces/workload.h"

namespace tessera::mapper {

// The values MapOptions::collective and the weight layout take, as `tessera run` and
// sweep plans name them (one list for the CLI, the plan check and the mapper).
inline const std::vector<std::string> kCollectiveModes = {"auto", "ring", "tree", "switch"};
inline const std::vector<std::string> kWeightLayouts = {"packed", "row-major"};
// --attention: a prompt's qk -> softmax -> av as one kernel (fused) or three ops.
inline const std::vector<std::string> kAttentionModes = {"fused", "separate"};
// --weight-copies: how many copies of a weight block that tiles on several chiplets read.
inline const std::vector<std::string> kWeightCopies = {"auto", "once", "per-chiplet"};

struct MapOptions {
  // Transformer traces repeat identical layers. When > 0, only the first
  // `simulate_layers` layers are lowered and simulated; the report scales the layer
  // part by the repeat count and says so (an estimate, not a simulation).
  uint32_t simulate_layers = 0;
  // How collectives between rank groups are lowered: "auto" uses the switch fabric's
  // in-network reduction (all-reduce) or multicast (all-gather) when every rank group's
  // leader is in its own package and the fabric has in_network_reduction, else a ring;
  // "ring" always uses the ring; "tree" lowers all-reduce to a pipelined double binary
  // tree (each half of the buffer reduced up one tree and broadcast back down; the trees'
  // roots are the first and the last rank) and the rest as "ring" does; "switch"
  // requires the switch for every all-reduce and all-gather (an error names what stops
  // it).
  std::string collective = "auto";
  // Channels of a collective between rank groups: tiles of each group that move a
  // contiguous slice of the buffer each, concurrently, as NCCL's channels do (one tile's
  // DMA window per round trip would otherwise cap the collective). 0 chooses from the
  // machine (see Lowering::channels_for in mapper.cpp); N > 0 uses N, fewer when the
  // buffer has fewer DMA bursts than N. More than a rank group's tiles is an error.
  uint32_t collective_channels = 0;
  // Static weights (not K/V caches or activations) are stored in each tile's share block
  // by block, in the order the tile loads them, so that every block load is one
  // contiguous run of full DMA bursts, as accelerator compilers pre-pack weights for
  // their tiling. false: row-major; a block narrower than the share is then a strided
  // 2-D load whose rows are the block's width (bursts no longer than a row).
  bool pack_weights = true;
  // A prompt's attention (qk -> softmax -> av with nothing else reading the scores) as
  // one FlashAttention-style kernel: per row band, K and V blocks streamed through the
  // scratchpad, the scores never written to HBM. false: three ops, the scores and
  // probabilities through HBM (as unfused kernels).
  bool fuse_attention = true;
  // A weight (or K/V) block that several tiles read is stored "once" (in the interleaved
  // region when its readers are on several chiplets), or "per-chiplet": a copy in each
  // reading chiplet's stacks, so that no weight read crosses a die-to-die link, for
  // chiplets times the capacity. "auto": per chiplet when the workload's weights and
  // K/V caches, copied so, take at most 80 % of the machine's per-stack memory.
  std::string weight_copies = "auto";
  // At most this many tile commands in the whole mapping (0: no limit), and why, for the
  // error that refuses more (exit 1; the run command sets both from the host's free
  // memory, so that a workload too large to map and simulate fails with one line while
  // it is mapped instead of being killed for memory part way).
  uint64_t max_commands = 0;
  std::string max_commands_why;
};

// What the mapper decided for one workload op.
struct OpPlan {
  size_t op_index = 0;
  std::string name;
  std::string kind;
  std::string strategy;  // human-readable: split, blocks, placement
  uint32_t tiles = 0;    // tiles that run a part of it (every rank group's)
  double flops = 0;      // the op as the trace gives it (one rank group's)
  // Bytes that must move between HBM and scratchpads (every group's): each operand and
  // result once per tile share, so a lower bound where blocks re-read an operand; the
  // memory floor and the energy estimate of scaled layers use it.
  uint64_t hbm_bytes = 0;
  uint64_t link_bytes = 0;  // bytes sent between rank groups' tiles (collectives)
  int64_t layer = -1;
  bool simulated = true;  // false: a repeated layer, not lowered (see MapOptions)
  // Computed by another op's fused kernel (qk and softmax of a fused attention; their
  // FLOPs are counted there).
  bool fused = false;
};

struct Mapping {
  std::vector<tile::Program> programs;  // indexed by global tile id
  std::vector<OpPlan> ops;              // in workload order
  uint32_t groups = 1;                  // rank groups the machine was divided into
  // The trace lists each rank's ops (meta ranks > 1): an op runs on its own rank's group
  // only; otherwise every group runs every op.
  bool per_rank_ops = false;
  uint32_t layers_total = 0;  // distinct layer indices in the workload
  uint32_t layers_simulated = 0;
  // Some layer not simulated differs from the first one in its ops' kinds or work (e.g.
  // each MoE layer routes its tokens to other experts): scaling from the simulated
  // layers is then a coarser estimate, and the report says so.
  bool layers_differ = false;
  std::vector<uint64_t> stack_bytes_used;  // HBM allocation per stack
  // Per interleaved region (package.hbm_interleave_bytes), the allocation in it.
  std::vector<uint64_t> interleaved_bytes_used;
  // Weight blocks read by tiles on several chiplets: one copy per chiplet (see
  // MapOptions::weight_copies), and why.
  bool weights_per_chiplet = false;
  std::string weight_copies_why;
  std::string explain() const;
};

// What streaming costs a tile of this machine (for GEMM splits and blocks): its share
// of the HBM stacks' peak, or of the NoC ports they hang off (one flit per NoC cycle
// each), whichever is smaller; the DMA burst; a packet's head flit per burst.
StreamCost stream_cost(const system::SystemSpec& spec, const system::AddressMap& map);

// Throws sim::UserError (exit 2) when the workload cannot be placed on the machine
// (too large for HBM, rank groups that do not divide the tiles, ...).
Mapping map_workload(const traces::Workload& w, const system::SystemSpec& spec,
                     const system::AddressMap& map, const MapOptions& opt = {});

}  // namespace tessera::mapper
