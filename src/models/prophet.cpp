// Prophet-style decomposition model (ntn/prophet.h): the fitter, and the registry row that fits it
// on each window's own history (a local model: no gradient steps, no learned parameters in the
// artifact - its configuration is the model).
#include "ntn/prophet.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "models/common.h"
#include "ntn/rng.h"

namespace ntn {

ProphetGrowth parse_prophet_growth(const std::string& s, const std::string& where) {
  if (s == "linear") return ProphetGrowth::linear;
  if (s == "logistic") return ProphetGrowth::logistic;
  if (s == "flat") return ProphetGrowth::flat;
  throw Error(cat(where, ": '", s, "': expected linear, logistic or flat"));
}

const char* prophet_growth_name(ProphetGrowth g) {
  switch (g) {
    case ProphetGrowth::linear:
      return "linear";
    case ProphetGrowth::logistic:
      return "logistic";
    case ProphetGrowth::flat:
      return "flat";
  }
  return "?";
}

namespace {

constexpr double kTwoPi = 6.283185307179586476925;
constexpr double kAbsEps2 = 1e-6;  // |delta| ~ sqrt(delta^2 + 1e-6): differentiable, exact to 1e-3

// Uniform double in [0, 1) with 53 random bits.
double uniform01(Rng& r) { return double(r.next_u64() >> 11) * 0x1.0p-53; }
double normal01(Rng& r) {
  const double u1 = 1.0 - uniform01(r), u2 = uniform01(r);  // u1 in (0, 1]
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}
// Poisson(mu): Knuth's product of uniforms for small means, Hoermann's PTRS (1993) otherwise.
std::size_t poisson(Rng& r, double mu) {
  if (!(mu > 0)) return 0;
  if (mu < 30) {
    const double lim = std::exp(-mu);
    std::size_t k = 0;
    for (double p = uniform01(r); p > lim; p *= uniform01(r)) ++k;
    return k;
  }
  const double slam = std::sqrt(mu), loglam = std::log(mu), b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double U = uniform01(r) - 0.5, V = uniform01(r), us = 0.5 - std::fabs(U);
    const double k = std::floor((2 * a / us + b) * U + mu + 0.43);
    if (us >= 0.07 && V <= vr) return std::size_t(k);
    if (k < 0 || (us < 0.013 && V > us)) continue;
    int sign = 0;
    if (std::log(V) + std::log(invalpha) - std::log(a / (us * us) + b) <=
        -mu + k * loglam - lgamma_r(k + 1, &sign))
      return std::size_t(k);
  }
}

// In place: the upper-triangular R with R'R = A (D x D, row-major, upper triangle read). A is
// positive definite here (the priors add a positive diagonal); a pivot that is not is floored.
void cholesky_upper(double* A, std::size_t D) {
  for (std::size_t i = 0; i < D; ++i) {
    double d = A[i * D + i];
    for (std::size_t k = 0; k < i; ++k) d -= A[k * D + i] * A[k * D + i];
    const double r = std::sqrt(std::max(d, 1e-300));
    A[i * D + i] = r;
    for (std::size_t j = i + 1; j < D; ++j) {
      double v = A[i * D + j];
      for (std::size_t k = 0; k < i; ++k) v -= A[k * D + i] * A[k * D + j];
      A[i * D + j] = v / r;
    }
  }
}
// x <- R^-1 x (back substitution) and x <- R^-T x (forward substitution).
void solve_upper(const double* R, std::size_t D, double* x) {
  for (std::size_t i = D; i-- > 0;) {
    double v = x[i];
    for (std::size_t j = i + 1; j < D; ++j) v -= R[i * D + j] * x[j];
    x[i] = v / R[i * D + i];
  }
}
void solve_upper_t(const double* R, std::size_t D, double* x) {
  for (std::size_t i = 0; i < D; ++i) {
    double v = x[i];
    for (std::size_t k = 0; k < i; ++k) v -= R[k * D + i] * x[k];
    x[i] = v / R[i * D + i];
  }
}

}  // namespace

ProphetFitter::ProphetFitter(ProphetOptions o) : o_(std::move(o)) {
  opt_.options = o_.lbfgs;
  terms_.reserve(3 + o_.custom.size());
  std::size_t f = o_.regressors;
  for (const auto& c : o_.custom) f += 2 * c.order;
  f += 2 * std::size_t(o_.yearly < 0 ? 10 : o_.yearly) + 2 * std::size_t(o_.weekly < 0 ? 3 : o_.weekly) +
       2 * std::size_t(o_.daily < 0 ? 4 : o_.daily);
  f_cap_ = f;
}

