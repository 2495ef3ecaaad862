// Automatic configuration: the trainer's pause / continue and data-scale validation metrics it
// relies on, the space's draws, and the search itself (deterministic, blind to the test part,
// its winner equal to a plain training run of the chosen configuration), and ensembles (one
// model of members combined by the median; --ensemble K trains the N-BEATS recipe).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "expect_error.h"
#include "train_util.h"
#include "ntn/auto.h"
#include "ntn/error.h"
#include "ntn/rng.h"
#include "ntn/trainer.h"

namespace ntn {
namespace {

using nlohmann::json;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string();
}

// Waves at levels 5 and 6 (what a window scaler removes).
SeriesStore wave_store() { return test::sine_store(600, 5); }

const json kModel = {{"type", "nhits"}, {"input_size", 24}, {"horizon", 6}, {"mlp_units", {{32, 32}}}};

TrainConfig small_cfg() {
  TrainConfig c;
  c.max_steps = 60;
  c.batch_size = 32;
  c.val_every = 10;
  c.patience = 0;
  c.log_every = 0;
  c.optim.lr = 3e-3f;
  return c;
}

std::vector<float> params_of(const Model<float>& m) {
  return {m.params().values(), m.params().values() + m.params().slab_size()};
}

TEST(TrainerPause, PausingAndContinuingEqualsOneRun) {
  const SeriesStore store = wave_store();
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  TrainConfig c = small_cfg();
  c.schedule.name = "step";
  derive_schedule(c, train.size());
  auto a = make_model<float>(kModel), b = make_model<float>(kModel);
  a->init(1);
  b->init(1);
  Trainer ta(*a, store, train, val, c);
  const TrainSummary sa = ta.run();
  EXPECT_FALSE(sa.paused);
  EXPECT_TRUE(sa.restored_best);  // the default: the best validation's weights
  Trainer tb(*b, store, train, val, c);
  TrainSummary sb = tb.run(17);  // inside an epoch, between validations
  EXPECT_TRUE(sb.paused);
  EXPECT_EQ(sb.steps, 17u);
  EXPECT_FALSE(sb.restored_best);
  sb = tb.run(17);  // no step to take: still paused
  EXPECT_TRUE(sb.paused);
  EXPECT_EQ(sb.steps, 17u);
  sb = tb.run(40);
  EXPECT_EQ(sb.steps, 40u);
  sb = tb.run();
  EXPECT_FALSE(sb.paused);
  EXPECT_EQ(sb.steps, 60u);
  EXPECT_EQ(sb.best_step, sa.best_step);
  EXPECT_EQ(sb.best_val_loss, sa.best_val_loss);
  const auto wa = params_of(*a), wb = params_of(*b);
  EXPECT_EQ(std::memcmp(wa.data(), wb.data(), wa.size() * sizeof(float)), 0);
}

TEST(TrainerPause, RestoreBestIsTheDefaultAndCanBeTurnedOff) {
  const SeriesStore store = wave_store();
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  EXPECT_TRUE(TrainConfig{}.restore_best);
  EXPECT_GT(TrainConfig{}.patience, 0u);
  TrainConfig c = small_cfg();
  c.optim.lr = 5e-2f;  // a constant, high rate: noisy enough that the last step is not the best
  c.schedule.name = "constant";
  c.max_steps = 80;
  for (bool restore : {true, false}) {
    c.restore_best = restore;
    auto m = make_model<float>(kModel);
    m->init(1);
    Trainer tr(*m, store, train, val, c);
    double last = -1;
    tr.on_log = [&](const TrainLog& l) {
      if (l.final) last = l.val_loss;
    };
    const TrainSummary s = tr.run();
    ASSERT_GE(last, 0);
    ASSERT_LT(s.best_val_loss, last) << "the test needs a run whose last validation is not its best";
    EXPECT_EQ(s.restored_best, restore);
    EXPECT_DOUBLE_EQ(tr.evaluate(val), restore ? s.best_val_loss : last);
  }
}

TEST(TrainerPause, DataScaleValidationMetricsMatchTheForecasts) {
  // val_metric mae / mse / smape score the point forecast with the window scaling inverted:
  // the same numbers as predict_windows' forecasts against the data.
  const SeriesStore store = wave_store();
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  TrainConfig c = small_cfg();
  c.window_scaling = WindowScaling::standard;
  c.loss = parse_loss("mq", {0.1f, 0.5f, 0.9f}, 1.0f, "");
  json cfg = kModel;
  cfg["outputs"] = 3;
  auto m = make_model<float>(cfg);
  m->init(1);
  Trainer tr(*m, store, train, val, c);
  tr.run();
  std::vector<float> out(val.size() * 6 * 3);
  const OutputSpec spec = output_spec(c.loss);
  predict_windows(*m, store, val, c.window_scaling, out.data(), 256, &spec);
  double mae = 0, mse = 0, smape = 0;
  for (std::size_t w = 0; w < val.size(); ++w)
    for (std::size_t h = 0; h < 6; ++h) {
      const double f = out[(w * 6 + h) * 3 + 1], y = store.data(val[w].series)[val[w].start + 24 + h];
      mae += std::fabs(f - y);
      mse += (f - y) * (f - y);
      smape += 200 * std::fabs(f - y) / (std::fabs(f) + std::fabs(y));
    }
  const double n = double(val.size() * 6);
  for (auto [metric, want] :
       {std::pair<const char*, double>{"mae", mae / n}, {"mse", mse / n}, {"smape", smape / n}}) {
    TrainConfig e = c;
    e.val_metric = metric;
    Trainer te(*m, store, train, val, e);
    EXPECT_NEAR(te.evaluate(val), want, 1e-5 * (1 + want)) << metric;
  }
  TrainConfig bad = c;
  bad.val_metric = "rmse";
  test::expect_error([&] { bad.validate(); }, {"val_metric"});
}

TEST(AutoSpace, DrawsAreSeededDistinctAndInRange) {
  const json space = json::parse(R"({"lr": {"loguniform": [1e-4, 1e-2]}, "batch_size": {"choice": [32, 64]},
                                     "seed": {"randint": [1, 20]}, "dropout": {"uniform": [0, 0.3]}})");
  const auto a = sample_space(space, 12, 7), b = sample_space(space, 12, 7), c = sample_space(space, 12, 8);
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(a[i], a[j]);
    const double lr = a[i]["lr"].get<double>(), dr = a[i]["dropout"].get<double>();
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-2);
    EXPECT_GE(dr, 0.0);
    EXPECT_LE(dr, 0.3);
    const auto seed = a[i]["seed"].get<std::uint64_t>();
    EXPECT_GE(seed, 1u);
    EXPECT_LE(seed, 20u);
    EXPECT_TRUE(a[i]["batch_size"] == 32 || a[i]["batch_size"] == 64);
  }
  // A space smaller than the request gives each point once.
  EXPECT_EQ(sample_space(json::parse(R"({"x": {"choice": [1, 2, 3]}})"), 10, 1).size(), 3u);
  // The default spaces: the common part plus the model's knobs; prophet has none.
  const json nh = auto_space("nhits");
  for (const char* k : {"input_size_multiplier", "lr", "batch_size", "window_scaling", "seed", "pool_kernel",
                        "freq_downsample"})
    EXPECT_TRUE(nh.contains(k)) << k;
  EXPECT_FALSE(auto_space("deepar").contains("window_scaling"));
  test::expect_error([] { auto_space("prophet"); }, {"prophet"});
}

