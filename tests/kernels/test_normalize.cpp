#include <algorithm>
#include <cmath>
#include <limits>

#include "kernel_test_util.h"
#include "ntn/error.h"
#include "ntn/normalize.h"

namespace ntn::test {
namespace {

using NormalizeTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(NormalizeTest);

TEST_P(NormalizeTest, AffineKernelsMatchReferenceAndInvert) {
  for (std::size_t n : sizes()) {
    const auto x = rand_vec(n, 40, 50.0f, 150.0f);
    std::vector<float> y(n), yr(n), back(n);
    k().f32_normalize(x.data(), y.data(), n, 100.0f, 25.0f);
    ref().f32_normalize(x.data(), yr.data(), n, 100.0f, 25.0f);
    expect_all_close(y, yr, 0, 0, "f32 normalize");
    k().f32_denormalize(y.data(), back.data(), n, 100.0f, 25.0f);
    expect_all_close(back, x, 0, 2e-7f, "f32 round trip");
    std::vector<float> ip = x;
    k().f32_normalize(ip.data(), ip.data(), n, 100.0f, 25.0f);
    expect_all_close(ip, y, 0, 0, "f32 normalize in place");

    std::vector<double> xd(x.begin(), x.end()), yd(n), ydr(n), bd(n);
    k().f64_normalize(xd.data(), yd.data(), n, 100.0, 25.0);
    ref().f64_normalize(xd.data(), ydr.data(), n, 100.0, 25.0);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(yd[i], ydr[i]) << i;
    k().f64_denormalize(yd.data(), bd.data(), n, 100.0, 25.0);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(bd[i], xd[i], 1e-12 * xd[i]) << i;
    EXPECT_NEAR(k().f64_sum(xd.data(), n), ref().f64_sum(xd.data(), n), 1e-12 * 150 * double(n));
    EXPECT_NEAR(k().f64_var_around(xd.data(), n, 100.0), ref().f64_var_around(xd.data(), n, 100.0), 1e-9);
    double lo, hi, lor, hir;
    k().f64_minmax(xd.data(), n, &lo, &hi);
    ref().f64_minmax(xd.data(), n, &lor, &hir);
    EXPECT_EQ(lo, lor);
    EXPECT_EQ(hi, hir);
  }
}

TEST_P(NormalizeTest, StatisticsWithEveryTableAgree) {
  const auto x = rand_vec(1021, 41, -10.0f, 30.0f);
  for (NormKind kind : {NormKind::zscore, NormKind::minmax, NormKind::robust}) {
    const NormStats a = norm_stats(kind, x.data(), x.size(), k());
    const NormStats b = norm_stats(kind, x.data(), x.size(), ref());
    EXPECT_NEAR(a.center, b.center, 1e-4) << norm_kind_name(kind);
    EXPECT_NEAR(a.scale, b.scale, 1e-4) << norm_kind_name(kind);
  }
}

TEST(Normalize, HandComputedStatistics) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 100};  // an outlier
  NormStats z = norm_stats(NormKind::zscore, x.data(), x.size());
  EXPECT_DOUBLE_EQ(z.center, 14.5);
  EXPECT_NEAR(z.scale, std::sqrt(10285.0 / 10 - 14.5 * 14.5), 1e-9);  // population std, sum x^2 = 10285
  NormStats m = norm_stats(NormKind::minmax, x.data(), x.size());
  EXPECT_EQ(m.center, 1.0);
  EXPECT_EQ(m.scale, 99.0);
  NormStats r = norm_stats(NormKind::robust, x.data(), x.size());
  EXPECT_DOUBLE_EQ(r.center, 5.5);           // median
  EXPECT_DOUBLE_EQ(r.scale, 7.75 - 3.25);    // numpy: percentile 75 - percentile 25
  std::vector<float> xf(x.begin(), x.end()), y(x.size());
  const NormStats mf = norm_stats(NormKind::minmax, xf.data(), xf.size());
  normalize(mf, xf.data(), y.data(), y.size());
  EXPECT_EQ(y.front(), 0.0f);
  EXPECT_EQ(y.back(), 1.0f);
}