void ProphetFitter::reserve(std::size_t n, std::size_t h, std::size_t paths) {
  n_cap_ = n, h_cap_ = h, p_cap_ = paths;
  s_cap_ = o_.n_changepoints;
  // Simulated future changepoints: Poisson(S (T - 1)) with T - 1 ~ h / (n - 1) on a regular grid;
  // room for far beyond the mean (a draw past it is cut at the room: probability negligible).
  const double mu = double(s_cap_) * double(h) / double(std::max<std::size_t>(n, 3) - 1) * 2.0;
  snew_cap_ = s_cap_ ? std::size_t(mu + 10 * std::sqrt(mu) + 32) : 0;
  const std::size_t D = 3 + s_cap_ + f_cap_, SA = s_cap_ + snew_cap_ + 1;
  for (auto* v : {&ts_, &ys_, &g_, &xm_, &G_}) v->assign(n, 0.0);
  c_.assign(std::max(n, h), 0);
  X_.assign(n * f_cap_, 0.0);
  for (auto* v : {&theta_, &grad_, &base_, &z_}) v->assign(D, 0.0);
  A_.assign(D * D, 0.0);
  if (o_.growth != ProphetGrowth::logistic) ridge_.assign(D * D, 0.0);  // the ridge start's system
  jrow_.assign(D, 0.0);
  // Logistic growth: the trend's Jacobian by finite differences, a column per trend parameter.
  if (o_.growth == ProphetGrowth::logistic) jt_.assign(n * (2 + s_cap_), 0.0);
  prior_.assign(f_cap_, 0.0);
  reg_mu_.assign(o_.regressors, 0.0);
  reg_sd_.assign(o_.regressors, 1.0);
  for (auto* v : {&pt_, &pg_}) v->assign(s_cap_ + 1, 0.0);
  for (auto* v : {&s_all_, &d_all_, &ks_, &M_, &dks_, &dM_}) v->assign(SA, 0.0);
  for (auto* v : {&tsf_, &gf_}) v->assign(2 * h, 0.0);
  cf_.assign(h, 0);
  Xf_.assign(h * f_cap_, 0.0);
  sim_s_.assign(snew_cap_ + 1, 0.0);
  fit_.changepoints.reserve(s_cap_);
  fit_.delta.reserve(s_cap_);
  fit_.beta.reserve(f_cap_);
  opt_.reserve(D);
}

// X (n, F): the additive columns first (Fourier pairs of each additive term, then the regressors
// when additive), then the multiplicative ones. Fourier terms by the angle-addition recurrence
// from the phase of t within the period (fmod keeps the argument small: exact for dates in days).
void ProphetFitter::features(const double* t, std::size_t n, const double* xr, double* X) const {
  const std::size_t F = F_, R = o_.regressors;
  for (std::size_t i = 0; i < n; ++i) {
    double* row = X + i * F;
    for (int pass = 0; pass < 2; ++pass) {
      const bool mult = pass == 1;
      for (const Term& term : terms_) {
        if (term.mult != mult) continue;
        const double ph = kTwoPi * std::fmod(t[i], term.period) / term.period;
        const double s1 = std::sin(ph), c1 = std::cos(ph);
        double s = s1, c = c1;
        for (std::size_t k = 0; k < term.order; ++k) {
          *row++ = s;
          *row++ = c;
          const double sn = s * c1 + c * s1;
          c = c * c1 - s * s1;
          s = sn;
        }
      }
      if (o_.multiplicative == mult)
        for (std::size_t r = 0; r < R; ++r) *row++ = (xr[i * R + r] - reg_mu_[r]) / reg_sd_[r];
    }
  }
}

void ProphetFitter::logistic_offsets(const double* s, const double* delta, std::size_t S, double k,
                                     double m) {
  ks_[0] = k;
  M_[0] = m;
  for (std::size_t j = 0; j < S; ++j) {
    ks_[j + 1] = ks_[j] + delta[j];
    M_[j + 1] = M_[j] + (s[j] - M_[j]) * (1 - ks_[j] / ks_[j + 1]);
  }
}

void ProphetFitter::trend_scaled(const double* ts, const std::uint32_t* c, std::size_t n, const double* s,
                                 const double* delta, std::size_t S, double k, double m, double* g) {
  switch (o_.growth) {
    case ProphetGrowth::flat:
      for (std::size_t i = 0; i < n; ++i) g[i] = m;
      return;
    case ProphetGrowth::linear:
      // rate k + D[c], offset m - E[c]: prefix sums of delta and s delta over the active changepoints
      ks_[0] = 0, M_[0] = 0;
      for (std::size_t j = 0; j < S; ++j) ks_[j + 1] = ks_[j] + delta[j], M_[j + 1] = M_[j] + s[j] * delta[j];
      for (std::size_t i = 0; i < n; ++i) g[i] = (k + ks_[c[i]]) * ts[i] + m - M_[c[i]];
      return;
    case ProphetGrowth::logistic:
      logistic_offsets(s, delta, S, k, m);
      for (std::size_t i = 0; i < n; ++i)
        g[i] = cap_scaled_ / (1 + std::exp(-ks_[c[i]] * (ts[i] - M_[c[i]])));
      return;
  }
}

