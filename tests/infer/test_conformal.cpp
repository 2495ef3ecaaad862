// Conformal prediction intervals (ntn/conformal.h): the split-conformal rank rule, the coverage it
// promises on exchangeable data (a model trained and calibrated end to end), the artifact round
// trip, and bad input - levels, scores and corrupted files - named in a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "expect_error.h"
#include "ntn/backtest.h"
#include "ntn/conformal.h"
#include "ntn/jobs.h"
#include "ntn/pipeline.h"
#include "ntn/predictor.h"
#include "small_artifact.h"

using namespace ntn;
using nlohmann::json;

namespace {

template <class F>
void expect_error(F&& f, const std::string& fragment) {
  ntn::test::expect_error(std::forward<F>(f), {fragment.c_str()});
}

}  // namespace

TEST(Conformal, MinimumWindowsPerLevel) {
  EXPECT_EQ(conformal_min_windows(0.5), 1u);
  EXPECT_EQ(conformal_min_windows(0.8), 4u);
  EXPECT_EQ(conformal_min_windows(0.9), 9u);
  EXPECT_EQ(conformal_min_windows(0.95), 19u);
  EXPECT_EQ(conformal_min_windows(0.99), 99u);
  // The rule itself: ceil((n + 1) a) <= n exactly from that n on.
  for (double a : {0.5, 0.8, 0.9, 0.95, 0.975, 0.99}) {
    const std::size_t n = conformal_min_windows(a);
    EXPECT_LE(std::ceil(double(n + 1) * a), double(n)) << a;
    if (n > 1) {
      EXPECT_GT(std::ceil(double(n) * a), double(n - 1)) << a;
    }
  }
}

TEST(Conformal, SplitTakesTheCeilRankOfEachStep) {
  // Step 0's scores are 1..20 shuffled, step 1's twice those: the 80% radius is the
  // ceil(21 * 0.8) = 17th smallest, the 95% one the 20th.
  const std::size_t n = 20, H = 2;
  std::vector<double> scores(n * H);
  std::mt19937_64 g(5);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = double(i + 1);
  std::shuffle(v.begin(), v.end(), g);
  for (std::size_t i = 0; i < n; ++i) scores[i * H] = v[i], scores[i * H + 1] = 2 * v[i];
  const Conformal c = split_conformal(scores, n, H, {0.8, 0.95}, ConformalScore::absolute);
  EXPECT_EQ(c.windows, n);
  EXPECT_EQ(c.r(0, 0), 17.0);
  EXPECT_EQ(c.r(0, 1), 34.0);
  EXPECT_EQ(c.r(1, 0), 20.0);
  EXPECT_EQ(c.r(1, 1), 40.0);
  // The interval on the original scale: f -+ r x the series' scale (score absolute), or x the
  // window's mean absolute step (score window), which follows the window's units.
  const double x[4] = {10, 12, 11, 14}, f[2] = {15, 16};
  double lo[2], hi[2];
  conformal_interval(c, 0, OutputSpec::point(), NormStats{100, 0.5}, x, 4, f, lo, hi);
  EXPECT_DOUBLE_EQ(lo[0], 15 - 17 * 0.5);
  EXPECT_DOUBLE_EQ(hi[1], 16 + 34 * 0.5);
  Conformal w = c;
  w.score = ConformalScore::window;
  conformal_interval(w, 1, OutputSpec::point(), NormStats{100, 0.5}, x, 4, f, lo, hi);  // mean |step| = (2 + 1 + 3) / 3 = 2
  EXPECT_DOUBLE_EQ(lo[0], 15 - 20 * 2.0);
  EXPECT_DOUBLE_EQ(hi[1], 16 + 40 * 2.0);
  EXPECT_DOUBLE_EQ(conformal_window_scale(ConformalScore::window, x, 4), 2.0);
  const double flat[3] = {5, 5, 5};
  EXPECT_GT(conformal_window_scale(ConformalScore::window, flat, 3), 0.0);  // a flat window keeps an interval
}

