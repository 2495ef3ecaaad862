// Output heads: spec round trip and validation, inverse scaling per kind, and the distribution
// functions against closed forms and published quantiles.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "ntn/error.h"
#include "ntn/heads.h"

namespace ntn {
namespace {

TEST(Heads, SpecRoundTripAndValidation) {
  for (const OutputSpec& s : {OutputSpec::point(), OutputSpec::quantiles({0.1f, 0.5f, 0.9f}),
                              OutputSpec::distribution(DistKind::gaussian),
                              OutputSpec::distribution(DistKind::student_t)}) {
    EXPECT_EQ(OutputSpec::from_json(s.to_json(), "test"), s);
  }
  EXPECT_EQ(OutputSpec::distribution(DistKind::student_t).outputs(), 3u);
  EXPECT_EQ(OutputSpec::quantiles({0.2f, 0.8f}).outputs(), 2u);
  EXPECT_THROW(OutputSpec::quantiles({0.5f, 0.5f}), Error);
  EXPECT_THROW(OutputSpec::quantiles({0.0f}), Error);
  EXPECT_THROW(OutputSpec::quantiles({}), Error);
  for (const char* bad : {R"({"kind":"histogram"})", R"({"kind":"distribution","distribution":"poisson"})",
                          R"({"kind":"quantiles","levels":[0.9,0.1]})", R"({"kind":"point","extra":1})"}) {
    try {
      OutputSpec::from_json(nlohmann::json::parse(bad), "m.ntn");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("m.ntn: output"), std::string::npos) << e.what();
    }
  }
}

// A location goes back as v * scale + center, a scale parameter as sigma * scale (never shifted),
// a shape parameter unchanged; quantiles are made monotone first.
TEST(Heads, UnscaleIsPerKind) {
  const NormStats st{100.0, 4.0};
  std::vector<double> point = {0.5, -1.0};
  unscale_outputs(OutputSpec::point(), st, point.data(), 2);
  EXPECT_EQ(point, (std::vector<double>{102.0, 96.0}));
  std::vector<double> q = {1.0, -1.0, 0.0};  // crossed: sorted before unscaling
  unscale_outputs(OutputSpec::quantiles({0.1f, 0.5f, 0.9f}), st, q.data(), 1);
  EXPECT_EQ(q, (std::vector<double>{96.0, 100.0, 104.0}));
  std::vector<float> g = {0.5f, 0.25f, -1.0f, 2.0f};  // (mu, sigma) x 2 steps
  unscale_outputs(OutputSpec::distribution(DistKind::gaussian), st, g.data(), 2);
  EXPECT_EQ(g, (std::vector<float>{102.0f, 1.0f, 96.0f, 8.0f}));
  std::vector<double> t = {0.0, 1.0, 5.0};
  unscale_outputs(OutputSpec::distribution(DistKind::student_t), st, t.data(), 1);
  EXPECT_EQ(t, (std::vector<double>{100.0, 4.0, 5.0}));
}

TEST(Heads, GaussianAgainstClosedForms) {
  const double std_n[2] = {0.0, 1.0};
  EXPECT_NEAR(dist_quantile(DistKind::gaussian, std_n, 0.975), 1.959963984540054, 1e-14);
  EXPECT_NEAR(dist_quantile(DistKind::gaussian, std_n, 0.1), -1.2815515655446004, 1e-14);
  EXPECT_NEAR(dist_quantile(DistKind::gaussian, std_n, 1e-10), -6.361340902404056, 1e-12);
  EXPECT_NEAR(dist_quantile(DistKind::gaussian, std_n, 1 - 1e-10), 6.361340902404056, 1e-6);
  EXPECT_EQ(dist_quantile(DistKind::gaussian, std_n, 0.5), 0.0);
  const double p[2] = {1.0, 2.0};
  EXPECT_NEAR(dist_nll(DistKind::gaussian, p, 3.0), 2.112085713764618, 1e-14);
  EXPECT_NEAR(dist_quantile(DistKind::gaussian, p, 0.975), 1.0 + 2 * 1.959963984540054, 1e-13);
  for (double pr : {1e-6, 0.01, 0.3, 0.5, 0.77, 0.999})
    EXPECT_NEAR(dist_cdf(DistKind::gaussian, p, dist_quantile(DistKind::gaussian, p, pr)), pr, 1e-14 + 1e-12 * pr);
}

TEST(Heads, StudentTAgainstClosedFormsAndTables) {
  const double t3[3] = {0.0, 1.0, 3.0}, t1[3] = {0.0, 1.0, 1.0}, t2[3] = {0.0, 1.0, 2.0}, t10[3] = {0.0, 1.0, 10.0};
  EXPECT_NEAR(dist_quantile(DistKind::student_t, t3, 0.975), 3.182446305284263, 1e-11);   // t-table
  EXPECT_NEAR(dist_quantile(DistKind::student_t, t10, 0.95), 1.8124611228107335, 1e-11);
  EXPECT_NEAR(dist_quantile(DistKind::student_t, t1, 0.9), 3.077683537175253, 1e-11);     // Cauchy: tan(pi (p - 1/2))
  EXPECT_NEAR(dist_quantile(DistKind::student_t, t2, 0.99), 6.964556734283274, 1e-10);    // nu = 2 closed form
  EXPECT_NEAR(dist_quantile(DistKind::student_t, t3, 0.025), -3.182446305284263, 1e-11);
  const double p[3] = {0.5, 1.5, 5.0};
  EXPECT_NEAR(dist_nll(DistKind::student_t, p, -2.0), 2.699582954000007, 1e-13);  // from lgamma, independently
  // Cauchy NLL: log(pi sigma (1 + z^2)).
  const double c[3] = {1.0, 2.0, 1.0};
  EXPECT_NEAR(dist_nll(DistKind::student_t, c, 4.0), std::log(M_PI * 2.0 * (1 + 1.5 * 1.5)), 1e-13);
  for (double nu : {0.5, 1.0, 3.0, 30.0, 1e6}) {
    const double q[3] = {-2.0, 0.5, nu};
    for (double pr : {1e-4, 0.05, 0.5, 0.8, 0.9999})
      EXPECT_NEAR(dist_cdf(DistKind::student_t, q, dist_quantile(DistKind::student_t, q, pr)), pr, nu > 1e4 ? 1e-10 : 1e-12)
          << nu;
  }
}

// Seeded draws: moments and empirical quantiles match the distribution (200,000 draws; the
// bounds are > 5 standard errors, and the draws are deterministic).
TEST(Heads, SamplingMatchesTheDistribution) {
  struct Case {
    DistKind d;
    double par[3];
    double var;
  };
  for (const Case& c : {Case{DistKind::gaussian, {3.0, 2.0, 0.0}, 4.0}, Case{DistKind::student_t, {-1.0, 0.5, 5.0},
                                                                               0.25 * 5.0 / 3.0}}) {
    Rng rng(11, 3);
    const std::size_t n = 200000;
    std::vector<double> v(n);
    double mean = 0;
    for (auto& x : v) {
      x = dist_sample(c.d, c.par, rng);
      mean += x;
    }
    mean /= double(n);
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    var /= double(n - 1);
    EXPECT_NEAR(mean, c.par[0], 5 * std::sqrt(c.var / double(n))) << dist_name(c.d);
    EXPECT_NEAR(var, c.var, 0.03 * c.var) << dist_name(c.d);
    std::sort(v.begin(), v.end());
    for (double pr : {0.05, 0.5, 0.95}) {
      const double want = dist_quantile(c.d, c.par, pr);
      const double got = v[std::size_t(pr * double(n))];
      EXPECT_NEAR(dist_cdf(c.d, c.par, got), pr, 0.004) << dist_name(c.d) << " p " << pr << " want " << want;
    }
  }
}

TEST(Heads, BadParametersAreErrors) {
  const double neg_sigma[2] = {0.0, -1.0}, nan_mu[2] = {NAN, 1.0}, zero_nu[3] = {0.0, 1.0, 0.0},
               cauchy[3] = {0.0, 1.0, 1.0}, ok[2] = {0.0, 1.0};
  EXPECT_THROW(dist_nll(DistKind::gaussian, neg_sigma, 0.0), Error);
  EXPECT_THROW(dist_quantile(DistKind::gaussian, nan_mu, 0.5), Error);
  EXPECT_THROW(dist_cdf(DistKind::student_t, zero_nu, 0.0), Error);
  EXPECT_THROW(dist_mean(DistKind::student_t, cauchy), Error);
  EXPECT_THROW(dist_quantile(DistKind::gaussian, ok, 1.0), Error);
  EXPECT_THROW(dist_nll(DistKind::gaussian, ok, INFINITY), Error);
}

// Negative binomial (mean mu, dispersion alpha; r = 1/alpha): the pmf against the product form
// C(k + r - 1, k) p^r (1 - p)^k for an integer r, the cdf against the running sum of the pmf, the
// quantile as the smallest k whose cdf reaches p, the sampler's mean, variance mu + alpha mu^2
// and quantiles (small mu: the multiplication sampler; large mu: PTRS), and its scaling.
TEST(Heads, NegativeBinomialAgainstSumsAndSamples) {
  EXPECT_EQ(parse_dist("negbin"), DistKind::negative_binomial);
  EXPECT_EQ(dist_params(DistKind::negative_binomial), 2u);
  const DistKind nb = DistKind::negative_binomial;
  {  // r = 4 (alpha 0.25), mu = 6: p = r / (r + mu) = 0.4
    const double par[2] = {6.0, 0.25}, p = 0.4;
    double sum = 0, binom = 1;  // C(k + 3, k), built up
    for (int k = 0; k <= 60; ++k) {
      if (k > 0) binom = binom * double(k + 3) / double(k);
      const double pmf = binom * std::pow(p, 4) * std::pow(1 - p, k);
      EXPECT_NEAR(std::exp(-dist_nll(nb, par, k)), pmf, 1e-14) << k;
      sum += pmf;
      EXPECT_NEAR(dist_cdf(nb, par, k), sum, 1e-12) << k;
      EXPECT_NEAR(dist_cdf(nb, par, k + 0.7), sum, 1e-12) << "between counts " << k;
    }
    EXPECT_EQ(dist_cdf(nb, par, -0.5), 0.0);
    EXPECT_DOUBLE_EQ(dist_mean(nb, par), 6.0);
    for (double pr : {0.01, 0.1, 0.5, 0.9, 0.999}) {
      const double k = dist_quantile(nb, par, pr);
      EXPECT_EQ(k, std::floor(k));
      EXPECT_GE(dist_cdf(nb, par, k), pr) << pr;
      if (k > 0) {
        EXPECT_LT(dist_cdf(nb, par, k - 1), pr) << pr;
      }
    }
  }
  for (const double mu : {2.5, 300.0}) {  // both Poisson samplers
    const double par[2] = {mu, 0.1}, var = mu + 0.1 * mu * mu;
    Rng rng(5, 9);
    const std::size_t n = 200000;
    std::vector<double> v(n);
    double mean = 0;
    for (auto& x : v) {
      x = dist_sample(nb, par, rng);
      ASSERT_GE(x, 0.0);
      ASSERT_EQ(x, std::floor(x));
      mean += x;
    }
    mean /= double(n);
    double s2 = 0;
    for (double x : v) s2 += (x - mean) * (x - mean);
    s2 /= double(n - 1);
    EXPECT_NEAR(mean, mu, 5 * std::sqrt(var / double(n))) << mu;
    EXPECT_NEAR(s2, var, 0.03 * var) << mu;
    std::sort(v.begin(), v.end());
    for (double pr : {0.1, 0.5, 0.9}) {  // discrete: the sample quantile k has cdf(k - 1) < pr <= cdf(k)
      const double k = v[std::size_t(pr * double(n))];
      EXPECT_GE(dist_cdf(nb, par, k), pr - 0.005) << mu << " p " << pr;
      EXPECT_LE(dist_cdf(nb, par, k - 1), pr + 0.005) << mu << " p " << pr;
    }
  }
  // Scaling: the mean scales, alpha does not; a scaler with a center is refused.
  const OutputSpec spec = OutputSpec::distribution(nb);
  double y[4] = {2.0, 0.5, 3.0, 0.25};
  unscale_outputs(spec, NormStats{0.0, 10.0}, y, 2);
  EXPECT_EQ(y[0], 20.0);
  EXPECT_EQ(y[1], 0.5);
  EXPECT_EQ(y[2], 30.0);
  EXPECT_EQ(y[3], 0.25);
  EXPECT_THROW(unscale_outputs(spec, NormStats{5.0, 10.0}, y, 2), Error);
  const double bad_mu[2] = {0.0, 1.0}, bad_alpha[2] = {1.0, -1.0}, ok[2] = {1.0, 1.0};
  EXPECT_THROW(dist_nll(nb, bad_mu, 1.0), Error);
  EXPECT_THROW(dist_sample(nb, bad_alpha, *std::make_unique<Rng>(1, 1)), Error);
  EXPECT_THROW(dist_nll(nb, ok, -1.0), Error);
}

// The closed-form NLL gradients (what the nll training loss uses) against central differences of
// dist_nll, over a table of parameters and observations: centre, tails, small and large nu,
// counts near 0 and far out, small and large dispersion.
TEST(Heads, NllGradientsMatchFiniteDifferences) {
  struct Case {
    DistKind d;
    std::vector<double> par;
    double y;
  };
  const std::vector<Case> cases = {
      {DistKind::gaussian, {0.3, 1.7}, -0.4},      {DistKind::gaussian, {-2.0, 0.05}, -1.9},
      {DistKind::gaussian, {10.0, 30.0}, 95.0},    {DistKind::student_t, {0.3, 1.7, 3.5}, -0.4},
      {DistKind::student_t, {1.0, 0.2, 3.01}, 4.0}, {DistKind::student_t, {-5.0, 2.0, 80.0}, -4.0},
      {DistKind::student_t, {0.0, 1.0, 0.7}, 12.0}, {DistKind::negative_binomial, {6.0, 0.25}, 3.0},
      {DistKind::negative_binomial, {0.3, 2.0}, 0.0}, {DistKind::negative_binomial, {40.0, 0.01}, 75.0},
      {DistKind::negative_binomial, {2.5, 0.7}, 1.37},  // a scaled (non-integer) count
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << dist_name(c.d) << " y " << c.y);
    double g[3];
    const double nll = dist_nll_grad(c.d, c.par.data(), c.y, g);
    EXPECT_DOUBLE_EQ(nll, dist_nll(c.d, c.par.data(), c.y));
    for (std::size_t i = 0; i < c.par.size(); ++i) {
      std::vector<double> hi = c.par, lo = c.par;
      const double e = 1e-6 * std::max(1.0, std::fabs(c.par[i]));
      hi[i] += e;
      lo[i] -= e;
      const double fd = (dist_nll(c.d, hi.data(), c.y) - dist_nll(c.d, lo.data(), c.y)) / (2 * e);
      EXPECT_NEAR(g[i], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "parameter " << i;
    }
  }
  double g[3];
  const double bad[3] = {0.0, -1.0, 3.0};
  EXPECT_THROW(dist_nll_grad(DistKind::student_t, bad, 0.0, g), Error);  // sigma <= 0
}

}  // namespace
}  // namespace ntn