double ProphetFitter::objective(const double* th, double* gr) {
  const std::size_t n = n_, S = S_, F = F_, Fa = Fa_, D = 3 + S + F;
  const double k = th[0], m = th[1], u = th[D - 1];
  const double* delta = th + 2;
  const double* beta = th + 2 + S;
  const double sigma = std::exp(u), iv = 1 / (sigma * sigma);
  const double* s = s_all_.data();
  trend_scaled(ts_.data(), c_.data(), n, s, delta, S, k, m, g_.data());
  std::fill(gr, gr + D, 0.0);
  double* gb = gr + 2 + S;
  double sse = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double* x = &X_[i * F];
    double xa = 0, xm = 0;
    for (std::size_t c = 0; c < Fa; ++c) xa += x[c] * beta[c];
    for (std::size_t c = Fa; c < F; ++c) xm += x[c] * beta[c];
    const double r = ys_[i] - (g_[i] * (1 + xm) + xa);
    sse += r * r;
    const double e = -r * iv, eg = e * g_[i];  // d f / d yhat_i, and times g for the multiplicative columns
    for (std::size_t c = 0; c < Fa; ++c) gb[c] += e * x[c];
    for (std::size_t c = Fa; c < F; ++c) gb[c] += eg * x[c];
    G_[i] = e * (1 + xm);  // d f / d g_i
  }
  double f = 0.5 * sse * iv + double(n) * u + 0.5 * sigma * sigma / 0.25;
  gr[D - 1] = -sse * iv + double(n) + sigma * sigma / 0.25;
  // Trend gradient.
  if (o_.growth == ProphetGrowth::linear) {
    std::fill(pt_.begin(), pt_.begin() + S + 1, 0.0);
    std::fill(pg_.begin(), pg_.begin() + S + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) pt_[c_[i]] += G_[i] * ts_[i], pg_[c_[i]] += G_[i];
    double at = 0, ag = 0;
    for (std::size_t c = 0; c <= S; ++c) at += pt_[c], ag += pg_[c];
    gr[0] = at, gr[1] = ag;
    double st = 0, sg = 0;  // sums over points with more than j active changepoints
    for (std::size_t j = S; j-- > 0;) {
      st += pt_[j + 1], sg += pg_[j + 1];
      gr[2 + j] = st - s[j] * sg;
    }
  } else if (o_.growth == ProphetGrowth::flat) {
    double ag = 0;
    for (std::size_t i = 0; i < n; ++i) ag += G_[i];
    gr[1] = ag;
  } else {  // logistic: through g = C sigmoid(z), z = ks[c] (t - M[c]), then the offsets' recursion
    std::fill(dks_.begin(), dks_.begin() + S + 1, 0.0);
    std::fill(dM_.begin(), dM_.begin() + S + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t c = c_[i];
      const double gp = g_[i] * (1 - g_[i] / cap_scaled_) * G_[i];
      dks_[c] += gp * (ts_[i] - M_[c]);
      dM_[c] -= gp * ks_[c];
    }
    for (std::size_t j = S; j-- > 0;) {  // M[j+1] = M[j] + (s_j - M[j]) (1 - ks[j] / ks[j+1])
      const double ratio = ks_[j] / ks_[j + 1], a = s[j] - M_[j], dg = dM_[j + 1];
      dM_[j] += dg * ratio;
      dks_[j] -= dg * a / ks_[j + 1];
      dks_[j + 1] += dg * a * ratio / ks_[j + 1];
    }
    gr[1] = dM_[0];
    double acc = 0;
    for (std::size_t j = S; j-- > 0;) {
      acc += dks_[j + 1];
      gr[2 + j] = acc;
    }
    gr[0] = acc + dks_[0];
  }
  // Priors: k, m ~ N(0, 5); delta ~ Laplace(0, tau); beta ~ N(0, prior).
  if (o_.growth != ProphetGrowth::flat) {
    f += (k * k + m * m) / 50;
    gr[0] += k / 25;
    gr[1] += m / 25;
    const double itau = 1 / o_.changepoint_prior_scale;
    for (std::size_t j = 0; j < S; ++j) {
      const double a = std::sqrt(delta[j] * delta[j] + kAbsEps2);
      f += a * itau;
      gr[2 + j] += delta[j] / a * itau;
    }
  } else {
    f += m * m / 50;
    gr[1] += m / 25;
    gr[0] = 0;
  }
  for (std::size_t c = 0; c < F; ++c) {
    const double ip = 1 / (prior_[c] * prior_[c]);
    f += 0.5 * beta[c] * beta[c] * ip;
    gb[c] += beta[c] * ip;
  }
  return f;
}

