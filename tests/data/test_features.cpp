// Indicators against hand-computed values, O(n) rolling statistics against naive O(n w)
// loops, and the empty / constant / NaN contract of every function.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "expect_error.h"
#include "seq_util.h"
#include "ntn/features.h"
#include "ntn/rng.h"

namespace ntn {
namespace {

using V = std::vector<double>;
const double nan_ = test::kNaNSeq;
using test::expect_seq;

V run_fn(const V& x, const std::function<void(const double*, std::size_t, double*)>& f) {
  V out(x.size(), -777);
  f(x.data(), x.size(), out.data());
  return out;
}

TEST(Features, RollingHandValues) {
  const V x = {1, 2, 3, 4, 5};
  expect_seq(run_fn(x, [](auto* a, auto n, auto* o) { rolling_mean(a, n, 3, o); }), {nan_, nan_, 2, 3, 4});
  expect_seq(run_fn(x, [](auto* a, auto n, auto* o) { rolling_sum(a, n, 3, o); }), {nan_, nan_, 6, 9, 12});
  expect_seq(run_fn(x, [](auto* a, auto n, auto* o) { rolling_std(a, n, 3, o); }), {nan_, nan_, 1, 1, 1});
  expect_seq(run_fn(x, [](auto* a, auto n, auto* o) { rolling_var(a, n, 3, o, 0); }),
             {nan_, nan_, 2.0 / 3, 2.0 / 3, 2.0 / 3});
  const V y = {3, 1, 4, 1, 5, 9, 2, 6};
  expect_seq(run_fn(y, [](auto* a, auto n, auto* o) { rolling_min(a, n, 3, o); }), {nan_, nan_, 1, 1, 1, 1, 2, 2});
  expect_seq(run_fn(y, [](auto* a, auto n, auto* o) { rolling_max(a, n, 3, o); }), {nan_, nan_, 4, 4, 5, 9, 9, 9});
  expect_seq(run_fn(y, [](auto* a, auto n, auto* o) { rolling_max(a, n, 1, o); }), y);
}

TEST(Features, RollingMatchesNaiveOverLongSeries) {
  const std::size_t n = 40000;  // > the exact-recompute period for small windows
  V x(n);
  Rng rng(3, 1);
  double p = 1000;
  for (auto& v : x) v = p += rng.normal();
  for (std::size_t w : {1, 2, 7, 50, 1000}) {
    V mean(n), sd(n), mn(n), mx(n);
    rolling_mean(x.data(), n, w, mean.data());
    rolling_std(x.data(), n, w, sd.data(), w > 1 ? 1 : 0);
    rolling_min(x.data(), n, w, mn.data());
    rolling_max(x.data(), n, w, mx.data());
    for (std::size_t i = w - 1; i < n; i += 13) {
      double s = 0, lo = x[i], hi = x[i];
      for (std::size_t j = i + 1 - w; j <= i; ++j) {
        s += x[j];
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
      }
      const double m = s / double(w);
      double q = 0;
      for (std::size_t j = i + 1 - w; j <= i; ++j) q += (x[j] - m) * (x[j] - m);
      const double want_sd = std::sqrt(q / double(w > 1 ? w - 1 : 1));
      ASSERT_NEAR(mean[i], m, 1e-9 * std::fabs(m)) << "w=" << w << " i=" << i;
      ASSERT_NEAR(sd[i], want_sd, 1e-7 * (1 + want_sd)) << "w=" << w << " i=" << i;
      ASSERT_EQ(mn[i], lo);
      ASSERT_EQ(mx[i], hi);
    }
  }
}

TEST(Features, EmaRocRsiHandValues) {
  const V x = {1, 2, 3, 4, 5};
  // seed = mean(1, 2, 3) = 2 at index 2, alpha = 2 / 4 = 0.5
  expect_seq(run_fn(x, [](auto* a, auto n, auto* o) { ema(a, n, 3, o); }), {nan_, nan_, 2, 3, 4});
  expect_seq(run_fn({100, 110, 99}, [](auto* a, auto n, auto* o) { roc(a, n, 1, o); }), {nan_, 10, -10});
  // d = +1, -1, +2; avg gain / loss over t = 1..2: 0.5 / 0.5 -> 50; then (0.5 + 2) / 2 = 1.25
  // and (0.5 + 0) / 2 = 0.25 -> RS 5 -> 100 - 100 / 6.
  expect_seq(run_fn({1, 2, 1, 3}, [](auto* a, auto n, auto* o) { rsi(a, n, 2, o); }),
             {nan_, nan_, 50, 100 - 100.0 / 6});
  expect_seq(run_fn({1, 2, 3, 4}, [](auto* a, auto n, auto* o) { rsi(a, n, 2, o); }), {nan_, nan_, 100, 100});
  expect_seq(run_fn({4, 3, 2, 1}, [](auto* a, auto n, auto* o) { rsi(a, n, 2, o); }), {nan_, nan_, 0, 0});
}

TEST(Features, MacdBollingerAtrObvVwapHandValues) {
  const V x = {1, 2, 3, 4, 5, 6};
  V line(6), sig(6), hist(6);
  // ema2: 1.5 at 1, then +2/3 of the gap: 2.5, 3.5, 4.5, 5.5; ema3: 2 at 2, then 3, 4, 5.
  macd(x.data(), 6, 2, 3, 2, line.data(), sig.data(), hist.data());
  expect_seq(line, {nan_, nan_, 0.5, 0.5, 0.5, 0.5});
  expect_seq(sig, {nan_, nan_, nan_, 0.5, 0.5, 0.5});
  expect_seq(hist, {nan_, nan_, nan_, 0, 0, 0});
  // On a random walk the line is ema(fast) - ema(slow) exactly.
  V w(300), f(300), s(300), l(300), g(300), h(300);
  Rng rng(4, 1);
  double p = 50;
  for (auto& v : w) v = p += rng.normal();
  ema(w.data(), 300, 12, f.data());
  ema(w.data(), 300, 26, s.data());
  macd(w.data(), 300, 12, 26, 9, l.data(), g.data(), h.data());
  for (std::size_t i = 25; i < 300; ++i) ASSERT_NEAR(l[i], f[i] - s[i], 1e-12);
  for (std::size_t i = 0; i < 33; ++i) ASSERT_TRUE(std::isnan(g[i])) << i;  // warm-up s + g - 2 = 33
  ASSERT_FALSE(std::isnan(g[33]));

  V mid(3), up(3), lo(3);
  bollinger(V{1, 2, 3}.data(), 3, 3, 2.0, mid.data(), up.data(), lo.data());
  expect_seq(mid, {nan_, nan_, 2});
  expect_seq(up, {nan_, nan_, 2 + 2 * std::sqrt(2.0 / 3)});
  expect_seq(lo, {nan_, nan_, 2 - 2 * std::sqrt(2.0 / 3)});

  // TR = 2, 2, max(2, |15 - 10|, |13 - 10|) = 5; ATR(2) = 2 at 1, then (2 + 5) / 2.
  const V hi = {10, 11, 15}, lw = {8, 9, 13}, cl = {9, 10, 14};
  V a(3);
  atr(hi.data(), lw.data(), cl.data(), 3, 2, a.data());
  expect_seq(a, {nan_, 2, 3.5});
  V o(4);
  obv(V{10, 11, 11, 9}.data(), V{100, 200, 300, 400}.data(), 4, o.data());
  expect_seq(o, {0, 200, 200, -200});
  V vw(3);
  const V px = {10, 10, 20}, vol = {0, 1, 3};
  vwap(px.data(), px.data(), px.data(), vol.data(), 3, 0, vw.data());
  expect_seq(vw, {nan_, 10, 17.5});
  vwap(px.data(), px.data(), px.data(), vol.data(), 3, 2, vw.data());
  expect_seq(vw, {nan_, 10, 17.5});
  test::expect_error([&] { atr(lw.data(), hi.data(), cl.data(), 3, 2, a.data()); }, {"high[0]", "below low[0]"});
}

TEST(Features, LagFourierCalendar) {
  expect_seq(run_fn({1, 2, 3}, [](auto* a, auto n, auto* o) { lag(a, n, 2, o); }), {nan_, nan_, 1});
  V f(2 * 2);
  fourier(2, 4.0, 1, f.data());
  expect_seq(f, {0, 1, 1, 0}, 1e-15);
  CalendarFeatures c = calendar(0);  // 1970-01-01 00:00 UTC, a Thursday
  EXPECT_EQ(c.day_of_week, 3);
  EXPECT_EQ(c.month, 1);
  EXPECT_EQ(c.day_of_month, 1);
  EXPECT_EQ(c.day_of_year, 1);
  c = calendar(951782400 + 13 * 3600);  // 2000-02-29 13:00, a Tuesday
  EXPECT_EQ(c.hour, 13);
  EXPECT_EQ(c.day_of_week, 1);
  EXPECT_EQ(c.month, 2);
  EXPECT_EQ(c.day_of_month, 29);
  EXPECT_EQ(c.day_of_year, 60);
  c = calendar(-3600);  // 1969-12-31 23:00, a Wednesday
  EXPECT_EQ(c.hour, 23);
  EXPECT_EQ(c.day_of_week, 2);
  EXPECT_EQ(c.day_of_year, 365);
}

// Every function: empty input is fine (nothing written), constant input has its textbook
// value, NaN is an error naming the function and the index.
TEST(Features, EmptyConstantAndNan) {
  const V empty;
  V none;
  using Fn = std::function<void(const double*, std::size_t, double*)>;
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"rolling_mean", [](auto* a, auto n, auto* o) { rolling_mean(a, n, 3, o); }},
      {"rolling_sum", [](auto* a, auto n, auto* o) { rolling_sum(a, n, 3, o); }},
      {"rolling_std", [](auto* a, auto n, auto* o) { rolling_std(a, n, 3, o); }},
      {"rolling_var", [](auto* a, auto n, auto* o) { rolling_var(a, n, 3, o); }},
      {"rolling_min", [](auto* a, auto n, auto* o) { rolling_min(a, n, 3, o); }},
      {"rolling_max", [](auto* a, auto n, auto* o) { rolling_max(a, n, 3, o); }},
      {"ema", [](auto* a, auto n, auto* o) { ema(a, n, 3, o); }},
      {"roc", [](auto* a, auto n, auto* o) { roc(a, n, 2, o); }},
      {"rsi", [](auto* a, auto n, auto* o) { rsi(a, n, 3, o); }},
      {"lag", [](auto* a, auto n, auto* o) { lag(a, n, 1, o); }},
      {"macd", [](auto* a, auto n, auto* o) { V s(n), h(n); macd(a, n, 2, 3, 2, o, s.data(), h.data()); }},
      {"bollinger", [](auto* a, auto n, auto* o) { V u(n), l(n); bollinger(a, n, 3, 2, o, u.data(), l.data()); }},
      {"atr", [](auto* a, auto n, auto* o) { atr(a, a, a, n, 3, o); }},
      {"obv", [](auto* a, auto n, auto* o) { obv(a, a, n, o); }},
      {"vwap", [](auto* a, auto n, auto* o) { vwap(a, a, a, a, n, 0, o); }},
  };
  const std::map<std::string, double> constant = {
      {"rolling_mean", 7}, {"rolling_sum", 21}, {"rolling_std", 0}, {"rolling_var", 0}, {"rolling_min", 7},
      {"rolling_max", 7},  {"ema", 7},          {"roc", 0},         {"rsi", 50},        {"lag", 7},
      {"macd", 0},         {"bollinger", 7},    {"atr", 0},         {"obv", 0},         {"vwap", 7}};
  for (const auto& [name, fn] : fns) {
    fn(empty.data(), 0, none.data());  // must not touch anything
    const V c(10, 7.0);
    V out(10, -1);
    fn(c.data(), 10, out.data());
    EXPECT_DOUBLE_EQ(out.back(), constant.at(name)) << name << " of a constant series";
    V bad(10, 7.0);
    bad[6] = nan_;
    test::expect_error([&] { fn(bad.data(), 10, out.data()); }, {name, "[6]", "not finite"});
  }
  test::expect_error([] { V o(3); roc(V{0, 1, 2}.data(), 3, 1, o.data()); }, {"roc", "x[0] = 0"});
  test::expect_error([] { V o(3); rolling_std(V{0, 1, 2}.data(), 3, 0, o.data()); }, {"window"});
}

}  // namespace
}  // namespace ntn