TEST(Conformal, BadInputIsAClearError) {
  const std::vector<double> ok(10 * 2, 1.0);
  const struct {
    std::vector<double> scores;
    std::size_t n;
    std::vector<double> levels;
    std::string fragment;
  } cases[] = {
      {ok, 10, {0.95}, "a 95% interval needs at least 19 calibration windows (have 10)"},
      {ok, 10, {0.0}, "conformal level 0 is outside (0, 1)"},
      {ok, 10, {1.0}, "conformal level 1 is outside (0, 1)"},
      {ok, 10, {NAN}, "is outside (0, 1)"},
      {ok, 10, {0.8, 0.5}, "must increase (0.8 then 0.5)"},
      {ok, 9, {0.8}, "20 scores for 9 windows x 2 steps"},
      {[] { auto s = std::vector<double>(20, 1.0); s[7] = NAN; return s; }(), 10, {0.8}, "window 3 step 2"},
      {[] { auto s = std::vector<double>(20, 1.0); s[4] = -1; return s; }(), 10, {0.8}, "score -1 of window 2 step 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fragment);
    expect_error([&] { split_conformal(c.scores, c.n, 2, c.levels, ConformalScore::absolute); }, c.fragment);
  }
  expect_error([] { parse_conformal_score("relative"); }, "unknown conformal score 'relative'");
}

TEST(Conformal, CorruptedFileFieldsAreNamed) {
  const json good = split_conformal(std::vector<double>(20 * 2, 1.0), 20, 2, {0.8, 0.95}, ConformalScore::window).to_json();
  EXPECT_EQ(Conformal::from_json(good, 2, "m.ntn").to_json(), good);
  const struct {
    std::function<void(json&)> edit;
    std::size_t H;
    std::string fragment;
  } cases[] = {
      {[](json&) {}, 3, "radius of level 0.8 must hold 3 values"},
      {[](json& j) { j["radius"][1][0] = -0.5; }, 2, "radius of level 0.95 holds -0.5"},
      {[](json& j) { j["radius"][0][1] = "wide"; }, 2, "holds \"wide\""},
      {[](json& j) { j["radius"][0][1] = 1e300; }, 2, "must be finite and >= 0"},
      {[](json& j) { j["radius"].erase(1); }, 2, "one list per level"},
      {[](json& j) { j["levels"] = {0.95, 0.8}; }, 2, "must increase"},
      {[](json& j) { j["levels"] = {0.8, 1.5}; }, 2, "levels"},
      {[](json& j) { j["windows"] = 10; }, 2, "level 0.95 from 10 windows (needs 19)"},
      {[](json& j) { j["windows"] = -3; }, 2, "windows"},
      {[](json& j) { j["score"] = "relative"; }, 2, "unknown conformal score"},
      {[](json& j) { j["method"] = "aci"; }, 2, "method must be split"},
      {[](json& j) { j["colour"] = 1; }, 2, "colour"},
      {[](json& j) { j = json::array(); }, 2, "must be a JSON object"},
      {[](json& j) { j["half_life"] = -1; }, 2, "half_life"},
      {[](json& j) { j["half_life"] = "week"; }, 2, "half_life"},
  };
  {  // a recency-weighted calibration keeps its half-life
    json hl = good;
    hl["half_life"] = 168.0;
    EXPECT_EQ(Conformal::from_json(hl, 2, "m.ntn").half_life, 168.0);
    EXPECT_EQ(Conformal::from_json(hl, 2, "m.ntn").to_json(), hl);
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fragment);
    json j = good;
    c.edit(j);
    expect_error([&] { Conformal::from_json(j, c.H, "m.ntn"); }, c.fragment);
    expect_error([&] { Conformal::from_json(j, c.H, "m.ntn"); }, "m.ntn: conformal");
  }
}

TEST(Conformal, TravelsWithTheArtifact) {
  Artifact a = ntn::test::small_artifact();  // horizon 4
  a.conformal = split_conformal(std::vector<double>(20 * 4, 0.25), 20, 4, {0.8, 0.95}, ConformalScore::absolute);
  const std::string path = (std::filesystem::temp_directory_path() / ("ntn_conformal_" + std::to_string(::getpid()) + ".ntn")).string();
  a.save(path);
  const Artifact b = Artifact::load(path);
  std::filesystem::remove(path);
  EXPECT_EQ(b.conformal.to_json(), a.conformal.to_json());
  Artifact none = ntn::test::small_artifact();
  none.save(path);
  EXPECT_TRUE(Artifact::load(path).conformal.empty());
  std::filesystem::remove(path);
}

namespace {

// Exchangeable data: a sine of period 24 plus i.i.d. N(0, 0.3) noise, long enough for thousands
// of validation and test windows. A model trained on it leaves residuals whose distribution is
// the same in the validation and test parts: split conformal must cover at its level.
std::shared_ptr<Frame> stationary_frame(std::size_t n) {
  auto f = std::make_shared<Frame>();
  f->source = "<stationary>";
  f->names = {"y"};
  std::mt19937_64 g(11);
  std::normal_distribution<double> e(0, 0.3);
  std::vector<double> y(n);
  for (std::size_t t = 0; t < n; ++t) {
    y[t] = 5 + std::sin(6.283185307179586 * double(t) / 24) + e(g);
    f->time.push_back(double(t));
    f->lines.push_back(t + 2);
  }
  f->cols = {y};
  return f;
}

}  // namespace

