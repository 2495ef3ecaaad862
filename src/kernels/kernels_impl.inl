// Kernel bodies shared by every SIMD ISA. Included inside namespace ntn::kern_<isa> after the
// ISA's simd_<isa>.inl, which defines F32 / F64 (vector type V, mask M, width W and the ops
// used below) and kIsa. Nothing here may include a header or use an inline function from std
// (its out-of-line copy would carry this TU's ISA flags and could be picked by the linker for
// code that runs on other CPUs); use the vector ops and __builtin_* only.

using V = F32::V;
using M = F32::M;
constexpr std::size_t W = F32::W;
constexpr float kInf = __builtin_inff();

inline V vset(float a) { return F32::set1(a); }
// cnt <= W lanes at p: plain vector access when whole, masked at a tail (masked stores are slow
// on some CPUs, so the main loops never issue them).
inline V vload(const float* p, std::size_t cnt, float fill) { return cnt == W ? F32::load(p) : F32::load_n(p, cnt, fill); }
inline F64::V vload64(const double* p, std::size_t cnt, double fill) {
  return cnt == std::size_t(F64::W) ? F64::load(p) : F64::load_n(p, cnt, fill);
}
inline void vstore(float* p, V v, std::size_t cnt) {
  if (cnt == W)
    F32::store(p, v);
  else
    F32::store_n(p, v, cnt);
}

// ---- maps with a masked tail (no scalar remainder loop) -------------------------------------
template <class Op>
inline void map1(const float* x, float* y, std::size_t n, Op op) {
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const V a = op(F32::load(x + i)), b = op(F32::load(x + i + W));
    F32::store(y + i, a);
    F32::store(y + i + W, b);
  }
  for (; i + W <= n; i += W) F32::store(y + i, op(F32::load(x + i)));
  if (i < n) F32::store_n(y + i, op(F32::load_n(x + i, n - i, 0.0f)), n - i);
}

template <class Op>
inline void map2(const float* a, const float* b, float* y, std::size_t n, Op op) {
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const V r0 = op(F32::load(a + i), F32::load(b + i));
    const V r1 = op(F32::load(a + i + W), F32::load(b + i + W));
    F32::store(y + i, r0);
    F32::store(y + i + W, r1);
  }
  for (; i + W <= n; i += W) F32::store(y + i, op(F32::load(a + i), F32::load(b + i)));
  if (i < n) {
    const std::size_t r = n - i;
    F32::store_n(y + i, op(F32::load_n(a + i, r, 0.0f), F32::load_n(b + i, r, 0.0f)), r);
  }
}

template <class Op>
inline void map3(const float* a, const float* b, const float* c, float* y, std::size_t n, Op op) {
  std::size_t i = 0;
  for (; i + W <= n; i += W) F32::store(y + i, op(F32::load(a + i), F32::load(b + i), F32::load(c + i)));
  if (i < n) {
    const std::size_t r = n - i;
    F32::store_n(y + i,
                 op(F32::load_n(a + i, r, 0.0f), F32::load_n(b + i, r, 0.0f), F32::load_n(c + i, r, 0.0f)),
                 r);
  }
}

// ---- vector maths (Cephes single-precision polynomials) -----------------------------------

