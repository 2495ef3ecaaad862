// SVG charts and HTML reports (ntn/plot.h): ticks, escaping, gaps at non-finite values, layout
// errors, and a learning curve kept short by the trainer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "ntn/error.h"
#include "ntn/plot.h"
#include "ntn/trainer.h"

namespace {

using ntn::plot::Band;
using ntn::plot::Chart;
using ntn::plot::Line;

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

TEST(Plot, NiceTicksCoverTheRangeInOneTwoFiveSteps) {
  struct Case {
    double lo, hi;
  } cases[] = {{0, 1}, {-3.2, 7.9}, {2250.5, 3393.1}, {1e-7, 3e-7}, {-1e13, 1e13}, {0.8, 0.95}, {99.99, 100.01}};
  for (const Case& c : cases) {
    const std::vector<double> t = ntn::plot::nice_ticks(c.lo, c.hi, 6);
    ASSERT_GE(t.size(), 2u) << c.lo << " " << c.hi;
    EXPECT_LE(t.front(), c.lo);
    EXPECT_GE(t.back(), c.hi);
    EXPECT_LE(t.size(), 16u);
    const double step = t[1] - t[0];
    const double mant = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::fabs(mant - 1) < 1e-6 || std::fabs(mant - 2) < 1e-6 || std::fabs(mant - 5) < 1e-6)
        << "step " << step;
    // The ticks bracket the range tightly: one step past each end at most.
    EXPECT_GT(t.front() + step, c.lo);
    EXPECT_LT(t.back() - step, c.hi);
  }
  EXPECT_THROW(ntn::plot::nice_ticks(1, 1), ntn::Error);
  EXPECT_THROW(ntn::plot::nice_ticks(0, std::numeric_limits<double>::infinity()), ntn::Error);
}

TEST(Plot, EscapesMarkupAndControlCharacters) {
  EXPECT_EQ(ntn::plot::escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  EXPECT_EQ(ntn::plot::escape(std::string("x\x01y", 3)), "x?y");
  Chart c{.title = "</text><script>alert(1)</script>"};
  c.lines.push_back({"<b>", {0, 1}, {1, 2}});
  const std::string s = ntn::plot::svg(c);
  EXPECT_EQ(s.find("<script>"), std::string::npos);
  EXPECT_NE(s.find("&lt;/text&gt;&lt;script&gt;"), std::string::npos);
  EXPECT_NE(s.find("&lt;b&gt;"), std::string::npos);
}

TEST(Plot, NonFiniteValuesBreakTheLineAndTheBand) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Chart c{.title = "gaps"};
  c.lines.push_back({"y", {0, 1, 2, 3, 4, 5}, {1, 2, nan, 3, std::numeric_limits<double>::infinity(), 4}});
  c.bands.push_back({"band", {0, 1, 2, 3}, {0, 0, nan, 0}, {2, 2, 2, 2}});
  const std::string s = ntn::plot::svg(c);
  // Three runs of the line ([0,1], [3], [5]): three pen-downs in one path; two band polygons.
  const std::size_t at = s.find("class=\"series\"");
  ASSERT_NE(at, std::string::npos);
  const std::string path = s.substr(at, s.find("/>", at) - at);
  EXPECT_EQ(count(path, "M"), 3u);
  EXPECT_EQ(count(path, "L"), 1u);
  EXPECT_EQ(count(s, "class=\"band\""), 2u);
  EXPECT_EQ(s.find("nan"), std::string::npos);
  EXPECT_EQ(s.find("inf"), std::string::npos);
}

TEST(Plot, LegendAxisLabelsAndStacking) {
  Chart c{.title = "t", .x_label = "day", .y_label = "price"};
  c.bands.push_back({"80% interval", {0, 1}, {0, 0}, {1, 1}});
  c.lines.push_back({"history", {0, 1}, {0.5, 0.6}});
  c.lines.push_back({"", {0, 1}, {0.2, 0.3}});  // unlabelled: not in the legend
  c.x_names = {"2020-01-01", "2020-01-02"};
  const std::string s = ntn::plot::svg(c);
  EXPECT_EQ(s.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(s, "class=\"legend-item\""), 2u);
  EXPECT_EQ(count(s, "class=\"axis-label"), 2u);
  EXPECT_NE(s.find(">2020-01-01<"), std::string::npos);
  EXPECT_EQ(count(s, "<svg "), 1u);
  EXPECT_EQ(count(ntn::plot::svg(c, false), "<?xml"), 0u);
  const std::string st = ntn::plot::svg_stack({c, c, c});
  EXPECT_EQ(count(st, "class=\"chart\""), 3u);
  EXPECT_NE(st.find("height=\"1020.00\""), std::string::npos);  // 3 x 340
  // A fixed y range clamps what lies outside it.
  Chart f{.title = "coverage", .fixed_y = true, .y_min = 0, .y_max = 1};
  f.lines.push_back({"c", {0, 1}, {-5, 5}});
  EXPECT_NO_THROW(ntn::plot::svg(f));
}