// The ramps of the changepoints are strongly correlated (each one is the one before plus a
// shorter ramp), which leaves the objective badly conditioned: plain L-BFGS needs thousands of
// iterations, as Stan's does. So L-BFGS runs on z with theta = start + R^-1 z, where R'R is the
// Gauss-Newton matrix J'J / sigma^2 plus the priors' curvature at the start (J: d yhat / d theta
// with beta = 0; Laplace taken as a normal of the same variance, 2 tau^2) - the problem it sees is
// close to a unit quadratic. For linear and flat growth the start is first moved to the ridge
// solution of that linearised problem. Log sigma is scaled by its curvature at the optimum, 2n.
LbfgsResult ProphetFitter::minimize_preconditioned() {
  const std::size_t n = n_, S = S_, F = F_, Fa = Fa_, D = 3 + S + F, P = D - 1;
  double* th = theta_.data();
  const double* s = s_all_.data();
  const double k0 = th[0], m0 = th[1];
  trend_scaled(ts_.data(), c_.data(), n, s, th + 2, S, k0, m0, g_.data());
  const bool logistic = o_.growth == ProphetGrowth::logistic;
  if (logistic) {  // d g / d (k, m, delta_j) by central differences
    for (std::size_t p = 0; p < 2 + S; ++p) {
      const double keep = th[p], h = 1e-6 * std::max(1.0, std::fabs(keep));
      double* col = jt_.data() + p * n;
      th[p] = keep + h;
      trend_scaled(ts_.data(), c_.data(), n, s, th + 2, S, th[0], th[1], col);
      th[p] = keep - h;
      trend_scaled(ts_.data(), c_.data(), n, s, th + 2, S, th[0], th[1], xm_.data());
      for (std::size_t i = 0; i < n; ++i) col[i] = (col[i] - xm_[i]) / (2 * h);
      th[p] = keep;
    }
    trend_scaled(ts_.data(), c_.data(), n, s, th + 2, S, k0, m0, g_.data());
  }
  double* A = A_.data();
  double* b = z_.data();  // J'y, then the ridge solution
  std::fill(A, A + P * P, 0.0);
  std::fill(b, b + P, 0.0);
  double* r = jrow_.data();
  double var0 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::fill(r, r + P, 0.0);
    if (logistic) {
      for (std::size_t p = 0; p < 2 + S; ++p) r[p] = jt_[p * n + i];
    } else if (o_.growth == ProphetGrowth::linear) {
      r[0] = ts_[i];
      r[1] = 1;
      for (std::size_t j = 0; j < c_[i]; ++j) r[2 + j] = ts_[i] - s[j];
    } else {
      r[1] = 1;
    }
    const double* x = &X_[i * F];
    for (std::size_t c = 0; c < Fa; ++c) r[2 + S + c] = x[c];
    for (std::size_t c = Fa; c < F; ++c) r[2 + S + c] = g_[i] * x[c];
    for (std::size_t a = 0; a < P; ++a) {
      const double ra = r[a];
      if (ra == 0) continue;
      double* Aa = A + a * P;
      for (std::size_t c = a; c < P; ++c) Aa[c] += ra * r[c];
      b[a] += ra * ys_[i];
    }
    var0 += (ys_[i] - g_[i]) * (ys_[i] - g_[i]);
  }
  var0 = std::max(var0 / double(n), 1e-12);
  // Prior precisions (the Laplace prior as a normal of its variance 2 tau^2).
  double* prec = grad_.data();
  prec[0] = prec[1] = 1.0 / 25;
  for (std::size_t j = 0; j < S; ++j)
    prec[2 + j] = 1 / (2 * o_.changepoint_prior_scale * o_.changepoint_prior_scale);
  for (std::size_t c = 0; c < F; ++c) prec[2 + S + c] = 1 / (prior_[c] * prior_[c]);
  double sig2 = var0;
  if (!logistic) {  // ridge solution of the linearised problem: the start, and its residual variance
    // J'J + var0 P (upper triangle) factored in its own matrix: A keeps J'J for the preconditioner.
    double* Rg = ridge_.data();
    for (std::size_t a = 0; a < P; ++a) {
      std::copy(A + a * P + a, A + a * P + P, Rg + a * P + a);
      Rg[a * P + a] += var0 * prec[a];
    }
    cholesky_upper(Rg, P);
    solve_upper_t(Rg, P, b);
    solve_upper(Rg, P, b);
    if (o_.growth == ProphetGrowth::flat) b[0] = 0;
    std::copy(b, b + P, th);
    if (o_.growth == ProphetGrowth::flat)
      for (std::size_t j = 0; j < S; ++j) th[2 + j] = 0;
    // residual variance of the start (through the full model: the multiplicative part is bilinear)
    double sse = 0;
    trend_scaled(ts_.data(), c_.data(), n, s, th + 2, S, th[0], th[1], g_.data());
    for (std::size_t i = 0; i < n; ++i) {
      const double* x = &X_[i * F];
      double xa = 0, xmv = 0;
      for (std::size_t c = 0; c < Fa; ++c) xa += x[c] * th[2 + S + c];
      for (std::size_t c = Fa; c < F; ++c) xmv += x[c] * th[2 + S + c];
      const double e = ys_[i] - (g_[i] * (1 + xmv) + xa);
      sse += e * e;
    }
    sig2 = std::max(sse / double(n), 1e-12);
  }
  for (std::size_t a = 0; a < P; ++a) {
    for (std::size_t c = a; c < P; ++c) A[a * P + c] /= sig2;
    A[a * P + a] += prec[a];
  }
  cholesky_upper(A, P);
  th[D - 1] = 0.5 * std::log(sig2);
  std::copy(th, th + D, base_.begin());
  const double su = std::sqrt(2.0 * double(n));
  std::fill(z_.begin(), z_.begin() + D, 0.0);
  auto fz = [&](const double* z, double* gz) {
    double* t = theta_.data();
    std::copy(z, z + P, t);
    solve_upper(A, P, t);
    for (std::size_t a = 0; a < P; ++a) t[a] += base_[a];
    t[P] = base_[P] + z[P] / su;
    const double f = objective(t, gz);
    solve_upper_t(A, P, gz);
    gz[P] /= su;
    return f;
  };
  LbfgsResult res = opt_.minimize(z_.data(), D, fz);
  fz(z_.data(), grad_.data());  // theta_ <- the point L-BFGS returned
  return res;
}

