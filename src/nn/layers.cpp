#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/nn.h"
#include "ntn/parallel.h"
#include "ntn/rng.h"

namespace ntn::nn {

// ---- ParamSet -------------------------------------------------------------------------------
constexpr std::size_t kMaxParamTensors = 1u << 16;

const char* role_name(Role r) {
  switch (r) {
    case Role::linear_weight: return "linear_weight";
    case Role::recurrent_weight: return "recurrent_weight";
    case Role::bias: return "bias";
    case Role::embedding: return "embedding";
    case Role::conv_kernel: return "conv_kernel";
    case Role::norm_scale: return "norm_scale";
    case Role::norm_shift: return "norm_shift";
    case Role::other: return "other";
  }
  return "?";
}

template <class T>
std::size_t ParamSet<T>::add(std::string name, const Shape& shape, Role role) {
  NTN_CHECK(values_.empty() && !shared_, "parameter '", name, "' declared after the parameter set was finalised");
  NTN_CHECK(entries_.size() < kMaxParamTensors, "the model would have more than ", kMaxParamTensors,
            " parameter tensors (at '", name, "'); lower the number of layers or blocks");
  NTN_CHECK(!role_packed(role) || shape.rank() == 2, "parameter '", name, "' has role ", role_name(role),
            " but shape ", shape.str(), " (a packed matrix is 2-D)");
  NTN_CHECK(names_.insert(name).second, "parameter '", name, "' declared twice");
  const std::size_t size = std::size_t(shape.numel());
  // Checked as parameters are declared, before the slab is allocated (README 'Limits').
  NTN_CHECK(size <= limits::kMaxParameters && slab_ + size <= limits::kMaxParameters, "the model would have more than ",
            limits::kMaxParameters, " parameters (at '", name, "' ", shape.str(),
            "); lower the widths, the window or the number of blocks");
  entries_.push_back({std::move(name), shape, slab_, size, role});
  slab_ += round_up(size, kAlign / sizeof(T));  // every parameter starts on a cache line
  return entries_.size() - 1;
}

template <class T>
void ParamSet<T>::set_bias(std::size_t matrix, std::size_t bias) {
  NTN_CHECK(matrix < entries_.size() && bias < entries_.size() && entries_[matrix].packed() &&
                entries_[bias].role == Role::bias && entries_[bias].size == std::size_t(entries_[matrix].shape[0]),
            "set_bias: parameter ", bias, " is not a bias of the ", matrix < entries_.size() ? entries_[matrix].name : "?",
            " matrix's rows");
  entries_[matrix].bias = bias;
}

template <class T>
void ParamSet<T>::finalize() {
  // Lazily mapped: a model loaded only to serve from packed weights never touches (or pays
  // for) the pages of its Linear weights.
  values_ = AlignedBuffer::zeroed(slab_ * sizeof(T));
}

template <class T>
void ParamSet<T>::share_values(T* values) {
  NTN_CHECK(values && reinterpret_cast<std::uintptr_t>(values) % kAlign == 0,
            "share_values: the owner's slab must start on a cache line");
  shared_ = values;
  values_ = AlignedBuffer{};
}

template <class T>
T* ParamSet<T>::grad_slab() const {
  if (grads_.bytes() == 0 && slab_ > 0) grads_ = AlignedBuffer::zeroed(slab_ * sizeof(T));
  return grads_.as<T>();
}

template <class T>
std::size_t ParamSet<T>::count() const {
  std::size_t n = 0;
  for (const Entry& e : entries_) n += e.size;
  return n;
}

template <class T>
std::size_t ParamSet<T>::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return i;
  throw Error(cat("no parameter named '", name, "'"));
}

template <class T>
void ParamSet<T>::zero_grad() {
  std::memset(grad_slab(), 0, slab_ * sizeof(T));
}

template class ParamSet<float>;
template class ParamSet<double>;

// ---- activations ----------------------------------------------------------------------------
Act parse_act(const std::string& name) {
  std::string s = name;
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (s == "identity" || s == "none") return Act::identity;
  if (s == "relu") return Act::relu;
  if (s == "gelu") return Act::gelu;
  if (s == "tanh") return Act::tanh;
  if (s == "sigmoid") return Act::sigmoid;
  if (s == "softplus") return Act::softplus;
  if (s == "silu" || s == "swish") return Act::silu;
  throw Error(cat("unknown activation '", name, "': expected relu, gelu, tanh, sigmoid, softplus, silu or identity"));
}