// exp(x): relative error ~2 ulp; x < -87.34 gives 0, x > 88.37 gives +inf, NaN propagates.
// exp of N vectors in place, their chains interleaved op by op: one exp is a long dependent chain
// (~50 cycles), so side-by-side vectors keep the FP units busy where one at a time leaves them
// waiting. Every lane is computed exactly as v_exp computes it (same ops, same order).
template <std::size_t N>
inline void v_exp_n(V* x) {
  const V hi = vset(88.37f), lo = vset(-87.33654f);
  V t[N], fx[N], p[N];
  for (std::size_t k = 0; k < N; ++k) t[k] = F32::min(hi, F32::max(lo, x[k]));  // x second: NaN propagates
  for (std::size_t k = 0; k < N; ++k) fx[k] = F32::round(F32::mul(t[k], vset(1.44269504088896341f)));
  for (std::size_t k = 0; k < N; ++k) t[k] = F32::fnmadd(fx[k], vset(0.693359375f), t[k]);  // t - fx*ln2, ln2 split
  for (std::size_t k = 0; k < N; ++k) t[k] = F32::fnmadd(fx[k], vset(-2.12194440e-4f), t[k]);  // in two for accuracy
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(vset(1.9875691500e-4f), t[k], vset(1.3981999507e-3f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(8.3334519073e-3f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(4.1665795894e-2f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(1.6666665459e-1f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(5.0000001201e-1f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], F32::mul(t[k], t[k]), F32::add(t[k], vset(1.0f)));
  for (std::size_t k = 0; k < N; ++k) {
    V r = F32::mul(p[k], F32::pow2i(fx[k]));
    r = F32::select(F32::lt(x[k], lo), F32::zero(), r);
    x[k] = F32::select(F32::gt(x[k], hi), vset(kInf), r);
  }
}
inline V v_exp(V x) {
  v_exp_n<1>(&x);
  return x;
}

// log(x) for normal x > 0.
inline V v_log(V x) {
  V e;
  V m = F32::frexp(x, &e);  // x = m 2^e, m in [0.5, 1)
  const M small = F32::lt(m, vset(0.707106781186547524f));
  e = F32::sub(e, F32::select(small, vset(1.0f), F32::zero()));
  m = F32::sub(F32::add(m, F32::select(small, m, F32::zero())), vset(1.0f));  // in [-0.29, 0.41)
  const V z = F32::mul(m, m);
  V y = vset(7.0376836292e-2f);
  y = F32::fmadd(y, m, vset(-1.1514610310e-1f));
  y = F32::fmadd(y, m, vset(1.1676998740e-1f));
  y = F32::fmadd(y, m, vset(-1.2420140846e-1f));
  y = F32::fmadd(y, m, vset(1.4249322787e-1f));
  y = F32::fmadd(y, m, vset(-1.6668057665e-1f));
  y = F32::fmadd(y, m, vset(2.0000714765e-1f));
  y = F32::fmadd(y, m, vset(-2.4999993993e-1f));
  y = F32::fmadd(y, m, vset(3.3333331174e-1f));
  y = F32::mul(F32::mul(y, m), z);
  y = F32::fmadd(e, vset(-2.12194440e-4f), y);
  y = F32::fnmadd(z, vset(0.5f), y);
  return F32::fmadd(e, vset(0.693359375f), F32::add(m, y));
}

// log1p(u) for u in [0, 1], accurate for tiny u: log(w) * u / (w - 1) with w = 1 + u.
inline V v_log1p_unit(V u) {
  const V w = F32::add(vset(1.0f), u);
  const V d = F32::sub(w, vset(1.0f));
  const V r = F32::div(F32::mul(v_log(w), u), d);
  return F32::select(F32::eq(d, F32::zero()), u, r);
}

inline V v_sigmoid(V x) {
  return F32::div(vset(1.0f), F32::add(vset(1.0f), v_exp(F32::sub(F32::zero(), x))));
}

// tanh: odd polynomial for |x| < 0.625 (no cancellation near 0), else 1 - 2 / (exp(2|x|) + 1).
inline V v_tanh(V x) {
  const V ax = F32::abs(x);
  const V z = F32::mul(x, x);
  V p = vset(-5.70498872745e-3f);
  p = F32::fmadd(p, z, vset(2.06390887954e-2f));
  p = F32::fmadd(p, z, vset(-5.37397155531e-2f));
  p = F32::fmadd(p, z, vset(1.33314422036e-1f));
  p = F32::fmadd(p, z, vset(-3.33332819422e-1f));
  const V small = F32::fmadd(F32::mul(p, z), x, x);
  const V e = v_exp(F32::add(ax, ax));
  const V big = F32::copysign(F32::sub(vset(1.0f), F32::div(vset(2.0f), F32::add(e, vset(1.0f)))), x);
  return F32::select(F32::lt(ax, vset(0.625f)), small, big);
}

// Phi(x), the standard normal CDF, through erfc (Numerical Recipes' erfcc, relative error
// < 1.2e-7 in both tails): Phi(x) = erfc(-x / sqrt 2) / 2.
// N vectors in place, interleaved as v_exp_n.
template <std::size_t N>
inline void v_phi_n(V* x) {
  V t[N], p[N], z[N], e[N];
  for (std::size_t k = 0; k < N; ++k) z[k] = F32::mul(F32::abs(x[k]), vset(0.70710678118654752f));
  for (std::size_t k = 0; k < N; ++k) t[k] = F32::div(vset(1.0f), F32::fmadd(vset(0.5f), z[k], vset(1.0f)));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(vset(0.17087277f), t[k], vset(-0.82215223f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(1.48851587f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(-1.13520398f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(0.27886807f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(-0.18628806f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(0.09678418f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(0.37409196f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(1.00002368f));
  for (std::size_t k = 0; k < N; ++k) p[k] = F32::fmadd(p[k], t[k], vset(-1.26551223f));
  for (std::size_t k = 0; k < N; ++k) e[k] = F32::fnmadd(z[k], z[k], p[k]);
  v_exp_n<N>(e);
  for (std::size_t k = 0; k < N; ++k) {
    const V half_erfc = F32::mul(vset(0.5f), F32::mul(t[k], e[k]));  // erfc(z)/2
    x[k] = F32::select(F32::lt(x[k], F32::zero()), half_erfc, F32::sub(vset(1.0f), half_erfc));
  }
}
inline V v_phi(V x) {
  v_phi_n<1>(&x);
  return x;
}

inline V zero_at_neg_inf(V x, V y) { return F32::select(F32::eq(x, vset(-kInf)), F32::zero(), y); }

// ---- elementwise ----------------------------------------------------------------------------
void f32_add(const float* a, const float* b, float* out, std::size_t n) {
  map2(a, b, out, n, [](V x, V y) { return F32::add(x, y); });
}
void f32_sub(const float* a, const float* b, float* out, std::size_t n) {
  map2(a, b, out, n, [](V x, V y) { return F32::sub(x, y); });
}
void f32_mul(const float* a, const float* b, float* out, std::size_t n) {
  map2(a, b, out, n, [](V x, V y) { return F32::mul(x, y); });
}
void f32_axpy(float alpha, const float* x, float* y, std::size_t n) {
  const V va = vset(alpha);
  map2(x, y, y, n, [va](V xv, V yv) { return F32::fmadd(va, xv, yv); });
}
void f32_scale(float alpha, const float* x, float* y, std::size_t n) {
  const V va = vset(alpha);
  map1(x, y, n, [va](V xv) { return F32::mul(va, xv); });
}
void f32_fma(const float* a, const float* b, const float* c, float* out, std::size_t n) {
  map3(a, b, c, out, n, [](V x, V y, V z) { return F32::fmadd(x, y, z); });
}

// ---- activations ----------------------------------------------------------------------------
void f32_relu(const float* x, float* y, std::size_t n) {
  map1(x, y, n, [](V v) { return F32::max(F32::zero(), v); });  // v second: NaN propagates
}
void f32_relu_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  map2(x, dy, dx, n, [](V xv, V g) { return F32::select(F32::gt(xv, F32::zero()), g, F32::zero()); });
}
void f32_gelu(const float* x, float* y, std::size_t n) {
  constexpr std::size_t N = 4;  // vectors side by side (v_phi_n; 1.5x faster than one at a time, 8 is slower)
  std::size_t i = 0;
  for (; i + N * W <= n; i += N * W) {
    V v[N], ph[N];
    for (std::size_t k = 0; k < N; ++k) v[k] = ph[k] = F32::load(x + i + k * W);
    v_phi_n<N>(ph);
    for (std::size_t k = 0; k < N; ++k) F32::store(y + i + k * W, zero_at_neg_inf(v[k], F32::mul(v[k], ph[k])));
  }
  map1(x + i, y + i, n - i, [](V v) { return zero_at_neg_inf(v, F32::mul(v, v_phi(v))); });
}
// d/dx x Phi(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi).
void f32_gelu_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  constexpr std::size_t N = 4;  // vectors side by side, as f32_gelu
  std::size_t i = 0;
  for (; i + N * W <= n; i += N * W) {
    V v[N], ph[N], e[N];
    for (std::size_t k = 0; k < N; ++k) {
      v[k] = ph[k] = F32::load(x + i + k * W);
      e[k] = F32::mul(vset(-0.5f), F32::mul(v[k], v[k]));
    }
    v_exp_n<N>(e);
    v_phi_n<N>(ph);
    for (std::size_t k = 0; k < N; ++k) {
      const V pdf = F32::mul(vset(0.39894228040143268f), e[k]);
      F32::store(dx + i + k * W, F32::mul(F32::load(dy + i + k * W), F32::fmadd(v[k], pdf, ph[k])));
    }
  }
  map2(x + i, dy + i, dx + i, n - i, [](V v, V g) {
    const V pdf = F32::mul(vset(0.39894228040143268f), v_exp(F32::mul(vset(-0.5f), F32::mul(v, v))));
    return F32::mul(g, F32::fmadd(v, pdf, v_phi(v)));
  });
}
void f32_tanh(const float* x, float* y, std::size_t n) { map1(x, y, n, [](V v) { return v_tanh(v); }); }
// d tanh = 1 - y^2.
void f32_tanh_bwd(const float* y, const float* dy, float* dx, std::size_t n) {
  map2(y, dy, dx, n, [](V yv, V g) { return F32::mul(g, F32::fnmadd(yv, yv, vset(1.0f))); });
}
void f32_sigmoid(const float* x, float* y, std::size_t n) { map1(x, y, n, [](V v) { return v_sigmoid(v); }); }
// d sigmoid = y (1 - y).
void f32_sigmoid_bwd(const float* y, const float* dy, float* dx, std::size_t n) {
  map2(y, dy, dx, n, [](V yv, V g) { return F32::mul(g, F32::mul(yv, F32::sub(vset(1.0f), yv))); });
}
// softplus(x) = max(x, 0) + log1p(exp(-|x|)), = x above the threshold 20 (as PyTorch).
void f32_softplus(const float* x, float* y, std::size_t n) {
  map1(x, y, n, [](V v) {
    const V sp = F32::add(F32::max(F32::zero(), v), v_log1p_unit(v_exp(F32::sub(F32::zero(), F32::abs(v)))));
    return F32::select(F32::gt(v, vset(20.0f)), v, sp);
  });
}
void f32_softplus_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  map2(x, dy, dx, n, [](V v, V g) {
    return F32::mul(g, F32::select(F32::gt(v, vset(20.0f)), vset(1.0f), v_sigmoid(v)));
  });
}
void f32_silu(const float* x, float* y, std::size_t n) {
  map1(x, y, n, [](V v) { return zero_at_neg_inf(v, F32::mul(v, v_sigmoid(v))); });
}
// d silu = s (1 + x (1 - s)), s = sigmoid(x).
void f32_silu_bwd(const float* x, const float* dy, float* dx, std::size_t n) {
  map2(x, dy, dx, n, [](V v, V g) {
    const V s = v_sigmoid(v);
    return F32::mul(g, F32::mul(s, F32::fmadd(v, F32::sub(vset(1.0f), s), vset(1.0f))));
  });
}

// ---- canonical reductions ------------------------------------------------------------------
// Every reduction combines its elements in ONE order on every ISA (the scalar table included),
// so its result is bitwise the same whatever the vector width W: element i goes into partial
// i % P in index order (a vector of W lanes holds W consecutive partials, so there are P / W
// accumulators), then the P partials are folded in halves, p[j] = op(p[j], p[j + h]) for
// h = P/2, ..., 1: across accumulators while h >= W, then inside the vector (F32::hsum / hmax /
// hmin fold halves with the same (low, high) operand order). Lanes past n read a neutral fill
// (0 for sums: a partial that starts at +0 is never -0, so adding +0 leaves it unchanged).
// step(acc, i, cnt) folds elements [i, i + cnt) (cnt == W except at the end) into acc;
// merge(a, b) combines two partials.
template <std::size_t NA, class Acc, class Step, class Merge>
inline Acc reduce_canonical(std::size_t n, std::size_t w, Acc init, Step step, Merge merge) {
  Acc acc[NA];
  for (std::size_t a = 0; a < NA; ++a) acc[a] = init;
  std::size_t i = 0;
  for (; i + NA * w <= n; i += NA * w)
    for (std::size_t a = 0; a < NA; ++a) step(acc[a], i + a * w, w);
  for (std::size_t a = 0; i + a * w < n; ++a) {
    const std::size_t s = i + a * w;
    step(acc[a], s, n - s < w ? n - s : w);
  }
  for (std::size_t h = NA / 2; h > 0; h /= 2)
    for (std::size_t a = 0; a < h; ++a) acc[a] = merge(acc[a], acc[a + h]);
  return acc[0];
}

constexpr std::size_t kRedP = 64;  // f32 partials: 4 zmm, 8 ymm or 64 scalars
constexpr std::size_t kRedA = kRedP / W;
constexpr std::size_t kRedP64 = 32;  // f64 partials
constexpr std::size_t kRedA64 = kRedP64 / F64::W;
static_assert(kRedA >= 1 && kRedA * W == kRedP && kRedA64 * F64::W == kRedP64, "P must be a multiple of W");

inline V vadd(V a, V b) { return F32::add(a, b); }

// ---- reductions -----------------------------------------------------------------------------
float f32_sum(const float* x, std::size_t n) {
  const V s = reduce_canonical<kRedA>(
      n, W, F32::zero(), [x](V& a, std::size_t i, std::size_t c) { a = F32::add(a, vload(x + i, c, 0.0f)); }, vadd);
  return F32::hsum(s);
}

float f32_mean(const float* x, std::size_t n) { return n ? f32_sum(x, n) / float(n) : __builtin_nanf(""); }

// Sum of (x - m)^2 corrected by the rounding error of the mean (Chan, Golub, LeVeque 1983):
// var = (sum d^2 - (sum d)^2 / n) / n.
struct SumSq {
  V s, q;
};
float f32_var_around(const float* x, std::size_t n, float mean) {
  if (n == 0) return __builtin_nanf("");
  const V m = vset(mean);
  const SumSq r = reduce_canonical<kRedA>(
      n, W, SumSq{F32::zero(), F32::zero()},
      [x, m, mean](SumSq& a, std::size_t i, std::size_t c) {
        const V d = F32::sub(vload(x + i, c, mean), m);  // fill lanes contribute 0
        a.s = F32::add(a.s, d);
        a.q = F32::fmadd(d, d, a.q);
      },
      [](SumSq a, SumSq b) { return SumSq{F32::add(a.s, b.s), F32::add(a.q, b.q)}; });
  const float s = F32::hsum(r.s), q = F32::hsum(r.q);
  const float v = (q - s * s / float(n)) / float(n);
  return v < 0.0f ? 0.0f : v;
}

float f32_variance(const float* x, std::size_t n, int ddof) {
  if (n == 0 || std::size_t(ddof) >= n) return __builtin_nanf("");
  return f32_var_around(x, n, f32_mean(x, n)) * (float(n) / float(n - std::size_t(ddof)));
}

template <bool kMax>
inline float f32_extreme(const float* x, std::size_t n) {
  const float init = kMax ? -kInf : kInf;
  M nan = F32::mask_none();
  const V r = reduce_canonical<kRedA>(
      n, W, vset(init),
      [x, init, &nan](V& a, std::size_t i, std::size_t c) {
        const V v = vload(x + i, c, init);
        nan = F32::mask_or(nan, F32::unord(v, v));
        a = kMax ? F32::max(a, v) : F32::min(a, v);
      },
      [](V a, V b) { return kMax ? F32::max(a, b) : F32::min(a, b); });
  if (F32::any(nan)) return __builtin_nanf("");
  return kMax ? F32::hmax(r) : F32::hmin(r);
}
float f32_min(const float* x, std::size_t n) { return f32_extreme<false>(x, n); }
float f32_max(const float* x, std::size_t n) { return f32_extreme<true>(x, n); }

float f32_dot(const float* a, const float* b, std::size_t n) {
  const V s = reduce_canonical<kRedA>(
      n, W, F32::zero(),
      [a, b](V& acc, std::size_t i, std::size_t c) { acc = F32::fmadd(vload(a + i, c, 0.0f), vload(b + i, c, 0.0f), acc); },
      vadd);
  return F32::hsum(s);
}
float f32_sqnorm(const float* x, std::size_t n) { return f32_dot(x, x, n); }

// ---- row-wise ops ---------------------------------------------------------------------------
void f32_softmax(const float* x, float* y, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const V mx = vset(f32_max(xr, cols));
    // exp and its sum in one pass, in the canonical order of f32_sum (lanes past the row read
    // -inf: exp gives +0, the sum's neutral fill).
    const V s = reduce_canonical<kRedA>(
        cols, W, F32::zero(),
        [xr, yr, mx](V& a, std::size_t i, std::size_t c) {
          const V e = v_exp(F32::sub(vload(xr + i, c, -kInf), mx));
          vstore(yr + i, e, c);
          a = F32::add(a, e);
        },
        vadd);
    const V inv = vset(1.0f / F32::hsum(s));
    map1(yr, yr, cols, [inv](V v) { return F32::mul(v, inv); });
  }
}

void f32_softmax_bwd(const float* y, const float* dy, float* dx, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    const V s = vset(f32_dot(yr, gr, cols));
    map2(yr, gr, dx + r * cols, cols, [s](V yv, V g) { return F32::mul(yv, F32::sub(g, s)); });
  }
}

void f32_layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                   float* rstd, std::size_t rows, std::size_t cols, float eps) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float mu = f32_mean(xr, cols);
    const float rs = 1.0f / __builtin_sqrtf(f32_var_around(xr, cols, mu) + eps);
    mean[r] = mu;
    rstd[r] = rs;
    const V vm = vset(mu), vr = vset(rs);
    float* yr = y + r * cols;
    std::size_t i = 0;
    for (; i + W <= cols; i += W) {
      const V xh = F32::mul(F32::sub(F32::load(xr + i), vm), vr);
      F32::store(yr + i, F32::fmadd(xh, F32::load(gamma + i), F32::load(beta + i)));
    }
    if (i < cols) {
      const std::size_t k = cols - i;
      const V xh = F32::mul(F32::sub(F32::load_n(xr + i, k, 0.0f), vm), vr);
      F32::store_n(yr + i, F32::fmadd(xh, F32::load_n(gamma + i, k, 0.0f), F32::load_n(beta + i, k, 0.0f)), k);
    }
  }
}

// xh = (x - mean) rstd, g = dy gamma:
//   dx = rstd (g - mean(g) - xh mean(g xh)),  dgamma += dy xh,  dbeta += dy.
void f32_layernorm_bwd(const float* x, const float* dy, const float* gamma, const float* mean,
                       const float* rstd, float* dx, float* dgamma, float* dbeta, std::size_t rows,
                       std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* gr = dy + r * cols;
    float* dxr = dx + r * cols;
    const V vm = vset(mean[r]), vr = vset(rstd[r]);
    // sums of g and g xh in the canonical order; dgamma / dbeta are updated on the way.
    const SumSq sums = reduce_canonical<kRedA>(
        cols, W, SumSq{F32::zero(), F32::zero()},
        [=](SumSq& a, std::size_t i, std::size_t k) {
          const V xv = vload(xr + i, k, 0.0f), dyv = vload(gr + i, k, 0.0f);
          const V xh = F32::mul(F32::sub(xv, vm), vr);
          const V g = F32::mul(dyv, vload(gamma + i, k, 0.0f));  // 0 in unused lanes
          a.s = F32::add(a.s, g);
          a.q = F32::fmadd(g, xh, a.q);
          vstore(dgamma + i, F32::fmadd(dyv, xh, vload(dgamma + i, k, 0.0f)), k);
          vstore(dbeta + i, F32::add(dyv, vload(dbeta + i, k, 0.0f)), k);
        },
        [](SumSq a, SumSq b) { return SumSq{F32::add(a.s, b.s), F32::add(a.q, b.q)}; });
    const V mg = vset(F32::hsum(sums.s) / float(cols)), mgx = vset(F32::hsum(sums.q) / float(cols));
    for (std::size_t i = 0; i < cols; i += W) {
      const std::size_t k = cols - i < W ? cols - i : W;
      const V xh = F32::mul(F32::sub(vload(xr + i, k, 0.0f), vm), vr);
      const V g = F32::mul(vload(gr + i, k, 0.0f), vload(gamma + i, k, 0.0f));
      vstore(dxr + i, F32::mul(vr, F32::sub(F32::sub(g, mg), F32::mul(xh, mgx))), k);
    }
  }
}

// ---- normalisation --------------------------------------------------------------------------
void f32_normalize(const float* x, float* y, std::size_t n, float center, float scale) {
  const V c = vset(center), inv = vset(1.0f / scale);
  map1(x, y, n, [c, inv](V v) { return F32::mul(F32::sub(v, c), inv); });
}
void f32_denormalize(const float* y, float* x, std::size_t n, float center, float scale) {
  const V c = vset(center), s = vset(scale);
  map1(y, x, n, [c, s](V v) { return F32::fmadd(v, s, c); });
}

template <class Op>
inline void map1_f64(const double* x, double* y, std::size_t n, Op op) {
  constexpr std::size_t D = F64::W;
  std::size_t i = 0;
  for (; i + D <= n; i += D) F64::store(y + i, op(F64::load(x + i)));
  if (i < n) F64::store_n(y + i, op(F64::load_n(x + i, n - i, 0.0)), n - i);
}
void f64_normalize(const double* x, double* y, std::size_t n, double center, double scale) {
  const auto c = F64::set1(center), inv = F64::set1(1.0 / scale);
  map1_f64(x, y, n, [c, inv](F64::V v) { return F64::mul(F64::sub(v, c), inv); });
}
void f64_denormalize(const double* y, double* x, std::size_t n, double center, double scale) {
  const auto c = F64::set1(center), s = F64::set1(scale);
  map1_f64(y, x, n, [c, s](F64::V v) { return F64::fmadd(v, s, c); });
}
double f64_sum(const double* x, std::size_t n) {
  const F64::V s = reduce_canonical<kRedA64>(
      n, F64::W, F64::zero(), [x](F64::V& a, std::size_t i, std::size_t c) { a = F64::add(a, vload64(x + i, c, 0.0)); },
      [](F64::V a, F64::V b) { return F64::add(a, b); });
  return F64::hsum(s);
}
struct SumSq64 {
  F64::V s, q;
};
double f64_var_around(const double* x, std::size_t n, double mean) {
  if (n == 0) return __builtin_nan("");
  const F64::V m = F64::set1(mean);
  const SumSq64 r = reduce_canonical<kRedA64>(
      n, F64::W, SumSq64{F64::zero(), F64::zero()},
      [x, m, mean](SumSq64& a, std::size_t i, std::size_t c) {
        const F64::V d = F64::sub(vload64(x + i, c, mean), m);
        a.s = F64::add(a.s, d);
        a.q = F64::fmadd(d, d, a.q);
      },
      [](SumSq64 a, SumSq64 b) { return SumSq64{F64::add(a.s, b.s), F64::add(a.q, b.q)}; });
  const double ss = F64::hsum(r.s), qq = F64::hsum(r.q);
  const double v = (qq - ss * ss / double(n)) / double(n);
  return v < 0.0 ? 0.0 : v;
}
struct MinMax64 {
  F64::V lo, hi;
};
void f64_minmax(const double* x, std::size_t n, double* mn, double* mx) {
  if (n == 0) {
    *mn = __builtin_inf();
    *mx = -__builtin_inf();
    return;
  }
  F64::M nan = F64::mask_none();
  const double fill = x[0];  // a real element: neutral for both
  const MinMax64 r = reduce_canonical<kRedA64>(
      n, F64::W, MinMax64{F64::set1(__builtin_inf()), F64::set1(-__builtin_inf())},
      [x, fill, &nan](MinMax64& a, std::size_t i, std::size_t c) {
        const F64::V v = vload64(x + i, c, fill);
        nan = F64::mask_or(nan, F64::unord(v, v));
        a.lo = F64::min(a.lo, v);
        a.hi = F64::max(a.hi, v);
      },
      [](MinMax64 a, MinMax64 b) { return MinMax64{F64::min(a.lo, b.lo), F64::max(a.hi, b.hi)}; });
  if (F64::any(nan)) {
    *mn = *mx = __builtin_nan("");
    return;
  }
  *mn = F64::hmin(r.lo);
  *mx = F64::hmax(r.hi);
}

// ---- losses ---------------------------------------------------------------------------------
// Shared loop in the canonical order: per lane (loss term, gradient) from d = pred - target; the
// tail's extra lanes read 0 for both, so their d is 0 and their loss term 0.
template <class Op>
inline float loss_loop(const float* pred, const float* target, float* grad, std::size_t n, Op op) {
  if (n == 0) return __builtin_nanf("");
  const V s = reduce_canonical<kRedA>(
      n, W, F32::zero(),
      [=](V& acc, std::size_t i, std::size_t c) {
        V g;
        const V d = F32::sub(vload(pred + i, c, 0.0f), vload(target + i, c, 0.0f));
        acc = F32::add(acc, op(d, &g));
        if (grad) vstore(grad + i, g, c);
      },
      vadd);
  return F32::hsum(s) / float(n);
}

float f32_mse(const float* pred, const float* target, float* grad, std::size_t n) {
  const V k = vset(2.0f / float(n));
  return loss_loop(pred, target, grad, n, [k](V d, V* g) {
    *g = F32::mul(k, d);
    return F32::mul(d, d);
  });
}
float f32_mae(const float* pred, const float* target, float* grad, std::size_t n) {
  const V k = vset(1.0f / float(n));
  return loss_loop(pred, target, grad, n, [k](V d, V* g) {
    // sign(d) / n: 0 at d == 0, NaN for NaN (d * 0).
    const V s = F32::select(F32::gt(d, F32::zero()), k,
                            F32::select(F32::lt(d, F32::zero()), F32::sub(F32::zero(), k), F32::mul(d, F32::zero())));
    *g = s;
    return F32::abs(d);
  });
}
float f32_huber(const float* pred, const float* target, float* grad, std::size_t n, float delta) {
  const V k = vset(1.0f / float(n)), dl = vset(delta), ndl = vset(-delta), hd = vset(0.5f * delta);
  return loss_loop(pred, target, grad, n, [=](V d, V* g) {
    *g = F32::mul(k, F32::min(dl, F32::max(ndl, d)));  // clamp, NaN propagates
    const V a = F32::abs(d);
    const V quad = F32::mul(vset(0.5f), F32::mul(d, d));
    const V lin = F32::mul(dl, F32::sub(a, hd));
    return F32::select(F32::lt(a, dl), quad, lin);
  });
}

// ---- optimizer ------------------------------------------------------------------------------
void f32_adam(float* p, const float* g, float* m, float* v, std::size_t n, float step_size, float b1, float b2,
              float eps, float inv_sqrt_bc2, float l2, float decoupled) {
  const V vb1 = vset(b1), vb2 = vset(b2), c1 = vset(1.0f - b1), c2 = vset(1.0f - b2), ve = vset(eps),
          vs = vset(step_size), vbc = vset(inv_sqrt_bc2), vl2 = vset(l2), keep = vset(1.0f - decoupled);
  for (std::size_t i = 0; i < n; i += W) {
    const std::size_t k = n - i < W ? n - i : W;
    const V pv = vload(p + i, k, 0.0f);
    const V gi = F32::fmadd(vl2, pv, vload(g + i, k, 0.0f));
    const V mv = F32::fmadd(vb1, vload(m + i, k, 0.0f), F32::mul(c1, gi));
    const V vv = F32::fmadd(vb2, vload(v + i, k, 0.0f), F32::mul(c2, F32::mul(gi, gi)));
    const V denom = F32::fmadd(F32::sqrt(vv), vbc, ve);
    vstore(m + i, mv, k);
    vstore(v + i, vv, k);
    vstore(p + i, F32::fnmadd(vs, F32::div(mv, denom), F32::mul(pv, keep)), k);
  }
}

// Rows of the next tile of R rows when `left` rows remain: full tiles, except that a short
// remainder is shared with the tile before it (6 + 2 rows -> 4 + 4): a tile of 1-2 rows has too
// few FMA chains to hide the FMA latency (and feeds each weight load to 1-2 rows), two tiles of 4
// do not. Every row is its own chains, so the split never changes a bit.
template <std::size_t R>
constexpr std::size_t tile_rows_at(std::size_t left) {
  if (left >= 2 * R || left <= R) return left < R ? left : R;
  const std::size_t rem = left - R;  // 1 .. R - 1 rows after a full tile
  return rem * 2 >= R ? R : (left + 1) / 2;
}

// ---- packed dense layers -------------------------------------------------------------------
// A tile is R rows x NV vectors of outputs (NV / kVpp whole panels). Per column k the tile
// loads its NV weight vectors once and feeds every row with one broadcast of x[r, k]; each
// accumulator is one FMA chain in k order (the contract that makes results bitwise equal to
// the reference). Batch 1 uses a wide tile (kGemvNV chains) to hide the FMA latency; larger
// batches use kRows rows so each weight load feeds kRows FMAs.
constexpr std::size_t kPanel = kDensePanel;
constexpr std::size_t kVpp = kPanel / W;  // vectors per panel row: 2 (AVX2) or 1 (AVX-512)

// Weight loaders: T the stored type, pairs whether panels hold (k, k + 1) pairs (bf16), and the
// panel's k extent (K, or K rounded up to a pair).
struct LoadF32 {
  using T = float;
  static constexpr bool pairs = false;
  static std::size_t panel_k(std::size_t K) { return K; }
  static V at(const float* p) { return F32::load(p); }
};
struct LoadF16 {
  using T = std::uint16_t;
  static constexpr bool pairs = false;
  static std::size_t panel_k(std::size_t K) { return K; }
  static V at(const std::uint16_t* p) { return F32::load_f16(p); }
};
struct LoadBF16Pairs {
  using T = std::uint16_t;
  static constexpr bool pairs = true;
  static std::size_t panel_k(std::size_t K) { return bf16_padded_k(K); }
  static void at(const std::uint16_t* p, V* lo, V* hi) { F32::load_bf16_pair(p, lo, hi); }
};

inline void dense_store(float* y, const float* bias, std::size_t o, std::size_t M, V acc) {
  if (o >= M) return;
  const std::size_t k = M - o < W ? M - o : W;
  if (bias) acc = F32::add(acc, vload(bias + o, k, 0.0f));
  vstore(y + o, acc, k);
}

template <class Ld, std::size_t R, std::size_t NV>
inline void dense_tile(const typename Ld::T* wp, std::size_t K, const float* x, std::size_t ldx, const float* bias,
                       float* y, std::size_t ldy, std::size_t o0, std::size_t M) {
  V acc[R][NV];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < NV; ++v) acc[r][v] = F32::zero();
  const std::size_t Kp = Ld::panel_k(K);
  if constexpr (Ld::pairs) {
    // Two k per load: the chain still takes k, then k + 1. An odd K's last pair feeds only its k
    // (its k + 1 is padding: no FMA, so no +0 that could turn a -0 sum into +0).
    for (std::size_t k = 0; k < K; k += 2) {
      V w0[NV], w1[NV];
      for (std::size_t v = 0; v < NV; ++v)
        Ld::at(wp + (v / kVpp) * Kp * kPanel + k * kPanel + (v % kVpp) * W * 2, &w0[v], &w1[v]);
      for (std::size_t r = 0; r < R; ++r) {
        const V xb = vset(x[r * ldx + k]);
        for (std::size_t v = 0; v < NV; ++v) acc[r][v] = F32::fmadd(w0[v], xb, acc[r][v]);
      }
      if (k + 1 == K) break;
      for (std::size_t r = 0; r < R; ++r) {
        const V xb = vset(x[r * ldx + k + 1]);
        for (std::size_t v = 0; v < NV; ++v) acc[r][v] = F32::fmadd(w1[v], xb, acc[r][v]);
      }
    }
  } else {
    for (std::size_t k = 0; k < K; ++k) {
      V w[NV];
      for (std::size_t v = 0; v < NV; ++v) w[v] = Ld::at(wp + (v / kVpp) * Kp * kPanel + k * kPanel + (v % kVpp) * W);
      for (std::size_t r = 0; r < R; ++r) {
        const V xb = vset(x[r * ldx + k]);
        for (std::size_t v = 0; v < NV; ++v) acc[r][v] = F32::fmadd(w[v], xb, acc[r][v]);
      }
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < NV; ++v) dense_store(y + r * ldy, bias, o0 + v * W, M, acc[r][v]);
}

// Calls f(integral_constant<N>) for the N = rem (a multiple of kVpp below NV): the panels left
// after the whole tiles run as one narrower tile, so their chains are in flight together rather
// than one panel's chain after another's (a lone chain waits out every FMA's latency).
template <std::size_t NV, class F>
inline void with_tail_width(std::size_t rem, F&& f) {
  if constexpr (NV > kVpp) {
    constexpr std::size_t N = NV - kVpp;
    if (rem == N) return f(std::integral_constant<std::size_t, N>{});
    with_tail_width<N>(rem, f);
  }
}

// R rows over every panel: tiles of NV vectors, then the leftover panels in one tile.
template <class Ld, std::size_t R, std::size_t NV>
inline void dense_rows(const typename Ld::T* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                       const float* bias, float* y, std::size_t ldy) {
  const std::size_t nvec = (M + kPanel - 1) / kPanel * kVpp, Kp = Ld::panel_k(K);
  std::size_t v0 = 0;
  for (; v0 + NV <= nvec; v0 += NV)
    dense_tile<Ld, R, NV>(packed + v0 / kVpp * Kp * kPanel, K, x, ldx, bias, y, ldy, v0 * W, M);
  with_tail_width<NV>(nvec - v0, [&](auto n) {
    dense_tile<Ld, R, decltype(n)::value>(packed + v0 / kVpp * Kp * kPanel, K, x, ldx, bias, y, ldy, v0 * W, M);
  });
}

template <class Ld, std::size_t R>
inline void dense_rows_tail(std::size_t rows, const typename Ld::T* packed, std::size_t M, std::size_t K,
                            const float* x, std::size_t ldx, const float* bias, float* y, std::size_t ldy) {
  if constexpr (R > 0) {
    if (rows == R) return dense_rows<Ld, R, kTileNV>(packed, M, K, x, ldx, bias, y, ldy);
    dense_rows_tail<Ld, R - 1>(rows, packed, M, K, x, ldx, bias, y, ldy);
  }
}

template <class Ld>
inline void dense(const typename Ld::T* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                  std::size_t B, const float* bias, float* y, std::size_t ldy) {
  if (B == 1) return dense_rows<Ld, 1, kGemvNV>(packed, M, K, x, ldx, bias, y, ldy);
  for (std::size_t r = 0, rows; r < B; r += rows) {
    rows = tile_rows_at<kRows>(B - r);
    if (rows == kRows)
      dense_rows<Ld, kRows, kTileNV>(packed, M, K, x + r * ldx, ldx, bias, y + r * ldy, ldy);
    else
      dense_rows_tail<Ld, kRows - 1>(rows, packed, M, K, x + r * ldx, ldx, bias, y + r * ldy, ldy);
  }
}

void f32_dense(const float* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx, std::size_t B,
               const float* bias, float* y, std::size_t ldy) {
  dense<LoadF32>(packed, M, K, x, ldx, B, bias, y, ldy);
}

void f16_dense(const std::uint16_t* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
               std::size_t B, const float* bias, float* y, std::size_t ldy) {
  dense<LoadF16>(packed, M, K, x, ldx, B, bias, y, ldy);
}

void bf16_dense(const std::uint16_t* packed, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                std::size_t B, const float* bias, float* y, std::size_t ldy) {
  dense<LoadBF16Pairs>(packed, M, K, x, ldx, B, bias, y, ldy);
}

// ---- int8 ----------------------------------------------------------------------------------
float f32_quantize_i8(const float* x, std::size_t K, std::int8_t* q, std::size_t Kp) {
  V m = F32::zero();
  std::size_t i = 0;
  for (; i + W <= K; i += W) m = F32::max(m, F32::abs(F32::load(x + i)));
  if (i < K) m = F32::max(m, F32::abs(F32::load_n(x + i, K - i, 0.0f)));
  const float amax = F32::hmax(m);
  if (!(amax > 0.0f)) {
    for (std::size_t k = 0; k < Kp; ++k) q[k] = 0;
    return 0.0f;
  }
  const V inv = vset(127.0f / amax);
  for (i = 0; i + W <= K; i += W) I8::store_q(q + i, F32::mul(F32::load(x + i), inv), W);
  if (i < K) I8::store_q(q + i, F32::mul(F32::load_n(x + i, K - i, 0.0f), inv), K - i);
  for (std::size_t k = K; k < Kp; ++k) q[k] = 0;
  return amax / 127.0f;
}

// One int vector holds W outputs x 4 consecutive k (AVX2: 8 outputs, AVX-512: 16), so an int
// tile's vector v covers the same outputs as a float vector: the epilogue is shared.
// wp: the tile's first panel at k = 0 inside its group; ks: bytes per k quad (64 per panel of
// the group, i8_dense_pack). A tile never straddles groups, so it reads one sequential stream.
template <std::size_t R, std::size_t NV>
inline void i8_tile(const std::int8_t* wp, std::size_t ks, std::size_t Kp, const std::int8_t* xq, std::size_t ldq,
                    const float* xs, const float* ws, const std::int32_t* wsum, const float* bias, float* y,
                    std::size_t ldy, std::size_t o0, std::size_t M) {
  typename I8::V acc[R][NV];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < NV; ++v) acc[r][v] = I8::zero();
  const std::int8_t* q = wp;
  for (std::size_t k = 0; k < Kp; k += 4, q += ks) {
    typename I8::V w[NV];
    for (std::size_t v = 0; v < NV; ++v) w[v] = I8::load(q + v * W * 4);
    for (std::size_t r = 0; r < R; ++r) {
      const typename I8::X xb = I8::bcast4(xq + r * ldq + k);
      for (std::size_t v = 0; v < NV; ++v) acc[r][v] = I8::dot4(acc[r][v], w[v], xb);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < NV; ++v) {
      const std::size_t o = o0 + v * W;
      if (o >= M) continue;
      const std::size_t n = M - o < W ? M - o : W;
      const V s = F32::mul(vset(xs[r]), vload(ws + o, n, 0.0f));
      V f = F32::mul(I8::to_f32(I8::finish(acc[r][v], wsum + o)), s);
      if (bias) f = F32::add(f, vload(bias + o, n, 0.0f));
      vstore(y + r * ldy + o, f, n);
    }
}

template <std::size_t R, std::size_t NV>
inline void i8_rows(const std::int8_t* packed, const float* ws, const std::int32_t* wsum, std::size_t M,
                    std::size_t Kp, const std::int8_t* xq, std::size_t ldq, const float* xs, const float* bias, float* y,
                    std::size_t ldy) {
  static_assert(kI8Group % (NV / kVpp) == 0, "a tile's panels divide a group");
  const std::size_t P = (M + kPanel - 1) / kPanel, nvec = P * kVpp;
  std::size_t v0 = 0;
  for (; v0 + NV <= nvec; v0 += NV) {
    const I8PanelAt at = i8_panel_at(v0 / kVpp, P, Kp);
    i8_tile<R, NV>(packed + at.offset, at.quad_stride, Kp, xq, ldq, xs, ws, wsum, bias, y, ldy, v0 * W, M);
  }
  with_tail_width<NV>(nvec - v0, [&](auto n) {
    const I8PanelAt at = i8_panel_at(v0 / kVpp, P, Kp);
    i8_tile<R, decltype(n)::value>(packed + at.offset, at.quad_stride, Kp, xq, ldq, xs, ws, wsum, bias, y, ldy,
                                   v0 * W, M);
  });
}

template <std::size_t R>
inline void i8_rows_tail(std::size_t rows, const std::int8_t* packed, const float* ws, const std::int32_t* wsum,
                         std::size_t M, std::size_t Kp, const std::int8_t* xq, std::size_t ldq, const float* xs,
                         const float* bias, float* y, std::size_t ldy) {
  if constexpr (R > 0) {
    if (rows == R) return i8_rows<R, kTileNV>(packed, ws, wsum, M, Kp, xq, ldq, xs, bias, y, ldy);
    i8_rows_tail<R - 1>(rows, packed, ws, wsum, M, Kp, xq, ldq, xs, bias, y, ldy);
  }
}

void i8_dense(const std::int8_t* packed, const float* ws, const std::int32_t* wsum, std::size_t M, std::size_t Kp,
              const std::int8_t* xq, std::size_t ldq, const float* xs, std::size_t B, const float* bias, float* y,
              std::size_t ldy) {
  if (B == 1) return i8_rows<1, kGemvNV>(packed, ws, wsum, M, Kp, xq, ldq, xs, bias, y, ldy);
  for (std::size_t r = 0, rows; r < B; r += rows) {
    rows = tile_rows_at<kRows>(B - r);
    if (rows == kRows)
      i8_rows<kRows, kTileNV>(packed, ws, wsum, M, Kp, xq + r * ldq, ldq, xs + r, bias, y + r * ldy, ldy);
    else
      i8_rows_tail<kRows - 1>(rows, packed, ws, wsum, M, Kp, xq + r * ldq, ldq, xs + r, bias, y + r * ldy, ldy);
  }
}

// ---- GEMM with a fixed reduction order (contract: GemmArgs in ntn/kernels.h) ---------------
// Blocking: columns in blocks of kGemmNc, k in blocks of at most kGemmKc. Per (column block, k
// block), B is packed into a contiguous stack panel (zero-padded to whole tiles; unit stride,
// no cache-set conflicts from long row strides) unless C has only a few rows, where B is read
// in place (it must then have contiguous columns). Each tile of kGemmRows rows x kGemmNB
// columns runs the k block with its accumulators in registers: per k, kGemmNV vector loads of
// B and one broadcast of A per row feed kGemmRows x kGemmNV independent FMA chains. A chain
// that spans several k blocks is parked in C between them (a float store and reload are
// exact), so neither the blocking nor the vector width changes a bit. A is broadcast from
// memory; when its k stride is not 1 (a transposed operand, e.g. dY^T in a weight gradient)
// each row tile's (rows, kc) slice is first copied into a small contiguous panel, so the
// broadcasts of every column tile hit L1 instead of one cache line per k. Packing B costs a
// copy of K x N elements per call, so the callers orient the product (nn/layers.cpp) so that
// B is the small operand.
constexpr std::size_t kGemmNB = kGemmNV * W;  // columns per tile
constexpr std::size_t kGemmKc = 512;          // k per block at most
constexpr std::size_t kGemmNc = 64;           // columns per block
constexpr std::size_t kGemmPack = 16384;      // floats in the packed panel (64 KiB of stack)
static_assert(kGemmNc % kGemmNB == 0, "a column block holds whole tiles");

struct GemmTile {
  std::size_t kc;           // k in this block
  const float* A;           // A(i0, k0)
  std::size_t a_rs, a_cs;
  const float* B;           // B(k0, j0): rows ldb apart, columns contiguous
  std::size_t ldb;
  std::size_t cols;         // columns of this tile that exist (<= kGemmNB)
  float* C;                 // C(i0, j0)
  std::size_t c_rs, c_cs;
  bool load_c;              // continue the chains from C (accumulate, or a later k block)
  bool finish;              // last k block: negate if asked, add the bias
  bool neg;
  const float* bias;        // bias(i0) per row or bias(j0) per column, or null
  bool bias_per_row;
};

inline std::size_t tile_lanes(std::size_t cols, std::size_t v) {
  return cols <= v * W ? 0 : cols - v * W < W ? cols - v * W : W;
}

// kFullB: the tile's B rows can be read whole (all kGemmNB columns exist, or B is a padded
// panel); the C and bias edges are masked by t.cols either way (outside the k loop).
// kDirectC: C's columns are contiguous (vector loads / stores); otherwise C goes through a small
// stack tile. Separate instantiations, so that the accumulators of the common direct case stay
// in registers from the first FMA to the store (a shared path spilled them around the loop).
template <std::size_t R, bool kFullB, bool kDirectC>
__attribute__((always_inline)) inline void gemm_tile(const GemmTile& t) {
  V acc[R][kGemmNV];
  const bool full = t.cols == kGemmNB;
  auto load_edge = [&t, full](const float* p, std::size_t v) {
    return full ? F32::load(p) : F32::load_n(p, tile_lanes(t.cols, v), 0.0f);
  };
  if constexpr (kDirectC) {
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t v = 0; v < kGemmNV; ++v)
        acc[r][v] = t.load_c ? load_edge(t.C + r * t.c_rs + v * W, v) : F32::zero();
  } else {
    alignas(64) float tmp[R][kGemmNB];
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t j = 0; j < kGemmNB; ++j) tmp[r][j] = t.load_c && j < t.cols ? t.C[r * t.c_rs + j * t.c_cs] : 0.0f;
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t v = 0; v < kGemmNV; ++v) acc[r][v] = F32::load(&tmp[r][v * W]);
  }
  const float* a = t.A;
  const float* b = t.B;
  for (std::size_t k = 0; k < t.kc; ++k, a += t.a_cs, b += t.ldb) {
    V bv[kGemmNV];
    for (std::size_t v = 0; v < kGemmNV; ++v)
      bv[v] = kFullB ? F32::load(b + v * W) : F32::load_n(b + v * W, tile_lanes(t.cols, v), 0.0f);
    for (std::size_t r = 0; r < R; ++r) {
      const V av = vset(a[r * t.a_rs]);
      for (std::size_t v = 0; v < kGemmNV; ++v) acc[r][v] = F32::fmadd(av, bv[v], acc[r][v]);
    }
  }
  if (t.finish) {
    if (t.neg)
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t v = 0; v < kGemmNV; ++v) acc[r][v] = F32::neg(acc[r][v]);
    if (t.bias)
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t v = 0; v < kGemmNV; ++v)
          acc[r][v] = F32::add(acc[r][v], t.bias_per_row ? vset(t.bias[r]) : load_edge(t.bias + v * W, v));
  }
  if constexpr (kDirectC) {
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t v = 0; v < kGemmNV; ++v) {
        if (full)
          F32::store(t.C + r * t.c_rs + v * W, acc[r][v]);
        else if (const std::size_t n = tile_lanes(t.cols, v))
          F32::store_n(t.C + r * t.c_rs + v * W, acc[r][v], n);
      }
  } else {
    alignas(64) float tmp[R][kGemmNB];
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t v = 0; v < kGemmNV; ++v) F32::store(&tmp[r][v * W], acc[r][v]);
    for (std::size_t j = 0; j < t.cols; ++j)
      for (std::size_t r = 0; r < R; ++r) t.C[r * t.c_rs + j * t.c_cs] = tmp[r][j];
  }
}

