#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ntn/error.h"
#include "ntn/metrics.h"

namespace ntn {
namespace {

TEST(Metrics, HandComputedValues) {
  const float y[4] = {100, 200, 0, 50}, f[4] = {110, 180, 0, 50};
  EXPECT_DOUBLE_EQ(mae(y, f, 4), (10 + 20 + 0 + 0) / 4.0);
  EXPECT_DOUBLE_EQ(mse(y, f, 4), (100 + 400) / 4.0);
  EXPECT_DOUBLE_EQ(rmse(y, f, 4), std::sqrt(125.0));
  // sMAPE (M4): 200|d|/(|y|+|f|): 2000/210, 4000/380, 0 (0/0 limit), 0.
  EXPECT_NEAR(smape(y, f, 4), (2000.0 / 210 + 4000.0 / 380) / 4, 1e-12);
  // MASE, m = 2: history 1 3 2 6 -> |2-1| + |6-3| = 4 over 2 -> scale 2.
  const float h[4] = {1, 3, 2, 6};
  EXPECT_DOUBLE_EQ(mase_scale(h, 4, 2), 2.0);
  EXPECT_DOUBLE_EQ(mase(y, f, 4, 2.0), 7.5 / 2.0);
  // Direction, each step against the previous actual (90 before the first): actual up, up,
  // down, up; forecast up, down (95 < 100), down, flat (0 == 0): 2 of 4 match.
  const float fd[4] = {110, 95, 0, 0};
  EXPECT_DOUBLE_EQ(directional_accuracy(y, fd, 4, 90.0f), 0.5);
  EXPECT_DOUBLE_EQ(directional_accuracy(y, f, 4, 90.0f), 1.0);
}

TEST(Metrics, EmptyNanAndDegenerateScaleAreErrors) {
  const float y[2] = {1, std::numeric_limits<float>::quiet_NaN()}, f[2] = {1, 2};
  EXPECT_THROW(mae(y, f, 0), Error);
  EXPECT_THROW(mae(y, f, 2), Error);
  const float c[4] = {5, 5, 5, 5};
  EXPECT_DOUBLE_EQ(mase_scale(c, 4, 1), 0.0);
  EXPECT_THROW(mase(f, f, 2, 0.0), Error);  // constant history: MASE undefined, said so
  EXPECT_THROW(mase_scale(c, 2, 2), Error);
  EXPECT_DOUBLE_EQ(smape(c, c, 4), 0.0);  // constant, perfect
}

TEST(Metrics, ExtendedHandComputedValues) {
  const float y[4] = {100, 200, 0, 50}, f[4] = {110, 180, 0, 50};
  const MapeResult m = mape(y, f, 4);  // 10%, 10%, (y = 0: excluded, reported), 0%
  EXPECT_NEAR(m.value, 20.0 / 3, 1e-12);
  EXPECT_EQ(m.excluded, 1u);
  EXPECT_EQ(m.n, 4u);
  const float z[2] = {0, 0};
  EXPECT_TRUE(std::isnan(mape(z, z, 2).value));
  EXPECT_EQ(mape(z, z, 2).excluded, 2u);

  const float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5}, biased[4] = {2, 3, 4, 5};
  EXPECT_NEAR(r2(a, b, 4), 0.8, 1e-12);            // 1 - 1 / 5
  EXPECT_NEAR(adjusted_r2(a, b, 4, 1), 0.7, 1e-12);  // 1 - 0.2 * 3 / 2
  // A constant bias: R^2 punishes it, explained variance does not (they differ by definition).
  EXPECT_NEAR(r2(a, biased, 4), 0.2, 1e-12);
  EXPECT_NEAR(explained_variance(a, biased, 4), 1.0, 1e-12);
  // residuals 0, 0, 0, -1: mean -0.25, sum of squared deviations 3 x 0.0625 + 0.5625 = 0.75
  EXPECT_NEAR(explained_variance(a, b, 4), 1.0 - 0.75 / 5.0, 1e-12);
  EXPECT_DOUBLE_EQ(max_error(a, b, 4), 1.0);

  const float ten = 10, eight = 8, twelve = 12;
  EXPECT_NEAR(pinball(&ten, &eight, 1, 0.9), 1.8, 1e-12);
  EXPECT_NEAR(pinball(&ten, &twelve, 1, 0.9), 0.2, 1e-12);

  const float s2[2] = {-1, 1};
  EXPECT_NEAR(crps_samples(0, s2, 2), 0.5, 1e-12);   // 1 - 0.5 * (4 / 4)
  EXPECT_NEAR(crps_samples(0, s2, 2, true), 0.0, 1e-12);  // fair: 1 - 0.5 * (4 / 2)
  const float one = 3;
  EXPECT_NEAR(crps_samples(1, &one, 1), 2.0, 1e-12);  // one sample: the absolute error
  const float lv[2] = {0.25f, 0.75f};
  EXPECT_NEAR(crps_quantiles(0, s2, lv, 2), 0.5, 1e-7);  // 2 x mean(0.25, 0.25)