const char* act_name(Act a) {
  switch (a) {
    case Act::identity: return "identity";
    case Act::relu: return "relu";
    case Act::gelu: return "gelu";
    case Act::tanh: return "tanh";
    case Act::sigmoid: return "sigmoid";
    case Act::softplus: return "softplus";
    case Act::silu: return "silu";
  }
  return "?";
}

template <>
void act_forward<float>(Act a, const float* x, float* y, std::size_t n) {
  const KernelTable& k = kernels();
  switch (a) {
    case Act::identity:
      if (y != x) std::memcpy(y, x, n * sizeof(float));
      return;
    case Act::relu: return k.f32_relu(x, y, n);
    case Act::gelu: return k.f32_gelu(x, y, n);
    case Act::tanh: return k.f32_tanh(x, y, n);
    case Act::sigmoid: return k.f32_sigmoid(x, y, n);
    case Act::softplus: return k.f32_softplus(x, y, n);
    case Act::silu: return k.f32_silu(x, y, n);
  }
}

template <>
void act_backward<float>(Act a, const float* x, const float* y, const float* dy, float* dx, std::size_t n) {
  const KernelTable& k = kernels();
  switch (a) {
    case Act::identity:
      if (dx != dy) std::memcpy(dx, dy, n * sizeof(float));
      return;
    case Act::relu: return k.f32_relu_bwd(x, dy, dx, n);
    case Act::gelu: return k.f32_gelu_bwd(x, dy, dx, n);
    case Act::tanh: return k.f32_tanh_bwd(y, dy, dx, n);
    case Act::sigmoid: return k.f32_sigmoid_bwd(y, dy, dx, n);
    case Act::softplus: return k.f32_softplus_bwd(x, dy, dx, n);
    case Act::silu: return k.f32_silu_bwd(x, dy, dx, n);
  }
}

namespace {
double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double phi_d(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
}  // namespace

template <>
void act_forward<double>(Act a, const double* x, double* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i];
    switch (a) {
      case Act::identity: y[i] = v; break;
      case Act::relu: y[i] = v < 0 ? 0.0 : v; break;
      case Act::gelu: y[i] = v * phi_d(v); break;
      case Act::tanh: y[i] = std::tanh(v); break;
      case Act::sigmoid: y[i] = sigmoid_d(v); break;
      case Act::softplus: y[i] = v > 20.0 ? v : std::log1p(std::exp(v)); break;
      case Act::silu: y[i] = v * sigmoid_d(v); break;
    }
  }
}

template <>
void act_backward<double>(Act a, const double* x, const double* y, const double* dy, double* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i];
    double d = 1.0;
    switch (a) {
      case Act::identity: break;
      case Act::relu: d = v > 0 ? 1.0 : 0.0; break;
      case Act::gelu: d = phi_d(v) + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI); break;
      case Act::tanh: d = 1.0 - y[i] * y[i]; break;
      case Act::sigmoid: d = y[i] * (1.0 - y[i]); break;
      case Act::softplus: d = v > 20.0 ? 1.0 : sigmoid_d(v); break;
      case Act::silu: {
        const double s = sigmoid_d(v);
        d = s * (1.0 + v * (1.0 - s));
        break;
      }
    }
    dx[i] = dy[i] * d;
  }
}

// ---- matrix products ------------------------------------------------------------------------
namespace {
GemmArgs gemm_args(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                   const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate, bool neg) {
  GemmArgs g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.A = A;
  g.a_rs = ta ? 1 : lda;
  g.a_cs = ta ? lda : 1;
  g.B = B;
  g.b_rs = tb ? 1 : ldb;
  g.b_cs = tb ? ldb : 1;
  g.C = C;
  g.c_rs = ldc;
  g.c_cs = 1;
  g.accumulate = accumulate;
  g.neg = neg;
  return g;
}

// C^T = op(B)^T op(A)^T: the same elements with the same chains, rows and columns exchanged.
GemmArgs transposed(const GemmArgs& g) {
  GemmArgs t = g;
  t.M = g.N;
  t.N = g.M;
  t.A = g.B;
  t.a_rs = g.b_cs;
  t.a_cs = g.b_rs;
  t.B = g.A;
  t.b_rs = g.a_cs;
  t.b_cs = g.a_rs;
  t.c_rs = g.c_cs;
  t.c_cs = g.c_rs;
  t.bias_per_row = !g.bias_per_row;
  return t;
}

// Runs g with the rows of C split across the threads when the product is big enough to pay for
// it. Every element is its own chain, so the split never changes a bit.
// bf16: bf16_gemm (ParamSet::set_bf16_products), the same row split.
void gemm_parallel(const GemmArgs& g, bool bf16 = false) {
  const KernelTable& k = kernels();
  void (*gemm)(const GemmArgs&) = bf16 ? bf16_gemm : k.f32_gemm;
  const double flops = 2.0 * double(g.M) * double(g.N) * double(g.K);
  if (flops < 2e5 || num_threads() < 2) return gemm(g);
  parallel_for(g.M, 24, [&](std::size_t lo, std::size_t hi) {
    GemmArgs s = g;
    s.M = hi - lo;
    s.A = g.A + lo * g.a_rs;
    s.C = g.C + lo * g.c_rs;
    if (g.bias && g.bias_per_row) s.bias = g.bias + lo;
    gemm(s);
  });
}
}  // namespace