LbfgsResult ProphetFitter::fit(const double* y, const double* t, std::size_t n, const double* xr) {
  NTN_CHECK(n >= 3 && n <= n_cap_, "prophet fit: ", n, " points (needs 3 .. ", n_cap_, ")");
  n_ = n;
  // Time scaled to [0, 1] over the history, y by max |y| (Prophet's absmax scaling).
  std::size_t i0 = 0, i1 = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (t[i] < t[i0]) i0 = i;
    if (t[i] > t[i1]) i1 = i;
  }
  fit_.t0 = t[i0];
  fit_.t_span = t[i1] > t[i0] ? t[i1] - t[i0] : 1.0;
  double ymax = 0;
  for (std::size_t i = 0; i < n; ++i) ymax = std::max(ymax, std::fabs(y[i]));
  fit_.y_scale = ymax > 0 ? ymax : 1.0;
  for (std::size_t i = 0; i < n; ++i) {
    ts_[i] = (t[i] - fit_.t0) / fit_.t_span;
    ys_[i] = y[i] / fit_.y_scale;
  }
  cap_scaled_ = o_.cap / fit_.y_scale;
  // Seasonalities in use: the calendar ones by Prophet's auto rules (days only), then the custom ones.
  terms_.clear();
  if (o_.days) {
    const double span = t[i1] - t[i0];
    double min_dt = INFINITY;
    for (std::size_t i = 1; i < n; ++i)
      if (t[i] > t[i - 1]) min_dt = std::min(min_dt, t[i] - t[i - 1]);
    auto add = [&](int setting, double period, int def, bool on) {
      const int order = setting < 0 ? (on ? def : 0) : setting;
      if (order > 0)
        terms_.push_back({period, std::size_t(order), o_.multiplicative, o_.seasonality_prior_scale});
    };
    add(o_.yearly, 365.25, 10, span >= 730);
    add(o_.weekly, 7, 3, span >= 14 && min_dt < 7);
    add(o_.daily, 1, 4, span >= 2 && min_dt < 1);
  }
  for (const auto& c : o_.custom)
    terms_.push_back({c.period, c.order, c.mode < 0 ? o_.multiplicative : c.mode == 1,
                      c.prior_scale > 0 ? c.prior_scale : o_.seasonality_prior_scale});
  const std::size_t R = o_.regressors;
  Fa_ = F_ = 0;
  for (const Term& term : terms_) (term.mult ? F_ : Fa_) += 2 * term.order;
  (o_.multiplicative ? F_ : Fa_) += R;
  F_ += Fa_;
  {
    std::size_t col = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (const Term& term : terms_)
        if (term.mult == (pass == 1))
          for (std::size_t k = 0; k < 2 * term.order; ++k) prior_[col++] = term.prior;
      if (o_.multiplicative == (pass == 1))
        for (std::size_t r = 0; r < R; ++r) prior_[col++] = o_.seasonality_prior_scale;
    }
  }
  // Regressors standardised over the history (Prophet's 'auto': not when binary or constant).
  for (std::size_t r = 0; r < R; ++r) {
    double mu = 0, ss = 0;
    bool binary = true;
    for (std::size_t i = 0; i < n; ++i) {
      const double v = xr[i * R + r];
      mu += v;
      binary = binary && (v == 0 || v == 1);
    }
    mu /= double(n);
    for (std::size_t i = 0; i < n; ++i) ss += (xr[i * R + r] - mu) * (xr[i * R + r] - mu);
    const double sd = std::sqrt(ss / double(n - 1));
    reg_mu_[r] = binary || !(sd > 0) ? 0.0 : mu;
    reg_sd_[r] = binary || !(sd > 0) ? 1.0 : sd;
  }
  features(t, n, xr, X_.data());
  // Changepoints at evenly spaced rows of the first changepoint_range of the history (Prophet's
  // rule: rows linspace(0, hist - 1, S + 1) rounded, the first dropped).
  const std::size_t hist = std::size_t(std::floor(double(n) * o_.changepoint_range));
  S_ = o_.growth == ProphetGrowth::flat || hist < 2 ? 0 : std::min(o_.n_changepoints, hist - 1);
  double* s = s_all_.data();
  for (std::size_t j = 0; j < S_; ++j) {
    const std::size_t row = std::size_t(std::llround(double(j + 1) * double(hist - 1) / double(S_)));
    s[j] = ts_[row];
  }
  std::sort(s, s + S_);
  for (std::size_t i = 0; i < n; ++i) c_[i] = std::uint32_t(std::upper_bound(s, s + S_, ts_[i]) - s);
  // Prophet's initial values.
  const std::size_t D = 3 + S_ + F_;
  double* th = theta_.data();
  std::fill(th, th + D, 0.0);
  const double T = ts_[i1] - ts_[i0];
  if (o_.growth == ProphetGrowth::linear) {
    th[0] = T > 0 ? (ys_[i1] - ys_[i0]) / T : 0;
    th[1] = ys_[i0] - th[0] * ts_[i0];
  } else if (o_.growth == ProphetGrowth::flat) {
    th[1] = std::accumulate(ys_.begin(), ys_.begin() + n, 0.0) / double(n);
  } else {
    const double C = cap_scaled_;
    const double y0 = std::max(0.01 * C, std::min(0.99 * C, ys_[i0])),
                 y1 = std::max(0.01 * C, std::min(0.99 * C, ys_[i1]));
    double r0 = C / y0;
    const double r1 = C / y1;
    if (std::fabs(r0 - r1) <= 0.01) r0 *= 1.05;
    const double L0 = std::log(r0 - 1), L1 = std::log(r1 - 1), TT = T > 0 ? T : 1;
    th[1] = L0 * TT / (L0 - L1);
    th[0] = (L0 - L1) / TT;
  }
  const LbfgsResult r = minimize_preconditioned();
  fit_.k = th[0];
  fit_.m = th[1];
  fit_.changepoints.assign(s, s + S_);
  fit_.delta.assign(th + 2, th + 2 + S_);
  fit_.beta.assign(th + 2 + S_, th + 2 + S_ + F_);
  fit_.sigma = std::exp(th[D - 1]);
  fit_.additive = Fa_;
  fit_.features = F_;
  fit_.seasonalities = terms_.size();
  return r;
}

void ProphetFitter::trend(const double* tf, std::size_t h, double* out) {
  NTN_CHECK(h <= h_cap_, "prophet: ", h, " forecast points (reserved ", h_cap_, ")");
  const double* s = fit_.changepoints.data();
  const std::size_t S = fit_.changepoints.size();
  for (std::size_t j = 0; j < h; ++j) {
    tsf_[j] = (tf[j] - fit_.t0) / fit_.t_span;
    cf_[j] = std::uint32_t(std::upper_bound(s, s + S, tsf_[j]) - s);
  }
  trend_scaled(tsf_.data(), cf_.data(), h, s, fit_.delta.data(), S, fit_.k, fit_.m, out);
  for (std::size_t j = 0; j < h; ++j) out[j] *= fit_.y_scale;
}