// One strip of R rows across the nc columns of a block, tile after tile (one call per strip,
// so the per-tile set-up is a few pointer increments). packed: B is a zero-padded panel.
template <std::size_t R, bool kDirectC>
void gemm_strip(GemmTile t, std::size_t nc, bool packed) {
  const float* bias0 = t.bias;
  for (std::size_t jt = 0; jt < nc; jt += kGemmNB) {
    GemmTile u = t;
    u.B = t.B + jt;
    u.C = t.C + jt * t.c_cs;
    u.cols = nc - jt < kGemmNB ? nc - jt : kGemmNB;
    if (bias0 && !t.bias_per_row) u.bias = bias0 + jt;
    if (packed || u.cols == kGemmNB)
      gemm_tile<R, true, kDirectC>(u);
    else
      gemm_tile<R, false, kDirectC>(u);
  }
}

template <std::size_t R, bool kDirectC>
inline void gemm_strip_rows(std::size_t rows, const GemmTile& t, std::size_t nc, bool packed) {
  if constexpr (R > 0) {
    if (rows == R) return gemm_strip<R, kDirectC>(t, nc, packed);
    gemm_strip_rows<R - 1, kDirectC>(rows, t, nc, packed);
  }
}

inline std::size_t gemm_rows_at(std::size_t left) { return tile_rows_at<kGemmRows>(left); }

