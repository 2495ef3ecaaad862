#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

}  // namespace
}  // namespace ntn
