#include "ntn/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/rng.h"

namespace ntn::nn {

template <class T>
void MultiHeadAttention<T>::declare(ParamSet<T>& ps, const std::string& prefix, std::size_t embed_,
                                   std::size_t heads_, std::size_t kdim_, std::size_t vdim_) {
  NTN_CHECK(embed_ > 0 && heads_ > 0, "attention '", prefix, "': embedding size (", embed_, ") and heads (", heads_,
            ") must be positive");
  NTN_CHECK(embed_ % heads_ == 0, "attention '", prefix, "': heads (", heads_, ") must divide the embedding size (",
            embed_, ")");
  embed = embed_;
  heads = heads_;
  kdim = kdim_ ? kdim_ : embed_;
  vdim = vdim_ ? vdim_ : embed_;
  q.declare(ps, prefix + ".q", embed, embed);
  k.declare(ps, prefix + ".k", kdim, embed);
  v.declare(ps, prefix + ".v", vdim, embed);
  o.declare(ps, prefix + ".out", embed, embed);
}

template <class T>
void MultiHeadAttention<T>::init(ParamSet<T>& ps, std::uint64_t seed) const {
  std::vector<float> tmp;
  auto fill = [&](std::size_t i, float bound) {
    const auto& e = ps.entries()[i];
    tmp.assign(e.size, 0.0f);
    if (bound > 0) fill_uniform(tmp.data(), e.size, -bound, bound, seed, stream_id(e.name));
    std::copy(tmp.begin(), tmp.end(), ps.value(i));
  };
  for (const Linear<T>* l : {&q, &k, &v}) {  // xavier uniform, zero bias
    fill(l->w, std::sqrt(6.0f / float(l->in + l->out)));
    fill(l->b, 0.0f);
  }
  fill(o.w, 1.0f / std::sqrt(float(embed)));
  fill(o.b, 0.0f);
}

template <class T>
typename MultiHeadAttention<T>::KeyValue MultiHeadAttention<T>::make_kv(std::size_t B, std::size_t Lk) const {
  KeyValue c;
  c.max_batch = B;
  c.max_k = Lk;
  const std::size_t nk = check_tensor_size(B * Lk, embed, "attention workspace (batch x keys x embedding)");
  c.K.resize(nk);
  c.V.resize(nk);
  c.dK.resize(nk);
  c.dV.resize(nk);
  return c;
}

template <class T>
typename MultiHeadAttention<T>::Query MultiHeadAttention<T>::make_query(std::size_t B, std::size_t Lq,
                                                                      std::size_t Lk, bool inference,
                                                                      bool keep_weights) const {
  Query c;
  c.max_batch = B;
  c.max_q = Lq;
  c.max_k = Lk;
  const std::size_t nq = check_tensor_size(B * Lq, embed, "attention workspace (batch x queries x embedding)");
  c.Q.resize(nq);
  c.ctxv.resize(nq);
  c.kt.resize(check_tensor_size(2 * d_head(), Lk, "attention scratch (head width x keys)"));
  const bool composed = !std::is_same_v<T, float> || keep_weights;
  if (inference && !composed) return c;
  c.dctx.resize(nq);
  c.dQ.resize(nq);
  if (composed) {
    c.P.resize(check_tensor_size(B * heads * Lq, Lk, "attention weights (batch x heads x queries x keys)"));
    c.dP.resize(Lq * Lk);
  } else {
    c.stats.resize(check_tensor_size(B * heads * Lq, 2, "attention statistics (batch x heads x queries)"));
  }
  return c;
}

namespace {
// Keys visible to query i: all, or under the causal mask those j <= i + Lk - Lq.
std::size_t visible(bool causal, std::size_t i, std::size_t Lq, std::size_t Lk) {
  if (!causal) return Lk;
  const long long n = (long long)i + 1 + (long long)Lk - (long long)Lq;
  return n <= 0 ? 0 : std::min<std::size_t>(Lk, std::size_t(n));
}

// Softmax of x[0, n) in place, x[n, Lk) = 0; a row whose every score is -inf becomes zeros.
template <class T>
void softmax_row(T* x, std::size_t n, std::size_t Lk) {
  T mx = -std::numeric_limits<T>::infinity();
  for (std::size_t j = 0; j < n; ++j) mx = std::max(mx, x[j]);
  if (n == 0 || mx == -std::numeric_limits<T>::infinity()) {
    std::fill(x, x + Lk, T(0));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    kernels().f32_softmax(x, x, 1, n);
  } else {
    T s = 0;
    for (std::size_t j = 0; j < n; ++j) s += x[j] = std::exp(x[j] - mx);
    for (std::size_t j = 0; j < n; ++j) x[j] /= s;
  }
  std::fill(x + n, x + Lk, T(0));
}

// The same for scores that cannot all be -inf (no additive mask: products of finite values).
template <class T>
void softmax_finite_row(T* x, std::size_t n, std::size_t Lk) {
  if constexpr (std::is_same_v<T, float>) {
    if (n) kernels().f32_softmax(x, x, 1, n);
    std::fill(x + n, x + Lk, T(0));
  } else {
    softmax_row(x, n, Lk);
  }
}
}  // namespace

template <class T>
void MultiHeadAttention<T>::project_kv(const ParamSet<T>& ps, KeyValue& kv, const T* key, const T* value,
                                       std::size_t B, std::size_t Lk, const RunCtx& ctx) const {
  NTN_DASSERT(B <= kv.max_batch && Lk <= kv.max_k);
  kv.key = key;
  kv.value = value;
  k.forward(ps, key, kv.K.data(), B * Lk, ctx);
  v.forward(ps, value, kv.V.data(), B * Lk, ctx);
}

template <class T>
void MultiHeadAttention<T>::attend(const ParamSet<T>& ps, const KeyValue& kv, Query& c, const T* query, T* out,
                                   std::size_t B, std::size_t Lq, std::size_t Lk, const AttentionMask<T>& mask,
                                   const RunCtx& ctx) const {
  NTN_DASSERT(B <= c.max_batch && Lq <= c.max_q && Lk <= c.max_k);
  const std::size_t E = embed, dh = d_head();
  c.query = query;
  q.forward(ps, query, c.Q.data(), B * Lq, ctx);
  // The score scale 1 / sqrt(d_head) applied to the queries once (B Lq E products instead of
  // B heads Lq Lk); backward multiplies dQ by it.
  const T scale = T(1) / std::sqrt(T(dh));
  T* Qs = c.Q.data();
  for (std::size_t i = 0; i < B * Lq * E; ++i) Qs[i] *= scale;
  // Float without an additive mask, in a workspace that does not keep the weights: the fused
  // kernel (one pass over key blocks per query row, no (Lq, Lk) buffer), which also records each
  // row's softmax max and sum when the workspace can run a backward.
  c.causal = mask.causal;
  if constexpr (std::is_same_v<T, float>) {
    if (c.P.empty()) {
      NTN_CHECK(!mask.additive,
                "attention: an additive mask needs a workspace that keeps the weights (make_query keep_weights)");
      NTN_CHECK(!ctx.training || !c.stats.empty(), "attention: an inference workspace cannot run a training forward");
      const KernelTable& kt = kernels();
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < heads; ++h) {
          const std::size_t qo = b * Lq * E + h * dh, ko = b * Lk * E + h * dh;
          float* st = c.stats.empty() ? nullptr : c.stats.data() + (b * heads + h) * Lq * 2;
          kt.f32_attention(Qs + qo, E, kv.K.data() + ko, E, kv.V.data() + ko, E, c.ctxv.data() + qo, E, Lq, Lk, dh,
                           mask.causal, c.kt.data(), st);
        }
      o.forward(ps, c.ctxv.data(), out, B * Lq, ctx);
      return;
    }
  }
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      T* P = c.P.data() + (b * heads + h) * Lq * Lk;
      const T* Qb = c.Q.data() + b * Lq * E + h * dh;
      const T* Kb = kv.K.data() + b * Lk * E + h * dh;
      const T* Vb = kv.V.data() + b * Lk * E + h * dh;
      matmul<T>(false, true, Lq, Lk, dh, Qb, E, Kb, E, P, Lk);
      for (std::size_t i = 0; i < Lq; ++i) {
        T* row = P + i * Lk;
        const std::size_t n = visible(mask.causal, i, Lq, Lk);
        if (mask.additive) {
          for (std::size_t j = 0; j < n; ++j) row[j] += mask.additive[i * Lk + j];
          softmax_row(row, n, Lk);
        } else {
          softmax_finite_row(row, n, Lk);
        }
      }
      matmul<T>(false, false, Lq, dh, Lk, P, Lk, Vb, E, c.ctxv.data() + b * Lq * E + h * dh, E);
    }
  o.forward(ps, c.ctxv.data(), out, B * Lq, ctx);
}