TEST(AutoSpace, MalformedEntriesNameTheirKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"lr": 0.1})", "'lr'"},
      {R"({"lr": {"choice": []}})", "non-empty"},
      {R"({"lr": {"loguniform": [0, 1]}})", "lo > 0"},
      {R"({"lr": {"loguniform": [1, 0.1]}})", "lo <= hi"},
      {R"({"lr": {"uniform": [1]}})", "[lo, hi]"},
      {R"({"lr": {"uniform": ["a", 1]}})", "[lo, hi]"},
      {R"({"seed": {"randint": [1.5, 3]}})", "integers"},
      {R"({"seed": {"randint": [-1, 3]}})", "integers"},
      {R"({"lr": {"normal": [0, 1]}})", "unknown kind 'normal'"},
      {R"({"lr": {"choice": [1], "uniform": [0, 1]}})", "'lr'"},
      {R"([1, 2])", "JSON object"},
  };
  for (const auto& [text, want] : cases) {
    SCOPED_TRACE(text);
    test::expect_error([&] { sample_space(json::parse(text), 3, 1); }, {want.c_str()});
  }
}

// A two-column wide file; `test_scale` multiplies the last 20% of the rows (the test part).
std::string write_series(double test_scale) {
  const std::string path = temp_path("ntn_auto" + std::to_string(int(test_scale * 10))) + ".csv";
  std::ofstream f(path);
  f << "t,a,b\n";
  const std::size_t rows = 500;
  Rng rng(5, stream_id("auto test"));
  for (std::size_t i = 0; i < rows; ++i) {
    const double s = i >= rows * 8 / 10 ? test_scale : 1.0;
    f << i << "," << s * (10 + std::sin(0.26 * double(i)) + 0.1 * rng.normal()) << ","
      << s * (20 + 2 * std::sin(0.13 * double(i) + 1) + 0.1 * rng.normal()) << "\n";
  }
  return path;
}

TrainJob small_job(const std::string& path) {
  TrainJob job;
  job.data.path = path;
  job.model = {{"type", "nhits"}, {"horizon", 6}, {"mlp_units", {{16, 16}}}};
  job.train = small_cfg();
  job.train.max_steps = 90;
  return job;
}

AutoSpec small_spec() {
  AutoSpec spec;
  spec.candidates = 5;
  spec.space =
      json::parse(R"({"input_size_multiplier": {"choice": [2, 4]}, "lr": {"loguniform": [1e-3, 3e-2]},
                               "window_scaling": {"choice": ["none", "standard"]}, "seed": {"randint": [1, 9]}})");
  return spec;
}

