// Conformal prediction intervals around any model's forecast: split conformal (Vovk et al. 2005;
// what NeuralForecast's conformal_distribution and Darts' conformal models do) from the residuals
// of calibration windows held out of training.
//
// A window's nonconformity score at step h is the residual y_h - f_h over a scale, in the
// series-scaled space the model forecasts in. The scale is one of three:
//   absolute  1: plain residuals (per series in units of its scaler);
//   window    the mean absolute one-step change of the window's L inputs: the interval follows
//             the volatility the window shows;
//   head      the model's own spread, for quantile and distribution heads (conformalised
//             quantile / distribution forecasts, Romano et al. 2019's CQR in its scaled form,
//             Lei et al. 2018's locally weighted scores): below the forecast s_lo = f - q_first,
//             above it s_hi = q_last - f (the outermost quantile levels around the median); a
//             distribution's standard deviation (sigma for the Gaussian and the Student-t's
//             scale, sqrt(mu + alpha mu^2) for the negative binomial) on both sides. The
//             interval keeps the head's shape (skew, width per window and step) and the
//             calibration sets how far to stretch it.
// The score is (y - f) / s_hi above the forecast and (f - y) / s_lo below it (s_lo = s_hi = s for
// the first two). Split conformal at level a from n calibration windows takes, per step h, the
// radius r_h = the ceil((n + 1) a)-th smallest of the n scores at h; the interval
// [f_h - r_h s_lo, f_h + r_h s_hi] then holds y_h with probability >= a when calibration and test
// windows are exchangeable. That needs (n + 1) a <= n: n >= a / (1 - a) windows (4 for 80%, 19
// for 95%).
//
// Markets are not exchangeable: the calibration windows nearest the forecast are the likeliest to
// look like it. With a half-life T (time steps; 0: off, the default) each calibration window
// weighs w_i = 2^(-age_i / T), age_i its distance from its series' last calibration window, and
// the radius is Barber et al. 2023's weighted split-conformal quantile (the "nexCP" rule): the
// smallest score s_(k) whose cumulative weight reaches a (W + 1), W the weights' sum and the test
// point weighing 1 at +infinity. With every weight 1 it is the plain rule; the level then needs
// a (W + 1) <= W, i.e. W >= a / (1 - a).
//
// The series scalers are affine (center + scale x), so on the original scale the scales are in
// original units: s x |scale| (absolute), the window's mean absolute step (window), the spread of
// the head's unscaled outputs (head).
//
// Intended usage:
//   ntn::Conformal c = ntn::calibrate_conformal(artifact, prepared.store, prepared.val, {0.8, 0.95},
//                                               ntn::ConformalScore::absolute);
//   artifact.conformal = c;                                         // saved with it
//   ntn::conformal_interval(c, 1, artifact.output, stats, x, L, y, lo, hi);  // 95% bounds of outputs y (H, Q)
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "ntn/dataset.h"
#include "ntn/heads.h"
#include "ntn/normalize.h"

