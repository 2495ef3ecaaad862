// Predictor, streaming, cache and quantised artifacts. References: the training-time
// prediction path (predict_windows: the training-time forward, scalers applied by hand), which
// the fp32 predictor reproduces bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <thread>

#include "alloc_counter.h"
#include "expect_error.h"
#include "ntn/forecast_cache.h"
#include "ntn/latency.h"
#include "ntn/parallel.h"
#include "ntn/predictor.h"
#include "ntn/quantize.h"
#include "ntn/rng.h"
#include "ntn/trainer.h"
#include "infer/row_team.h"

namespace ntn {
namespace {

using nlohmann::json;

const json kNhits = {{"type", "nhits"}, {"input_size", 48}, {"horizon", 12}, {"mlp_units", {{32, 32}}}};

Artifact make_artifact(const json& cfg, SeriesScaling sc = SeriesScaling::none,
                       WindowScaling ws = WindowScaling::none, std::size_t n_series = 1) {
  Artifact a;
  a.model = make_model<float>(cfg);
  a.model->init(11);
  a.scaling = sc;
  a.window_scaling = ws;
  for (std::size_t s = 0; s < n_series; ++s) {
    a.series.push_back("s" + std::to_string(s));
    a.stats.push_back(sc == SeriesScaling::none ? NormStats{} : NormStats{100.0 + 10.0 * double(s), 5.0 + double(s)});
  }
  if (a.model->outputs() == 3) a.output = OutputSpec::quantiles({0.1f, 0.5f, 0.9f});
  a.uuid = make_uuid();
  a.version = "test";
  return a;
}

// Price-like windows on the original scale: 100 + random walk.
std::vector<float> windows(std::size_t B, std::size_t L, std::uint64_t seed) {
  std::vector<float> x(B * L);
  Rng rng(seed, 3);
  for (std::size_t b = 0; b < B; ++b) {
    float v = 100.0f + 5.0f * rng.normal();
    for (std::size_t t = 0; t < L; ++t) x[b * L + t] = v += rng.normal();
  }
  return x;
}

// The training-time path: series-scale by hand, predict_windows (training forward), unscale.
std::vector<float> reference(const Artifact& a, const float* x, std::size_t B, const std::vector<std::size_t>& series) {
  const std::size_t L = a.model->input_size(), HQ = a.model->horizon() * a.model->outputs();
  SeriesStore store;
  std::vector<NormStats> st(B);
  for (std::size_t b = 0; b < B; ++b) {
    if (a.scaling != SeriesScaling::none) st[b] = a.stats[series[b]];
    std::vector<float> v(L);
    normalize(st[b], x + b * L, v.data(), L);
    store.add("w" + std::to_string(b), v.data(), L);
  }
  std::vector<WindowRef> w;
  for (std::size_t b = 0; b < B; ++b) w.push_back({std::uint32_t(b), 0});
  std::vector<float> out(B * HQ);
  predict_windows(*a.model, store, w, a.window_scaling, out.data());
  for (std::size_t b = 0; b < B; ++b) denormalize(st[b], out.data() + b * HQ, out.data() + b * HQ, HQ);
  return out;
}

void expect_bitwise(const float* a, const float* b, std::size_t n, const std::string& what) {
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(std::memcmp(a + i, b + i, 4), 0) << what << " at " << i;
}

TEST(Predictor, Fp32MatchesTrainingPathForEveryModelAndScaler) {
  const json nbeats = {{"type", "nbeats"}, {"input_size", 30}, {"horizon", 6}, {"mlp_units", {{16, 16}}},
                       {"stack_types", {"trend", "seasonality", "identity"}}};
  const json mlp = {{"type", "mlp"}, {"input_size", 20}, {"horizon", 5}, {"hidden_size", 24}, {"num_layers", 2}};
  json quantile = kNhits;
  quantile["outputs"] = 3;
  for (const json& cfg : {kNhits, nbeats, mlp, quantile})
    for (auto sc : {SeriesScaling::none, SeriesScaling::standard})
      for (auto ws : {WindowScaling::none, WindowScaling::standard, WindowScaling::robust}) {
        const Artifact a = make_artifact(cfg, sc, ws, sc == SeriesScaling::none ? 1 : 3);
        const std::string what = cfg.dump() + " series " + series_scaling_name(sc) + " window " +
                                  window_scaling_name(ws);
        const std::size_t L = a.model->input_size(), HQ = a.model->horizon() * a.model->outputs(), B = 9;
        const auto x = windows(B, L, 1);
        std::vector<std::size_t> series(B);
        for (std::size_t b = 0; b < B; ++b) series[b] = sc == SeriesScaling::none ? Predictor::kNoSeries : b % 3;
        const std::vector<float> want = reference(a, x.data(), B, series);
        Artifact copy = quantize(a, Precision::fp32);  // same weights, new uuid
        Predictor p(std::move(copy), {.max_batch = 4, .workspaces = 2});
        std::vector<float> got(B * HQ);
        p.predict_batch(x.data(), B, got.data(), series.data());
        expect_bitwise(got.data(), want.data(), got.size(), "batch vs training path " + what);
        for (std::size_t b = 0; b < B; ++b) {  // one at a time: bitwise equal to the batch rows
          std::vector<float> y(HQ);
          p.predict(x.data() + b * L, y.data(), series[b]);
          expect_bitwise(y.data(), got.data() + b * HQ, HQ, "single vs batch row " + std::to_string(b) + " " + what);
        }
      }
}

// A distribution head's outputs go back per parameter through both scalers (window, then
// series): mu as v * scale + center, sigma as sigma * scale - never shifted; and they are never
// sorted like quantiles. Checked against the model's raw outputs, and against predict_windows.
TEST(Predictor, DistributionOutputsUnscalePerParameter) {
  const json cfg = {{"type", "mlp"}, {"input_size", 16}, {"horizon", 3}, {"outputs", 2}, {"hidden_size", 8}};
  Artifact a = make_artifact(cfg, SeriesScaling::standard, WindowScaling::standard);
  a.output = OutputSpec::distribution(DistKind::gaussian);
  const std::size_t L = 16, H = 3, B = 4;
  const auto x = windows(B, L, 5);
  const NormStats ss = a.stats[0];
  // The model's raw (mu, sigma) per step, from the scaled window.
  std::vector<float> raw(B * H * 2);
  std::vector<NormStats> wst(B);
  {
    auto ws = a.model->make_workspace(B);
    std::vector<float> xs(B * L);
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t i = 0; i < L; ++i) xs[b * L + i] = float((double(x[b * L + i]) - ss.center) / ss.scale);
      wst[b] = norm_stats(NormKind::zscore, xs.data() + b * L, L, kernels());
      normalize(wst[b], xs.data() + b * L, xs.data() + b * L, L);
    }
    a.model->forward(*ws, xs.data(), raw.data(), B, {});
  }
  std::vector<double> xd(x.begin(), x.end()), got(B * H * 2);
  Predictor p(std::move(a));
  p.predict_batch(xd.data(), B, got.data());
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t i = (b * H + h) * 2;
      const double mu = (double(raw[i]) * wst[b].scale + wst[b].center) * ss.scale + ss.center;
      const double sigma = double(raw[i + 1]) * wst[b].scale * ss.scale;
      EXPECT_NEAR(got[i], mu, 1e-4 * std::fabs(mu)) << b << " " << h;
      EXPECT_NEAR(got[i + 1], sigma, 1e-4 * std::fabs(sigma) + 1e-6) << b << " " << h;
    }
}

