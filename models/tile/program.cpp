#include "models/tile/program.h"

#include "models/sim/errors.h"

namespace tessera::tile {

const char* to_string(Unit u) {
  switch (u) {
    case Unit::kDmaIn: return "dma_in";
    case Unit::kDmaOut: return "dma_out";
    case Unit::kGemm: return "gemm";
    case Unit::kVector: return "vector";
    case Unit::kSync: return "sync";
  }
  return "?";
}

const char* to_string(CmdKind k) {
  switch (k) {
    case CmdKind::kDmaLoad: return "dma_load";
    case CmdKind::kDmaStore: return "dma_store";
    case CmdKind::kGemm: return "gemm";
    case CmdKind::kVector: return "vector";
    case CmdKind::kSend: return "send";
    case CmdKind::kWait: return "wait";
    case CmdKind::kSignal: return "signal";
  }
  return "?";
}

Unit unit_of(CmdKind k) {
  switch (k) {
    case CmdKind::kDmaLoad: return Unit::kDmaIn;
    case CmdKind::kDmaStore: return Unit::kDmaOut;
    case CmdKind::kSend: return Unit::kDmaOut;
    case CmdKind::kGemm: return Unit::kGemm;
    case CmdKind::kVector: return Unit::kVector;
    case CmdKind::kWait: return Unit::kSync;
    case CmdKind::kSignal: return Unit::kDmaOut;  // a signal is a write on the store path
  }
  return Unit::kSync;
}

const char* to_string(VecOp op) {
  switch (op) {
    case VecOp::kAdd: return "add";
    case VecOp::kMul: return "mul";
    case VecOp::kCopy: return "copy";
    case VecOp::kGelu: return "gelu";
    case VecOp::kSilu: return "silu";
    case VecOp::kSoftmax: return "softmax";
    case VecOp::kLayerNorm: return "layernorm";
    case VecOp::kRmsNorm: return "rmsnorm";
    case VecOp::kReduceSum: return "reduce_sum";
    case VecOp::kTopK: return "topk";
  }
  return "?";
}

void validate_program(const Program& p, const std::string& who) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i].id != i)
      throw sim::UserError(who + ": command " + std::to_string(i) + " has id " +
                           std::to_string(p[i].id));
    for (uint32_t d : p[i].deps)
      if (d >= i)
        throw sim::UserError(who + ": command " + std::to_string(i) +
                             " depends on a later command " + std::to_string(d));
  }
}

}  // namespace tessera::tile