template <>
void matmul<float>(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                   const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate, bool neg) {
  const GemmArgs g = gemm_args(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate, neg);
  // The kernel reads B in place when its columns are contiguous and packs it otherwise: pick
  // the orientation that reads in place, or else the one whose packed operand is smaller.
  const GemmArgs t = transposed(g);
  const bool swap = g.b_cs != 1 && (t.b_cs == 1 || t.N < g.N);
  gemm_parallel(swap ? t : g);
}

template <>
void matmul<double>(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const double* A, std::size_t lda,
                    const double* B, std::size_t ldb, double* C, std::size_t ldc, bool accumulate, bool neg) {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(M),
              blasint(N), blasint(K), neg ? -1.0 : 1.0, A, blasint(lda), B, blasint(ldb), accumulate ? 1.0 : 0.0, C,
              blasint(ldc));
}

// ---- Linear ---------------------------------------------------------------------------------
template <class T>
void Linear<T>::declare(ParamSet<T>& ps, const std::string& prefix, std::size_t in_, std::size_t out_, bool bias,
                        Role role) {
  NTN_CHECK(role_packed(role), "linear '", prefix, "': role ", role_name(role), " is not a matrix role");
  in = in_;
  out = out_;
  has_bias = bias;
  w = ps.add(prefix + ".weight", Shape{std::int64_t(out), std::int64_t(in)}, role);
  if (bias) {
    b = ps.add(prefix + ".bias", Shape{std::int64_t(out)}, Role::bias);
    ps.set_bias(w, b);
  }
}

template <class T>
void Linear<T>::init(ParamSet<T>& ps, std::uint64_t seed) const {
  const float bound = 1.0f / std::sqrt(float(in));
  std::vector<float> tmp(in * out);
  fill_uniform(tmp.data(), tmp.size(), -bound, bound, seed, stream_id(ps.entries()[w].name));
  std::copy(tmp.begin(), tmp.end(), ps.value(w));
  if (has_bias) {
    fill_uniform(tmp.data(), out, -bound, bound, seed, stream_id(ps.entries()[b].name));
    std::copy(tmp.begin(), tmp.begin() + std::ptrdiff_t(out), ps.value(b));
  }
}

template <>
void Linear<float>::forward(const ParamSet<float>& ps, const float* x, float* y, std::size_t B,
                            const RunCtx& ctx) const {
  if (ctx.packed) {
    ctx.packed->run(*this, x, y, B);
    return;
  }
  NTN_CHECK(!ps.matrices_elsewhere(), "linear '", ps.entries()[w].name,
            "': the model is served from packed weights but this product was called without them (RunCtx::packed)");
  // y^T = W x^T + b (kernels.h, linear_forward_gemm): each y element is the packed dense
  // kernel's chain, so training forward == serving forward, bitwise.
  gemm_parallel(linear_forward_gemm(ps.value(w), x, has_bias ? ps.value(b) : nullptr, y, B, in, out),
                ps.bf16_products());
}

template <>
void Linear<double>::forward(const ParamSet<double>& ps, const double* x, double* y, std::size_t B,
                             const RunCtx&) const {
  if (has_bias) {
    const double* bias = ps.value(b);
    for (std::size_t r = 0; r < B; ++r) std::memcpy(y + r * out, bias, out * sizeof(double));
  }
  matmul<double>(false, true, B, out, in, x, in, ps.value(w), in, y, out, has_bias);
}