TEST(Conformal, SplitCoversItsLevelOnExchangeableData) {
  TrainJob job;
  job.data.frame = stationary_frame(12000);
  job.data.path = "<stationary>";
  job.data.val_ratio = 0.3;
  job.data.test_ratio = 0.3;
  job.model = {{"type", "mlp"}, {"input_size", 48}, {"horizon", 12}, {"hidden_size", 32}, {"num_layers", 2}};
  job.train.max_steps = 300;
  job.train.batch_size = 64;
  job.train.val_every = 100;
  for (ConformalScore score : {ConformalScore::absolute, ConformalScore::window}) {
    SCOPED_TRACE(conformal_score_name(score));
    job.conformal_score = score;
    const TrainResult r = train_job(job);
    EXPECT_EQ(r.summary.steps, 300u);
    ASSERT_FALSE(r.artifact.conformal.empty());
    EXPECT_EQ(r.artifact.conformal.windows, r.prepared.val.size());
    const json iv = evaluate_test(r.artifact, r.prepared).json.at("intervals");
    ASSERT_EQ(iv["levels"].size(), 2u);
    for (const json& l : iv["levels"]) {
      const double level = l["level"], coverage = l["coverage"];
      std::printf("level %.2f coverage %.4f\n", level, coverage);
      EXPECT_NEAR(coverage, level, 0.02) << "level " << level << ", " << r.prepared.val.size() << " calibration and "
                                         << r.prepared.test.size() << " test windows";
      EXPECT_GT(l["mean_width"].get<double>(), 0.0);
    }
  }
}

TEST(Conformal, LevelsTheValidationPartCannotSupportAreRecordedNotFatal) {
  TrainJob job;
  job.data.frame = stationary_frame(400);
  job.data.path = "<stationary>";
  job.data.val_ratio = 0.03;  // 12 rows: 12 - 4 + 1 = 9 validation windows (their inputs reach back)
  job.model = {{"type", "mlp"}, {"input_size", 24}, {"horizon", 4}, {"hidden_size", 8}, {"num_layers", 1}};
  job.train.max_steps = 5;
  job.train.batch_size = 8;
  const TrainResult r = train_job(job);
  ASSERT_GE(r.prepared.val.size(), 4u);
  ASSERT_LT(r.prepared.val.size(), 19u);
  EXPECT_EQ(r.artifact.conformal.levels, std::vector<double>{0.8});
  EXPECT_NE(r.artifact.training.at("conformal").at("skipped").get<std::string>().find("95% needs 19 calibration windows"),
            std::string::npos);
  job.conformal_levels.clear();
  EXPECT_TRUE(train_job(job).artifact.conformal.empty());
}

namespace {

// Split conformal from n calibration windows of |N(0, 1)| scores at H steps.
Conformal unit_normal_calibration(std::size_t n, std::size_t H, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> e(0, 1);
  std::vector<double> scores(n * H);
  for (double& s : scores) s = std::fabs(e(g));
  return split_conformal(scores, n, H, {0.8, 0.95}, ConformalScore::absolute);
}

}  // namespace

TEST(Conformal, GridQuantileIsTheSplitRankAtAnyLevel) {
  const Conformal c = unit_normal_calibration(1000, 2, 3);
  ASSERT_EQ(c.grid_size(), 100u);
  for (std::size_t h = 0; h < 2; ++h) {
    // Ranks 801 and 951 of 1,000 round up to the grid's order statistics 810 and 960: never
    // narrower than the exact rank, at most n / G ranks wider.
    EXPECT_GE(c.quantile(h, 0.8), c.r(0, h));
    EXPECT_GE(c.quantile(h, 0.95), c.r(1, h));
    EXPECT_EQ(c.quantile(h, 0.8), c.grid[h * 100 + 80]);
    EXPECT_EQ(c.quantile(h, 0.95), c.grid[h * 100 + 95]);
    EXPECT_EQ(c.quantile(h, 0.0), 0.0);
    EXPECT_EQ(c.quantile(h, -0.3), 0.0);
    EXPECT_TRUE(std::isinf(c.quantile(h, 0.9995)));  // (n + 1) b > n
    double prev = 0;
    for (double b = 0.01; b < 0.999; b += 0.01) {
      EXPECT_GE(c.quantile(h, b), prev);
      prev = c.quantile(h, b);
    }
  }
  // With n <= 100 the grid holds every order statistic: exactly the split rule.
  const Conformal small = unit_normal_calibration(60, 1, 4);
  for (double b : {0.5, 0.8, 0.9, 0.95})
    EXPECT_EQ(small.quantile(0, b), split_conformal(std::vector<double>(small.grid), 60, 1, {b}, ConformalScore::absolute).r(0, 0));
}