void ProphetFitter::predict(const double* tf, std::size_t h, const double* xrf, double* yhat) {
  trend(tf, h, gf_.data());  // on y's scale
  features(tf, h, xrf, Xf_.data());
  const double* b = fit_.beta.data();
  for (std::size_t j = 0; j < h; ++j) {
    const double* x = &Xf_[j * F_];
    double xa = 0, xm = 0;
    for (std::size_t c = 0; c < Fa_; ++c) xa += x[c] * b[c];
    for (std::size_t c = Fa_; c < F_; ++c) xm += x[c] * b[c];
    yhat[j] = gf_[j] * (1 + xm) + xa * fit_.y_scale;
  }
}

void ProphetFitter::sample(const double* tf, std::size_t h, const double* xrf, std::size_t paths,
                           std::uint64_t seed, double* out) {
  NTN_CHECK(h <= h_cap_ && paths <= p_cap_, "prophet: ", paths, " paths of ", h, " points (reserved ", p_cap_,
            " of ", h_cap_, ")");
  features(tf, h, xrf, Xf_.data());
  // Per point: the additive seasonal part (scaled) in gf_[h ..] (gf_[0, h) takes each path's trend).
  double* xa = gf_.data() + h;
  double* xmv = tsf_.data() + h;  // and the multiplicative parts in tsf_[h ..]
  const double* b = fit_.beta.data();
  double T = -INFINITY;
  for (std::size_t j = 0; j < h; ++j) {
    const double* x = &Xf_[j * F_];
    double a = 0, mm = 0;
    for (std::size_t c = 0; c < Fa_; ++c) a += x[c] * b[c];
    for (std::size_t c = Fa_; c < F_; ++c) mm += x[c] * b[c];
    xa[j] = a, xmv[j] = mm;
    tsf_[j] = (tf[j] - fit_.t0) / fit_.t_span;
    T = std::max(T, tsf_[j]);
  }
  const std::size_t S = fit_.changepoints.size();
  double lambda = 1e-8;
  for (std::size_t j = 0; j < S; ++j) lambda += std::fabs(fit_.delta[j]) / double(S);
  std::copy(fit_.changepoints.begin(), fit_.changepoints.end(), s_all_.begin());
  std::copy(fit_.delta.begin(), fit_.delta.end(), d_all_.begin());
  Rng rng(seed, stream_id("prophet.paths"));
  const double mu = S && T > 1 ? double(S) * (T - 1) : 0;
  for (std::size_t p = 0; p < paths; ++p) {
    const std::size_t extra = std::min(poisson(rng, mu), snew_cap_);
    double* sn = s_all_.data() + S;
    double* dn = d_all_.data() + S;
    for (std::size_t e = 0; e < extra; ++e) sn[e] = 1 + (T - 1) * uniform01(rng);
    std::sort(sn, sn + extra);
    for (std::size_t e = 0; e < extra; ++e) {
      const double u = uniform01(rng) - 0.5;  // Laplace(0, lambda) by inversion
      dn[e] = -lambda * std::copysign(1.0, u) * std::log1p(-2 * std::fabs(u));
    }
    const double* s = s_all_.data();
    for (std::size_t j = 0; j < h; ++j)
      cf_[j] = std::uint32_t(std::upper_bound(s, s + S + extra, tsf_[j]) - s);
    trend_scaled(tsf_.data(), cf_.data(), h, s, d_all_.data(), S + extra, fit_.k, fit_.m, gf_.data());
    double* o = out + p * h;
    for (std::size_t j = 0; j < h; ++j)
      o[j] = (gf_[j] * (1 + xmv[j]) + xa[j] + fit_.sigma * normal01(rng)) * fit_.y_scale;
  }
}

}  // namespace ntn

namespace ntn::models {
namespace {

ModelInfo prophet_info() {
  ModelInfo i{
      "prophet",
      "Prophet-style decomposition: piecewise-linear / logistic trend with changepoints x (1 + "
      "multiplicative "
      "seasonality) + additive seasonality, MAP by L-BFGS on each window's history; simulated intervals",
      json{{"type", "prophet"},
           {"input_size", 48},
           {"horizon", 6},
           {"n_changepoints", 5},
           {"seasonalities", json::array({json{{"period", 12}, {"order", 2}}})}},
      {"point", "quantiles"},
      {"future"},
      false};
  i.direct_fit = true;
  i.calendar = {"epoch_day", "day_fraction"};
  return i;
}

// A calendar seasonality setting: "auto" (-1), true (the default order), false (0) or an order.
int read_season(const json& j, const std::string& ctx, const char* key, int def_order, int current) {
  if (!j.contains(key)) return current;
  const json& v = j[key];
  if (v.is_string() && v.get<std::string>() == "auto") return -1;
  if (v.is_boolean()) return v.get<bool>() ? def_order : 0;
  return int(json_uint(j, ctx, key, 0, {0, 1000}));
}
json write_season(int v) { return v < 0 ? json("auto") : json(v); }

// Prophet's defaults (prophet 1.1), typical values shown.
struct ProphetConfig : BaseConfig {
  ProphetOptions o;
  bool timestamps = false;        // the last two future channels are the calendar's epoch_day, day_fraction
  std::vector<double> quantiles;  // levels of the Q > 1 outputs, e.g. [0.1, 0.5, 0.9] (an 80% interval)
  std::size_t uncertainty_samples = 1000;  // simulated paths per window for the quantile outputs
  std::uint64_t seed = 0;                  // of the simulated paths (the same for every window)

