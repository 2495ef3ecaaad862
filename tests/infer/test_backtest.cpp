// Backtest against a hand loop over origins, ensembles, splits and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "expect_error.h"
#include "ntn/backtest.h"
#include "ntn/metrics.h"
#include "ntn/rng.h"
#include "ntn/trainer.h"

namespace ntn {
namespace {

using nlohmann::json;

Artifact tiny(std::uint64_t seed, WindowScaling ws) {
  Artifact a;
  a.model = make_model<float>(json{{"type", "nhits"}, {"input_size", 20}, {"horizon", 4}, {"mlp_units", {{16, 16}}}});
  a.model->init(seed);
  a.window_scaling = ws;
  a.series = {"close"};
  a.stats = {NormStats{}};
  a.uuid = make_uuid();
  return a;
}

std::vector<float> walk(std::size_t n) {
  std::vector<float> x(n);
  Rng rng(9, 2);
  float p = 100;
  for (auto& v : x) v = p += rng.normal();
  return x;
}
std::vector<double> dbl(const std::vector<float>& x) { return {x.begin(), x.end()}; }

TEST(Backtest, EqualsAHandLoopOverOrigins) {
  Predictor p(tiny(1, WindowScaling::standard));
  const auto x = walk(300);
  BacktestSpec spec;
  spec.origins = 50;
  spec.step = 3;
  spec.season = 5;
  const BacktestResult r = backtest({&p}, "close", x.data(), x.size(), spec);
  ASSERT_EQ(r.per_origin.size(), 50u);
  EXPECT_EQ(r.per_origin.back().origin, 300u - 4 - 1);
  EXPECT_EQ(r.per_origin.front().origin, 300u - 4 - 1 - 49 * 3);
  const std::vector<double> xd = dbl(x);
  MetricSums all;
  for (std::size_t k = 0; k < 50; ++k) {
    const std::size_t t = r.per_origin[k].origin;
    double f[4];
    p.predict_batch(xd.data() + t + 1 - 20, 1, f);  // the backtest's path: double in and out
    ASSERT_EQ(std::memcmp(f, r.forecasts.data() + k * 4, sizeof f), 0) << "origin " << t;
    const double scale = mase_scale(xd.data(), t + 1, 5);
    MetricSums one;
    one.add(xd.data() + t + 1, f, 4, scale);
    EXPECT_NEAR(r.per_origin[k].mae, one.mae(), 1e-9);
    EXPECT_NEAR(r.per_origin[k].mase, one.mase(), 1e-9);
    all.add(xd.data() + t + 1, f, 4, scale, xd.data() + t);
    // And the float path agrees to float precision.
    float ff[4];
    p.predict(x.data() + t + 1 - 20, ff);
    for (int h = 0; h < 4; ++h) EXPECT_NEAR(ff[h], f[h], 1e-4 * std::fabs(f[h]));
  }
  EXPECT_NEAR(r.aggregate["mae"].get<double>(), all.mae(), 1e-9);
  EXPECT_NEAR(r.aggregate["mase"].get<double>(), all.mase(), 1e-9);
  EXPECT_GT(r.aggregate["naive"]["mae"].get<double>(), 0.0);
}

TEST(Backtest, EnsemblesCombinePointForecasts) {
  Predictor a(tiny(1, WindowScaling::none)), b(tiny(2, WindowScaling::none)), c(tiny(3, WindowScaling::none));
  const auto x = walk(100);
  BacktestSpec spec;
  spec.origins = 10;
  const auto ra = backtest({&a}, "close", x.data(), 100, spec), rb = backtest({&b}, "close", x.data(), 100, spec),
             rc = backtest({&c}, "close", x.data(), 100, spec);
  spec.ensemble = Ensemble::mean;
  const auto mean = backtest({&a, &b, &c}, "close", x.data(), 100, spec);
  spec.ensemble = Ensemble::median;
  const auto med = backtest({&a, &b, &c}, "close", x.data(), 100, spec);
  spec.ensemble = Ensemble::weighted;
  spec.weights = {0.5, 0.25, 0.25};
  const auto wt = backtest({&a, &b, &c}, "close", x.data(), 100, spec);
  for (std::size_t i = 0; i < 40; ++i) {
    const double u = ra.forecasts[i], v = rb.forecasts[i], w = rc.forecasts[i];
    EXPECT_NEAR(mean.forecasts[i], (u + v + w) / 3, 1e-9);
    EXPECT_EQ(med.forecasts[i], std::max(std::min(u, v), std::min(std::max(u, v), w)));
    EXPECT_NEAR(wt.forecasts[i], 0.5 * u + 0.25 * v + 0.25 * w, 1e-9);
  }
  spec.weights = {0.5, 0.5, 0.5};
  test::expect_error([&] { backtest({&a, &b, &c}, "close", x.data(), 100, spec); }, {"sum to 1.5"});
}

TEST(Backtest, ConstantSeries) {
  Predictor p(tiny(1, WindowScaling::standard));
  const std::vector<float> x(80, 42.0f);
  BacktestSpec spec;
  spec.origins = 10;
  spec.season = 5;
  const BacktestResult r = backtest({&p}, "close", x.data(), x.size(), spec);
  for (double f : r.forecasts) EXPECT_TRUE(std::isfinite(f));
  EXPECT_TRUE(std::isfinite(r.aggregate["mae"].get<double>()));
  EXPECT_EQ(r.aggregate["naive"]["mae"].get<double>(), 0.0);
  EXPECT_FALSE(r.aggregate.contains("mae_over_naive"));  // undefined against a perfect random walk
  EXPECT_FALSE(r.aggregate.contains("mase"));             // the seasonal-naive scale is 0
}

TEST(Backtest, BadInput) {
  Predictor p(tiny(1, WindowScaling::none));
  auto x = walk(60);
  BacktestSpec spec;
  spec.origins = 100;
  test::expect_error([&] { backtest({&p}, "close", x.data(), x.size(), spec); }, {"series 'close' has 60 values"});
  spec.origins = 5;
  x[30] = NAN;
  test::expect_error([&] { backtest({&p}, "close", x.data(), x.size(), spec); }, {"value 30 is not finite"});
  test::expect_error([&] { backtest({&p}, "close", x.data(), 0, spec); }, {"has 0 values"});
}

TEST(Backtest, RefitSeesOnlyThePastAndForecastsEachBlockWithItsModel) {
  const auto x = walk(200);
  Predictor base(tiny(1, WindowScaling::standard));
  std::vector<std::size_t> seen;
  std::vector<std::unique_ptr<Predictor>> made;  // the block models, to replay their forecasts
  BacktestSpec spec;
  spec.origins = 25;
  spec.step = 2;
  spec.refit_every = 10;
  const std::vector<double> xd = dbl(x);
  spec.refit = [&](const double* xs, std::size_t n) {
    EXPECT_EQ(xs, xd.data());
    seen.push_back(n);
    made.push_back(std::make_unique<Predictor>(tiny(100 + n, WindowScaling::standard)));
    return std::make_unique<Predictor>(tiny(100 + n, WindowScaling::standard));
  };
  const BacktestResult r = backtest({&base}, "close", xd.data(), xd.size(), spec);
  ASSERT_EQ(r.refits, 3u);  // blocks of 10, 10, 5 origins
  ASSERT_EQ(seen.size(), 3u);
  for (std::size_t b = 0; b < 3; ++b) {
    const std::size_t first = r.per_origin[b * 10].origin;
    EXPECT_EQ(seen[b], first + 1) << "block " << b << " must train on data up to its first origin only";
    for (std::size_t k = b * 10; k < std::min<std::size_t>(25, b * 10 + 10); ++k) {
      double f[4];
      made[b]->predict_batch(xd.data() + r.per_origin[k].origin + 1 - 20, 1, f);
      ASSERT_EQ(std::memcmp(f, r.forecasts.data() + k * 4, sizeof f), 0) << "origin " << k;
    }
  }
  spec.refit = nullptr;
  test::expect_error([&] { backtest({&base}, "close", x.data(), x.size(), spec); }, {"refit function"});
}

TEST(Backtest, TrainOnSeriesIsDeterministicAndConfigRoundTrips) {
  TrainConfig tc;
  tc.max_steps = 15;
  tc.batch_size = 8;
  tc.optim.lr = 3e-3f;
  tc.schedule.name = "step";
  tc.window_scaling = WindowScaling::standard;
  tc.lr_decays = 2;
  const TrainConfig back = TrainConfig::from_json(tc.to_json());
  EXPECT_EQ(back.to_json(), tc.to_json());
  test::expect_error([] { TrainConfig::from_json(json{{"lr", "fast"}}); }, {"field 'lr'"});
  const json cfg = {{"type", "nhits"}, {"input_size", 20}, {"horizon", 4}, {"mlp_units", {{16, 16}}}};
  const auto x = walk(120);
  const Artifact a = train_on_series(cfg, tc, "close", dbl(x).data(), 120, SeriesScaling::standard);
  const Artifact b = train_on_series(cfg, tc, "close", dbl(x).data(), 120, SeriesScaling::standard);
  const auto& pa = a.model->params();
  ASSERT_EQ(std::memcmp(pa.values(), b.model->params().values(), pa.slab_size() * sizeof(float)), 0);
  EXPECT_EQ(a.series, std::vector<std::string>{"close"});
  EXPECT_EQ(a.training["config"]["max_steps"], 15);
  test::expect_error([&] { train_on_series(cfg, tc, "close", dbl(x).data(), 10, SeriesScaling::none); }, {"10 values"});
}

TEST(Search, GridExpansionRoutesKeysAndSamples) {
  const json model = {{"type", "nhits"}, {"input_size", 20}, {"horizon", 4}};
  const json train = TrainConfig{}.to_json();
  const auto all = expand_grid(model, train, "mlp_units=[[8,8]]|[[16,16]]; lr=0.01|0.001|0.0001; loss=mse");
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[0].model["mlp_units"], json::parse("[[8,8]]"));
  EXPECT_EQ(all[0].train["lr"], 0.01);
  EXPECT_EQ(all[1].train["lr"], 0.001);  // the last axis varies fastest
  EXPECT_EQ(all[3].model["mlp_units"], json::parse("[[16,16]]"));
  EXPECT_EQ(all[5].train["loss"], "mse");  // a bare word is a string, routed to training
  EXPECT_FALSE(all[0].model.contains("lr"));
  const auto some = expand_grid(model, train, "mlp_units=[[8,8]]|[[16,16]]; lr=0.01|0.001|0.0001", 4, 7);
  ASSERT_EQ(some.size(), 4u);
  for (std::size_t i = 0; i < some.size(); ++i)
    for (std::size_t j = i + 1; j < some.size(); ++j)
      EXPECT_FALSE(some[i].model == some[j].model && some[i].train == some[j].train) << "duplicate candidate";
  const auto again = expand_grid(model, train, "mlp_units=[[8,8]]|[[16,16]]; lr=0.01|0.001|0.0001", 4, 7);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(some[i].train, again[i].train) << "seeded: reproducible";
  test::expect_error([&] { expand_grid(model, train, "lr"); }, {"not key=value"});
  test::expect_error([&] { expand_grid(model, train, "lr=0.1|"); }, {"empty value"});
}

TEST(Search, RanksCandidatesByBacktestMae) {
  const json model = {{"type", "nhits"}, {"input_size", 20}, {"horizon", 4}, {"mlp_units", {{8, 8}}}};
  json train = TrainConfig{}.to_json();
  train["max_steps"] = 10;
  train["batch_size"] = 8;
  const auto c = expand_grid(model, train, "lr=0.01|0.0001");
  const auto x = walk(150);
  BacktestSpec spec;
  spec.origins = 20;
  const auto r = search(c, "close", dbl(x).data(), x.size(), spec, SeriesScaling::standard);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_LE(r[0].aggregate["mae"].get<double>(), r[1].aggregate["mae"].get<double>());
  // The winner's score is the backtest of a model trained on the data before the first origin.
  const TrainConfig tc = TrainConfig::from_json(r[0].candidate.train);
  const std::size_t first = x.size() - 4 - 1 - 19;
  Predictor p(train_on_series(r[0].candidate.model, tc, "close", dbl(x).data(), first + 1, SeriesScaling::standard));
  EXPECT_DOUBLE_EQ(backtest({&p}, "close", x.data(), x.size(), spec).aggregate["mae"].get<double>(),
                   r[0].aggregate["mae"].get<double>());
}

TEST(Splits, ExpandingRollingAndPurged) {
  const auto e = expanding_splits(100, 3, 10, 50);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].train[0].end, 70u);
  EXPECT_EQ(e[2].test.begin, 90u);
  EXPECT_EQ(e[2].test.end, 100u);
  const auto r = rolling_splits(100, 3, 10, 20);
  EXPECT_EQ(r[1].train[0].begin, 60u);
  EXPECT_EQ(r[1].train[0].end, 80u);
  const auto p = purged_kfold(100, 4, 5, 3);
  ASSERT_EQ(p.size(), 4u);
  // Fold 1 tests [25, 50): train [0, 20) (5 purged) and [53, 100) (3 embargoed).
  ASSERT_EQ(p[1].train.size(), 2u);
  EXPECT_EQ(p[1].train[0].end, 20u);
  EXPECT_EQ(p[1].train[1].begin, 53u);
  EXPECT_EQ(p[0].train.size(), 1u);  // nothing before the first fold
  EXPECT_EQ(p[3].train.size(), 1u);  // nothing after the last
  for (const auto& f : p)  // no training point within purge of a test label, or in the embargo
    for (const auto& t : f.train)
      EXPECT_TRUE(t.end + 5 <= f.test.begin || t.begin >= f.test.end + 3);
  test::expect_error([] { expanding_splits(10, 3, 5, 1); }, {"need 16 points"});
  test::expect_error([] { purged_kfold(3, 1, 0, 0); }, {"k >= 2"});
  EXPECT_EQ(expanding_splits(0 + 10, 1, 10, 0).size(), 1u);
}

}  // namespace
}  // namespace ntn