// Score head conformalises the model's own spread. Data: y = sigma_i e (e standard normal, or a
// skewed log-normal), sigma_i spread over a factor of e^2 between windows; the "model" knows
// sigma_i's shape but is over-confident by 2x (its head is half as wide as the truth), as an
// under-trained quantile or NLL head is. Its raw 80% interval covers ~48%. Calibrated on 4,000
// windows and tested on 4,000 others: score head covers 80% / 95% within 2 points overall and
// within 3 points in the calm and the volatile third alike; score absolute covers overall but
// not per third (too wide when calm, too narrow when volatile). With a skewed head the two sides
// keep the head's proportions and the misses split evenly above and below.
TEST(Conformal, HeadScoreConformalisesTheModelsOwnSpread) {
  const std::size_t n = 4000, H = 2;
  std::mt19937_64 g(21);
  std::normal_distribution<double> e(0, 1);
  std::uniform_real_distribution<double> u(-1, 1);
  const double z90 = 1.2815515655446004;  // the 0.9 quantile of N(0, 1)
  for (const bool skewed : {false, true}) {
    SCOPED_TRACE(skewed ? "quantile head, log-normal noise" : "gaussian head, normal noise");
    // Noise quantile at p for the truth: normal z, or exp(0.5 z) - 1 (median 0, long upper tail).
    auto noise = [&](double z) { return skewed ? std::exp(0.5 * z) - 1 : z; };
    const OutputSpec out = skewed ? OutputSpec::quantiles({0.1f, 0.5f, 0.9f}) : OutputSpec::distribution(DistKind::gaussian);
    const std::size_t Q = out.outputs();
    // One window: its outputs (H, Q) and its values (H); the head is half the true spread.
    auto window = [&](std::vector<double>& y, std::vector<double>& v, double& sigma) {
      sigma = std::exp(u(g));
      for (std::size_t h = 0; h < H; ++h) {
        double* q = y.data() + h * Q;
        if (skewed) {
          q[0] = 0.5 * sigma * noise(-z90), q[1] = 0.0, q[2] = 0.5 * sigma * noise(z90);
        } else {
          q[0] = 0.0, q[1] = 0.5 * sigma;
        }
        v[h] = sigma * noise(e(g));
      }
    };
    Conformal head, absolute;  // the score and horizon conformal_scales reads
    head.score = ConformalScore::head, absolute.score = ConformalScore::absolute;
    head.horizon = absolute.horizon = H;
    const NormStats st{0.0, 1.0};
    const double x[2] = {0, 0};
    std::vector<double> y(H * Q), v(H), f(H), slo(H), shi(H), s_head(n * H), s_abs(n * H);
    double sigma = 0;
    for (std::size_t i = 0; i < n; ++i) {
      window(y, v, sigma);
      conformal_scales(head, out, st, x, 2, y.data(), f.data(), slo.data(), shi.data());
      for (std::size_t h = 0; h < H; ++h) {
        s_head[i * H + h] = conformal_score(v[h], f[h], slo[h], shi[h]);
        s_abs[i * H + h] = std::fabs(v[h] - f[h]);
      }
    }
    head = split_conformal(s_head, n, H, {0.8, 0.95}, ConformalScore::head);
    absolute = split_conformal(s_abs, n, H, {0.8, 0.95}, ConformalScore::absolute);
    // Test windows: coverage overall and per third of sigma (calm: sigma < e^(-1/3), volatile: > e^(1/3)).
    double hits[2][2][3] = {}, count[3] = {}, raw = 0, below = 0, above = 0, width_lo = 0, width_hi = 0;
    std::vector<double> lo(H), hi(H);
    for (std::size_t i = 0; i < n; ++i) {
      window(y, v, sigma);
      const int third = sigma < std::exp(-1.0 / 3) ? 0 : sigma > std::exp(1.0 / 3) ? 2 : 1;
      count[third] += H;
      for (std::size_t k = 0; k < 2; ++k) {
        conformal_interval(head, k, out, st, x, 2, y.data(), lo.data(), hi.data());
        for (std::size_t h = 0; h < H; ++h) {
          hits[0][k][third] += v[h] >= lo[h] && v[h] <= hi[h];
          if (k == 0) {
            below += v[h] < lo[h], above += v[h] > hi[h];
            width_lo += y[h * Q + out.point_index()] - lo[h], width_hi += hi[h] - y[h * Q + out.point_index()];
          }
        }
        conformal_interval(absolute, k, out, st, x, 2, y.data(), lo.data(), hi.data());
        for (std::size_t h = 0; h < H; ++h) hits[1][k][third] += v[h] >= lo[h] && v[h] <= hi[h];
      }
      for (std::size_t h = 0; h < H; ++h) {  // the head's own 80% interval, unconformalised
        const double* q = y.data() + h * Q;
        raw += skewed ? (v[h] >= q[0] && v[h] <= q[2]) : std::fabs(v[h] - q[0]) <= z90 * q[1];
      }
    }
    const double total = count[0] + count[1] + count[2];
    std::printf("%s: raw 80%% head covers %.3f\n", skewed ? "quantiles" : "gaussian", raw / total);
    EXPECT_LT(raw / total, 0.6);
    const double level[2] = {0.8, 0.95};
    for (std::size_t k = 0; k < 2; ++k) {
      const double head_all = (hits[0][k][0] + hits[0][k][1] + hits[0][k][2]) / total;
      const double abs_all = (hits[1][k][0] + hits[1][k][1] + hits[1][k][2]) / total;
      std::printf("  %.0f%%: head %.3f (calm %.3f, volatile %.3f); absolute %.3f (calm %.3f, volatile %.3f)\n",
                  level[k] * 100, head_all, hits[0][k][0] / count[0], hits[0][k][2] / count[2], abs_all,
                  hits[1][k][0] / count[0], hits[1][k][2] / count[2]);
      EXPECT_NEAR(head_all, level[k], 0.02);
      EXPECT_NEAR(abs_all, level[k], 0.02);
      for (int third : {0, 2}) EXPECT_NEAR(hits[0][k][third] / count[third], level[k], 0.03) << third;
      EXPECT_GT(hits[1][k][0] / count[0], level[k] + 0.04);  // absolute: too wide when calm
      EXPECT_LT(hits[1][k][2] / count[2], level[k] - 0.04);  // and too narrow when volatile
    }
    // The head's shape is kept: its upper side is (e^(0.5 z90) - 1) / (1 - e^(-0.5 z90)) ~ 1.9x its
    // lower one (1x for the gaussian), and the misses fall as often below as above.
    const double ratio = skewed ? (std::exp(0.5 * z90) - 1) / (1 - std::exp(-0.5 * z90)) : 1.0;
    EXPECT_NEAR(width_hi / width_lo, ratio, 1e-9 * ratio);
    EXPECT_NEAR(below / (below + above), 0.5, 0.06) << below << " below, " << above << " above";
  }
  // A point head has no spread to scale: calibrating with score head is refused, naming what it needs.
  expect_error([] { check_conformal_head(OutputSpec::point(), "--conformal-score head"); },
               "--conformal-score head: conformal score head scales the model's own spread");
  expect_error([] { check_conformal_head(OutputSpec::quantiles({0.5f, 0.9f}), "ctx"); }, "quantile levels on both sides");
  check_conformal_head(OutputSpec::quantiles({0.1f, 0.5f, 0.9f}), "ctx");
  check_conformal_head(OutputSpec::distribution(DistKind::student_t), "ctx");
}

