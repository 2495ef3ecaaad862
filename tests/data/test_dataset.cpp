#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <set>
#include <string>

#include "ntn/dataset.h"
#include "ntn/error.h"

namespace ntn {
namespace {

SeriesStore ramp_store(std::initializer_list<std::size_t> lengths) {
  SeriesStore s;
  int k = 0;
  for (std::size_t n : lengths) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = float(1000 * k + int(i));
    s.add("s" + std::to_string(k++), v.data(), n);
  }
  return s;
}

TEST(Dataset, WindowsRespectSplitBoundaries) {
  SeriesStore s = ramp_store({100});
  const WindowShape shape{10, 5};
  // Train: targets in [0, 60): inputs start >= 0, so the first target is index 10.
  auto train = make_windows(s, shape, Split{0, 0, 60});
  ASSERT_FALSE(train.empty());
  EXPECT_EQ(train.front().start, 0u);
  EXPECT_EQ(train.back().start + 10 + 5, 60u);
  EXPECT_EQ(train.size(), 46u);  // starts 0..45
  // Test: targets in [80, 100), inputs may reach back into the earlier parts.
  auto test = make_windows(s, shape, Split{0, 80, 100});
  EXPECT_EQ(test.front().start + 10, 80u);
  EXPECT_EQ(test.back().start + 15, 100u);
  EXPECT_EQ(test.size(), 16u);
  // No target position is shared by two disjoint splits.
  auto val = make_windows(s, shape, Split{0, 60, 80});
  std::set<std::uint32_t> tr, va;
  for (auto w : train)
    for (std::uint32_t t = w.start + 10; t < w.start + 15; ++t) tr.insert(t);
  for (auto w : val)
    for (std::uint32_t t = w.start + 10; t < w.start + 15; ++t) va.insert(t);
  for (auto t : va) EXPECT_EQ(tr.count(t), 0u);
  EXPECT_EQ(*tr.rbegin(), 59u);
  EXPECT_EQ(*va.begin(), 60u);
  // An input floor stops inputs from reaching back.
  auto floored = make_windows(s, shape, Split{70, 70, 100});
  EXPECT_EQ(floored.front().start, 70u);
  // Negative positions count from each series' end; stride thins the windows.
  auto tail = make_windows(s, shape, Split{0, -5, 0});
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].start, 85u);
  EXPECT_EQ(make_windows(s, shape, Split{0, 0, 60}, 5).size(), 10u);
}