void f32_gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  alignas(64) float pack[kGemmPack];
  alignas(64) float apack[kGemmKc * kGemmRows + W];  // + W: whole-vector stores of the last k
  const bool packed = g.b_cs != 1 || g.M >= 4 * kGemmRows;
  // Column block: at least kGemmNc columns, more when k is short (a weight gradient's k is the
  // batch), so that every packed A panel serves many column tiles.
  const std::size_t k_short = g.K < kGemmKc ? (g.K > 0 ? g.K : 1) : kGemmKc;
  std::size_t nc_max = kGemmPack / k_short / kGemmNB * kGemmNB;
  nc_max = !packed || nc_max < kGemmNc ? kGemmNc : nc_max;
  // A transposed (a weight gradient's dY^T over many rows) is re-read and repacked per column
  // block: wider blocks read it fewer times (at most 2 x kGemmNc columns, kc >= 128).
  if (packed && g.a_cs != 1 && nc_max < 2 * kGemmNc) nc_max = 2 * kGemmNc;
  for (std::size_t j0 = 0; j0 < g.N; j0 += nc_max) {
    const std::size_t nc = g.N - j0 < nc_max ? g.N - j0 : nc_max;
    const std::size_t np = (nc + kGemmNB - 1) / kGemmNB * kGemmNB;
    const std::size_t kc_max = packed ? (kGemmPack / np < kGemmKc ? kGemmPack / np : kGemmKc) : kGemmKc;
    for (std::size_t k0 = 0;;) {
      const std::size_t kc = g.K - k0 < kc_max ? g.K - k0 : kc_max;
      const bool last = k0 + kc >= g.K;
      const float* bp = g.B + k0 * g.b_rs + j0;
      std::size_t ldb = g.b_rs;
      if (packed) {  // B(k0 .., j0 ..) -> pack (kc, np), columns past nc zero
        if (g.b_cs == 1) {
          for (std::size_t k = 0; k < kc; ++k) {
            const float* src = g.B + (k0 + k) * g.b_rs + j0;
            float* dst = pack + k * np;
            std::size_t j = 0;
            for (; j < nc; j += W) F32::store(dst + j, vload(src + j, nc - j < W ? nc - j : W, 0.0f));
            for (; j < np; j += W) F32::store(dst + j, F32::zero());
          }
        } else {
          // Sixteen columns at a time, k outer: each k writes 16 neighbours of one pack row (a
          // column at a time touched a new cache line per element - the pack outgrows L1; 8 or 32
          // at a time are slower).
          for (std::size_t j = 0; j < nc; j += 16) {
            const std::size_t jn = nc - j < 16 ? nc - j : 16;
            const float* src = g.B + k0 * g.b_rs + (j0 + j) * g.b_cs;
            for (std::size_t k = 0; k < kc; ++k) {
              float* dst = pack + k * np + j;
              const float* sk = src + k * g.b_rs;
              for (std::size_t jj = 0; jj < jn; ++jj) dst[jj] = sk[jj * g.b_cs];
            }
          }
          for (std::size_t k = 0; k < kc; ++k)
            for (std::size_t j = nc; j < np; ++j) pack[k * np + j] = 0.0f;
        }
        bp = pack;
        ldb = np;
      }
      // While the strips of this block run, prefetch (to L2) the source of the next packed block,
      // a slice per strip, so that its packing does not wait for L3 / memory.
      const float* pf_src = nullptr;
      std::size_t pf_rows = 0, pf_cols = 0;
      if (packed && g.b_cs == 1) {
        std::size_t nk0 = k0 + kc, nj0 = j0, nnc = nc;
        if (nk0 >= g.K) nk0 = 0, nj0 = j0 + nc, nnc = g.N > nj0 ? (g.N - nj0 < nc_max ? g.N - nj0 : nc_max) : 0;
        if (nnc) {
          pf_src = g.B + nk0 * g.b_rs + nj0;
          pf_rows = g.K - nk0 < kc_max ? g.K - nk0 : kc_max;
          pf_cols = nnc;
        }
      }
      const std::size_t strips = (g.M + kGemmRows - 1) / kGemmRows;
      std::size_t strip = 0;
      for (std::size_t i0 = 0, rows; i0 < g.M; i0 += rows, ++strip) {
        rows = gemm_rows_at(g.M - i0);
        if (pf_src) {
          const std::size_t r0 = strip * pf_rows / strips, r1 = (strip + 1) * pf_rows / strips;
          for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t c = 0; c < pf_cols; c += 16) __builtin_prefetch(pf_src + r * g.b_rs + c, 0, 2);
        }
        const float* ap = g.A + i0 * g.a_rs + k0 * g.a_cs;
        std::size_t a_rs = g.a_rs, a_cs = g.a_cs;
        if (a_cs != 1 && nc >= 4 * kGemmNB) {  // A(i0 .., k0 ..) -> apack (kc, rows), for 4+ column tiles
          if (a_rs == 1) {
            // Each k's rows sit in a line of their own (a_cs apart): the strips after this one read
            // the next line of each, which no hardware prefetcher predicts - fetch it now.
            const bool pf_a = i0 + 16 < g.M;
            for (std::size_t k = 0; k < kc; ++k) {
              if (pf_a) __builtin_prefetch(ap + k * a_cs + 16, 0, 3);
              for (std::size_t r = 0; r < rows; r += W)
                F32::store(apack + k * rows + r, vload(ap + k * a_cs + r, rows - r < W ? rows - r : W, 0.0f));
            }
          } else {
            for (std::size_t k = 0; k < kc; ++k)
              for (std::size_t r = 0; r < rows; ++r) apack[k * rows + r] = ap[r * a_rs + k * a_cs];
          }
          ap = apack;
          a_rs = 1;
          a_cs = rows;
        }
        GemmTile t;
        t.kc = kc;
        t.A = ap;
        t.a_rs = a_rs;
        t.a_cs = a_cs;
        t.B = bp;
        t.ldb = ldb;
        t.cols = 0;
        t.C = g.C + i0 * g.c_rs + j0 * g.c_cs;
        t.c_rs = g.c_rs;
        t.c_cs = g.c_cs;
        t.load_c = k0 > 0 || g.accumulate;
        t.finish = last;
        t.neg = g.neg;
        t.bias = g.bias ? (g.bias_per_row ? g.bias + i0 : g.bias + j0) : nullptr;
        t.bias_per_row = g.bias_per_row;
        if (g.c_cs == 1)
          gemm_strip_rows<kGemmRows, true>(rows, t, nc, packed);
        else
          gemm_strip_rows<kGemmRows, false>(rows, t, nc, packed);
      }
      k0 += kc;
      if (k0 >= g.K) break;
    }
  }
}

