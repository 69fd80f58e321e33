#include "mapper/mapper.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "mapper/gemm_tiling.h"
#include "models/sim/errors.h"

namespace tessera::mapper {

using tile::CmdKind;
using tile::Command;
using tile::RowPass;
using tile::VecOp;
using traces::Op;
using traces::OpKind;

namespace {

// Semaphores used by the mapper's synchronisation.
constexpr uint32_t kSemArrive = 0;      // barrier: tiles arrive at the group leader
constexpr uint32_t kSemGo = 1;          // barrier: the leader releases the tiles
constexpr uint32_t kSemRing = 2;        // ring collectives: a chunk has arrived
constexpr uint32_t kSemSwitch = 3;      // switch collectives: a piece of the result has landed
constexpr uint32_t kSemRingCredit = 4;  // ring collectives: the next rank has a free slot
constexpr uint32_t kSemA2A = 5;         // all-to-all: a peer's data to this rank has landed
constexpr uint32_t kSemA2AReady = 6;    // all-to-all: a peer has entered the op
// A wait for 0 on it takes nothing: a join, done once its dependencies are.
constexpr uint32_t kSemJoin = 7;
constexpr uint32_t kSemSwitchReady = 8;  // switch all-gather: a peer has entered the op
// Tree all-reduce: a child's partial sum has arrived (one per child), the parent's result
// has arrived, the parent has a free slot for this rank's sum, a child has a free slot
// for the result (one per child).
constexpr uint32_t kSemTreeUp = 9;  // and 10
constexpr uint32_t kSemTreeDown = 11;
constexpr uint32_t kSemTreeUpCredit = 12;
constexpr uint32_t kSemTreeDownCredit = 13;  // and 14

// Ring and chain collectives: pieces go out in rounds of kRingRound, and a tile keeps
// kRingSlots receive slots, then as many load slots, of one piece each.
constexpr uint64_t kRingRound = 4, kRingSlots = 2 * kRingRound;
struct RingSlots {
  uint64_t piece;
  uint64_t recv(uint64_t j) const { return (j % kRingSlots) * piece; }
  uint64_t load(uint64_t j) const { return (kRingSlots + j % kRingSlots) * piece; }
};

// How a collective is cut into channels: `count` tiles per rank group, each moving a
// contiguous `slice` of the buffer (a multiple of the DMA burst; the last may be shorter).
struct Channels {
  uint32_t count = 1;
  uint64_t slice = 0;
  uint32_t group_tiles = 1;
  std::string why;
  // Index within a rank group of channel c's tile: spread over the group, so that the
  // channels' traffic starts from different parts of the chiplet network; channel 0 is
  // the group's leader.
  uint32_t tile(uint32_t c) const { return uint32_t(uint64_t(c) * group_tiles / count); }
};

// The last two of a run of stores through two alternating buffers: each earlier one
// freed its buffer for a command that has finished, these two may still be in flight,
// in either order (DMA descriptors overlap), so the op's end joins them.
std::vector<int64_t> last_two(const std::vector<int64_t>& stores) {
  return {stores.end() - std::min<ptrdiff_t>(2, ptrdiff_t(stores.size())), stores.end()};
}

// Per-tile bookkeeping while programs are built.
// A tile's double-buffered GEMM scratchpad slots within one op: the buffer sizes, and
// per A/B slot the commands after which it is free (the GEMM that read it), per C slot
// the same (the store that read it), and which slot is next.
struct GemmSlots {
  uint64_t a_sz = 0, b_sz = 0, c_sz = 0;  // 0: no GEMM on the tile in this op yet
  std::vector<int64_t> gemm[2], store[2];
  uint32_t next_ab = 0, next_c = 0;
};

struct TileState {
  uint32_t id = 0;
  tile::Program prog;
  int64_t fence = -1;  // last compute/store command of the previous op: buffers free after it
  int64_t gate = -1;   // the barrier wait that makes the previous op's results visible
  std::vector<uint32_t> op_cmds;  // commands of the op being lowered
  // Commands of the op being lowered whose completion no later command of the tile
  // implies: the last GEMM and the last two stores of a GEMM part (DMA descriptors
  // overlap, so stores may finish out of order). A second part on the tile starts after
  // them, and the op's barrier waits for them.
  std::vector<int64_t> tail;
  GemmSlots slots;  // the op's GEMM buffers on this tile so far
};

// Chunks a tile's rows of a vector op are cut into, at least, where they allow.
constexpr uint64_t kVectorChunks = 4;

class Lowering {
 public:
  Lowering(const traces::Workload& w, const system::SystemSpec& spec, const system::AddressMap& map,
           const MapOptions& opt, Mapping& out)
      : w_(w), spec_(spec), map_(map), opt_(opt), out_(out) {
    tiles_.resize(map.num_tiles());
    for (uint32_t t = 0; t < tiles_.size(); ++t) tiles_[t].id = t;
    stack_next_.assign(map.num_stacks(), 0);
    spm_bytes_ = uint64_t(spec.tile.scratchpad.size_kib) * 1024;
    hidden_ = w.meta_int("hidden", 4096);
    stream_ = stream_cost(spec, map);
    assign_home_stacks();
  }

  void run();

 private:
  // --- program building -------------------------------------------------------------
  uint32_t add(TileState& t, Command c, std::vector<int64_t> deps) {
    if (opt_.max_commands != 0 && ++commands_ > opt_.max_commands)
      throw sim::UserError("the mapping needs more than " + std::to_string(opt_.max_commands) +
                               " tile commands (op '" + cur_op_->name + "'), more than " +
                               opt_.max_commands_why +
                               " allows: map a shorter prompt, a smaller batch or fewer "
                               "layers (--simulate-layers)",
                           sim::kExitFailure);
    c.id = uint32_t(t.prog.size());
    for (int64_t d : deps)
      if (d >= 0) c.deps.push_back(uint32_t(d));
    std::sort(c.deps.begin(), c.deps.end());
    c.deps.erase(std::unique(c.deps.begin(), c.deps.end()), c.deps.end());
    c.label = cur_op_->name;
    c.op_index = uint32_t(cur_index_);
    t.prog.push_back(std::move(c));
    t.op_cmds.push_back(c.id);
    return c.id;
  }
  Command dma(CmdKind k, uint64_t remote, uint64_t local, uint64_t row_bytes, uint64_t rows,
              uint64_t stride) {
    // Rows that follow one another in memory are one run: the DMA engine cuts bursts
    // per row, so a 640-byte-row block would move in 512 + 128-byte pieces.
    if (rows > 1 && stride == row_bytes) row_bytes *= rows, rows = 1;
    Command c;
    c.kind = k;
    c.dma.remote_addr = remote;
    c.dma.local_addr = local;
    c.dma.size[0] = row_bytes;
    c.dma.size[1] = rows;
    c.dma.remote_stride[1] = stride;
    return c;
  }
  // A GEMM command on scratchpad operands: C (int32/fp32, m x n) = A (m x k) B (k x n),
  // added to C when `accumulate`.
  static Command gemm_cmd(uint64_t m, uint64_t n, uint64_t k, uint64_t a, uint64_t b, uint64_t c,
                          uint32_t operand_bytes, bool accumulate) {
    Command g;
    g.kind = CmdKind::kGemm;
    g.gemm.m = uint32_t(m);
    g.gemm.n = uint32_t(n);
    g.gemm.k = uint32_t(k);
    g.gemm.a_addr = a;
    g.gemm.b_addr = b;
    g.gemm.c_addr = c;
    g.gemm.operand_bytes = operand_bytes;
    g.gemm.accumulate = accumulate;
    return g;
  }
  // A vector command: `elements` outputs in `rows` rows from `inputs` tensors of
  // `elem_bytes`-byte elements read one after another from src.
  static Command vector_cmd(VecOp op, uint64_t elements, uint64_t rows, uint32_t inputs,
                            uint32_t elem_bytes, uint64_t src, uint64_t dst) {
    Command v;
    v.kind = CmdKind::kVector;
    v.vec.op = op;
    v.vec.elements = elements;
    v.vec.rows = rows;
    v.vec.inputs = inputs;
    v.vec.elem_bytes = elem_bytes;
    v.vec.src_addr = src;
    v.vec.dst_addr = dst;
    return v;
  }
  // A semaphore command: kSignal adds `count` to tile's semaphore, kWait (on the tile's
  // own) waits until it holds `count` and takes it.
  Command sync(CmdKind k, uint32_t tile, uint32_t semaphore, uint32_t count) {
    Command c;
    c.kind = k;
    c.sync = {tile, semaphore, count};
    return c;
  }
  // --- HBM placement ------------------------------------------------------------------
  // Takes `bytes` (4 KiB aligned) from a range of `cap` bytes whose next free offset is
  // `next`; returns its offset. `where` and `advice` complete the error when it is full.
  static uint64_t bump(uint64_t& next, uint64_t cap, uint64_t bytes, const std::string& what,
                       const std::string& where, const std::string& advice) {
    const uint64_t a = round_up(next);
    if (a + bytes > cap)
      throw sim::UserError("workload does not fit: " + what + " needs " + std::to_string(bytes) +
                           " bytes in " + where + " (" + std::to_string(cap - std::min(a, cap)) +
                           " free); " + advice);
    next = a + bytes;
    return a;
  }
  // Allocates `bytes` in a stack; returns the global address.
  uint64_t alloc(uint32_t stack, uint64_t bytes, const std::string& what) {
    return map_.stack_base(stack) +
           bump(stack_next_[stack], map_.direct_capacity(), bytes, what,
                "HBM stack " + std::to_string(stack),
                std::string("use a machine with more HBM or more "
                            "parallelism") +
                    (out_.weights_per_chiplet ? ", or store weights once (--weight-copies once)"
                                              : "") +
                    (map_.interleaved() ? ", or lower package.hbm_interleave_share" : ""));
  }
  // An activation tensor: in an interleaved region of the group's tiles when the machine
  // has them (every stack of the package or chiplet serves it, unit by unit), else whole
  // in one of the group's stacks; either way spread op by op over the group's regions
  // or stacks.
  // `dies`: the lowering position after whose barrier no op reads the tensor (kNever:
  // kept to the end); its memory is then free for the group's later activations.
  // `fresh`: not in freed memory (a model input, which no op writes: it must not read as
  // another tensor's leftover).
  uint64_t alloc_activation(uint32_t group, uint64_t bytes, const std::string& what, size_t dies,
                            bool fresh = false) {
    const std::vector<uint32_t> regions =
        distinct_over(group, [this](uint32_t t) { return map_.interleave_region_of(t); });
    const size_t chiplets =
        distinct_over(group, [this](uint32_t t) { return map_.tile_place(t).chiplet_gid; }).size();
    // A group on one chiplet keeps its activations in its own stacks rather than deal
    // them over several chiplets' (its every read would cross the die-to-die links).
    const bool in_stack = !map_.interleaved() || (chiplets == 1 && map_.interleave_chiplets() > 1);
    const uint32_t where =
        in_stack ? activation_stack(group) : regions[(act_rr_++) % regions.size()];
    // Pools: stacks first, then regions.
    const uint32_t pool = in_stack ? where : map_.num_stacks() + where;
    const uint64_t base = in_stack ? map_.stack_base(where) : 0;
    uint64_t off = fresh ? kNone : take_free(group, pool, bytes);
    if (off == kNone) {
      if (in_stack) return track(group, pool, alloc(where, bytes, what) - base, bytes, dies) + base;
      off = bump(region_next(where), map_.interleave_capacity(), bytes, what,
                 "interleaved HBM region " + std::to_string(where),
                 "raise package.hbm_interleave_share or use more HBM");
    }
    track(group, pool, off, bytes, dies);
    return (in_stack ? base : map_.interleave_base(where)) + off;
  }
  // --- reuse of activation memory -----------------------------------------------------
  // A tensor's memory is given back once the barrier after its last reader is placed:
  // the group's later ops write only after that barrier (their stores follow their
  // gated loads), so no reader of the old tensor can see the new one. Freed memory is
  // reused by the same rank group only (another group's ops are not ordered with these
  // readers). Until the twenty-third session nothing was freed, so a prompt of 16 K
  // tokens ran out of memory in a few layers.
  static constexpr uint64_t kNone = ~0ull;
  static constexpr size_t kNever = ~size_t(0);
  struct Block {
    uint32_t group, pool;
    uint64_t off, bytes;
    size_t dies;
  };
  // Allocations start at 4 KiB boundaries (bump) and freed blocks are whole pages.
  static uint64_t round_up(uint64_t b) { return (b + 4095) / 4096 * 4096; }
  // The bytes in use in interleaved region `r` (ilv_next_ grows to the regions on first
  // use, so a machine without regions reports none).
  uint64_t& region_next(uint32_t r) {
    if (ilv_next_.size() < map_.interleave_regions())
      ilv_next_.resize(map_.interleave_regions(), 0);
    return ilv_next_[r];
  }
  // First fit, lowest offset first, in the group's free memory of `pool`.
  uint64_t take_free(uint32_t group, uint32_t pool, uint64_t bytes) {
    auto it = free_.find({group, pool});
    if (it == free_.end()) return kNone;
    const uint64_t need = round_up(bytes);
    for (auto b = it->second.begin(); b != it->second.end(); ++b) {
      if (b->second < need) continue;
      const uint64_t off = b->first, left = b->second - need;
      it->second.erase(b);
      if (left) it->second.emplace(off + need, left);
      return off;
    }
    return kNone;
  }
  uint64_t track(uint32_t group, uint32_t pool, uint64_t off, uint64_t bytes, size_t dies) {
    if (dies != kNever) pending_.push_back({group, pool, off, round_up(bytes), dies});
    return off;
  }
  // Gives back the blocks of `group` whose last reader is at or before `pos`, joining
  // neighbours.
  void release(uint32_t group, size_t pos) {
    size_t keep = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      const Block& b = pending_[i];
      if (b.group != group || b.dies > pos) {
        pending_[keep++] = b;
        continue;
      }
      auto& f = free_[{b.group, b.pool}];
      auto it = f.emplace(b.off, b.bytes).first;
      if (auto next = std::next(it); next != f.end() && it->first + it->second == next->first) {
        it->second += next->second;
        f.erase(next);
      }
      if (it != f.begin()) {
        auto prev = std::prev(it);
        if (prev->first + prev->second == it->first) {
          prev->second += it->second;
          f.erase(it);
        }
      }
    }
    pending_.resize(keep);
  }
  // When a tensor dies: an op's output after its last reader (kNever when a collective
  // writes or reads it: other ranks' transfers are not ordered with this group's
  // barriers, or when nothing reads it); a tensor of the op's own after the op.
  size_t output_dies(size_t op) const { return out_dies_[op]; }
  size_t own_dies() const { return comm_op_ ? kNever : pos_[cur_index_]; }
  void plan_lifetimes(const std::vector<size_t>& order);
  // Sets Mapping::weights_per_chiplet from MapOptions::weight_copies.
  void choose_weight_copies();
  // A weight (or K/V) block read by `users`, stored once: a compiler lays out one copy of
  // each weight, however many tiles read it (until the twenty-third session every tile
  // of an M split stored its own copy of its B block, so an M split of 32 took 32 times
  // the weights' capacity). One user, or users that share a nearest stack: in that
  // stack. Users near different stacks: in the first user's interleaved region when the
  // machine has one and it has room, so that the region's stacks serve the block as for
  // activations (but not across chiplets for users on one chiplet: a region of a chiplet
  // only; on a machine with a region per chiplet, users on several chiplets read the
  // first user's chiplet's); else in the one of their nearest stacks that holds the least.
  uint64_t alloc_resident(const std::vector<uint32_t>& users, uint64_t bytes,
                          const std::string& what) {
    const uint32_t home = near_stack(users[0]);
    bool one_home = true, one_chiplet = true;
    for (uint32_t t : users) {
      one_home = one_home && near_stack(t) == home;
      one_chiplet =
          one_chiplet && map_.tile_place(t).chiplet_gid == map_.tile_place(users[0]).chiplet_gid;
    }
    if (!one_home && map_.interleaved() && !(one_chiplet && map_.interleave_chiplets() > 1)) {
      const uint32_t r = map_.interleave_region_of(users[0]);
      uint64_t& next = region_next(r);
      if (round_up(next) + bytes <= map_.interleave_capacity())  // (so bump cannot fail)
        return map_.interleave_base(r) +
               bump(next, map_.interleave_capacity(), bytes, what, "", "");
    }
    // The readers' nearest stack that holds the least so far: a chiplet's blocks spread
    // over its stacks.
    uint32_t pick = home;
    for (uint32_t t : users)
      if (stack_next_[near_stack(t)] < stack_next_[pick]) pick = near_stack(t);
    return alloc(pick, bytes, what);
  }
  // A tile's home stack (its weights and K/V go there): the nearest stack (same
  // chiplet, fewest NoC hops); a tile equally near to several goes to the one with the
  // fewest tiles so far, so that equidistant tiles do not all load the lowest-numbered.
  void assign_home_stacks() {
    const uint32_t n = map_.num_tiles(), ns = map_.num_stacks();
    home_.assign(n, 0);
    if (ns == 0) return;
    std::vector<uint32_t> load(ns, 0);
    std::vector<std::vector<uint32_t>> nearest(n);
    for (uint32_t t = 0; t < n; ++t) {
      uint32_t best_h = ~0u;
      for (uint32_t s = 0; s < ns; ++s) {
        const uint32_t h = map_.hops(t, s);
        if (h < best_h) best_h = h, nearest[t].clear();
        if (h == best_h) nearest[t].push_back(s);
      }
      if (nearest[t].size() == 1) ++load[home_[t] = nearest[t][0]];
    }
    for (uint32_t t = 0; t < n; ++t) {
      if (nearest[t].size() == 1) continue;
      uint32_t pick = nearest[t][0];
      for (uint32_t s : nearest[t])
        if (load[s] < load[pick]) pick = s;
      ++load[home_[t] = pick];
    }
  }
  uint32_t near_stack(uint32_t tile) const { return home_[tile]; }
  // The distinct values of f(tile) over a group's tiles, in the order first met.
  template <class F>
  std::vector<uint32_t> distinct_over(uint32_t group, F f) const {
    std::vector<uint32_t> out;
    for (uint32_t t : groups_[group]) {
      const uint32_t v = f(t);
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    }
    return out;
  }
  // Activation tensors live in the stacks of the group, spread op by op.
  uint32_t activation_stack(uint32_t group) {
    const std::vector<uint32_t> stacks =
        distinct_over(group, [this](uint32_t t) { return near_stack(t); });
    return stacks[(act_rr_++) % stacks.size()];
  }

