#include "ntn/metrics.h"

#include <cmath>

#include "ntn/error.h"

namespace ntn {

namespace {
void check(const float* y, const float* f, std::size_t n, const char* what) {
  NTN_CHECK(n > 0, what, " of an empty forecast");
  for (std::size_t i = 0; i < n; ++i)
    NTN_CHECK(std::isfinite(y[i]) && std::isfinite(f[i]), what, ": value ", i, " is not finite (actual ", y[i],
              ", forecast ", f[i], ")");
}
int sgn(float d) { return (d > 0) - (d < 0); }
}  // namespace

void MetricSums::add(const float* y, const float* f, std::size_t k, double scale, const float* last_input) {
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
    float prev = *last_input;
    for (std::size_t i = 0; i < k; ++i) {
      dir_hits += sgn(f[i] - prev) == sgn(y[i] - prev);
      prev = y[i];
    }
    dir_n += k;
  }
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

double mase_scale(const float* x, std::size_t n, std::size_t m) {
  NTN_CHECK(m > 0 && n > m, "MASE scale needs a history longer than the season m=", m, " (got ", n, " values)");
  double s = 0;
  for (std::size_t t = m; t < n; ++t) {
    NTN_CHECK(std::isfinite(x[t]) && std::isfinite(x[t - m]), "MASE scale: history value is not finite");
    s += std::fabs(double(x[t]) - double(x[t - m]));
  }
  return s / double(n - m);
}

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

}  // namespace ntn
