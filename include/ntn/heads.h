// What a model's Q outputs per step mean, and how to turn them back into the data's scale.
//
//   point         Q = 1: the forecast.
//   quantiles     Q = levels.size(): one forecast per level, made monotone per step (sorted).
//   distribution  Q = the distribution's parameter count: the model's head outputs the
//                 parameters themselves (positive ones already through softplus):
//                   gaussian           (mu, sigma)       sigma > 0
//                   student_t          (mu, sigma, nu)   sigma > 0, nu > 0 (DeepAR: nu = 3 + softplus)
//                   negative_binomial  (mu, alpha)       mean mu > 0, dispersion alpha > 0:
//                                      variance mu + alpha mu^2 (counts, e.g. volume; GluonTS's)
//                 with its negative log-likelihood, sampling and quantile function below.
//
// Inverse scaling (a scaler maps y to (y - center) / scale): a location goes back as
// v * scale + center, a scale parameter as sigma * scale - never shifted by the center - and a
// shape parameter (nu) is unchanged. A count distribution is never shifted: its mean goes back as
// mu * scale with alpha unchanged (GluonTS's mean scaling), and a scaler with a center is an error. The functions are double-precision references (evaluation,
// sampling, quantiles); a training loss over them checks itself against these.
//
// Intended usage:
//   ntn::OutputSpec spec = ntn::OutputSpec::distribution(ntn::DistKind::gaussian);
//   ntn::unscale_outputs(spec, {100.0, 4.0}, y, H);            // y (H, 2): mu, sigma per step
//   double lo = ntn::dist_quantile(spec.dist, y, 0.1), nll = ntn::dist_nll(spec.dist, y, 101.5);
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "ntn/normalize.h"
#include "ntn/rng.h"

namespace ntn {

enum class OutputKind { point, quantiles, distribution };
enum class DistKind { gaussian, student_t, negative_binomial };

const char* output_kind_name(OutputKind k);
const char* dist_name(DistKind d);
// "gaussian" | "normal" | "student_t" | "studentt" | "negative_binomial" | "negbin"
DistKind parse_dist(const std::string& name);
std::size_t dist_params(DistKind d);  // 2, 3, 2

struct OutputSpec {
  OutputKind kind = OutputKind::point;
  std::vector<float> levels;           // quantiles: strictly increasing in (0, 1)
  DistKind dist = DistKind::gaussian;  // distribution

  static OutputSpec point() { return {}; }
  static OutputSpec quantiles(std::vector<float> levels);  // validated
  static OutputSpec distribution(DistKind d);
  std::size_t outputs() const;  // Q
  // The output that is the point forecast: the 0.5 quantile, else the middle one; a
  // distribution's location (its first parameter); 0 for a point head.
  std::size_t point_index() const;
  nlohmann::json to_json() const;
  // Validated; ctx names the source in errors.
  static OutputSpec from_json(const nlohmann::json& j, const std::string& ctx);
  bool operator==(const OutputSpec&) const = default;
};

// y (H, Q) on the scaled space -> the scale of st, per kind (see above). Quantiles are sorted per
// step first (monotone: never worse in pinball loss). T = float or double.
template <class T>
void unscale_outputs(const OutputSpec& spec, const NormStats& st, T* y, std::size_t H);
// The same for a batch of rows, each with its own statistics: y (B, H, Q), st (B).
template <class T>
void unscale_outputs(const OutputSpec& spec, const NormStats* st, T* y, std::size_t B, std::size_t H);
// Only the monotone ordering of quantile outputs (a no-op for other kinds).
template <class T>
void order_outputs(const OutputSpec& spec, T* y, std::size_t H);

// ---- distributions: par points at the dist_params(d) parameters of one step ------------------
// Negative log-likelihood of y. Invalid parameters (sigma, nu, mu or alpha out of range,
// non-finite) are an error; the negative binomial takes y >= 0 (the lgamma form, so a scaled,
// non-integer count is allowed).
double dist_nll(DistKind d, const double* par, double y);
// The same and its gradient with respect to the parameters: g (dist_params(d)) = d nll / d par
// (closed forms; the Student-t's and the negative binomial's shape terms through digamma).
double dist_nll_grad(DistKind d, const double* par, double y, double* g);
// The quantile at probability p in (0, 1). Gaussian: Acklam's rational approximation refined by
// one Halley step on erfc (|error| < 1e-15 relative); Student-t: the regularized incomplete beta
// (continued fraction) inverted by safeguarded Newton / bisection: cdf(quantile(p)) is within
// 1e-12 of p up to nu = 1e4, 1e-10 beyond (lgamma of huge arguments loses digits); negative
// binomial: the smallest count k with cdf(k) >= p (cdf(k) = I_{r/(r+mu)}(r, k + 1), r = 1/alpha).
double dist_quantile(DistKind d, const double* par, double p);
double dist_cdf(DistKind d, const double* par, double y);
double dist_mean(DistKind d, const double* par);  // student_t with nu <= 1: an error (no mean)
// One draw from the seeded stream: Gaussian by Box-Muller; Student-t as z / sqrt(g / nu) with
// g ~ chi-square(nu) (Marsaglia-Tsang gamma); negative binomial as Poisson(lambda) with lambda ~
// Gamma(1/alpha, alpha mu) (Poisson: multiplication below lambda 10, Hormann's PTRS above).
double dist_sample(DistKind d, const double* par, Rng& rng);
// The stream of sample path p of forecast row `row` (global index): paths never share draws, and
// a path is the same whichever batch its row was in.
inline Rng path_rng(std::uint64_t seed, std::uint64_t row, std::uint64_t path) {
  return Rng(seed, stream_id("sample.paths") + row, path << 32);
}

}  // namespace ntn