// Sample paths through the predictor: the model's own paths of the series-scaled windows (the
// served packed weights give the same bits), each draw unscaled as a value; the chunking of rows
// (max_batch) does not change them; a point model and bad path counts are clear errors.
TEST(Predictor, SampleBatchIsTheModelsPathsOnTheDataScale) {
  const json cfg = {{"type", "deepar"}, {"input_size", 16}, {"horizon", 4}, {"encoder_hidden_size", 6}};
  Artifact a = make_artifact(cfg, SeriesScaling::standard), b = make_artifact(cfg, SeriesScaling::standard);
  a.output = b.output = OutputSpec::distribution(DistKind::student_t);
  const std::size_t L = 16, H = 4, B = 3, P = 40;
  const auto x = windows(B, L, 8);
  const NormStats ss = a.stats[0];
  std::vector<float> xs(B * L), raw(B * P * H);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = float((double(x[i]) - ss.center) / ss.scale);
  Batch<float> in;
  in.B = B;
  in.y = xs.data();
  a.model->sample(in, P, 9, 0, raw.data());
  std::vector<double> xd(x.begin(), x.end()), got(B * P * H), chunked(B * P * H);
  Predictor p(std::move(a)), small(std::move(b), {.max_batch = 2});
  p.sample_batch(xd.data(), B, P, 9, got.data());
  small.sample_batch(xd.data(), B, P, 9, chunked.data());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], double(raw[i]) * ss.scale + ss.center) << i;
    ASSERT_EQ(chunked[i], got[i]) << i;
  }
  test::expect_error([&] { p.sample_batch(xd.data(), B, 0, 9, got.data()); }, {"0 paths per row (1..100000)"});
  Predictor point(make_artifact(kNhits));
  std::vector<double> px(48, 100.0), po(12);
  test::expect_error([&] { point.sample_batch(px.data(), 1, 10, 1, po.data()); },
                     {"sample paths need a distribution model (this nhits model outputs point)"});
}

