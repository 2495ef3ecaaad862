// Multi-head attention (PyTorch's nn.MultiheadAttention, batch_first): separate q / k / v / out
// projections, scores Q K^T / sqrt(d_head) per head, an optional causal or additive mask, softmax
// over the keys, the weighted sum of the values, the heads concatenated and projected. Forward and
// backward; the projections go through the one linear entry point (served packed like every
// Linear). Used by the LSTM-Attention decoder and, later, the Transformer.
//
// Shapes: query (B, Lq, E), key (B, Lk, kdim), value (B, Lk, vdim) -> out (B, Lq, E); heads
// divide E (d_head = E / heads). Parameters "<prefix>.{q,k,v,out}.{weight,bias}": q (E, E),
// k (E, kdim), v (E, vdim), out (E, E) - torch's q/k/v_proj_weight (or the thirds of its
// in_proj_weight) and out_proj.
//
// Masks: causal (query i sees keys j <= i + Lk - Lq, torch's triu mask when Lq == Lk) and/or an
// additive (Lq, Lk) mask (-inf hides a key).
//
// Two forms of the same maths: fused (float: kernels().f32_attention, one pass over blocks of
// keys with an online softmax, and f32_attention_bwd, which recomputes the weights block by block
// from each row's max and sum - no (Lq, Lk) buffer in training either, so long inputs cost O(L)
// memory per head) and composed (the scores of all keys, a softmax per row, the weighted sum, with
// the weights kept for backward: double, additive masks, and a float workspace made with
// keep_weights - the reference). They agree to float rounding (tests/nn/test_attention.cpp). A
// query row that sees no key at all gets a zero output and zero gradients (PyTorch would give NaN).
//
// Intended usage:
//   ntn::nn::MultiHeadAttention<float> att;
//   att.declare(ps, "attn", /*embed=*/64, /*heads=*/4);
//   auto cache = att.make_cache(B, Lq, Lk);
//   att.forward(ps, cache, q, k, v, out, B, Lq, Lk, {.causal = true}, ctx);
//   att.backward(ps, grads, cache, dout, dq, dk, dv, B, Lq, Lk, ctx);
#pragma once

#include <string>
#include <vector>

#include "ntn/nn.h"

namespace ntn::nn {

template <class T>
struct AttentionMask {
  bool causal = false;
  const T* additive = nullptr;  // (Lq, Lk), added to the scaled scores; null: none
};

template <class T>
struct MultiHeadAttention {
  std::size_t embed = 0, heads = 1, kdim = 0, vdim = 0;
  Linear<T> q, k, v, o;

  std::size_t d_head() const { return embed / heads; }

  // Keys and values, projected once: a decoder attends to the same encoder states at each step.
  struct KeyValue {
    std::size_t max_batch = 0, max_k = 0;
    const T *key = nullptr, *value = nullptr;  // the inputs (not owned)
    std::vector<T> K, V;    // projections (B, Lk, E)
    std::vector<T> dK, dV;  // their gradients, summed over every query call's backward
  };
  // One call's queries: projections, attention weights and backward scratch.
  struct Query {
    std::size_t max_batch = 0, max_q = 0, max_k = 0;
    const T* query = nullptr;
    std::vector<T> Q;     // (B, Lq, E)
    std::vector<T> P;      // composed: attention weights (B, heads, Lq, Lk); else empty
    std::vector<T> stats;  // fused training: each row's softmax max and sum (B, heads, Lq, 2)
    std::vector<T> ctxv;   // heads concatenated (B, Lq, E)
    std::vector<T> dctx, dQ, dP;
    std::vector<T> kt;     // fused scratch: one head's keys (and values, backward) transposed
    bool causal = false;   // the last attend's mask, for its backward
  };
  struct Cache {  // the one-call form
    KeyValue kv;
    Query q;
  };

  // heads must divide embed (an error naming both otherwise); kdim / vdim 0 mean embed.
  void declare(ParamSet<T>& ps, const std::string& prefix, std::size_t embed, std::size_t heads,
               std::size_t kdim = 0, std::size_t vdim = 0);
  void init(ParamSet<T>& ps, std::uint64_t seed) const;  // PyTorch's: xavier-uniform q/k/v, zero biases
  KeyValue make_kv(std::size_t max_batch, std::size_t max_k) const;
  // inference = true: no statistics, weights or gradient buffers (float: the fused kernel); no
  // backward. keep_weights = true: the composed form (the (Lq, Lk) weights kept for backward),
  // which additive masks need; float training is otherwise fused. double is always composed.
  Query make_query(std::size_t max_batch, std::size_t max_q, std::size_t max_k, bool inference = false,
                   bool keep_weights = false) const;
  Cache make_cache(std::size_t max_batch, std::size_t max_q, std::size_t max_k, bool inference = false,
                   bool keep_weights = false) const {
    return {make_kv(max_batch, max_k), make_query(max_batch, max_q, max_k, inference, keep_weights)};
  }

  // ---- one call: out = attention(query, key, value). Inputs must stay valid until backward.
  void forward(const ParamSet<T>& ps, Cache& c, const T* query, const T* key, const T* value, T* out, std::size_t B,
               std::size_t Lq, std::size_t Lk, const AttentionMask<T>& mask, const RunCtx& ctx) const {
    project_kv(ps, c.kv, key, value, B, Lk, ctx);
    attend(ps, c.kv, c.q, query, out, B, Lq, Lk, mask, ctx);
  }
  // Accumulates (or, ctx.accumulate = false, overwrites) the parameter gradients; writes dquery,
  // dkey, dvalue when not null (self-attention: the caller adds dkey and dvalue into one).
  void backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dout, T* dquery, T* dkey, T* dvalue,
                std::size_t B, std::size_t Lq, std::size_t Lk, const RunCtx& ctx) const {
    zero_kv_grads(c.kv, B, Lk);
    attend_backward(ps, grads, c.kv, c.q, dout, dquery, B, Lq, Lk, ctx);
    kv_backward(ps, grads, c.kv, dkey, dvalue, B, Lk, ctx);
  }

  // ---- the parts: project the keys / values once, attend any number of times --------------
  void project_kv(const ParamSet<T>& ps, KeyValue& kv, const T* key, const T* value, std::size_t B, std::size_t Lk,
                  const RunCtx& ctx) const;
  void attend(const ParamSet<T>& ps, const KeyValue& kv, Query& qc, const T* query, T* out, std::size_t B,
              std::size_t Lq, std::size_t Lk, const AttentionMask<T>& mask, const RunCtx& ctx) const;
  // Backward: zero_kv_grads, then attend_backward for each attend call (it adds into kv.dK / kv.dV
  // and handles the q and out projections' gradients), then kv_backward once.
  void zero_kv_grads(KeyValue& kv, std::size_t B, std::size_t Lk) const;
  void attend_backward(const ParamSet<T>& ps, T* grads, KeyValue& kv, Query& qc, const T* dout, T* dquery,
                       std::size_t B, std::size_t Lq, std::size_t Lk, const RunCtx& ctx) const;
  void kv_backward(const ParamSet<T>& ps, T* grads, KeyValue& kv, T* dkey, T* dvalue, std::size_t B, std::size_t Lk,
                   const RunCtx& ctx) const;
};

}  // namespace ntn::nn