  const float yy[3] = {1, 5, 10}, lo[3] = {0, 6, 9}, hi[3] = {2, 7, 11};
  EXPECT_NEAR(coverage(yy, lo, hi, 3), 2.0 / 3, 1e-12);
  EXPECT_NEAR(mean_width(lo, hi, 3), 5.0 / 3, 1e-12);
  EXPECT_NEAR(msis(yy, lo, hi, 3, 0.05, 1.0), 15.0, 1e-9);  // (2 + 41 + 2) / 3
  EXPECT_NEAR(owa(10, 1, 20, 2), 0.5, 1e-12);
}

TEST(Metrics, CrpsSamplesMatchesPairwiseDefinition) {
  std::vector<float> s(37);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = std::sin(float(i) * 1.7f) * 3;
  double a = 0, b = 0;
  const double y = double(0.4f);
  for (float u : s) {
    a += std::fabs(double(u) - y);
    for (float v : s) b += std::fabs(double(u) - double(v));
  }
  const double m = double(s.size());
  EXPECT_NEAR(crps_samples(0.4f, s.data(), s.size()), a / m - 0.5 * b / (m * m), 1e-9);
  EXPECT_NEAR(crps_samples(0.4f, s.data(), s.size(), true), a / m - 0.5 * b / (m * (m - 1)), 1e-9);
  std::vector<double> sorted(s.begin(), s.end());  // the sorted entry point gives the same value
  std::sort(sorted.begin(), sorted.end());
  EXPECT_DOUBLE_EQ(crps_sorted(y, sorted.data(), sorted.size()), crps_samples(0.4f, s.data(), s.size()));
  std::vector<double> unsorted(s.begin(), s.end());  // and refuses samples that are not sorted
  EXPECT_THROW(crps_sorted(y, unsorted.data(), unsorted.size()), ntn::Error);
}

TEST(Metrics, Naive2SeasonalAndNot) {
  std::vector<float> x(12);
  for (std::size_t i = 0; i < 12; ++i) x[i] = i % 2 ? 20.0f : 10.0f;  // strong season m = 2
  float out[3];
  naive2(x.data(), 12, 2, 3, out);
  EXPECT_NEAR(out[0], 10.0f, 1e-4);
  EXPECT_NEAR(out[1], 20.0f, 1e-4);
  EXPECT_NEAR(out[2], 10.0f, 1e-4);
  const float trend[6] = {1, 2, 3, 4, 5, 6};
  naive2(trend, 6, 1, 2, out);  // no season: the last value
  EXPECT_EQ(out[0], 6.0f);
  EXPECT_EQ(out[1], 6.0f);
  const float flat[9] = {5, 5, 5, 5, 5, 5, 5, 5, 5};
  naive2(flat, 9, 3, 2, out);  // constant: no seasonality detectable, the last value
  EXPECT_EQ(out[0], 5.0f);
}

TEST(Metrics, ExtendedEmptyConstantNan) {
  const float nanv = std::numeric_limits<float>::quiet_NaN();
  const float c[3] = {5, 5, 5}, bad[3] = {1, nanv, 2}, ok[3] = {1, 2, 3};
  auto throws = [](auto fn) {
    try {
      fn();
    } catch (const Error&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(throws([&] { mape(ok, ok, 0); }));
  EXPECT_TRUE(throws([&] { mape(ok, bad, 3); }));
  EXPECT_NEAR(mape(c, ok, 3).value, 100.0 * (4 + 3 + 2) / 5 / 3, 1e-9);  // constant y: fine
  EXPECT_TRUE(throws([&] { r2(c, ok, 3); }));                  // constant y: SS_tot = 0
  EXPECT_TRUE(throws([&] { explained_variance(c, ok, 3); }));
  EXPECT_TRUE(throws([&] { r2(ok, bad, 3); }));
  EXPECT_TRUE(throws([&] { max_error(ok, ok, 0); }));
  EXPECT_TRUE(throws([&] { pinball(ok, ok, 3, 1.5); }));
  EXPECT_TRUE(throws([&] { pinball(bad, ok, 3, 0.5); }));
  EXPECT_DOUBLE_EQ(pinball(c, c, 3, 0.5), 0.0);
  EXPECT_TRUE(throws([&] { crps_samples(0, ok, 0); }));
  EXPECT_TRUE(throws([&] { crps_samples(0, bad, 3); }));
  EXPECT_DOUBLE_EQ(crps_samples(5, c, 3), 0.0);  // constant samples at the truth
  EXPECT_TRUE(throws([&] { coverage(ok, ok, ok, 0); }));
  EXPECT_TRUE(throws([&] { coverage(ok, c, ok, 3); }));  // lower bound above the upper one
  EXPECT_TRUE(throws([&] { msis(ok, ok, ok, 3, 0.05, 0.0); }));
  EXPECT_TRUE(throws([&] { naive2(ok, 0, 1, 2, nullptr); }));
  EXPECT_TRUE(throws([&] { naive2(bad, 3, 1, 2, nullptr); }));
  EXPECT_TRUE(throws([&] { owa(1, 1, 0, 1); }));
}

}  // namespace
}  // namespace ntn
