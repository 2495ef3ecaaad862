// Prophet-style decomposition (Taylor & Letham, "Forecasting at scale", 2018; the prophet
// package's model, fitted here without a probabilistic-programming runtime):
//
//   y(t) = g(t) (1 + X_m(t) beta_m) + X_a(t) beta_a + eps,   eps ~ N(0, sigma^2)
//
// on y scaled by max |y| and time scaled to [0, 1] over the history. g is the trend: piecewise
// linear  g = (k + a(t)'delta) t + (m - a(t)'(s delta)),  logistic  g = C / (1 + exp(-(k + a'delta)
// (t - (m + a'gamma)))) with Prophet's continuity offsets gamma, or flat (g = m); a_j(t) = [t >= s_j]
// over S changepoints s_j at evenly spaced rows of the first changepoint_range of the history.
// X holds Fourier terms [sin(2 pi n t / P), cos(2 pi n t / P)], n = 1..order, per seasonality
// (additive or multiplicative) and the extra regressors (standardised over the history).
// MAP estimate of Prophet's Stan model: k, m ~ N(0, 5), delta ~ Laplace(0, changepoint_prior_scale)
// (|delta| smoothed as sqrt(delta^2 + 1e-6) so that the objective is differentiable), beta ~
// N(0, prior_scale), sigma ~ N+(0, 0.5); minimised by L-BFGS (ntn/lbfgs.h) over
// (k, m, delta, beta, log sigma).
//
// Uncertainty (Prophet's predictive simulation): each path continues the trend with new
// changepoints in the future - Poisson(S (T - 1)) of them, uniform over (1, T], their rate changes
// Laplace(0, mean |delta|) - and adds N(0, sigma^2) noise. Paths are drawn from Philox (ntn/rng.h)
// with a given seed: the same seed gives the same paths.
//
// Time: in days when the data has dates (yearly 365.25, weekly 7, daily 1: auto-enabled as Prophet
// does - yearly when the history spans 2 years, weekly when it spans 2 weeks with steps under a
// week, daily when it spans 2 days with steps under a day), else in steps (custom periods only,
// e.g. 24 and 168 for hourly data). Irregular times (business days, gaps) are fine: the trend and
// the seasonal terms read each point's own time.
//
// Plan memory, then run: reserve() sizes every buffer; fit / predict / sample allocate nothing.
//
// Intended usage:
//   ntn::ProphetOptions o;  o.days = true;  o.multiplicative = true;
//   ntn::ProphetFitter p(o);  p.reserve(n, h, 1000);
//   p.fit(y, t_days, n);  p.predict(t_future, h, nullptr, yhat);
//   p.sample(t_future, h, nullptr, 1000, /*seed=*/1, paths);   // (1000, h)
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ntn/lbfgs.h"

namespace ntn {

enum class ProphetGrowth { linear, logistic, flat };
// "linear" | "logistic" | "flat"; anything else is an error naming `where` (the field).
ProphetGrowth parse_prophet_growth(const std::string& s, const std::string& where = "growth");
const char* prophet_growth_name(ProphetGrowth g);

struct ProphetSeasonality {
  double period = 24;      // in the time unit: days with dates, steps without (e.g. 24, 168)
  std::size_t order = 10;  // Fourier pairs
  int mode = -1;           // -1: the model's seasonality_mode, 0 additive, 1 multiplicative
  double prior_scale = 0;  // 0: the model's seasonality_prior_scale
};

struct ProphetOptions {
  ProphetGrowth growth = ProphetGrowth::linear;
  double cap = 0;                         // logistic: carrying capacity, in y's units (> every y)
  std::size_t n_changepoints = 25;        // at most rows - 1 of the changepoint range
  double changepoint_range = 0.8;         // share of the history (from its start) holding changepoints
  double changepoint_prior_scale = 0.05;  // Laplace scale of the rate changes (larger: a more flexible trend)
  int yearly = -1, weekly = -1,
      daily = -1;                          // order of the calendar seasonalities: -1 auto, 0 off (days only)
  bool multiplicative = false;             // seasonality_mode: multiplicative scales the trend
  double seasonality_prior_scale = 10;     // normal prior scale of every Fourier / regressor coefficient
  std::vector<ProphetSeasonality> custom;  // extra seasonalities (periods in the time unit)
  std::size_t regressors = 0;              // extra regressor columns R
  bool days = false;                       // time in days (dates) rather than steps
  LbfgsOptions lbfgs;
};

// The fitter's options from a prophet model config (the registry row's fields, validated as
// make_model does: an error names the field). input_size / horizon / outputs are ignored.
ProphetOptions prophet_options(const nlohmann::json& model_config);

class ProphetFitter {
 public:
  explicit ProphetFitter(ProphetOptions o);
  const ProphetOptions& options() const { return o_; }
  // Columns of X at most (every calendar seasonality at its order, the custom ones, the regressors).
  std::size_t max_features() const { return f_cap_; }
  // Buffers for histories of up to n points, forecasts of up to h points and `paths` paths.
  void reserve(std::size_t n, std::size_t h, std::size_t paths);

