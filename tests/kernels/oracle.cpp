// The accuracy oracle of the kernel tests: the plain definition of every op, written for clarity
// and independently of the shared kernel bodies (which every ISA table, the scalar one included,
// runs). Reductions accumulate in double and activations call the C library, so the oracle is at
// least as accurate as any table; the tests compare every table with it within tolerances, and
// the tables with each other bitwise. The dense kernels and the GEMM are defined here by their
// exact FMA chains, so those comparisons are bitwise too.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "ntn/kernels.h"

namespace ntn::test {
namespace oracle_impl {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

void f32_add(const float* a, const float* b, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void f32_sub(const float* a, const float* b, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] - b[i];
}
void f32_mul(const float* a, const float* b, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
void f32_axpy(float alpha, const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = alpha * x[i] + y[i];
}
void f32_scale(float alpha, const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}
void f32_fma(const float* a, const float* b, const float* c, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] * b[i] + c[i];
}

// ---- activations ----------------------------------------------------------------------------
float relu(float x) { return x < 0.0f ? 0.0f : x; }  // NaN < 0 is false: NaN propagates
float phi_cdf(float x) { return 0.5f * std::erfc(-x * 0.70710678118654752f); }
float gelu(float x) { return std::isinf(x) ? (x > 0 ? x : 0.0f) : x * phi_cdf(x); }
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
float silu(float x) { return x == -std::numeric_limits<float>::infinity() ? 0.0f : x * sigmoid(x); }

void f32_relu(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = relu(x[i]);
}
void f32_relu_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}
void f32_gelu(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = gelu(x[i]);
}
void f32_gelu_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float pdf = 0.39894228040143268f * std::exp(-0.5f * x[i] * x[i]);
    dx[i] = dy[i] * (phi_cdf(x[i]) + x[i] * pdf);
  }
}
void f32_tanh(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void f32_tanh_bwd(const float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
void f32_sigmoid(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
}
void f32_sigmoid_bwd(const float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
void f32_softplus(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = softplus(x[i]);
}
void f32_softplus_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (x[i] > 20.0f ? 1.0f : sigmoid(x[i]));
}
void f32_silu(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = silu(x[i]);
}
void f32_silu_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float s = sigmoid(x[i]);
    dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

// ---- reductions -----------------------------------------------------------------------------
float f32_sum(const float* x, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  return float(s);
}
float f32_mean(const float* x, std::size_t n) {
  if (n == 0) return kNaN;
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  return float(s / double(n));
}
float f32_var_around(const float* x, std::size_t n, float mean) {
  if (n == 0) return kNaN;
  double s = 0.0, q = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - double(mean);
    s += d;
    q += d * d;
  }
  const double v = (q - s * s / double(n)) / double(n);
  return float(v < 0.0 ? 0.0 : v);
}
float f32_variance(const float* x, std::size_t n, int ddof) {
  if (n == 0 || std::size_t(ddof) >= n) return kNaN;
  double mean = 0.0;
  for (std::size_t i = 0; i < n; ++i) mean += x[i];
  mean /= double(n);
  double s = 0.0, q = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - mean;
    s += d;
    q += d * d;
  }
  const double v = (q - s * s / double(n)) / double(n - std::size_t(ddof));
  return float(v < 0.0 ? 0.0 : v);
}
float f32_min(const float* x, std::size_t n) {
  float m = std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return kNaN;
    if (x[i] < m) m = x[i];
  }
  return m;
}
float f32_max(const float* x, std::size_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return kNaN;
    if (x[i] > m) m = x[i];
  }
  return m;
}
float f32_dot(const float* a, const float* b, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
  return float(s);
}
float f32_sqnorm(const float* x, std::size_t n) { return f32_dot(x, x, n); }

// ---- row-wise -------------------------------------------------------------------------------
void f32_softmax(const float* x, float* y, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float mx = f32_max(xr, cols);
    double s = 0.0;
    for (std::size_t i = 0; i < cols; ++i) s += (yr[i] = std::exp(xr[i] - mx));
    const float inv = float(1.0 / s);
    for (std::size_t i = 0; i < cols; ++i) yr[i] *= inv;
  }
}
void f32_softmax_bwd(const float* y, const float* dy, float* dx, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float s = f32_dot(y + r * cols, dy + r * cols, cols);
    for (std::size_t i = 0; i < cols; ++i) dx[r * cols + i] = y[r * cols + i] * (dy[r * cols + i] - s);
  }
}
void f32_layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                   float* rstd, std::size_t rows, std::size_t cols, float eps) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float mu = f32_mean(xr, cols);
    const float rs = 1.0f / std::sqrt(f32_var_around(xr, cols, mu) + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (std::size_t i = 0; i < cols; ++i) y[r * cols + i] = (xr[i] - mu) * rs * gamma[i] + beta[i];
  }
}
void f32_layernorm_bwd(const float* x, const float* dy, const float* gamma, const float* mean,
                       const float* rstd, float* dx, float* dgamma, float* dbeta, std::size_t rows,
                       std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* gr = dy + r * cols;
    double sg = 0.0, sgx = 0.0;
    for (std::size_t i = 0; i < cols; ++i) {
      const float xh = (xr[i] - mean[r]) * rstd[r];
      const float g = gr[i] * gamma[i];
      sg += g;
      sgx += double(g) * xh;
      dgamma[i] += gr[i] * xh;
      dbeta[i] += gr[i];
    }
    const float mg = float(sg / double(cols)), mgx = float(sgx / double(cols));
    for (std::size_t i = 0; i < cols; ++i) {
      const float xh = (xr[i] - mean[r]) * rstd[r];
      dx[r * cols + i] = rstd[r] * (gr[i] * gamma[i] - mg - xh * mgx);
    }
  }
}