// ---- peak FMA probe -------------------------------------------------------------------------
constexpr std::size_t kProbeAcc = 12;  // > FMA latency x FMA ports, so the ports never wait
float fma_peak_probe(std::size_t iters) {
  V acc[kProbeAcc];
  for (std::size_t j = 0; j < kProbeAcc; ++j) acc[j] = vset(float(j) * 1e-3f);
  const V m = vset(0.999999f), c = vset(1e-7f);
  for (std::size_t it = 0; it < iters; ++it)
    for (std::size_t j = 0; j < kProbeAcc; ++j) acc[j] = F32::fmadd(acc[j], m, c);
  V s = F32::zero();
  for (std::size_t j = 0; j < kProbeAcc; ++j) s = F32::add(s, acc[j]);
  return F32::hsum(s);
}

float read_probe(const float* p, std::size_t n) {
  V acc[kProbeAcc];
  for (std::size_t j = 0; j < kProbeAcc; ++j) acc[j] = F32::zero();
  std::size_t i = 0;
  for (; i + kProbeAcc * W <= n; i += kProbeAcc * W)
    for (std::size_t j = 0; j < kProbeAcc; ++j) acc[j] = F32::max(F32::load(p + i + j * W), acc[j]);
  for (; i + W <= n; i += W) acc[0] = F32::max(F32::load(p + i), acc[0]);
  if (i < n) acc[1] = F32::max(F32::load_n(p + i, n - i, 0.0f), acc[1]);
  V s = acc[0];
  for (std::size_t j = 1; j < kProbeAcc; ++j) s = F32::max(acc[j], s);
  return F32::hmax(s);
}