// Recency-weighted split conformal (Barber et al. 2023): with all weights 1 it is the plain rule
// bit for bit; its rank rule on a small case by hand; and on a series that changed regime - the
// errors' scale 3 over the first 2,000 calibration windows, 1 over the last 1,000 and the test - the
// plain rule over-covers (its radius mixes in the old, wider errors) while a half-life of a tenth
// of the calm part covers within 2 points (numbers computed from the draws, printed).
TEST(Conformal, RecencyWeightedSplitFollowsARegimeChange) {
  const std::size_t n = 3000, H = 2;
  std::mt19937_64 g(31);
  std::normal_distribution<double> e(0, 1);
  std::vector<double> scores(n * H);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t h = 0; h < H; ++h) scores[i * H + h] = std::fabs(e(g)) * (i < 2000 ? 3.0 : 1.0);
  const Conformal plain = split_conformal(scores, n, H, {0.8, 0.95}, ConformalScore::absolute);
  const Conformal ones = split_conformal(scores, n, H, {0.8, 0.95}, ConformalScore::absolute, std::vector<double>(n, 1.0));
  EXPECT_EQ(plain.radius, ones.radius);
  EXPECT_EQ(plain.grid, ones.grid);
  // Windows one step apart in one series; weights 2^(-age / T).
  std::vector<WindowRef> windows(n);
  for (std::size_t i = 0; i < n; ++i) windows[i] = {0, std::uint32_t(i)};
  const std::vector<double> w = conformal_weights(windows, 100);
  EXPECT_DOUBLE_EQ(w[n - 1], 1.0);
  EXPECT_DOUBLE_EQ(w[n - 101], 0.5);
  const Conformal recent = split_conformal(scores, n, H, {0.8, 0.95}, ConformalScore::absolute, w);
  for (std::size_t k = 0; k < 2; ++k) {
    const double level = k ? 0.95 : 0.8;
    std::size_t hp = 0, hr = 0, m = 0;
    for (int t = 0; t < 20000; ++t)
      for (std::size_t h = 0; h < H; ++h, ++m) {
        const double y = std::fabs(e(g));  // the new regime's scale, 1
        hp += y <= plain.r(k, h), hr += y <= recent.r(k, h);
      }
    std::printf("%.0f%%: plain %.3f, half-life 100 %.3f\n", level * 100, double(hp) / double(m), double(hr) / double(m));
    EXPECT_GT(double(hp) / double(m), level + 0.03);
    EXPECT_NEAR(double(hr) / double(m), level, 0.02);
  }
  // By hand: scores 1, 2, 3, 4 weigh 0.25, 0.5, 1, 1 (cumulative 0.25, 0.75, 1.75, 2.75; W + 1 =
  // 3.75): level 0.4 needs 1.5 (score 3), level 0.5 needs 1.875 (score 4).
  const Conformal hand = split_conformal({1, 2, 3, 4}, 4, 1, {0.4, 0.5}, ConformalScore::absolute, {0.25, 0.5, 1, 1});
  EXPECT_EQ(hand.r(0, 0), 3.0);  // 0.4 x 3.75 = 1.5 <= 1.75
  EXPECT_EQ(hand.r(1, 0), 4.0);  // 0.5 x 3.75 = 1.875 > 1.75
  // Weights too light for a level, a bad half-life or weight: a clear error.
  expect_error([&] { split_conformal(scores, n, H, {0.8, 0.999}, ConformalScore::absolute, w); },
               "99.9% interval needs calibration weights summing to at least 999");
  expect_error([&] { conformal_weights(windows, -1); }, "half-life -1 must be finite and >= 0");
  expect_error([&] { conformal_weights(windows, NAN); }, "must be finite and >= 0");
  expect_error([&] { split_conformal({1, 2}, 2, 1, {0.5}, ConformalScore::absolute, {1, 2}); }, "weight 2 of window 1");
  expect_error([&] { split_conformal({1, 2}, 2, 1, {0.5}, ConformalScore::absolute, {1}); }, "1 weights for 2 windows");
  // Weights of windows in two series age from each series' own last window.
  const std::vector<double> w2 = conformal_weights({{0, 10}, {0, 20}, {1, 5}}, 10);
  EXPECT_DOUBLE_EQ(w2[0], 0.5);
  EXPECT_DOUBLE_EQ(w2[1], 1.0);
  EXPECT_DOUBLE_EQ(w2[2], 1.0);
}

