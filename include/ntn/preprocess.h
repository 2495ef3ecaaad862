// Preprocessing of one series (double precision). Length-preserving unless stated: a value
// that cannot be defined at a position (the first difference, the edges of a centred moving
// average) is NaN there, documented per function, never a shortened series.
// Empty input gives empty output. NaN / inf is an error naming the function and index, except
// in fill_forward / fill_linear, whose job is to repair NaN (a leading NaN cannot be repaired
// and is an error). Outlier handling clips (winsorises); it never drops points.
//
//   log_transform / exp_transform   ln x (x must be > 0) / e^x
//   simple_returns   r_t = x_t / x_{t-1} - 1; r_0 = NaN; x_{t-1} = 0 is an error
//   log_returns      r_t = ln(x_t / x_{t-1}); r_0 = NaN; needs x > 0
//   difference(lag)  d_t = x_t - x_{t-lag}; the first lag values NaN
//   undifference     the inverse: x_t = d_t + x_{t-lag}, seeded with the first lag values of x
//   centred_moving_average(m)  order m (2 x m for even m: half weights at both ends); NaN for
//                    the first and last m/2 points
//   linear_detrend   least-squares line a + b t removed (returned so add it back: add_trend)
//   seasonal_decompose(m)  classical additive: trend = centred moving average of order m (2 x m
//                    for even m; NaN for the first and last m/2 points), seasonal = mean of
//                    (x - trend) per position t mod m, centred to sum 0, residual = x - trend -
//                    seasonal (NaN where the trend is)
//   robust_decompose(m)    STL-style robust variant: the same decomposition iterated with
//                    bisquare weights of the residuals (6 x median |resid|), trend a weighted
//                    moving average and seasonal weighted means, so outliers stop pulling them
//   winsorize        clip to Tukey fences [q1 - k IQR, q3 + k IQR] (k = 1.5) or to mean +- k std
//                    (k = 3); returns the number of values clipped
//   fill_forward / fill_linear   repair NaN in place (trailing NaN after the last value: held)
//   resample         irregular (time, value) pairs, times strictly increasing, onto the grid
//                    start + i step for every grid time within [first, last] observation;
//                    value = last observation at or before (hold) or linear interpolation
//
// Intended usage:
//   std::vector<double> r(n);  ntn::log_returns(close.data(), n, r.data());
//   ntn::Decomposition d = ntn::seasonal_decompose(x.data(), n, 24);
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ntn {

void log_transform(const double* x, std::size_t n, double* out);
void exp_transform(const double* x, std::size_t n, double* out);
void simple_returns(const double* x, std::size_t n, double* out);
void log_returns(const double* x, std::size_t n, double* out);
void difference(const double* x, std::size_t n, std::size_t lag, double* out);
// d (n) from difference(); head: the first lag values of the original series.
void undifference(const double* d, std::size_t n, std::size_t lag, const double* head, double* out);

void centred_moving_average(const double* x, std::size_t n, std::size_t m, double* out);

struct Trend {
  double intercept = 0, slope = 0;  // value at position t: intercept + slope t
};
Trend linear_detrend(const double* x, std::size_t n, double* out);
void add_trend(const double* x, std::size_t n, const Trend& t, double* out);

struct Decomposition {
  std::vector<double> trend, seasonal, resid;  // each n values
};
Decomposition seasonal_decompose(const double* x, std::size_t n, std::size_t period);
Decomposition robust_decompose(const double* x, std::size_t n, std::size_t period, int iterations = 3);

enum class OutlierRule { tukey, zscore };
std::size_t winsorize(const double* x, std::size_t n, double* out, OutlierRule rule, double k);

void fill_forward(double* x, std::size_t n);
void fill_linear(double* x, std::size_t n);

enum class ResampleMethod { hold, linear };
// Returns the grid times; values written to `out` (resized).
std::vector<std::int64_t> resample(const std::int64_t* times, const double* values, std::size_t n, std::int64_t start,
                                   std::int64_t step, ResampleMethod method, std::vector<double>& out);

}  // namespace ntn
