// The Prophet-style model: L-BFGS, the objective's gradient (every growth and mode), recovery of
// known trends / seasonalities / changepoints on irregular times, calibrated simulated intervals,
// Prophet's auto seasonalities, config errors, and no allocation once sized.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "alloc_counter.h"
#include "expect_error.h"
#include "ntn/models.h"
#include "ntn/prophet.h"
#include "ntn/rng.h"

namespace ntn {
namespace {

using nlohmann::json;

TEST(Lbfgs, MinimisesRosenbrockAndAQuadratic) {
  Lbfgs opt;
  opt.reserve(4);
  double x[2] = {-1.2, 1.0};
  const auto r = opt.minimize(x, 2, [](const double* v, double* g) {
    const double a = 1 - v[0], b = v[1] - v[0] * v[0];
    g[0] = -2 * a - 400 * v[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
  });
  EXPECT_NEAR(x[0], 1.0, 1e-6);
  EXPECT_NEAR(x[1], 1.0, 1e-6);
  EXPECT_LT(r.f, 1e-12);
  EXPECT_LT(r.iters, 100u);
  // An ill-scaled quadratic sum_i i^2 (x_i - i)^2 in 4 variables.
  double q[4] = {0, 0, 0, 0};
  opt.minimize(q, 4, [](const double* v, double* g) {
    double f = 0;
    for (int i = 0; i < 4; ++i) {
      const double w = double((i + 1) * (i + 1) * 100), d = v[i] - (i + 1);
      f += w * d * d;
      g[i] = 2 * w * d;
    }
    return f;
  });
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(q[i], i + 1, 1e-6);
  // A start where f is not finite returns at once.
  double bad[1] = {0};
  const auto rb = opt.minimize(bad, 1, [](const double*, double* g) {
    g[0] = 0;
    return std::nan("");
  });
  EXPECT_EQ(rb.stop, LbfgsStop::not_finite);
  // A step into a region where f is not finite is backed off from (log barrier at x > 0).
  double xl[1] = {5};
  opt.minimize(xl, 1, [](const double* v, double* g) {
    if (v[0] <= 0) {
      g[0] = 0;
      return HUGE_VAL;
    }
    g[0] = 1 - 1 / v[0];
    return v[0] - std::log(v[0]);
  });
  EXPECT_NEAR(xl[0], 1.0, 1e-6);
  test::expect_error([&] { opt.minimize(q, 5, [](const double*, double*) { return 0.0; }); },
                     {"5 variables"});
}

// Business days (no weekends), with a gap of two weeks: times in days since 1970.
std::vector<double> business_days(std::size_t n, double start = 14610) {  // 2010-01-01 (a Friday)
  std::vector<double> t;
  for (double d = start; t.size() < n; ++d) {
    const int dow = int(std::fmod(d + 3, 7));  // 1970-01-01 was a Thursday: Monday = 0
    if (dow >= 5) continue;
    if (d >= start + 300 && d < start + 314) continue;  // a gap
    t.push_back(d);
  }
  return t;
}

// The objective's gradient against central differences at a point away from the optimum.
void check_gradient(ProphetOptions o, bool regressor) {
  const std::size_t n = 400;
  std::vector<double> t = business_days(n), y(n), xr(n);
  Rng rng(3);
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = 50 + 0.05 * double(i) + 3 * std::sin(6.2831853 * t[i] / 7) + rng.normal();
    xr[i] = rng.normal();
  }
  o.days = true;
  o.regressors = regressor ? 1 : 0;
  if (o.growth == ProphetGrowth::logistic) o.cap = 120;
  o.custom = {{30.5, 2, 1, 0}};  // a multiplicative custom term besides the calendar ones
  ProphetFitter p(o);
  p.reserve(n, 10, 10);
  p.fit(y.data(), t.data(), n, regressor ? xr.data() : nullptr);
  const auto& f = p.fitted();
  const std::size_t D = 3 + f.changepoints.size() + f.features;
  std::vector<double> th(D), g(D), gd(D);
  th[0] = f.k + 0.1, th[1] = f.m - 0.05;
  for (std::size_t j = 0; j < f.changepoints.size(); ++j)
    th[2 + j] = f.delta[j] + 0.01 * double(j % 3) - 0.01;
  for (std::size_t c = 0; c < f.features; ++c) th[2 + f.changepoints.size() + c] = f.beta[c] + 0.02;
  th[D - 1] = std::log(f.sigma) + 0.3;
  p.objective(th.data(), g.data());
  for (std::size_t i = 0; i < D; ++i) {
    const double h = 1e-6 * std::max(1.0, std::fabs(th[i])), keep = th[i];
    th[i] = keep + h;
    const double fp = p.objective(th.data(), gd.data());
    th[i] = keep - h;
    const double fm = p.objective(th.data(), gd.data());
    th[i] = keep;
    const double fd = (fp - fm) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-5 * std::max(1.0, std::fabs(fd)))
        << prophet_growth_name(o.growth) << " parameter " << i;
  }
}

TEST(Prophet, ObjectiveGradientMatchesFiniteDifferences) {
  for (ProphetGrowth gr : {ProphetGrowth::linear, ProphetGrowth::logistic, ProphetGrowth::flat})
    for (bool mult : {false, true})
      for (bool reg : {false, true}) {
        ProphetOptions o;
        o.growth = gr;
        o.multiplicative = mult;
        check_gradient(o, reg);
      }
}

TEST(Prophet, RecoversTrendChangeAndWeeklySeasonOnIrregularDays) {
  // 3 years of business days with a gap; slope 0.2 / day turning to -0.1 / day at row 400; a weekly
  // shape (Mondays high) and yearly wave; noise 0.5.
  const std::size_t n = 780, h = 20;
  std::vector<double> t = business_days(n + h), y(n + h);
  Rng rng(11);
  auto truth = [&](std::size_t i) {
    const double d = t[i] - t[0], c = t[400] - t[0];
    const double trend = 100 + 0.2 * std::min(d, c) - 0.1 * std::max(0.0, d - c);
    return trend + 2 * std::cos(6.283185307 * t[i] / 7) + 5 * std::sin(6.283185307 * t[i] / 365.25);
  };
  for (std::size_t i = 0; i < n + h; ++i) y[i] = truth(i) + 0.5 * rng.normal();
  ProphetOptions o;
  o.days = true;
  ProphetFitter p(o);
  p.reserve(n, h, 100);
  const LbfgsResult r = p.fit(y.data(), t.data(), n);
  EXPECT_NE(r.stop, LbfgsStop::max_iters);
  EXPECT_NE(r.stop, LbfgsStop::line_search);
  EXPECT_EQ(p.fitted().seasonalities, 2u);  // yearly (span > 2 years) and weekly; not daily
  EXPECT_NEAR(p.fitted().sigma * p.fitted().y_scale, 0.5, 0.08);
  std::vector<double> yhat(h);
  p.predict(t.data() + n, h, nullptr, yhat.data());
  double mae = 0;
  for (std::size_t i = 0; i < h; ++i) mae += std::fabs(yhat[i] - truth(n + i)) / double(h);
  EXPECT_LT(mae, 1.5) << "forecast far from the noiseless truth";
  // The slope change shows as rate changes summing to about -0.3 / day near row 400.
  const auto& f = p.fitted();
  double total = 0;
  for (std::size_t j = 0; j < f.delta.size(); ++j) total += f.delta[j];
  const double per_day = total * f.y_scale / f.t_span;
  EXPECT_NEAR(per_day, -0.3, 0.06);
}

TEST(Prophet, MultiplicativeSeasonalityScalesWithTheTrend) {
  // A trend from 10 to 60 with a +-30% period-12 wave in steps: additive fits it worse.
  const std::size_t n = 144, h = 12;
  std::vector<double> t(n + h), y(n + h);
  for (std::size_t i = 0; i < n + h; ++i) {
    t[i] = double(i);
    y[i] = (10 + 0.35 * double(i)) * (1 + 0.3 * std::sin(6.283185307 * double(i) / 12));
  }
  double err[2];
  for (int mult = 0; mult < 2; ++mult) {
    ProphetOptions o;
    o.multiplicative = mult;
    o.custom = {{12, 4, -1, 0}};
    ProphetFitter p(o);
    p.reserve(n, h, 10);
    p.fit(y.data(), t.data(), n);
    std::vector<double> yhat(h);
    p.predict(t.data() + n, h, nullptr, yhat.data());
    err[mult] = 0;
    for (std::size_t i = 0; i < h; ++i) err[mult] += std::fabs(yhat[i] - y[n + i]) / double(h);
  }
  EXPECT_LT(err[1], 0.5);
  EXPECT_LT(err[1], 0.5 * err[0]);
}

TEST(Prophet, LogisticGrowthSaturatesBelowTheCap) {
  const std::size_t n = 200, h = 40;
  std::vector<double> t(n + h), y(n + h);
  for (std::size_t i = 0; i < n + h; ++i) {
    t[i] = double(i);
    y[i] = 100 / (1 + std::exp(-0.05 * (double(i) - 80)));
  }
  ProphetOptions o;
  o.growth = ProphetGrowth::logistic;
  o.cap = 100;
  ProphetFitter p(o);
  p.reserve(n, h, 10);
  p.fit(y.data(), t.data(), n);
  std::vector<double> yhat(h);
  p.predict(t.data() + n, h, nullptr, yhat.data());
  for (std::size_t i = 0; i < h; ++i) {
    EXPECT_LT(yhat[i], 100.0 + 1e-9);
    EXPECT_NEAR(yhat[i], y[n + i], 1.0);
  }
}

TEST(Prophet, SimulatedIntervalsCoverAsNominal) {
  // Linear trend + N(0, 1) noise: the 80% interval of the simulated paths covers ~80% of fresh
  // draws at each step (the trend barely changes: few changepoints are active).
  const std::size_t n = 500, h = 10, P = 1000;
  std::vector<double> t(n + h), y(n);
  Rng rng(21);
  for (std::size_t i = 0; i < n + h; ++i) t[i] = double(i);
  for (std::size_t i = 0; i < n; ++i) y[i] = 20 + 0.01 * double(i) + rng.normal();
  ProphetOptions o;
  ProphetFitter p(o);
  p.reserve(n, h, P);
  p.fit(y.data(), t.data(), n);
  std::vector<double> paths(P * h), again(P * h);
  p.sample(t.data() + n, h, nullptr, P, 7, paths.data());
  p.sample(t.data() + n, h, nullptr, P, 7, again.data());
  EXPECT_EQ(paths, again) << "same seed, different paths";
  std::size_t inside = 0, total = 0;
  for (std::size_t j = 0; j < h; ++j) {
    std::vector<double> col(P);
    for (std::size_t k = 0; k < P; ++k) col[k] = paths[k * h + j];
    std::sort(col.begin(), col.end());
    const double lo = col[std::size_t(0.1 * (P - 1))], hi = col[std::size_t(0.9 * (P - 1))];
    for (int d = 0; d < 400; ++d) {
      const double v = 20 + 0.01 * double(n + j) + rng.normal();
      inside += v >= lo && v <= hi;
      ++total;
    }
  }
  EXPECT_NEAR(double(inside) / double(total), 0.8, 0.04);
}

TEST(Prophet, AutoSeasonalitiesFollowSpanAndSpacing) {
  struct Case {
    double step_days;
    std::size_t n;
    std::size_t expect;  // yearly + weekly + daily enabled
  } cases[] = {
      {1.0, 800, 2},           // daily for > 2 years: yearly, weekly
      {1.0, 100, 1},           // daily for 100 days: weekly only
      {1.0 / 24, 24 * 20, 2},  // hourly for 20 days: weekly, daily
      {1.0 / 24, 24 * 5, 1},   // hourly for 5 days: daily only
      {30.4, 132, 1},          // monthly for 11 years: yearly only
  };
  for (const Case& c : cases) {
    std::vector<double> t(c.n), y(c.n);
    for (std::size_t i = 0; i < c.n; ++i) t[i] = 14610 + c.step_days * double(i), y[i] = std::sin(double(i));
    ProphetOptions o;
    o.days = true;
    ProphetFitter p(o);
    p.reserve(c.n, 1, 1);
    p.fit(y.data(), t.data(), c.n);
    EXPECT_EQ(p.fitted().seasonalities, c.expect) << c.step_days << " x " << c.n;
  }
}

TEST(Prophet, ModelConfigErrorsNameTheField) {
  const json base = {{"type", "prophet"}, {"input_size", 24}, {"horizon", 4}};
  struct Case {
    json patch;
    const char* want;
  } cases[] = {
      {{{"growth", "cubic"}}, "expected linear, logistic or flat"},
      {{{"growth", "logistic"}}, "'cap'"},
      {{{"cap", -1}}, "cap"},
      {{{"input_size", 2}}, "input_size"},
      {{{"yearly_seasonality", true}}, "yearly_seasonality"},
      {{{"weekly_seasonality", 3}}, "weekly_seasonality"},
      {{{"timestamps", true}}, "timestamps"},
      {{{"seasonalities", json::array({0})}}, "period"},
      {{{"seasonalities", json::array({json{{"order", 3}}})}}, "'period' is required"},
      {{{"seasonalities", json::array({json{{"period", 7}, {"mode", "both"}}})}}, "mode"},
      {{{"seasonalities", json::array({json{{"period", 7}, {"wave", 1}}})}}, "wave"},
      {{{"seasonalities", 24}}, "seasonalities"},
      {{{"changepoint_range", 0}}, "changepoint_range"},
      {{{"changepoint_prior_scale", -0.1}}, "changepoint_prior_scale"},
      {{{"seasonality_mode", "both"}}, "seasonality_mode"},
      {{{"outputs", 3}}, "quantile levels"},
      {{{"outputs", 2}, {"quantiles", {0.9, 0.1}}}, "must increase"},
      {{{"uncertainty_samples", 0}}, "uncertainty_samples"},
      {{{"activation", "relu"}}, "activation"},
      {{{"hist_exog", 1}}, "hist_exog"},
  };
  for (const Case& c : cases) {
    json cfg = base;
    cfg.update(c.patch);
    test::expect_error([&] { make_model<float>(cfg); }, {c.want});
  }
}

// The quantile outputs: monotone per step, the middle near the mean forecast, no allocation once
// the workspace exists, and the same for a row alone or in a batch.
TEST(Prophet, QuantileForecastsAllocateNothingAndMatchSingleRows) {
  const json cfg = {{"type", "prophet"},
                    {"input_size", 96},
                    {"horizon", 8},
                    {"outputs", 3},
                    {"quantiles", {0.1, 0.5, 0.9}},
                    {"seasonalities", {24}},
                    {"uncertainty_samples", 500}};
  auto m = make_model<float>(cfg);
  json point_cfg = cfg;
  point_cfg["outputs"] = 1;
  point_cfg["quantiles"] = json::array();
  auto mp = make_model<float>(point_cfg);
  const std::size_t B = 3, L = 96, H = 8;
  std::vector<float> x(B * L), y(B * H * 3), one(H * 3), point(B * H);
  Rng rng(2);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = float(10 + 2 * std::sin(6.2831853 * double(i % L) / 24) + 0.3 * rng.normal() + double(i / L));
  auto ws = m->make_workspace(B, true);
  auto wp = mp->make_workspace(B, true);
  m->forward(*ws, x.data(), y.data(), B, {});
  mp->forward(*wp, x.data(), point.data(), B, {});
  const std::uint64_t before = allocations();
  m->forward(*ws, x.data(), y.data(), B, {});
  EXPECT_EQ(allocations() - before, 0u);
  for (std::size_t b = 0; b < B; ++b) {
    m->forward(*ws, x.data() + b * L, one.data(), 1, {});
    for (std::size_t i = 0; i < H * 3; ++i) ASSERT_EQ(one[i], y[b * H * 3 + i]) << "row " << b;
    for (std::size_t h = 0; h < H; ++h) {
      const float* q = &y[(b * H + h) * 3];
      EXPECT_LT(q[0], q[1]);
      EXPECT_LT(q[1], q[2]);
      EXPECT_NEAR(q[1], point[b * H + h], 0.1 * (q[2] - q[0]));
    }
  }
}

// Degenerate windows forecast finite values (a constant, zeros, one spike, the float extremes,
// alternating signs), in point and quantile form.
TEST(Prophet, DegenerateWindowsGiveFiniteForecasts) {
  const std::size_t L = 40, H = 5;
  struct Case {
    const char* name;
    float (*value)(std::size_t);
  } cases[] = {
      {"constant", [](std::size_t) { return 7.0f; }},
      {"zeros", [](std::size_t) { return 0.0f; }},
      {"spike", [](std::size_t i) { return i == 20 ? 1e6f : 1.0f; }},
      {"huge", [](std::size_t i) { return 3e38f - float(i) * 1e36f; }},
      {"tiny", [](std::size_t i) { return 1e-38f * float(i % 3); }},
      {"alternating", [](std::size_t i) { return i % 2 ? -5.0f : 5.0f; }},
  };
  for (int quant = 0; quant < 2; ++quant) {
    json cfg = {{"type", "prophet"}, {"input_size", L}, {"horizon", H}, {"seasonalities", {7}}};
    if (quant) cfg["outputs"] = 3, cfg["quantiles"] = {0.1, 0.5, 0.9}, cfg["uncertainty_samples"] = 50;
    auto m = make_model<float>(cfg);
    auto ws = m->make_workspace(1, true);
    for (const Case& c : cases) {
      std::vector<float> x(L), y(H * m->outputs());
      for (std::size_t i = 0; i < L; ++i) x[i] = c.value(i);
      m->forward(*ws, x.data(), y.data(), 1, {});
      for (float v : y) EXPECT_TRUE(std::isfinite(v)) << c.name << (quant ? " quantiles" : " point");
    }
  }
}

}  // namespace
}  // namespace ntn