  // --- lowering -----------------------------------------------------------------------
  void begin_op(size_t index);
  void end_op(bool barrier);
  void barrier(const std::vector<uint32_t>& tiles);
  void lower_gemm_like(const Op& op, uint32_t group);
  // qk -> softmax -> av of a prompt as one FlashAttention-style kernel on the tiles (see
  // MapOptions::fuse_attention), lowered at the av; `qk` is the chain's first op.
  void lower_attention(const Op& qk, const Op& av, uint32_t group);
  // Per op: the av whose fused kernel computes it (qk and softmax of a fused chain), or
  // -1; for the av itself, its qk.
  std::vector<int64_t> fused_into_, fused_qk_;
  void find_fused_attention();
  bool attention_blocks(const Op& qk, uint64_t& bm, uint64_t& bk) const;
  struct OpaqueShape {
    uint64_t m = 1, n = 1, k = 1;
    uint64_t extra_bytes = 0;  // moved beyond the GEMM's operands
  };
  OpaqueShape opaque_shape(const Op& op) const;
  // Sets each tile's fence (of `only`, else every tile) to its last command of the op so
  // far, joined with the stores still in flight (t.tail).
  void settle_fences(const std::vector<uint32_t>* only = nullptr);
  // An operand of one tile's GEMM in HBM. `resident`: it needs no producer (weights,
  // a K/V cache), so its loads wait only for a free buffer. `packed`: the tile's own
  // static weights, which the mapper stores block by block in the order the tile loads
  // them (each block contiguous, as compilers pre-pack weights for their tiling);
  // otherwise row-major with leading dimension `ld`.
  struct GemmOperand {
    uint64_t addr = 0, ld = 0;
    bool resident = false, packed = false;
  };
  // A causal qk/av piece (traces::Op::causal): which of its blocks hold visible scores.
  // Rows are heads of `keys` query tokens; row r sees the `past` cached keys and keys
  // past .. past + r mod `keys` of the prompt.
  struct CausalPiece {
    uint64_t keys = 0;       // query tokens per head (0: no mask)
    uint64_t past = 0;       // cached keys before the prompt's, seen by every row
    uint64_t row0 = 0;       // the piece's first row in its GEMM
    uint64_t key0 = 0;       // the piece's first key
    bool keys_on_k = false;  // av: the keys run along k; qk: along n
    // The last key that any of the piece's rows [r0, r1) sees.
    uint64_t last_key(uint64_t r0, uint64_t r1) const {
      const uint64_t a = row0 + r0, b = row0 + r1 - 1;
      return past + (b - a + 1 >= keys || a % keys > b % keys ? keys - 1 : b % keys);
    }
  };
  // Rows [0, m) (rows row0 .. of a GEMM) cut in (first row, rows) bands of at most `bm`;
  // with `head_rows` > 0 a band also ends with its head (every head_rows rows).
  static std::vector<std::pair<uint64_t, uint64_t>> row_bands(uint64_t m, uint64_t bm,
                                                              uint64_t head_rows, uint64_t row0) {
    std::vector<std::pair<uint64_t, uint64_t>> bands;
    for (uint64_t m0 = 0; m0 < m;) {
      uint64_t rows = std::min(bm, m - m0);
      if (head_rows) rows = std::min(rows, head_rows - (row0 + m0) % head_rows);
      bands.emplace_back(m0, rows);
      m0 += rows;
    }
    return bands;
  }
  void lower_gemm_on_tile(TileState& t, uint64_t m, uint64_t n, uint64_t k, uint32_t eb,
                          const GemmOperand& a, const GemmOperand& b, uint64_t c_addr,
                          uint64_t c_ld, uint32_t c_eb, const CausalPiece& mask);
  void lower_vector(const Op& op, uint32_t group);
  template <class LoadInputs>
  void lower_cut_rows(const Op& op, uint32_t group, uint64_t whole_row, uint64_t piece,
                      uint64_t slots, uint64_t row_elem_bytes, uint64_t out_base,
                      LoadInputs& load_inputs);
  void lower_embedding(const Op& op, uint32_t group);
  void lower_collective(const Op& op, uint32_t group);
  // Why the switch fabric cannot run this collective ("" when it can).
  std::string switch_blocker(const Op& op) const;
  void lower_switch_collective(const Op& op);
  void lower_all_to_all(const Op& op);
  void lower_chain(const Op& op, bool reduce);
  void lower_tree(const Op& op);
  // Ring, chain and tree pieces: a send into `next`'s receive slot `slot` once a credit
  // on this tile's `credit_sem` says the slot is free, signalling `next`'s `recv_sem`;
  // returns the send.
  int64_t credited_send(TileState& t, uint32_t next, uint64_t slot, uint64_t at, uint64_t len,
                        int64_t data, uint32_t recv_sem = kSemRing,
                        uint32_t credit_sem = kSemRingCredit);
  // A piece of a collective moving `len` bytes a rank when the scratchpad holds `slots`
  // of them: as large as it allows, at least 64 bytes.
  uint64_t slot_piece(uint64_t len, uint64_t slots) const {
    return std::max<uint64_t>(64, std::min<uint64_t>(len, spm_bytes_ / slots / 64 * 64));
  }
  // The slots of a ring or chain moving `len` bytes a rank: 2 kRingSlots pieces.
  RingSlots ring_slots(uint64_t len) const { return {slot_piece(len, 2 * kRingSlots)}; }
  // At receive `j` of `count` into kRingSlots slots, the credit for slot j - kRingRound
  // back to its sender (`to`'s semaphore `sem`) once that slot's `users` are done; none
  // for the last kRingSlots receives (the sender has nothing left to put there).
  void late_credit(TileState& t, uint64_t j, uint64_t count, uint32_t to, uint32_t sem,
                   const std::vector<std::vector<int64_t>>& users) {
    if (j >= kRingRound && j - kRingRound + kRingSlots < count)
      add(t, sync(CmdKind::kSignal, to, sem, 1), users[(j - kRingRound) % kRingSlots]);
  }
  // The received piece at `src` added into this rank's at `dst`, after `deps`.
  int64_t add_pieces(TileState& t, uint64_t len, uint32_t eb, uint64_t src, uint64_t dst,
                     std::vector<int64_t> deps);
  // The op ends when every slot's last user is done (stores included), so the next op's
  // fence covers them.
  void end_after_slots(TileState& t, const std::vector<std::vector<int64_t>>& recv_users,
                       const std::vector<std::vector<int64_t>>& load_users);
  // One tile's DMA window: the bytes it keeps in flight per round trip.
  uint64_t dma_window() const {
    return uint64_t(spec_.tile.dma.outstanding) * spec_.tile.dma.burst_bytes;
  }
  // `ring_reduces`: a ring whose channels add pieces on their vector units.
  Channels channels_for(uint64_t span, uint64_t min_slice, bool in_switch,
                        bool ring_reduces = false, uint32_t elem_bytes = 2) const;
  VecOp vec_op_of(OpKind k) const;
  uint64_t output_addr(const Op& op, uint32_t group, uint64_t bytes);
  // The first dependency's output that exists in `group` (its name), or nullptr.
  const std::string* first_input(const Op& op, uint32_t group) const;
  uint64_t input_addr(const Op& op, uint32_t group, uint64_t bytes);
  // Operand B of a matrix op when it is an activation: the last dependency's output
  // (`k` or the rope output for qk, `v` for av; after A when A is read from the same
  // output, as qk's q and k both come from rope), else a tensor of its own.
  uint64_t b_input_addr(const Op& op, uint32_t group, uint64_t bytes, uint64_t a_bytes);

