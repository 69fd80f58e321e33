#include "models/tile/program.h"

#include <algorithm>

#include "models/sim/errors.h"

namespace tessera::tile {

const char* to_string(Unit u) {
  switch (u) {
    case Unit::kDmaIn:
      return "dma_in";
    case Unit::kDmaOut:
      return "dma_out";
    case Unit::kGemm:
      return "gemm";
    case Unit::kVector:
      return "vector";
    case Unit::kSync:
      return "sync";
  }
  return "?";
}

const char* to_string(CmdKind k) {
  switch (k) {
    case CmdKind::kDmaLoad:
      return "dma_load";
    case CmdKind::kDmaStore:
      return "dma_store";
    case CmdKind::kGemm:
      return "gemm";
    case CmdKind::kVector:
      return "vector";
    case CmdKind::kSend:
      return "send";
    case CmdKind::kWait:
      return "wait";
    case CmdKind::kSignal:
      return "signal";
    case CmdKind::kReduce:
      return "reduce";
  }
  return "?";
}

Unit unit_of(CmdKind k) {
  switch (k) {
    case CmdKind::kDmaLoad:
      return Unit::kDmaIn;
    case CmdKind::kDmaStore:
      return Unit::kDmaOut;
    case CmdKind::kSend:
      return Unit::kDmaOut;
    case CmdKind::kGemm:
      return Unit::kGemm;
    case CmdKind::kVector:
      return Unit::kVector;
    case CmdKind::kWait:
      return Unit::kSync;
    case CmdKind::kSignal:
      return Unit::kDmaOut;  // a signal is a write on the store path
    case CmdKind::kReduce:
      return Unit::kDmaOut;
  }
  return Unit::kSync;
}

const char* to_string(RowPass p) {
  switch (p) {
    case RowPass::kWhole:
      return "whole";
    case RowPass::kStats:
      return "stats";
    case RowPass::kApply:
      return "apply";
  }
  return "?";
}

const char* to_string(VecOp op) {
  switch (op) {
    case VecOp::kAdd:
      return "add";
    case VecOp::kMul:
      return "mul";
    case VecOp::kCopy:
      return "copy";
    case VecOp::kGelu:
      return "gelu";
    case VecOp::kSilu:
      return "silu";
    case VecOp::kSoftmax:
      return "softmax";
    case VecOp::kLayerNorm:
      return "layernorm";
    case VecOp::kRmsNorm:
      return "rmsnorm";
    case VecOp::kReduceSum:
      return "reduce_sum";
    case VecOp::kTopK:
      return "topk";
  }
  return "?";
}

std::vector<LocalRange> local_ranges(const Command& c) {
  switch (c.kind) {
    case CmdKind::kDmaLoad:
    case CmdKind::kDmaStore:
    case CmdKind::kSend:
    case CmdKind::kReduce:
      return {{c.dma.local_addr, c.dma.bytes(), "transfer"}};
    case CmdKind::kGemm: {
      const GemmDesc& g = c.gemm;
      return {{g.a_addr, uint64_t(g.m) * g.k * g.operand_bytes, "gemm operand A"},
              {g.b_addr, uint64_t(g.k) * g.n * g.operand_bytes, "gemm operand B"},
              {g.c_addr, uint64_t(g.m) * g.n * 4, "gemm result C"}};
    }
    case CmdKind::kVector: {
      // Its inputs in one stream from src_addr (or the second apart), its output at
      // dst_addr.
      const VectorDesc& v = c.vec;
      const uint64_t out = v.elements * v.elem_bytes;
      if (v.pass == RowPass::kStats)  // reads its pieces, writes no output
        return {{v.src_addr, out * std::max<uint32_t>(1, v.inputs), "vector inputs"}};
      if (v.src2_addr != VectorDesc::kInline)
        return {{v.src_addr, out, "vector inputs"},
                {v.src2_addr, out, "vector second input"},
                {v.dst_addr, out, "vector output"}};
      return {{v.src_addr, out * std::max<uint32_t>(1, v.inputs), "vector inputs"},
              {v.dst_addr, out, "vector output"}};
    }
    case CmdKind::kWait:
    case CmdKind::kSignal:
      break;
  }
  return {};
}

void validate_program(const Program& p, const std::string& who, uint64_t spm_bytes) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i].id != i)
      throw sim::UserError(who + ": command " + std::to_string(i) + " has id " +
                           std::to_string(p[i].id));
    const Command& c = p[i];
    auto refuse = [&](const std::string& what) {
      throw sim::UserError(who + ": command " + std::to_string(i) + " (" + to_string(c.kind) +
                           "): " + what);
    };
    const bool syncs =
        c.kind == CmdKind::kSignal || c.kind == CmdKind::kWait || c.kind == CmdKind::kSend;
    const uint32_t sem = c.kind == CmdKind::kReduce ? c.reduce.semaphore : c.sync.semaphore;
    if ((syncs || c.kind == CmdKind::kReduce) && sem >= kNumSemaphores)
      refuse("semaphore " + std::to_string(sem) + " does not exist (0.." +
             std::to_string(kNumSemaphores - 1) + ")");
    const bool moves = c.kind == CmdKind::kDmaLoad || c.kind == CmdKind::kDmaStore ||
                       c.kind == CmdKind::kSend || c.kind == CmdKind::kReduce;
    uint64_t bytes = 0;
    if (moves && (__builtin_mul_overflow(c.dma.size[0], c.dma.size[1], &bytes) ||
                  __builtin_mul_overflow(bytes, c.dma.size[2], &bytes)))
      refuse("transfer size overflows 64 bits");
    if (c.kind == CmdKind::kGemm && c.gemm.operand_bytes == 0) refuse("GEMM operands of 0 bytes");
    for (const LocalRange& r : local_ranges(c))
      if (r.bytes > 0 && (r.addr > spm_bytes || r.bytes > spm_bytes - r.addr))
        refuse(std::string(r.what) + " of '" + c.label + "' needs scratchpad bytes [" +
               std::to_string(r.addr) + ", " + std::to_string(r.addr + r.bytes) + ") of its " +
               std::to_string(spm_bytes) +
               " (tile.scratchpad.size_kib too small for this mapping)");
    if (p[i].kind == CmdKind::kReduce &&
        (p[i].reduce.contributors == 0 || p[i].reduce.results.empty() ||
         p[i].reduce.results.size() != p[i].reduce.notify.size()))
      throw sim::UserError(who + ": reduce command " + std::to_string(i) +
                           " needs contributors and one tile to signal per result");
    for (uint32_t d : p[i].deps)
      if (d >= i)
        throw sim::UserError(who + ": command " + std::to_string(i) +
                             " depends on a later command " + std::to_string(d));
  }
}

}  // namespace tessera::tile

