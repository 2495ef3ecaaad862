#include "ntn/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/rng.h"

namespace ntn::nn {

template <class T>
void TransformerLayer<T>::declare(ParamSet<T>& ps, const std::string& prefix,
                                  const TransformerLayerConfig& c) {
  NTN_CHECK(c.d_model > 0 && c.heads > 0 && c.ffn > 0, "transformer layer '", prefix, "': d_model (",
            c.d_model, "), heads (", c.heads, ") and ffn (", c.ffn, ") must be positive");
  NTN_CHECK(c.dropout >= 0.0f && c.dropout < 1.0f, "transformer layer '", prefix, "': dropout ", c.dropout,
            " is outside [0, 1)");
  cfg = c;
  self_attn.declare(ps, prefix + ".self_attn", c.d_model, c.heads);
  if (c.decoder) cross_attn.declare(ps, prefix + ".cross_attn", c.d_model, c.heads);
  ffn.declare(ps, prefix + ".ffn", {c.d_model, c.ffn, c.d_model}, {true, false}, c.activation, c.dropout);
  for (std::size_t s = 0; s < sublayers(); ++s) {
    norm[s].declare(ps, cat(prefix, ".norm", s + 1), c.d_model);
    drop_stream[s] = stream_id(cat(prefix, ".dropout", s + 1));
  }
}

template <class T>
void TransformerLayer<T>::init(ParamSet<T>& ps, std::uint64_t seed) const {
  self_attn.init(ps, seed);
  if (cfg.decoder) cross_attn.init(ps, seed);
  ffn.init(ps, seed);
  for (std::size_t s = 0; s < sublayers(); ++s) norm[s].init(ps);
}

template <class T>
typename TransformerLayer<T>::Cache TransformerLayer<T>::make_cache(std::size_t B, std::size_t L, std::size_t Lm,
                                                                    bool inference) const {
  Cache c;
  c.max_batch = B;
  c.max_len = L;
  c.max_mem = Lm;
  const std::size_t N =
      check_tensor_size(B * L, cfg.d_model, "transformer activations (batch x length x d_model)");
  c.sa = self_attn.make_cache(B, L, L, inference);
  if (cfg.decoder) {
    c.ca = cross_attn.make_cache(B, L, Lm, inference);
    const std::size_t M =
        check_tensor_size(B * Lm, cfg.d_model, "transformer memory (batch x length x d_model)");
    c.dk.resize(M);
    c.dv.resize(M);
  }
  c.ff = ffn.make_cache(B * L, inference);
  for (std::size_t s = 0; s < sublayers(); ++s) {
    if (s + 1 < sublayers()) c.out[s].resize(N);
    (cfg.norm_first ? c.normed[s] : c.r[s]).resize(N);
    c.f[s].resize(N);
    c.mean[s].resize(B * L);
    c.rstd[s].resize(B * L);
  }
  if (!inference)
    for (auto& g : c.g) g.resize(N);
  return c;
}

namespace {
// Dropout counters per token row: the global token row (window row0 x L + token) times the width.
std::uint64_t token_counter(const RunCtx& ctx, std::size_t L, std::size_t width) {
  return (ctx.step << 40) + ctx.row0 * L * width;
}
}  // namespace

template <class T>
void TransformerLayer<T>::forward(const ParamSet<T>& ps, Cache& c, const T* x, const T* memory, T* y,
                                  std::size_t B, std::size_t L, std::size_t Lm, const RunCtx& ctx) const {
  NTN_DASSERT(B <= c.max_batch && L <= c.max_len && (!cfg.decoder || Lm <= c.max_mem));
  NTN_CHECK(!cfg.decoder || memory, "transformer decoder layer: no memory given");
  const std::size_t E = cfg.d_model, N = B * L, n = N * E;
  const bool drop = ctx.training && cfg.dropout > 0.0f;
  RunCtx tctx = ctx;  // the feed-forward network's rows are tokens
  tctx.row0 = ctx.row0 * L;
  c.mem = memory;
  const T* a = x;
  for (std::size_t s = 0; s < sublayers(); ++s) {
    c.in[s] = a;
    T* out = s + 1 < sublayers() ? c.out[s].data() : y;
    const T* fin = a;
    if (cfg.norm_first) {
      norm[s].forward(ps, a, c.normed[s].data(), N, c.mean[s].data(), c.rstd[s].data());
      fin = c.normed[s].data();
    }
    T* f = c.f[s].data();
    const bool is_ffn = s + 1 == sublayers();
    if (is_ffn)
      ffn.forward(ps, c.ff, fin, f, N, tctx);
    else if (s == 0)
      self_attn.forward(ps, c.sa, fin, fin, fin, f, B, L, L, {cfg.causal, nullptr}, ctx);
    else
      cross_attn.forward(ps, c.ca, fin, memory, memory, f, B, L, Lm, {}, ctx);
    if (drop) dropout_forward(f, f, n, cfg.dropout, ctx.seed, drop_stream[s], token_counter(ctx, L, E));
    if (cfg.norm_first) {
      for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + f[i];
    } else {
      T* r = c.r[s].data();
      for (std::size_t i = 0; i < n; ++i) r[i] = a[i] + f[i];
      norm[s].forward(ps, r, out, N, c.mean[s].data(), c.rstd[s].data());
    }
    a = out;
  }
}

template <class T>
void TransformerLayer<T>::backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, T* dmemory,
                                   std::size_t B, std::size_t L, std::size_t Lm, const RunCtx& ctx) const {
  const std::size_t E = cfg.d_model, N = B * L, n = N * E;
  const bool drop = ctx.training && cfg.dropout > 0.0f;
  RunCtx tctx = ctx;
  tctx.row0 = ctx.row0 * L;
  // g[0]: the gradient of the current sublayer's output, turned into its input's in place.
  T* gout = c.g[0].data();
  std::memcpy(gout, dy, n * sizeof(T));
  for (std::size_t s = sublayers(); s-- > 0;) {
    // The residual's gradient (post-norm: through the norm first) -> gout; the function's -> dF.
    if (!cfg.norm_first) {
      norm[s].backward(ps, grads, c.r[s].data(), gout, c.g[1].data(), N, c.mean[s].data(), c.rstd[s].data(),
                       ctx.accumulate);
      std::swap(c.g[0], c.g[1]);
      gout = c.g[0].data();
    }
    const T* dF = gout;
    if (drop) {
      dropout_backward(gout, c.g[1].data(), n, cfg.dropout, ctx.seed, drop_stream[s],
                       token_counter(ctx, L, E));
      dF = c.g[1].data();
    }
    // The function's input gradient -> g[2] (self-attention: query + key + value).
    T* dfin = c.g[2].data();
    const bool is_ffn = s + 1 == sublayers();
    if (is_ffn) {
      ffn.backward(ps, grads, c.ff, dF, dfin, N, tctx);
    } else if (s == 0) {
      self_attn.backward(ps, grads, c.sa, dF, dfin, c.g[3].data(), c.g[4].data(), B, L, L, ctx);
      const T* dk = c.g[3].data();
      const T* dv = c.g[4].data();
      for (std::size_t i = 0; i < n; ++i) dfin[i] += dk[i] + dv[i];
    } else {
      cross_attn.backward(ps, grads, c.ca, dF, dfin, c.dk.data(), c.dv.data(), B, L, Lm, ctx);
      if (dmemory)
        for (std::size_t i = 0; i < B * Lm * E; ++i) dmemory[i] += c.dk[i] + c.dv[i];
    }
    if (cfg.norm_first) {  // the function read norm_i(input)
      norm[s].backward(ps, grads, c.in[s], dfin, c.g[3].data(), N, c.mean[s].data(), c.rstd[s].data(),
                       ctx.accumulate);
      dfin = c.g[3].data();
    }
    for (std::size_t i = 0; i < n; ++i) gout[i] += dfin[i];
  }
  if (dx) std::memcpy(dx, gout, n * sizeof(T));
}

template <class T>
void sinusoidal_positions(T* pe, std::size_t first, std::size_t n, std::size_t E) {
  for (std::size_t p = 0; p < n; ++p)
    for (std::size_t i = 0; i < E; i += 2) {
      const double a = double(first + p) / std::pow(10000.0, double(i) / double(E));
      pe[p * E + i] = T(std::sin(a));
      if (i + 1 < E) pe[p * E + i + 1] = T(std::cos(a));
    }
}

template struct TransformerLayer<float>;
template struct TransformerLayer<double>;
template void sinusoidal_positions<float>(float*, std::size_t, std::size_t, std::size_t);
template void sinusoidal_positions<double>(double*, std::size_t, std::size_t, std::size_t);

}  // namespace ntn::nn