  const traces::Workload& w_;
  const system::SystemSpec& spec_;
  const system::AddressMap& map_;
  const MapOptions& opt_;
  Mapping& out_;
  std::vector<TileState> tiles_;
  std::vector<std::vector<uint32_t>> groups_;
  // The rank groups of the collective being lowered, in its rank order (a collective of
  // `group` ranks runs over `group` of the workload's rank groups; the others run their
  // own copy at the same time): member r is rank group gid(r), with tiles grp(r).
  std::vector<uint32_t> members_;
  uint32_t gid(uint32_t r) const { return members_[r]; }
  const std::vector<uint32_t>& grp(uint32_t r) const { return groups_[members_[r]]; }
  std::vector<std::vector<uint32_t>> collective_sets(const Op& op) const;
  // Send / receive: the rank offset to the peer (from the trace's own rank), and the
  // ranks of one pipeline (tp x pp when pp > 1, else all).
  int64_t p2p_delta(const Op& op) const {
    return op.peer - (multi_rank_ ? op.rank : w_.meta_int("rank", 0));
  }
  int64_t p2p_span() const {
    const int64_t pp = w_.meta_int("pp", 1);
    return !multi_rank_ && pp > 1 ? std::max<int64_t>(1, w_.meta_int("tp", 1) * pp)
                                  : int64_t(groups_.size());
  }
  void lower_collective_over(const Op& op);
  std::vector<size_t> lowering_order() const;
  std::vector<uint64_t> stack_next_;
  std::vector<uint64_t> ilv_next_;  // per interleaved region: the bytes in use
  std::vector<size_t> pos_;         // per op: its position in the lowering order
  std::vector<size_t> out_dies_;    // per op: when its output dies (output_dies)
  std::vector<Block> pending_;      // blocks whose last reader's barrier is not placed yet
  // Free activation memory per (group, pool): offset -> bytes.
  std::map<std::pair<uint32_t, uint32_t>, std::map<uint64_t, uint64_t>> free_;
  bool comm_op_ = false;            // the op being lowered is a collective or send/recv
  std::vector<uint32_t> op_tiles_;  // tiles used by the current op
  std::map<std::string, std::vector<uint64_t>> outputs_;  // op name -> output addr per group
  std::map<std::string, uint64_t> output_bytes_;          // op name -> its output's size
  std::vector<uint32_t> home_;                            // per tile: its home stack
  const Op* cur_op_ = nullptr;
  size_t cur_index_ = 0;
  OpPlan* plan_ = nullptr;
  // MACs of the op being lowered under a causal mask: of its whole blocks, and computed.
  uint64_t causal_macs_full_ = 0, causal_macs_ = 0;
  uint64_t spm_bytes_ = 0;
  StreamCost stream_;  // what streaming costs a tile, for the GEMM split and blocks
  // Splits and blocks chosen, by shape (m, n, k, element bytes with the operands' layout
  // in bits 8 and 9, tiles; 0 for blocks): the same shapes recur in every layer, and
  // each choice is a search.
  std::map<std::tuple<uint64_t, uint64_t, uint64_t, uint32_t, uint32_t>, GemmSplit> splits_;
  std::map<std::tuple<uint64_t, uint64_t, uint64_t, uint32_t, uint32_t>, GemmBlocks> blocks_;
  static uint32_t layout_key(uint32_t eb, GemmLayout l) {
    return eb | uint32_t(l.a_packed) << 8 | uint32_t(l.b_packed) << 9;
  }
  const GemmSplit& split_of(uint64_t m, uint64_t n, uint64_t k, uint32_t eb, uint32_t tiles,
                            GemmLayout l) {
    auto [it, fresh] = splits_.try_emplace({m, n, k, layout_key(eb, l), tiles});
    if (fresh) it->second = choose_split(m, n, k, eb, tiles, spec_.tile, spm_bytes_, stream_, l);
    return it->second;
  }
  // A tile share's blocks; under a causal mask in row bands of at most 128 query rows
  // (FlashAttention-2's query block; at least the array's rows), each computing only the
  // keys its last row sees: the hidden triangle is left out but for a band's own part.
  GemmBlocks tile_blocks(uint64_t m, uint64_t n, uint64_t k, uint32_t eb, GemmLayout l,
                         bool causal) {
    auto [it, fresh] = blocks_.try_emplace({m, n, k, layout_key(eb, l), 0});
    if (fresh) it->second = choose_blocks(m, n, k, eb, spm_bytes_, spec_.tile.array, stream_, l);
    GemmBlocks bl = it->second;
    if (causal) bl.bm = std::min<uint64_t>(bl.bm, std::max<uint64_t>(128, spec_.tile.array.rows));
    return bl;
  }
  int64_t hidden_ = 4096;
  uint64_t commands_ = 0;  // tile commands added so far (for MapOptions::max_commands)
  uint32_t act_rr_ = 0;
  bool multi_rank_ = false;
  // SPMD send/recv pairs: (sender-to-receiver rank offset, bytes) -> sends lowered
  // minus recvs lowered and not yet matched by their other end.
  std::map<std::pair<int64_t, int64_t>, int64_t> p2p_open_;
  uint64_t next_reduce_id_ = 0;
};

void Lowering::begin_op(size_t index) {
  cur_index_ = index;
  cur_op_ = &w_.op(index);
  plan_ = &out_.ops[index];
  for (auto& t : tiles_) {
    t.op_cmds.clear();
    t.tail.clear();
    t.slots = GemmSlots{};
  }
  op_tiles_.clear();
}

void Lowering::settle_fences(const std::vector<uint32_t>* only) {
  // Each tile's fence is its last command of this op.
  const size_t n = only ? only->size() : tiles_.size();
  for (size_t i = 0; i < n; ++i) {
    TileState& t = tiles_[only ? (*only)[i] : i];
    if (t.op_cmds.empty()) continue;
    t.fence = t.op_cmds.back();
    // Stores that may finish after the last command (t.tail): the buffers they read,
    // and the results they write, are free or visible only after a join of them all.
    std::vector<int64_t> pending;
    for (int64_t c : t.tail)
      if (c >= 0 && c != t.fence) pending.push_back(c);
    t.tail.clear();
    if (pending.empty()) continue;
    pending.push_back(t.fence);
    t.fence = add(t, sync(CmdKind::kWait, t.id, kSemJoin, 0), pending);
  }
}

void Lowering::end_op(bool do_barrier) {
  settle_fences();
  std::vector<uint32_t> used;
  for (const auto& t : tiles_)
    if (!t.op_cmds.empty()) used.push_back(t.id);
  plan_->tiles = uint32_t(used.size());
  if (!do_barrier || used.empty()) return;
  // Barrier per rank group that took part, over every tile of the group (all must see
  // the results).
  for (uint32_t g = 0; g < groups_.size(); ++g) {
    bool took_part = false;
    for (uint32_t t : groups_[g]) took_part = took_part || !tiles_[t].op_cmds.empty();
    if (!took_part) continue;
    barrier(groups_[g]);
    release(g, pos_[cur_index_]);
  }
}

// --weight-copies auto: copies per chiplet when they take at most this share of the
// per-stack memory.
constexpr double kCopyShare = 0.8;

void Lowering::choose_weight_copies() {
  // Chiplets a rank group spans: the copies a block read all over the group would take.
  std::set<uint32_t> chiplets;
  for (uint32_t t : groups_[0]) chiplets.insert(map_.tile_place(t).chiplet_gid);
  const uint64_t copies = chiplets.size();
  // Bytes of weights (copied) and K/V caches (never copied) every group stores.
  double weights = 0, caches = 0;
  for (const auto& op : w_.ops()) {
    const double groups = multi_rank_ ? 1.0 : double(groups_.size());
    weights += double(traces::operand_bytes(op).weights) * groups;
    // (A B that is weights and given as kv_bytes is placed as weights, copied.)
    if (op.weights != traces::WeightOperand::kB)
      caches += double(std::max<int64_t>(0, op.kv_bytes)) * groups;
  }
  const double capacity = double(map_.direct_capacity()) * map_.num_stacks();
  const double need = weights * double(copies) + caches;
  std::ostringstream why;
  why << std::setprecision(3) << need / 1e9
      << " GB with the weights copied per chiplet of each group (" << copies
      << ") and the K/V caches once, of " << capacity / 1e9 << " GB of per-stack memory";
  if (opt_.weight_copies == "once") {
    out_.weights_per_chiplet = false;
    out_.weight_copies_why = "--weight-copies once";
  } else if (opt_.weight_copies == "per-chiplet") {
    out_.weights_per_chiplet = copies > 1;
    out_.weight_copies_why = "--weight-copies per-chiplet: " + why.str();
  } else {
    // Four fifths: room left for what a stack also holds (a one-chiplet group's
    // activations, K/V caches a decode grows). A heuristic, not a compiler's rule.
    out_.weights_per_chiplet = copies > 1 && need <= kCopyShare * capacity;
    out_.weight_copies_why = "auto: " + why.str() +
                             (copies <= 1                     ? " (one chiplet)"
                              : need <= kCopyShare * capacity ? " (at most 80 %)"
                                                              : " (more than 80 %)");
  }
}

void Lowering::plan_lifetimes(const std::vector<size_t>& order) {
  const size_t n = w_.size();
  pos_.assign(n, kNever);
  for (size_t p = 0; p < order.size(); ++p) pos_[order[p]] = p;
  out_dies_.assign(n, kNever);
  std::vector<bool> pinned(n, false), read(n, false);
  std::vector<size_t> last(n, 0);
  for (size_t i : order) {
    if (!out_.ops[i].simulated) continue;
    const Op& op = w_.op(i);
    const bool comm = traces::is_communication(op.kind);
    pinned[i] = pinned[i] || comm;
    // A fused qk or softmax reads its inputs in its av's kernel.
    const size_t at = fused_into_[i] >= 0 ? pos_[size_t(fused_into_[i])] : pos_[i];
    for (const auto& d : op.deps) {
      const int64_t j = w_.find(d);
      if (j < 0) continue;
      read[size_t(j)] = true;
      last[size_t(j)] = std::max(last[size_t(j)], at);
      pinned[size_t(j)] = pinned[size_t(j)] || comm;
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (read[i] && !pinned[i]) out_dies_[i] = last[i];
}

void Lowering::barrier(const std::vector<uint32_t>& tiles) {
  if (tiles.size() < 2) return;
  // A tree barrier: tiles arrive at their chiplet's leader, chiplet leaders at their
  // package's, package leaders at the group's (tiles[0]); the release runs back down.
  // A flat barrier over many tiles would send every arrival and release across the
  // die-to-die links and the fabric, one by one through a single leader's DMA.
  // Leaders are the first tile of their chiplet / package in `tiles` order, so tiles[0]
  // leads at every level.
  const size_t n = tiles.size();
  std::vector<int64_t> parent(n, -1);
  {
    std::unordered_map<uint32_t, size_t> chiplet_lead, package_lead;
    for (size_t i = 0; i < n; ++i) {
      const system::Place& pl = map_.tile_place(tiles_[tiles[i]].id);
      auto c = chiplet_lead.emplace(pl.chiplet_gid, i);
      if (!c.second) {
        parent[i] = int64_t(c.first->second);  // a tile under its chiplet's leader
        continue;
      }
      auto p = package_lead.emplace(pl.package, i);
      if (!p.second) {
        parent[i] = int64_t(p.first->second);  // a chiplet leader under its package's
        continue;
      }
      if (i != 0) parent[i] = 0;  // a package leader under the group's leader
    }
  }
  std::vector<std::vector<size_t>> children(n);
  for (size_t i = 1; i < n; ++i) children[size_t(parent[i])].push_back(i);
  auto signal = [&](size_t from, size_t to, uint32_t sem, std::vector<int64_t> deps) {
    return add(tiles_[tiles[from]], sync(CmdKind::kSignal, tiles_[tiles[to]].id, sem, 1),
               std::move(deps));
  };
  auto wait = [&](size_t at, uint32_t sem, uint32_t count, std::vector<int64_t> deps) {
    return add(tiles_[tiles[at]], sync(CmdKind::kWait, tiles_[tiles[at]].id, sem, count),
               std::move(deps));
  };
  // Arrive, leaves first: a node signals its parent once its own work is done and
  // (for a leader) its children have arrived. Children have larger indices than their
  // parent, so a reverse walk visits every child before its parent.
  std::vector<int64_t> arrived(n, -1);
  for (size_t k = n; k-- > 0;) {
    TileState& t = tiles_[tiles[k]];
    int64_t last = t.prog.empty() ? -1 : int64_t(t.prog.size()) - 1;
    // The tile's stores still in flight (t.tail) count too: the results they write must
    // be complete before anyone is released to read them.
    std::vector<int64_t> done = t.tail;
    done.push_back(last);
    if (!children[k].empty()) {
      last = wait(k, kSemArrive, uint32_t(children[k].size()), done);
      done = {last};
    }
    arrived[k] = last;
    if (k != 0) signal(k, size_t(parent[k]), kSemArrive, done);
  }
  // Release, root first: a node waits for its go (the root has it once all arrived),
  // then releases its children.
  for (size_t k = 0; k < n; ++k) {
    TileState& t = tiles_[tiles[k]];
    const int64_t go = k == 0 ? arrived[0] : int64_t(wait(k, kSemGo, 1, {}));
    t.gate = go;
    for (size_t c : children[k]) signal(k, c, kSemGo, {go});
  }
}

uint64_t Lowering::output_addr(const Op& op, uint32_t group, uint64_t bytes) {
  auto& v = outputs_[op.name];
  if (v.size() < groups_.size()) v.assign(groups_.size(), ~0ull);
  if (v[group] == ~0ull) {
    // (A name the workload does not know is a piece of the op's own, such as an opaque
    // op's extra bytes. A collective's buffer is never placed in freed memory: ring and
    // chain collectives read their own contribution back from it.)
    const int64_t index = w_.find(op.name);
    v[group] = alloc_activation(group, std::max<uint64_t>(bytes, 1), op.name + " output",
                                comm_op_    ? kNever
                                : index < 0 ? own_dies()
                                            : output_dies(size_t(index)),
                                comm_op_);
    uint64_t& size = output_bytes_[op.name];
    size = std::max(size, bytes);
  }
  return v[group];
}

const std::string* Lowering::first_input(const Op& op, uint32_t group) const {
  for (const auto& d : op.deps) {
    auto it = outputs_.find(d);
    if (it != outputs_.end() && group < it->second.size() && it->second[group] != ~0ull)
      return &it->first;
  }
  return nullptr;
}

// An operand is read from a producer's output only where it fits inside it; a larger
// one (a convolution's im2col matrix, R x S times its input; the tokens an expert
// gathers) is a tensor of its own of the right size. Until the twelfth session it was
// read past the producer's end, into other tensors.
uint64_t Lowering::b_input_addr(const Op& op, uint32_t group, uint64_t bytes, uint64_t a_bytes) {
  if (!op.deps.empty()) {
    auto it = outputs_.find(op.deps.back());
    if (it != outputs_.end() && group < it->second.size() && it->second[group] != ~0ull) {
      const std::string* a_src = first_input(op, group);
      const uint64_t skip = a_src && *a_src == it->first ? a_bytes : 0;  // B after A
      if (output_bytes_[it->first] >= skip + bytes) return it->second[group] + skip;
    }
  }
  return alloc_activation(group, std::max<uint64_t>(bytes, 1), op.name + " input B", own_dies(),
                          true);
}

uint64_t Lowering::input_addr(const Op& op, uint32_t group, uint64_t bytes) {
  // The first dependency's output when there is one (the usual chain) and the operand
  // fits in it, else a tensor of its own (a model input).
  if (const std::string* d = first_input(op, group))
    if (output_bytes_[*d] >= bytes) return outputs_[*d][group];
  return alloc_activation(group, std::max<uint64_t>(bytes, 1), op.name + " input", own_dies(),
                          true);
}

void Lowering::lower_gemm_on_tile(TileState& t, uint64_t m, uint64_t n, uint64_t k, uint32_t eb,
                                  const GemmOperand& a, const GemmOperand& b, uint64_t c_addr,
                                  uint64_t c_ld, uint32_t c_eb, const CausalPiece& mask) {
  const GemmBlocks bl = tile_blocks(m, n, k, eb, GemmLayout{a.packed, b.packed}, mask.keys > 0);
  const uint64_t a_sz = bl.bm * bl.bk * eb, b_sz = bl.bk * bl.bn * eb, c_sz = bl.bm * bl.bn * 4;
  const uint64_t a_off[2] = {0, a_sz}, b_off[2] = {2 * a_sz, 2 * a_sz + b_sz};
  const uint64_t c_off[2] = {2 * a_sz + 2 * b_sz, 2 * a_sz + 2 * b_sz + c_sz};
  // Double buffering: A/B slot i % 2 is free once the GEMM that last read it is done, C
  // slot j % 2 once the store that last read it is. A part of this op that ran on the
  // tile before with the same buffers hands its slots on (the alternation continues);
  // with other buffers, or none, the slots are free after that part (t.tail) and the
  // previous op (t.fence).
  GemmSlots& sl = t.slots;
  const bool same = sl.a_sz == a_sz && sl.b_sz == b_sz && sl.c_sz == c_sz;
  if (!same) {
    sl = GemmSlots{};
    sl.a_sz = a_sz, sl.b_sz = b_sz, sl.c_sz = c_sz;
    std::vector<int64_t> free_after = t.tail;
    free_after.push_back(t.fence);
    sl.gemm[0] = sl.gemm[1] = free_after;
    sl.store[0] = sl.store[1] = t.tail;
  }
  auto with = [](std::vector<int64_t> d, int64_t x) {
    d.push_back(x);
    return d;
  };
  int64_t last_gemm = -1;
  // Row bands of bl.bm rows; under a causal mask a band ends with its head's last row at
  // the latest, so that it sees the keys up to its own last row's only.
  const std::vector<std::pair<uint64_t, uint64_t>> bands =
      row_bands(m, bl.bm, mask.keys, mask.row0);
  // The operand extents the computed blocks use (all of A and B without a mask): per
  // row band, the columns of A read; per column band, the rows and columns of B read (a
  // causal mask cuts a qk's columns and an av's rows).
  std::vector<uint64_t> a_cols(bands.size(), 0), b_rows(ceil_div(n, bl.bn), 0),
      b_cols(b_rows.size(), 0);
  uint64_t c_elems = 0;
  for (uint64_t n0 = 0; n0 < n; n0 += bl.bn) {
    const uint64_t bn_full = std::min(bl.bn, n - n0);
    for (size_t band = 0; band < bands.size(); ++band) {
      const auto [m0, bm] = bands[band];
      // A causal mask: the keys this band's rows see end at `seen` (relative to the
      // piece). A qk block (keys along n) or av block (keys along k) past it is skipped,
      // one across it cut there.
      const uint64_t seen = mask.keys ? mask.last_key(m0, m0 + bm) + 1 : UINT64_MAX;
      if (mask.keys) causal_macs_full_ += bm * bn_full * k;
      const uint64_t cut = !mask.keys ? UINT64_MAX : seen > mask.key0 ? seen - mask.key0 : 0;
      const uint64_t cut_n = mask.keys_on_k ? UINT64_MAX : cut;
      const uint64_t cut_k = mask.keys_on_k ? cut : UINT64_MAX;
      if (n0 >= cut_n) continue;
      const uint64_t bn = std::min(bn_full, cut_n - n0);
      const uint32_t j = sl.next_c;
      int64_t g = -1;
      for (uint64_t k0 = 0; k0 < k && k0 < cut_k; k0 += bl.bk) {
        const uint64_t bk_full = std::min(bl.bk, k - k0), bk = std::min(bk_full, cut_k - k0);
        a_cols[band] = std::max(a_cols[band], k0 + bk);
        b_rows[n0 / bl.bn] = std::max(b_rows[n0 / bl.bn], k0 + bk);
        b_cols[n0 / bl.bn] = std::max(b_cols[n0 / bl.bn], bn);
        const uint32_t i = sl.next_ab;
        // Packed A: row bands of bm rows, each band's bm x bk blocks one after another;
        // packed B: column bands of bn columns, each band's bk x bn blocks likewise (a
        // block cut by a causal mask loads its first columns).
        const Command load_a = a.packed ? dma(CmdKind::kDmaLoad, a.addr + (m0 * k + bm * k0) * eb,
                                              a_off[i], bk * eb, bm, bk_full * eb)
                                        : dma(CmdKind::kDmaLoad, a.addr + (m0 * a.ld + k0) * eb,
                                              a_off[i], bk * eb, bm, a.ld * eb);
        const Command load_b = b.packed
                                   ? dma(CmdKind::kDmaLoad, b.addr + (n0 * k + k0 * bn_full) * eb,
                                         b_off[i], bn * eb, bk, bn_full * eb)
                                   : dma(CmdKind::kDmaLoad, b.addr + (k0 * b.ld + n0) * eb,
                                         b_off[i], bn * eb, bk, b.ld * eb);
        // Resident operands need only a free buffer; activations also the previous op's
        // results.
        const int64_t la = add(t, load_a, with(sl.gemm[i], a.resident ? -1 : t.gate));
        const int64_t lb = add(t, load_b, with(sl.gemm[i], b.resident ? -1 : t.gate));
        std::vector<int64_t> deps = {la, lb};
        if (k0 == 0) deps.insert(deps.end(), sl.store[j].begin(), sl.store[j].end());
        g = add(t, gemm_cmd(bm, bn, bk, a_off[i], b_off[i], c_off[j], eb, k0 > 0), std::move(deps));
        if (mask.keys) causal_macs_ += bm * bn * bk;
        sl.gemm[i] = {g};
        sl.next_ab = 1 - i;
      }
      if (g < 0) continue;  // a K slice of an av whose keys this band never sees
      c_elems += bm * bn;
      // A GEMM of resident operands only waits for no barrier: its stores do, since C
      // may reuse the memory of a tensor that the previous op read.
      const int64_t st =
          add(t,
              dma(CmdKind::kDmaStore, c_addr + (m0 * c_ld + n0) * c_eb, c_off[j], bn * c_eb, bm,
                  c_ld * c_eb),
              a.resident && b.resident ? std::vector<int64_t>{g, t.gate} : std::vector<int64_t>{g});
      sl.store[j] = {st};
      sl.next_c = 1 - j;
      last_gemm = g;
    }
  }
  // A lower bound: blocks re-read more.
  for (size_t i = 0; i < bands.size(); ++i) plan_->hbm_bytes += bands[i].second * a_cols[i] * eb;
  for (size_t i = 0; i < b_rows.size(); ++i) plan_->hbm_bytes += b_cols[i] * b_rows[i] * eb;
  plan_->hbm_bytes += c_elems * c_eb;
  // Earlier GEMMs finish before the last (one array, in order), and each store but the
  // last one of each C slot freed its buffer for a GEMM that has finished. (A slot this
  // part did not use still holds an earlier part's last store, which may be in flight.)
  t.tail = {last_gemm};
  for (const auto& s : sl.store) t.tail.insert(t.tail.end(), s.begin(), s.end());
}

void Lowering::lower_gemm_like(const Op& op, uint32_t group) {
  if (op.kind == OpKind::kOpaque && op.flops_given <= 0) {
    // No FLOPs: nothing to compute. Bytes alone (a memory op of an import) stream
    // through the vector units, half read and half written; none: nothing at all (until
    // the tenth session both became a one-MAC GEMM with its loads).
    if (op.bytes_given <= 0) {
      plan_->strategy = "no work (no FLOPs, no bytes)";
      return;
    }
    Op copy = op;
    copy.kind = OpKind::kElementwise;
    copy.inputs = 1;
    copy.elems = std::max<int64_t>(1, op.bytes_given / 2 / traces::dtype_bytes(op.dtype));
    lower_vector(copy, group);
    plan_->strategy = "memory only: " + plan_->strategy;
    return;
  }
  const auto& gt = groups_[group];
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  const OpaqueShape opaque = op.kind == OpKind::kOpaque ? opaque_shape(op) : OpaqueShape{};
  const bool a_w = op.weights == traces::WeightOperand::kA;
  const bool b_w = op.weights == traces::WeightOperand::kB || op.kind == OpKind::kMoeGate ||
                   op.kind == OpKind::kExpert;
  // B is a K/V cache (decode attention): already in HBM, placed near its tile like
  // weights; otherwise an activation B comes from the op's last dependency.
  const bool b_cache = !b_w && op.kv_bytes > 0;
  const bool b_near = b_w || b_cache;
  // The list of independent GEMMs this op is made of: batch items (sharing B in groups
  // for grouped-query attention) or experts.
  struct Part {
    uint64_t m, n, k;
    uint64_t b_share;  // consecutive parts that read the same B
  };
  std::vector<Part> parts;
  if (op.kind == OpKind::kExpert) {
    for (int64_t tok : op.tokens_per_expert)
      if (tok > 0) parts.push_back({uint64_t(tok), uint64_t(op.n), uint64_t(op.k), 1});
  } else if (op.kind == OpKind::kOpaque) {
    // Only FLOPs (and perhaps bytes) are known: a GEMM of the same MAC count (the shape
    // is an assumption; --explain says so).
    parts.push_back({opaque.m, opaque.n, opaque.k, 1});
  } else {
    const uint64_t batch = uint64_t(std::max<int64_t>(op.batch, 1));
    uint64_t share = 1;
    const uint64_t b_full = batch * uint64_t(op.k * op.n) * eb;
    if (op.kv_bytes > 0 && uint64_t(op.kv_bytes) < b_full)
      share = std::max<uint64_t>(1, b_full / uint64_t(op.kv_bytes));
    if (batch % share != 0) share = 1;
    // Items that read the same B (query heads of one KV head under grouped-query
    // attention) stack their A rows into one GEMM: B is read once, M grows.
    for (uint64_t b = 0; b < batch / share; ++b)
      parts.push_back({uint64_t(op.m) * share, uint64_t(op.n), uint64_t(op.k), share});
  }
  if (parts.empty()) return;
  causal_macs_full_ = causal_macs_ = 0;
  // A causal qk/av: the keys are n (qk) or k (av) of each part, the past's and then the
  // prompt's, and a piece at (m0, n0, k0) starts at row m0 and key n0 or k0.
  auto causal_piece = [&op](const Part& p, uint64_t m0, uint64_t n0, uint64_t k0) {
    const bool on_k = op.kind == OpKind::kAv;
    const uint64_t past = op.causal ? uint64_t(op.past) : 0;
    return CausalPiece{op.causal ? (on_k ? p.k : p.n) - past : 0, past, m0, on_k ? k0 : n0, on_k};
  };
  // Tensors: A, B (weights near each tile), C.
  uint64_t a_total = 0, c_total = 0;
  for (const auto& p : parts) a_total += p.m * p.k * eb, c_total += p.m * p.n * eb;
  const uint64_t a_base = a_w ? 0 : input_addr(op, group, a_total);
  const uint64_t c_base = output_addr(op, group, c_total);
  std::ostringstream strat;
  // One GEMM split over `share` (the group's tiles, or a part's share of them): each
  // (mi, ni, ki) piece goes to one tile. K splits write int32 partials to HBM and the
  // ki = 0 tile adds them after a barrier of `share`. A, B and C are at part_a, part_b
  // (activations) and part_c.
  auto split_part = [&](const Part& p, const std::vector<uint32_t>& share, uint64_t part_a,
                        uint64_t part_b, uint64_t part_c) -> GemmSplit {
    const GemmSplit s = split_of(p.m, p.n, p.k, eb, uint32_t(share.size()),
                                 GemmLayout{a_w && opt_.pack_weights, b_w && opt_.pack_weights});
    const uint64_t mt = ceil_div(p.m, s.tm), nt = ceil_div(p.n, s.tn), kt = ceil_div(p.k, s.tk);
    uint64_t partial_base = 0;
    if (s.tk > 1)
      partial_base =
          alloc_activation(group, p.m * p.n * 4 * s.tk, op.name + " partials", own_dies());
    uint32_t slot = 0;
    std::vector<std::tuple<uint32_t, uint64_t, uint64_t, uint64_t, uint64_t>> owners;
    // Resident blocks, each stored once (alloc_resident): A's (mi, ki) block is read by
    // every ni piece, B's (ni, ki) block by every mi piece. Allocated at first use, in
    // the loop's order. With weights per chiplet, a block has a copy per chiplet of its
    // readers (keyed by the chiplet too), read by that chiplet's readers.
    std::map<std::tuple<uint32_t, uint32_t, uint32_t>, uint64_t> a_blocks, b_blocks;
    // Only weights are copied: a K/V cache is state that every step writes (its new
    // token's K and V), so it is stored once for all its readers.
    auto copy_of = [this](uint32_t tile) {
      return out_.weights_per_chiplet ? map_.tile_place(tile).chiplet_gid : 0u;
    };
    constexpr uint32_t kAnyChiplet = ~0u;
    auto users = [&](bool of_a, uint32_t i, uint32_t ki, uint32_t copy) {
      std::vector<uint32_t> u;
      const uint32_t count = of_a ? s.tn : s.tm;
      for (uint32_t j = 0; j < count; ++j) {
        const uint32_t mi = of_a ? i : j, ni = of_a ? j : i;
        const uint32_t tile = share[(mi * s.tn + ni) * s.tk + ki];
        if (uint64_t(mi) * mt < p.m && uint64_t(ni) * nt < p.n &&
            (copy == kAnyChiplet || copy_of(tile) == copy))
          u.push_back(tile);
      }
      return u;
    };
    for (uint32_t mi = 0; mi < s.tm; ++mi)
      for (uint32_t ni = 0; ni < s.tn; ++ni)
        for (uint32_t ki = 0; ki < s.tk; ++ki, ++slot) {
          const uint64_t m0 = mi * mt, n0 = ni * nt, k0 = ki * kt;
          if (m0 >= p.m || n0 >= p.n || k0 >= p.k) continue;
          const uint64_t mm = std::min(mt, p.m - m0), nn = std::min(nt, p.n - n0),
                         kk = std::min(kt, p.k - k0);
          TileState& t = tiles_[share[slot]];
          // Weights (and a K/V cache) of this tile's share: its block, stored once for
          // all its readers (or once per chiplet); A and B each a block of its own (both
          // are resident with weights=a on a K/V op).
          uint64_t a_own = 0, b_own = 0;
          if (a_w) {
            const uint32_t copy = copy_of(t.id);
            auto [it, first] = a_blocks.try_emplace({mi, ki, copy}, 0);
            if (first)
              it->second =
                  alloc_resident(users(true, mi, ki, copy), mm * kk * eb, op.name + " weights");
            a_own = it->second;
          }
          if (b_near) {
            const uint32_t copy = b_cache ? kAnyChiplet : copy_of(t.id);
            auto [it, first] = b_blocks.try_emplace({ni, ki, copy}, 0);
            if (first)
              it->second = alloc_resident(users(false, ni, ki, copy), kk * nn * eb,
                                          op.name + (b_cache ? " kv" : " weights"));
            b_own = it->second;
          }
          const GemmOperand a{a_w ? a_own : part_a + (m0 * p.k + k0) * eb, a_w ? kk : p.k, a_w,
                              a_w && opt_.pack_weights};
          const GemmOperand b{b_near ? b_own : part_b + (k0 * p.n + n0) * eb, b_near ? nn : p.n,
                              b_near, b_w && opt_.pack_weights};
          const CausalPiece mask = causal_piece(p, m0, n0, k0);
          if (s.tk == 1) {
            lower_gemm_on_tile(t, mm, nn, kk, eb, a, b, part_c + (m0 * p.n + n0) * eb, p.n, eb,
                               mask);
          } else {
            // (A K slice whose keys its rows never see computes nothing; the adds below
            // still read its partials, as a kernel without that shortcut would.)
            lower_gemm_on_tile(t, mm, nn, kk, eb, a, b,
                               partial_base + (uint64_t(ki) * p.m * p.n + m0 * p.n + n0) * 4, p.n,
                               4, mask);
            if (ki == 0) owners.emplace_back(share[slot], m0, n0, mm, nn);
          }
        }
    if (s.tk > 1) {
      // Reduction phase: barrier, then each owner adds the tk partials of its block.
      for (auto& t : tiles_)
        if (!t.op_cmds.empty()) t.fence = t.op_cmds.back();
      barrier(share);
      for (auto& [tid, m0, n0, mm, nn] : owners) {
        TileState& t = tiles_[tid];
        // Pieces of rr rows x cc columns: tk partials plus the sum fit half the
        // scratchpad, and pieces alternate between the halves, so a piece's loads overlap
        // the previous piece's add and store (a half is free once the store that read it,
        // two pieces back, is done).
        const uint64_t half = spm_bytes_ / 2;
        const uint64_t cc = std::min<uint64_t>(nn, std::max<uint64_t>(8, half / ((s.tk + 1) * 4)));
        const uint64_t rows_fit = std::max<uint64_t>(1, half / ((s.tk + 1) * cc * 4));
        std::vector<int64_t> stores;
        for (uint64_t r0 = 0; r0 < mm; r0 += rows_fit) {
          const uint64_t rr = std::min(rows_fit, mm - r0);
          for (uint64_t c0 = 0; c0 < nn; c0 += cc) {
            const uint64_t w = std::min(cc, nn - c0);
            const uint64_t base = (stores.size() % 2) * half;
            const int64_t free = stores.size() >= 2 ? stores[stores.size() - 2] : t.gate;
            std::vector<int64_t> loads;
            for (uint32_t ki = 0; ki < s.tk; ++ki)
              loads.push_back(
                  add(t,
                      dma(CmdKind::kDmaLoad,
                          partial_base + (uint64_t(ki) * p.m * p.n + (m0 + r0) * p.n + n0 + c0) * 4,
                          base + ki * rr * w * 4, w * 4, rr, p.n * 4),
                      {free, t.gate}));
            loads.push_back(t.fence);
            const int64_t sum =
                add(t, vector_cmd(VecOp::kAdd, rr * w, 1, s.tk, 4, base, base + s.tk * rr * w * 4),
                    loads);
            stores.push_back(add(t,
                                 dma(CmdKind::kDmaStore, part_c + ((m0 + r0) * p.n + n0 + c0) * eb,
                                     base + s.tk * rr * w * 4, w * eb, rr, p.n * eb),
                                 {sum}));
            // The reduction reads every K slice's partial sums back from HBM and
            // writes the result there: HBM traffic, not tile-to-tile.
            plan_->hbm_bytes += s.tk * rr * w * 4 + rr * w * eb;
          }
        }
        // The adds are done before their stores start: the last two stores are the tail.
        t.tail = last_two(stores);
      }
    }
    return s;
  };
  uint64_t b_total = 0;
  for (const auto& p : parts) b_total += p.k * p.n * eb;
  const uint64_t b_base = b_near ? 0 : b_input_addr(op, group, b_total, a_total);
  if (parts.size() == 1) {
    const Part& p = parts[0];
    const GemmSplit s = split_part(p, gt, a_base, b_base, c_base);
    strat << "split " << to_string(s) << " over " << s.tiles() << " tiles";
    // The first tile's blocks, and how often they load each operand.
    const uint64_t mt = ceil_div(p.m, s.tm), nt = ceil_div(p.n, s.tn), kt = ceil_div(p.k, s.tk);
    const GemmBlocks bl = tile_blocks(
        mt, nt, kt, eb, GemmLayout{a_w && opt_.pack_weights, b_w && opt_.pack_weights}, op.causal);
    strat << "; blocks " << bl.bm << "x" << bl.bn << "x" << bl.bk << " (A loaded "
          << ceil_div(nt, bl.bn) << "x, B " << ceil_div(mt, bl.bm) << "x)";
  } else if (2 * parts.size() <= gt.size()) {
    // Fewer independent GEMMs than half the tiles (attention heads or active experts in
    // decode): each split over its own share of the tiles. Until the twelfth session
    // each took one tile and the rest idled (two experts on 2 of chiplet4's 64 tiles).
    uint64_t a_off = 0, b_off = 0, c_off = 0;
    GemmSplit first;
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::vector<uint32_t> share(gt.begin() + i * gt.size() / parts.size(),
                                        gt.begin() + (i + 1) * gt.size() / parts.size());
      const GemmSplit s =
          split_part(parts[i], share, a_base + a_off, b_base + b_off, c_base + c_off);
      if (i == 0) first = s;
      a_off += parts[i].m * parts[i].k * eb;
      b_off += parts[i].k * parts[i].n * eb;
      c_off += parts[i].m * parts[i].n * eb;
    }
    strat << parts.size() << " independent GEMMs of " << parts[0].m << "x" << parts[0].n << "x"
          << parts[0].k << ", each over " << gt.size() / parts.size() << " tiles (the first split "
          << to_string(first) << ")";
  } else {
    // Independent GEMMs (batch items, heads, experts): whole parts per tile, groups that
    // share B kept together so B is read once per group.
    strat << parts.size() << " independent GEMMs of " << parts[0].m << "x" << parts[0].n << "x"
          << parts[0].k << " spread over " << std::min<size_t>(gt.size(), parts.size()) << " tiles";
    uint64_t a_off = 0, b_off = 0, c_off = 0;
    const size_t nt = std::min<size_t>(gt.size(), parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      const Part& p = parts[i];
      TileState& t = tiles_[gt[i * nt / parts.size()]];
      // B: weights or this item's K/V cache in the stack nearest to its tile, else the
      // item's slice of the producer's output (which the op's loads wait for).
      const uint64_t b_addr =
          b_near ? alloc(near_stack(t.id), p.k * p.n * eb, op.name + (b_w ? " weights" : " kv"))
                 : b_base + b_off;
      // A as weights (weights=a): this item's own, near its tile too.
      const uint64_t a_addr =
          a_w ? alloc(near_stack(t.id), p.m * p.k * eb, op.name + " weights") : a_base + a_off;
      lower_gemm_on_tile(t, p.m, p.n, p.k, eb,
                         GemmOperand{a_addr, p.k, a_w, a_w && opt_.pack_weights},
                         GemmOperand{b_addr, p.n, b_near, b_w && opt_.pack_weights}, c_base + c_off,
                         p.n, eb, causal_piece(p, 0, 0, 0));
      a_off += p.m * p.k * eb;
      b_off += p.k * p.n * eb;
      c_off += p.m * p.n * eb;
    }
  }
  if (parts.size() > 1 && parts[0].b_share > 1)
    strat << " (" << parts[0].b_share << " heads share each K/V)";
  if (a_w || b_w)
    strat << (opt_.pack_weights ? "; weights packed in load order" : "; weights row-major");
  if (op.causal && causal_macs_full_ > 0)
    strat << "; causal mask: " << std::fixed << std::setprecision(1)
          << 100.0 * double(causal_macs_) / double(causal_macs_full_)
          << " % of the blocks' MACs computed";
  plan_->strategy = strat.str();
  if (op.kind == OpKind::kOpaque) {
    plan_->strategy = "opaque as a " + std::to_string(opaque.m) + "x" + std::to_string(opaque.n) +
                      "x" + std::to_string(opaque.k) + " GEMM: " + plan_->strategy;
    if (opaque.extra_bytes > 0) {
      // Bytes beyond what a GEMM over the whole array moves: they stream through the
      // same tiles as a copy (half read from the inputs, half written) after the GEMM,
      // so the op takes the sum of both, at most twice its roofline.
      settle_fences(&gt);
      const std::string gemm_strategy = plan_->strategy;
      Op copy = op;
      copy.name = op.name + " extra bytes";  // a tensor of its own, not the op's output
      copy.kind = OpKind::kElementwise;
      copy.inputs = 1;
      copy.elems = int64_t(std::max<uint64_t>(1, opaque.extra_bytes / 2 / eb));
      lower_vector(copy, group);
      plan_->strategy = gemm_strategy + "; then " + std::to_string(opaque.extra_bytes) +
                        " more bytes streamed as a copy: " + plan_->strategy;
    }
  }
}

// The GEMM an opaque op of `flops_given` FLOPs and `bytes_given` bytes is taken for:
// K and N the array's times one factor a >= 1, sized so that its operands hold the
// given bytes (traffic falls as a grows, to its least near the cube); that least shape
// when they hold fewer; a = 1 (K and N the array's: most traffic at full use of the
// array) when they hold more, the rest streamed as a copy. Without bytes, a = 1 (until
// the thirteenth session always, whatever the bytes: a ResNet trace's elementwise
// kernels moved about a hundredth of their bytes).
Lowering::OpaqueShape Lowering::opaque_shape(const Op& op) const {
  const double eb = double(traces::dtype_bytes(op.dtype));
  const double macs = double(std::max<int64_t>(op.flops_given / 2, 1));
  const double r = spec_.tile.array.rows, c = spec_.tile.array.cols;
  // Operand bytes of the shape K = r a, N = c a, M = macs / (K N) (at least one row).
  auto traffic = [&](double a) {
    const double k = r * a, n = c * a, m = std::max(1.0, macs / (k * n));
    return (m * k + k * n + m * n) * eb;
  };
  OpaqueShape sh;
  const double bytes = double(std::max<int64_t>(op.bytes_given, 0));
  // a = 1 in whole array passes: the most an array-filling GEMM of these MACs moves.
  const uint64_t m_whole = std::max<uint64_t>(1, uint64_t(macs / (r * c)));
  const double widest = (double(m_whole) * r + r * c + double(m_whole) * c) * eb;
  if (bytes <= 0 || bytes >= widest) {
    sh.m = m_whole, sh.n = uint64_t(c), sh.k = uint64_t(r);
    if (bytes > widest) sh.extra_bytes = uint64_t(bytes - widest);
    return sh;
  }
  // Least traffic where d/da (macs (1/r + 1/c) / a + r c a^2) = 0.
  const double a_min = std::max(1.0, std::cbrt(macs * (1.0 / r + 1.0 / c) / (2.0 * r * c)));
  double a = a_min;
  if (traffic(a_min) < bytes) {
    double lo = 1.0, hi = a_min;  // traffic(lo) >= widest > bytes >= traffic(hi)
    for (int i = 0; i < 60; ++i) {
      const double mid = 0.5 * (lo + hi);
      (traffic(mid) > bytes ? lo : hi) = mid;
    }
    a = hi;
  }
  sh.k = std::max<uint64_t>(1, uint64_t(std::llround(r * a)));
  sh.n = std::max<uint64_t>(1, uint64_t(std::llround(c * a)));
  sh.m = std::max<uint64_t>(1, uint64_t(std::llround(macs / (double(sh.k) * double(sh.n)))));
  return sh;
}

VecOp Lowering::vec_op_of(OpKind k) const {
  switch (k) {
    case OpKind::kSoftmax:
      return VecOp::kSoftmax;
    case OpKind::kLayerNorm:
      return VecOp::kLayerNorm;
    case OpKind::kRmsNorm:
      return VecOp::kRmsNorm;
    case OpKind::kGelu:
      return VecOp::kGelu;
    case OpKind::kSilu:
      return VecOp::kSilu;
    default:
      return VecOp::kAdd;
  }
}

// A qk -> softmax -> av chain of a prompt whose scores nothing else reads: the av lowers
// the three as one kernel, qk and softmax lower nothing. K and V come from the
// producers' outputs, or from the K/V cache under a causal mask (a chunked prefill);
// a decode's attention (a cache without the mask) stays three ops.
void Lowering::find_fused_attention() {
  const size_t n = w_.size();
  fused_into_.assign(n, -1);
  fused_qk_.assign(n, -1);
  if (!opt_.fuse_attention) return;
  std::vector<std::vector<size_t>> users(n);
  for (size_t i = 0; i < n; ++i)
    for (const auto& d : w_.op(i).deps) {
      const int64_t j = w_.find(d);
      if (j >= 0) users[size_t(j)].push_back(i);
    }
  for (size_t q = 0; q < n; ++q) {
    const Op& qk = w_.op(q);
    if (qk.kind != OpKind::kQk || (qk.kv_bytes > 0 && !qk.causal) ||
        qk.weights != traces::WeightOperand::kNone || users[q].size() != 1)
      continue;
    const size_t s = users[q][0];
    const Op& sm = w_.op(s);
    if (sm.kind != OpKind::kSoftmax || sm.deps.size() != 1 || users[s].size() != 1 ||
        sm.layer != qk.layer || sm.dtype != qk.dtype ||
        sm.elems != qk.batch * traces::attention_scores(qk))
      continue;
    const size_t a = users[s][0];
    const Op& av = w_.op(a);
    if (av.kind != OpKind::kAv || (av.kv_bytes > 0) != (qk.kv_bytes > 0) ||
        av.weights != traces::WeightOperand::kNone || av.deps.empty() || av.deps.size() > 2 ||
        av.deps[0] != sm.name || av.batch != qk.batch || av.m != qk.m || av.k != qk.n ||
        av.n != qk.k || av.causal != qk.causal || av.past != qk.past || av.dtype != qk.dtype ||
        av.rank != qk.rank || sm.rank != qk.rank || av.layer != qk.layer)
      continue;
    // A cache holds each part's own K and V (a trace whose parts share a KV head's cache,
    // kv_bytes below batch x n x k, runs as three ops, which read it once per group).
    const int64_t own_cache = qk.batch * qk.n * qk.k * traces::dtype_bytes(qk.dtype);
    if (qk.kv_bytes > 0 && (qk.kv_bytes != own_cache || av.kv_bytes != own_cache)) continue;
    uint64_t bm = 0, bk = 0;
    if (!attention_blocks(qk, bm, bk)) continue;
    fused_into_[q] = fused_into_[s] = int64_t(a);
    fused_qk_[a] = int64_t(q);
  }
}

// The fused kernel's scratchpad for blocks of r rows and c keys of head dimension d: Q,
// two K, two V, two S (fp32), two P and O (fp32).
static uint64_t attention_footprint(uint64_t r, uint64_t c, uint64_t d, uint64_t eb) {
  return r * d * eb + 2 * d * c * eb + 2 * c * d * eb + 2 * r * c * 4 + 2 * r * c * eb + r * d * 4;
}

// The fused kernel's blocks: up to 128 rows and 128 keys (FlashAttention-2's; at least
// the array), halved until Q, two K, two V, two S (fp32), two P and O (fp32) fit the
// scratchpad. False when they end smaller than the array (or than the head): the array
// would idle, and the three ops run separately instead, as a compiler would choose.
bool Lowering::attention_blocks(const Op& qk, uint64_t& bm, uint64_t& bk) const {
  const uint64_t eb = uint64_t(traces::dtype_bytes(qk.dtype)), m = uint64_t(qk.m),
                 keys = uint64_t(qk.n), d = uint64_t(qk.k);
  const auto& arr = spec_.tile.array;
  bm = std::min<uint64_t>(m, std::max<uint64_t>(128, arr.rows));
  bk = std::min<uint64_t>(keys, std::max<uint64_t>(128, arr.cols));
  auto footprint = [&](uint64_t r, uint64_t c) { return attention_footprint(r, c, d, eb); };
  while (footprint(bm, bk) > spm_bytes_ && (bm > 1 || bk > 1)) {
    if (bk >= bm && bk > 1)
      bk = (bk + 1) / 2;
    else
      bm = (bm + 1) / 2;
  }
  return footprint(bm, bk) <= spm_bytes_ && bm >= std::min<uint64_t>(m, arr.rows) &&
         bk >= std::min<uint64_t>(keys, arr.cols);
}

// Per row band (at most 128 query rows of one head, as FlashAttention-2's query block):
// Q loaded once; per block of keys up to the band's last visible one, K loaded, S = Q K
// on the array, the softmax's running max and sum on the vector unit (S to P), O scaled
// by the new max's correction (vector) and O += P V on the array; O normalised and
// stored. Scores never leave the scratchpad. K and V are double-buffered; bands run one
// after another on a tile, each tile taking the bands with the most keys left first.
void Lowering::lower_attention(const Op& qk, const Op& av, uint32_t group) {
  const auto& gt = groups_[group];
  const uint32_t eb = uint32_t(traces::dtype_bytes(av.dtype));
  const uint64_t parts = uint64_t(std::max<int64_t>(qk.batch, 1)), m = uint64_t(qk.m),
                 keys = uint64_t(qk.n), d = uint64_t(qk.k);
  // Q from qk's input, K after Q in the same producer's output (as qk reads them) or a
  // K/V cache, V from the av's last input or the cache, O the av's output.
  const uint64_t q_total = parts * m * d * eb, kv_total = parts * d * keys * eb;
  const bool cache = qk.kv_bytes > 0;
  const uint64_t q_base = input_addr(qk, group, q_total);
  const uint64_t k_base = cache ? 0 : b_input_addr(qk, group, kv_total, q_total);
  // (The fused softmax has no output, so V is taken whole from the av's last input.)
  const uint64_t v_base = cache ? 0 : b_input_addr(av, group, kv_total, 0);
  const uint64_t o_base = output_addr(av, group, q_total);
  // Under the mask, heads of L query tokens that see the `past` cached keys and the
  // prompt's up to their own.
  const uint64_t past = qk.causal ? uint64_t(qk.past) : 0, head_rows = keys - past;
  uint64_t bm = 0, bk = 0;
  attention_blocks(qk, bm, bk);
  // Q and O double-buffered across a tile's bands where the scratchpad holds a second
  // pair (so that the next band's Q and first K and V load while this band finishes, as
  // a second thread block would on a GPU's SM), else one of each.
  const uint64_t qo = bm * d * eb + bm * d * 4;
  const uint64_t nqo = attention_footprint(bm, bk, d, eb) + qo <= spm_bytes_ ? 2 : 1;
  const uint64_t q_off[2] = {0, nqo > 1 ? bm * d * eb : 0};
  const uint64_t k_off[2] = {nqo * bm * d * eb, nqo * bm * d * eb + d * bk * eb};
  const uint64_t v_off[2] = {k_off[1] + d * bk * eb, k_off[1] + d * bk * eb + bk * d * eb};
  const uint64_t s_off[2] = {v_off[1] + bk * d * eb, v_off[1] + bk * d * eb + bm * bk * 4};
  const uint64_t p_off[2] = {s_off[1] + bm * bk * 4, s_off[1] + bm * bk * 4 + bm * bk * eb};
  const uint64_t o_off[2] = {p_off[1] + bm * bk * eb,
                             p_off[1] + bm * bk * eb + (nqo > 1 ? bm * d * 4 : 0)};
  // Row bands of at most bm rows of one part (under the causal mask, of one head), and
  // their keys (all, or up to the last row's under the mask).
  struct Band {
    uint64_t part, row0, rows, keys;
  };
  // (Without the mask the part's heads share K and V, and a band may run across them.)
  std::vector<Band> bands;
  for (uint64_t p = 0; p < parts; ++p)
    for (const auto& [r0, rows] : row_bands(m, bm, qk.causal ? head_rows : 0, 0))
      bands.push_back({p, r0, rows, qk.causal ? past + (r0 + rows - 1) % head_rows + 1 : keys});
  // Longest first to the least loaded tile (work: rows x keys).
  std::vector<size_t> order(bands.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return bands[a].rows * bands[a].keys > bands[b].rows * bands[b].keys;
  });
  std::vector<uint64_t> load(gt.size(), 0);
  std::vector<std::vector<size_t>> per_tile(gt.size());
  for (size_t i : order) {
    const size_t t = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    per_tile[t].push_back(i);
    load[t] += bands[i].rows * bands[i].keys;
  }
  // A cache's K and V of each part (one KV head of one sequence), placed for the tiles
  // that read it, as a decode's cache is. (Its loads still wait for the previous op, as
  // the chunk's own K and V are written into it by this pass; the separate qk and av
  // load a cache early, as a decode's, which is early only for the cached tokens.)
  std::vector<std::vector<uint32_t>> readers(cache ? parts : 0);
  for (size_t ti = 0; cache && ti < gt.size(); ++ti)
    for (size_t bi : per_tile[ti])
      if (readers[bands[bi].part].empty() || readers[bands[bi].part].back() != gt[ti])
        readers[bands[bi].part].push_back(gt[ti]);
  std::vector<uint64_t> k_at(parts), v_at(parts);
  for (uint64_t p = 0; p < parts; ++p) {
    k_at[p] = cache ? alloc_resident(readers[p], d * keys * eb, qk.name + " kv")
                    : k_base + p * d * keys * eb;
    v_at[p] = cache ? alloc_resident(readers[p], keys * d * eb, av.name + " kv")
                    : v_base + p * keys * d * eb;
  }
  uint64_t macs = 0, macs_full = 0;
  // The softmax's step writes P in the operands' type (its fp32 input S counted alike: one
  // element size a command); O's corrections are fp32.
  for (size_t ti = 0; ti < gt.size(); ++ti) {
    TileState& t = tiles_[gt[ti]];
    // Per buffer slot, the command that last read it (the tile's buffers are free after
    // the fence): K slots by the S GEMMs, V and P slots by the O GEMMs, S slots by the
    // softmax steps, Q slots by a band's last S GEMM, O slots by a band's store. Blocks
    // of keys alternate K, V, S and P slots across the tile's bands, bands the Q and O.
    int64_t k_read[2] = {t.fence, t.fence}, vp_read[2] = {t.fence, t.fence},
            s_read[2] = {t.fence, t.fence}, q_read[2] = {t.fence, t.fence},
            o_read[2] = {t.fence, t.fence};
    int64_t last_gemm = t.fence;
    uint64_t slot = 0;  // blocks of keys so far on this tile
    for (size_t n = 0; n < per_tile[ti].size(); ++n) {
      const Band& b = bands[per_tile[ti][n]];
      const size_t y = n % nqo;  // this band's Q and O
      const uint64_t q_at = q_base + (b.part * m + b.row0) * d * eb;
      const int64_t lq = add(t, dma(CmdKind::kDmaLoad, q_at, q_off[y], d * eb, b.rows, d * eb),
                             {t.gate, q_read[y]});
      // Software-pipelined as on an accelerator with its own vector unit: the array runs
      // S of block j + 1 while the vector unit turns S of block j into P (S and P are
      // double-buffered), then O += P V of block j.
      const uint64_t blocks = ceil_div(b.keys, bk);
      std::vector<int64_t> gs(blocks), vp(blocks), go(blocks), lv(blocks);
      std::vector<size_t> xs(blocks);
      auto o_gemm = [&](uint64_t j) {  // O += P V of block j, after O's correction
        const uint64_t kb = std::min(bk, b.keys - j * bk);
        const size_t x = xs[j];
        std::vector<int64_t> deps = {vp[j], lv[j]};
        if (j > 0)
          deps.push_back(add(t,
                             vector_cmd(VecOp::kMul, b.rows * d, b.rows, 1, 4, o_off[y], o_off[y]),
                             {vp[j], go[j - 1]}));
        else
          deps.push_back(o_read[y]);  // O is free once its last band's store left
        go[j] = add(t, gemm_cmd(b.rows, d, kb, p_off[x], v_off[x], o_off[y], eb, j > 0), deps);
        vp_read[x] = go[j];
      };
      for (uint64_t j = 0; j < blocks; ++j, ++slot) {
        const uint64_t k0 = j * bk, kb = std::min(bk, b.keys - k0);
        const size_t x = xs[j] = slot % 2;
        // K of this head: d rows of `keys` (qk's B), columns k0 ..; V: `keys` rows of d.
        const int64_t lk =
            add(t, dma(CmdKind::kDmaLoad, k_at[b.part] + k0 * eb, k_off[x], kb * eb, d, keys * eb),
                {t.gate, k_read[x]});
        lv[j] =
            add(t, dma(CmdKind::kDmaLoad, v_at[b.part] + k0 * d * eb, v_off[x], d * eb, kb, d * eb),
                {t.gate, vp_read[x]});
        gs[j] = add(t, gemm_cmd(b.rows, kb, d, q_off[y], k_off[x], s_off[x], eb, false),
                    {lq, lk, s_read[x]});
        k_read[x] = gs[j];
        if (j > 0) o_gemm(j - 1);
        vp[j] = add(t, vector_cmd(VecOp::kSoftmax, b.rows * kb, b.rows, 1, eb, s_off[x], p_off[x]),
                    {gs[j], vp_read[x]});
        s_read[x] = vp[j];
        macs += b.rows * kb * d * 2;
      }
      o_gemm(blocks - 1);
      q_read[y] = gs[blocks - 1];
      macs_full += b.rows * keys * d * 2;
      const int64_t norm =
          add(t, vector_cmd(VecOp::kMul, b.rows * d, b.rows, 1, 4, o_off[y], o_off[y]),
              {go[blocks - 1]});
      o_read[y] = add(t,
                      dma(CmdKind::kDmaStore, o_base + (b.part * m + b.row0) * d * eb, o_off[y],
                          d * eb, b.rows, d * eb),
                      {norm});
      last_gemm = go[blocks - 1];
    }
    if (!per_tile[ti].empty()) t.tail = {last_gemm, o_read[0], o_read[1]};
  }
  // A lower bound: Q and O once, K and V once per head up to its last key seen.
  plan_->hbm_bytes += 2 * q_total + 2 * kv_total;
  std::ostringstream strat;
  size_t used = 0;
  for (const auto& v : per_tile) used += !v.empty();
  strat << "fused with " << qk.name << " and " << w_.op(size_t(w_.find(av.deps[0]))).name
        << " (FlashAttention-style: scores stay in the scratchpad): " << bands.size()
        << " row bands of up to " << bm << " rows over " << used << " tiles, key blocks of " << bk;
  if (qk.causal)
    strat << "; causal mask: " << std::fixed << std::setprecision(1)
          << 100.0 * double(macs) / double(std::max<uint64_t>(macs_full, 1))
          << " % of the MACs computed";
  plan_->strategy = strat.str();
}

void Lowering::lower_vector(const Op& op, uint32_t group) {
  const auto& gt = groups_[group];
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  const uint64_t elems = uint64_t(std::max<int64_t>(op.elems, 1));
  const uint32_t inputs = uint32_t(std::max<int64_t>(op.inputs, 1));
  // A row is what the op reduces whole: a norm's is the model's hidden size (meta
  // `hidden`), a softmax's the keys of the qk whose scores it reads; an elementwise op's
  // is only a chunk of the hidden size. (Until the twenty-sixth session every row was
  // the hidden size, 4096 when the trace did not give it, as the generator did not.)
  const Op* producer = nullptr;  // a softmax's one input (its scores, from a qk)
  if (op.kind == OpKind::kSoftmax && op.deps.size() == 1) {
    const int64_t d = w_.find(op.deps[0]);
    if (d >= 0) producer = &w_.op(size_t(d));
  }
  const int64_t row_len = producer && producer->kind == OpKind::kQk ? producer->n : hidden_;
  uint64_t row = std::min<uint64_t>(elems, uint64_t(std::max<int64_t>(row_len, 1)));
  const uint64_t whole_row = row;
  // A row and its inputs in a scratchpad slot, two slots where they fit. An elementwise
  // op has no rows of its own (a row is only a chunk), so its row shrinks to fit. A
  // softmax or norm reduces each row whole: one slot when two do not fit, and a row
  // longer than the scratchpad is cut into pieces and streamed twice, as an online
  // kernel does (lower_cut_rows; --explain says so).
  const uint64_t row_elem_bytes = (inputs + 1) * uint64_t(eb);
  const bool row_wise =
      op.kind == OpKind::kSoftmax || op.kind == OpKind::kLayerNorm || op.kind == OpKind::kRmsNorm;
  const bool cut_rows = row_wise && row * row_elem_bytes > spm_bytes_;
  if (!row_wise || cut_rows)
    while (row > 1 && 2 * row * row_elem_bytes > spm_bytes_) row = ceil_div(row, 2);
  if (row * row_elem_bytes > spm_bytes_)
    throw sim::UserError(w_.op_context(cur_index_) + "a row of " + std::to_string(row) +
                         " elements with its inputs needs " + std::to_string(row * row_elem_bytes) +
                         " bytes of scratchpad, more than tile.scratchpad.size_kib gives (" +
                         std::to_string(spm_bytes_) + ")");
  const uint64_t slots = 2 * row * row_elem_bytes <= spm_bytes_ ? 2 : 1;
  const uint64_t rows = ceil_div(elems, row);
  // The op reads `inputs` x `elems` elements as one stream: the dependencies' outputs in
  // their order (a residual add reads both producers, rope reads q then k), and past
  // them a tensor of its own (rope's rotation table, a model input).
  struct Piece {
    uint64_t addr, bytes;
  };
  std::vector<Piece> stream;
  uint64_t covered = 0;
  const uint64_t total = elems * eb * inputs;
  for (const auto& d : op.deps) {
    if (covered >= total) break;
    auto it = outputs_.find(d);
    if (it == outputs_.end() || group >= it->second.size() || it->second[group] == ~0ull) continue;
    const uint64_t b = std::min(output_bytes_[d], total - covered);
    if (b == 0) continue;
    stream.push_back({it->second[group], b});
    covered += b;
  }
  if (covered < total)
    stream.push_back(
        {alloc_activation(group, total - covered, op.name + " input", own_dies(), true),
         total - covered});
  // A softmax over a causal qk's scores keeps their shape (the full matrix, of which it
  // computes the visible part), so that the av reads its probabilities inside it.
  uint64_t out_bytes = elems * eb;
  if (producer && producer->causal && !stream.empty())
    out_bytes = std::max(out_bytes, output_bytes_[op.deps[0]]);
  const uint64_t out_base = output_addr(op, group, out_bytes);
  // Loads `n_el` elements of every input from element `e0` into the scratchpad at
  // `local`, `stride` bytes between inputs, after `after`; their ids go to `deps`. The
  // stream's pieces are the inputs one after another.
  auto load_inputs = [&](TileState& t, uint64_t e0, uint64_t n_el, uint64_t local, uint64_t stride,
                         const std::vector<int64_t>& after, std::vector<int64_t>& deps) {
    for (uint32_t in = 0; in < inputs; ++in) {
      // Stream bytes [from, from + n_el * eb), one load per piece it touches.
      uint64_t from = (in * elems + e0) * eb, left = n_el * eb, at = 0;
      uint64_t to = local + in * stride;
      for (const Piece& pc : stream) {
        if (left == 0) break;
        if (from >= at + pc.bytes) {
          at += pc.bytes;
          continue;
        }
        const uint64_t take = std::min(left, at + pc.bytes - from);
        deps.push_back(
            add(t, dma(CmdKind::kDmaLoad, pc.addr + (from - at), to, take, 1, 0), after));
        from += take, to += take, left -= take;
        at += pc.bytes;
      }
    }
  };
  if (cut_rows) {
    lower_cut_rows(op, group, whole_row, row, slots, row_elem_bytes, out_base, load_inputs);
    return;
  }
  // Whole rows per tile; chunks of rows double-buffered in the scratchpad, at least four
  // a tile where its rows allow, so that one chunk's loads, the vector unit and the
  // previous chunk's store overlap (until the twenty-fourth session a chunk was as large
  // as the scratchpad allowed, often all of a tile's rows: load, compute and store ran
  // one after another).
  const uint64_t ntiles = std::min<uint64_t>(gt.size(), rows);
  const uint64_t rows_per_tile = ceil_div(rows, ntiles);
  const uint64_t chunk_rows =
      std::max<uint64_t>(1, std::min(spm_bytes_ / (slots * row * row_elem_bytes),
                                     ceil_div(rows_per_tile, kVectorChunks)));
  for (uint64_t ti = 0; ti < ntiles; ++ti) {
    TileState& t = tiles_[gt[ti]];
    const uint64_t r_begin = ti * rows_per_tile, r_end = std::min(rows, r_begin + rows_per_tile);
    // Per chunk: its vector command and its store. Slot i % slots is free for chunk i's
    // loads once chunk i - slots' vector command has read it, and for its result once
    // that chunk's store has (stores may finish out of order: the last two are the tail).
    std::vector<int64_t> compute_hist, store_hist;
    for (uint64_t r0 = r_begin; r0 < r_end; r0 += chunk_rows) {
      const uint64_t rr = std::min(chunk_rows, r_end - r0);
      const uint64_t n_el = std::min(elems - r0 * row, rr * row);
      const size_t i = compute_hist.size();
      const uint64_t slot_base = (i % slots) * chunk_rows * row * row_elem_bytes;
      const int64_t reuse = i >= slots ? compute_hist[i - slots] : t.fence;
      std::vector<int64_t> deps;
      load_inputs(t, r0 * row, n_el, slot_base, rr * row * eb, {reuse, t.gate}, deps);
      if (i >= slots) deps.push_back(store_hist[i - slots]);
      const Command v = vector_cmd(vec_op_of(op.kind), n_el, rr, uint32_t(inputs), eb, slot_base,
                                   slot_base + inputs * rr * row * eb);
      const int64_t vc = add(t, v, deps);
      compute_hist.push_back(vc);
      store_hist.push_back(
          add(t, dma(CmdKind::kDmaStore, out_base + r0 * row * eb, v.vec.dst_addr, n_el * eb, 1, 0),
              {vc}));
    }
    t.tail = last_two(store_hist);
  }
  plan_->hbm_bytes += elems * eb * (inputs + 1);
  plan_->strategy = std::to_string(rows) + " rows of " + std::to_string(row) + " over " +
                    std::to_string(ntiles) + " tiles";
}

// A softmax or norm whose rows (with their inputs) do not fit the scratchpad, as an
// online kernel streams them: each tile takes whole rows; per row, a statistics pass
// over its pieces (loads, then the running max and exp-sum or the norm's sums, no
// output), then an apply pass that loads every piece again and stores it normalised.
// Pieces are `piece` elements, `slots` of them in the scratchpad (double-buffered when
// two fit); a row's apply pass waits for its statistics. (Until the thirtieth session
// a cut row's pieces were spread over tiles as independent rows and read once: the
// second pass and the row's reduction across its pieces were missing.)
template <class LoadInputs>
void Lowering::lower_cut_rows(const Op& op, uint32_t group, uint64_t whole_row, uint64_t piece,
                              uint64_t slots, uint64_t row_elem_bytes, uint64_t out_base,
                              LoadInputs& load_inputs) {
  const auto& gt = groups_[group];
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  const uint64_t elems = uint64_t(std::max<int64_t>(op.elems, 1));
  const uint32_t inputs = uint32_t(std::max<int64_t>(op.inputs, 1));
  const uint64_t whole_rows = ceil_div(elems, whole_row);
  const uint64_t ntiles = std::min<uint64_t>(gt.size(), whole_rows);
  const uint64_t rows_per_tile = ceil_div(whole_rows, ntiles);
  const uint64_t slot_bytes = piece * row_elem_bytes;
  const VecOp vop = vec_op_of(op.kind);
  for (uint64_t ti = 0; ti < ntiles; ++ti) {
    TileState& t = tiles_[gt[ti]];
    // Per chunk: the command after which its slot is free again (its vector command,
    // or the store of an apply chunk's result).
    std::vector<int64_t> compute_hist, free_hist, store_hist;
    auto chunk = [&](RowPass pass, uint64_t e0, uint64_t n_el, bool row_end, int64_t stats) {
      const size_t i = compute_hist.size();
      const uint64_t slot_base = (i % slots) * slot_bytes;
      const int64_t reuse = i >= slots ? compute_hist[i - slots] : t.fence;
      std::vector<int64_t> deps;
      load_inputs(t, e0, n_el, slot_base, n_el * eb, {reuse, t.gate}, deps);
      if (i >= slots) deps.push_back(free_hist[i - slots]);
      if (stats >= 0) deps.push_back(stats);
      // The output at a fixed place past a whole piece's inputs: a short piece's output
      // must not lie where the next piece in this slot loads its inputs (those loads
      // wait for this piece's vector command, not for its store).
      Command v = vector_cmd(vop, n_el, row_end ? 1 : 0, inputs, eb, slot_base,
                             slot_base + inputs * piece * eb);
      v.vec.pass = pass;
      const int64_t vc = add(t, v, deps);
      compute_hist.push_back(vc);
      if (pass == RowPass::kStats) {
        free_hist.push_back(vc);
        return vc;
      }
      const int64_t st = add(
          t, dma(CmdKind::kDmaStore, out_base + e0 * eb, v.vec.dst_addr, n_el * eb, 1, 0), {vc});
      free_hist.push_back(st);
      store_hist.push_back(st);
      return vc;
    };
    const uint64_t r_begin = ti * rows_per_tile,
                   r_end = std::min(whole_rows, r_begin + rows_per_tile);
    for (uint64_t r = r_begin; r < r_end; ++r) {
      const uint64_t e_begin = r * whole_row, e_end = std::min(elems, e_begin + whole_row);
      int64_t stats = -1;
      for (uint64_t e0 = e_begin; e0 < e_end; e0 += piece)
        stats = chunk(RowPass::kStats, e0, std::min(piece, e_end - e0), e0 + piece >= e_end, -1);
      for (uint64_t e0 = e_begin; e0 < e_end; e0 += piece)
        chunk(RowPass::kApply, e0, std::min(piece, e_end - e0), false, stats);
    }
    t.tail = last_two(store_hist);
  }
  plan_->hbm_bytes += elems * eb * (2 * inputs + 1);
  plan_->strategy = std::to_string(whole_rows) + " rows of " + std::to_string(whole_row) +
                    " over " + std::to_string(ntiles) + " tiles, cut into pieces of " +
                    std::to_string(piece) +
                    " to fit the scratchpad and streamed twice as an online kernel does "
                    "(statistics, then normalise: each piece read twice)";
}

void Lowering::lower_embedding(const Op& op, uint32_t group) {
  const auto& gt = groups_[group];
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  const uint64_t tokens = uint64_t(std::max<int64_t>(op.m, 1));
  const uint64_t dim = uint64_t(std::max<int64_t>(op.n, 1));
  const uint64_t vocab = uint64_t(std::max<int64_t>(op.vocab, 1));
  const uint64_t table = alloc(near_stack(gt[0]), vocab * dim * eb, op.name + " table");
  const uint64_t out = output_addr(op, group, tokens * dim * eb);
  // Token ids are not in the trace: rows are drawn from the machine seed, so the
  // gather's addresses are spread as real ids would be, and reproducible.
  uint64_t x = spec_.seed * 0x9E3779B97F4A7C15ull + cur_index_;
  const uint64_t ntiles = std::min<uint64_t>(gt.size(), tokens);
  const uint64_t row_bytes = dim * eb;
  const uint64_t fit = std::max<uint64_t>(1, spm_bytes_ / (2 * row_bytes));
  // Rows rotate through `fit` scratchpad slots per tile: a row's gather waits only for
  // the store that last read its slot, so up to `fit` rows are in flight (until the
  // tenth session each waited for the previous row's store). Stores may finish out of
  // order: the last `fit` of each tile are its tail.
  std::vector<std::vector<int64_t>> slot_user(ntiles, std::vector<int64_t>(fit, -1));
  for (uint64_t tok = 0; tok < tokens; ++tok) {
    TileState& t = tiles_[gt[tok % ntiles]];
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const uint64_t s = (tok / ntiles) % fit, slot = s * row_bytes;
    int64_t& user = slot_user[tok % ntiles][s];
    const int64_t ld =
        add(t, dma(CmdKind::kDmaLoad, table + (x % vocab) * row_bytes, slot, row_bytes, 1, 0),
            {t.fence, t.gate, user});  // (the gate: its store may reuse a dead tensor's memory)
    user = add(t, dma(CmdKind::kDmaStore, out + tok * row_bytes, slot, row_bytes, 1, 0), {ld});
  }
  for (uint64_t ti = 0; ti < ntiles; ++ti)
    for (int64_t st : slot_user[ti])
      if (st >= 0) tiles_[gt[ti]].tail.push_back(st);
  plan_->hbm_bytes += 2 * tokens * row_bytes;
  plan_->strategy =
      std::to_string(tokens) + " row gathers over " + std::to_string(ntiles) + " tiles";
}

// The sets of rank groups that run a collective of op.group ranks, each in its rank
// order. All ranks (the whole world): one set. Fewer: the op's own ranks are one set,
// and copies of it shifted along the ranks tile the rest (a tensor-parallel group
// {0, 1} of four ranks gives {0, 1} and {2, 3}; a data-parallel group {0, 2} gives
// {0, 2} and {1, 3}); without a list, the sets are consecutive blocks. Each set runs
// its own collective; the first rank of a set is its root (broadcast, reduce, gather,
// scatter).
std::vector<std::vector<uint32_t>> Lowering::collective_sets(const Op& op) const {
  const int64_t world = int64_t(groups_.size());
  const int64_t g = op.group < 1 ? world : op.group;
  const std::string pre = w_.op_context(cur_index_);
  if (g > world)
    throw sim::UserError(pre + "group=" + std::to_string(g) + " but the workload has " +
                         std::to_string(world) + " rank" + (world == 1 ? "" : "s") +
                         " (meta tp*pp*dp, or ranks); a collective runs among its group's ranks");
  std::vector<int64_t> base = op.ranks;
  if (base.empty())
    for (int64_t r = 0; r < g; ++r) base.push_back(r);
  const int64_t low = *std::min_element(base.begin(), base.end());
  std::vector<char> taken(size_t(world), 0);
  std::vector<std::vector<uint32_t>> sets;
  // The set of the ranks shifted to start at `start` (the op's own when start == low).
  auto take = [&](int64_t start) {
    std::vector<uint32_t> set;
    for (int64_t r : base) {
      const int64_t x = r - low + start;
      if (x < 0 || x >= world || taken[size_t(x)])
        throw sim::UserError(pre +
                             (start == low
                                  ? "ranks must be distinct and below the workload's "
                                  : "copies of its ranks shifted along the ranks do not tile the "
                                    "workload's ") +
                             std::to_string(world) + " ranks");
      taken[size_t(x)] = 1;
      set.push_back(uint32_t(x));
    }
    sets.push_back(std::move(set));
  };
  take(low);
  for (int64_t start = 0; start < world; ++start)
    if (!taken[size_t(start)]) take(start);
  // Lowered in order of their least rank (buffers are allocated in that order).
  std::sort(sets.begin(), sets.end(), [](const auto& a, const auto& b) {
    return *std::min_element(a.begin(), a.end()) < *std::min_element(b.begin(), b.end());
  });
  return sets;
}

void Lowering::lower_collective(const Op& op, uint32_t group) {
  if (group != 0) return;  // lowered once for all groups
  if (traces::op_class(op.kind) != traces::OpClass::kCollective) {
    // Send and receive: the trace is one rank's program (meta rank; an imported op's own
    // rank), so every rank r sends to r + (peer - rank), or receives from there, within
    // its pipeline (the tp x pp ranks of one data-parallel replica when pp > 1, else all
    // ranks): a stage to the next, the last stage sending nothing, nothing wrapping round.
    const int64_t delta = p2p_delta(op), span = p2p_span();
    if (delta == 0 || delta >= span || -delta >= span) {
      throw sim::UserError(w_.op_context(cur_index_) + "peer=" + std::to_string(op.peer) +
                           (delta == 0 ? " is its own rank"
                                       : " is " + std::to_string(delta < 0 ? -delta : delta) +
                                             (delta == 1 || delta == -1 ? " rank" : " ranks") +
                                             " away, a pipeline of the workload has " +
                                             std::to_string(span)));
    }
    if (!multi_rank_) {
      // Every rank runs this program, so a middle pipeline stage's recv (from the stage
      // before) and send (to the stage after) are the two ends of the same transfers,
      // rank r to r + d for every r: the later of such a pair moves nothing more.
      // (Until the tenth session both were lowered: each link carried the data twice.)
      const bool send = op.kind == OpKind::kSend;
      int64_t& open = p2p_open_[{send ? delta : -delta, op.bytes}];
      const int64_t end = send ? 1 : -1;
      if (open * end < 0) {
        open += end;
        plan_->strategy = std::string("the other end of an earlier ") + (send ? "recv" : "send") +
                          " (every rank runs both: one transfer per rank pair)";
        return;
      }
      open += end;
    }
    members_.resize(groups_.size());  // send/recv: ranks are the rank groups
    for (uint32_t r = 0; r < members_.size(); ++r) members_[r] = r;
    lower_collective_over(op);
    return;
  }
  const auto sets = collective_sets(op);
  for (const auto& set : sets) {
    members_ = set;
    lower_collective_over(op);
  }
  if (sets.size() > 1)
    plan_->strategy = std::to_string(sets.size()) + " groups of " + std::to_string(sets[0].size()) +
                      " ranks at once, each: " + plan_->strategy;
}

void Lowering::lower_collective_over(const Op& given) {
  // A barrier is an all-reduce of one 4-byte element, as NCCL-based frameworks run it:
  // no rank leaves before every rank has arrived (until the tenth session a barrier of
  // no bytes lowered to nothing, and ranks never synchronised across groups).
  Op as_allreduce;
  if (given.kind == OpKind::kBarrier) {
    as_allreduce = given;
    as_allreduce.kind = OpKind::kAllReduce;
    as_allreduce.bytes = 4;
    as_allreduce.dtype = traces::DType::kFp32;
  }
  const Op& op = given.kind == OpKind::kBarrier ? as_allreduce : given;
  // Ranks of the collective are rank groups of the machine (members_); each group's
  // leader tile runs a ring: reduce-scatter then all-gather for all-reduce, one half for
  // reduce-scatter / all-gather; all-to-all, gather, scatter, send and receive are
  // direct copies, broadcast and reduce a chain.
  const uint32_t p = uint32_t(members_.size());
  const uint64_t bytes = uint64_t(std::max<int64_t>(op.bytes, 0));
  if (p < 2 || bytes == 0) {
    plan_->strategy = "single rank group: nothing to exchange";
    return;
  }
  if (op.kind == OpKind::kAllToAll || op.kind == OpKind::kGather || op.kind == OpKind::kScatter ||
      op.kind == OpKind::kSend || op.kind == OpKind::kRecv) {
    lower_all_to_all(op);
    return;
  }
  // The HBM traffic the ranks make at least, for the report's memory floor: each reads
  // its contribution and writes its result (the all-to-all copies count their own).
  const uint64_t all = bytes * p, part = ceil_div(bytes, p);
  switch (op.kind) {
    case OpKind::kAllReduce:
      plan_->hbm_bytes += 2 * all;
      break;
    case OpKind::kReduceScatter:
      plan_->hbm_bytes += all + part * p;
      break;
    case OpKind::kAllGather:
      plan_->hbm_bytes += part * p + all;
      break;
    case OpKind::kBroadcast:  // the root reads, the others write
      plan_->hbm_bytes += all;
      break;
    case OpKind::kReduce:  // every rank reads, the root writes
      plan_->hbm_bytes += all + bytes;
      break;
    default:
      break;
  }
  uint32_t rs_steps = 0, ag_steps = 0;
  switch (op.kind) {
    case OpKind::kAllReduce:
      rs_steps = ag_steps = p - 1;
      break;
    case OpKind::kReduceScatter:
    case OpKind::kReduce:
      rs_steps = p - 1;
      break;
    case OpKind::kAllGather:
    case OpKind::kBroadcast:
    case OpKind::kGather:
    case OpKind::kScatter:
      ag_steps = p - 1;
      break;
    default:
      break;
  }
  const std::string blocker = switch_blocker(op);
  if (blocker.empty()) {
    lower_switch_collective(op);
    return;
  }
  if (opt_.collective == "switch" &&
      (op.kind == OpKind::kAllReduce || op.kind == OpKind::kAllGather))
    throw sim::UserError("--collective switch: " + op.name +
                         " cannot use the switch fabric: " + blocker);
  if (op.kind == OpKind::kBroadcast || op.kind == OpKind::kReduce) {
    lower_chain(op, op.kind == OpKind::kReduce);
    return;
  }
  if (op.kind == OpKind::kAllReduce && opt_.collective == "tree") {
    lower_tree(op);
    return;
  }
  // Channels: tile grp(r)[ch.tile(c)] of every rank r runs its own ring over its
  // slice of the buffer, all channels at once (per-tile semaphores and scratchpad
  // slots, so channels do not collide).
  //
  // Each channel's ring is pipelined as NCCL's is. The slice is cut into p chunks; a
  // piece of chunk q makes T = rs_steps + ag_steps sends around the ring: the first
  // from the rank's own data, each reduce-scatter step adding the received piece to the
  // rank's own copy (loaded from HBM) and sending the sum on, each all-gather step
  // storing the received (final) piece and forwarding it; the last receive is stored.
  // Pieces go out in rounds of K: all sends of step t of a round, then of step t + 1, so
  // a send waits for a piece that arrived K sends earlier, not for the one just sent,
  // and the link stays busy. Receives land in B = 2K scratchpad slots that the sender
  // may fill only with a credit: the receiver grants B when its scratchpad is free, and
  // one more per slot it has finished with (K receives later, so a slow HBM store does
  // not hold up the receiver's semaphore unit).
  const uint32_t T = rs_steps + ag_steps;  // sends per piece
  if (T == 0) {                            // e.g. a barrier given bytes: nothing moves
    plan_->strategy = "nothing to exchange";
    return;
  }
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  Channels ch = channels_for(bytes, uint64_t(p) * dma_window(), false, rs_steps > 0, eb);
  // A slice of a whole number of p bursts cuts into p chunks that end where the next
  // channel's slice begins (until the twelfth session a channel's last chunk could
  // overlap the next channel's first bytes). The last channel's slice may be shorter:
  // its chunks are ceil(slice / p) bytes, so its last may run up to p - 1 bytes past the
  // buffer, which is padded for it.
  {
    const uint64_t unit = uint64_t(p) * spec_.tile.dma.burst_bytes;
    ch.slice = ceil_div(ch.slice, unit) * unit;
    ch.count = uint32_t(std::max<uint64_t>(1, ceil_div(bytes, ch.slice)));
  }
  std::vector<uint64_t> buf(p);
  for (uint32_t r = 0; r < p; ++r) buf[r] = output_addr(op, gid(r), bytes + uint64_t(p) * ch.count);
  constexpr uint64_t K = kRingRound, B = kRingSlots;
  auto reduces = [&](uint32_t t) { return t >= 1 && t <= rs_steps; };  // t = T: last receive
  auto stores = [&](uint32_t t) { return t == T || (ag_steps > 0 && t >= std::max(rs_steps, 1u)); };
  uint64_t chunk_max = 0, piece_max = 0;
  for (uint32_t c = 0; c < ch.count; ++c) {
    const uint64_t base = c * ch.slice, len_c = std::min(ch.slice, bytes - base);
    const uint64_t chunk = ceil_div(len_c, p);
    chunk_max = std::max(chunk_max, chunk);
    const RingSlots slot = ring_slots(chunk);
    const uint64_t piece = slot.piece;
    piece_max = std::max(piece_max, piece);
    const uint64_t pieces = ceil_div(chunk, piece);
    const uint64_t sends = pieces * T;  // per rank, and receives as many
    for (uint32_t r = 0; r < p; ++r) {
      TileState& t = tiles_[grp(r)[ch.tile(c)]];
      const uint32_t next = grp((r + 1) % p)[ch.tile(c)];
      const uint32_t prev = grp((r + p - 1) % p)[ch.tile(c)];
      const std::vector<int64_t> start = {t.gate, t.fence};
      // Chunk of send t (and of the piece received for it): rank r starts with its own.
      auto addr = [&](uint32_t step, uint64_t off) {
        return buf[r] + base + ((r + p * T - step) % p) * chunk + off;
      };
      add(t, sync(CmdKind::kSignal, prev, kSemRingCredit, uint32_t(std::min<uint64_t>(B, sends))),
          start);
      std::vector<std::vector<int64_t>> load_users(B), recv_users(B);
      uint64_t nsend = 0, nrecv = 0, nload = 0;
      for (uint64_t g = 0; g < pieces; g += K) {
        const uint64_t kn = std::min<uint64_t>(K, pieces - g);
        for (uint32_t step = 0; step <= T; ++step)
          for (uint64_t k = 0; k < kn; ++k) {
            const uint64_t off = (g + k) * piece, len = std::min(piece, chunk - off);
            int64_t data = -1;  // the command that makes this step's piece ready
            uint64_t at = 0;    // and where it is
            if (step > 0) {
              const uint64_t j = nrecv++;
              data = add(t, sync(CmdKind::kWait, t.id, kSemRing, 1), {});
              at = slot.recv(j);
              recv_users[j % B] = {data};
              late_credit(t, j, sends, prev, kSemRingCredit, recv_users);
            }
            if (step == 0 || reduces(step)) {
              const uint64_t li = nload++;
              const uint64_t ls = slot.load(li);
              std::vector<int64_t> deps = load_users[li % B];
              deps.insert(deps.end(), start.begin(), start.end());
              const int64_t ld =
                  add(t, dma(CmdKind::kDmaLoad, addr(step, off), ls, len, 1, 0), deps);
              load_users[li % B] = {ld};
              if (step == 0) {
                data = ld;
              } else {
                data = add_pieces(t, len, eb, at, ls, {data, ld});
                recv_users[(nrecv - 1) % B].push_back(data);
                load_users[li % B].push_back(data);
              }
              at = ls;
            }
            auto& users = step > 0 && !reduces(step) ? recv_users[(nrecv - 1) % B]
                                                     : load_users[(nload - 1) % B];
            if (stores(step)) {
              users.push_back(
                  add(t, dma(CmdKind::kDmaStore, addr(step, off), at, len, 1, 0), {data}));
            }
            if (step < T)
              users.push_back(credited_send(t, next, slot.recv(nsend++), at, len, data));
          }
      }
      end_after_slots(t, recv_users, load_users);
    }
  }
  plan_->strategy = "ring over " + std::to_string(p) + " rank groups x " +
                    std::to_string(ch.count) + (ch.count == 1 ? " channel" : " channels") + " (" +
                    ch.why + "), " + std::to_string(rs_steps + ag_steps) + " steps of " +
                    std::to_string(chunk_max) + " bytes" + (ch.count == 1 ? "" : " per channel") +
                    " in pipelined pieces of " + std::to_string(piece_max) + " bytes";
  if (spec_.system.packages > 1) plan_->strategy += " (not the switch: " + blocker + ")";
}

int64_t Lowering::credited_send(TileState& t, uint32_t next, uint64_t slot, uint64_t at,
                                uint64_t len, int64_t data, uint32_t recv_sem,
                                uint32_t credit_sem) {
  const int64_t wc = add(t, sync(CmdKind::kWait, t.id, credit_sem, 1), {});
  Command snd = dma(CmdKind::kSend, map_.tile_base(next) + slot, at, len, 1, 0);
  snd.sync = {next, recv_sem, 1};
  plan_->link_bytes += len;
  return add(t, snd, {data, wc});
}

int64_t Lowering::add_pieces(TileState& t, uint64_t len, uint32_t eb, uint64_t src, uint64_t dst,
                             std::vector<int64_t> deps) {
  Command v = vector_cmd(VecOp::kAdd, std::max<uint64_t>(1, len / eb), 1, 2, eb, src, dst);
  v.vec.src2_addr = dst;  // the sum goes onto the second input, in place
  return add(t, v, std::move(deps));
}

void Lowering::end_after_slots(TileState& t, const std::vector<std::vector<int64_t>>& recv_users,
                               const std::vector<std::vector<int64_t>>& load_users) {
  std::vector<int64_t> all;
  for (const auto& u : recv_users) all.insert(all.end(), u.begin(), u.end());
  for (const auto& u : load_users) all.insert(all.end(), u.begin(), u.end());
  add(t, sync(CmdKind::kWait, t.id, kSemRing, 0), all);
}

void Lowering::lower_tree(const Op& op) {
  // A pipelined double binary tree, as NCCL's tree all-reduce. In a tree the children of
  // position k are 2k + 1 and 2k + 2, position 0 is the root. Per piece, each rank
  // loads its own, adds what each child sends up, and sends the sum to its parent; the
  // root's sum is the result, which goes back down: each rank stores what its parent
  // sends and forwards it to its children. Every link carries the data up and down once,
  // after about 2 log2(p) latencies instead of the ring's 2 (p - 1). A rank with two
  // children sends its data three times, so the buffer is cut into channels (an even
  // count, two at least where the rank groups have two tiles) that alternate between
  // two trees: ranks
  // in position order, and mirrored (rank p - 1 - k at position k), whose inner ranks
  // are the first tree's leaves; a rank then sends about twice its share, the ring's
  // 2 (p - 1)/p. Receives land in kRingSlots slots per sender (each child up, the
  // parent down), filled only with a credit, which the receiver grants K receives late.
  // A tile's units run their commands in program order, so the program interleaves
  // rounds of K pieces: the up pass of one round, then the down pass of the round
  // before, so that the next pieces go up while the root works.
  const uint32_t p = uint32_t(members_.size());
  const uint64_t bytes = uint64_t(op.bytes);
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  Channels ch = channels_for(bytes, dma_window(), false, true, eb);
  const uint64_t burst = spec_.tile.dma.burst_bytes;
  // An even count of channels, so that both trees carry half (two at least where the
  // groups have two tiles; --collective-channels is taken as given, 1 a single tree).
  const uint32_t even = ch.count == 1 ? 2 : ch.count / 2 * 2;
  if (opt_.collective_channels == 0 && even != ch.count && even <= ch.group_tiles &&
      bytes >= uint64_t(even) * burst) {
    ch.count = even;
    ch.slice = ceil_div(ceil_div(bytes, even), burst) * burst;
    ch.why += "; " + std::to_string(even) + " for the two trees";
  }
  std::vector<uint64_t> buf(p);
  for (uint32_t r = 0; r < p; ++r) buf[r] = output_addr(op, gid(r), bytes);
  constexpr uint64_t K = kRingRound, B = kRingSlots;  // B = 2K: the root's own slot of a
  // piece is free once the down pass one round later has sent it
  constexpr uint32_t kFromParent = 2, kOwn = 3;  // slot kinds after the two children's
  uint64_t piece_max = 0;
  for (uint32_t c = 0; c < ch.count; ++c) {
    const uint64_t base = c * ch.slice;
    if (base >= bytes) break;
    const uint64_t len_c = std::min(ch.slice, bytes - base);
    const uint64_t piece = slot_piece(len_c, 4 * B);
    piece_max = std::max(piece_max, piece);
    const uint64_t pieces = ceil_div(len_c, piece);
    auto slot = [&](uint32_t kind, uint64_t j) { return (kind * B + j % B) * piece; };
    const bool mirrored = c % 2 == 1;
    // The tile of the rank at tree position k.
    auto tile_of = [&](uint32_t k) { return grp(mirrored ? p - 1 - k : k)[ch.tile(c)]; };
    for (uint32_t k = 0; k < p; ++k) {
      const uint32_t r = mirrored ? p - 1 - k : k;
      TileState& t = tiles_[tile_of(k)];
      const uint32_t kids =
          uint32_t(std::min<int64_t>(2, std::max<int64_t>(0, int64_t(p) - 2 * k - 1)));
      const bool has_parent = k > 0;
      const uint32_t parent = has_parent ? (k - 1) / 2 : 0, me = has_parent ? (k - 1) % 2 : 0;
      const std::vector<int64_t> start = {t.gate, t.fence};
      const uint32_t first = uint32_t(std::min<uint64_t>(B, pieces));
      for (uint32_t i = 0; i < kids; ++i)
        add(t, sync(CmdKind::kSignal, tile_of(2 * k + 1 + i), kSemTreeUpCredit, first), start);
      if (has_parent)
        add(t, sync(CmdKind::kSignal, tile_of(parent), kSemTreeDownCredit + me, first), start);
      std::vector<std::vector<int64_t>> own_users(B), from_parent(B);
      std::vector<std::vector<int64_t>> from_kid[2] = {std::vector<std::vector<int64_t>>(B),
                                                       std::vector<std::vector<int64_t>>(B)};
      std::vector<int64_t> sum(pieces, -1);  // the command that completes piece j's sum
      auto up = [&](uint64_t j) {
        const uint64_t off = j * piece, len = std::min(piece, len_c - off);
        std::vector<int64_t> deps = own_users[j % B];
        deps.insert(deps.end(), start.begin(), start.end());
        int64_t data =
            add(t, dma(CmdKind::kDmaLoad, buf[r] + base + off, slot(kOwn, j), len, 1, 0), deps);
        own_users[j % B] = {data};
        for (uint32_t i = 0; i < kids; ++i) {
          const int64_t w = add(t, sync(CmdKind::kWait, t.id, kSemTreeUp + i, 1), {});
          data = add_pieces(t, len, eb, slot(i, j), slot(kOwn, j), {data, w});
          from_kid[i][j % B] = {w, data};
          own_users[j % B].push_back(data);
          late_credit(t, j, pieces, tile_of(2 * k + 1 + i), kSemTreeUpCredit, from_kid[i]);
        }
        sum[j] = data;
        if (has_parent)
          own_users[j % B].push_back(credited_send(t, tile_of(parent), slot(me, j), slot(kOwn, j),
                                                   len, data, kSemTreeUp + me, kSemTreeUpCredit));
      };
      auto down = [&](uint64_t j) {
        const uint64_t off = j * piece, len = std::min(piece, len_c - off);
        int64_t data = sum[j];  // the root's result is its sum
        uint64_t at = slot(kOwn, j);
        std::vector<int64_t>* users = &own_users[j % B];
        if (has_parent) {
          data = add(t, sync(CmdKind::kWait, t.id, kSemTreeDown, 1), {});
          at = slot(kFromParent, j);
          from_parent[j % B] = {data};
          users = &from_parent[j % B];
          late_credit(t, j, pieces, tile_of(parent), kSemTreeDownCredit + me, from_parent);
        }
        users->push_back(
            add(t, dma(CmdKind::kDmaStore, buf[r] + base + off, at, len, 1, 0), {data}));
        for (uint32_t i = 0; i < kids; ++i)
          users->push_back(credited_send(t, tile_of(2 * k + 1 + i), slot(kFromParent, j), at, len,
                                         data, kSemTreeDown, kSemTreeDownCredit + i));
      };
      for (uint64_t g = 0; g < pieces + K; g += K) {
        for (uint64_t j = g; j < std::min(pieces, g + K); ++j) up(j);
        if (g >= K)
          for (uint64_t j = g - K; j < std::min(pieces, g); ++j) down(j);
      }
      std::vector<std::vector<int64_t>> received = from_parent;
      for (uint32_t i = 0; i < kids; ++i)
        received.insert(received.end(), from_kid[i].begin(), from_kid[i].end());
      end_after_slots(t, received, own_users);
    }
  }
  plan_->strategy = std::string(ch.count > 1 ? "double binary tree" : "binary tree") + " over " +
                    std::to_string(p) + " rank groups x " + std::to_string(ch.count) +
                    (ch.count == 1 ? " channel" : " channels") + " (" + ch.why + "), depth " +
                    std::to_string(31 - __builtin_clz(p)) +
                    ", each piece up to the root and back in pipelined pieces of " +
                    std::to_string(piece_max) + " bytes";
  if (spec_.system.packages > 1) plan_->strategy += " (not the switch: " + switch_blocker(op) + ")";
}

void Lowering::lower_chain(const Op& op, bool reduce) {
  // A pipelined chain, as NCCL's ring broadcast and reduce; the set's first rank (rank 0
  // of a whole-workload collective) is the root. Broadcast:
  // the root loads each piece of its N bytes and sends it to rank 1, every rank stores
  // what it receives and sends it on to the next, the last only stores. Reduce: the chain
  // runs from rank p - 1 to the root; each rank adds its own piece to the one received and
  // sends the sum on, the root stores it. Every link of the chain carries all N once:
  // about N/B plus p - 1 latencies (the ring's (p - 1)/p N/B steps would be too fast).
  // Receives land in B scratchpad slots the sender fills only with a credit, granted
  // K receives late so a slow store does not hold up the receiver's semaphore unit.
  const uint32_t p = uint32_t(members_.size());
  const uint64_t bytes = uint64_t(op.bytes);
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  const Channels ch = channels_for(bytes, dma_window(), false, reduce, eb);
  std::vector<uint64_t> buf(p);
  for (uint32_t r = 0; r < p; ++r) buf[r] = output_addr(op, gid(r), bytes);
  // Position k of the chain: the rank there (position 0 sends first).
  auto rank_at = [&](uint32_t k) { return reduce ? p - 1 - k : k; };
  constexpr uint64_t B = kRingSlots;
  uint64_t piece_max = 0;
  for (uint32_t c = 0; c < ch.count; ++c) {
    const uint64_t base = c * ch.slice;
    if (base >= bytes) break;
    const uint64_t len_c = std::min(ch.slice, bytes - base);
    const RingSlots slot = ring_slots(len_c);
    const uint64_t piece = slot.piece;
    piece_max = std::max(piece_max, piece);
    const uint64_t pieces = ceil_div(len_c, piece);
    for (uint32_t k = 0; k < p; ++k) {
      const uint32_t r = rank_at(k);
      TileState& t = tiles_[grp(r)[ch.tile(c)]];
      const bool receives = k > 0, sends = k + 1 < p;
      const bool loads = k == 0 || reduce, stores = reduce ? !sends : receives;
      const uint32_t next = sends ? grp(rank_at(k + 1))[ch.tile(c)] : 0;
      const uint32_t prev = receives ? grp(rank_at(k - 1))[ch.tile(c)] : 0;
      const std::vector<int64_t> start = {t.gate, t.fence};
      if (receives)
        add(t,
            sync(CmdKind::kSignal, prev, kSemRingCredit, uint32_t(std::min<uint64_t>(B, pieces))),
            start);
      std::vector<std::vector<int64_t>> load_users(B), recv_users(B);
      for (uint64_t j = 0; j < pieces; ++j) {
        const uint64_t off = j * piece, len = std::min(piece, len_c - off);
        const uint64_t addr = buf[r] + base + off;
        int64_t data = -1;  // the command that makes this piece ready, and where it is
        uint64_t at = 0;
        if (receives) {
          data = add(t, sync(CmdKind::kWait, t.id, kSemRing, 1), {});
          at = slot.recv(j);
          recv_users[j % B] = {data};
          late_credit(t, j, pieces, prev, kSemRingCredit, recv_users);
        }
        if (loads) {
          std::vector<int64_t> deps = load_users[j % B];
          deps.insert(deps.end(), start.begin(), start.end());
          const int64_t ld = add(t, dma(CmdKind::kDmaLoad, addr, slot.load(j), len, 1, 0), deps);
          load_users[j % B] = {ld};
          if (receives) {  // reduce: add the received partial sum to this rank's piece
            data = add_pieces(t, len, eb, at, slot.load(j), {data, ld});
            recv_users[j % B].push_back(data);
            load_users[j % B].push_back(data);
          } else {
            data = ld;
          }
          at = slot.load(j);
        }
        auto& users = loads ? load_users[j % B] : recv_users[j % B];
        if (stores) users.push_back(add(t, dma(CmdKind::kDmaStore, addr, at, len, 1, 0), {data}));
        if (sends) users.push_back(credited_send(t, next, slot.recv(j), at, len, data));
      }
      end_after_slots(t, recv_users, load_users);
    }
  }
  plan_->strategy = std::string(reduce ? "reduce" : "broadcast") + " chain over " +
                    std::to_string(p) + " rank groups x " + std::to_string(ch.count) +
                    (ch.count == 1 ? " channel" : " channels") + " (" + ch.why + "), " +
                    std::to_string(bytes) + " bytes over every link in pipelined pieces of " +
                    std::to_string(piece_max) + " bytes";
  if (spec_.system.packages > 1) plan_->strategy += " (not the switch: " + switch_blocker(op) + ")";
}

void Lowering::lower_all_to_all(const Op& op) {
  // Pairwise exchange, as NCCL's all-to-all (a send and a receive per peer): rank r's
  // buffer holds p chunks of N/p bytes, chunk q for rank q; each channel tile of rank r
  // copies its slice of chunk q from its HBM through its scratchpad straight into rank
  // q's output buffer at chunk r, peers in the staggered order r+1, r+2, ... so that at
  // any time every rank writes to a different one. The data takes the machine's own
  // path (NoC, die-to-die links through intermediate chiplets, the fabric), so a ring
  // of chiplets carries each chunk over as many links as lie between the ranks. A rank
  // writes into a peer only once every peer that it writes to has entered the op (one
  // ready signal each, so an earlier op of a slower peer cannot be overwritten), and
  // tells each peer when all its stores to it have completed; the op ends when every
  // rank that writes to it has told it. Gather and scatter are the same exchange with
  // the set's first rank as the root (NCCL's, a send or a receive per peer): every rank copies its
  // chunk into the root's buffer at its place, or the root copies chunk q to rank q.
  const uint32_t p = uint32_t(members_.size());
  const uint64_t bytes = uint64_t(op.bytes);
  const bool all_pairs = op.kind == OpKind::kAllToAll, gather = op.kind == OpKind::kGather;
  // Send and receive (checked in lower_collective): every rank r sends its whole buffer
  // to rank r + delta, or receives it from there, where that rank is in r's pipeline.
  const bool send = op.kind == OpKind::kSend, p2p = send || op.kind == OpKind::kRecv;
  const int64_t delta = p2p ? p2p_delta(op) : 0, span = p2p_span();
  const uint64_t chunk = p2p ? bytes : ceil_div(bytes, p);
  const uint32_t eb = uint32_t(traces::dtype_bytes(op.dtype));
  // Whether rank `from` copies a chunk to rank `to` (its own: a local copy).
  auto moves = [&](uint32_t from, uint32_t to) {
    if (p2p)
      return int64_t(send ? to : from) - int64_t(send ? from : to) == delta &&
             int64_t(from) / span == int64_t(to) / span;
    return all_pairs || (gather ? to == 0 : from == 0);
  };
  auto peers = [&](uint32_t r, bool writing) {  // ranks r writes to, or that write to r
    uint32_t n = 0;
    for (uint32_t q = 0; q < p; ++q) n += q != r && (writing ? moves(r, q) : moves(q, r));
    return n;
  };
  // A channel moves its slice to each of the p - 1 peers (one for send and receive):
  // one DMA window in all is enough per channel.
  const Channels ch =
      channels_for(chunk, p2p ? dma_window() : ceil_div(dma_window(), p - 1), false, false, eb);
  // Buffers of p chunks, chunk q of rank r for rank q landing at chunk r of rank q's;
  // send and receive move one whole buffer, offset 0 to offset 0.
  const uint64_t span_bytes = p2p ? chunk : chunk * p;
  auto at = [p2p, chunk](uint32_t i) { return p2p ? 0 : i * chunk; };
  std::vector<uint64_t> in(p), out(p);
  for (uint32_t r = 0; r < p; ++r) {
    in[r] = input_addr(op, gid(r), span_bytes);
    out[r] = output_addr(op, gid(r), span_bytes);
  }
  constexpr uint64_t kSlots = 8;
  const uint64_t piece_cap = std::max<uint64_t>(64, spm_bytes_ / (2 * kSlots) / 64 * 64);
  uint64_t piece_max = 0, copies = 0;
  for (uint32_t c = 0; c < ch.count; ++c) {
    const uint64_t base = c * ch.slice;
    if (base >= chunk) break;
    const uint64_t len = std::min(ch.slice, chunk - base);
    const uint64_t piece = std::min(len, piece_cap);
    piece_max = std::max(piece_max, piece);
    for (uint32_t r = 0; r < p; ++r) {
      TileState& t = tiles_[grp(r)[ch.tile(c)]];
      // Ready: this tile may be written by its peers' tiles of the same channel.
      std::vector<int64_t> all;
      for (uint32_t k = 1; k < p; ++k) {
        const uint32_t q = (r + k) % p;
        if (moves(q, r))
          all.push_back(add(t, sync(CmdKind::kSignal, grp(q)[ch.tile(c)], kSemA2AReady, 1),
                            {t.gate, t.fence}));
      }
      const int64_t ready = add(t, sync(CmdKind::kWait, t.id, kSemA2AReady, peers(r, true)), {});
      std::vector<int64_t> slot_user(kSlots, -1);
      uint64_t n = 0;
      for (uint32_t k = 0; k < p; ++k) {  // k = 0: the rank's own chunk, a local copy
        const uint32_t q = (r + k) % p;
        if (!moves(r, q)) continue;
        if (c == 0) ++copies;
        std::vector<int64_t> stores;
        for (uint64_t off = 0; off < len; off += piece, ++n) {
          const uint64_t l = std::min(piece, len - off);
          const uint64_t slot = (n % kSlots) * piece;
          const int64_t ld =
              add(t, dma(CmdKind::kDmaLoad, in[r] + at(q) + base + off, slot, l, 1, 0),
                  {slot_user[n % kSlots], t.gate, t.fence});
          const int64_t st =
              add(t, dma(CmdKind::kDmaStore, out[q] + at(r) + base + off, slot, l, 1, 0),
                  {ld, k == 0 ? -1 : ready});
          slot_user[n % kSlots] = st;
          stores.push_back(st);
          if (k > 0) plan_->link_bytes += l;
        }
        all.insert(all.end(), stores.begin(), stores.end());
        if (k > 0)
          all.push_back(add(t, sync(CmdKind::kSignal, grp(q)[ch.tile(c)], kSemA2A, 1), stores));
      }
      add(t, sync(CmdKind::kWait, t.id, kSemA2A, peers(r, false)), all);
    }
  }
  plan_->hbm_bytes += 2 * chunk * copies;
  if (p2p)
    plan_->strategy = std::string(send ? "direct send to" : "direct receive from") + " rank r" +
                      (delta > 0 ? "+" : "") + std::to_string(delta) + " over " +
                      std::to_string(p) + " rank groups x " + std::to_string(ch.count) +
                      (ch.count == 1 ? " channel" : " channels") + " (" + ch.why +
                      "): " + std::to_string(copies) +
                      (copies == 1 ? " transfer of " : " transfers of ") + std::to_string(chunk) +
                      " bytes in pieces of " + std::to_string(piece_max) + " bytes";
  else if (all_pairs)
    plan_->strategy = "pairwise all-to-all over " + std::to_string(p) + " rank groups x " +
                      std::to_string(ch.count) + (ch.count == 1 ? " channel" : " channels") + " (" +
                      ch.why + "): each rank copies " + std::to_string(chunk) +
                      " bytes to each peer in pieces of " + std::to_string(piece_max) + " bytes";
  else
    plan_->strategy = std::string(gather ? "direct gather to" : "direct scatter from") +
                      " rank 0 over " + std::to_string(p) + " rank groups x " +
                      std::to_string(ch.count) + (ch.count == 1 ? " channel" : " channels") + " (" +
                      ch.why + "): " + std::to_string(chunk) + " bytes " +
                      (gather ? "from each rank" : "to each rank") + " in pieces of " +
                      std::to_string(piece_max) + " bytes";
}

Channels Lowering::channels_for(uint64_t span, uint64_t min_slice, bool in_switch,
                                bool ring_reduces, uint32_t elem_bytes) const {
  // `span` bytes are cut into channels. Auto: enough channels that their DMA windows
  // cover the bandwidth of the way out of a rank group times its round trip, no more
  // than the group's tiles, and no more than leave each channel `min_slice` bytes (a
  // slice smaller than one DMA window, per ring step for the ring, finishes in one round
  // trip anyway, so splitting it further only adds per-channel overhead). The way out is
  // the fabric port, reached through system.fabric.attach_nodes NoC nodes, so it is also
  // capped by that many NoC links (flit x NoC clock); on one package, the die-to-die link
  // and package.d2d.attach_nodes NoC links. The
  // round trip is the fabric's plus the NoC across the chiplet and back at about two
  // cycles a hop; in the fabric, a ring send goes link, switch, link to the other
  // package and back, a switch contribution is acknowledged by the reduction unit (one
  // link each way). A ring channel sends one piece at a time and holds it for about two
  // round trips (its completion, then its signal and the next rank's turn), so a ring
  // needs twice the windows. Measured on a 4-package, 16-tile machine at 32 GB/s per
  // port: more switch channels than this covers do not help, and twice as many cost
  // ~15 % (NoC and HBM contention), so the estimate is not padded; on gpu-like (8
  // attach nodes) a 4 MiB ring all-reduce takes 179 us on 29 channels, 107 us on 64.
  Channels ch;
  ch.group_tiles = uint32_t(grp(0).size());
  const uint64_t burst = spec_.tile.dma.burst_bytes;
  if (opt_.collective_channels > 0) {
    ch.count = opt_.collective_channels;
    ch.why = "--collective-channels " + std::to_string(opt_.collective_channels);
  } else {
    const auto& c = spec_.chiplet;
    double gbytes_per_s = double(c.noc.flit_bytes) * double(c.noc_clock_mhz) / 1000.0;
    double rtt_ns = 2.0 * 2.0 * double(c.tiles_x + c.tiles_y) * 1000.0 / double(c.noc_clock_mhz);
    if (spec_.system.packages > 1) {
      const auto& f = spec_.system.fabric;
      gbytes_per_s = std::min(gbytes_per_s * f.attach_nodes, f.port_gbytes_per_s);
      rtt_ns += in_switch ? 2.0 * f.link_latency_ns
                          : 2.0 * (2.0 * f.link_latency_ns + f.switch_latency_ns);
    }
    // A ring channel moves each piece through its tile: in, out, and (reducing) through
    // the vector unit, so one channel carries at most half a NoC link, or what its vector
    // unit adds (lanes / 2 inputs elements a cycle). Between chiplets of a package the
    // ring's link is also capped by the die-to-die link.
    double per_channel = 0;  // GB/s one ring channel carries (0: not a ring)
    if (!in_switch) {
      if (spec_.system.packages == 1 && spec_.package.chiplets > 1) {
        // Each link end is reached through package.d2d.attach_nodes NoC nodes (at most
        // an edge's length; the shorter edge, as the ring's links may sit on either).
        const auto& d = spec_.package.d2d;
        const uint32_t attach = std::min(d.attach_nodes, std::min(c.tiles_x, c.tiles_y));
        gbytes_per_s = std::min(gbytes_per_s * attach, double(d.lanes) * d.gbps_per_lane / 8.0);
      }
      per_channel = double(c.noc.flit_bytes) * double(c.noc_clock_mhz) / 2000.0;
      if (ring_reduces)
        per_channel = std::min(per_channel, double(spec_.tile.vector.lanes) / 2.0 * elem_bytes *
                                                double(spec_.tile.clock_mhz) / 1000.0);
    }
    const uint64_t by_window =
        std::max<uint64_t>(1, uint64_t(std::ceil((in_switch ? 1.0 : 2.0) * gbytes_per_s * rtt_ns /
                                                 double(dma_window()))));
    const uint64_t by_rate =
        per_channel > 0 ? uint64_t(std::ceil(gbytes_per_s / per_channel)) : uint64_t(1);
    const uint64_t need = std::max(by_window, by_rate);
    const uint64_t by_size = std::max<uint64_t>(1, span / std::max<uint64_t>(1, min_slice));
    ch.count = uint32_t(std::min<uint64_t>({ch.group_tiles, need, by_size}));
    std::ostringstream why;
    why << "auto: " << by_window << " DMA windows of " << dma_window() << " bytes cover "
        << std::lround(gbytes_per_s) << " GB/s x " << (in_switch ? "" : "2 x ")
        << std::lround(rtt_ns) << " ns";
    if (per_channel > 0)
      why << ", " << by_rate << " ring channels of " << std::lround(per_channel)
          << " GB/s carry it";
    if (ch.count == by_size && by_size < need) why << ", capped by the size";
    if (ch.count == ch.group_tiles && ch.group_tiles < need) why << ", capped by the group's tiles";
    ch.why = why.str();
  }
  // Every channel gets at least one burst.
  ch.count = uint32_t(std::max<uint64_t>(1, std::min<uint64_t>(ch.count, ceil_div(span, burst))));
  ch.slice = ceil_div(ceil_div(std::max<uint64_t>(span, 1), ch.count), burst) * burst;
  ch.count = uint32_t(std::max<uint64_t>(1, ceil_div(span, ch.slice)));
  return ch;
}

std::string Lowering::switch_blocker(const Op& op) const {
  if (opt_.collective == "ring" || opt_.collective == "tree")
    return "--collective " + opt_.collective;
  if (op.kind != OpKind::kAllReduce && op.kind != OpKind::kAllGather)
    return std::string("the switch runs all-reduce and all-gather only, not ") +
           traces::to_string(op.kind);
  if (spec_.system.packages < 2) return "one package, no fabric";
  if (!spec_.system.fabric.in_network_reduction) return "system.fabric.in_network_reduction is off";
  std::set<uint32_t> packages;
  for (uint32_t r = 0; r < uint32_t(members_.size()); ++r)
    if (!packages.insert(map_.tile_place(grp(r)[0]).package).second)
      return "rank groups share a package (" + std::to_string(members_.size()) + " groups on " +
             std::to_string(spec_.system.packages) + " packages)";
  return "";
}

void Lowering::lower_switch_collective(const Op& op) {
  // Every rank group's channel tiles stream their slices from HBM through the
  // scratchpad to the switch, piece by piece (four scratchpad slots, so loads run ahead
  // of the sends). All-reduce: each piece is a contribution from every rank's tile of
  // that channel; the switch sums them and multicasts the sum into every rank's buffer
  // in HBM and signals that rank's tile of the same channel. All-gather: each rank's own
  // N/p chunk, cut into the channels' slices, is multicast (one contributor) into the
  // other ranks' buffers. A channel tile then waits until every piece it is owed has
  // landed (one semaphore signal each). Reduction ids are unique per piece, so channels
  // and collectives never share a sum.
  const uint32_t p = uint32_t(members_.size());
  const uint64_t bytes = uint64_t(op.bytes);
  const bool reduce = op.kind == OpKind::kAllReduce;
  const uint64_t span = reduce ? bytes : ceil_div(bytes, p);  // what each rank sends
  const Channels ch = channels_for(span, dma_window(), true);
  constexpr uint32_t kSlots = 4;
  std::vector<uint64_t> buf(p);
  for (uint32_t r = 0; r < p; ++r) buf[r] = output_addr(op, gid(r), bytes);
  // Rank q's data of channel c within the buffer: [begin, begin + len).
  auto part = [&](uint32_t q, uint32_t c) {
    const uint64_t rank_base = reduce ? 0 : q * span;
    const uint64_t rank_len = reduce ? span : std::min(span, bytes - std::min(bytes, rank_base));
    const uint64_t lo = std::min(rank_len, c * ch.slice);
    return std::make_pair(rank_base + lo, std::min(ch.slice, rank_len - lo));
  };
  // Pieces: a scratchpad slot at most; below that, a quarter of the slice (so that a
  // channel's first send waits for a small load, not a whole slot), but no less than one
  // DMA window or 4 KiB: splitting a slice that fits one window only adds round trips
  // (measured on gpu-like: an 8 KiB all-reduce in two pieces took 5.9 us, in one 3.9 us).
  const uint64_t piece =
      std::min<uint64_t>(std::max<uint64_t>({4096, ceil_div(dma_window(), 4096) * 4096,
                                             ceil_div(ch.slice, uint64_t(kSlots) * 4096) * 4096}),
                         std::max<uint64_t>(4096, spm_bytes_ / kSlots / 4096 * 4096));
  uint64_t pieces_total = 0;
  for (uint32_t c = 0; c < ch.count; ++c) {
    // Ids of this channel's pieces: one per (contributing rank, piece) for all-gather.
    const uint64_t first_id = next_reduce_id_;
    const uint64_t pieces = ceil_div(ch.slice, piece);
    for (uint32_t r = 0; r < p; ++r) {
      TileState& t = tiles_[grp(r)[ch.tile(c)]];
      const auto [base, mine] = part(r, c);
      // All-gather: a rank multicasts into its peers' buffers only once each has entered
      // the op (as the all-to-all does), since no rank of an NVLS/NCCL all-gather can
      // receive before its own kernel runs; until the twelfth session a fast rank's
      // pieces landed in a late rank's buffer during the late rank's earlier work, and
      // the late rank's all-gather took only its own sends. (All-reduce needs no such
      // step: the switch multicasts a sum only once every rank has contributed.)
      int64_t ready = -1;
      if (!reduce) {
        for (uint32_t k = 1; k < p; ++k)
          add(t, sync(CmdKind::kSignal, grp((r + k) % p)[ch.tile(c)], kSemSwitchReady, 1),
              {t.gate, t.fence});
        ready = add(t, sync(CmdKind::kWait, t.id, kSemSwitchReady, p - 1), {});
      }
      std::vector<int64_t> sent;
      for (uint64_t k = 0; k * piece < mine; ++k) {
        const uint64_t off = base + k * piece, len = std::min(piece, mine - k * piece);
        const uint64_t slot = (k % kSlots) * piece;
        const int64_t reuse = k >= kSlots ? sent[k - kSlots] : -1;
        const int64_t ld =
            add(t, dma(CmdKind::kDmaLoad, buf[r] + off, slot, len, 1, 0), {reuse, t.gate, t.fence});
        // Addressed to the next rank's copy (in another package), so the chiplet networks
        // route it to the fabric port; the extension makes it a contribution.
        Command cmd = dma(CmdKind::kReduce, buf[(r + 1) % p] + off, slot, len, 1, 0);
        cmd.reduce.id = first_id + (reduce ? k : r * pieces + k);
        cmd.reduce.contributors = reduce ? p : 1;
        cmd.reduce.semaphore = kSemSwitch;
        for (uint32_t m = 0; m < p; ++m) {
          if (!reduce && m == r) continue;  // a rank already holds its own chunk
          cmd.reduce.results.push_back(buf[m] + off);
          cmd.reduce.notify.push_back(grp(m)[ch.tile(c)]);
        }
        sent.push_back(add(t, cmd, {ld, ready}));
        plan_->link_bytes += len;
      }
      // Pieces this tile is owed: every piece of its slice of the sum, or the slice of
      // this channel in every other rank's chunk.
      uint32_t owed = 0;
      for (uint32_t q = 0; q < p; ++q) {
        if (!reduce && q == r) continue;
        owed += uint32_t(ceil_div(part(q, c).second, piece));
        if (reduce) break;
      }
      if (owed > 0) {
        add(t, sync(CmdKind::kWait, t.id, kSemSwitch, owed),
            {sent.empty() ? t.gate : sent.back(), ready});
      }
    }
    next_reduce_id_ = first_id + (reduce ? pieces : p * pieces);
    pieces_total += pieces;
  }
  plan_->strategy = std::string(reduce ? "switch all-reduce" : "switch all-gather") +
                    " (in-network " + (reduce ? "reduction" : "multicast") + ") over " +
                    std::to_string(p) + " rank groups in " + std::to_string(p) + " packages x " +
                    std::to_string(ch.count) + (ch.count == 1 ? " channel" : " channels") + " (" +
                    ch.why + "): each rank sends " + std::to_string(span) + " bytes once in " +
                    std::to_string(pieces_total) + " pieces" +
                    (opt_.collective == "switch" ? " (--collective switch)" : " (auto)");
}

// The order ops are lowered in (each tile runs its commands in that order). A
// generated trace: its topological order. A multi-rank trace (every rank's ops, each
// tagged with its rank): rank 0's k-th communication op is lowered once over every
// rank, so the ranks' k-th communication ops are taken as one node, placed once every
// one of them is ready; otherwise smallest index first. (Until the tenth session the
// ops were taken by index alone, so on every rank but 0 a collective came before the
// rank's own ops that precede it in its file.)
std::vector<size_t> Lowering::lowering_order() const {
  if (!multi_rank_) return w_.topological_order();
  w_.topological_order();  // throws on a cycle, naming an op on it
  const size_t n = w_.size();
  // Node of each op: its own, or its communication group's (the k-th of each rank).
  std::map<int64_t, int64_t> comm_seen;  // rank -> communication ops so far
  for (size_t r = 0; r < groups_.size(); ++r) comm_seen[int64_t(r)] = 0;
  std::vector<int64_t> comm_node;  // communication group k -> its node (-1: none yet)
  std::vector<size_t> node(n);
  std::vector<std::vector<size_t>> members;  // per node: its ops, rank order
  for (size_t i = 0; i < n; ++i) {
    const Op& op = w_.op(i);
    int64_t* shared = nullptr;
    if (traces::is_communication(op.kind)) {
      const size_t k = size_t(comm_seen[op.rank]++);
      if (k >= comm_node.size()) comm_node.resize(k + 1, -1);
      shared = &comm_node[k];
    }
    if (shared && *shared >= 0) {
      node[i] = size_t(*shared);
      // The ranks' k-th collectives are one collective: the same kind, size and group
      // (until the twelfth session an all-reduce on one rank was matched with an
      // all-gather, or another size, on the next). Point-to-point ops pair a send with a
      // receive.
      const Op& head = w_.op(members[node[i]].front());
      const bool p2p = traces::op_class(head.kind) == traces::OpClass::kPointToPoint;
      const bool same =
          p2p ? traces::op_class(op.kind) == traces::OpClass::kPointToPoint
              : op.kind == head.kind && op.bytes == head.bytes && op.group == head.group;
      if (!same)
        throw sim::UserError(
            w_.where(i) + ": op '" + op.name + "' (rank " + std::to_string(op.rank) +
            ") is its rank's communication op " + std::to_string(comm_seen[op.rank] - 1) +
            ", matched with '" + head.name + "' of rank " + std::to_string(head.rank) +
            ", which differs in kind, bytes or group (each collective is one op on every rank)");
      members[node[i]].push_back(i);
      continue;
    }
    node[i] = members.size();
    if (shared) *shared = int64_t(node[i]);
    members.push_back({i});
  }
  for (const auto& [rank, count] : comm_seen)
    if (count != comm_seen.begin()->second)
      throw sim::UserError("multi-rank trace: rank " + std::to_string(rank) + " has " +
                           std::to_string(count) + " communication ops, rank " +
                           std::to_string(comm_seen.begin()->first) + " has " +
                           std::to_string(comm_seen.begin()->second) +
                           " (each collective is one op on every rank, in the same order)");
  // A node's first op (its members come in index order) orders the ready nodes.
  std::vector<size_t> first(members.size());
  for (size_t v = 0; v < members.size(); ++v) first[v] = members[v].front();
  for (auto& m : members)
    std::stable_sort(m.begin(), m.end(),
                     [&](size_t a, size_t b) { return w_.op(a).rank < w_.op(b).rank; });
  // Kahn's algorithm over the nodes, smallest first op index first.
  const size_t nn = members.size();
  std::vector<int64_t> pending(nn, 0);
  std::vector<std::vector<size_t>> users(nn);
  for (size_t i = 0; i < n; ++i)
    for (const auto& dep : w_.op(i).deps) {
      const size_t d = node[size_t(w_.find(dep))];
      if (d == node[i]) continue;
      users[d].push_back(node[i]);
      ++pending[node[i]];
    }
  std::set<std::pair<size_t, size_t>> ready;  // (first op index, node)
  for (size_t v = 0; v < nn; ++v)
    if (pending[v] == 0) ready.insert({first[v], v});
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    const size_t v = ready.begin()->second;
    ready.erase(ready.begin());
    order.insert(order.end(), members[v].begin(), members[v].end());
    for (size_t u : users[v])
      if (--pending[u] == 0) ready.insert({first[u], u});
  }
  if (order.size() != n)
    throw sim::UserError(
        "multi-rank trace: the ranks' communication ops cannot be matched in order (a "
        "rank's k-th collective depends on another rank's later one)");
  return order;
}

