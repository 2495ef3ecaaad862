#include "ntn/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ntn/error.h"
#include "ntn/preprocess.h"

namespace ntn {

namespace {
template <class T>
void check(const T* y, const T* f, std::size_t n, const char* what) {
  NTN_CHECK(n > 0, what, " of an empty forecast");
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(std::isfinite(y[i]) && std::isfinite(f[i]), what, ": value ", i, " is not finite (actual ", y[i],
              ", forecast ", f[i], ")");
}
template <class T>
int sgn(T d) { return (d > 0) - (d < 0); }
}  // namespace

// Accumulated in double whatever the input type (a float forecast of a series far from zero
// keeps its error; a double one keeps all of it).
template <class T>
void MetricSums::add_impl(const T* y, const T* f, std::size_t k, double scale, const T* last_input) {
  check(y, f, k, "metrics");
  double a = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const double d = double(y[i]) - double(f[i]);
    a += std::fabs(d);
    sq_sum += d * d;
    const double den = std::fabs(double(y[i])) + std::fabs(double(f[i]));
    smape_sum += den > 0 ? 200.0 * std::fabs(d) / den : 0.0;
  }
  abs_sum += a;
  n += k;
  if (scale > 0) {
    mase_sum += a / scale;
    mase_n += k;
  }
  if (last_input) {
    T prev = *last_input;
    for (std::size_t i = 0; i < k; ++i) {
      dir_hits += sgn(f[i] - prev) == sgn(y[i] - prev);
      prev = y[i];
    }
    dir_n += k;
  }
}

void MetricSums::add(const float* y, const float* f, std::size_t k, double scale, const float* last_input) {
  add_impl(y, f, k, scale, last_input);
}
void MetricSums::add(const double* y, const double* f, std::size_t k, double scale, const double* last_input) {
  add_impl(y, f, k, scale, last_input);
}

double MetricSums::mae() const { return abs_sum / double(n); }
double MetricSums::mse() const { return sq_sum / double(n); }
double MetricSums::rmse() const { return std::sqrt(mse()); }
double MetricSums::smape() const { return smape_sum / double(n); }
double MetricSums::mase() const { return mase_n ? mase_sum / double(mase_n) : -1.0; }
double MetricSums::directional_accuracy() const { return dir_n ? double(dir_hits) / double(dir_n) : -1.0; }

double mae(const float* y, const float* f, std::size_t n) {
  MetricSums s;
  s.add(y, f, n);
  return s.mae();
}
double mse(const float* y, const float* f, std::size_t n) {
  MetricSums s;
  s.add(y, f, n);
  return s.mse();
}
double rmse(const float* y, const float* f, std::size_t n) { return std::sqrt(mse(y, f, n)); }
double smape(const float* y, const float* f, std::size_t n) {
  MetricSums s;
  s.add(y, f, n);
  return s.smape();
}

namespace {
template <class T>
double mase_scale_impl(const T* x, std::size_t n, std::size_t m) {
  NTN_CHECK(m > 0 && n > m, "MASE scale needs a history longer than the season m=", m, " (got ", n, " values)");
  double s = 0;
  for (std::size_t t = m; t < n; ++t) {
    NTN_CHECK(std::isfinite(x[t]) && std::isfinite(x[t - m]), "MASE scale: history value is not finite");
    s += std::fabs(double(x[t]) - double(x[t - m]));
  }
  return s / double(n - m);
}
}  // namespace

double mase_scale(const float* x, std::size_t n, std::size_t m) { return mase_scale_impl(x, n, m); }
double mase_scale(const double* x, std::size_t n, std::size_t m) { return mase_scale_impl(x, n, m); }

double mase(const float* y, const float* f, std::size_t n, double scale) {
  NTN_CHECK(scale > 0 && std::isfinite(scale), "MASE with a seasonal-naive scale of ", scale,
            " (the history is constant at lag m): undefined");
  MetricSums s;
  s.add(y, f, n, scale);
  return s.mase();
}

double directional_accuracy(const float* y, const float* f, std::size_t n, float last_input) {
  MetricSums s;
  s.add(y, f, n, 0, &last_input);
  return s.directional_accuracy();
}

MapeResult mape(const float* y, const float* f, std::size_t n, double eps) {
  check(y, f, n, "MAPE");
  MapeResult r{0, 0, n};
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = std::fabs(double(y[i]));
    if (a <= eps) {
      ++r.excluded;
      continue;
    }
    s += 100.0 * std::fabs(double(y[i]) - double(f[i])) / a;
  }
  r.value = r.excluded == n ? std::numeric_limits<double>::quiet_NaN() : s / double(n - r.excluded);
  return r;
}

