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

// scratch: n doubles (allocated here when null).
template <class T>
NormStats robust_stats(const T* x, std::size_t n, double* scratch) {
  std::vector<double> own;
  if (!scratch) {
    own.resize(n);
    scratch = own.data();
  }
  double* tmp = scratch;
  std::copy(x, x + n, tmp);
  // nth_element needs a strict weak order: NaN would break it, so check before sorting.
  reject_non_finite(x, n);
  const double med = quantile_inplace(tmp, n, 0.5);
  const double q25 = quantile_inplace(tmp, n, 0.25);
  const double q75 = quantile_inplace(tmp, n, 0.75);
  return {med, q75 - q25};
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
  const double pos = q * double(n - 1);
  const std::size_t lo = std::size_t(std::floor(pos));
  const double frac = pos - double(lo);
  std::nth_element(v, v + lo, v + n);
  const double a = v[lo];
  if (frac == 0.0 || lo + 1 >= n) return a;
  const double b = *std::min_element(v + lo + 1, v + n);  // the next order statistic
  return a + frac * (b - a);
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
