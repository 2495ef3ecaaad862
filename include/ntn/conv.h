// Causal dilated 1-D convolution (the TCN's layer): PyTorch's nn.Conv1d(in, out, kernel,
// dilation=d, padding=(kernel-1)*d) with the last (kernel-1)*d outputs dropped, i.e. zero
// padding on the left only, so output column t reads input columns t, t-d, ..., t-(kernel-1)d:
//   y[t, o] = b[o] + sum_k sum_i W[o, k, i] x[t - (kernel-1-k) d, i]      (x[s] = 0 for s < 0)
//   dW[o, k, i] += sum_t dy[t, o] x[t - (kernel-1-k) d, i],  db[o] += sum_t dy[t, o],
//   dx[s, i] = sum_{t, k: s = t - (kernel-1-k) d} sum_o dy[t, o] W[o, k, i]
// It runs as one product through the one linear entry point (served packed like every Linear):
// the kernel-many input columns an output reads are gathered into one row (im2col), so the
// weight is a (out, kernel * in) matrix, k-major: W[o, k * in + i] = torch's weight[o, i, k]
// (torch's weight.permute(0, 2, 1).reshape(out, -1)), Role::conv_kernel.
//
// Only the columns a caller needs are computed: a forecast head that reads the last column of
// the last layer needs the last 1 + span columns of that layer's input, and so on down the
// stack (receptive field), so neither a forecast nor a training step computes the others.
// Layout: time-major per sequence. x (B, Tin, in) holds columns [T - Tin, T) of B sequences of
// length T, y (B, Tout, out) columns [T - Tout, T); Tin must be T (the whole sequence: the
// columns before it are the zero padding) or at least Tout + span (every column read is given).
//
// Streaming: a ring of the last span + 1 input columns per layer; one new column costs one
// output column (step).
//
// Intended usage:
//   ntn::nn::CausalConv1d<float> conv;
//   conv.declare(ps, "blocks.0.conv1", /*in=*/1, /*out=*/64, /*kernel=*/3, /*dilation=*/2);
//   auto c = conv.make_cache(B, Tin, Tout);
//   conv.forward(ps, c, x, y, B, Tin, Tout, ctx);
//   conv.backward(ps, grads, c, dy, dx, B, Tin, Tout, ctx);
#pragma once

#include <algorithm>
#include <vector>

#include "ntn/nn.h"

namespace ntn::nn {

template <class T>
struct CausalConv1d {
  std::size_t in = 0, out = 0, kernel = 1, dilation = 1;
  Linear<T> lin;  // (out, kernel * in) k-major + bias (out)

  std::size_t span() const { return (kernel - 1) * dilation; }
  // Input columns the last n output columns of a length-T sequence read.
  std::size_t input_columns(std::size_t n, std::size_t len) const { return std::min(len, n + span()); }
  // Whether a forward reads x in place (a 1x1 convolution over all the given columns).
  bool direct(std::size_t Tin, std::size_t Tout) const { return kernel == 1 && Tin == Tout; }

  struct Cache {
    std::size_t max_batch = 0, max_in = 0, max_out = 0;
    std::vector<T> col;       // (B * Tout, kernel * in) gathered input rows (empty when direct)
    std::vector<T> dcol;      // their gradient (training only)
    const T* rows = nullptr;  // what the last forward multiplied: col, or x when direct
  };

  // kernel, dilation >= 1; an error naming the prefix otherwise.
  void declare(ParamSet<T>& ps, const std::string& prefix, std::size_t in, std::size_t out,
               std::size_t kernel, std::size_t dilation, bool bias = true);
  // PyTorch's Conv1d default: W and b ~ U(-1/sqrt(in * kernel), 1/sqrt(in * kernel)).
  void init(ParamSet<T>& ps, std::uint64_t seed) const { lin.init(ps, seed); }
  Cache make_cache(std::size_t max_batch, std::size_t max_in, std::size_t max_out,
                   bool inference = false) const;
  // y (B, Tout, out) from x (B, Tin, in). x must stay valid until backward (a direct product reads it).
  void forward(const ParamSet<T>& ps, Cache& c, const T* x, T* y, std::size_t B, std::size_t Tin,
               std::size_t Tout, const RunCtx& ctx) const;
  // After forward: accumulates (ctx.accumulate false: overwrites) the parameter gradients and
  // writes dx (B, Tin, in) if not null (zero where no output reads a column).
  void backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, std::size_t B, std::size_t Tin,
                std::size_t Tout, const RunCtx& ctx) const;

  // ---- streaming: ring (span + 1, in) of the last input columns, slot `pos` the newest ----------
  std::size_t ring_columns() const { return span() + 1; }
  // Writes the new input column x (in) at ring slot pos, then y (out) = the output column that
  // reads it; col is scratch (kernel * in). The caller advances pos (mod ring_columns()).
  void step(const ParamSet<T>& ps, T* ring, std::size_t pos, const T* x, T* y, T* col,
            const RunCtx& ctx) const;
};

}  // namespace ntn::nn