TEST(AutoTrain, DeterministicBlindToTheTestPartAndEqualToAPlainRunOfTheChoice) {
  const std::string path = write_series(1.0), other = write_series(3.0);
  const TrainResult a = auto_train(small_job(path), small_spec());
  const TrainResult b = auto_train(small_job(path), small_spec());
  const TrainResult c = auto_train(small_job(other), small_spec());  // the test part changed
  const json& s = a.search;
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["metric"], "mae");
  EXPECT_EQ(s["trials"].size(), 5u);
  EXPECT_EQ(s["rungs"], json({10, 30, 90}));  // 5 candidates, eta 3: 5 -> 2 -> 1 over 90/9, 90/3, 90 steps
  std::size_t finished = 0;
  for (const json& t : s["trials"]) {
    EXPECT_TRUE(t.contains("score")) << t.dump();
    EXPECT_FALSE(t["curve"].empty());
    if (t["steps"] == 90) ++finished;
  }
  EXPECT_EQ(finished, 1u);  // one candidate (the best 1/3 of 5) goes the whole way
  EXPECT_EQ(a.artifact.training["search"], s);
  for (const TrainResult* r : {&b, &c}) {
    EXPECT_EQ(r->search["chosen_params"], s["chosen_params"]);
    EXPECT_EQ(r->search["best_val"], s["best_val"]);
    const auto wa = params_of(*a.artifact.model), wr = params_of(*r->artifact.model);
    ASSERT_EQ(wa.size(), wr.size());
    EXPECT_EQ(std::memcmp(wa.data(), wr.data(), wa.size() * sizeof(float)), 0);
  }
  // The winner is the plain training run of its configuration (paused and continued exactly).
  TrainJob plain = small_job(path);
  const json& chosen = s["chosen_params"];
  plain.model["input_size"] = chosen["input_size_multiplier"].get<std::size_t>() * 6;
  plain.train.optim.lr = chosen["lr"].get<float>();
  plain.train.window_scaling = parse_window_scaling(chosen["window_scaling"].get<std::string>());
  plain.train.seed = chosen["seed"].get<std::uint64_t>();
  plain.train.val_metric = "mae";
  const TrainResult p = train_job(plain);
  const auto wa = params_of(*a.artifact.model), wp = params_of(*p.artifact.model);
  ASSERT_EQ(wa.size(), wp.size());
  EXPECT_EQ(std::memcmp(wa.data(), wp.data(), wa.size() * sizeof(float)), 0);
  EXPECT_EQ(p.summary.best_val_loss, s["best_val"].get<double>());
  std::remove(path.c_str());
  std::remove(other.c_str());
}

TEST(AutoTrain, RefitTrainsTheChoiceOnTrainingAndValidationToItsBestStep) {
  const std::string path = write_series(1.0), other = write_series(3.0);
  AutoSpec spec = small_spec();
  const TrainResult a = auto_train(small_job(path), spec);
  spec.refit = true;
  const TrainResult r = auto_train(small_job(path), spec);
  const TrainResult c = auto_train(small_job(other), spec);         // still blind to the test part
  EXPECT_EQ(r.search["chosen_params"], a.search["chosen_params"]);  // the same search
  const json& refit = r.search["refit"];
  ASSERT_TRUE(refit.is_object());
  EXPECT_EQ(refit["steps"], a.search["trials"][a.search["chosen"].get<std::size_t>()]["best_step"]);
  EXPECT_EQ(refit["windows"].get<std::size_t>(), a.prepared.train.size() + a.prepared.val.size());
  EXPECT_EQ(r.summary.steps, refit["steps"].get<std::uint64_t>());
  const auto wa = params_of(*a.artifact.model), wr = params_of(*r.artifact.model),
             wc = params_of(*c.artifact.model);
  EXPECT_NE(std::memcmp(wa.data(), wr.data(), wa.size() * sizeof(float)),
            0);  // it learnt from the validation part
  EXPECT_EQ(std::memcmp(wr.data(), wc.data(), wr.size() * sizeof(float)), 0);
  std::remove(path.c_str());
  std::remove(other.c_str());
}

TEST(AutoTrain, FixedSettingsAreNotSearchedAndErrorsAreClear) {
  const std::string path = write_series(1.0);
  TrainJob job = small_job(path);
  job.model["input_size"] = 12;  // fixes the input size
  AutoSpec spec = small_spec();
  spec.fixed = {"window_scaling"};
  spec.candidates = 2;
  const TrainResult r = auto_train(job, spec);
  EXPECT_FALSE(r.search["space"].contains("input_size_multiplier"));
  EXPECT_FALSE(r.search["space"].contains("window_scaling"));
  EXPECT_EQ(r.artifact.model->input_size(), 12u);
  // Every candidate failing: the first failure's message.
  spec.space = json::parse(R"({"no_such_field": {"choice": [1, 2]}})");
  test::expect_error([&] { auto_train(job, spec); }, {"no_such_field"});
  spec.space = json::parse(R"({"input_size_multiplier": {"choice": [-2]}})");
  test::expect_error([&] { auto_train(small_job(path), spec); },
                     {"'input_size_multiplier' must be a positive integer"});
  // No validation part.
  job.data.val_ratio = 0;
  test::expect_error([&] { auto_train(job, small_spec()); }, {"validation"});
  job = small_job(path);
  job.train.val_every = 0;
  test::expect_error([&] { auto_train(job, small_spec()); }, {"--val-every"});
  job = small_job(path);
  job.model["type"] = "prophet";
  test::expect_error([&] { auto_train(job, AutoSpec{}); }, {"prophet"});
  spec = small_spec();
  spec.eta = 1;
  test::expect_error([&] { auto_train(small_job(path), spec); }, {"--auto-eta"});
  std::remove(path.c_str());
}

