// Layers: each a forward/backward pair over raw row-major buffers, parameters held by name in
// one ParamSet slab. Templated on the scalar type: float runs on the SIMD kernels and their
// fixed-order GEMM (bitwise the same on every ISA and thread count); double runs the same maths
// in double precision (dgemm, std:: functions) so that gradients can be checked by finite
// differences without f32 noise.
//
// Conventions: x (B, in) -> y (B, out); backward ACCUMULATES parameter gradients (+=) and
// WRITES dx (when dx != nullptr); zeroing gradients is explicit (ParamSet::zero_grad).
//
// Intended usage:
//   ntn::nn::ParamSet<float> ps;
//   ntn::nn::Linear<float> fc;
//   fc.declare(ps, "mlp.0", 168, 512);         // "mlp.0.weight" (512, 168), "mlp.0.bias" (512)
//   ps.finalize();                               // one aligned slab for values, one for grads
//   fc.init(ps, /*seed=*/1);                     // PyTorch's default U(-1/sqrt(in), 1/sqrt(in))
//   fc.forward(ps, x, y, B);
//   ps.zero_grad(); fc.backward(ps, ps.grads(), x, dy, dx, B);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "ntn/aligned.h"
#include "ntn/parallel.h"
#include "ntn/tensor.h"

namespace ntn::nn {

// ---- parameters ----------------------------------------------------------------------------
// What a parameter is, declared by the layer that adds it. Packing for serving, quantisation and
// weight decay select parameters by role, never by name.
enum class Role : std::uint8_t {
  linear_weight,     // (out, in) matrix of y = x W^T: packed for serving, quantisable
  recurrent_weight,  // (out, hidden) matrix of a recurrent step h W^T: packed, quantisable
  bias,              // added after a product
  embedding,         // (rows, dim) lookup table
  conv_kernel,       // (out, kernel * in) convolution taps, multiplied as a matrix: packed, quantisable
  norm_scale,        // layer/batch norm gain
  norm_shift,        // layer/batch norm offset
  other,             // anything else (e.g. a learned scalar)
};
const char* role_name(Role r);
// Matrices used in a product through the one linear entry point (Linear::forward): what serving
// packs and quantisation converts.
constexpr bool role_packed(Role r) {
  return r == Role::linear_weight || r == Role::recurrent_weight || r == Role::conv_kernel;
}
// Weight decay applies to these when it is limited to weights (OptimConfig::decay_on "weights"):
// matrices, kernels and embeddings; never biases or norm parameters.
constexpr bool role_is_weight(Role r) {
  return r == Role::linear_weight || r == Role::recurrent_weight || r == Role::embedding || r == Role::conv_kernel;
}

template <class T>
class ParamSet {
 public:
  static constexpr std::size_t npos = std::size_t(-1);
  struct Entry {
    std::string name;     // hierarchical, e.g. "stacks.0.blocks.0.mlp.1.weight"
    Shape shape;
    std::size_t offset;   // in elements, from the start of the slab (64-B aligned)
    std::size_t size;     // elements
    Role role;
    std::size_t bias = npos;  // packed roles: index of the bias added after the product, if any
    bool packed() const { return role_packed(role); }
  };

  // Declares a parameter (before finalize); returns its index. A packed-role parameter must be
  // 2-D (rows = outputs, columns = inputs).
  std::size_t add(std::string name, const Shape& shape, Role role);
  // Pairs a packed matrix with the bias its product adds (serving adds it in the packed kernel).
  void set_bias(std::size_t matrix, std::size_t bias);
  // Allocates the value slab, zero-filled. No add() afterwards. The gradient slab (same
  // layout, zero-filled) is allocated on first use of grads() / grad() / zero_grad(), so a model
  // loaded only to forecast never holds one. That first use must not race with another thread.
  void finalize();
  bool finalized() const { return !values_.empty() || shared_ || entries_.empty(); }