// ---- normalisation --------------------------------------------------------------------------
void f32_normalize(const float* x, float* y, std::size_t n, float center, float scale) {
  const float inv = 1.0f / scale;
  for (std::size_t i = 0; i < n; ++i) y[i] = (x[i] - center) * inv;
}
void f32_denormalize(const float* y, float* x, std::size_t n, float center, float scale) {
  for (std::size_t i = 0; i < n; ++i) x[i] = y[i] * scale + center;
}
void f64_normalize(const double* x, double* y, std::size_t n, double center, double scale) {
  const double inv = 1.0 / scale;
  for (std::size_t i = 0; i < n; ++i) y[i] = (x[i] - center) * inv;
}
void f64_denormalize(const double* y, double* x, std::size_t n, double center, double scale) {
  for (std::size_t i = 0; i < n; ++i) x[i] = y[i] * scale + center;
}
double f64_sum(const double* x, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  return s;
}
double f64_var_around(const double* x, std::size_t n, double mean) {
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  double s = 0.0, q = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    s += d;
    q += d * d;
  }
  const double v = (q - s * s / double(n)) / double(n);
  return v < 0.0 ? 0.0 : v;
}
void f64_minmax(const double* x, std::size_t n, double* mn, double* mx) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) {
      *mn = *mx = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  *mn = lo;
  *mx = hi;
}

// ---- losses ---------------------------------------------------------------------------------
float f32_mse(const float* pred, const float* target, float* grad, std::size_t n) {
  if (n == 0) return kNaN;
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const float d = pred[i] - target[i];
    s += double(d) * d;
    if (grad) grad[i] = 2.0f * d / float(n);
  }
  return float(s / double(n));
}
float f32_mae(const float* pred, const float* target, float* grad, std::size_t n) {
  if (n == 0) return kNaN;
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const float d = pred[i] - target[i];
    s += std::fabs(d);
    if (grad) grad[i] = (d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : d * 0.0f) / float(n);
  }
  return float(s / double(n));
}
float f32_huber(const float* pred, const float* target, float* grad, std::size_t n, float delta) {
  if (n == 0) return kNaN;
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const float d = pred[i] - target[i];
    const float a = std::fabs(d);
    s += a < delta ? 0.5 * double(d) * d : double(delta) * (a - 0.5 * double(delta));
    if (grad) grad[i] = (std::isnan(d) ? d : d < -delta ? -delta : d > delta ? delta : d) / float(n);
  }
  return float(s / double(n));
}

// ---- optimizer ------------------------------------------------------------------------------
void f32_adam(float* p, const float* g, float* m, float* v, std::size_t n, float step_size, float b1, float b2,
              float eps, float inv_sqrt_bc2, float l2, float decoupled) {
  for (std::size_t i = 0; i < n; ++i) {
    const float gi = g[i] + l2 * p[i];
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    const float denom = std::sqrt(v[i]) * inv_sqrt_bc2 + eps;
    p[i] = p[i] * (1.0f - decoupled) - step_size * m[i] / denom;
  }
}

// ---- packed dense layers (the definition the SIMD kernels reproduce bitwise) ---------------
// w(o, k): the stored weight of output o, input k (the packing's index).
template <class Weight, class Widen>
void dense_ref(std::size_t M, std::size_t K, const float* x, std::size_t ldx, std::size_t B, const float* bias,
               float* y, std::size_t ldy, Weight w, Widen widen) {
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t o = 0; o < M; ++o) {
      float acc = 0.0f;
      for (std::size_t k = 0; k < K; ++k) acc = std::fma(widen(w(o, k)), x[b * ldx + k], acc);
      y[b * ldy + o] = bias ? acc + bias[o] : acc;
    }
}

template <class Wt>
auto panel_at(const Wt* packed, std::size_t K) {  // f32 / fp16 panels
  return [=](std::size_t o, std::size_t k) {
    return packed[o / kDensePanel * K * kDensePanel + k * kDensePanel + o % kDensePanel];
  };
}

void f32_dense(const float* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx, std::size_t B,
               const float* bias, float* y, std::size_t ldy) {
  dense_ref(M, K, x, ldx, B, bias, y, ldy, panel_at(packed, K), [](float w) { return w; });
}

void f16_dense(const std::uint16_t* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
               std::size_t B, const float* bias, float* y, std::size_t ldy) {
  dense_ref(M, K, x, ldx, B, bias, y, ldy, panel_at(packed, K), f16_to_f32);
}

