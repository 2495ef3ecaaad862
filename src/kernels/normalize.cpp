#include "ntn/normalize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {
namespace {

// Statistics are computed first with the SIMD kernels, which propagate NaN / inf; only a
// non-finite result pays for the scalar scan that names the first offending index.
template <class T>
void reject_non_finite(const T* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(std::isfinite(x[i]), "normalisation statistics: value ", x[i], " at index ", i,
              " is not finite; repair missing values first (e.g. forward fill)");
}

template <class T>
void check_finite(const T* x, std::size_t n, const NormStats& s) {
  if (std::isfinite(s.center) && std::isfinite(s.scale)) return;
  reject_non_finite(x, n);
  throw Error(cat("normalisation statistics overflow: the values of this series (n=", n,
                  ") are too large for ", sizeof(T) == 4 ? "f32" : "f64"));
}

double sanitize_scale(double center, double scale, double rel_tiny) {
  return scale > rel_tiny * std::fabs(center) && scale > 0.0 ? scale : 1.0;
}

// Where quantile q of n values lies (numpy's linear interpolation): between order statistics k
// and k + 1, frac of the way; frac is 0 when k alone gives it (k + 1 past the end included).
struct QuantilePos {
  std::size_t k;
  double frac;
};
QuantilePos quantile_pos(std::size_t n, double q) {
  const double pos = q * double(n - 1);
  const std::size_t k = std::size_t(std::floor(pos));
  return {k, k + 1 >= n ? 0.0 : pos - double(k)};
}
double interp(double a, double b, double frac) { return frac == 0.0 ? a : a + frac * (b - a); }

// Quartiles by selection, each within the part the median's partition leaves it (q25 among the
// km smallest, q75 among the largest): about two passes over the window instead of three, and the
// same values as quantile_inplace three times (the same order statistics). v is permuted.
NormStats robust_from(double* v, std::size_t n) {
  const QuantilePos m = quantile_pos(n, 0.5), p1 = quantile_pos(n, 0.25), p3 = quantile_pos(n, 0.75);
  const std::size_t km = m.k;
  std::nth_element(v, v + km, v + n);  // [0, km) <= v[km] <= (km, n)
  const double am = v[km];
  const double bm = km + 1 < n ? *std::min_element(v + km + 1, v + n) : am;  // order statistic km + 1
  const double med = interp(am, bm, m.frac);
  double q25 = interp(am, bm, p1.frac);  // p1.k == km
  if (p1.k < km) {
    std::nth_element(v, v + p1.k, v + km);
    const double b = p1.k + 1 < km ? *std::min_element(v + p1.k + 1, v + km) : am;
    q25 = interp(v[p1.k], b, p1.frac);
  }
  double q75 = interp(am, bm, p3.frac);  // p3.k == km
  if (p3.k > km) {
    std::nth_element(v + km + 1, v + p3.k, v + n);
    const double b = p3.frac != 0.0 ? *std::min_element(v + p3.k + 1, v + n) : 0.0;
    q75 = interp(v[p3.k], b, p3.frac);
  }
  return {med, q75 - q25};
}

// scratch: n doubles (allocated here when null).
template <class T>
NormStats robust_stats(const T* x, std::size_t n, double* scratch) {
  // nth_element needs a strict weak order: NaN would break it, so check before selecting.
  reject_non_finite(x, n);
  std::vector<double> own;
  if (!scratch) {
    own.resize(n);
    scratch = own.data();
  }
  std::copy(x, x + n, scratch);
  return robust_from(scratch, n);
}

}  // namespace

const char* norm_kind_name(NormKind k) {
  switch (k) {
    case NormKind::zscore: return "standard";
    case NormKind::minmax: return "minmax";
    case NormKind::robust: return "robust";
  }
  return "?";
}

NormKind parse_norm_kind(const std::string& name) {
  if (name == "standard" || name == "zscore") return NormKind::zscore;
  if (name == "minmax") return NormKind::minmax;
  if (name == "robust") return NormKind::robust;
  throw Error(cat("unknown scaler '", name, "': expected standard, minmax or robust"));
}

