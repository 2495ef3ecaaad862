#include "ntn/preprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "check_finite.h"
#include "ntn/error.h"
#include "ntn/normalize.h"

namespace ntn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Centred moving average of order m (2 x m when m is even) with optional weights; NaN where the
// window does not fit.
void centred_ma(const double* x, const double* w, std::size_t n, std::size_t m, double* out) {
  const std::size_t h = m / 2;
  for (std::size_t t = 0; t < n; ++t) {
    if (t < h || t + h >= n) {
      out[t] = kNaN;
      continue;
    }
    double s = 0, ws = 0;
    for (std::size_t j = t - h; j <= t + h; ++j) {
      const double c = (m % 2 == 0 && (j == t - h || j == t + h)) ? 0.5 : 1.0;  // 2 x m MA ends
      const double wj = c * (w ? w[j] : 1.0);
      s += wj * x[j];
      ws += wj;
    }
    out[t] = ws > 0 ? s / ws : kNaN;
  }
}

}  // namespace

void centred_moving_average(const double* x, std::size_t n, std::size_t m, double* out) {
  NTN_CHECK(m >= 1, "centred_moving_average: the order must be at least 1");
  detail::check_series_finite("centred_moving_average", "x", x, n);
  centred_ma(x, nullptr, n, m, out);
}

namespace {

Decomposition decompose(const double* x, std::size_t n, std::size_t m, const double* w) {
  Decomposition d{std::vector<double>(n), std::vector<double>(n), std::vector<double>(n)};
  centred_ma(x, w, n, m, d.trend.data());
  std::vector<double> sum(m, 0.0), wsum(m, 0.0);
  for (std::size_t t = 0; t < n; ++t) {
    if (std::isnan(d.trend[t])) continue;
    const double wt = w ? w[t] : 1.0;
    sum[t % m] += wt * (x[t] - d.trend[t]);
    wsum[t % m] += wt;
  }
  std::vector<double> s(m);
  double mean = 0;
  for (std::size_t k = 0; k < m; ++k) mean += s[k] = wsum[k] > 0 ? sum[k] / wsum[k] : 0.0;
  mean /= double(m);
  for (std::size_t t = 0; t < n; ++t) {
    d.seasonal[t] = s[t % m] - mean;
    d.resid[t] = x[t] - d.trend[t] - d.seasonal[t];  // NaN where the trend is
  }
  return d;
}

}  // namespace

void log_transform(const double* x, std::size_t n, double* out) {
  detail::check_series_finite("log_transform", "x", x, n);
  for (std::size_t i = 0; i < n; ++i) {
    NTN_CHECK(x[i] > 0, "log_transform: x[", i, "] = ", x[i], " is not positive");
    out[i] = std::log(x[i]);
  }
}

void exp_transform(const double* x, std::size_t n, double* out) {
  detail::check_series_finite("exp_transform", "x", x, n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = std::exp(x[i]);
    NTN_CHECK(std::isfinite(out[i]), "exp_transform: exp(x[", i, "] = ", x[i], ") overflows");
  }
}

void simple_returns(const double* x, std::size_t n, double* out) {
  detail::check_series_finite("simple_returns", "x", x, n);
  if (n) out[0] = kNaN;
  for (std::size_t i = 1; i < n; ++i) {
    NTN_CHECK(x[i - 1] != 0, "simple_returns: x[", i - 1, "] = 0, the return from it is undefined");
    out[i] = x[i] / x[i - 1] - 1.0;
  }
}

void log_returns(const double* x, std::size_t n, double* out) {
  detail::check_series_finite("log_returns", "x", x, n);
  if (n) out[0] = kNaN;
  for (std::size_t i = 0; i < n; ++i) NTN_CHECK(x[i] > 0, "log_returns: x[", i, "] = ", x[i], " is not positive");
  for (std::size_t i = 1; i < n; ++i) out[i] = std::log(x[i] / x[i - 1]);
}

void difference(const double* x, std::size_t n, std::size_t lag, double* out) {
  NTN_CHECK(lag >= 1, "difference: the lag must be at least 1");
  detail::check_series_finite("difference", "x", x, n);
  for (std::size_t i = 0; i < n; ++i) out[i] = i < lag ? kNaN : x[i] - x[i - lag];
}

void undifference(const double* d, std::size_t n, std::size_t lag, const double* head, double* out) {
  NTN_CHECK(lag >= 1, "undifference: the lag must be at least 1");
  detail::check_series_finite("undifference (head)", "x", head, std::min(n, lag));
  for (std::size_t i = 0; i < n; ++i) {
    if (i < lag) {
      out[i] = head[i];
      continue;
    }
    NTN_CHECK(std::isfinite(d[i]), "undifference: d[", i, "] = ", d[i], " is not finite");
    out[i] = d[i] + out[i - lag];
  }
}

Trend linear_detrend(const double* x, std::size_t n, double* out) {
  detail::check_series_finite("linear_detrend", "x", x, n);
  Trend t;
  if (n == 0) return t;
  if (n == 1) {
    t.intercept = x[0];
  } else {  // least squares on centred t
    const double tm = double(n - 1) / 2.0;
    double xm = 0;
    for (std::size_t i = 0; i < n; ++i) xm += x[i];
    xm /= double(n);
    double sxy = 0, sxx = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sxy += (double(i) - tm) * (x[i] - xm);
      sxx += (double(i) - tm) * (double(i) - tm);
    }
    t.slope = sxy / sxx;
    t.intercept = xm - t.slope * tm;
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] - (t.intercept + t.slope * double(i));
  return t;
}

