// Workload generators: transformer models (GPT-3, Llama-2/3, Mixtral, BERT) in prefill
// and decode, with tensor / pipeline / data / expert parallelism, and ResNet-50.
// Hyper-parameters are public facts; each model lists its source (docs/workloads.md).
//
// Parallel runs produce ONE rank's trace (options.rank, default 0) with its collectives
// sized for its groups; ranks are numbered tp fastest, then pp, then dp:
//   rank = (dp_index * pp + pp_index) * tp + tp_index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/workload.h"

namespace tessera::traces {

enum class FfnType { kSwiGlu, kGelu };
enum class ModelFamily { kDecoder, kEncoder, kResNet };

struct ModelSpec {
  std::string name;  // as given to --model
  std::string display;
  ModelFamily family = ModelFamily::kDecoder;
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0;
  FfnType ffn_type = FfnType::kSwiGlu;
  int64_t vocab = 0, max_context = 0;
  int64_t experts = 0, topk = 0;   // MoE; 0 = dense
  bool tied_embeddings = false;    // LM head reuses the token embedding (GPT-3)
  bool learned_positions = false;  // a position-embedding table (GPT-3, BERT)
  bool rope = false;               // rotary position embedding (Llama, Mixtral)
  std::string source;
};

const std::vector<ModelSpec>& model_specs();
const ModelSpec& find_model(const std::string& name);  // UserError listing the names

struct GenOptions {
  std::string model = "llama2-7b";
  std::string phase = "decode";  // prefill | decode | mixed
  int64_t batch = 1;             // global batch (split across dp)
  int64_t seq = 2048;            // prefill: prompt length
  int64_t context = 2048;        // decode: tokens already in the KV cache
  int64_t past = 0;  // prefill, mixed: tokens in the KV cache before the prompt (a chunk)
  // mixed: a continuous-batching iteration, as vLLM and Sarathi-Serve schedule chunked
  // prefills: `batch` prompt chunks of `seq` tokens (after `past` cached ones) and
  // `decode_batch` decoding sequences of `context` cached tokens each, one new token
  // each, through the same linear layers.
  int64_t decode_batch = 0;
  int64_t layers = 0;          // 0 = all of the model's layers
  bool embed_and_head = true;  // false: transformer blocks only
  // One GEMM for the Q, K and V projections (wqkv) and one for the gate and up
  // projections of a SwiGLU FFN or of each expert (w13), as serving engines (vLLM,
  // TensorRT-LLM) merge them; false: one GEMM per projection, as the models' reference
  // code has them.
  bool fused_proj = false;
  // The LM head computes the logits of every token (as speculative decoding's
  // verification of k drafted tokens needs); false: one row per sequence, its last.
  bool all_logits = false;
  int64_t tp = 1, pp = 1, dp = 1, ep = 1;
  int64_t rank = 0;
  DType dtype = DType::kBf16;
  uint64_t seed = 1;    // MoE routing
  int64_t image = 224;  // ResNet input size
};

// Builds the trace of one rank. UserError for inconsistent options.
Workload generate(const GenOptions& opt);

}  // namespace tessera::traces
