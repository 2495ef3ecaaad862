// Series normalisation: statistics + the SIMD affine kernels of ntn/kernels.h.
//   z-score : center = mean,   scale = population std
//   min-max : center = min,    scale = max - min          (output in [0, 1])
//   robust  : center = median, scale = IQR = q75 - q25    (linear-interpolated quantiles)
// y = (x - center) / scale, inverse x = y * scale + center.
// A constant (or numerically constant) series has no spread: scale is then defined as 1, so
// it normalises to x - center (zeros for z-score and min-max) and inverts exactly; never a
// division by zero, never a NaN. "Numerically constant" means scale <= 1e-6 |center| for f32
// data (1e-12 for f64): below the resolution of the type.
// Statistics reject empty input and NaN / inf with an ntn::Error naming the index.
//
// Intended usage:
//   ntn::NormStats st = ntn::norm_stats(ntn::NormKind::zscore, x, n);
//   ntn::normalize(st, x, y, n);          // y = (x - st.center) / st.scale
//   ntn::denormalize(st, y, x2, n);       // x2 == x up to rounding
#pragma once

#include <cstddef>
#include <string>

#include "ntn/kernels.h"

namespace ntn {

enum class NormKind { zscore, minmax, robust };

struct NormStats {
  double center = 0.0;
  double scale = 1.0;
  double apply(double v) const { return (v - center) / scale; }   // the scaled value
  double invert(double z) const { return z * scale + center; }    // back to the data's scale
};

const char* norm_kind_name(NormKind k);
NormKind parse_norm_kind(const std::string& name);  // "standard"/"zscore", "minmax", "robust"

// `k` picks the kernels (the active table by default; benchmarks and tests pass others).
NormStats norm_stats(NormKind kind, const float* x, std::size_t n, const KernelTable& k = kernels());
NormStats norm_stats(NormKind kind, const double* x, std::size_t n, const KernelTable& k = kernels());
// (center, scale) of f32 data computed elsewhere (e.g. sliding-window updates), with the same
// constant-series rule as norm_stats: a scale <= 1e-6 |center| (or not > 0) becomes 1.
NormStats f32_stats_from(double center, double scale);
// Same, allocation-free: robust statistics use `scratch` (n doubles) instead of a new buffer.
NormStats norm_stats(NormKind kind, const float* x, std::size_t n, double* scratch, const KernelTable& k = kernels());

// Quantile q in [0, 1] with linear interpolation between order statistics (numpy's default).
// `scratch` holds n values and is reordered; x must be finite.
double quantile_inplace(double* scratch, std::size_t n, double q);

// The same quantile of n values already sorted ascending.
double sorted_quantile(const float* sorted, std::size_t n, double q);

// Robust statistics of every window x[t, t + L), t = 0 .. n - L, into out[0 .. n - L]: equal to
// norm_stats(NormKind::robust, x + t, L) for each t, from one sorted window slid along x (one
// erase and one insert per step instead of three selections per window). x must be finite (the
// error names the first index that is not).
void robust_stats_sliding(const float* x, std::size_t n, std::size_t L, NormStats* out);

void normalize(const NormStats& s, const float* x, float* y, std::size_t n);
void denormalize(const NormStats& s, const float* y, float* x, std::size_t n);
void normalize(const NormStats& s, const double* x, double* y, std::size_t n);
void denormalize(const NormStats& s, const double* y, double* x, std::size_t n);

}  // namespace ntn