// ---- recurrent cells (contract: KernelTable::f32_lstm_cell etc.) -----------------------------
// Each element's operations in a fixed order, no FMA: the scalar table and every vector width
// give the same bits.
void f32_lstm_cell(const float* xp, const float* hp, const float* c_prev, float* gates, float* c, float* tc, float* h,
                   std::size_t B, std::size_t H) {
  const std::size_t G = 4 * H;
  for (std::size_t b = 0; b < B; ++b) {
    const float* x = xp + b * G;
    const float* r = hp + b * G;
    float* g = gates + b * G;
    const float* cp = c_prev + b * H;
    float* cr = c + b * H;
    float* t = tc + b * H;
    float* hr = h + b * H;
    for (std::size_t j = 0; j < H; j += W) {
      const std::size_t n = H - j < W ? H - j : W;
      const V i = v_sigmoid(F32::add(vload(x + j, n, 0.0f), vload(r + j, n, 0.0f)));
      const V f = v_sigmoid(F32::add(vload(x + H + j, n, 0.0f), vload(r + H + j, n, 0.0f)));
      const V gg = v_tanh(F32::add(vload(x + 2 * H + j, n, 0.0f), vload(r + 2 * H + j, n, 0.0f)));
      const V o = v_sigmoid(F32::add(vload(x + 3 * H + j, n, 0.0f), vload(r + 3 * H + j, n, 0.0f)));
      const V cv = F32::add(F32::mul(f, vload(cp + j, n, 0.0f)), F32::mul(i, gg));
      const V tv = v_tanh(cv);
      vstore(g + j, i, n);
      vstore(g + H + j, f, n);
      vstore(g + 2 * H + j, gg, n);
      vstore(g + 3 * H + j, o, n);
      vstore(cr + j, cv, n);
      vstore(t + j, tv, n);
      vstore(hr + j, F32::mul(o, tv), n);
    }
  }
}

void f32_lstm_cell_bwd(const float* gates, const float* c_prev, const float* tc, const float* dh, float* dc, float* dg,
                       std::size_t B, std::size_t H) {
  const std::size_t G = 4 * H;
  const V one = vset(1.0f);
  for (std::size_t b = 0; b < B; ++b) {
    const float* a = gates + b * G;
    float* d = dg + b * G;
    for (std::size_t j = 0; j < H; j += W) {
      const std::size_t n = H - j < W ? H - j : W;
      const std::size_t s = b * H + j;
      const V i = vload(a + j, n, 0.0f), f = vload(a + H + j, n, 0.0f);
      const V gg = vload(a + 2 * H + j, n, 0.0f), o = vload(a + 3 * H + j, n, 0.0f);
      const V t = vload(tc + s, n, 0.0f), dhv = vload(dh + s, n, 0.0f);
      const V dcv = F32::add(vload(dc + s, n, 0.0f), F32::mul(F32::mul(dhv, o), F32::sub(one, F32::mul(t, t))));
      vstore(d + j, F32::mul(F32::mul(F32::mul(dcv, gg), i), F32::sub(one, i)), n);
      vstore(d + H + j, F32::mul(F32::mul(F32::mul(dcv, vload(c_prev + s, n, 0.0f)), f), F32::sub(one, f)), n);
      vstore(d + 2 * H + j, F32::mul(F32::mul(dcv, i), F32::sub(one, F32::mul(gg, gg))), n);
      vstore(d + 3 * H + j, F32::mul(F32::mul(F32::mul(dhv, t), o), F32::sub(one, o)), n);
      vstore(dc + s, F32::mul(dcv, f), n);
    }
  }
}

void f32_gru_cell(const float* xp, const float* hp, const float* h_prev, float* gates, float* hn, float* h,
                  std::size_t B, std::size_t H) {
  const std::size_t G = 3 * H;
  const V one = vset(1.0f);
  for (std::size_t b = 0; b < B; ++b) {
    const float* x = xp + b * G;
    const float* r = hp + b * G;
    float* g = gates + b * G;
    for (std::size_t j = 0; j < H; j += W) {
      const std::size_t n = H - j < W ? H - j : W;
      const std::size_t s = b * H + j;
      const V rv = v_sigmoid(F32::add(vload(x + j, n, 0.0f), vload(r + j, n, 0.0f)));
      const V z = v_sigmoid(F32::add(vload(x + H + j, n, 0.0f), vload(r + H + j, n, 0.0f)));
      const V hnv = vload(r + 2 * H + j, n, 0.0f);
      const V nv = v_tanh(F32::add(vload(x + 2 * H + j, n, 0.0f), F32::mul(rv, hnv)));
      const V hv = F32::add(F32::mul(F32::sub(one, z), nv), F32::mul(z, vload(h_prev + s, n, 0.0f)));
      vstore(g + j, rv, n);
      vstore(g + H + j, z, n);
      vstore(g + 2 * H + j, nv, n);
      vstore(hn + s, hnv, n);
      vstore(h + s, hv, n);
    }
  }
}