template <class T>
void Linear<T>::backward(const ParamSet<T>& ps, T* grads, const T* x, const T* dy, T* dx, std::size_t B,
                         bool accumulate) const {
  // Two independent products (kernels.h, linear_weight_grad_gemm / linear_input_grad_gemm):
  // dW (+)= dy^T x (out, in), a chain over the batch rows, and dx = dy W (B, in), a chain over
  // the outputs. With two or more threads they run as two concurrent tasks, else one after the
  // other (a product alone splits its rows over the threads when it is big enough).
  auto weight_grad = [&] {
    if constexpr (std::is_same_v<T, float>)
      gemm_parallel(linear_weight_grad_gemm(dy, x, grads + ps.offset(w), B, in, out, accumulate),
                    ps.bf16_products());
    else
      matmul<T>(true, false, out, in, B, dy, out, x, in, grads + ps.offset(w), in, accumulate);
    if (has_bias) {
      T* db = grads + ps.offset(b);
      if (!accumulate) std::fill(db, db + out, T(0));
      for (std::size_t r = 0; r < B; ++r)
        for (std::size_t j = 0; j < out; ++j) db[j] += dy[r * out + j];
    }
  };
  auto input_grad = [&] {
    if (!dx) return;
    if constexpr (std::is_same_v<T, float>)
      gemm_parallel(linear_input_grad_gemm(dy, ps.value(w), dx, B, in, out), ps.bf16_products());
    else
      matmul<T>(false, false, B, in, out, dy, out, ps.value(w), in, dx, in);
  };
  if (dx && num_threads() > 1) {
    parallel_chunks(2, [&](std::size_t task) { task == 0 ? weight_grad() : input_grad(); });
  } else {
    weight_grad();
    input_grad();
  }
}

template struct Linear<float>;
template struct Linear<double>;

// ---- Dropout --------------------------------------------------------------------------------
namespace {
// Keep-mask bit for element i: Philox word (counter + i) of the stream, compared with p. Each
// block of 4 words is computed once and serves its 4 elements (the same bits as one block per
// element, a quarter of the Philox rounds).
template <class F>
inline void for_each_keep(const Rng& rng, std::uint64_t counter, std::size_t n, std::uint32_t threshold, F f) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint64_t w = counter + i;
    const auto blk = rng.block(w >> 2);
    for (std::size_t j = w & 3; j < 4 && i < n; ++j, ++i) f(i, blk[j] >= threshold);
  }
}
std::uint32_t drop_threshold(float p) { return std::uint32_t(double(p) * 4294967296.0); }
}  // namespace

template <class T>
void dropout_forward(const T* x, T* y, std::size_t n, float p, std::uint64_t seed, std::uint64_t stream,
                     std::uint64_t counter) {
  NTN_CHECK(p >= 0.0f && p < 1.0f, "dropout probability ", p, " is outside [0, 1)");
  const std::uint32_t th = drop_threshold(p);
  const T scale = T(1) / (T(1) - T(p));
  if constexpr (std::is_same_v<T, float>) {  // the same words, W Philox blocks at once
    kernels().f32_dropout(x, y, n, th, scale, seed, stream, counter);
  } else {
    const Rng rng(seed, stream);
    for_each_keep(rng, counter, n, th, [&](std::size_t i, bool k) { y[i] = k ? x[i] * scale : T(0); });
  }
}

template <class T>
void dropout_backward(const T* dy, T* dx, std::size_t n, float p, std::uint64_t seed, std::uint64_t stream,
                      std::uint64_t counter) {
  const std::uint32_t th = drop_threshold(p);
  const T scale = T(1) / (T(1) - T(p));
  if constexpr (std::is_same_v<T, float>) {
    kernels().f32_dropout(dy, dx, n, th, scale, seed, stream, counter);
  } else {
    const Rng rng(seed, stream);
    for_each_keep(rng, counter, n, th, [&](std::size_t i, bool k) { dx[i] = k ? dy[i] * scale : T(0); });
  }
}

template void dropout_forward<float>(const float*, float*, std::size_t, float, std::uint64_t, std::uint64_t,
                                     std::uint64_t);
template void dropout_forward<double>(const double*, double*, std::size_t, float, std::uint64_t, std::uint64_t,
                                      std::uint64_t);
template void dropout_backward<float>(const float*, float*, std::size_t, float, std::uint64_t, std::uint64_t,
                                      std::uint64_t);
template void dropout_backward<double>(const double*, double*, std::size_t, float, std::uint64_t, std::uint64_t,
                                       std::uint64_t);

