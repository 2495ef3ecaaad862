// Forecast accuracy metrics. y (actual) and f (forecast) are n aligned values.
//   mae, mse, rmse
//   smape       M4 convention: mean of 200 |y - f| / (|y| + |f|), on a 0..200 scale; a point
//               with y = f = 0 contributes 0 (the limit), never NaN.
//   mase        mean |y - f| / scale, scale = in-sample seasonal-naive MAE with period m:
//               mean_t |x_t - x_{t-m}| over the training series x (mase_scale()).
//   directional accuracy: share of steps whose forecast change sign(f_t - prev) matches the
//               actual change sign(y_t - prev), prev = the previous actual (the last input value
//               for t = 0); ties (no change) count as matching only if both are ties.
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
double mase(const float* y, const float* f, std::size_t n, double scale);
double directional_accuracy(const float* y, const float* f, std::size_t n, float last_input);

// Running sums for metrics pooled over many windows (exact same definitions as above).
struct MetricSums {
  double abs_sum = 0, sq_sum = 0, smape_sum = 0, mase_sum = 0;
  std::size_t n = 0, mase_n = 0, dir_hits = 0, dir_n = 0;
  // Adds one forecast window; mase_scale <= 0 skips MASE for it.
  void add(const float* y, const float* f, std::size_t n, double mase_scale = 0, const float* last_input = nullptr);
  double mae() const;
  double mse() const;
  double rmse() const;
  double smape() const;
  double mase() const;  // -1 if no window had a scale
  double directional_accuracy() const;  // -1 if not recorded
};

}  // namespace ntn