  ProphetConfig() { input_size = 168; }
  std::size_t regressors() const { return futr_exog - (timestamps ? 2 : 0); }

  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    BaseConfig::read(j, ctx, info);
    NTN_CHECK(input_size >= 3, ctx, ": field 'input_size': ", input_size,
              " is too short to fit a trend (needs >= 3)");
    const std::string growth = json_string(j, ctx, "growth", prophet_growth_name(o.growth));
    o.growth = parse_prophet_growth(growth, cat(ctx, ": field 'growth'"));
    o.cap = json_real(j, ctx, "cap", o.cap, {0, 1e30});
    NTN_CHECK(o.growth != ProphetGrowth::logistic || o.cap > 0, ctx,
              ": field 'cap': logistic growth needs a carrying capacity > 0 (in the values the model sees)");
    o.n_changepoints = json_uint(j, ctx, "n_changepoints", o.n_changepoints, {0, 1000});
    o.changepoint_range = json_real(j, ctx, "changepoint_range", o.changepoint_range, {0, 1, true});
    o.changepoint_prior_scale =
        json_real(j, ctx, "changepoint_prior_scale", o.changepoint_prior_scale, {0, 1e6, true});
    o.yearly = read_season(j, ctx, "yearly_seasonality", 10, o.yearly);
    o.weekly = read_season(j, ctx, "weekly_seasonality", 3, o.weekly);
    o.daily = read_season(j, ctx, "daily_seasonality", 4, o.daily);
    const std::string mode = json_string(j, ctx, "seasonality_mode", "additive");
    NTN_CHECK(mode == "additive" || mode == "multiplicative", ctx, ": field 'seasonality_mode': '", mode,
              "': expected additive or multiplicative");
    o.multiplicative = mode == "multiplicative";
    o.seasonality_prior_scale =
        json_real(j, ctx, "seasonality_prior_scale", o.seasonality_prior_scale, {0, 1e6, true});
    if (j.contains("seasonalities")) {
      const json& a = j["seasonalities"];
      NTN_CHECK(a.is_array(), ctx,
                ": field 'seasonalities': expected a list of periods or {\"period\": P, \"order\": K, "
                "\"mode\": \"additive\"|\"multiplicative\", \"prior_scale\": x}");
      o.custom.clear();
      for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string where = cat(ctx, ": seasonalities[", i, "]");
        ProphetSeasonality s;
        if (a[i].is_number()) {
          s.period = json_real(json{{"period", a[i]}}, where, "period", 0, {0, 1e9, true});
          s.order = std::size_t(std::clamp(std::floor(s.period / 2), 1.0, 10.0));
        } else {
          NTN_CHECK(a[i].is_object(), where, ": expected a period or an object");
          json_known_fields(a[i], where, {"period", "order", "mode", "prior_scale"});
          NTN_CHECK(a[i].contains("period"), where,
                    ": field 'period' is required (in days with dates, else steps)");
          s.period = json_real(a[i], where, "period", 0, {0, 1e9, true});
          s.order = json_uint(a[i], where, "order",
                              std::size_t(std::clamp(std::floor(s.period / 2), 1.0, 10.0)), {1, 1000});
          if (a[i].contains("mode")) {
            const std::string m = json_string(a[i], where, "mode", "");
            NTN_CHECK(m == "additive" || m == "multiplicative", where, ": field 'mode': '", m,
                      "': expected additive or multiplicative");
            s.mode = m == "multiplicative";
          }
          s.prior_scale = json_real(a[i], where, "prior_scale", 0, {0, 1e6});
        }
        o.custom.push_back(s);
      }
    }
    std::size_t columns = 0;
    for (const auto& c : o.custom) columns += 2 * c.order;
    NTN_CHECK(columns <= 4096, ctx, ": field 'seasonalities': ", columns, " Fourier columns (at most 4096)");
    timestamps = json_bool(j, ctx, "timestamps", timestamps);
    NTN_CHECK(!timestamps || futr_exog >= 2, ctx,
              ": field 'timestamps': the model reads its times from the last two "
              "future channels (the calendar's epoch_day, day_fraction), but futr_exog is ",
              futr_exog);
    for (auto [key, v] : {std::pair{"yearly_seasonality", o.yearly},
                          {"weekly_seasonality", o.weekly},
                          {"daily_seasonality", o.daily}})
      NTN_CHECK(
          timestamps || v <= 0, ctx, ": field '", key,
          "': calendar seasonalities need dates (a time column; "
          "timestamps true); for data in steps use seasonalities with periods in steps, e.g. [24, 168]");
    o.days = timestamps;
    o.regressors = regressors();
    quantiles = json_real_list(j, ctx, "quantiles", quantiles, limits::kQuantile);
    for (std::size_t i = 1; i < quantiles.size(); ++i)
      NTN_CHECK(quantiles[i] > quantiles[i - 1], ctx, ": field 'quantiles': levels must increase (",
                quantiles[i - 1], " then ", quantiles[i], ")");
    NTN_CHECK(outputs == (quantiles.empty() ? 1 : quantiles.size()), ctx, ": field 'outputs': ", outputs,
              " outputs but ", quantiles.size(),
              " quantile levels (a point forecast has none; train with --loss mq "
              "--quantiles ... for intervals)");
    uncertainty_samples = json_uint(j, ctx, "uncertainty_samples", uncertainty_samples, limits::kPaths);
    seed = json_uint(j, ctx, "seed", seed, limits::kSeed);
  }
  static ProphetConfig from_json(const json& j) { return read_config<ProphetConfig>(j, prophet_info()); }
  json to_json() const {
    json j = {{"type", "prophet"}};
    write(j);
    j.erase("activation");  // no layers: neither field means anything here
    j.erase("dropout");
    j["growth"] = prophet_growth_name(o.growth);
    j["cap"] = o.cap;
    j["n_changepoints"] = o.n_changepoints;
    j["changepoint_range"] = o.changepoint_range;
    j["changepoint_prior_scale"] = o.changepoint_prior_scale;
    j["yearly_seasonality"] = write_season(o.yearly);
    j["weekly_seasonality"] = write_season(o.weekly);
    j["daily_seasonality"] = write_season(o.daily);
    j["seasonality_mode"] = o.multiplicative ? "multiplicative" : "additive";
    j["seasonality_prior_scale"] = o.seasonality_prior_scale;
    json a = json::array();
    for (const auto& s : o.custom) {
      json e = {{"period", s.period}, {"order", s.order}};
      if (s.mode >= 0) e["mode"] = s.mode ? "multiplicative" : "additive";
      if (s.prior_scale > 0) e["prior_scale"] = s.prior_scale;
      a.push_back(e);
    }
    j["seasonalities"] = a;
    j["timestamps"] = timestamps;
    j["quantiles"] = quantiles;
    j["uncertainty_samples"] = uncertainty_samples;
    j["seed"] = seed;
    return j;
  }
};

