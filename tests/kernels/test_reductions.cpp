#include <limits>

#include "kernel_test_util.h"

namespace ntn::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using ReductionTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(ReductionTest);

TEST_P(ReductionTest, MatchReference) {
  for (std::size_t n : sizes()) {
    const auto x = rand_vec(n, 20, -4.0f, 6.0f), y = rand_vec(n, 21);
    // Tolerance relative to the sum of magnitudes: the SIMD paths accumulate in f32 lanes.
    float mag = 0;
    for (float v : x) mag += std::fabs(v);
    const float tol = 1e-6f * mag + 1e-6f;
    EXPECT_NEAR(k().f32_sum(x.data(), n), ref().f32_sum(x.data(), n), tol) << n;
    EXPECT_NEAR(k().f32_mean(x.data(), n), ref().f32_mean(x.data(), n), tol / float(n)) << n;
    EXPECT_TRUE(close(k().f32_variance(x.data(), n, 0), ref().f32_variance(x.data(), n, 0), 1e-6f, 1e-5f)) << n;
    if (n > 1) {
      EXPECT_TRUE(close(k().f32_variance(x.data(), n, 1), ref().f32_variance(x.data(), n, 1), 1e-6f, 1e-5f)) << n;
    }
    EXPECT_EQ(k().f32_min(x.data(), n), ref().f32_min(x.data(), n)) << n;
    EXPECT_EQ(k().f32_max(x.data(), n), ref().f32_max(x.data(), n)) << n;
    EXPECT_TRUE(close(k().f32_dot(x.data(), y.data(), n), ref().f32_dot(x.data(), y.data(), n), 1e-5f * mag, 1e-5f));
    EXPECT_TRUE(close(k().f32_sqnorm(x.data(), n), ref().f32_sqnorm(x.data(), n), 1e-6f, 1e-5f)) << n;
    EXPECT_TRUE(close(k().f32_var_around(x.data(), n, 0.7f), ref().f32_var_around(x.data(), n, 0.7f), 1e-6f, 1e-5f))
        << n;
  }
}

TEST_P(ReductionTest, HandComputedValues) {
  const std::vector<float> x = {2, 4, 4, 4, 5, 5, 7, 9, 1};  // 9 values: one past an 8-wide tile
  EXPECT_EQ(k().f32_sum(x.data(), 9), 41.0f);
  EXPECT_FLOAT_EQ(k().f32_mean(x.data(), 9), 41.0f / 9.0f);
  // sum x^2 = 233: population variance (9 * 233 - 41^2) / 81 = 416 / 81; sample 416 / 72
  EXPECT_NEAR(k().f32_variance(x.data(), 9, 0), 416.0 / 81.0, 1e-5);
  EXPECT_NEAR(k().f32_variance(x.data(), 9, 1), 416.0 / 72.0, 1e-5);
  EXPECT_EQ(k().f32_min(x.data(), 9), 1.0f);
  EXPECT_EQ(k().f32_max(x.data(), 9), 9.0f);
  EXPECT_EQ(k().f32_dot(x.data(), x.data(), 9), 233.0f);
  EXPECT_EQ(k().f32_sqnorm(x.data(), 9), 233.0f);
}

TEST_P(ReductionTest, VarianceIsStableForLargeOffsets) {
  // Values 1e4 + small noise: a one-pass sum of squares loses every digit in f32.
  for (std::size_t n : {std::size_t(1000), std::size_t(100000)}) {
    std::vector<float> x = rand_vec(n, 22, -1.0f, 1.0f);
    for (float& v : x) v += 1e4f;
    const float want = ref().f32_variance(x.data(), n, 0);  // double accumulation
    EXPECT_NEAR(want, 1.0f / 3.0f, 0.01f);
    EXPECT_NEAR(k().f32_variance(x.data(), n, 0), want, 2e-3f * want) << n;
  }
}

TEST_P(ReductionTest, EmptyAndNonFinite) {
  for (const KernelTable* t : {&k(), &ref()}) {
    EXPECT_EQ(t->f32_sum(nullptr, 0), 0.0f);
    EXPECT_TRUE(std::isnan(t->f32_mean(nullptr, 0)));
    EXPECT_TRUE(std::isnan(t->f32_variance(nullptr, 0, 0)));
    EXPECT_EQ(t->f32_min(nullptr, 0), kInf);
    EXPECT_EQ(t->f32_max(nullptr, 0), -kInf);
    EXPECT_EQ(t->f32_dot(nullptr, nullptr, 0), 0.0f);
    const float one = 1.0f;
    EXPECT_TRUE(std::isnan(t->f32_variance(&one, 1, 1)));  // ddof >= n
    for (std::size_t pos : {std::size_t(0), std::size_t(8), std::size_t(16), std::size_t(20)}) {
      std::vector<float> x = rand_vec(21, 23);
      x[pos] = kNaN;
      EXPECT_TRUE(std::isnan(t->f32_sum(x.data(), 21))) << isa_name(t->isa);
      EXPECT_TRUE(std::isnan(t->f32_variance(x.data(), 21, 0)));
      EXPECT_TRUE(std::isnan(t->f32_min(x.data(), 21))) << isa_name(t->isa) << " NaN at " << pos;
      EXPECT_TRUE(std::isnan(t->f32_max(x.data(), 21))) << isa_name(t->isa) << " NaN at " << pos;
      x[pos] = kInf;
      EXPECT_EQ(t->f32_max(x.data(), 21), kInf);
      EXPECT_EQ(t->f32_sum(x.data(), 21), kInf);
      x[pos] = -kInf;
      EXPECT_EQ(t->f32_min(x.data(), 21), -kInf);
    }
  }
}

}  // namespace
}  // namespace ntn::test
