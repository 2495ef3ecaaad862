// One Transformer layer, as torch.nn.TransformerEncoderLayer / TransformerDecoderLayer
// (batch_first) define it: sublayers of self-attention (optionally causal), cross-attention to a
// memory (decoder only) and a feed-forward network Linear(E, F) -> activation -> dropout ->
// Linear(F, E), each wrapped in a residual connection with dropout and a layer norm:
//   post-norm (norm_first = false):  x = norm_i(x + dropout(f_i(x)))
//   pre-norm  (norm_first = true):   x = x + dropout(f_i(norm_i(x)))
// Parameters "<prefix>.self_attn.{q,k,v,out}", "<prefix>.cross_attn.{q,k,v,out}" (torch's
// multihead_attn), "<prefix>.ffn.{0,1}" (torch's linear1 / linear2), "<prefix>.norm{1,2,3}".
//
// Shapes: x, y (B, L, E); memory (B, Lm, E). Dropout masks are drawn per token row (the window's
// row ctx.row0 times L, plus the token), so they do not depend on how a batch is split.
//
// Intended usage:
//   ntn::nn::TransformerLayer<float> enc;
//   enc.declare(ps, "encoder.layers.0", {.d_model = 64, .heads = 4, .ffn = 256});
//   auto c = enc.make_cache(B, L, 0);
//   enc.forward(ps, c, x, nullptr, y, B, L, 0, ctx);
//   enc.backward(ps, grads, c, dy, dx, nullptr, B, L, 0, ctx);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ntn/attention.h"
#include "ntn/mlp.h"
#include "ntn/nn.h"

namespace ntn::nn {

struct TransformerLayerConfig {
  std::size_t d_model = 64;  // E
  std::size_t heads = 4;     // must divide d_model
  std::size_t ffn = 256;     // F: the feed-forward network's hidden width
  Act activation = Act::relu;
  bool norm_first = false;  // pre-norm instead of post-norm
  float dropout = 0.0f;     // [0, 1): after each sublayer and inside the feed-forward network
  bool decoder = false;     // adds cross-attention to a memory (between self-attention and the FFN)
  bool causal = false;      // self-attention: token i sees tokens <= i
};

template <class T>
struct TransformerLayer {
  TransformerLayerConfig cfg;
  MultiHeadAttention<T> self_attn, cross_attn;
  Mlp<T> ffn;
  LayerNorm<T> norm[3];
  std::uint64_t drop_stream[3] = {};

  std::size_t sublayers() const { return cfg.decoder ? 3 : 2; }

  struct Cache {
    std::size_t max_batch = 0, max_len = 0, max_mem = 0;
    typename MultiHeadAttention<T>::Cache sa, ca;
    typename Mlp<T>::Cache ff;
    const T* in[3] = {};       // each sublayer's input: x, then the previous sublayer's output
    const T* mem = nullptr;    // the memory of the last forward (decoder)
    std::vector<T> out[2];     // outputs of the sublayers before the last (B * L, E)
    std::vector<T> normed[3];  // pre-norm: norm_i(input), the function's input
    std::vector<T> f[3];       // the function's output (after dropout)
    std::vector<T> r[3];       // post-norm: input + f, the norm's input
    std::vector<T> mean[3], rstd[3];
    std::vector<T> g[5];    // gradient scratch (B * L, E)
    std::vector<T> dk, dv;  // cross-attention: gradients of the memory (B * Lm, E)
  };

  // heads must divide d_model (an error naming both otherwise).
  void declare(ParamSet<T>& ps, const std::string& prefix, const TransformerLayerConfig& cfg);
  // PyTorch's: attention as MultiheadAttention, Linear defaults, norms 1 / 0.
  void init(ParamSet<T>& ps, std::uint64_t seed) const;
  // inference = true: a forward-only cache (fused attention, no backward buffers).
  Cache make_cache(std::size_t max_batch, std::size_t max_len, std::size_t max_mem, bool inference = false) const;
  // y (B, L, E) from x (B, L, E) and, for a decoder, memory (B, Lm, E). x and memory must stay
  // valid until backward. y may not alias x.
  void forward(const ParamSet<T>& ps, Cache& c, const T* x, const T* memory, T* y, std::size_t B,
               std::size_t L, std::size_t Lm, const RunCtx& ctx) const;
  // Accumulates (ctx.accumulate = false: overwrites) the parameter gradients; writes dx if not
  // null and ADDS the memory's gradient into dmemory (decoder; several layers read one memory).
  void backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, T* dmemory, std::size_t B,
                std::size_t L, std::size_t Lm, const RunCtx& ctx) const;
};

// Sinusoidal positional encoding (Vaswani et al.): pe (n, E) for positions first .. first + n - 1,
// pe[p, 2i] = sin(p / 10000^(2i / E)), pe[p, 2i + 1] = cos(p / 10000^(2i / E)).
template <class T>
void sinusoidal_positions(T* pe, std::size_t first, std::size_t n, std::size_t E);

}  // namespace ntn::nn
