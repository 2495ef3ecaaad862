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
#include "ntn/tensor.h"

namespace ntn::nn {

// ---- parameters ----------------------------------------------------------------------------
template <class T>
class ParamSet {
 public:
  struct Entry {
    std::string name;     // hierarchical, e.g. "stacks.0.blocks.0.mlp.1.weight"
    Shape shape;
    std::size_t offset;   // in elements, from the start of the slab (64-B aligned)
    std::size_t size;     // elements
    bool decay;           // weight decay applies (weights yes, biases no)
    // A Linear layer's weight matrix (2-D, named "<layer>.weight"): what inference packs and
    // quantisation converts; its bias is "<layer>.bias".
    bool is_linear_weight() const {
      return shape.rank() == 2 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    }
  };

  // Declares a parameter (before finalize); returns its index.
  std::size_t add(std::string name, const Shape& shape, bool decay = true);
  // Allocates the value slab, zero-filled. No add() afterwards. The gradient slab (same
  // layout, zero-filled) is allocated on first use of grads() / grad() / zero_grad(), so a model
  // loaded only to forecast never holds one. That first use must not race with another thread.
  void finalize();
  bool finalized() const { return !values_.empty() || entries_.empty(); }

  std::size_t offset(std::size_t i) const { return entries_[i].offset; }
  T* value(std::size_t i) { return values_.as<T>() + entries_[i].offset; }
  const T* value(std::size_t i) const { return values_.as<T>() + entries_[i].offset; }
  T* grad(std::size_t i) { return grad_slab() + entries_[i].offset; }
  const T* grad(std::size_t i) const { return grad_slab() + entries_[i].offset; }
  T* values() { return values_.as<T>(); }
  T* grads() { return grad_slab(); }
  const T* values() const { return values_.as<T>(); }
  std::size_t slab_size() const { return slab_; }      // elements including alignment gaps
  std::size_t count() const;                            // parameters (elements), no gaps
  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t index_of(const std::string& name) const;  // throws naming the parameter
  void zero_grad();

 private:
  T* grad_slab() const;
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
struct Linear {
  std::size_t in = 0, out = 0;
  std::size_t w = 0, b = 0;  // parameter indices
  bool has_bias = true;

  void declare(ParamSet<T>& ps, const std::string& prefix, std::size_t in, std::size_t out, bool bias = true);
  // PyTorch's default: W and b ~ U(-1/sqrt(in), 1/sqrt(in)), from the stream of each name.
  void init(ParamSet<T>& ps, std::uint64_t seed) const;
  void forward(const ParamSet<T>& ps, const T* x, T* y, std::size_t B) const;
  // Accumulates into `grads`, a slab laid out like ps (ps.grads() or a thread's own slab); with
  // accumulate = false it overwrites them instead (saves zeroing the slab first).
  void backward(const ParamSet<T>& ps, T* grads, const T* x, const T* dy, T* dx, std::size_t B,
                bool accumulate = true) const;
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
template <class T>
void interp1d_forward(Interp mode, const T* x, T* y, std::size_t B, std::size_t n, std::size_t m);
// dx written (not accumulated).
template <class T>
void interp1d_backward(Interp mode, const T* dy, T* dx, std::size_t B, std::size_t n, std::size_t m);

}  // namespace ntn::nn
