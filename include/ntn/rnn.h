// Recurrent layers: stacked GRU / LSTM in PyTorch's gate order and equations, optionally
// bidirectional, with dropout between layers (training only, never after the last), forward and
// backward through time. Templated on the scalar type like every layer (ntn/nn.h).
//
//   LSTM (gates i, f, g, o):  [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh
//                             i, f, o = sigmoid(.), g = tanh(.); c' = f c + i g; h' = o tanh(c')
//   GRU (gates r, z, n):      r, z = sigmoid(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})
//                             n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)); h' = (1 - z) n + z h
//
// How the work is split (Marian's applyToInput / applyToState): the input projection of every
// step is ONE product over the (T * B) rows (blocks of steps when that buffer would pass 16 MB:
// thousands of long windows at once); each step then runs the recurrent product h W_hh^T
// (through Linear::forward, so a served model uses its packed fp32 / fp16 / int8 copy) and one
// pass over the gate nonlinearities. Backward walks the steps in reverse for the state gradients
// only; the weight gradients of all steps are one product each (dW_ih = dG^T X, dW_hh = dG^T H).
// Streaming (step) runs the same cell code one tick at a time, so a carried state equals the
// batch forward over the same history bitwise (float: every product element is one fixed FMA
// chain, kernels.h).
//
// Layout: sequences are time-major, x (T, B, input), y (T, B, out) with out = hidden * dirs and
// the reverse direction's features after the forward ones (PyTorch's layout). Parameters, per
// layer l and direction: "<prefix>.l<l>[_reverse].ih.{weight,bias}" (G, in_l) and
// ".hh.{weight,bias}" (G, hidden), G = 4 hidden (LSTM) or 3 hidden (GRU): PyTorch's
// weight_ih_l<l>[_reverse] etc., in its row order.
//
// Intended usage:
//   ntn::nn::Recurrent<float> rnn;
//   rnn.declare(ps, "encoder", ntn::nn::Cell::lstm, /*input=*/1, /*hidden=*/128, /*layers=*/2);
//   ps.finalize(); rnn.init(ps, seed);
//   auto cache = rnn.make_cache(/*max_batch=*/32, /*max_steps=*/168);
//   rnn.forward(ps, cache, x, T, B, ctx);           // cache.output(): (T, B, 128)
//   rnn.backward(ps, grads, cache, dy, dx, T, B, ctx);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ntn/nn.h"

namespace ntn::nn {

enum class Cell { gru, lstm };
Cell parse_cell(const std::string& name);  // "gru" | "lstm"
const char* cell_name(Cell c);

template <class T>
struct Recurrent {
  Cell cell = Cell::lstm;
  std::size_t input = 0, hidden = 0, layers = 1;
  bool bidirectional = false;
  float dropout = 0.0f;  // between layers, training only
  std::uint64_t stream = 0;
  struct Dir {
    Linear<T> ih;  // (G, in_l) input projection, Role::linear_weight
    Linear<T> hh;  // (G, hidden) recurrent product, Role::recurrent_weight
  };
  std::vector<Dir> dirs;  // layer-major: dirs[l * ndirs() + d]

  std::size_t ndirs() const { return bidirectional ? 2 : 1; }
  std::size_t gates() const { return (cell == Cell::lstm ? 4 : 3) * hidden; }
  std::size_t out() const { return hidden * ndirs(); }
  std::size_t layer_input(std::size_t l) const { return l == 0 ? input : out(); }

  struct Cache {
    std::size_t max_batch = 0, max_steps = 0;
    bool inference = false;
    const T* x = nullptr;                 // the last forward's input (T, B, input), not owned
    std::vector<std::vector<T>> outs;     // (layer) output (T, B, out)
    std::vector<std::vector<T>> dropped;  // (layer) dropout of outs[l] fed to layer l + 1 (training)
    std::size_t proj_steps = 0;           // steps per input-projection product (all, unless > 16 MB)
    std::vector<T> xp;                    // input projection of the (layer, dir) running: inference
                                          // (proj_steps, B, G); training (B, G), step_forward only
    // per (layer, dir); training keeps every step, inference two rows of states and one step
    std::vector<std::vector<T>> gates;    // (T, B, G) activated gates
    std::vector<std::vector<T>> h, c;     // (T + 1, B, hidden) states incl. the initial one (c: LSTM)
    std::vector<std::vector<T>> tc;       // (T, B, hidden) tanh(c') (LSTM)
    std::vector<std::vector<T>> hn;       // (T, B, hidden) h W_hn^T + b_hn (GRU)
    std::vector<T> hp;                    // (B, G) recurrent product of one step
    std::vector<T> dgi, dgh;              // (T, B, G) pre-activation gate gradients (dgh: GRU only)
    std::vector<T> dh, dc, dtmp;          // (B, hidden)
    std::vector<T> g0, g1, gx;            // (T, B, max width) layer input gradients
    // float, forward without served weights (training, validation): the products run on fp32
    // packed copies of this call's weights through the one linear entry point (the packed dense
    // kernel's chains are the GEMM's: bitwise the same result, faster for these shapes).
    std::unique_ptr<PackedLinears> pack;
    std::vector<float> whh_t, wih_t;      // backward (float): W_hh^T, W_ih^T of the (layer, dir) running, packed
    // step-wise training (step_forward / step_backward): inputs, per-layer gate gradients of
    // every step and the running state gradients (made on first use)
    std::vector<T> xin;                   // (T, B, input)
    std::vector<std::vector<T>> sdg, sdgh;  // (layer) (T, B, G)
    std::vector<T> sdh, sdc;              // (layers, B, hidden)
    std::vector<T> sgx, sgin;             // (B, max width)
    const T* output() const { return outs.back().data(); }
  };
  // The carried state of step(): per layer h (B, hidden) then, for LSTM, c (B, hidden).
  struct StepScratch {
    std::size_t max_batch = 0;
    std::vector<T> xp, hp, gates, tc, hn, x;
  };