// ---- ensembles (--ensemble K) ---------------------------------------------------------------

// Member k of a config, built alone (its missing fields filled as the ensemble fills them).
std::unique_ptr<Model<float>> member_alone(const json& ensemble_cfg, std::size_t k) {
  return make_model<float>(make_model<float>(ensemble_cfg)->config().at("members").at(k));
}

// The ensemble's forecast is, per step and output, the median (or mean) of its members' forecasts,
// each member reading the last L_k values of the window: bitwise, with members initialised from
// seed + k as when built alone.
TEST(Ensemble, ForwardIsTheMedianOrMeanOfTheMembersOnTheirOwnInputs) {
  const json members = json::array({{{"type", "mlp"}, {"input_size", 12}, {"hidden_size", 8}},
                                    {{"type", "nhits"}, {"input_size", 8}, {"mlp_units", {{8, 8}}}},
                                    {{"type", "nbeats"}, {"input_size", 4}, {"mlp_units", {{8, 8}}}},
                                    {{"type", "mlp"}, {"input_size", 6}, {"hidden_size", 4}}});
  const std::size_t B = 5, H = 3, L = 12;
  std::vector<float> x(B * L);
  Rng rng(3, stream_id("ensemble forward"));
  for (float& v : x) v = float(rng.normal());
  for (std::size_t K : {1u, 2u, 3u, 4u})
    for (const char* combine : {"median", "mean"}) {
      SCOPED_TRACE(cat(K, " members, ", combine));
      json cfg = {{"type", "ensemble"}, {"horizon", H}, {"combine", combine}, {"members", json::array()}};
      for (std::size_t k = 0; k < K; ++k) cfg["members"].push_back(members[k]);
      if (K < 3) cfg["input_size"] = L;  // longer than every member's: each reads the window's end
      auto e = make_model<float>(cfg);
      ASSERT_EQ(e->input_size(), L);
      e->init(7);
      auto ws = e->make_workspace(B, true);
      std::vector<float> y(B * H);
      e->forward(*ws, x.data(), y.data(), B, {});
      std::vector<std::vector<float>> outs;
      for (std::size_t k = 0; k < K; ++k) {
        auto m = member_alone(cfg, k);
        m->init(7 + k);
        const std::size_t Lk = m->input_size();
        std::vector<float> xk(B * Lk), yk(B * H);
        for (std::size_t b = 0; b < B; ++b) std::memcpy(&xk[b * Lk], &x[b * L + L - Lk], Lk * sizeof(float));
        auto wk = m->make_workspace(B, true);
        m->forward(*wk, xk.data(), yk.data(), B, {});
        outs.push_back(yk);
      }
      for (std::size_t i = 0; i < B * H; ++i) {
        std::vector<float> v;
        for (const auto& o : outs) v.push_back(o[i]);
        float want = 0;
        if (std::string(combine) == "mean") {
          for (float a : v) want += a;
          want *= 1.0f / float(K);
        } else {
          std::sort(v.begin(), v.end());
          want = K % 2 ? v[K / 2] : 0.5f * (v[K / 2 - 1] + v[K / 2]);
        }
        ASSERT_EQ(y[i], want) << i;
      }
    }
}

TEST(Ensemble, ConfigErrorsNameTheMemberAndField) {
  const json mlp = {{"type", "mlp"}, {"input_size", 12}, {"hidden_size", 8}};
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"type", "ensemble"}}, "field 'members' must be a list of 1..256"},
      {{{"type", "ensemble"}, {"members", json::array()}}, "field 'members' must be a list of 1..256"},
      {{{"type", "ensemble"}, {"members", {1}}}, "members[0]: expected a model config object"},
      {{{"type", "ensemble"}, {"members", {{{"type", "ensemble"}}}}}, "members[0]: an ensemble cannot be a member"},
      {{{"type", "ensemble"}, {"members", {mlp, {{"type", "prophet"}, {"input_size", 12}}}}},
       "members[1]: prophet is fitted per window"},
      {{{"type", "ensemble"}, {"members", {{{"type", "deepar"}, {"input_size", 12}}}}},
       "members[0]: deepar outputs a distribution"},
      {{{"type", "ensemble"}, {"members", {{{"type", "lstm9"}}}}}, "unknown model type 'lstm9'"},
      {{{"type", "ensemble"}, {"horizon", 4}, {"members", {{{"type", "mlp"}, {"input_size", 12}, {"horizon", 5}}}}},
       "members[0]: field 'horizon' = 5 differs from the ensemble's 4"},
      {{{"type", "ensemble"}, {"input_size", 8}, {"members", {mlp}}},
       "members[0]: input_size 12 is longer than the ensemble's 8"},
      {{{"type", "ensemble"}, {"members", {{{"type", "mlp"}}}}}, "members[0]: no input_size, and the ensemble gives none"},
      {{{"type", "ensemble"}, {"members", {{{"type", "mlp"}, {"input_size", 12}, {"hist_exog", 2}}}}},
       "members[0]: field 'hist_exog': ensemble members take no covariates"},
      {{{"type", "ensemble"}, {"members", {{{"type", "mlp"}, {"input_size", -3}}}}}, "members[0]: field 'input_size'"},
      {{{"type", "ensemble"}, {"members", {{{"type", "mlp"}, {"input_size", 12}, {"hidden_size", 0}}}}},
       "field 'hidden_size'"},
      {{{"type", "ensemble"}, {"combine", "max"}, {"members", {mlp}}}, "field 'combine' = 'max' is not median or mean"},
      {{{"type", "ensemble"}, {"members", {mlp}}, {"weights", {1}}}, "weights"},
  };
  for (const auto& [cfg, want] : cases) {
    SCOPED_TRACE(cfg.dump());
    test::expect_error([&] { make_model<float>(cfg); }, {want.c_str()});
  }
}