void Lowering::run() {
  // Rank groups: the trace is one rank's program (SPMD); the machine's tiles are cut
  // into as many equal groups as the trace has ranks, package- and chiplet-aligned.
  // An imported multi-rank trace (Chakra: one file per rank) holds every rank's ops,
  // each tagged with its rank; a generated trace is one rank's program (SPMD).
  multi_rank_ = w_.meta.count("ranks") != 0 && w_.meta_int("ranks", 1) > 1;
  const int64_t world = multi_rank_
                            ? w_.meta_int("ranks", 1)
                            : std::max<int64_t>(1, w_.meta_int("tp", 1) * w_.meta_int("pp", 1) *
                                                       w_.meta_int("dp", 1));
  const uint32_t n_tiles = map_.num_tiles();
  if (uint64_t(world) > n_tiles || n_tiles % uint32_t(world) != 0)
    throw sim::UserError("workload has " + std::to_string(world) +
                         " ranks (tp*pp*dp), which do not divide the machine's " +
                         std::to_string(n_tiles) + " tiles");
  const uint32_t per = n_tiles / uint32_t(world);
  groups_.resize(size_t(world));
  for (uint32_t t = 0; t < n_tiles; ++t) groups_[t / per].push_back(t);
  out_.groups = uint32_t(world);
  out_.per_rank_ops = multi_rank_;
  if (opt_.collective_channels > per)
    throw sim::UserError("--collective-channels " + std::to_string(opt_.collective_channels) +
                         ": a rank group has only " + std::to_string(per) + " tiles (" +
                         std::to_string(world) + " groups of " + std::to_string(n_tiles) +
                         " tiles)");

  // Layers to simulate.
  std::set<int64_t> layers;
  for (const auto& op : w_.ops())
    if (op.layer >= 0) layers.insert(op.layer);
  out_.layers_total = uint32_t(layers.size());
  std::set<int64_t> keep;
  for (int64_t l : layers)
    if (opt_.simulate_layers == 0 || keep.size() < opt_.simulate_layers) keep.insert(l);
  out_.layers_simulated = uint32_t(keep.size());
  if (keep.size() < layers.size()) {
    // Each layer's ops, by kind, dtype, FLOPs, bytes and the experts' token counts, in
    // any order (the layers' names differ anyway).
    using Sig = std::tuple<int, int, double, int64_t, std::vector<int64_t>>;
    std::map<int64_t, std::vector<Sig>> work;
    for (const auto& op : w_.ops())
      if (op.layer >= 0)
        work[op.layer].emplace_back(int(op.kind), int(op.dtype), traces::flops(op),
                                    traces::operand_bytes(op).total(), op.tokens_per_expert);
    for (auto& [l, ops] : work) std::sort(ops.begin(), ops.end());
    const auto& first = work.begin()->second;
    for (const auto& [l, ops] : work) out_.layers_differ = out_.layers_differ || ops != first;
  }

  out_.ops.resize(w_.size());
  for (size_t i = 0; i < w_.size(); ++i) {
    const Op& op = w_.op(i);
    out_.ops[i].op_index = i;
    out_.ops[i].name = op.name;
    out_.ops[i].kind = traces::to_string(op.kind);
    out_.ops[i].flops = traces::flops(op);
    out_.ops[i].layer = op.layer;
    out_.ops[i].simulated = op.layer < 0 || keep.count(op.layer) != 0;
  }
  choose_weight_copies();
  find_fused_attention();
  const std::vector<size_t> order = lowering_order();
  plan_lifetimes(order);
  for (size_t i : order) {
    if (!out_.ops[i].simulated) continue;
    begin_op(i);
    const Op& op = w_.op(i);
    if (fused_into_[i] >= 0) {  // computed by its av's fused kernel, which counts its FLOPs
      out_.ops[i].strategy = "fused into " + w_.op(size_t(fused_into_[i])).name;
      out_.ops[size_t(fused_into_[i])].flops += out_.ops[i].flops;
      out_.ops[i].flops = 0;
      out_.ops[i].fused = true;
      end_op(false);
      continue;
    }
    const bool is_comm = traces::is_communication(op.kind);
    comm_op_ = is_comm;
    if (multi_rank_ && is_comm && op.rank != 0) {
      // The same collective as rank 0's op of that name: lowered once, over every rank.
      out_.ops[i].strategy = "part of rank 0's collective";
      end_op(false);
      continue;
    }
    for (uint32_t g = 0; g < groups_.size(); ++g) {
      if (multi_rank_ && !is_comm && uint32_t(op.rank) != g) continue;
      switch (traces::op_class(op.kind)) {
        case traces::OpClass::kMatrix:
        case traces::OpClass::kOpaque:
          if (fused_qk_[i] >= 0)
            lower_attention(w_.op(size_t(fused_qk_[i])), op, g);
          else
            lower_gemm_like(op, g);
          break;
        case traces::OpClass::kVector:
          if (op.kind == OpKind::kEmbedding)
            lower_embedding(op, g);
          else
            lower_vector(op, g);
          break;
        case traces::OpClass::kCollective:
        case traces::OpClass::kPointToPoint:
          lower_collective(op, g);
          break;
      }
    }
    end_op(true);
  }
  out_.programs.resize(tiles_.size());
  for (auto& t : tiles_) out_.programs[t.id] = std::move(t.prog);
  out_.stack_bytes_used = stack_next_;
  out_.interleaved_bytes_used = ilv_next_;
}

}  // namespace