namespace ntn {

struct Artifact;

enum class ConformalScore { absolute, window, head };
ConformalScore parse_conformal_score(const std::string& name);  // "absolute" | "window" | "head"
const char* conformal_score_name(ConformalScore s);

struct Conformal {
  ConformalScore score = ConformalScore::absolute;
  std::vector<double> levels;      // nominal coverages, increasing, each in (0, 1)
  std::size_t horizon = 0;         // H
  std::size_t windows = 0;         // calibration windows n
  double half_life = 0;            // recency weighting of the windows (time steps; 0: none)
  std::vector<double> radius;      // (levels, H): the score quantile r_h of each level
  // (H, G) order statistics of each step's scores at ranks ceil(n (g + 1) / G), G = min(n, 100):
  // the score quantile at any level (quantile()), what adaptive intervals move along.
  std::vector<double> grid;
  std::size_t grid_size() const { return horizon ? grid.size() / horizon : 0; }
  bool empty() const { return levels.empty(); }
  double r(std::size_t level, std::size_t h) const { return radius[level * horizon + h]; }
  // The split-conformal radius of step h at any level b: the ceil((n + 1) b)-th smallest score
  // (from the grid, rounded up to its next order statistic: never narrower); 0 for b <= 0 and
  // infinity when (n + 1) b > n.
  double quantile(std::size_t h, double b) const;
  nlohmann::json to_json() const;
  // Validated (levels, finite non-negative radii, horizon); ctx names the file in errors.
  static Conformal from_json(const nlohmann::json& j, std::size_t horizon, const std::string& ctx);
};

// The fewest calibration windows split conformal needs for level a: ceil(a / (1 - a)).
std::size_t conformal_min_windows(double level);

// Split conformal from scores (n, H) (finite, >= 0). Throws naming the level and the windows it
// needs when n is too small for one, and any level outside (0, 1) or out of order. weights (n,
// each in [0, 1]; empty: all 1) make it the weighted rule above (the grid then holds the weighted
// quantiles at the plain grid's levels, the largest score where the weights do not reach one).
Conformal split_conformal(const std::vector<double>& scores, std::size_t n, std::size_t H,
                          const std::vector<double>& levels, ConformalScore score,
                          const std::vector<double>& weights = {});

// The recency weights of calibration windows for half-life T > 0 (see above); all 1 for T = 0.
std::vector<double> conformal_weights(const std::vector<WindowRef>& windows, double half_life);
// Whether weights summing to W support level a: a (W + 1) <= W.
inline bool conformal_supports(double level, double weight_sum) { return level * (weight_sum + 1) <= weight_sum; }

// The scale s of a window of L inputs (any affine scale): 1 for score absolute; for score
// window the mean |x[t] - x[t-1]|, floored at 1e-9 (1 + mean |x|) so a flat window keeps an interval.
template <class T>
double conformal_window_scale(ConformalScore score, const T* x, std::size_t L);

// The scale s of a window of L inputs x on the original scale, st the series' scaler: |st.scale|
// (score absolute: an affine scaler multiplies residuals by it), or the window's mean absolute step.
// Not for score head (its scales come from the forecast: conformal_scales).
template <class T>
double conformal_original_scale(const Conformal& c, const NormStats& st, const T* x, std::size_t L) {
  return c.score == ConformalScore::absolute ? (st.scale < 0 ? -st.scale : st.scale)
                                             : conformal_window_scale(c.score, x, L);
}

// Whether score head applies to a model with this output: a distribution head, or quantiles with
// a level on each side of the point forecast. Throws naming ctx and what the model has otherwise.
void check_conformal_head(const OutputSpec& out, const std::string& ctx);

// The per-step scales of one forecast: y (H, Q) the model's outputs (unscaled: original scale,
// or the series-scaled space with st = identity), x (L) the window's inputs on the same scale, st
// the series' scaler; writes s_lo, s_hi (H), each > 0 (floored at 1e-9 (1 + |f|)), and f (H), the
// point forecast (the output point_index of each step).
template <class T>
void conformal_scales(const Conformal& c, const OutputSpec& out, const NormStats& st, const T* x, std::size_t L,
                      const double* y, double* f, double* s_lo, double* s_hi);

// The nonconformity score of value v against a forecast f with scales s_lo, s_hi.
inline double conformal_score(double v, double f, double s_lo, double s_hi) {
  return v >= f ? (v - f) / s_hi : (f - v) / s_lo;
}

// Calibrates the artifact's forecast on `windows` of store (held out of its training): forecasts
// them, scores each step in the series-scaled space, and returns split_conformal (weighted by
// recency with half_life > 0).
Conformal calibrate_conformal(const Artifact& a, const SeriesStore& store, const std::vector<WindowRef>& windows,
                              const std::vector<double>& levels, ConformalScore score, double half_life = 0);

// The interval of level index `level` of a forecast with scales s_lo, s_hi (conformal_scales):
// [f - r s_lo, f + r s_hi] per step; lo, hi (H).
void conformal_interval(const Conformal& c, std::size_t level, const double* f, const double* s_lo,
                        const double* s_hi, double* lo, double* hi);
// The same from the model's outputs y (H, Q) on the original scale (out the artifact's output,
// st the series' scaler, x (L) the window's inputs): the forecast's own scales, then the interval.
void conformal_interval(const Conformal& c, std::size_t level, const OutputSpec& out, const NormStats& st,
                        const double* x, std::size_t L, const double* y, double* lo, double* hi);

// Online adaptive conformal inference (ACI, Gibbs & Candes 2021) over one stream of forecasts: each
// horizon step h has its own miscoverage alpha_h, starting at 1 - level; when the value that a
// step-h forecast aimed at arrives, alpha_h += gamma (1 - level - miss) (miss: 1 when the value fell
// outside), kept >= -gamma. The interval's radius is the score quantile at level 1 - alpha_h, so it
// widens after misses and narrows after hits: coverage returns to `level` after a change of
// regime, which a fixed split-conformal interval does not.
// The scores are online, as in Gibbs & Candes' own experiments (a moving calibration set): each
// step keeps its last W scores (conformal_score; W = the calibration's grid size, <= 100), starting
// from the calibration's order statistics, so a crash's errors enter the scores as they arrive.
// A level past the scores (the ceil((W + 1) b)-th of W) takes the largest recent score instead
// of the whole line: the interval stays finite and as wide as the worst recent error (the
// first-order ACI would print an infinite interval, 45-86% of the 95% forecasts over the 2008 and
// 2020 S&P 500 crashes with fixed scores). O(H W) per tick (sorted insert per step); the state
// (alphas, scores, pending forecasts) is saved and restored as JSON.
// The default step: Gibbs & Candes used 0.005 over years of data; 0.05 follows a market crash
// within weeks (bench/conformal_bench.py) and keeps the long-run coverage all the same.
inline constexpr double kAciGamma = 0.05;

class AdaptiveConformal {
 public:
  AdaptiveConformal() = default;
  // c: a calibration with its grid; level in (0, 1); gamma in (0, 1] (the step size).
  AdaptiveConformal(const Conformal& c, double level, double gamma = kAciGamma);
  // A value arrived: scores every pending forecast that aimed at it, updating its step's alpha.
  void observe(double y);
  // The interval of a forecast made now (after the values observed so far): f (H) the point
  // forecast and s_lo, s_hi (H) its scales on the original scale (conformal_scales); writes lo,
  // hi (H) and keeps them to score against the values to come.
  void interval(const double* f, const double* s_lo, const double* s_hi, double* lo, double* hi);
  double alpha(std::size_t h) const { return alpha_[h]; }
  double level() const { return level_; }
  double gamma() const { return gamma_; }
  std::uint64_t observed() const { return t_; }
  // The score quantile step h's interval uses at level b (the largest recent score past them).
  double radius(std::size_t h, double b) const;
  nlohmann::json state() const;                // alphas, scores, pending forecasts, counters
  // From state() of the same calibration, level and gamma. A state saved before the scores were
  // online (no "scores") restores its alphas and pending intervals; the scores start afresh. One
  // saved with one scale per pending forecast ("scale") restores it on both sides of every step.
  void restore(const nlohmann::json& state);