template <class T>
class ProphetModel final : public Model<T> {
 public:
  explicit ProphetModel(const ProphetConfig& c) : c_(c) { this->ps_.finalize(); }
  std::string type() const override { return "prophet"; }
  json config() const override { return c_.to_json(); }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return c_.covariates(); }
  void init(std::uint64_t) override {}
  bool fits_directly() const override { return true; }

  struct Ws final : Model<T>::Workspace {
    explicit Ws(const ProphetOptions& o) : fit(o) {}
    ProphetFitter fit;
    std::vector<double> y, t, xr, yhat, paths, col;
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool) const override {
    const std::size_t L = c_.input_size, H = c_.horizon, R = c_.regressors();
    const std::size_t P = c_.outputs > 1 ? c_.uncertainty_samples : 0;
    auto ws = std::make_unique<Ws>(c_.o);
    ws->max_batch = B;
    const std::size_t F = ws->fit.max_features(), D = 3 + c_.o.n_changepoints + F;
    check_tensor_size(L + H, F, "prophet workspace (steps x seasonal and regressor columns)");
    check_tensor_size(D, D, "prophet workspace (the preconditioner: parameters x parameters)");
    ws->fit.reserve(L, H, P);
    ws->y.resize(L);
    ws->t.resize(L + H);
    ws->xr.resize((L + H) * R);
    ws->yhat.resize(H);
    ws->paths.resize(check_tensor_size(P, H, "prophet workspace (paths x horizon)"));
    ws->col.resize(P);
    return ws;
  }
  // Per row: fit on the window's L values at their times, then the horizon's mean (Q = 1) or the
  // quantiles of the simulated paths (Q > 1, linear interpolation between order statistics).
  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y,
               const nn::RunCtx&) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, Q = c_.outputs, Cf = c_.futr_exog,
                      R = c_.regressors();
    for (std::size_t b = 0; b < in.B; ++b) {
      for (std::size_t i = 0; i < L; ++i) ws.y[i] = double(in.y[b * L + i]);
      const T* f = in.futr ? in.futr + b * (L + H) * Cf : nullptr;
      for (std::size_t i = 0; i < L + H; ++i) {
        ws.t[i] = c_.timestamps ? double(f[i * Cf + Cf - 2]) + double(f[i * Cf + Cf - 1]) : double(i);
        for (std::size_t r = 0; r < R; ++r) ws.xr[i * R + r] = double(f[i * Cf + r]);
      }
      ws.fit.fit(ws.y.data(), ws.t.data(), L, R ? ws.xr.data() : nullptr);
      const double* tf = ws.t.data() + L;
      const double* xf = R ? ws.xr.data() + L * R : nullptr;
      T* out = y + b * H * Q;
      if (Q == 1) {
        ws.fit.predict(tf, H, xf, ws.yhat.data());
        for (std::size_t h = 0; h < H; ++h) out[h] = T(ws.yhat[h]);
        continue;
      }
      const std::size_t P = c_.uncertainty_samples;
      ws.fit.sample(tf, H, xf, P, c_.seed, ws.paths.data());
      for (std::size_t h = 0; h < H; ++h) {
        for (std::size_t p = 0; p < P; ++p) ws.col[p] = ws.paths[p * H + h];
        quantiles(ws.col.data(), P, out + h * Q);
      }
    }
  }
  void backward(typename Model<T>::Workspace&, const T*, T*, T*, std::size_t,
                const nn::RunCtx&) const override {
    throw Error("prophet is fitted on each window's history (L-BFGS), not trained by gradient steps");
  }

 private:
  // out (Q) from one step's P path values v: the levels' quantiles by linear interpolation between
  // order statistics (numpy's default), selected in place (levels increase: each nth_element
  // works on the part above the last).
  void quantiles(double* v, std::size_t P, T* out) const {
    std::size_t from = 0;
    for (std::size_t q = 0; q < c_.outputs; ++q) {
      const double pos = c_.quantiles[q] * double(P - 1);
      const std::size_t lo = std::size_t(std::floor(pos));
      const double frac = pos - double(lo);
      std::nth_element(v + from, v + lo, v + P);
      double x = v[lo];
      if (frac > 0 && lo + 1 < P) x += frac * (*std::min_element(v + lo + 1, v + P) - x);
      out[q] = T(x);
      from = lo;
    }
  }

  ProphetConfig c_;
};

}  // namespace

Entry prophet_entry() { return make_entry<ProphetModel, ProphetConfig>(prophet_info()); }

}  // namespace ntn::models

ntn::ProphetOptions ntn::prophet_options(const nlohmann::json& model_config) {
  return models::ProphetConfig::from_json(model_config).o;
}