// Robust statistics select the quartiles within the median's partition: they must equal numpy's
// percentiles (linear interpolation between order statistics of a full sort) bit for bit, for every
// length (each parity and remainder mod 4 moves the interpolation) and with ties.
TEST(Normalize, RobustStatisticsEqualFullSortForEveryLength) {
  auto numpy_q = [](const std::vector<double>& sorted, double q) {
    const double pos = q * double(sorted.size() - 1);
    const std::size_t lo = std::size_t(std::floor(pos));
    const double frac = pos - double(lo);
    if (frac == 0.0 || lo + 1 >= sorted.size()) return sorted[lo];
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
  };
  for (int ties : {0, 1}) {
    for (std::size_t n = 1; n <= 130; ++n) {
      auto xf = rand_vec(n, 100 + n, -50.0f, 50.0f);
      if (ties)
        for (float& v : xf) v = std::round(v / 20.0f);  // five distinct values
      const std::vector<double> x(xf.begin(), xf.end());
      std::vector<double> sorted = x;
      std::sort(sorted.begin(), sorted.end());
      const double med = numpy_q(sorted, 0.5), iqr = numpy_q(sorted, 0.75) - numpy_q(sorted, 0.25);
      const NormStats d = norm_stats(NormKind::robust, x.data(), n);
      const NormStats f = norm_stats(NormKind::robust, xf.data(), n);
      EXPECT_EQ(d.center, med) << "n=" << n << " ties=" << ties;
      EXPECT_EQ(f.center, med) << "n=" << n << " ties=" << ties;
      if (iqr > 1e-12 * std::fabs(med) && iqr > 0) {  // else the scale is sanitised to 1
        EXPECT_EQ(d.scale, iqr) << "n=" << n << " ties=" << ties;
      } else {
        EXPECT_EQ(d.scale, 1.0) << "n=" << n << " ties=" << ties;
      }
    }
  }
}

TEST(Normalize, ConstantSeriesHasDefinedResult) {
  for (NormKind kind : {NormKind::zscore, NormKind::minmax, NormKind::robust}) {
    for (float c : {0.0f, 3.0f, -1234.5f, 1e6f}) {
      std::vector<float> x(1021, c), y(1021), back(1021);
      const NormStats s = norm_stats(kind, x.data(), x.size());
      EXPECT_EQ(s.scale, 1.0) << norm_kind_name(kind) << " c=" << c;
      normalize(s, x.data(), y.data(), x.size());
      for (float v : y) ASSERT_EQ(v, 0.0f) << norm_kind_name(kind) << " c=" << c;
      denormalize(s, y.data(), back.data(), x.size());
      for (float v : back) ASSERT_EQ(v, c);
      std::vector<double> xd(7, double(c)), yd(7);
      const NormStats sd = norm_stats(kind, xd.data(), xd.size());
      normalize(sd, xd.data(), yd.data(), xd.size());
      for (double v : yd) ASSERT_EQ(v, 0.0);
    }
  }
}

TEST(Normalize, RejectsEmptyAndNonFiniteWithTheIndex) {
  EXPECT_THROW(norm_stats(NormKind::zscore, static_cast<const float*>(nullptr), 0), Error);
  for (NormKind kind : {NormKind::zscore, NormKind::minmax, NormKind::robust}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> x = rand_vec(100, 42);
      x[37] = bad;
      try {
        norm_stats(kind, x.data(), x.size());
        ADD_FAILURE() << "no error for " << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("index 37"), std::string::npos) << e.what();
      }
      std::vector<double> xd(x.begin(), x.end());
      EXPECT_THROW(norm_stats(kind, xd.data(), xd.size()), Error);
    }
  }
  EXPECT_THROW(parse_norm_kind("zscores"), Error);
  EXPECT_EQ(parse_norm_kind("standard"), NormKind::zscore);
}

TEST(Normalize, NanThroughTheKernelPropagates) {
  // The affine kernels themselves do not check: NaN in, NaN out (statistics are the gate).
  const KernelTable& t = kernels();
  float x[3] = {1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f}, y[3];
  t.f32_normalize(x, y, 3, 2.0f, 1.0f);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_TRUE(std::isnan(y[1]));
}

}  // namespace
}  // namespace ntn::test