namespace tessera::tile {
std::string describe(const Command& c) {
  std::string s = "#" + std::to_string(c.id) + " " + to_string(c.kind) + " '" + c.label + "'";
  s += " deps=[";
  for (size_t i = 0; i < c.deps.size(); ++i) s += (i ? "," : "") + std::to_string(c.deps[i]);
  s += "]";
  auto hex = [](uint64_t v) {
    char b[32];
    snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return std::string(b);
  };
  switch (c.kind) {
    case CmdKind::kDmaLoad:
    case CmdKind::kDmaStore:
    case CmdKind::kSend:
    case CmdKind::kReduce:
      s += " remote=" + hex(c.dma.remote_addr) + " local=" + std::to_string(c.dma.local_addr) +
           " size=" + std::to_string(c.dma.size[0]) + "x" + std::to_string(c.dma.size[1]) + "x" +
           std::to_string(c.dma.size[2]) + " stride=" + std::to_string(c.dma.remote_stride[1]);
      if (c.kind == CmdKind::kSend)
        s += " signal tile" + std::to_string(c.sync.tile) + " sem" +
             std::to_string(c.sync.semaphore);
      if (c.kind == CmdKind::kReduce) {
        s += " reduce id=" + std::to_string(c.reduce.id) +
             " contributors=" + std::to_string(c.reduce.contributors) + " to";
        for (size_t i = 0; i < c.reduce.results.size(); ++i)
          s += " " + hex(c.reduce.results[i]) + "/tile" + std::to_string(c.reduce.notify[i]);
        s += " sem" + std::to_string(c.reduce.semaphore);
      }
      break;
    case CmdKind::kGemm:
      s += " m=" + std::to_string(c.gemm.m) + " n=" + std::to_string(c.gemm.n) +
           " k=" + std::to_string(c.gemm.k) + (c.gemm.accumulate ? " acc" : "");
      break;
    case CmdKind::kVector:
      s += std::string(" ") + to_string(c.vec.op) + " elements=" + std::to_string(c.vec.elements);
      if (c.vec.pass != RowPass::kWhole) s += std::string(" pass=") + to_string(c.vec.pass);
      break;
    case CmdKind::kWait:
    case CmdKind::kSignal:
      s += " tile" + std::to_string(c.sync.tile) + " sem" + std::to_string(c.sync.semaphore) +
           " count=" + std::to_string(c.sync.count);
      break;
  }
  return s;
}
}  // namespace tessera::tile