  std::size_t offset(std::size_t i) const { return entries_[i].offset; }
  T* value(std::size_t i) { return values() + entries_[i].offset; }
  const T* value(std::size_t i) const { return values() + entries_[i].offset; }
  T* grad(std::size_t i) { return grad_slab() + entries_[i].offset; }
  const T* grad(std::size_t i) const { return grad_slab() + entries_[i].offset; }
  T* values() { return shared_ ? shared_ : values_.as<T>(); }
  T* grads() { return grad_slab(); }
  const T* values() const { return shared_ ? shared_ : values_.as<T>(); }
  std::size_t slab_size() const { return slab_; }      // elements including alignment gaps
  std::size_t count() const;                            // parameters (elements), no gaps
  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t index_of(const std::string& name) const;  // throws naming the parameter
  void zero_grad();
  // Serving from an artifact: the packed-role matrices were not copied into values() (they stay
  // zero; their packed copy serves). A product that reads them from values() is then an error,
  // never a silent forecast from zeros (Linear::forward checks).
  void set_matrices_elsewhere(bool v) { matrices_elsewhere_ = v; }
  // A model built inside another (an ensemble's member): after finalize, its values live in the
  // owner's slab from `values` on, laid out exactly as this set's (the owner declared the same
  // entries in order, so every offset matches); its own slab is released.
  void share_values(T* values);
  bool matrices_elsewhere() const { return matrices_elsewhere_; }
  // Mixed-precision training: every Linear product of these parameters (forward, weight and input
  // gradients) runs in bf16_gemm (bfloat16 operands, fp32 chains, kernels.h) while the values,
  // gradients and optimizer state stay fp32. Needs bf16_gemm_available(); Model::set_bf16_products.
  void set_bf16_products(bool v) { bf16_products_ = v; }
  bool bf16_products() const { return bf16_products_; }

 private:
  T* grad_slab() const;
  bool matrices_elsewhere_ = false;
  bool bf16_products_ = false;
  T* shared_ = nullptr;  // share_values: the owner's slab
  std::vector<Entry> entries_;
  std::unordered_set<std::string> names_;  // duplicate check in O(1) per declaration
  std::size_t slab_ = 0;
  AlignedBuffer values_;
  mutable AlignedBuffer grads_;
};

// ---- activations ---------------------------------------------------------------------------
enum class Act { identity, relu, gelu, tanh, sigmoid, softplus, silu };
Act parse_act(const std::string& name);  // "relu" | "ReLU" | "gelu" | ... (case-insensitive)
const char* act_name(Act a);

template <class T>
void act_forward(Act a, const T* x, T* y, std::size_t n);
// dx = dy * f'(x); needs x and y = f(x) (each activation reads the cheaper one). dx may alias dy.
template <class T>
void act_backward(Act a, const T* x, const T* y, const T* dy, T* dx, std::size_t n);

// ---- matrix product, row-major: C (M, N) = s op(A) op(B) (+ C if accumulate), s = -1 if neg ----
// float: the fixed-order GEMM of the kernel table (ntn/kernels.h, GemmArgs): each element one FMA
// chain over k in order, started from C when accumulating and negated after the chain, so the
// result is bitwise the same on every ISA and thread count; rows are split across the threads
// for large products. double: OpenBLAS dgemm (finite-difference checks only; no bits promised).
template <class T>
void matmul(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const T* A, std::size_t lda, const T* B,
            std::size_t ldb, T* C, std::size_t ldc, bool accumulate = false, bool neg = false);

// ---- Linear: y = x W^T + b, W (out, in), b (out) ---------------------------------------------
//   dW += dy^T x,  db += sum_b dy,  dx = dy W
template <class T>
struct Linear;

// Inference hook: runs a Linear (or any product declared through Linear) from packed weights
// (fp32 / fp16 / int8, src/infer). One object per thread (it may keep scratch).
// x (B, l.in) -> y (B, l.out).
class PackedLinears {
 public:
  virtual ~PackedLinears() = default;
  virtual void run(const Linear<float>& l, const float* x, float* y, std::size_t B) = 0;
};

// Per-call context: training enables dropout; the mask of element j of batch row r is drawn
// from counter (step << 40) + (row0 + r) * width + j, so it does not depend on how a batch is
// split into micro-batches or threads.
struct RunCtx {
  bool training = false;
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  std::uint64_t row0 = 0;  // global index of this call's first row within the logical batch
  // backward: false = overwrite the parameter gradients instead of adding to them (the caller
  // then need not zero its gradient slab).
  bool accumulate = true;
  // Inference: when set, every Linear<float>::forward runs through it (the packed weights of a
  // served model); layers then keep nothing for backward and no backward may follow.
  PackedLinears* packed = nullptr;
  // backward: when set, a model may call it with slab ranges [lo, hi) whose gradients this call
  // has finished writing, as they finish (data-parallel training starts exchanging them while
  // the rest of the backward runs). Optional: whatever is not reported is final on return.
  FunctionRef<void(std::size_t, std::size_t)>* grads_final = nullptr;
};

// The one linear entry point: every matrix product of a layer with weights goes through
// Linear::forward, which serves the packed copy when ctx.packed is set.
template <class T>
struct Linear {
  std::size_t in = 0, out = 0;
  std::size_t w = 0, b = 0;  // parameter indices
  bool has_bias = true;

