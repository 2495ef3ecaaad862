// Preprocessing: hand-computed values, round trips, and the empty / constant / NaN contract.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "expect_error.h"
#include "seq_util.h"
#include "ntn/preprocess.h"
#include "ntn/rng.h"

namespace ntn {
namespace {

using V = std::vector<double>;
const double nan_ = test::kNaNSeq;
using test::expect_seq;

TEST(Preprocess, TransformsReturnsDifferences) {
  V o(2);
  log_transform(V{1, std::exp(1.0)}.data(), 2, o.data());
  expect_seq(o, {0, 1});
  exp_transform(V{0, 1}.data(), 2, o.data());
  expect_seq(o, {1, std::exp(1.0)});
  V r(3);
  simple_returns(V{100, 110, 99}.data(), 3, r.data());
  expect_seq(r, {nan_, 0.1, -0.1});
  log_returns(V{1, std::exp(1.0), 1}.data(), 3, r.data());
  expect_seq(r, {nan_, 1, -1});
  V d(4);
  difference(V{1, 4, 9, 16}.data(), 4, 1, d.data());
  expect_seq(d, {nan_, 3, 5, 7});
  V x(50), d2(50), back(50);
  Rng rng(1, 1);
  for (auto& v : x) v = rng.normal();
  difference(x.data(), 50, 2, d2.data());
  undifference(d2.data(), 50, 2, x.data(), back.data());
  expect_seq(back, x, 1e-12);
  test::expect_error([] { V o(2); log_transform(V{1, 0}.data(), 2, o.data()); }, {"x[1] = 0", "not positive"});
  test::expect_error([] { V o(2); simple_returns(V{0, 1}.data(), 2, o.data()); }, {"x[0] = 0"});
}

TEST(Preprocess, DetrendAndDecompose) {
  V o(4);
  const Trend t = linear_detrend(V{1, 3, 5, 7}.data(), 4, o.data());
  EXPECT_NEAR(t.slope, 2, 1e-12);
  EXPECT_NEAR(t.intercept, 1, 1e-12);
  expect_seq(o, {0, 0, 0, 0});
  V back(4);
  add_trend(o.data(), 4, t, back.data());
  expect_seq(back, {1, 3, 5, 7});
  V ma(5);
  centred_moving_average(V{1, 2, 4, 8, 16}.data(), 5, 3, ma.data());
  expect_seq(ma, {nan_, 7.0 / 3, 14.0 / 3, 28.0 / 3, nan_});
  centred_moving_average(V{1, 2, 4, 8, 16}.data(), 5, 2, ma.data());  // (0.5, 1, 0.5) / 2
  expect_seq(ma, {nan_, 2.25, 4.5, 9, nan_});
  // x = 10 + t + s_t, s = +1, -1: the 2 x 2 centred MA recovers 10 + t exactly inside.
  V x(8);
  for (std::size_t i = 0; i < 8; ++i) x[i] = 10.0 + double(i) + (i % 2 ? -1.0 : 1.0);
  const Decomposition d = seasonal_decompose(x.data(), 8, 2);
  expect_seq(d.trend, {nan_, 11, 12, 13, 14, 15, 16, nan_});
  expect_seq(d.seasonal, {1, -1, 1, -1, 1, -1, 1, -1});
  expect_seq(d.resid, {nan_, 0, 0, 0, 0, 0, 0, nan_});
  // An outlier pulls the classical seasonal means; the robust variant much less.
  V y(48);
  for (std::size_t i = 0; i < 48; ++i) y[i] = 10.0 + 0.1 * double(i) + (i % 4 == 0 ? 2.0 : 0.0) - 0.5;
  y[20] += 40;
  const Decomposition c = seasonal_decompose(y.data(), 48, 4), r = robust_decompose(y.data(), 48, 4, 4);
  double ec = 0, er = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const double want = i == 0 ? 1.5 : -0.5;  // +2 at position 0, centred
    ec += std::fabs(c.seasonal[i] - want);
    er += std::fabs(r.seasonal[i] - want);
  }
  EXPECT_LT(er, 0.25 * ec) << "robust " << er << " vs classical " << ec;
  test::expect_error([&] { seasonal_decompose(x.data(), 3, 2); }, {"fewer than two periods"});
}

TEST(Preprocess, WinsorizeNeverDropsPoints) {
  V o(5);
  EXPECT_EQ(winsorize(V{1, 2, 3, 4, 100}.data(), 5, o.data(), OutlierRule::tukey, 1.5), 1u);
  expect_seq(o, {1, 2, 3, 4, 7});  // q1 2, q3 4 -> fences -1, 7
  EXPECT_EQ(winsorize(V{0, 0, 0, 0, 10}.data(), 5, o.data(), OutlierRule::zscore, 1.0), 1u);
  expect_seq(o, {0, 0, 0, 0, 6});  // mean 2, std 4
}

TEST(Preprocess, FillAndResample) {
  V a = {1, nan_, 3};
  fill_forward(a.data(), 3);
  expect_seq(a, {1, 1, 3});
  V b = {1, nan_, nan_, 4, nan_};
  fill_linear(b.data(), 5);
  expect_seq(b, {1, 2, 3, 4, 4});
  V lead = {nan_, 1};
  test::expect_error([&] { fill_forward(lead.data(), 2); }, {"x[0] is missing"});
  test::expect_error([&] { fill_linear(lead.data(), 2); }, {"x[0] is missing"});
  const std::int64_t tm[3] = {0, 10, 25};
  const double v[3] = {1, 2, 5};
  V out;
  auto g = resample(tm, v, 3, 0, 5, ResampleMethod::hold, out);
  EXPECT_EQ(g, (std::vector<std::int64_t>{0, 5, 10, 15, 20, 25}));
  expect_seq(out, {1, 1, 2, 2, 2, 5});
  resample(tm, v, 3, 0, 5, ResampleMethod::linear, out);
  expect_seq(out, {1, 1.5, 2, 3, 4, 5});
  g = resample(tm, v, 3, -3, 5, ResampleMethod::hold, out);  // grid aligned to the start
  EXPECT_EQ(g.front(), 2);
  const std::int64_t bad[3] = {0, 10, 10};
  test::expect_error([&] { resample(bad, v, 3, 0, 5, ResampleMethod::hold, out); }, {"time[2] = 10", "strictly increasing"});
}

TEST(Preprocess, EmptyConstantAndNan) {
  V none, c(12, 3.0), o(12, -1);
  // Empty: nothing happens, no error.
  log_transform(none.data(), 0, o.data());
  simple_returns(none.data(), 0, o.data());
  difference(none.data(), 0, 1, o.data());
  linear_detrend(none.data(), 0, o.data());
  EXPECT_EQ(seasonal_decompose(none.data(), 0, 4).trend.size(), 0u);
  EXPECT_EQ(winsorize(none.data(), 0, o.data(), OutlierRule::tukey, 1.5), 0u);
  fill_linear(none.data(), 0);
  centred_moving_average(none.data(), 0, 3, o.data());
  V out;
  EXPECT_TRUE(resample(nullptr, nullptr, 0, 0, 1, ResampleMethod::hold, out).empty());
  // Constant: zero returns, differences, trend slope and seasonal; nothing clipped.
  simple_returns(c.data(), 12, o.data());
  EXPECT_EQ(o[11], 0.0);
  difference(c.data(), 12, 3, o.data());
  EXPECT_EQ(o[11], 0.0);
  EXPECT_EQ(linear_detrend(c.data(), 12, o.data()).slope, 0.0);
  const Decomposition d = robust_decompose(c.data(), 12, 3);
  for (double s : d.seasonal) EXPECT_EQ(s, 0.0);
  EXPECT_EQ(winsorize(c.data(), 12, o.data(), OutlierRule::zscore, 3), 0u);
  centred_moving_average(c.data(), 12, 4, o.data());
  EXPECT_EQ(o[6], 3.0);
  // NaN: an error naming the function and the index.
  V bad = c;
  bad[7] = nan_;
  test::expect_error([&] { log_returns(bad.data(), 12, o.data()); }, {"log_returns", "x[7]"});
  test::expect_error([&] { difference(bad.data(), 12, 1, o.data()); }, {"difference", "x[7]"});
  test::expect_error([&] { linear_detrend(bad.data(), 12, o.data()); }, {"linear_detrend", "x[7]"});
  test::expect_error([&] { seasonal_decompose(bad.data(), 12, 3); }, {"seasonal_decompose", "x[7]"});
  test::expect_error([&] { winsorize(bad.data(), 12, o.data(), OutlierRule::tukey, 1.5); }, {"winsorize", "x[7]"});
  test::expect_error([&] { exp_transform(bad.data(), 12, o.data()); }, {"exp_transform", "x[7]"});
  test::expect_error([&] { centred_moving_average(bad.data(), 12, 3, o.data()); }, {"centred_moving_average", "x[7]"});
}

}  // namespace
}  // namespace ntn