void f32_gru_cell_bwd(const float* gates, const float* h_prev, const float* hn, const float* dh, float* dgi,
                      float* dgh, float* dz, std::size_t B, std::size_t H) {
  const std::size_t G = 3 * H;
  const V one = vset(1.0f);
  for (std::size_t b = 0; b < B; ++b) {
    const float* a = gates + b * G;
    float* di = dgi + b * G;
    float* dq = dgh + b * G;
    for (std::size_t j = 0; j < H; j += W) {
      const std::size_t n = H - j < W ? H - j : W;
      const std::size_t s = b * H + j;
      const V r = vload(a + j, n, 0.0f), z = vload(a + H + j, n, 0.0f), nv = vload(a + 2 * H + j, n, 0.0f);
      const V dhv = vload(dh + s, n, 0.0f);
      const V dnp = F32::mul(F32::mul(dhv, F32::sub(one, z)), F32::sub(one, F32::mul(nv, nv)));
      const V drp = F32::mul(F32::mul(F32::mul(dnp, vload(hn + s, n, 0.0f)), r), F32::sub(one, r));
      const V dzp =
          F32::mul(F32::mul(F32::mul(dhv, F32::sub(vload(h_prev + s, n, 0.0f), nv)), z), F32::sub(one, z));
      vstore(di + j, drp, n);
      vstore(dq + j, drp, n);
      vstore(di + H + j, dzp, n);
      vstore(dq + H + j, dzp, n);
      vstore(di + 2 * H + j, dnp, n);
      vstore(dq + 2 * H + j, F32::mul(dnp, r), n);
      vstore(dz + s, F32::mul(dhv, z), n);
    }
  }
}


// ---- dropout: Philox4x32-10 on U32::W blocks at once ----------------------------------------
namespace philox {
constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
// c[0..3]: the counters of W blocks (lane j: block j); the 4 words of each block come back in c.
inline void rounds(U32::V c[4], std::uint32_t k0, std::uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    U32::V hi0, lo0, hi1, lo1;
    U32::mulhilo(kM0, c[0], hi0, lo0);
    U32::mulhilo(kM1, c[2], hi1, lo1);
    c[0] = U32::bxor(U32::bxor(hi1, c[1]), U32::set1(k0));
    c[1] = lo1;
    c[2] = U32::bxor(U32::bxor(hi0, c[3]), U32::set1(k1));
    c[3] = lo0;
    k0 += kW0;
    k1 += kW1;
  }
}
}  // namespace philox

void f32_dropout(const float* x, float* y, std::size_t n, std::uint32_t threshold, float scale, std::uint64_t seed,
                 std::uint64_t stream, std::uint64_t counter) {
  constexpr std::size_t BW = std::size_t(U32::W);
  const std::uint32_t k0 = std::uint32_t(seed), k1 = std::uint32_t(seed >> 32);
  const std::uint32_t s0 = std::uint32_t(stream), s1 = std::uint32_t(stream >> 32);
  alignas(64) std::uint32_t words[4][BW];
  std::size_t i = 0;
  while (i < n) {
    const std::uint64_t w = counter + i, b = w >> 2;
    const std::size_t first = std::size_t(w & 3);
    // W blocks when they all share the counter's high word, else one (the scalar Philox).
    const std::size_t nb = std::uint32_t(b) <= 0xFFFFFFFFu - (BW - 1) ? BW : 1;
    if (nb == BW) {
      U32::V c[4] = {U32::iota(std::uint32_t(b)), U32::set1(std::uint32_t(b >> 32)), U32::set1(s0), U32::set1(s1)};
      philox::rounds(c, k0, k1);
      if (first == 0 && n - i >= 4 * BW) {  // whole blocks: straight from the registers
        U32::keep4(c, threshold, scale, x + i, y + i);
        i += 4 * BW;
        continue;
      }
      for (int k = 0; k < 4; ++k) U32::store(words[k], c[k]);
    } else {
      const auto blk = philox4x32({std::uint32_t(b), std::uint32_t(b >> 32), s0, s1}, {k0, k1});
      for (int k = 0; k < 4; ++k) words[k][0] = blk[k];
    }
    for (std::size_t j = 0; j < nb && i < n; ++j)
      for (std::size_t k = j == 0 ? first : 0; k < 4 && i < n; ++k, ++i)
        y[i] = words[k][j] >= threshold ? x[i] * scale : 0.0f;
  }
}


// ---- fused attention of one head (kernels.h) -------------------------------------------------
// s[r][j] = q_r . kt[:, j0 + j] for the R rows and the nb (<= kAttnBlock) keys of a block, two
// vectors of keys at a time; kt is (dh, Lk). One FMA chain over d per score: the forward and the
// backward (which recomputes the scores, and dP the same way from dO and V^T) get the same bits.
template <std::size_t R>
inline void block_scores(const float* q, std::size_t ldq, const float* kt, std::size_t Lk, std::size_t j0,
                         std::size_t nb, std::size_t dh, float (*s)[kAttnBlock]) {
  for (std::size_t c = 0; c < nb; c += 2 * W) {
    const std::size_t c0 = std::min<std::size_t>(W, nb - c), c1 = nb - c > W ? std::min<std::size_t>(W, nb - c - W) : 0;
    V acc0[R], acc1[R];
    for (std::size_t r = 0; r < R; ++r) acc0[r] = acc1[r] = F32::zero();
    const float* kc = kt + j0 + c;
    for (std::size_t d = 0; d < dh; ++d) {
      const V k0 = vload(kc + d * Lk, c0, 0.0f);
      const V k1 = c1 ? vload(kc + d * Lk + W, c1, 0.0f) : F32::zero();
      for (std::size_t r = 0; r < R; ++r) {
        const V qd = vset(q[r * ldq + d]);
        acc0[r] = F32::fmadd(qd, k0, acc0[r]);
        acc1[r] = F32::fmadd(qd, k1, acc1[r]);
      }
    }
    for (std::size_t r = 0; r < R; ++r) {
      vstore(s[r] + c, acc0[r], c0);
      if (c1) vstore(s[r] + c + W, acc1[r], c1);
    }
  }
}

// R query rows at a time share every K^T and V load (a single row is bound by its broadcasts).
// Per element one FMA chain in a fixed order - scores over d, outputs over the keys of a block -
// whatever R or W: the same bits on every ISA. Keys a row does not see get p = 0.
template <std::size_t R>
void attention_rows(const float* q, std::size_t ldq, const float* kt, std::size_t Lk, const float* v,
                    std::size_t ldv, float* o, std::size_t ldo, const std::size_t* n, std::size_t dh, float* stats) {
  alignas(64) float s[R][kAttnBlock];
  float m[R], l[R], alpha[R];
  std::size_t nmax = 0;
  for (std::size_t r = 0; r < R; ++r) {
    m[r] = -kInf, l[r] = 0.0f;
    nmax = std::max(nmax, n[r]);
    for (std::size_t d = 0; d < dh; ++d) o[r * ldo + d] = 0.0f;
  }
  for (std::size_t j0 = 0; j0 < nmax; j0 += kAttnBlock) {
    const std::size_t nb = std::min(kAttnBlock, nmax - j0);
    block_scores<R>(q, ldq, kt, Lk, j0, nb, dh, s);
    // Online softmax over the keys each row sees in this block, the R rows side by side (their
    // max / exp / sum chains are independent: the core overlaps them): p = exp(s - m_new), 0 for
    // keys the row does not see; l = l exp(m_old - m_new) + sum p. The sum is canonical - the
    // kRedP partial slots of f32_sum / reduce_canonical are the block's 64 keys themselves, so it
    // is the merge tree over the stored p, then hsum: the same bits as before and on every ISA.
    static_assert(kAttnBlock == kRedP, "one partial slot per key of a block");
    std::size_t nr[R];
    float mn[R];
    for (std::size_t r = 0; r < R; ++r) {
      nr[r] = n[r] > j0 ? std::min(nb, n[r] - j0) : 0;
      for (std::size_t j = nr[r]; j < kAttnBlock; ++j) s[r][j] = 0.0f;
      mn[r] = nr[r] ? std::max(m[r], f32_max(s[r], nr[r])) : m[r];
    }
    for (std::size_t c = 0; c < nb; c += W)
      for (std::size_t r = 0; r < R; ++r) {
        if (c >= nr[r]) continue;
        const std::size_t cnt = std::min<std::size_t>(W, nr[r] - c);
        vstore(s[r] + c, v_exp(F32::sub(vload(s[r] + c, cnt, -kInf), vset(mn[r]))), cnt);
      }
    alignas(64) float lane[R + W] = {};  // exp(m_old - m_new) of all rows, W lanes at a time
    for (std::size_t r = 0; r < R; ++r) lane[r] = nr[r] ? m[r] - mn[r] : 0.0f;  // exp(-inf) = 0 on a first block
    for (std::size_t r = 0; r < R; r += W) F32::store(lane + r, v_exp(F32::load(lane + r)));
    for (std::size_t r = 0; r < R; ++r) {
      if (nr[r] == 0) {
        alpha[r] = 1.0f;
        continue;
      }
      V part[kRedA];
      for (std::size_t a = 0; a < kRedA; ++a) part[a] = F32::load(s[r] + a * W);
      for (std::size_t h = kRedA / 2; h > 0; h /= 2)
        for (std::size_t a = 0; a < h; ++a) part[a] = vadd(part[a], part[a + h]);
      alpha[r] = lane[r];
      l[r] = l[r] * alpha[r] + F32::hsum(part[0]);
      m[r] = mn[r];
    }
    // o = o alpha + sum_j p_j v_j, NV (two, or one for the last) vectors of the head's columns
    // at a time: a head as wide as one vector runs no dead second chain.
    auto weighted_sum = [&]<std::size_t NV>(std::size_t c) {
      std::size_t cnt[NV];
      for (std::size_t u = 0; u < NV; ++u) cnt[u] = std::min<std::size_t>(W, dh - c - u * W);
      V acc[NV][R];
      for (std::size_t u = 0; u < NV; ++u)
        for (std::size_t r = 0; r < R; ++r) acc[u][r] = F32::zero();
      const float* vc = v + j0 * ldv + c;
      for (std::size_t j = 0; j < nb; ++j) {
        V vj[NV];
        for (std::size_t u = 0; u < NV; ++u) vj[u] = vload(vc + j * ldv + u * W, cnt[u], 0.0f);
        for (std::size_t r = 0; r < R; ++r) {
          const V p = vset(s[r][j]);
          for (std::size_t u = 0; u < NV; ++u) acc[u][r] = F32::fmadd(p, vj[u], acc[u][r]);
        }
      }
      for (std::size_t r = 0; r < R; ++r) {
        if (n[r] <= j0) continue;  // no key of this block: the row stays as it is
        const V va = vset(alpha[r]);
        for (std::size_t u = 0; u < NV; ++u) {
          float* orc = o + r * ldo + c + u * W;
          vstore(orc, F32::fmadd(vload(orc, cnt[u], 0.0f), va, acc[u][r]), cnt[u]);
        }
      }
    };
    std::size_t c = 0;
    for (; c + W < dh; c += 2 * W) weighted_sum.template operator()<2>(c);
    if (c < dh) weighted_sum.template operator()<1>(c);
  }
  if (stats)
    for (std::size_t r = 0; r < R; ++r) stats[2 * r] = m[r], stats[2 * r + 1] = l[r];  // -inf, 0: no key
  for (std::size_t r = 0; r < R; ++r) {
    if (n[r] == 0) continue;  // sees no key: zeros
    const V inv = vset(1.0f / l[r]);
    for (std::size_t c = 0; c < dh; c += W) {
      const std::size_t cnt = std::min<std::size_t>(W, dh - c);
      vstore(o + r * ldo + c, F32::mul(vload(o + r * ldo + c, cnt, 0.0f), inv), cnt);
    }
  }
}