double quantile_inplace(double* v, std::size_t n, double q) {
  NTN_CHECK(n > 0, "quantile of an empty series");
  const QuantilePos p = quantile_pos(n, q);
  std::nth_element(v, v + p.k, v + n);
  if (p.frac == 0.0) return v[p.k];
  return interp(v[p.k], *std::min_element(v + p.k + 1, v + n), p.frac);  // and the next order statistic
}

double sorted_quantile(const float* v, std::size_t n, double q) {
  NTN_CHECK(n > 0, "quantile of an empty series");
  const QuantilePos p = quantile_pos(n, q);
  return interp(v[p.k], p.frac == 0.0 ? 0.0 : v[p.k + 1], p.frac);
}

void robust_stats_sliding(const float* x, std::size_t n, std::size_t L, NormStats* out) {
  NTN_CHECK(L > 0 && L <= n, "robust_stats_sliding: window ", L, " does not fit ", n, " values");
  reject_non_finite(x, n);
  std::vector<float> w(x, x + L);
  std::sort(w.begin(), w.end());
  for (std::size_t t = 0;; ++t) {
    const double iqr = sorted_quantile(w.data(), L, 0.75) - sorted_quantile(w.data(), L, 0.25);
    out[t] = f32_stats_from(sorted_quantile(w.data(), L, 0.5), iqr);
    if (t + L >= n) return;
    // Slide: x[t] leaves, x[t + L] enters; the values between the two places shift by one.
    const auto gone = std::lower_bound(w.begin(), w.end(), x[t]);
    const float in = x[t + L];
    const auto at = std::upper_bound(w.begin(), w.end(), in);
    if (at <= gone) {
      std::move_backward(at, gone, gone + 1);
      *at = in;
    } else {
      std::move(gone + 1, at, gone);
      *(at - 1) = in;
    }
  }
}

NormStats f32_stats_from(double center, double scale) { return {center, sanitize_scale(center, scale, 1e-6)}; }

NormStats norm_stats(NormKind kind, const float* x, std::size_t n, const KernelTable& k) {
  return norm_stats(kind, x, n, nullptr, k);
}

NormStats norm_stats(NormKind kind, const float* x, std::size_t n, double* scratch, const KernelTable& k) {
  NTN_CHECK(n > 0, "normalisation statistics of an empty series");
  NormStats s;
  switch (kind) {
    case NormKind::zscore: {
      const float mean = k.f32_mean(x, n);
      s = {mean, std::sqrt(double(k.f32_var_around(x, n, mean)))};
      break;
    }
    case NormKind::minmax: {
      const float lo = k.f32_min(x, n), hi = k.f32_max(x, n);
      s = {lo, double(hi) - double(lo)};
      break;
    }
    case NormKind::robust: s = robust_stats(x, n, scratch); break;
  }
  check_finite(x, n, s);
  s.scale = sanitize_scale(s.center, s.scale, 1e-6);
  return s;
}

NormStats norm_stats(NormKind kind, const double* x, std::size_t n, const KernelTable& k) {
  NTN_CHECK(n > 0, "normalisation statistics of an empty series");
  NormStats s;
  switch (kind) {
    case NormKind::zscore: {
      const double mean = k.f64_sum(x, n) / double(n);
      s = {mean, std::sqrt(k.f64_var_around(x, n, mean))};
      break;
    }
    case NormKind::minmax: {
      double lo, hi;
      k.f64_minmax(x, n, &lo, &hi);
      s = {lo, hi - lo};
      break;
    }
    case NormKind::robust: s = robust_stats(x, n, nullptr); break;
  }
  check_finite(x, n, s);
  s.scale = sanitize_scale(s.center, s.scale, 1e-12);
  return s;
}

void normalize(const NormStats& s, const float* x, float* y, std::size_t n) {
  kernels().f32_normalize(x, y, n, float(s.center), float(s.scale));
}
void denormalize(const NormStats& s, const float* y, float* x, std::size_t n) {
  kernels().f32_denormalize(y, x, n, float(s.center), float(s.scale));
}
void normalize(const NormStats& s, const double* x, double* y, std::size_t n) {
  kernels().f64_normalize(x, y, n, s.center, s.scale);
}
void denormalize(const NormStats& s, const double* y, double* x, std::size_t n) {
  kernels().f64_denormalize(y, x, n, s.center, s.scale);
}

}  // namespace ntn