// ---- LayerNorm --------------------------------------------------------------------------------
template <class T>
void LayerNorm<T>::declare(ParamSet<T>& ps, const std::string& prefix, std::size_t dim_) {
  NTN_CHECK(dim_ > 0, "layer norm '", prefix, "': dimension must be positive");
  dim = dim_;
  g = ps.add(prefix + ".weight", Shape{std::int64_t(dim)}, Role::norm_scale);
  b = ps.add(prefix + ".bias", Shape{std::int64_t(dim)}, Role::norm_shift);
}

template <class T>
void LayerNorm<T>::init(ParamSet<T>& ps) const {
  std::fill(ps.value(g), ps.value(g) + dim, T(1));
  std::fill(ps.value(b), ps.value(b) + dim, T(0));
}

template <class T>
void LayerNorm<T>::forward(const ParamSet<T>& ps, const T* x, T* y, std::size_t rows, T* mean, T* rstd) const {
  if constexpr (std::is_same_v<T, float>) {
    kernels().f32_layernorm(x, ps.value(g), ps.value(b), y, mean, rstd, rows, dim, eps);
  } else {
    const T* gm = ps.value(g);
    const T* bt = ps.value(b);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* xr = x + r * dim;
      T mu = 0, var = 0;
      for (std::size_t i = 0; i < dim; ++i) mu += xr[i];
      mu /= T(dim);
      for (std::size_t i = 0; i < dim; ++i) var += (xr[i] - mu) * (xr[i] - mu);
      const T rs = T(1) / std::sqrt(var / T(dim) + T(eps));
      mean[r] = mu;
      rstd[r] = rs;
      for (std::size_t i = 0; i < dim; ++i) y[r * dim + i] = (xr[i] - mu) * rs * gm[i] + bt[i];
    }
  }
}

template <class T>
void LayerNorm<T>::backward(const ParamSet<T>& ps, T* grads, const T* x, const T* dy, T* dx, std::size_t rows,
                            const T* mean, const T* rstd, bool accumulate) const {
  T* dg = grads + ps.offset(g);
  T* db = grads + ps.offset(b);
  if (!accumulate) {
    std::fill(dg, dg + dim, T(0));
    std::fill(db, db + dim, T(0));
  }
  if constexpr (std::is_same_v<T, float>) {
    kernels().f32_layernorm_bwd(x, dy, ps.value(g), mean, rstd, dx, dg, db, rows, dim);
  } else {
    const T* gm = ps.value(g);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* xr = x + r * dim;
      const T* gr = dy + r * dim;
      T sg = 0, sgx = 0;
      for (std::size_t i = 0; i < dim; ++i) {
        const T xh = (xr[i] - mean[r]) * rstd[r], gi = gr[i] * gm[i];
        sg += gi;
        sgx += gi * xh;
        dg[i] += gr[i] * xh;
        db[i] += gr[i];
      }
      sg /= T(dim);
      sgx /= T(dim);
      for (std::size_t i = 0; i < dim; ++i) {
        const T xh = (xr[i] - mean[r]) * rstd[r];
        dx[r * dim + i] = rstd[r] * (gr[i] * gm[i] - sg - xh * sgx);
      }
    }
  }
}

template struct LayerNorm<float>;
template struct LayerNorm<double>;

// ---- pooling --------------------------------------------------------------------------------
Pool parse_pool(const std::string& name) {
  if (name == "max" || name == "MaxPool1d") return Pool::max;
  if (name == "avg" || name == "AvgPool1d") return Pool::avg;
  throw Error(cat("unknown pooling mode '", name, "': expected max (MaxPool1d) or avg (AvgPool1d)"));
}

template <class T>
void pool1d_forward(Pool mode, const T* x, T* y, std::size_t B, std::size_t L, std::size_t k) {
  const std::size_t P = pooled_length(L, k);
  auto pick = [](T acc, T v) { return (v > acc) | (v != v) ? v : acc; };  // max; a NaN wins (as PyTorch)
  if (mode == Pool::max && k == 2) {  // NHITS's usual kernel: one comparison per output, no inner loop
    for (std::size_t b = 0; b < B; ++b) {
      const T* xb = x + b * L;
      T* yb = y + b * P;
      for (std::size_t p = 0; p < L / 2; ++p) yb[p] = pick(xb[2 * p], xb[2 * p + 1]);
      if (L % 2) yb[P - 1] = xb[L - 1];
    }
    return;
  }
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t p = 0; p < P; ++p) {
      const T* w = x + b * L + p * k;
      const std::size_t len = std::min(k, L - p * k);
      T acc = w[0];
      if (mode == Pool::max) {  // branch-free: data-dependent branches mispredict
        for (std::size_t i = 1; i < len; ++i) acc = pick(acc, w[i]);
        y[b * P + p] = acc;
      } else {
        for (std::size_t i = 1; i < len; ++i) acc += w[i];
        y[b * P + p] = acc / T(len);
      }
    }
}