std::string Mapping::explain() const {
  std::ostringstream os;
  os << "rank groups: " << groups << "\n";
  if (layers_total > 0)
    os << "layers: " << layers_simulated << " of " << layers_total << " simulated"
       << (layers_simulated < layers_total ? " (the rest repeat them; their time is scaled)" : "")
       << "\n";
  os << "weights read by several chiplets: "
     << (weights_per_chiplet ? "a copy per chiplet" : "one copy") << " (" << weight_copies_why
     << ")\n";
  for (size_t s = 0; s < stack_bytes_used.size(); ++s)
    os << "hbm" << s << ": " << (stack_bytes_used[s] >> 20) << " MiB placed\n";
  for (size_t r = 0; r < interleaved_bytes_used.size(); ++r)
    os << "interleaved region " << r << ": " << (interleaved_bytes_used[r] >> 20)
       << " MiB placed (activations, shared weights)\n";
  for (const auto& o : ops) {
    os << "  " << o.name << " [" << o.kind << "]";
    if (!o.simulated) {
      os << " (repeated layer, not simulated)\n";
      continue;
    }
    os << ": " << o.strategy << "\n";
  }
  size_t cmds = 0;
  for (const auto& p : programs) cmds += p.size();
  os << "commands: " << cmds << " over " << programs.size() << " tiles\n";
  return os.str();
}