  void declare(ParamSet<T>& ps, const std::string& prefix, Cell cell, std::size_t input, std::size_t hidden,
               std::size_t layers = 1, bool bidirectional = false, float dropout = 0.0f);
  // PyTorch's default: every weight and bias ~ U(-1/sqrt(hidden), 1/sqrt(hidden)).
  void init(ParamSet<T>& ps, std::uint64_t seed) const;
  // inference = true: only what a forward with RunCtx::packed needs (no backward).
  Cache make_cache(std::size_t max_batch, std::size_t max_steps, bool inference = false) const;
  // x (T, B, input) -> c.output() (T, B, out), from zero initial states. x must stay valid
  // until backward.
  void forward(const ParamSet<T>& ps, Cache& c, const T* x, std::size_t T_, std::size_t B, const RunCtx& ctx) const;
  // dy (T, B, out): gradient of the output sequence. Accumulates (or, ctx.accumulate = false,
  // overwrites) the parameter gradients in `grads`; writes dx (T, B, input) if not null.
  void backward(const ParamSet<T>& ps, T* grads, Cache& c, const T* dy, T* dx, std::size_t T_, std::size_t B,
                const RunCtx& ctx) const;

  // ---- step-wise (unidirectional only): autoregressive decoders, whose input at step t depends
  // on their output at step t - 1. step_forward(t) runs step t of every layer from x_t (B, input)
  // (states from step t - 1, zero at t = 0; steps in order from 0) and returns the top layer's
  // h_t (B, hidden), kept in the cache; the same bits as forward over the whole sequence. Backward:
  // step_backward for t = T-1 down to 0 (dy_t: the gradient of h_t from outside, dx_t (B, input)
  // written if not null), then step_backward_end: the weight gradients of all steps, one product
  // each (accumulated, or overwritten with ctx.accumulate = false).
  const T* step_forward(const ParamSet<T>& ps, Cache& c, std::size_t t, const T* x_t, std::size_t T_,
                        std::size_t B, const RunCtx& ctx) const;
  void step_backward(const ParamSet<T>& ps, Cache& c, std::size_t t, std::size_t T_, const T* dy_t, T* dx_t,
                     std::size_t B, const RunCtx& ctx) const;
  void step_backward_end(const ParamSet<T>& ps, T* grads, Cache& c, std::size_t T_, std::size_t B,
                         const RunCtx& ctx) const;

  // ---- streaming (unidirectional only) -----------------------------------------------------
  std::size_t state_size(std::size_t B) const { return layers * B * hidden * (cell == Cell::lstm ? 2 : 1); }
  StepScratch make_step_scratch(std::size_t max_batch) const;
  // One tick: x (B, input) enters the state (state_size(B) values, zero = fresh); returns the
  // last layer's new h (B, hidden), a pointer into the state. Allocates nothing.
  const T* step(const ParamSet<T>& ps, T* state, StepScratch& s, const T* x, std::size_t B, const RunCtx& ctx) const;

 private:
  // The context the products run under: ctx itself when it serves packed weights; otherwise
  // (float) the cache's fp32 packed copies of this layer's matrices, repacked when refresh is set.
  RunCtx products_ctx(const ParamSet<T>& ps, Cache& c, const RunCtx& ctx, bool refresh) const;
  // One step of one (layer, dir): hp = h_prev W_hh^T + b_hh, then the gate pass from xp (B, G).
  // Writes gates (B, G), h (B, hidden), c and tc (LSTM), hn (GRU). h may alias h_prev and c c_prev.
  void cell_step(const ParamSet<T>& ps, const Dir& d, const T* xp, const T* h_prev, const T* c_prev, T* hp,
                 T* gates, T* h, T* c, T* tc, T* hn, std::size_t B, const RunCtx& ctx) const;
  // The gate gradients of one step of B rows (float: the kernel table's fused pass; double: the
  // same equations): from the step's gates, c_prev and tc (LSTM) or h_prev and hn (GRU) and dh;
  // dc in: of c, out: of c_prev (LSTM). Writes gi and gh (GRU: they differ in the n gate; LSTM: gh
  // unused) and dz = dh z (GRU).
  void cell_backward(const T* gates, const T* c_prev, const T* tc, const T* h_prev, const T* hn, const T* dh, T* dc,
                     T* gi, T* gh, T* dz, std::size_t B) const;
};

}  // namespace ntn::nn