template <class T>
void MultiHeadAttention<T>::zero_kv_grads(KeyValue& kv, std::size_t B, std::size_t Lk) const {
  std::fill(kv.dK.begin(), kv.dK.begin() + std::ptrdiff_t(B * Lk * embed), T(0));
  std::fill(kv.dV.begin(), kv.dV.begin() + std::ptrdiff_t(B * Lk * embed), T(0));
}

template <class T>
void MultiHeadAttention<T>::attend_backward(const ParamSet<T>& ps, T* grads, KeyValue& kv, Query& c, const T* dout,
                                            T* dquery, std::size_t B, std::size_t Lq, std::size_t Lk,
                                            const RunCtx& ctx) const {
  const std::size_t E = embed, dh = d_head();
  const T scale = T(1) / std::sqrt(T(dh));
  NTN_CHECK(!c.dQ.empty(), "attention: an inference workspace cannot run a backward");
  o.backward(ps, grads, c.ctxv.data(), dout, c.dctx.data(), B * Lq, ctx.accumulate);
  bool fused = false;
  if constexpr (std::is_same_v<T, float>) {
    if (c.P.empty()) {  // fused: the weights recomputed block by block from the row statistics
      const KernelTable& kt = kernels();
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < heads; ++h) {
          const std::size_t qo = b * Lq * E + h * dh, ko = b * Lk * E + h * dh;
          kt.f32_attention_bwd(c.Q.data() + qo, E, kv.K.data() + ko, E, kv.V.data() + ko, E, c.ctxv.data() + qo, E,
                               c.dctx.data() + qo, E, c.stats.data() + (b * heads + h) * Lq * 2, c.dQ.data() + qo, E,
                               kv.dK.data() + ko, E, kv.dV.data() + ko, E, Lq, Lk, dh, c.causal, c.kt.data());
        }
      fused = true;
    }
  }
  for (std::size_t b = 0; b < B && !fused; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      const T* P = c.P.data() + (b * heads + h) * Lq * Lk;
      const std::size_t qo = b * Lq * E + h * dh, ko = b * Lk * E + h * dh;
      const T* dO = c.dctx.data() + qo;
      T* dP = c.dP.data();
      matmul<T>(false, true, Lq, Lk, dh, dO, E, kv.V.data() + ko, E, dP, Lk);              // dP = dO V^T
      matmul<T>(true, false, Lk, dh, Lq, P, Lk, dO, E, kv.dV.data() + ko, E, true);       // dV += P^T dO
      // dS = P (dP - sum(P dP)) per row (masked keys have P = 0: dS = 0); the scale is in Qs.
      if constexpr (std::is_same_v<T, float>) {
        kernels().f32_softmax_bwd(P, dP, dP, Lq, Lk);
      } else {
        for (std::size_t i = 0; i < Lq; ++i) {
          T s = 0;
          for (std::size_t j = 0; j < Lk; ++j) s += P[i * Lk + j] * dP[i * Lk + j];
          for (std::size_t j = 0; j < Lk; ++j) dP[i * Lk + j] = P[i * Lk + j] * (dP[i * Lk + j] - s);
        }
      }
      matmul<T>(false, false, Lq, dh, Lk, dP, Lk, kv.K.data() + ko, E, c.dQ.data() + qo, E);    // dQs = dS K
      matmul<T>(true, false, Lk, dh, Lq, dP, Lk, c.Q.data() + qo, E, kv.dK.data() + ko, E, true);  // dK += dS^T Qs
    }
  T* dQ = c.dQ.data();  // dQ = scale dQs (the queries were scaled in attend)
  for (std::size_t i = 0; i < B * Lq * E; ++i) dQ[i] *= scale;
  q.backward(ps, grads, c.query, dQ, dquery, B * Lq, ctx.accumulate);
}

template <class T>
void MultiHeadAttention<T>::kv_backward(const ParamSet<T>& ps, T* grads, KeyValue& kv, T* dkey, T* dvalue,
                                        std::size_t B, std::size_t Lk, const RunCtx& ctx) const {
  k.backward(ps, grads, kv.key, kv.dK.data(), dkey, B * Lk, ctx.accumulate);
  v.backward(ps, grads, kv.value, kv.dV.data(), dvalue, B * Lk, ctx.accumulate);
}

template struct MultiHeadAttention<float>;
template struct MultiHeadAttention<double>;

}  // namespace ntn::nn
