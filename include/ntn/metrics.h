// Forecast accuracy metrics. y (actual) and f (forecast) are n aligned values.
//   mae, mse, rmse
//   smape       M4 convention: mean of 200 |y - f| / (|y| + |f|), on a 0..200 scale; a point
//               with y = f = 0 contributes 0 (the limit), never NaN.
//   mase        mean |y - f| / scale, scale = in-sample seasonal-naive MAE with period m:
//               mean_t |x_t - x_{t-m}| over the training series x (mase_scale()).
//   directional accuracy: share of steps whose forecast change sign(f_t - prev) matches the
//               actual change sign(y_t - prev), prev = the previous actual (the last input value
//               for t = 0); ties (no change) count as matching only if both are ties.
//   mape        mean 100 |y - f| / |y| over the points with |y| > eps; the points left out are
//               COUNTED in the result (MapeResult::excluded), never dropped silently; all
//               points excluded -> value NaN and excluded == n (the caller decides)
//   r2          1 - SS_res / SS_tot (SS_tot = sum (y - mean y)^2); constant y -> error
//   adjusted_r2 1 - (1 - R^2) (n - 1) / (n - p - 1), p regressors; needs n > p + 1
//   explained_variance  1 - Var(y - f) / Var(y): unlike R^2 it ignores a constant bias
//   max_error   max |y - f|
//   pinball     mean of max(q (y - f), (q - 1) (y - f)) for quantile level q in (0, 1)
//   crps_samples   CRPS of the empirical distribution of m samples: mean |X - y| - 0.5 mean
//               |X - X'| (O(m log m) via sorted samples); fair = true uses m (m - 1) in the
//               second term (the unbiased "fair" estimator for the distribution sampled)
//   crps_quantiles 2 x the mean pinball loss over the given quantile levels (the quantile
//               decomposition of CRPS, exact as the levels fill (0, 1))
//   coverage / mean_width   share of y in [lo, hi] / mean (hi - lo) of a prediction interval
//   msis        M4: mean((hi - lo) + 2/a (lo - y)[y < lo] + 2/a (y - hi)[y > hi]) / scale,
//               a = 1 - nominal coverage (0.05 for 95%), scale as MASE's
//   naive2      M4 benchmark: seasonality test (lag-m autocorrelation beyond 1.645 x its
//               standard error), multiplicative classical decomposition, naive forecast of the
//               seasonally adjusted series, re-seasonalised
//   owa         M4: 0.5 (sMAPE / sMAPE_naive2 + MASE / MASE_naive2)
// Empty input or a NaN value is an ntn::Error naming the metric (never a silent NaN).
//
// Intended usage:
//   double s = ntn::smape(y, f, n);
//   double m = ntn::mase(y, f, n, ntn::mase_scale(history, len, 24));
#pragma once

#include <cstddef>

namespace ntn {

double mae(const float* y, const float* f, std::size_t n);
double mse(const float* y, const float* f, std::size_t n);
double rmse(const float* y, const float* f, std::size_t n);
double smape(const float* y, const float* f, std::size_t n);
double mase_scale(const float* history, std::size_t n, std::size_t m);
double mase_scale(const double* history, std::size_t n, std::size_t m);
double mase(const float* y, const float* f, std::size_t n, double scale);
double directional_accuracy(const float* y, const float* f, std::size_t n, float last_input);

struct MapeResult {
  double value;          // over the included points (NaN if none)
  std::size_t excluded;  // points with |y| <= eps, reported instead of silently dropped
  std::size_t n;
};
MapeResult mape(const float* y, const float* f, std::size_t n, double eps = 1e-8);
double r2(const float* y, const float* f, std::size_t n);
double adjusted_r2(const float* y, const float* f, std::size_t n, std::size_t p);
double explained_variance(const float* y, const float* f, std::size_t n);
double max_error(const float* y, const float* f, std::size_t n);
double pinball(const float* y, const float* f, std::size_t n, double q);
double crps_samples(float y, const float* samples, std::size_t m, bool fair = false);
// The same from samples already sorted ascending (callers that sorted them for quantiles).
double crps_sorted(double y, const double* sorted, std::size_t m, bool fair = false);
// q (k quantile forecasts of one y) at levels (k), both ascending.
double crps_quantiles(float y, const float* q, const float* levels, std::size_t k);
double coverage(const float* y, const float* lo, const float* hi, std::size_t n);
double mean_width(const float* lo, const float* hi, std::size_t n);
double msis(const float* y, const float* lo, const float* hi, std::size_t n, double alpha, double scale);
// Forecast H steps after history (n) with M4's Naive2 and season m (m <= 1: plain naive).
void naive2(const float* history, std::size_t n, std::size_t m, std::size_t H, float* out);
double owa(double smape, double mase, double smape_naive2, double mase_naive2);

// Running sums for metrics pooled over many windows (exact same definitions as above).
struct MetricSums {
  double abs_sum = 0, sq_sum = 0, smape_sum = 0, mase_sum = 0;
  std::size_t n = 0, mase_n = 0, dir_hits = 0, dir_n = 0;
  // Adds one forecast window; mase_scale <= 0 skips MASE for it.
  void add(const float* y, const float* f, std::size_t n, double mase_scale = 0, const float* last_input = nullptr);
  void add(const double* y, const double* f, std::size_t n, double mase_scale = 0, const double* last_input = nullptr);
  double mae() const;
  double mse() const;
  double rmse() const;
  double smape() const;
  double mase() const;  // -1 if no window had a scale
  double directional_accuracy() const;  // -1 if not recorded

 private:
  template <class T>
  void add_impl(const T* y, const T* f, std::size_t n, double mase_scale, const T* last_input);
};

}  // namespace ntn