TEST(Conformal, AdaptiveRecoversCoverageAfterAVolatilityShiftWhereSplitDoesNot) {
  // Calibrated on N(0, 1) errors; the stream's errors are N(0, 1) for 3,000 ticks, then N(0, 2).
  // A fixed 80% split interval then covers P(|N(0, 4)| < q80) ~ 0.52; ACI's steps in alpha move
  // its level until the interval covers 80% again.
  const std::size_t H = 3, T1 = 3000, T2 = 9000;
  const Conformal c = unit_normal_calibration(2000, H, 7);
  AdaptiveConformal aci(c, 0.8, 0.01);
  std::mt19937_64 g(8);
  std::normal_distribution<double> e(0, 1);
  const std::vector<double> f(H, 0.0), ones(H, 1.0);
  std::vector<double> lo(H), hi(H);
  // Values y_t; the forecast made after t values aims at y_t .. y_{t+H-1} (all forecast as 0).
  std::vector<double> y(T1 + T2);
  for (std::size_t t = 0; t < y.size(); ++t) y[t] = e(g) * (t < T1 ? 1.0 : 2.0);
  std::vector<std::vector<double>> aci_lo(y.size()), aci_hi(y.size());
  for (std::size_t t = 0; t < y.size(); ++t) {
    aci.interval(f.data(), ones.data(), ones.data(), lo.data(), hi.data());
    aci_lo[t] = lo, aci_hi[t] = hi;
    aci.observe(y[t]);
  }
  // Coverage of step h over the last 3,000 ticks of the regime (each forecast scored on its value).
  for (std::size_t h = 0; h < H; ++h) {
    std::size_t aci_hits = 0, split_hits = 0, n = 0, early = 0, early_n = 0;
    for (std::size_t t = T1 + T2 - 3000; t + h < y.size(); ++t, ++n) {
      aci_hits += y[t + h] >= aci_lo[t][h] && y[t + h] <= aci_hi[t][h];
      split_hits += std::fabs(y[t + h]) <= c.r(0, h);
    }
    for (std::size_t t = 500; t + h < T1; ++t, ++early_n) early += y[t + h] >= aci_lo[t][h] && y[t + h] <= aci_hi[t][h];
    const double aci_cov = double(aci_hits) / double(n), split_cov = double(split_hits) / double(n);
    std::printf("step %zu: calm ACI %.3f; after the shift ACI %.3f, split %.3f (nominal 0.8)\n", h + 1,
                double(early) / double(early_n), aci_cov, split_cov);
    EXPECT_NEAR(double(early) / double(early_n), 0.8, 0.03);  // before the shift both are calibrated
    EXPECT_NEAR(aci_cov, 0.8, 0.03);
    EXPECT_LT(split_cov, 0.8 - 0.2);
  }
}