StreamCost stream_cost(const system::SystemSpec& spec, const system::AddressMap& map) {
  StreamCost c;
  const double tile_ghz = double(spec.tile.clock_mhz) / 1000.0;
  const double stack_gbs =
      std::min(spec.chiplet.hbm.peak_gbps(), double(spec.chiplet.hbm_ports) *
                                                 double(spec.chiplet.noc.flit_bytes) *
                                                 double(spec.chiplet.noc_clock_mhz) / 1000.0);
  c.bytes_per_cycle =
      map.num_stacks() ? stack_gbs * map.num_stacks() / map.num_tiles() / tile_ghz : 64.0;
  c.burst_bytes = std::max<uint32_t>(spec.tile.dma.burst_bytes, 1);
  c.header_bytes = spec.chiplet.noc.flit_bytes;
  return c;
}

Mapping map_workload(const traces::Workload& w, const system::SystemSpec& spec,
                     const system::AddressMap& map, const MapOptions& opt) {
  if (std::find(kCollectiveModes.begin(), kCollectiveModes.end(), opt.collective) ==
      kCollectiveModes.end())
    throw sim::UserError("--collective: '" + opt.collective + "' is not one of auto, ring, switch");
  if (std::find(kWeightCopies.begin(), kWeightCopies.end(), opt.weight_copies) ==
      kWeightCopies.end())
    throw sim::UserError("--weight-copies: '" + opt.weight_copies +
                         "' is not one of auto, once, per-chiplet");
  Mapping out;
  Lowering(w, spec, map, opt, out).run();
  return out;
}

}  // namespace tessera::mapper