TEST(Dataset, ShortSeriesIsAnErrorNamingIt) {
  SeriesStore s = ramp_store({100, 12});
  try {
    make_windows(s, {10, 5}, Split{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("series 's1' (length 12)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("too short"), std::string::npos);
  }
  EXPECT_EQ(make_windows(s, {10, 5}, Split{}, 1, true).size(), 86u);
  EXPECT_THROW(make_windows(s, {0, 5}, Split{}), Error);
}

TEST(Dataset, ShuffleIsSeededAndAPermutation) {
  SeriesStore s = ramp_store({500, 300});
  auto a = make_windows(s, {20, 10}, Split{});
  auto b = a, c = a, d = a;
  shuffle_windows(b, 7, 0);
  shuffle_windows(c, 7, 0);
  shuffle_windows(d, 7, 1);
  auto key = [](WindowRef w) { return (std::uint64_t(w.series) << 32) | w.start; };
  auto same = [&](const std::vector<WindowRef>& x, const std::vector<WindowRef>& y) {
    return std::equal(x.begin(), x.end(), y.begin(), [&](WindowRef p, WindowRef q) { return key(p) == key(q); });
  };
  EXPECT_TRUE(same(b, c));
  EXPECT_FALSE(same(b, d));
  EXPECT_FALSE(same(a, b));
  std::vector<std::uint64_t> ka, kb;
  for (auto w : a) ka.push_back(key(w));
  for (auto w : b) kb.push_back(key(w));
  std::sort(kb.begin(), kb.end());
  EXPECT_EQ(ka, kb);
}

TEST(Dataset, BatchAssemblyCopiesAndScalesPerWindow) {
  SeriesStore s = ramp_store({50, 50});
  const WindowShape shape{4, 2};
  const WindowRef w[2] = {{0, 3}, {1, 10}};
  float x[8], y[4];
  NormStats st[2];
  BatchAssembler none(s, shape, WindowScaling::none);
  none.assemble(w, 2, x, y, st);
  EXPECT_EQ(x[0], 3.0f);
  EXPECT_EQ(x[7], 1013.0f);
  EXPECT_EQ(y[0], 7.0f);
  EXPECT_EQ(y[3], 1015.0f);
  EXPECT_EQ(st[1].scale, 1.0);
  BatchAssembler standard(s, shape, WindowScaling::standard);
  standard.assemble(w, 2, x, y, st);
  // Input 1010..1013: mean 1011.5, population std sqrt(1.25).
  EXPECT_DOUBLE_EQ(st[1].center, 1011.5);
  EXPECT_NEAR(st[1].scale, std::sqrt(1.25), 1e-6);
  EXPECT_NEAR(x[4], -1.5 / std::sqrt(1.25), 1e-5);
  EXPECT_NEAR(y[2], (1014 - 1011.5) / std::sqrt(1.25), 1e-5);  // the target uses the input's stats
  float back;
  denormalize(st[1], &y[2], &back, 1);
  EXPECT_NEAR(back, 1014.0f, 1e-3f);
  BatchAssembler robust(s, shape, WindowScaling::robust);
  robust.assemble(w, 1, x, nullptr, st);  // inference: no target
  EXPECT_DOUBLE_EQ(st[0].center, 4.5);     // median of 3, 4, 5, 6
  EXPECT_DOUBLE_EQ(st[0].scale, 1.5);      // IQR: 5.25 - 3.75
  EXPECT_THROW(parse_window_scaling("minmax"), Error);
}

// The cached robust statistics (one sorted window slid along each series) must be exactly the
// per-window selections: same stats, same scaled inputs and targets, for series with ties, a
// constant stretch (scale sanitised to 1), negative values and lengths around the window.
TEST(Dataset, CachedRobustStatisticsEqualPerWindowSelection) {
  SeriesStore s;
  std::uint64_t state = 12345;
  auto next = [&] {  // xorshift: a fixed pseudo-random stream
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::size_t L = 7, H = 3;
  const std::size_t lengths[] = {7, 8, 10, 40, 200};
  for (std::size_t k = 0; k < std::size(lengths); ++k) {
    std::vector<float> v(lengths[k]);
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = k % 2 ? float(int(next() % 5) - 2)                 // ties among five values
                   : float(double(next() % 100000) / 7.0 - 5000.0);  // distinct
      if (k == 4 && i >= 50 && i < 70) v[i] = 3.0f;            // a constant stretch
    }
    s.add("s" + std::to_string(k), v.data(), v.size());
  }
  std::vector<WindowRef> w;
  for (std::size_t k = 0; k < s.size(); ++k)
    for (std::size_t t = 0; t + L + H <= s.length(k); ++t) w.push_back({std::uint32_t(k), std::uint32_t(t)});
  const std::size_t B = w.size();
  BatchAssembler plain(s, {L, H}, WindowScaling::robust), cached(s, {L, H}, WindowScaling::robust);
  cached.cache_window_stats();
  std::vector<float> x0(B * L), y0(B * H), x1(B * L), y1(B * H);
  std::vector<NormStats> st0(B), st1(B);
  plain.assemble(w.data(), B, x0.data(), y0.data(), st0.data());
  cached.assemble(w.data(), B, x1.data(), y1.data(), st1.data());
  for (std::size_t b = 0; b < B; ++b) {
    ASSERT_EQ(st0[b].center, st1[b].center) << "series " << w[b].series << " start " << w[b].start;
    ASSERT_EQ(st0[b].scale, st1[b].scale) << "series " << w[b].series << " start " << w[b].start;
  }
  EXPECT_EQ(std::memcmp(x0.data(), x1.data(), x0.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(y0.data(), y1.data(), y0.size() * sizeof(float)), 0);
  // The stretch of 3s gives windows with IQR 0: scale 1, as norm_stats says.
  EXPECT_TRUE(std::any_of(st1.begin(), st1.end(), [](const NormStats& n) { return n.center == 3.0 && n.scale == 1.0; }));
  // A non-finite value names its index.
  const float bad[] = {1, 2, NAN, 4};
  NormStats out[2];
  try {
    robust_stats_sliding(bad, 4, 3, out);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ntn