TEST(Conformal, AdaptiveStateRestoresExactly) {
  const std::size_t H = 4;
  const Conformal c = unit_normal_calibration(500, H, 9);
  AdaptiveConformal a(c, 0.9, 0.02), b(c, 0.9, 0.02);
  std::mt19937_64 g(10);
  std::normal_distribution<double> e(0, 1.5);
  std::vector<double> f(H, 0.1), ones(H, 1.0), lo(H), hi(H), lo2(H), hi2(H);
  for (int t = 0; t < 300; ++t) a.interval(f.data(), ones.data(), ones.data(), lo.data(), hi.data()), a.observe(e(g));
  const json s = a.state();
  b.restore(json::parse(s.dump()));  // through text, as a stream state file holds it
  for (int t = 0; t < 300; ++t) {
    const double y = e(g);
    a.interval(f.data(), ones.data(), ones.data(), lo.data(), hi.data());
    b.interval(f.data(), ones.data(), ones.data(), lo2.data(), hi2.data());
    ASSERT_EQ(lo, lo2);
    ASSERT_EQ(hi, hi2);
    a.observe(y), b.observe(y);
  }
  for (std::size_t h = 0; h < H; ++h) EXPECT_EQ(a.alpha(h), b.alpha(h));
  // What does not fit is refused, the adaptive state unchanged.
  AdaptiveConformal other(c, 0.8, 0.02);
  const struct {
    std::function<void(json&)> edit;
    std::string fragment;
  } cases[] = {
      {[](json& j) { j["alpha"].erase(0); }, "3 alphas for horizon 4"},
      {[](json& j) { j["lo"][3] = "x"; }, "bound 3 is not a number"},
      {[](json& j) { j["made"][1] = 1e9; }, "pending forecast 1 made at"},
      {[](json& j) { j["lo"][2] = 5.0; j["hi"][2] = 4.0; }, "bound 2 is empty"},
      {[](json& j) { j["gamma"] = 0.5; }, "saved with another level or gamma"},
      {[](json& j) { j = json::array(); }, "not a JSON object"},
      {[](json& j) { j["scale_lo"].erase(0); }, "scores of another horizon or calibration"},
      {[](json& j) { j["scale_hi"][0] = -1.0; }, "scale_hi"},
      {[](json& j) { j.erase("scale_lo"); }, "scale_lo"},
  };
  const json before = b.state();
  for (const auto& k : cases) {
    SCOPED_TRACE(k.fragment);
    json j = s;
    k.edit(j);
    expect_error([&] { b.restore(j); }, k.fragment);
    EXPECT_EQ(b.state(), before);
  }
  expect_error([&] { other.restore(s); }, "saved with another level or gamma");
  // A state saved with one scale per pending forecast (before per-step scales) restores it on
  // both sides of each step: here every scale was 1, so the stream goes on exactly.
  {
    json old = s;
    old.erase("scale_lo"), old.erase("scale_hi");
    old["scale"] = std::vector<double>(H, 1.0);
    AdaptiveConformal x(c, 0.9, 0.02), y(c, 0.9, 0.02);
    x.restore(s), y.restore(old);
    EXPECT_EQ(x.state(), y.state());
    old["scale"] = std::vector<double>(H - 1, 1.0);
    expect_error([&] { y.restore(old); }, "3 scales for horizon 4");
  }
  expect_error([&] { AdaptiveConformal(c, 1.2); }, "level 1.2 is outside (0, 1)");
  expect_error([&] { AdaptiveConformal(c, 0.8, 0.0); }, "gamma 0 is outside (0, 1]");
  expect_error([&] { a.observe(NAN); }, "not finite");
}