 private:
  void add_score(std::size_t h, double s);
  Conformal c_;
  double level_ = 0.8, gamma_ = kAciGamma;
  std::size_t H_ = 0, W_ = 0;
  std::vector<double> alpha_;         // (H)
  std::vector<double> lo_, hi_;       // (H slots, H steps): the forecast made after m values sits in slot m % H
  std::vector<double> f_;             // (H slots, H steps): those forecasts' centres
  std::vector<double> slo_, shi_;     // (H slots, H steps): their scales (0: not scored)
  std::vector<std::int64_t> made_;    // (H slots): m, or -1 when empty
  std::vector<double> ring_;          // (H, W): each step's last W scores; the oldest at head_[h]
  std::vector<std::size_t> head_;     // (H)
  std::vector<double> sorted_;        // (H, W): the same scores, ascending
  std::uint64_t t_ = 0;               // values observed
};

// Empirical coverage, mean width and mean interval score of intervals against outcomes, per level:
// add() a window at a time; msis: the interval score divided by the window's MASE scale (M4's
// MSIS), over the windows that have one. An interval of infinite width (adaptive conformal after
// a run of misses asks for a level past its calibration: the whole line, which covers) counts in
// the coverage and in "unbounded" (the share of such steps), not in the mean width, and leaves its
// window out of MSIS.
struct IntervalSums {
  explicit IntervalSums(std::vector<double> levels);
  // y, lo, hi (n) for level index k; mase_scale <= 0 leaves the window out of MSIS.
  void add(std::size_t k, const double* y, const double* lo, const double* hi, std::size_t n, double mase_scale);
  nlohmann::json to_json() const;  // [{level, coverage, mean_width, msis (when any scale)}, ...]

  std::vector<double> levels;
  std::vector<double> hits, width, is_scaled;
  std::vector<std::size_t> n, scaled_n, unbounded;
};

}  // namespace ntn