TEST(Predictor, BatchSplitDoesNotChangeResults) {
  Predictor p(make_artifact(kNhits), {.max_batch = 16});
  const std::size_t B = 133, L = 48, HQ = 12;
  const auto x = windows(B, L, 2);
  std::vector<float> y1(B * HQ), y2(B * HQ);
  set_num_threads(1);
  p.predict_batch(x.data(), B, y1.data());
  set_num_threads(2);
  p.predict_batch(x.data(), B, y2.data());
  set_num_threads(0);
  expect_bitwise(y1.data(), y2.data(), B * HQ, "1 vs 2 threads");
  Predictor wide(make_artifact(kNhits), {.max_batch = 128});
  // Another artifact object with the same weights (init seed) and a different chunk size.
  std::vector<float> y3(B * HQ);
  wide.predict_batch(x.data(), B, y3.data());
  expect_bitwise(y1.data(), y3.data(), B * HQ, "max_batch 16 vs 128");
  TensorPool pool;
  for (int i = 0; i < 3; ++i) {
    PooledTensor t = p.predict_batch(x.data(), B, pool);
    expect_bitwise(t.tensor().f32(), y1.data(), B * HQ, "pooled output");
  }
  EXPECT_EQ(pool.metrics().misses, 1u);
  EXPECT_EQ(pool.metrics().hits, 2u);
}

TEST(Predictor, LowPrecisionCloseToFp32AndArtifactsRoundTrip) {
  const Artifact a = make_artifact(kNhits, SeriesScaling::standard, WindowScaling::standard, 2);
  const std::size_t B = 64, L = 48, HQ = 12;
  const auto x = windows(B, L, 3);
  std::vector<std::size_t> series(B, 1);
  Predictor p32(quantize(a, Precision::fp32));
  std::vector<float> y32(B * HQ);
  p32.predict_batch(x.data(), B, y32.data(), series.data());
  const auto dir = std::filesystem::temp_directory_path() / ("ntn_pred_" + make_uuid());
  std::filesystem::create_directories(dir);
  for (Precision prec : {Precision::fp16, Precision::bf16, Precision::int8}) {
    const std::string what = precision_name(prec);
    Predictor on_the_fly(quantize(a, Precision::fp32), {.precision = prec});
    std::vector<float> y(B * HQ), y2(B * HQ);
    on_the_fly.predict_batch(x.data(), B, y.data(), series.data());
    // Forecasts are prices around 100 with a spread of a few units: compare the deviation
    // from the last input, where the model's work shows.
    double err = 0, spread = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < HQ; ++h) {
        const double last = x[b * L + L - 1];
        err = std::max(err, std::fabs(double(y[b * HQ + h]) - y32[b * HQ + h]));
        spread = std::max(spread, std::fabs(double(y32[b * HQ + h]) - last));
      }
    // Relative rounding of a weight: fp16 2^-11, bf16 2^-8, int8 per row ~1/254.
    EXPECT_LT(err, (prec == Precision::fp16 ? 2e-3 : prec == Precision::bf16 ? 1.5e-2 : 3e-2) * spread) << what;
    EXPECT_GT(err, 0.0) << what << " should differ from fp32 somewhere";
    // A quantised artifact saved and loaded serves bitwise what on-the-fly conversion serves.
    const std::string path = (dir / (what + ".ntn")).string();
    quantize(a, prec).save(path);
    Predictor stored(path, {.precision = prec});
    EXPECT_EQ(stored.artifact().precision, prec);
    stored.predict_batch(x.data(), B, y2.data(), series.data());
    expect_bitwise(y.data(), y2.data(), B * HQ, "stored vs on-the-fly " + what);
    EXPECT_LT(stored.packed_bytes(), p32.packed_bytes() / (prec == Precision::int8 ? 2.5 : 1.9)) << what;  // + int8 scales
  }
  std::filesystem::remove_all(dir);
  test::expect_error([&] { quantize(quantize(a, Precision::int8), Precision::fp16); }, {"already int8"});
  test::expect_error([&] { quantize(quantize(a, Precision::bf16), Precision::int8); }, {"already bf16"});
}