template <class T>
void pool1d_backward(Pool mode, const T* x, const T* dy, T* dx, std::size_t B, std::size_t L, std::size_t k) {
  const std::size_t P = pooled_length(L, k);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t p = 0; p < P; ++p) {
      const T* w = x + b * L + p * k;
      T* g = dx + b * L + p * k;
      const std::size_t len = std::min(k, L - p * k);
      const T d = dy[b * P + p];
      if (mode == Pool::max) {
        std::size_t arg = 0;
        for (std::size_t i = 1; i < len; ++i)
          if (w[i] > w[arg] || std::isnan(w[i])) arg = i;
        for (std::size_t i = 0; i < len; ++i) g[i] = i == arg ? d : T(0);
      } else {
        for (std::size_t i = 0; i < len; ++i) g[i] = d / T(len);
      }
    }
}

template void pool1d_forward<float>(Pool, const float*, float*, std::size_t, std::size_t, std::size_t);
template void pool1d_forward<double>(Pool, const double*, double*, std::size_t, std::size_t, std::size_t);
template void pool1d_backward<float>(Pool, const float*, const float*, float*, std::size_t, std::size_t, std::size_t);
template void pool1d_backward<double>(Pool, const double*, const double*, double*, std::size_t, std::size_t,
                                      std::size_t);

// ---- interpolation --------------------------------------------------------------------------
Interp parse_interp(const std::string& name) {
  if (name == "linear") return Interp::linear;
  if (name == "nearest") return Interp::nearest;
  throw Error(cat("unknown interpolation mode '", name, "': expected linear or nearest"));
}

// Source position of output j, PyTorch's rule for align_corners=False: (j + 0.5) n/m - 0.5,
// clamped at 0 (linear); floor(j n/m) (nearest).
InterpTaps interp_taps(Interp mode, std::size_t n, std::size_t m) {
  InterpTaps t;
  t.n = n;
  t.m = m;
  t.i0.resize(m);
  t.i1.resize(m);
  t.w1.resize(m);
  const double scale = double(n) / double(m);
  for (std::size_t j = 0; j < m; ++j) {
    if (mode == Interp::nearest) {
      t.i0[j] = t.i1[j] = std::min(std::size_t(std::floor(double(j) * scale)), n - 1);
      t.w1[j] = 0.0;
      continue;
    }
    double src = (double(j) + 0.5) * scale - 0.5;
    if (src < 0) src = 0;
    const std::size_t i0 = std::min(std::size_t(src), n - 1);
    t.i0[j] = i0;
    t.i1[j] = i0 + (i0 < n - 1 ? 1 : 0);
    t.w1[j] = src - double(i0);
  }
  return t;
}

template <class T>
void interp1d_forward(const InterpTaps& t, const T* x, T* y, std::size_t B) {
  const std::size_t n = t.n, m = t.m;
  for (std::size_t j = 0; j < m; ++j) {
    const T w1 = T(t.w1[j]), w0 = T(1) - w1;
    for (std::size_t b = 0; b < B; ++b) y[b * m + j] = w0 * x[b * n + t.i0[j]] + w1 * x[b * n + t.i1[j]];
  }
}

template <class T>
void interp1d_backward(const InterpTaps& t, const T* dy, T* dx, std::size_t B) {
  const std::size_t n = t.n, m = t.m;
  std::fill(dx, dx + B * n, T(0));
  for (std::size_t j = 0; j < m; ++j) {
    const T w1 = T(t.w1[j]), w0 = T(1) - w1;
    for (std::size_t b = 0; b < B; ++b) {
      dx[b * n + t.i0[j]] += w0 * dy[b * m + j];
      dx[b * n + t.i1[j]] += w1 * dy[b * m + j];
    }
  }
}

template void interp1d_forward<float>(const InterpTaps&, const float*, float*, std::size_t);
template void interp1d_forward<double>(const InterpTaps&, const double*, double*, std::size_t);
template void interp1d_backward<float>(const InterpTaps&, const float*, float*, std::size_t);
template void interp1d_backward<double>(const InterpTaps&, const double*, double*, std::size_t);

}  // namespace ntn::nn
