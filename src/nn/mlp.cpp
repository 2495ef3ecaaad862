#include "ntn/fields.h"
#include "ntn/mlp.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/rng.h"

namespace ntn::nn {

template <class T>
void Mlp<T>::declare(ParamSet<T>& ps, const std::string& prefix, const std::vector<std::size_t>& widths,
                     const std::vector<bool>& act_after_, Act act_, float dropout_) {
  NTN_CHECK(widths.size() >= 2 && act_after_.size() == widths.size() - 1, "mlp '", prefix, "': ", widths.size(),
            " widths need ", widths.size() - 1, " activation flags (got ", act_after_.size(), ")");
  NTN_CHECK(dropout_ >= 0.0f && dropout_ < 1.0f, "mlp '", prefix, "': dropout ", dropout_, " is outside [0, 1)");
  layers.resize(widths.size() - 1);
  for (std::size_t i = 0; i + 1 < widths.size(); ++i)
    layers[i].declare(ps, prefix + "." + std::to_string(i), widths[i], widths[i + 1]);
  act_after = act_after_;
  act = act_;
  dropout = dropout_;
  stream = stream_id(prefix + ".dropout");
}

template <class T>
void Mlp<T>::init(ParamSet<T>& ps, std::uint64_t seed) const {
  for (const auto& l : layers) l.init(ps, seed);
}

template <class T>
typename Mlp<T>::Cache Mlp<T>::make_cache(std::size_t max_batch, bool inference) const {
  Cache c;
  c.max_batch = max_batch;
  std::size_t widest = 0;
  for (const auto& l : layers) {
    widest = std::max({widest, l.in, l.out});
    check_tensor_size(max_batch, widest, "layer activations (batch x width)");  // before allocating
    if (inference) continue;
    const std::size_t i = c.in.size();
    const bool last = i + 1 == layers.size();
    c.in.emplace_back(max_batch * l.in);
    c.pre.emplace_back(act_after[i] ? max_batch * l.out : 0);
    // The activation writes straight into the next layer's input unless dropout follows it or
    // it is the last layer (whose output belongs to the caller).
    c.post.emplace_back(act_after[i] && (dropout > 0.0f || last) ? max_batch * l.out : 0);
  }
  c.g0.resize(max_batch * widest);
  c.g1.resize(max_batch * widest);
  return c;
}

namespace {
// Dropout applies after an activation; its counter depends on the global row, not the call.
std::uint64_t drop_counter(const RunCtx& ctx, std::size_t layer, std::size_t width) {
  return (ctx.step << 40) + (std::uint64_t(layer) << 56) + ctx.row0 * width;
}
}  // namespace

template <class T>
void Mlp<T>::forward(const ParamSet<T>& ps, Cache& c, const T* x, T* y, std::size_t B, const RunCtx& ctx) const {
  NTN_DASSERT(B <= c.max_batch);
  if (ctx.packed || c.in.empty()) {  // inference (served, or a forward-only cache): Linear (+
    // activation in place) into ping-pong buffers; the same values as the training path
    NTN_CHECK(!ctx.training, "mlp: a forward-only workspace cannot run a training forward");
    const T* in = x;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      T* out = i + 1 == layers.size() ? y : (i % 2 == 0 ? c.g0.data() : c.g1.data());
      layers[i].forward(ps, in, out, B, ctx);
      if (act_after[i]) act_forward(act, out, out, B * layers[i].out);
      in = out;
    }
    return;
  }
  const bool drop = ctx.training && dropout > 0.0f;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Linear<T>& l = layers[i];
    T* in = c.in[i].data();
    if (i == 0) std::memcpy(in, x, B * l.in * sizeof(T));
    T* out = i + 1 < layers.size() ? c.in[i + 1].data() : y;
    const std::size_t n = B * l.out;
    if (!act_after[i]) {
      l.forward(ps, in, out, B, ctx);
      continue;
    }
    l.forward(ps, in, c.pre[i].data(), B, ctx);
    T* post = c.post[i].empty() ? out : c.post[i].data();
    act_forward(act, c.pre[i].data(), post, n);
    if (drop)
      dropout_forward(post, out, n, dropout, ctx.seed, stream, drop_counter(ctx, i, l.out));
    else if (post != out)
      std::memcpy(out, post, n * sizeof(T));
  }
}

template <class T>
void Mlp<T>::backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, std::size_t B,
                      const RunCtx& ctx) const {
  const bool drop = ctx.training && dropout > 0.0f;
  const T* g = dy;  // gradient w.r.t. the output of layer i (after activation / dropout)
  for (std::size_t k = layers.size(); k-- > 0;) {
    const Linear<T>& l = layers[k];
    const std::size_t n = B * l.out;
    // Ping-pong: gpre may be the buffer g points into (elementwise ops run in place), but it is
    // never the buffer the Linear backward below writes dx into.
    T* gpre = (k % 2 == 0) ? c.g0.data() : c.g1.data();
    if (act_after[k]) {
      if (drop) {
        dropout_backward(g, gpre, n, dropout, ctx.seed, stream, drop_counter(ctx, k, l.out));
        g = gpre;
      }
      const T* post = c.post[k].empty() ? c.in[k + 1].data() : c.post[k].data();  // see make_cache
      act_backward(act, c.pre[k].data(), post, g, gpre, n);
      g = gpre;
    }
    T* gin = k > 0 ? ((k % 2 == 0) ? c.g1.data() : c.g0.data()) : dx;
    l.backward(ps, grads, c.in[k].data(), g, gin, B, ctx.accumulate);
    g = gin;
  }
}

template struct Mlp<float>;
template struct Mlp<double>;

}  // namespace ntn::nn