namespace {
double mean_of(const float* y, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += y[i];
  return s / double(n);
}
double ss_tot(const float* y, std::size_t n, const char* what) {
  const double m = mean_of(y, n);
  double t = 0;
  for (std::size_t i = 0; i < n; ++i) t += (double(y[i]) - m) * (double(y[i]) - m);
  NTN_CHECK(t > 0, what, " of a constant actual series: the total variance is 0, the ratio is undefined");
  return t;
}
}  // namespace

double r2(const float* y, const float* f, std::size_t n) {
  check(y, f, n, "R-squared");
  double res = 0;
  for (std::size_t i = 0; i < n; ++i) res += (double(y[i]) - f[i]) * (double(y[i]) - f[i]);
  return 1.0 - res / ss_tot(y, n, "R-squared");
}

double adjusted_r2(const float* y, const float* f, std::size_t n, std::size_t p) {
  NTN_CHECK(n > p + 1, "adjusted R-squared needs more points (", n, ") than regressors + 1 (", p + 1, ")");
  return 1.0 - (1.0 - r2(y, f, n)) * double(n - 1) / double(n - p - 1);
}

double explained_variance(const float* y, const float* f, std::size_t n) {
  check(y, f, n, "explained variance");
  double me = 0;
  for (std::size_t i = 0; i < n; ++i) me += double(y[i]) - f[i];
  me /= double(n);
  double v = 0;
  for (std::size_t i = 0; i < n; ++i) v += (double(y[i]) - f[i] - me) * (double(y[i]) - f[i] - me);
  return 1.0 - v / ss_tot(y, n, "explained variance");
}

double max_error(const float* y, const float* f, std::size_t n) {
  check(y, f, n, "max error");
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(y[i]) - f[i]));
  return m;
}

double pinball(const float* y, const float* f, std::size_t n, double q) {
  check(y, f, n, "pinball loss");
  NTN_CHECK(q > 0 && q < 1, "pinball loss: quantile level ", q, " is outside (0, 1)");
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(y[i]) - f[i];
    s += std::max(q * d, (q - 1) * d);
  }
  return s / double(n);
}

double crps_samples(float y, const float* samples, std::size_t m, bool fair) {
  NTN_CHECK(m > 0, "CRPS from no samples");
  std::vector<double> x(samples, samples + m);
  for (std::size_t i = 0; i < m; ++i) NTN_CHECK(std::isfinite(x[i]), "CRPS: sample ", i, " is not finite");
  std::sort(x.begin(), x.end());
  return crps_sorted(y, x.data(), m, fair);
}

double crps_sorted(double y, const double* x, std::size_t m, bool fair) {
  NTN_CHECK(m > 0 && (!fair || m > 1), "CRPS from ", m, " samples (needs ", fair ? 2 : 1, ")");
  NTN_CHECK(std::isfinite(y), "CRPS: the actual value is not finite");
  NTN_CHECK(std::isfinite(x[0]) && std::isfinite(x[m - 1]), "CRPS: a sample is not finite");
  double a = 0, b = 0;  // sum |x_i - y|; sum_i (2i - m + 1) x_(i) = 0.5 sum_ij |x_i - x_j|
  for (std::size_t i = 0; i < m; ++i) {
    NTN_CHECK(i == 0 || x[i - 1] <= x[i], "CRPS: samples are not sorted at ", i);
    a += std::fabs(x[i] - y);
    b += (2.0 * double(i) - double(m) + 1.0) * x[i];
  }
  const double pairs = fair ? double(m) * double(m - 1) : double(m) * double(m);
  return a / double(m) - b / pairs;
}

double crps_quantiles(float y, const float* q, const float* levels, std::size_t k) {
  NTN_CHECK(k > 0, "CRPS from no quantiles");
  double s = 0;
  for (std::size_t i = 0; i < k; ++i) s += pinball(&y, q + i, 1, levels[i]);
  return 2.0 * s / double(k);
}

namespace {
void check_interval(const float* y, const float* lo, const float* hi, std::size_t n, const char* what) {
  NTN_CHECK(n > 0, what, " of an empty forecast");
  for (std::size_t i = 0; i < n; ++i) {
    NTN_CHECK((!y || std::isfinite(y[i])) && std::isfinite(lo[i]) && std::isfinite(hi[i]), what, ": value ", i,
              " is not finite");
    NTN_CHECK(lo[i] <= hi[i], what, ": interval ", i, " has lower bound ", lo[i], " above upper bound ", hi[i]);
  }
}
}  // namespace