EnsembleSpec small_ensemble() {
  EnsembleSpec spec;
  spec.members = 3;
  spec.multipliers = {2, 3, 4};
  return spec;
}

// --ensemble: K members differing in input size, loss and seed, joined into one model whose
// forecast of every test window is the median of the members' own artifacts; deterministic and
// blind to the test part; the record holds the members.
TEST(EnsembleTrain, JoinsMembersIntoOneModelForecastingTheirMedian) {
  const std::string path = write_series(1.0), other = write_series(3.0);
  const TrainResult a = ensemble_train(small_job(path), small_ensemble());
  const TrainResult b = ensemble_train(small_job(other), small_ensemble());
  ASSERT_EQ(a.artifact.model->type(), "ensemble");
  EXPECT_EQ(a.artifact.model->input_size(), 24u);  // 4 x H
  ASSERT_EQ(a.members.size(), 3u);
  const json& runs = a.search["member_runs"];
  ASSERT_EQ(runs.size(), 3u);
  const char* losses[] = {"mae", "mse", "huber"};
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(runs[k]["input_size"], 6 * (k + 2));
    EXPECT_EQ(runs[k]["loss"], losses[k]);
    EXPECT_EQ(runs[k]["seed"], 1 + k);
    EXPECT_TRUE(runs[k].contains("score"));
    EXPECT_EQ(a.members[k].model->config()["members"][0]["input_size"], 6 * (k + 2));
  }
  EXPECT_EQ(a.artifact.training["ensemble"], a.search);
  EXPECT_EQ(a.search["metric"], "mae");
  EXPECT_EQ(a.summary.steps, runs[0]["steps"].get<std::uint64_t>() + runs[1]["steps"].get<std::uint64_t>() +
                                 runs[2]["steps"].get<std::uint64_t>());
  // Blind to the test part, and deterministic.
  const auto wa = params_of(*a.artifact.model), wb = params_of(*b.artifact.model);
  ASSERT_EQ(wa.size(), wb.size());
  EXPECT_EQ(std::memcmp(wa.data(), wb.data(), wa.size() * sizeof(float)), 0);
  EXPECT_EQ(a.search["score"], b.search["score"]);
  // The joined model's test forecasts are the median of its members'.
  const Prepared& p = a.prepared;
  const std::size_t n = p.test.size() * 6;
  std::vector<float> joined(n);
  predict_windows(*a.artifact.model, p.store, p.test, a.artifact.window_scaling, joined.data());
  std::vector<std::vector<float>> each(3, std::vector<float>(n));
  for (std::size_t k = 0; k < 3; ++k)
    predict_windows(*a.members[k].model, p.store, p.test, a.members[k].window_scaling, each[k].data());
  for (std::size_t i = 0; i < n; ++i) {
    float v[3] = {each[0][i], each[1][i], each[2][i]};
    std::sort(v, v + 3);
    ASSERT_EQ(joined[i], v[1]) << i;
  }
  // Members differ (input size, loss, seed), so the median is not one of them everywhere.
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NE(std::memcmp(joined.data(), each[k].data(), n * sizeof(float)), 0);
  std::remove(path.c_str());
  std::remove(other.c_str());
}