  // MAP fit on y (n) at times t (n, increasing), regressors xr (n, R) time-major (null if R = 0).
  // n >= 3 and <= the reserved size; every value finite (asserted by the callers' boundaries).
  LbfgsResult fit(const double* y, const double* t, std::size_t n, const double* xr = nullptr);
  // The fitted mean yhat (h) at times tf (h) with regressors xrf (h, R).
  void predict(const double* tf, std::size_t h, const double* xrf, double* yhat);
  // `paths` sample paths out (paths, h) of the predictive distribution at tf (Prophet's
  // simulation: future trend changes + observation noise), from seed.
  void sample(const double* tf, std::size_t h, const double* xrf, std::size_t paths, std::uint64_t seed,
              double* out);

  // The fit, for inspection and tests (scaled units: y / y_scale, time (t - t0) / t_span).
  struct Fitted {
    double y_scale = 1, t0 = 0, t_span = 1;
    double k = 0, m = 0, sigma = 1;
    std::vector<double> changepoints, delta;  // (S) scaled times and rate changes
    std::vector<double> beta;                 // (F) coefficients, additive columns first
    std::size_t additive = 0, features = 0;   // Fa, F
    std::size_t seasonalities = 0;  // seasonalities in use (calendar ones that were enabled + custom)
  };
  const Fitted& fitted() const { return fit_; }
  // The trend (h) of the fit at times tf, on y's scale.
  void trend(const double* tf, std::size_t h, double* out);

  double objective(const double* theta, double* grad);  // for the L-BFGS callback and tests

 private:
  struct Term {  // one seasonality in use
    double period;
    std::size_t order;
    bool mult;
    double prior;
  };
  void features(const double* t, std::size_t n, const double* xr, double* X) const;
  // g (n) at scaled times ts, with changepoint counts c; s / delta (S) may extend past the history.
  void trend_scaled(const double* ts, const std::uint32_t* c, std::size_t n, const double* s,
                    const double* delta, std::size_t S, double k, double m, double* g);
  void logistic_offsets(const double* s, const double* delta, std::size_t S, double k, double m);
  LbfgsResult minimize_preconditioned();

  ProphetOptions o_;
  Fitted fit_;
  std::vector<Term> terms_;  // reserved: no allocation per fit
  std::size_t n_cap_ = 0, h_cap_ = 0, p_cap_ = 0, f_cap_ = 0, s_cap_ = 0, snew_cap_ = 0;
  std::size_t n_ = 0, S_ = 0, F_ = 0, Fa_ = 0;
  double cap_scaled_ = 0;
  std::vector<double> ts_, ys_, X_, g_, xm_, G_, pt_, pg_, theta_, grad_, prior_, reg_mu_, reg_sd_;
  std::vector<double> A_, base_, z_, jrow_, jt_;  // preconditioner R (P x P), start, L-BFGS variables
  std::vector<double> ridge_;                     // linear / flat growth: the ridge system (P x P)
  std::vector<std::uint32_t> c_;
  std::vector<double> s_all_, d_all_, ks_, M_, dks_,
      dM_;  // changepoints (history + simulated), logistic state
  std::vector<double> tsf_, Xf_, gf_, sim_s_;
  std::vector<std::uint32_t> cf_;
  Lbfgs opt_;
};

}  // namespace ntn