// A backtest over origins one step apart is a stream: its adaptive intervals are the ones a
// StreamingPredictor with the same calibration, level and gamma shows after the same values
// (started at the first origin's window), up to the stream forecasting in float.
TEST(Conformal, BacktestAdaptiveIntervalsAreTheStreamsOverTheSameValues) {
  Artifact a = ntn::test::small_artifact();  // 16 -> 4, standard scaler (100, 5) for "close"
  const std::size_t L = 16, H = 4, n = 400, O = 200;
  std::mt19937_64 g(5);
  std::normal_distribution<double> e(0, 1);
  std::vector<double> scores(60 * H);
  for (double& v : scores) v = std::fabs(e(g)) * 0.3;
  a.conformal = split_conformal(scores, 60, H, {0.8, 0.95}, ConformalScore::absolute);
  Predictor p(std::move(a));
  std::vector<double> x(n);
  for (std::size_t t = 0; t < n; ++t) x[t] = 100 + 3 * std::sin(double(t) / 9) + (t < 300 ? 0.5 : 3.0) * e(g);
  BacktestSpec spec;
  spec.origins = O;
  const BacktestResult r = backtest({&p}, "close", x.data(), n, spec);
  ASSERT_EQ(r.levels, (std::vector<double>{0.8, 0.95}));
  ASSERT_EQ(r.aci_lo.size(), O * 2 * H);
  ASSERT_EQ(r.lo.size(), O * 2 * H);
  ASSERT_TRUE(r.aggregate.contains("adaptive_intervals"));
  const std::size_t t0 = r.per_origin.front().origin;
  for (std::size_t k = 0; k < 2; ++k) {
    StreamingPredictor s(p, p.series_index("close"));
    s.enable_adaptive(r.levels[k], kAciGamma);
    std::vector<float> y(H);
    std::size_t o = 0;
    double worst = 0;
    for (std::size_t t = t0 + 1 - L; t < t0 + O; ++t) {
      if (!s.append(float(x[t]))) continue;
      s.forecast(y.data());
      ASSERT_EQ(t, r.per_origin[o].origin);
      for (std::size_t h = 0; h < H; ++h) {
        const std::size_t at = (o * 2 + k) * H + h;
        worst = std::max({worst, std::fabs(s.interval_lo()[h] - r.aci_lo[at]), std::fabs(s.interval_hi()[h] - r.aci_hi[at])});
      }
      ++o;
    }
    EXPECT_EQ(o, O);
    EXPECT_LT(worst, 1e-3) << "level " << r.levels[k];  // float forecasts of values near 100
  }
  // Split conformal over the same origins: each interval is conformal_interval's.
  std::vector<double> lo(H), hi(H);
  conformal_interval(p.artifact().conformal, 1, p.artifact().output, p.series_stats(0), x.data() + t0 + 1 - L, L,
                     r.forecasts.data(), lo.data(), hi.data());
  for (std::size_t h = 0; h < H; ++h) {
    EXPECT_EQ(lo[h], r.lo[(0 * 2 + 1) * H + h]);
    EXPECT_EQ(hi[h], r.hi[(0 * 2 + 1) * H + h]);
  }
  // Origins two steps apart are not a stream: no adaptive intervals.
  spec.step = 2;
  spec.origins = 50;
  const BacktestResult r2 = backtest({&p}, "close", x.data(), n, spec);
  EXPECT_TRUE(r2.aci_lo.empty());
  EXPECT_FALSE(r2.aggregate.contains("adaptive_intervals"));
  EXPECT_TRUE(r2.aggregate.contains("intervals"));
}
