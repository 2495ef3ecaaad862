// A stack of Linear layers with an optional activation (and dropout) after each: the building
// block of the MLP-family models. Caches what its backward needs in a per-thread Cache.
//
// Intended usage (the NHITS/N-BEATS block MLP: first Linear without activation, then
// (Linear + act) per hidden pair, then the output Linear):
//   ntn::nn::Mlp<float> mlp;
//   mlp.declare(ps, "blocks.0.mlp", {84, 512, 512, 174}, {false, true, false}, Act::relu, 0.0f);
//   auto cache = mlp.make_cache(max_batch);
//   mlp.forward(ps, cache, x, theta, B, ctx);
//   mlp.backward(ps, grads, cache, dtheta, dx, B, ctx);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ntn/nn.h"

namespace ntn::nn {

template <class T>
struct Mlp {
  std::vector<Linear<T>> layers;
  std::vector<bool> act_after;  // per layer
  Act act = Act::relu;
  float dropout = 0.0f;
  std::uint64_t stream = 0;  // dropout stream (from the prefix)

  struct Cache {
    std::size_t max_batch = 0;
    std::vector<std::vector<T>> in;   // (layer) input of each Linear, (B, in_l)
    std::vector<std::vector<T>> pre;  // (layer) Linear output before the activation (empty if no act)
    std::vector<std::vector<T>> post; // (layer) activation output, kept apart only before dropout or
                                      // as the last layer (else it is in[layer + 1]); empty otherwise
    std::vector<T> g0, g1;            // gradient ping-pong buffers, (B, max width)
  };

  // widths (n+1): in, hidden..., out; act_after (n): activation after Linear i.
  void declare(ParamSet<T>& ps, const std::string& prefix, const std::vector<std::size_t>& widths,
               const std::vector<bool>& act_after, Act act, float dropout);
  // The common shape: `layers` hidden Linears of width `hidden`, each followed by the activation
  // (and dropout), then the output Linear (in, hidden x layers, out).
  void declare_hidden(ParamSet<T>& ps, const std::string& prefix, std::size_t in, std::size_t hidden,
                      std::size_t layers, std::size_t out, Act act, float dropout) {
    std::vector<std::size_t> widths(layers + 2, hidden);
    widths.front() = in;
    widths.back() = out;
    std::vector<bool> acts(layers + 1, true);
    acts.back() = false;
    declare(ps, prefix, widths, acts, act, dropout);
  }
  void init(ParamSet<T>& ps, std::uint64_t seed) const;
  std::size_t in() const { return layers.front().in; }
  std::size_t out() const { return layers.back().out; }
  // inference = true: only the two ping-pong buffers (a forward-only cache: served with
  // ctx.packed or not; no training forward, no backward).
  Cache make_cache(std::size_t max_batch, bool inference = false) const;
  void forward(const ParamSet<T>& ps, Cache& c, const T* x, T* y, std::size_t B, const RunCtx& ctx) const;
  // Accumulates parameter gradients into `grads` (a slab laid out like ps); writes dx if not null.
  void backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, std::size_t B,
                const RunCtx& ctx) const;
};

}  // namespace ntn::nn