double coverage(const float* y, const float* lo, const float* hi, std::size_t n) {
  check_interval(y, lo, hi, n, "interval coverage");
  std::size_t in = 0;
  for (std::size_t i = 0; i < n; ++i) in += y[i] >= lo[i] && y[i] <= hi[i];
  return double(in) / double(n);
}

double mean_width(const float* lo, const float* hi, std::size_t n) {
  check_interval(nullptr, lo, hi, n, "interval width");
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += double(hi[i]) - lo[i];
  return s / double(n);
}

double msis(const float* y, const float* lo, const float* hi, std::size_t n, double alpha, double scale) {
  check_interval(y, lo, hi, n, "MSIS");
  NTN_CHECK(alpha > 0 && alpha < 1, "MSIS: alpha ", alpha, " is outside (0, 1) (0.05 for a 95% interval)");
  NTN_CHECK(scale > 0 && std::isfinite(scale), "MSIS with a seasonal-naive scale of ", scale, ": undefined");
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    s += double(hi[i]) - lo[i];
    if (y[i] < lo[i]) s += 2.0 / alpha * (double(lo[i]) - y[i]);
    if (y[i] > hi[i]) s += 2.0 / alpha * (double(y[i]) - hi[i]);
  }
  return s / double(n) / scale;
}

// M4's Naive2 (the competition's R benchmark): seasonality test on the lag-m autocorrelation,
// multiplicative classical decomposition (centred moving average of order m, seasonal indices
// = mean ratio per position, normalised to average 1), naive forecast of the adjusted series.
void naive2(const float* x, std::size_t n, std::size_t m, std::size_t H, float* out) {
  NTN_CHECK(n > 0, "Naive2 of an empty history");
  for (std::size_t i = 0; i < n; ++i) NTN_CHECK(std::isfinite(x[i]), "Naive2: history value ", i, " is not finite");
  std::vector<double> idx(std::max<std::size_t>(m, 1), 1.0);
  bool seasonal = false;
  if (m > 1 && n >= 3 * m) {
    const double mean = mean_of(x, n);
    double den = 0;
    for (std::size_t i = 0; i < n; ++i) den += (x[i] - mean) * (x[i] - mean);
    if (den > 0) {
      auto acf = [&](std::size_t k) {
        double s = 0;
        for (std::size_t i = k; i < n; ++i) s += (x[i] - mean) * (x[i - k] - mean);
        return s / den;
      };
      double sum_sq = 0;
      for (std::size_t k = 1; k < m; ++k) sum_sq += acf(k) * acf(k);
      const double limit = 1.645 * std::sqrt((1.0 + 2.0 * sum_sq) / double(n));
      seasonal = std::fabs(acf(m)) > limit;
    }
  }
  if (seasonal) {
    for (std::size_t i = 0; i < n; ++i) NTN_CHECK(x[i] > 0, "Naive2: multiplicative decomposition needs positive values (value ", i, " is ", x[i], ")");
    const std::vector<double> xd(x, x + n);
    std::vector<double> ma(n), ratio_sum(m, 0.0);
    std::vector<std::size_t> ratio_n(m, 0);
    centred_moving_average(xd.data(), n, m, ma.data());  // NaN at the edges
    for (std::size_t t = 0; t < n; ++t) {
      if (std::isnan(ma[t])) continue;
      ratio_sum[t % m] += xd[t] / ma[t];
      ++ratio_n[t % m];
    }
    double avg = 0;
    for (std::size_t k = 0; k < m; ++k) avg += idx[k] = ratio_n[k] ? ratio_sum[k] / double(ratio_n[k]) : 1.0;
    avg /= double(m);
    for (double& v : idx) v /= avg;
  }
  auto season = [&](std::size_t t) { return seasonal ? idx[t % m] : 1.0; };
  const double level = x[n - 1] / season(n - 1);
  for (std::size_t h = 0; h < H; ++h) out[h] = float(level * season(n + h));
}

double owa(double smape_v, double mase_v, double smape_naive2, double mase_naive2) {
  NTN_CHECK(smape_naive2 > 0 && mase_naive2 > 0, "OWA needs positive Naive2 sMAPE and MASE (got ", smape_naive2, ", ",
            mase_naive2, ")");
  return 0.5 * (smape_v / smape_naive2 + mase_v / mase_naive2);
}

}  // namespace ntn