  // role: Role::linear_weight, Role::recurrent_weight for a recurrent step's matrix, or
  // Role::conv_kernel for a convolution's gathered taps (CausalConv1d, ntn/conv.h).
  void declare(ParamSet<T>& ps, const std::string& prefix, std::size_t in, std::size_t out, bool bias = true,
               Role role = Role::linear_weight);
  // PyTorch's default: W and b ~ U(-1/sqrt(in), 1/sqrt(in)), from the stream of each name.
  void init(ParamSet<T>& ps, std::uint64_t seed) const;
  // y (B, out) from x (B, in); through ctx.packed when it is set (float only).
  void forward(const ParamSet<T>& ps, const T* x, T* y, std::size_t B, const RunCtx& ctx = {}) const;
  // Accumulates into `grads`, a slab laid out like ps (ps.grads() or a thread's own slab); with
  // accumulate = false it overwrites them instead (saves zeroing the slab first).
  void backward(const ParamSet<T>& ps, T* grads, const T* x, const T* dy, T* dx, std::size_t B,
                bool accumulate = true) const;
};

// ---- LayerNorm over the last dimension (PyTorch nn.LayerNorm(dim), eps 1e-5) ------------------
//   xh = (x - mean) rstd,  rstd = 1 / sqrt(var + eps),  y = xh gamma + beta
//   dgamma += sum_rows dy xh,  dbeta += sum_rows dy,  dx = rstd (g - mean(g) - xh mean(g xh)), g = dy gamma
// Parameters "<prefix>.weight" (Role::norm_scale, init 1) and "<prefix>.bias" (Role::norm_shift, 0).
template <class T>
struct LayerNorm {
  std::size_t dim = 0;
  std::size_t g = 0, b = 0;  // parameter indices
  float eps = 1e-5f;

  void declare(ParamSet<T>& ps, const std::string& prefix, std::size_t dim);
  void init(ParamSet<T>& ps) const;
  // y (rows, dim) from x; writes mean and rstd (rows), which backward reads.
  void forward(const ParamSet<T>& ps, const T* x, T* y, std::size_t rows, T* mean, T* rstd) const;
  // Accumulates (accumulate = false: overwrites) dgamma / dbeta; writes dx, which must not alias x.
  void backward(const ParamSet<T>& ps, T* grads, const T* x, const T* dy, T* dx, std::size_t rows, const T* mean,
                const T* rstd, bool accumulate = true) const;
};

// ---- Dropout (inverted): y = x * m / (1 - p), m ~ Bernoulli(1 - p) from Philox(seed, stream,
// counter + i); the mask is a pure function of (seed, stream, counter), so backward recomputes it.
template <class T>
void dropout_forward(const T* x, T* y, std::size_t n, float p, std::uint64_t seed, std::uint64_t stream,
                     std::uint64_t counter);
template <class T>
void dropout_backward(const T* dy, T* dx, std::size_t n, float p, std::uint64_t seed, std::uint64_t stream,
                      std::uint64_t counter);

// ---- 1-D pooling, kernel k = stride, ceil mode (PyTorch MaxPool1d / AvgPool1d with
// kernel_size = stride = k, ceil_mode=True): out = ceil(L / k); the last window may be partial
// (average over the elements it covers).
enum class Pool { max, avg };
Pool parse_pool(const std::string& name);  // "max" | "MaxPool1d" | "avg" | "AvgPool1d"
inline std::size_t pooled_length(std::size_t L, std::size_t k) { return (L + k - 1) / k; }
template <class T>
void pool1d_forward(Pool mode, const T* x, T* y, std::size_t B, std::size_t L, std::size_t k);
// dx written (not accumulated). Max routes the gradient to the first maximum of each window.
template <class T>
void pool1d_backward(Pool mode, const T* x, const T* dy, T* dx, std::size_t B, std::size_t L, std::size_t k);

// ---- 1-D interpolation from n knots to m points (PyTorch F.interpolate, align_corners=False) --
enum class Interp { linear, nearest };
Interp parse_interp(const std::string& name);
// The taps of one interpolation from n knots to m points, computed once (a model keeps those of
// its blocks): output j = (1 - w1[j]) x[i0[j]] + w1[j] x[i1[j]].
struct InterpTaps {
  std::size_t n = 0, m = 0;
  std::vector<std::size_t> i0, i1;
  std::vector<double> w1;
};
InterpTaps interp_taps(Interp mode, std::size_t n, std::size_t m);
template <class T>
void interp1d_forward(const InterpTaps& t, const T* x, T* y, std::size_t B);
// dx written (not accumulated).
template <class T>
void interp1d_backward(const InterpTaps& t, const T* dy, T* dx, std::size_t B);

}  // namespace ntn::nn