TEST(EnsembleTrain, FixedSettingsAndErrors) {
  const std::string path = write_series(1.0);
  TrainJob job = small_job(path);
  job.model["input_size"] = 12;  // every member reads 12 values; only loss and seed vary
  EnsembleSpec spec = small_ensemble();
  spec.members = 2;
  spec.losses.clear();  // every member the job's loss (mae)
  spec.combine = "mean";
  const TrainResult r = ensemble_train(job, spec);
  EXPECT_EQ(r.artifact.model->input_size(), 12u);
  EXPECT_EQ(r.artifact.model->config()["combine"], "mean");
  for (const json& m : r.search["member_runs"]) {
    EXPECT_EQ(m["input_size"], 12);
    EXPECT_EQ(m["loss"], "mae");
  }
  const std::vector<std::pair<std::function<void(TrainJob&, EnsembleSpec&)>, std::string>> cases = {
      {[](TrainJob&, EnsembleSpec& s) { s.members = 0; }, "--ensemble: expected 1..256 members (got 0)"},
      {[](TrainJob&, EnsembleSpec& s) { s.members = 1000; }, "--ensemble: expected 1..256 members (got 1000)"},
      {[](TrainJob&, EnsembleSpec& s) { s.combine = "max"; }, "--ensemble combine 'max'"},
      {[](TrainJob&, EnsembleSpec& s) { s.multipliers = {0}; }, "--ensemble: input multiplier 0 is outside"},
      {[](TrainJob&, EnsembleSpec& s) { s.multipliers = {1u << 30}; }, "is outside 1.."},
      {[](TrainJob&, EnsembleSpec& s) { s.losses = {"nope"}; }, "nope"},
      {[](TrainJob& j, EnsembleSpec&) { j.train.checkpoint_path = "x.ckpt"; }, "keeps no checkpoint"},
      {[](TrainJob& j, EnsembleSpec&) { j.model["type"] = "prophet"; }, "prophet is fitted on each window"},
      {[](TrainJob& j, EnsembleSpec&) { j.model["type"] = "ensemble"; }, "not ensemble"},
      {[](TrainJob& j, EnsembleSpec&) { j.train.loss = parse_loss("mq", {0.1f, 0.5f, 0.9f}); },
       "train a point forecast, but the job's mq loss does not"},
      {[](TrainJob& j, EnsembleSpec& s) {
         s.losses.clear();
         j.train.loss = parse_loss("nll", {}, 1.0f, "gaussian");
       },
       "the median of distribution parameters is no distribution"},
      {[](TrainJob& j, EnsembleSpec&) { j.data.covariates.hist = {"b"}; j.data.csv.columns = {"a"}; },
       "members take no covariates"},
      {[](TrainJob& j, EnsembleSpec&) { j.train.seed = UINT64_MAX; }, "overflows"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    TrainJob j = small_job(path);
    EnsembleSpec s = small_ensemble();
    cases[i].first(j, s);
    test::expect_error([&] { ensemble_train(j, s); }, {cases[i].second.c_str()});
  }
  test::expect_error([] { auto_space("ensemble"); }, {"use --ensemble K"});
  std::remove(path.c_str());
}

// --auto --ensemble: the members take the search's chosen settings (the chosen seed first).
TEST(EnsembleTrain, AfterASearchTheMembersTakeTheChosenSettings) {
  const std::string path = write_series(1.0);
  AutoSpec search = small_spec();
  search.candidates = 3;
  EnsembleSpec spec = small_ensemble();
  spec.members = 2;
  const TrainResult alone = auto_train(small_job(path), search);
  const TrainResult r = auto_ensemble_train(small_job(path), search, spec);
  const json& chosen = alone.search["chosen_params"];
  EXPECT_EQ(r.search["auto"]["chosen_params"], chosen);
  EXPECT_EQ(r.artifact.training["search"], r.search["auto"]);
  ASSERT_EQ(r.members.size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    const json tc = r.members[k].training["config"];
    EXPECT_EQ(tc["seed"], chosen["seed"].get<std::uint64_t>() + k);
    EXPECT_EQ(tc["window_scaling"], chosen["window_scaling"]);
    EXPECT_FLOAT_EQ(tc["lr"].get<float>(), chosen["lr"].get<float>());
    EXPECT_EQ(r.members[k].window_scaling, parse_window_scaling(chosen["window_scaling"].get<std::string>()));
  }
  EXPECT_EQ(r.artifact.window_scaling, r.members[0].window_scaling);
  // Refit: each member again on training + validation to its best validated step; the search's
  // winner alone is not refit, and the record's scores are the validated members'.
  search.refit = true;
  const TrainResult f = auto_ensemble_train(small_job(path), search, spec);
  EXPECT_EQ(f.search["auto"]["chosen_params"], chosen);
  EXPECT_FALSE(f.search["auto"].contains("refit"));
  EXPECT_TRUE(f.search["refit"].get<bool>());
  EXPECT_EQ(f.search["score"], r.search["score"]);
  for (std::size_t k = 0; k < 2; ++k) {
    const json& m = f.search["member_runs"][k];
    ASSERT_TRUE(m.contains("refit")) << m.dump();
    EXPECT_EQ(m["refit"]["steps"], m["best_step"]);
    EXPECT_EQ(m["refit"]["windows"].get<std::size_t>(), f.prepared.train.size() + f.prepared.val.size());
    EXPECT_EQ(m["score"], r.search["member_runs"][k]["score"]);
  }
  const auto wr = params_of(*r.artifact.model), wf = params_of(*f.artifact.model);
  ASSERT_EQ(wr.size(), wf.size());
  EXPECT_NE(std::memcmp(wr.data(), wf.data(), wr.size() * sizeof(float)), 0);  // it learnt from the validation part
  std::remove(path.c_str());
}

TEST(FrequencyDefaults, SeasonFromTheSpacingOfTheDates) {
  auto times = [](std::size_t n, auto step) {
    std::vector<double> t;
    double x = 1e9;
    for (std::size_t i = 0; i < n; ++i, x += step(i)) t.push_back(x);
    return t;
  };
  const double day = 86400;
  auto every = [](double s) { return [s](std::size_t) { return s; }; };
  // Business days: Friday -> Monday is 3 days once a week.
  auto business = [day](std::size_t i) { return i % 5 == 0 ? 3 * day : day; };
  // Months of 28..31 days; quarters of 90..92.
  auto months = [day](std::size_t i) { return double(28 + i % 4) * day; };
  auto quarters = [day](std::size_t i) { return double(90 + i % 3) * day; };
  const std::vector<std::pair<std::vector<double>, std::size_t>> cases = {
      {times(200, every(3600)), 24}, {times(200, every(1800)), 48}, {times(200, every(900)), 96},
      {times(200, every(day)), 7},   {times(200, business), 5},     {times(200, every(7 * day)), 52},
      {times(200, months), 12},      {times(60, quarters), 4},      {times(40, every(365 * day)), 0},
      {times(200, every(7000)), 0},  {times(2, every(3600)), 0},
  };
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(infer_season(cases[i].first), cases[i].second) << "case " << i;
}

// A wide file of n rows, `step` seconds apart from 2020-01-01 (dates), or numbered rows (step 0);
// the value has a daily cycle.
std::string dated_file(const std::string& name, std::size_t n, std::int64_t step) {
  const std::string path = temp_path(name) + ".csv";
  std::ofstream f(path);
  f << "time,y\n";
  for (std::size_t i = 0; i < n; ++i) {
    if (step > 0) {
      const std::time_t t = std::time_t(1577836800 + std::int64_t(i) * step);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char date[32];
      std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
      f << date;
    } else {
      f << i;
    }
    f << "," << 10 + std::sin(double(i) * 0.3) + std::sin(2 * M_PI * double(i * step % 86400) / 86400.0) << "\n";
  }
  return path;
}

TEST(FrequencyDefaults, InputCycleIsAWeekOfSubDailySteps) {
  auto times = [](std::size_t n, double step) {
    std::vector<double> t;
    for (std::size_t i = 0; i < n; ++i) t.push_back(1e9 + double(i) * step);
    return t;
  };
  const double day = 86400;
  const std::vector<std::pair<std::vector<double>, std::size_t>> cases = {
      {times(200, 3600), 168}, {times(200, 1800), 336}, {times(200, 900), 672},      {times(200, 600), 1008},
      {times(300, 300), 288},  {times(300, 60), 1440},  {times(200, day), 0},        {times(200, 7 * day), 0},
      {times(200, 7000), 0},   {times(2, 3600), 0},     {times(40, 365 * day), 0},
  };
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(input_cycle(cases[i].first), cases[i].second) << "case " << i;
}

TEST(FrequencyDefaults, DefaultInputSizeFollowsTheDatesAndFitsShortData) {
  struct Case {
    std::size_t rows;
    std::int64_t step;
    Protocol protocol;
    std::size_t H, expected;
  };
  // none: train = rows - 10% - 20%; the default is max(2H, 168, cycle), at most 3/4 of (train - H).
  const std::vector<Case> cases = {
      {1000, 3600, Protocol::none, 12, 168},    // hourly: a week
      {2000, 1800, Protocol::none, 12, 336},    // 30 min: a week of 336 steps
      {4000, 1800, Protocol::none, 400, 800},   // 2H beyond a week
      {1000, 86400, Protocol::none, 7, 168},    // daily: 168 days
      {1000, 0, Protocol::none, 200, 375},      // no dates: 2H = 400, then (700 - 200) * 3/4
      {60, 2629800, Protocol::none, 6, 27},     // 60 months: (42 - 6) * 3/4 (168 would not fit)
      {1000, 3600, Protocol::ltsf, 24, 120},    // ltsf: 5H whatever the dates
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    DataSpec spec;
    spec.path = dated_file(cat("ntn_default_input", i), c.rows, c.step);
    spec.protocol = c.protocol;
    EXPECT_EQ(default_input_size(spec, c.H), c.expected) << "case " << i;
    std::remove(spec.path.c_str());
  }
  // The short monthly file trains with its default, and the artifact records the input size.
  TrainJob job;
  job.data.path = dated_file("ntn_default_input_monthly", 60, 2629800);
  job.model = {{"type", "mlp"}, {"horizon", 6}, {"hidden_size", 8}};
  job.train = small_cfg();
  job.train.max_steps = 5;
  const TrainResult r = train_job(job);
  EXPECT_EQ(r.artifact.model->config()["input_size"], 27);
  std::remove(job.data.path.c_str());
}

TEST(FrequencyDefaults, CalendarAutoFollowsTheSpacingOfTheDates) {
  const double day = 86400;
  auto times = [](std::size_t n, double step) {
    std::vector<double> t;
    for (std::size_t i = 0; i < n; ++i) t.push_back(1e9 + double(i) * step);
    return t;
  };
  using V = std::vector<std::string>;
  const std::vector<std::pair<std::vector<double>, V>> cases = {
      {times(200, 3600), {"hour", "dow"}}, {times(200, 1800), {"hour", "dow"}}, {times(200, day), {"dow", "doy"}},
      {times(200, 7 * day), {"doy"}},      {times(200, 30.44 * day), {"month"}}, {times(60, 91 * day), {"month"}},
      {times(40, 365 * day), {}},          {times(200, 7000), {}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(auto_calendar(cases[i].first), cases[i].second) << "case " << i;

  // --calendar auto in a job: the features in place of "auto", each once, stored in the artifact.
  const std::string hourly = dated_file("ntn_calendar_auto", 600, 3600);
  TrainJob job;
  job.data.path = hourly;
  job.model = {{"type", "nhits"}, {"horizon", 6}, {"input_size", 24}, {"mlp_units", {{8, 8}}}};
  job.train = small_cfg();
  job.train.max_steps = 5;
  const std::vector<std::pair<V, V>> given = {
      {{"auto"}, {"hour", "dow"}}, {{"month", "auto"}, {"month", "hour", "dow"}}, {{"auto", "dow"}, {"hour", "dow"}}};
  for (const auto& [asked, want] : given) {
    job.data.covariates.calendar = asked;
    const TrainResult r = train_job(job);
    V got;
    for (const auto& c : r.artifact.covariates.futr) {
      EXPECT_TRUE(c.calendar) << c.name;
      got.push_back(c.name);
    }
    EXPECT_EQ(got, want);
  }
  // Yearly dates have no calendar feature to follow; numbered rows have no dates.
  const std::string yearly = dated_file("ntn_calendar_yearly", 60, std::int64_t(365 * day));
  const std::string numbered = dated_file("ntn_calendar_numbered", 600, 0);
  job.data.covariates.calendar = {"auto"};
  job.model["input_size"] = 12;
  job.data.path = yearly;
  test::expect_error([&] { train_job(job); }, {"--calendar auto", "yearly or irregularly spaced", "hour, dow"});
  job.data.path = numbered;
  test::expect_error([&] { train_job(job); }, {"--calendar needs a time column of dates"});
  for (const auto& p : {hourly, yearly, numbered}) std::remove(p.c_str());
}

TEST(AutoTrain, CalendarFeaturesAreASettingOfTheSearchOnDatedData) {
  const std::string hourly = dated_file("ntn_auto_calendar", 600, 3600), numbered = write_series(1.0);
  TrainJob job = small_job(hourly);
  job.train.max_steps = 18;
  AutoSpec spec;
  spec.candidates = 2;
  // The default space gains "calendar" for a model that reads future-known channels, on dates, when
  // the job names no calendar feature itself.
  auto space_of = [&](const TrainJob& j) { return auto_train(j, spec).search["space"]; };
  EXPECT_EQ(space_of(job)["calendar"], json::parse(R"({"choice": ["none", "auto"]})"));
  TrainJob other = job;
  other.data.path = numbered;
  EXPECT_FALSE(space_of(other).contains("calendar"));
  other = job;
  other.model["type"] = "nbeats";
  other.model.erase("mlp_units");
  EXPECT_FALSE(space_of(other).contains("calendar"));
  other = job;
  other.data.covariates.calendar = {"dow"};
  EXPECT_FALSE(space_of(other).contains("calendar"));
  // Each candidate reads the features it drew; the winner's artifact carries them.
  spec.space = json::parse(R"({"calendar": {"choice": ["none", "auto"]}, "seed": {"randint": [1, 9]}})");
  spec.candidates = 4;
  const TrainResult r = auto_train(job, spec);
  std::set<std::string> drawn;
  for (const json& t : r.search["trials"]) drawn.insert(t["params"]["calendar"].get<std::string>());
  EXPECT_EQ(drawn, (std::set<std::string>{"none", "auto"}));
  const bool calendar = r.search["chosen_params"]["calendar"] == "auto";
  EXPECT_EQ(r.artifact.covariates.futr.size(), calendar ? 2u : 0u);
  EXPECT_EQ(r.artifact.model->config().value("futr_exog", 0), calendar ? 2 : 0);
  spec.space = json::parse(R"({"calendar": {"choice": ["weekly"]}})");
  test::expect_error([&] { auto_train(job, spec); }, {"auto space: 'calendar'", "\"none\" or \"auto\"", "weekly"});
  std::remove(hourly.c_str());
  std::remove(numbered.c_str());
}

TEST(FrequencyDefaults, HourlyDatesGiveTheSeasonalNaiveBaseline) {
  // A series that repeats every 24 hours up to a little noise: the seasonal naive is near perfect,
  // the naive is not.
  const std::string path = temp_path("ntn_hourly") + ".csv";
  {
    std::ofstream f(path);
    f << "time,load\n";
    for (std::size_t i = 0; i < 24 * 40; ++i) {
      char date[32];
      std::snprintf(date, sizeof date, "2024-%02zu-%02zu %02zu:00", 1 + i / (24 * 31), 1 + (i / 24) % 31,
                    i % 24);
      f << date << ","
        << 100 + 10 * std::sin(2 * M_PI * double(i % 24) / 24.0) + 0.01 * double((i * 7919) % 11) << "\n";
    }
  }
  TrainJob job;
  job.data.path = path;
  job.model = {{"type", "mlp"}, {"horizon", 12}, {"input_size", 48}, {"hidden_size", 16}};
  job.train = small_cfg();
  job.train.max_steps = 10;
  const TrainResult r = train_job(job);
  EXPECT_EQ(r.prepared.season, 24u);
  const json t = evaluate_test(r.artifact, r.prepared).json;
  EXPECT_EQ(t["season"], 24);
  ASSERT_TRUE(t.contains("seasonal_naive")) << t.dump();
  EXPECT_LT(t["seasonal_naive"]["mae"].get<double>(), 0.1);
  EXPECT_GT(t["naive"]["mae"].get<double>(), 1.0);
  ASSERT_TRUE(t["seasonal_naive"].contains("mase"));
  EXPECT_LT(t["seasonal_naive"]["mase"].get<double>(), 2.0);  // scaled by the in-sample seasonal naive
  EXPECT_GT(t["naive"]["mase"].get<double>(), 10.0);
  // A given season wins over the spacing.
  job.data.season = 12;
  EXPECT_EQ(train_job(job).prepared.season, 12u);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ntn