void bf16_dense(const std::uint16_t* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                std::size_t B, const float* bias, float* y, std::size_t ldy) {
  const std::size_t K2 = bf16_padded_k(K);
  const auto pair_at = [=](std::size_t o, std::size_t k) {
    return packed[o / kDensePanel * K2 * kDensePanel + k / 2 * 2 * kDensePanel + o % kDensePanel * 2 + k % 2];
  };
  dense_ref(M, K, x, ldx, B, bias, y, ldy, pair_at, bf16_to_f32);
}

float f32_quantize_i8(const float* x, std::size_t K, std::int8_t* q, std::size_t Kp) {
  float amax = 0.0f;
  for (std::size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  if (!(amax > 0.0f)) {
    std::fill(q, q + Kp, std::int8_t(0));
    return 0.0f;
  }
  const float inv = 127.0f / amax;
  for (std::size_t k = 0; k < K; ++k)
    q[k] = std::int8_t(std::clamp(std::nearbyint(x[k] * inv), -127.0f, 127.0f));
  std::fill(q + K, q + Kp, std::int8_t(0));
  return amax / 127.0f;
}

void i8_dense(const std::int8_t* packed, const float* ws, const std::int32_t* /*w_sum*/, std::size_t M, std::size_t Kp,
              const std::int8_t* xq, std::size_t ldq, const float* xs, std::size_t B, const float* bias, float* y,
              std::size_t ldy) {
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t o = 0; o < M; ++o) {
      const std::size_t p = o / kDensePanel, g = p / kI8Group;
      const std::size_t G = std::min(kI8Group, dense_panels(M) - g * kI8Group);  // panels of p's group
      const std::int8_t* w =
          packed + g * kI8Group * Kp * kDensePanel + p % kI8Group * 4 * kDensePanel + o % kDensePanel * 4;
      std::int32_t acc = 0;
      for (std::size_t k = 0; k < Kp; ++k)
        acc += std::int32_t(w[k / 4 * G * 4 * kDensePanel + k % 4]) * xq[b * ldq + k];
      const float f = float(acc) * (xs[b] * ws[o]);
      y[b * ldy + o] = bias ? f + bias[o] : f;
    }
}

// The GEMM contract, literally: one chain per element in k order, then negation and bias.
void f32_gemm(const GemmArgs& g) {
  for (std::size_t i = 0; i < g.M; ++i)
    for (std::size_t j = 0; j < g.N; ++j) {
      float* c = g.C + i * g.c_rs + j * g.c_cs;
      float acc = g.accumulate ? *c : 0.0f;
      for (std::size_t k = 0; k < g.K; ++k) acc = std::fma(g.A[i * g.a_rs + k * g.a_cs], g.B[k * g.b_rs + j * g.b_cs], acc);
      if (g.neg) acc = -acc;
      if (g.bias) acc += g.bias[g.bias_per_row ? i : j];
      *c = acc;
    }
}

constexpr std::size_t kProbeAcc = 4;  // scalar: 4 independent chains (no FMA without -mfma)
float fma_peak_probe(std::size_t iters) {
  float acc[kProbeAcc] = {0.0f, 1e-3f, 2e-3f, 3e-3f};
  for (std::size_t it = 0; it < iters; ++it)
    for (std::size_t j = 0; j < kProbeAcc; ++j) acc[j] = acc[j] * 0.999999f + 1e-7f;
  return acc[0] + acc[1] + acc[2] + acc[3];
}

constexpr KernelTable kTable = {
    Isa::scalar,
    f32_add, f32_sub, f32_mul, f32_axpy, f32_scale, f32_fma,
    f32_relu, f32_relu_bwd, f32_gelu, f32_gelu_bwd, f32_tanh, f32_tanh_bwd,
    f32_sigmoid, f32_sigmoid_bwd, f32_softplus, f32_softplus_bwd, f32_silu, f32_silu_bwd,
    f32_softmax, f32_softmax_bwd, f32_layernorm, f32_layernorm_bwd,
    f32_sum, f32_mean, f32_variance, f32_min, f32_max, f32_dot, f32_sqnorm,
    f32_normalize, f32_denormalize, f64_normalize, f64_denormalize, f64_sum, f64_var_around,
    f32_var_around, f64_minmax,
    f32_mse, f32_mae, f32_huber,
    f32_adam,
    f32_dense, f16_dense, bf16_dense, f32_quantize_i8, i8_dense,
    f32_gemm,
    fma_peak_probe, kProbeAcc * 2,
    nullptr,  // read_probe: a measurement helper (checked on every ISA in tests/kernels/test_dense.cpp)
    // Recurrent cells: checked against the cell composed from Linear + sigmoid + tanh and across
    // ISAs in tests/nn/test_rnn.cpp.
    nullptr, nullptr, nullptr, nullptr,
    // Dropout: checked against Rng::block word by word on every ISA (tests/nn/test_layers.cpp);
    // fused attention and its backward: against the composed one and across ISAs
    // (tests/nn/test_attention.cpp).
    nullptr, nullptr, nullptr,
};

}  // namespace
}  // namespace oracle_impl

const KernelTable& oracle() { return oracle_impl::kTable; }

}  // namespace ntn::test