TEST(Predictor, BadInputIsAClearError) {
  Predictor p(make_artifact(kNhits, SeriesScaling::standard, WindowScaling::none, 2));
  auto x = windows(2, 48, 4);
  std::vector<float> y(2 * 12);
  x[5] = std::nanf("");
  test::expect_error([&] { p.predict(x.data(), y.data(), 0); }, {"position 5", "not finite"});
  x[5] = 1.0f;
  x[48 + 7] = INFINITY;
  test::expect_error([&] { p.predict_batch(x.data(), 2, y.data(), std::vector<std::size_t>{0, 1}.data()); },
                     {"row 1", "position 7"});
  x[48 + 7] = 1.0f;
  test::expect_error([&] { p.predict(x.data(), y.data()); }, {"name the series"});
  test::expect_error([&] { p.predict(x.data(), y.data(), 7); }, {"series index 7"});
  test::expect_error([&] { p.series_index("nope"); }, {"'nope'", "not in the training data"});
  EXPECT_EQ(p.series_index("s1"), 1u);
  EXPECT_EQ(p.latency().summary().count, 0u);  // failed calls are not timed
  p.predict(x.data(), y.data(), 1);
  EXPECT_EQ(p.latency().summary().count, 1u);
}

TEST(Predictor, PredictAllocatesNothingAfterWarmUp) {
  for (Precision prec : {Precision::fp32, Precision::fp16, Precision::bf16, Precision::int8})
    for (auto ws : {WindowScaling::standard, WindowScaling::robust}) {
      Predictor p(make_artifact(kNhits, SeriesScaling::standard, ws, 1), {.precision = prec, .max_batch = 32});
      const auto x = windows(100, 48, 5);
      std::vector<float> y(100 * 12);
      p.predict(x.data(), y.data());
      p.predict_batch(x.data(), 100, y.data());  // first parallel region: OpenMP starts its team
      const std::uint64_t before = allocations();
      for (int r = 0; r < 50; ++r) p.predict(x.data() + std::size_t(r) * 48, y.data());
      p.predict_batch(x.data(), 100, y.data());
      const std::uint64_t after = allocations();
      EXPECT_EQ(after - before, 0u) << precision_name(prec) << " " << window_scaling_name(ws);
    }
}