TEST(Plot, BadChartsAreErrorsNamingThem) {
  struct Case {
    const char* name;
    Chart chart;
    const char* fragment;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Case cases[] = {
      {"empty", Chart{.title = "e"}, "nothing to draw"},
      {"all_nan", Chart{.title = "n", .lines = {Line{"a", {0, 1}, {nan, nan}}}}, "nothing to draw"},
      {"line_lengths", Chart{.title = "l", .lines = {Line{"a", {0, 1, 2}, {1, 2}}}}, "line 'a' has 3 x and 2 y"},
      {"band_lengths", Chart{.title = "b", .bands = {Band{"k", {0, 1}, {0}, {1, 2}}}}, "band 'k' has 2 x, 1 lo"},
      {"tiny", Chart{.title = "s", .lines = {Line{"a", {0, 1}, {1, 2}}}, .width = 10}, "size 10 x 340"},
      {"nan_size", Chart{.title = "s", .lines = {Line{"a", {0, 1}, {1, 2}}}, .height = nan}, "size 900 x nan"},
      {"huge", Chart{.title = "s", .lines = {Line{"a", {0, 1}, {1, 2}}}, .width = 1e300}, "size 1e+300"},
      {"fixed_empty",
       Chart{.title = "f", .lines = {Line{"a", {0, 1}, {1, 2}}}, .fixed_y = true, .y_min = 1, .y_max = 1},
       "fixed y range [1, 1]"},
  };
  for (const Case& c : cases) {
    try {
      ntn::plot::svg(c.chart);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const ntn::Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << c.name << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("chart '"), std::string::npos) << c.name << ": " << e.what();
    }
  }
  EXPECT_THROW(ntn::plot::svg_stack({}), ntn::Error);
}

TEST(Plot, ReportHoldsSectionsTablesAndInlineCharts) {
  Chart c{.title = "forecast"};
  c.lines.push_back({"f", {0, 1, 2}, {1, 3, 2}});
  ntn::plot::Report r{.title = "run <1>", .subtitle = "sub"};
  r.sections.push_back({"Forecast", "text & more", {c, c}, {}});
  r.sections.push_back({"Card", "", {}, {ntn::plot::Table{{"field", "value"}, {{"mae", "0.5"}, {"model", "nhits"}}}}});
  const std::string h = ntn::plot::html(r);
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(h, "<svg "), 2u);
  EXPECT_EQ(count(h, "</svg>"), 2u);
  EXPECT_EQ(count(h, "<?xml"), 0u);
  EXPECT_NE(h.find("<h1>run &lt;1&gt;</h1>"), std::string::npos);
  EXPECT_NE(h.find("<td class=\"num\">0.5</td>"), std::string::npos);  // numbers right-aligned
  EXPECT_NE(h.find("<td>nhits</td>"), std::string::npos);
  EXPECT_NE(h.find("text &amp; more"), std::string::npos);
}

TEST(TrainSummaryCurve, ThinsPastItsLimitKeepingFirstAndNewest) {
  ntn::TrainSummary s;
  const std::size_t N = 5 * ntn::TrainSummary::kCurvePoints;
  for (std::size_t i = 1; i <= N; ++i) s.add_curve_point({i, double(i), i % 10 == 0 ? double(i) : -1.0});
  EXPECT_LE(s.curve.size(), ntn::TrainSummary::kCurvePoints);
  EXPECT_GE(s.curve.size(), ntn::TrainSummary::kCurvePoints / 2);
  EXPECT_EQ(s.curve.front().step, 1u);
  EXPECT_EQ(s.curve.back().step, N);
  for (std::size_t i = 1; i < s.curve.size(); ++i) EXPECT_LT(s.curve[i - 1].step, s.curve[i].step);
  const nlohmann::json j = s.to_json()["curve"];
  ASSERT_EQ(j["step"].size(), s.curve.size());
  for (std::size_t i = 0; i < s.curve.size(); ++i)
    EXPECT_EQ(j["val"][i].is_null(), s.curve[i].val < 0) << i;
}

}  // namespace