constexpr std::size_t kAttnRows = 4;  // query rows per block of the fused attention kernels

// (dh, Lk) <- the (Lk, dh) strided rows of x: a block's dot products with the keys are then
// broadcast FMAs over contiguous keys.
inline void transpose_keys(const float* x, std::size_t ldx, std::size_t Lk, std::size_t dh, float* xt) {
  for (std::size_t j = 0; j < Lk; ++j)
    for (std::size_t d = 0; d < dh; ++d) xt[d * Lk + j] = x[j * ldx + d];
}

// Keys each of the rows i0 .. i0 + rows - 1 sees: all, or under the causal mask j <= i + Lk - Lq.
inline void visible_keys(std::size_t i0, std::size_t rows, std::size_t Lq, std::size_t Lk, bool causal,
                         std::size_t* n) {
  for (std::size_t r = 0; r < rows; ++r) {
    n[r] = Lk;
    if (causal) {
      const long long m = (long long)(i0 + r) + 1 + (long long)Lk - (long long)Lq;
      n[r] = m <= 0 ? 0 : std::min(Lk, std::size_t(m));
    }
  }
}

void f32_attention(const float* q, std::size_t ldq, const float* k, std::size_t ldk, const float* v, std::size_t ldv,
                   float* o, std::size_t ldo, std::size_t Lq, std::size_t Lk, std::size_t dh, bool causal, float* kt,
                   float* stats) {
  transpose_keys(k, ldk, Lk, dh, kt);
  constexpr std::size_t R = kAttnRows;
  for (std::size_t i0 = 0; i0 < Lq; i0 += R) {
    const std::size_t rows = std::min(R, Lq - i0);
    std::size_t n[R];
    visible_keys(i0, rows, Lq, Lk, causal, n);
    const float* qi = q + i0 * ldq;
    float* oi = o + i0 * ldo;
    float* st = stats ? stats + 2 * i0 : nullptr;
    switch (rows) {
      case 4: attention_rows<4>(qi, ldq, kt, Lk, v, ldv, oi, ldo, n, dh, st); break;
      case 3: attention_rows<3>(qi, ldq, kt, Lk, v, ldv, oi, ldo, n, dh, st); break;
      case 2: attention_rows<2>(qi, ldq, kt, Lk, v, ldv, oi, ldo, n, dh, st); break;
      default: attention_rows<1>(qi, ldq, kt, Lk, v, ldv, oi, ldo, n, dh, st); break;
    }
  }
}

// Backward of R query rows (kernels.h, f32_attention_bwd): per key block the scores again
// (block_scores: the forward's bits), p = exp(s - m) / l, dp = dO . v (block_scores on V^T),
// ds = p (dp - D); then dq_r += sum_j ds_rj k_j (one chain per element over all keys in order),
// and per key dk_j += sum_r ds_rj q_r, dv_j += sum_r p_rj dO_r (chains over the query rows in
// order, query blocks outermost).
template <std::size_t R>
void attention_bwd_rows(const float* q, std::size_t ldq, const float* kt, const float* vt, std::size_t Lk,
                        const float* k, std::size_t ldk, const float* dout, std::size_t lddo, const float* D,
                        const float* stats, float* dq, std::size_t lddq, float* dk, std::size_t lddk, float* dv,
                        std::size_t lddv, const std::size_t* n, std::size_t dh) {
  alignas(64) float p[R][kAttnBlock], ds[R][kAttnBlock];
  std::size_t nmax = 0;
  for (std::size_t r = 0; r < R; ++r) {
    nmax = std::max(nmax, n[r]);
    for (std::size_t d = 0; d < dh; ++d) dq[r * lddq + d] = 0.0f;
  }
  for (std::size_t j0 = 0; j0 < nmax; j0 += kAttnBlock) {
    const std::size_t nb = std::min(kAttnBlock, nmax - j0);
    block_scores<R>(q, ldq, kt, Lk, j0, nb, dh, p);
    block_scores<R>(dout, lddo, vt, Lk, j0, nb, dh, ds);
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t nr = n[r] > j0 ? std::min(nb, n[r] - j0) : 0;
      const V vm = vset(stats[2 * r]), inv = vset(nr ? 1.0f / stats[2 * r + 1] : 0.0f), vD = vset(D[r]);
      for (std::size_t c = 0; c < nr; c += W) {
        const std::size_t cnt = std::min<std::size_t>(W, nr - c);
        const V pv = F32::mul(v_exp(F32::sub(vload(p[r] + c, cnt, -kInf), vm)), inv);
        vstore(p[r] + c, pv, cnt);
        vstore(ds[r] + c, F32::mul(pv, F32::sub(vload(ds[r] + c, cnt, 0.0f), vD)), cnt);
      }
      for (std::size_t j = nr; j < nb; ++j) p[r][j] = ds[r][j] = 0.0f;
    }
    // Columns of the head NV (two, or one for the last) vectors at a time.
    auto columns = [&]<std::size_t NV>(std::size_t c) {
      std::size_t cnt[NV];
      for (std::size_t u = 0; u < NV; ++u) cnt[u] = std::min<std::size_t>(W, dh - c - u * W);
      // dq_r += sum_j ds_rj k_j
      V acc[NV][R];
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t u = 0; u < NV; ++u) acc[u][r] = vload(dq + r * lddq + c + u * W, cnt[u], 0.0f);
      for (std::size_t j = 0; j < nb; ++j) {
        V kj[NV];
        for (std::size_t u = 0; u < NV; ++u) kj[u] = vload(k + (j0 + j) * ldk + c + u * W, cnt[u], 0.0f);
        for (std::size_t r = 0; r < R; ++r) {
          const V g = vset(ds[r][j]);
          for (std::size_t u = 0; u < NV; ++u) acc[u][r] = F32::fmadd(g, kj[u], acc[u][r]);
        }
      }
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t u = 0; u < NV; ++u) vstore(dq + r * lddq + c + u * W, acc[u][r], cnt[u]);
      // dk_j += sum_r ds_rj q_r and dv_j += sum_r p_rj dO_r
      V qr[NV][R], gr[NV][R];
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t u = 0; u < NV; ++u) {
          qr[u][r] = vload(q + r * ldq + c + u * W, cnt[u], 0.0f);
          gr[u][r] = vload(dout + r * lddo + c + u * W, cnt[u], 0.0f);
        }
      for (std::size_t j = 0; j < nb; ++j) {
        float* dkj = dk + (j0 + j) * lddk + c;
        float* dvj = dv + (j0 + j) * lddv + c;
        for (std::size_t u = 0; u < NV; ++u) {
          V a = vload(dkj + u * W, cnt[u], 0.0f), b = vload(dvj + u * W, cnt[u], 0.0f);
          for (std::size_t r = 0; r < R; ++r) {
            a = F32::fmadd(vset(ds[r][j]), qr[u][r], a);
            b = F32::fmadd(vset(p[r][j]), gr[u][r], b);
          }
          vstore(dkj + u * W, a, cnt[u]);
          vstore(dvj + u * W, b, cnt[u]);
        }
      }
    };
    std::size_t c = 0;
    for (; c + W < dh; c += 2 * W) columns.template operator()<2>(c);
    if (c < dh) columns.template operator()<1>(c);
  }
}

void f32_attention_bwd(const float* q, std::size_t ldq, const float* k, std::size_t ldk, const float* v,
                       std::size_t ldv, const float* o, std::size_t ldo, const float* dout, std::size_t lddo,
                       const float* stats, float* dq, std::size_t lddq, float* dk, std::size_t lddk, float* dv,
                       std::size_t lddv, std::size_t Lq, std::size_t Lk, std::size_t dh, bool causal, float* scratch) {
  float* kt = scratch;
  float* vt = scratch + dh * Lk;
  transpose_keys(k, ldk, Lk, dh, kt);
  transpose_keys(v, ldv, Lk, dh, vt);
  constexpr std::size_t R = kAttnRows;
  for (std::size_t i0 = 0; i0 < Lq; i0 += R) {
    const std::size_t rows = std::min(R, Lq - i0);
    std::size_t n[R];
    visible_keys(i0, rows, Lq, Lk, causal, n);
    float D[R];  // D_r = dO_r . o_r: one scalar chain over the head's columns
    for (std::size_t r = 0; r < rows; ++r) {
      float a = 0.0f;
      for (std::size_t d = 0; d < dh; ++d) a = std::fma(dout[(i0 + r) * lddo + d], o[(i0 + r) * ldo + d], a);
      D[r] = a;
    }
    const float* qi = q + i0 * ldq;
    const float* gi = dout + i0 * lddo;
    const float* st = stats + 2 * i0;
    float* dqi = dq + i0 * lddq;
    switch (rows) {
      case 4: attention_bwd_rows<4>(qi, ldq, kt, vt, Lk, k, ldk, gi, lddo, D, st, dqi, lddq, dk, lddk, dv, lddv, n, dh); break;
      case 3: attention_bwd_rows<3>(qi, ldq, kt, vt, Lk, k, ldk, gi, lddo, D, st, dqi, lddq, dk, lddk, dv, lddv, n, dh); break;
      case 2: attention_bwd_rows<2>(qi, ldq, kt, vt, Lk, k, ldk, gi, lddo, D, st, dqi, lddq, dk, lddk, dv, lddv, n, dh); break;
      default: attention_bwd_rows<1>(qi, ldq, kt, vt, Lk, k, ldk, gi, lddo, D, st, dqi, lddq, dk, lddk, dv, lddv, n, dh); break;
    }
  }
}

constexpr KernelTable kTable = {
    kIsa,
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
    fma_peak_probe, kProbeAcc * W * 2, read_probe,
    f32_lstm_cell, f32_lstm_cell_bwd, f32_gru_cell, f32_gru_cell_bwd,
    f32_dropout, f32_attention, f32_attention_bwd,
};