// RowTeam: every part of every job runs exactly once, whatever the helpers, the parts and the
// pauses between jobs (long enough for the helpers to fall asleep and be woken).
TEST(Predictor, ConcurrentRowTeamRunsEveryPartOnce) {
  for (std::size_t helpers : {0, 1, 3}) {
    RowTeam team(helpers);
    EXPECT_EQ(team.threads(), helpers + 1);
    std::vector<std::atomic<int>> hits(16);
    for (std::size_t job = 0; job < 300; ++job) {
      const std::size_t parts = 1 + job % 16;
      for (auto& h : hits) h.store(0);
      team.run(parts, [&](std::size_t part) { hits[part].fetch_add(1, std::memory_order_relaxed); });
      for (std::size_t p = 0; p < 16; ++p)
        ASSERT_EQ(hits[p].load(), p < parts ? 1 : 0) << "helpers " << helpers << " job " << job << " part " << p;
      if (job % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // helpers sleep
    }
  }
}

// A team destroyed (or given a job) before its helpers were ever scheduled: the helpers must
// still see the stop and the job (they once read the destructor's generation as their first
// "seen" one and slept forever, hanging `predict --stream` on its first bad line).
TEST(Predictor, ConcurrentRowTeamDestroyedBeforeItsHelpersRun) {
  for (int i = 0; i < 2000; ++i) {
    RowTeam team(1 + i % 3);
    if (i % 2) {
      std::atomic<int> hits{0};
      team.run(3, [&](std::size_t) { hits.fetch_add(1); });
      ASSERT_EQ(hits.load(), 3);
    }
  }
}

// forecast_threads: one batch-1 forecast split over 2 or 3 threads is bitwise the one-thread
// forecast at every precision (NHITS with 640-wide layers: above the split's size bound at every
// precision; a GRU with a 512-state whose step product splits), allocates nothing after warm-up,
// and two callers at once (a team per workspace) still get the one-thread results.
TEST(Predictor, ConcurrentForecastThreadsGiveTheOneThreadForecast) {
  const json big_nhits = {{"type", "nhits"}, {"input_size", 48}, {"horizon", 12}, {"mlp_units", {{640, 640}}}};
  const json big_gru = {{"type", "gru"}, {"input_size", 24}, {"horizon", 6}, {"encoder_hidden_size", 512},
                        {"encoder_n_layers", 1}};
  for (const json& cfg : {big_nhits, big_gru})
    for (Precision prec : {Precision::fp32, Precision::fp16, Precision::bf16, Precision::int8}) {
      const std::string what = cfg["type"].get<std::string>() + " " + precision_name(prec);
      const Artifact a = make_artifact(cfg, SeriesScaling::standard, WindowScaling::none, 1);
      Predictor one(quantize(a, Precision::fp32), {.precision = prec});
      const std::size_t L = one.input_size(), HQ = one.output_size(), N = 24;
      const auto x = windows(N, L, 8);
      std::vector<float> want(N * HQ);
      for (std::size_t i = 0; i < N; ++i) one.predict(x.data() + i * L, want.data() + i * HQ);
      for (std::size_t threads : {2, 3}) {
        Predictor split(quantize(a, Precision::fp32), {.precision = prec, .workspaces = 2, .forecast_threads = threads});
        std::vector<float> y(HQ);
        split.predict(x.data(), y.data());
        const std::uint64_t before = allocations();
        for (std::size_t i = 0; i < N; ++i) {
          split.predict(x.data() + i * L, y.data());
          ASSERT_EQ(std::memcmp(y.data(), want.data() + i * HQ, HQ * 4), 0) << what << " threads " << threads << " window " << i;
        }
        EXPECT_EQ(allocations() - before, 0u) << what;
        EXPECT_GE(split.split_jobs(), N) << what << ": no layer was split";
        std::vector<int> bad(2, 0);
        std::vector<std::thread> callers;
        for (int t = 0; t < 2; ++t)
          callers.emplace_back([&, t] {
            std::vector<float> yt(HQ);
            for (std::size_t r = 0; r < 40; ++r) {
              const std::size_t i = (r * 5 + std::size_t(t)) % N;
              split.predict(x.data() + i * L, yt.data());
              if (std::memcmp(yt.data(), want.data() + i * HQ, HQ * 4) != 0) ++bad[std::size_t(t)];
            }
          });
        for (auto& c : callers) c.join();
        EXPECT_EQ(bad[0] + bad[1], 0) << what << " threads " << threads;
      }
    }
  test::expect_error([] { Predictor p(make_artifact(kNhits), {.forecast_threads = 0}); }, {"forecast_threads must be 1..256"});
}

TEST(Predictor, ConcurrentCallersGetTheSingleThreadResults) {
  Predictor p(make_artifact(kNhits, SeriesScaling::standard, WindowScaling::standard, 1),
              {.precision = Precision::int8, .workspaces = 1});
  const std::size_t N = 64, L = 48, HQ = 12;
  const auto x = windows(N, L, 6);
  std::vector<float> want(N * HQ);
  for (std::size_t i = 0; i < N; ++i) p.predict(x.data() + i * L, want.data() + i * HQ);
  ForecastCache cache(L, HQ, {.capacity = 16});
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> y(HQ);
      for (int r = 0; r < 200; ++r) {
        const std::size_t i = std::size_t(r * 7 + t) % N;
        if (r % 2)
          p.predict(x.data() + i * L, y.data());
        else
          predict_cached(p, cache, x.data() + i * L, y.data());
        if (std::memcmp(y.data(), want.data() + i * HQ, HQ * 4) != 0) ++bad[std::size_t(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[std::size_t(t)], 0) << "thread " << t;
  EXPECT_EQ(p.latency().summary().count, N + 4 * 100 + cache.metrics().misses);
}

TEST(Streaming, EqualsPredictOnTheSameWindow) {
  for (auto ws : {WindowScaling::none, WindowScaling::standard, WindowScaling::robust}) {
    Predictor p(make_artifact(kNhits, SeriesScaling::standard, ws, 2));
    StreamingPredictor s(p, 1);
    const auto values = windows(1, 48 * 60, 7);  // 2880 ticks: many exact recomputations
    std::vector<float> y(12), want(12);
    std::size_t forecasts = 0;
    for (std::size_t t = 0; t < values.size(); ++t) {
      const bool ready = s.push(values[t], y.data());
      ASSERT_EQ(ready, t + 1 >= 48) << t;
      if (!ready) continue;
      ASSERT_EQ(std::memcmp(s.window(), values.data() + t + 1 - 48, 48 * 4), 0) << "window at tick " << t;
      p.predict(values.data() + t + 1 - 48, want.data(), 1);
      for (std::size_t h = 0; h < 12; ++h)
        ASSERT_NEAR(y[h], want[h], 1e-4f * (1.0f + std::fabs(want[h]))) << window_scaling_name(ws) << " tick " << t;
      ++forecasts;
    }
    EXPECT_EQ(forecasts, values.size() - 47);
    test::expect_error([&] { s.push(NAN, y.data()); }, {"not finite"});
    EXPECT_EQ(std::memcmp(s.window(), values.data() + values.size() - 48, 48 * 4), 0) << "NaN changed the window";
  }
}

TEST(Streaming, ConstantSeriesGivesAFiniteForecast) {
  Predictor p(make_artifact(kNhits, SeriesScaling::none, WindowScaling::standard));
  StreamingPredictor s(p);
  std::vector<float> y(12);
  for (int t = 0; t < 100; ++t) s.push(42.0f, y.data());
  for (float v : y) EXPECT_TRUE(std::isfinite(v));
}

// A carried-state stream (LSTM) refuses a tick that is not finite once scaled (a series scaled
// by 1e-3: 1e36 becomes 1e39), naming it, and a failed tick leaves the stream exactly as it was.
TEST(Streaming, CarriedStateRefusesAnOverflowingTickAndStaysIntact) {
  Artifact a;
  a.model = make_model<float>({{"type", "lstm"}, {"input_size", 8}, {"horizon", 3}, {"encoder_hidden_size", 6},
                               {"decoder_layers", 0}});
  a.model->init(2);
  a.scaling = SeriesScaling::standard;
  a.series = {"s"};
  a.stats = {NormStats{0.0, 1e-3}};
  a.uuid = make_uuid();
  a.version = "test";
  Predictor p(std::move(a));
  StreamingPredictor s(p);
  ASSERT_TRUE(s.carries_state());
  std::vector<float> y(3), again(3);
  for (int t = 0; t < 20; ++t) s.push(0.001f * float(t % 5), y.data());
  const std::string before = s.snapshot();
  test::expect_error([&] { s.push(1e36f, y.data()); }, {"stream value 1e+36", "beyond float32 once scaled"});
  EXPECT_THROW(s.push(std::nanf(""), y.data()), Error);
  EXPECT_EQ(s.snapshot(), before);
  EXPECT_EQ(s.ticks(), 20u);
  s.push(0.002f, y.data());  // the stream goes on as if the bad ticks never came
  StreamingPredictor r(p);
  r.restore(before);
  r.push(0.002f, again.data());
  EXPECT_EQ(std::memcmp(y.data(), again.data(), 3 * sizeof(float)), 0);
}

TEST(Cache, HitsMissesLruAndExactKeys) {
  const std::size_t L = 4, HQ = 2;
  ForecastCache c(L, HQ, {.capacity = 2});
  const float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5}, d[4] = {9, 9, 9, 9};
  const float ya[2] = {10, 11}, yb[2] = {20, 21}, yd[2] = {30, 31};
  float y[2];
  EXPECT_FALSE(c.get(1, 0, a, y));
  c.put(1, 0, a, ya);
  c.put(1, 0, b, yb);
  ASSERT_TRUE(c.get(1, 0, a, y));
  EXPECT_EQ(y[0], 10);
  EXPECT_FALSE(c.get(2, 0, a, y)) << "another model";
  EXPECT_FALSE(c.get(1, 1, a, y)) << "another series";
  c.put(1, 0, d, yd);  // evicts b, the least recently used
  EXPECT_FALSE(c.get(1, 0, b, y));
  ASSERT_TRUE(c.get(1, 0, d, y));
  EXPECT_EQ(y[1], 31);
  ASSERT_TRUE(c.get(1, 0, a, y));
  const auto m = c.metrics();
  EXPECT_EQ(m.hits, 3u);
  EXPECT_EQ(m.misses, 4u);
  EXPECT_EQ(m.evictions, 1u);
  EXPECT_EQ(m.size, 2u);
  c.clear();
  EXPECT_FALSE(c.get(1, 0, a, y));
}

TEST(Cache, ManyKeysThroughEvictionStayConsistent) {
  const std::size_t L = 3, cap = 64;
  ForecastCache c(L, 1, {.capacity = cap});
  for (int i = 0; i < 5000; ++i) {  // keys i and their values; the last `cap` must all be present
    const float x[3] = {float(i), float(i % 7), 1.0f}, v = float(i) * 2.0f;
    c.put(9, 0, x, &v);
  }
  for (int i = 0; i < 5000; ++i) {
    const float x[3] = {float(i), float(i % 7), 1.0f};
    float v = -1;
    const bool hit = c.get(9, 0, x, &v);
    EXPECT_EQ(hit, i >= 5000 - int(cap)) << i;
    if (hit) {
      EXPECT_EQ(v, float(i) * 2.0f);
    }
  }
}

TEST(Cache, ToleranceSharesNearlyIdenticalWindows) {
  ForecastCache c(3, 1, {.capacity = 8, .tolerance = 0.01f});
  const float a[3] = {100.001f, 50.0f, 7.0f}, b[3] = {100.003f, 50.002f, 7.001f}, far[3] = {100.02f, 50.0f, 7.0f};
  const float v = 1.0f;
  float y;
  c.put(1, 0, a, &v);
  EXPECT_TRUE(c.get(1, 0, b, &y));
  EXPECT_FALSE(c.get(1, 0, far, &y));
  const float huge[3] = {1e30f, 0, 0};
  c.put(1, 0, huge, &v);  // off the grid: not cached
  EXPECT_FALSE(c.get(1, 0, huge, &y));
  test::expect_error([] { ForecastCache(3, 1, {.capacity = 0}); }, {"capacity"});
}

TEST(Latency, PercentilesWithinTheBucketError) {
  LatencyStats s(/*target_us=*/50);
  for (std::uint64_t i = 1; i <= 1000; ++i) s.record(i * 100);  // 0.1 .. 100 us
  const LatencySummary m = s.summary();
  EXPECT_EQ(m.count, 1000u);
  EXPECT_NEAR(m.mean_us, 50.05, 1e-9);
  EXPECT_EQ(m.max_us, 100.0);
  EXPECT_GE(m.p50_us, 50.0);
  EXPECT_LE(m.p50_us, 50.0 * 1.032);
  EXPECT_GE(m.p99_us, 99.0);
  EXPECT_LE(m.p99_us, 100.0);
  EXPECT_EQ(m.violations, 500u);  // 50.1 .. 100 us
  s.reset();
  EXPECT_EQ(s.summary().count, 0u);
  s.record(7);  // tiny values are exact
  EXPECT_EQ(s.summary().p50_us, 0.007);
}

}  // namespace
}  // namespace ntn
