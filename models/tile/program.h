// A tile's program: the commands the mapper produces and the tile controller runs.
// Each command names the commands it depends on; the controller issues a command
// when its dependencies have finished and its unit is free, so independent work on
// different units (DMA in, GEMM, vector, DMA out, sync) overlaps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::tile {

// A tile's semaphores: 4-byte counters in the 4 KiB after its scratchpad.
inline constexpr uint64_t kSemaphoreBytes = 4096;
inline constexpr uint32_t kNumSemaphores = kSemaphoreBytes / 4;

enum class Unit : uint8_t { kDmaIn, kDmaOut, kGemm, kVector, kSync };
inline constexpr int kNumUnits = 5;
const char* to_string(Unit u);

enum class CmdKind : uint8_t {
  kDmaLoad,   // remote (HBM or another tile) -> this tile's scratchpad
  kDmaStore,  // this tile's scratchpad -> remote
  kGemm,      // C[m,n] (+)= A[m,k] * B[k,n], operands in the scratchpad
  kVector,    // an elementwise / reduction op on the vector unit
  kSend,      // DMA store to another tile's scratchpad, then signal its semaphore
  kWait,      // wait until a local semaphore reaches a count, then take it
  kSignal,    // add to a semaphore of another (or this) tile
  kReduce,    // DMA a piece to the switch fabric as an in-network reduction contribution
};
const char* to_string(CmdKind k);
Unit unit_of(CmdKind k);

// Vector operations and their per-element cost class (see VectorUnit).
enum class VecOp : uint8_t {
  kAdd,
  kMul,
  kCopy,
  kGelu,
  kSilu,
  kSoftmax,
  kLayerNorm,
  kRmsNorm,
  kReduceSum,
  kTopK
};
const char* to_string(VecOp op);

// A strided transfer: up to three dimensions of `size` counts; dim 0 is contiguous
// bytes. The remote side strides by remote_stride, the scratchpad side is packed.
struct DmaDesc {
  uint64_t remote_addr = 0;  // global address (HBM or another tile's scratchpad)
  uint64_t local_addr = 0;   // offset in this tile's scratchpad
  uint64_t size[3] = {0, 1, 1};
  uint64_t remote_stride[3] = {0, 0, 0};  // bytes between rows (dim 1) and planes (dim 2)
  uint64_t bytes() const { return size[0] * size[1] * size[2]; }
};

struct GemmDesc {
  uint32_t m = 0, n = 0, k = 0;
  uint64_t a_addr = 0, b_addr = 0, c_addr = 0;  // scratchpad offsets
  uint32_t operand_bytes = 1;                   // bytes per A/B element (dtype)
  bool accumulate = false;                      // C += A*B (K split over commands)
};

// A softmax's or norm's rows whole in the scratchpad (one command per chunk), or a row
// too long for it in pieces, streamed twice as an online kernel does: a statistics pass
// (running max and exp-sum, or the sums of a norm; no output) over every piece, then a
// pass that reads each piece again and writes it normalised.
enum class RowPass : uint8_t { kWhole, kStats, kApply };
const char* to_string(RowPass p);

struct VectorDesc {
  VecOp op = VecOp::kAdd;
  RowPass pass = RowPass::kWhole;  // softmax and norms only
  uint64_t elements = 0;           // output elements (kStats: elements read)
  uint64_t rows = 1;    // rows for row-wise ops (softmax, norms): one reduction each (kStats:
                        // the rows it finishes; kApply: none)
  uint32_t inputs = 1;  // input tensors read
  uint32_t elem_bytes = 2;
  uint64_t src_addr = 0, dst_addr = 0;  // inputs one after another from src_addr
  // Two inputs in separate buffers (a ring's received partial sum and the rank's own
  // piece): the second one's address; kInline: right after the first.
  static constexpr uint64_t kInline = ~uint64_t(0);
  uint64_t src2_addr = kInline;
};

struct SyncDesc {
  uint32_t tile = 0;       // global tile id (signal/send target)
  uint32_t semaphore = 0;  // semaphore index
  uint32_t count = 1;      // wait: count to take; signal: amount to add
};

// An in-network reduction (or, with one contributor, a switch multicast) of one piece:
// the switch sums `contributors` copies of the piece and writes the result to each
// member's address, then adds 1 to semaphore `semaphore` of that member's tile.
struct ReduceDesc {
  uint64_t id = 0;  // unique per (collective, piece) in the whole mapping
  uint32_t contributors = 1;
  std::vector<uint64_t> results;  // per member: global address of its copy of the result
  std::vector<uint32_t> notify;   // per member: global id of the tile to signal
  uint32_t semaphore = 0;
};

struct Command {
  uint32_t id = 0;  // index in the program
  CmdKind kind = CmdKind::kGemm;
  std::vector<uint32_t> deps;  // ids of earlier commands of the same program
  std::string label;           // the workload op it belongs to (for timeline and per-op stats)
  uint32_t op_index = 0;       // index of that op in the workload
  DmaDesc dma;
  GemmDesc gemm;
  VectorDesc vec;
  SyncDesc sync;
  ReduceDesc reduce;  // kReduce only
};

using Program = std::vector<Command>;

// A stretch of the tile's own scratchpad that a command reads or writes.
struct LocalRange {
  uint64_t addr = 0, bytes = 0;
  const char* what = "";  // "transfer", "gemm operand A", ...
};
// Every scratchpad stretch `c` touches (DMA: its local side; GEMM: A, B and C at 4 bytes
// an element; vector: its inputs and output), at most three.
std::vector<LocalRange> local_ranges(const Command& c);

// Checks ids are 0..n-1 in order, deps point backwards, semaphores exist, transfer sizes
// do not overflow, GEMM operands have a size and every command stays inside a scratchpad
// of `spm_bytes`; UserError otherwise (naming the command and its op), so that a mapping
// the scratchpad cannot hold is refused before the run, not part way through it.
void validate_program(const Program& p, const std::string& who, uint64_t spm_bytes = ~uint64_t(0));

}  // namespace tessera::tile

namespace tessera::tile {
// One line per command: "#id kind label deps=[..] <operands>", for --dump-programs.
std::string describe(const Command& c);
}  // namespace tessera::tile