void add_trend(const double* x, std::size_t n, const Trend& t, double* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] + t.intercept + t.slope * double(i);
}

Decomposition seasonal_decompose(const double* x, std::size_t n, std::size_t period) {
  NTN_CHECK(period >= 2, "seasonal_decompose: the period must be at least 2 (got ", period, ")");
  NTN_CHECK(n == 0 || n >= 2 * period, "seasonal_decompose: ", n, " values hold fewer than two periods of ", period);
  detail::check_series_finite("seasonal_decompose", "x", x, n);
  return decompose(x, n, period, nullptr);
}

Decomposition robust_decompose(const double* x, std::size_t n, std::size_t period, int iterations) {
  NTN_CHECK(period >= 2, "robust_decompose: the period must be at least 2 (got ", period, ")");
  NTN_CHECK(n == 0 || n >= 2 * period, "robust_decompose: ", n, " values hold fewer than two periods of ", period);
  NTN_CHECK(iterations >= 1, "robust_decompose: iterations must be at least 1");
  detail::check_series_finite("robust_decompose", "x", x, n);
  std::vector<double> w(n, 1.0), a;
  Decomposition d = decompose(x, n, period, nullptr);
  for (int it = 1; it < iterations && n > 0; ++it) {
    a.clear();
    for (double r : d.resid)
      if (!std::isnan(r)) a.push_back(std::fabs(r));
    if (a.empty()) break;
    std::nth_element(a.begin(), a.begin() + std::ptrdiff_t(a.size() / 2), a.end());
    const double h = 6.0 * a[a.size() / 2];
    if (!(h > 0)) break;  // a perfect fit: nothing to down-weight
    for (std::size_t t = 0; t < n; ++t) {
      const double u = std::isnan(d.resid[t]) ? 0.0 : std::fabs(d.resid[t]) / h;
      w[t] = u < 1 ? (1 - u * u) * (1 - u * u) : 0.0;  // bisquare
    }
    d = decompose(x, n, period, w.data());
  }
  return d;
}

std::size_t winsorize(const double* x, std::size_t n, double* out, OutlierRule rule, double k) {
  NTN_CHECK(std::isfinite(k) && k > 0, "winsorize: k must be positive (got ", k, ")");
  detail::check_series_finite("winsorize", "x", x, n);
  if (n == 0) return 0;
  double lo, hi;
  if (rule == OutlierRule::tukey) {
    std::vector<double> v(x, x + n);
    const double q1 = quantile_inplace(v.data(), n, 0.25), q3 = quantile_inplace(v.data(), n, 0.75);
    lo = q1 - k * (q3 - q1);
    hi = q3 + k * (q3 - q1);
  } else {
    double m = 0;
    for (std::size_t i = 0; i < n; ++i) m += x[i];
    m /= double(n);
    double v = 0;
    for (std::size_t i = 0; i < n; ++i) v += (x[i] - m) * (x[i] - m);
    const double sd = std::sqrt(v / double(n));
    lo = m - k * sd;
    hi = m + k * sd;
  }
  std::size_t clipped = 0;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = std::clamp(x[i], lo, hi);
    clipped += out[i] != x[i];
  }
  return clipped;
}

void fill_forward(double* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isnan(x[i])) continue;
    NTN_CHECK(i > 0, "fill_forward: x[0] is missing; nothing before it to carry forward (trim the leading values)");
    x[i] = x[i - 1];
  }
}

void fill_linear(double* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isnan(x[i])) continue;
    NTN_CHECK(i > 0, "fill_linear: x[0] is missing; nothing before it to interpolate from (trim the leading values)");
    std::size_t e = i;
    while (e < n && std::isnan(x[e])) ++e;
    const double a = x[i - 1];
    if (e == n) {  // trailing gap: hold the last value
      for (std::size_t j = i; j < e; ++j) x[j] = a;
    } else {
      const double b = x[e], span = double(e - (i - 1));
      for (std::size_t j = i; j < e; ++j) x[j] = a + (b - a) * double(j - (i - 1)) / span;
    }
    i = e;
  }
}

std::vector<std::int64_t> resample(const std::int64_t* times, const double* values, std::size_t n, std::int64_t start,
                                   std::int64_t step, ResampleMethod method, std::vector<double>& out) {
  NTN_CHECK(step > 0, "resample: the step must be positive (got ", step, ")");
  detail::check_series_finite("resample", "x", values, n);
  for (std::size_t i = 1; i < n; ++i)
    NTN_CHECK(times[i] > times[i - 1], "resample: time[", i, "] = ", times[i], " is not after time[", i - 1, "] = ",
              times[i - 1], " (times must be strictly increasing)");
  std::vector<std::int64_t> grid;
  out.clear();
  if (n == 0) return grid;
  // First grid time at or after the first observation.
  std::int64_t g = start;
  if (g < times[0]) g += (times[0] - g + step - 1) / step * step;
  std::size_t j = 0;  // last observation at or before g
  for (; g <= times[n - 1]; g += step) {
    while (j + 1 < n && times[j + 1] <= g) ++j;
    double v = values[j];
    if (method == ResampleMethod::linear && times[j] < g && j + 1 < n) {
      const double f = double(g - times[j]) / double(times[j + 1] - times[j]);
      v = values[j] + f * (values[j + 1] - values[j]);
    }
    grid.push_back(g);
    out.push_back(v);
  }
  return grid;
}

}  // namespace ntn
