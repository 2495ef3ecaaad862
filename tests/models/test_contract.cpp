// The model contract, run for every row of the registry (model_registry()): a model gets all of
// it by being registered. Each check uses the row's tiny config.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "expect_error.h"
#include "model_checks.h"
#include "ntn/models.h"
#include "ntn/predictor.h"
#include "ntn/trainer.h"

namespace ntn {
namespace {

using nlohmann::json;

class Contract : public testing::TestWithParam<std::string> {
 protected:
  const ModelInfo& info() const {
    for (const ModelInfo& m : model_registry())
      if (m.name == GetParam()) return m;
    throw Error(cat("no registry row ", GetParam()));
  }
  json tiny() const { return info().tiny_config; }
  // The tiny config with every covariate kind the row takes (skips the test when it takes none).
  json tiny_cov() const {
    if (info().covariates.empty()) return {};
    return test::with_covariates(tiny(), info());
  }
  // A float artifact of the tiny model (trained weights are not needed: init is enough).
  Artifact artifact() const {
    Artifact a;
    a.model = make_model<float>(tiny());
    a.model->init(5);
    a.scaling = SeriesScaling::standard;
    a.series = {"s"};
    a.stats = {NormStats{100.0, 4.0}};
    if (info().outputs == std::vector<std::string>{"distribution"})  // its config names the distribution
      a.output = OutputSpec::distribution(parse_dist(a.model->config().at("distribution").get<std::string>()));
    a.uuid = make_uuid();
    a.version = "contract";
    return a;
  }
  static std::vector<float> windows(std::size_t B, std::size_t L) {
    std::vector<float> x(B * L);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 100.0f + 3.0f * std::sin(0.37f * float(i));
    return x;
  }
};

TEST_P(Contract, RegistryRowIsComplete) {
  for (const ModelInfo& m : model_registry()) {
    if (m.name != GetParam()) continue;
    EXPECT_FALSE(m.summary.empty());
    EXPECT_FALSE(m.outputs.empty());
    EXPECT_EQ(m.tiny_config.value("type", ""), m.name);
    EXPECT_EQ(&model_info(m.name), &m);
    // The capabilities the row claims are the model's: a state to carry, paths of its own.
    const auto model = make_model<float>(tiny());
    EXPECT_EQ(m.streaming, model->make_state() != nullptr);
    if (!m.ancestral) {
      Batch<float> in;
      EXPECT_THROW(model->sample(in, 1, 1, 0, nullptr), Error);
    }
  }
  test::expect_error([] { model_info("lstm9"); }, {"unknown model type 'lstm9': expected one of nhits"});
}

TEST_P(Contract, ConfigRoundTrip) {
  const auto m = make_model<float>(tiny());
  const auto again = make_model<float>(m->config());
  EXPECT_EQ(again->config(), m->config());
  EXPECT_EQ(again->type(), GetParam());
  ASSERT_EQ(again->params().entries().size(), m->params().entries().size());
  for (std::size_t i = 0; i < m->params().entries().size(); ++i) {
    EXPECT_EQ(again->params().entries()[i].name, m->params().entries()[i].name);
    EXPECT_EQ(again->params().entries()[i].shape, m->params().entries()[i].shape);
  }
}

// A row fitted per window (direct_fit) has nothing to learn: no parameters, and backward refuses,
// naming why. Returns true for such a row (its gradient checks do not apply).
bool fitted_directly(const ModelInfo& info, const json& cfg) {
  const auto m = make_model<double>(cfg);
  EXPECT_EQ(m->fits_directly(), info.direct_fit);
  if (!info.direct_fit) return false;
  EXPECT_EQ(m->params().count(), 0u);
  auto ws = m->make_workspace(1);
  std::vector<double> dy(m->horizon() * m->outputs(), 1.0);
  test::expect_error([&] { m->backward(*ws, dy.data(), nullptr, nullptr, 1, {}); }, {"not trained by gradient steps"});
  return true;
}

TEST_P(Contract, GradientsByFiniteDifferencesInDouble) {
  if (fitted_directly(info(), tiny())) GTEST_SKIP() << GetParam() << " is fitted per window: no gradients";
  test::check_model_gradients(tiny(), 2);
}

void float_matches_double(const json& cfg) {
  auto mf = make_model<float>(cfg);
  auto md = make_model<double>(cfg);
  mf->init(9);
  md->init(9);
  const std::size_t B = 3, HQ = mf->horizon() * mf->outputs();
  const test::RandBatch<float> inf(*mf, B, 5);
  const test::RandBatch<double> ind(*md, B, 5);
  std::vector<float> yf(B * HQ);
  std::vector<double> yd(B * HQ);
  auto wf = mf->make_workspace(B);
  auto wd = md->make_workspace(B);
  mf->forward(*wf, inf.batch, yf.data(), {});
  md->forward(*wd, ind.batch, yd.data(), {});
  for (std::size_t i = 0; i < yf.size(); ++i)
    EXPECT_NEAR(yf[i], yd[i], 1e-4 * (1 + std::fabs(yd[i]))) << cfg.dump() << " " << i;
}

TEST_P(Contract, FloatForwardMatchesDouble) { float_matches_double(tiny()); }

TEST_P(Contract, BackwardOverwriteEqualsZeroThenAccumulate) {
  if (fitted_directly(info(), tiny())) GTEST_SKIP() << GetParam() << " is fitted per window: no gradients";
  test::check_overwrite_equals_accumulate(tiny());
}

// The same checks with every covariate kind the row declares, and each kind must move the
// forecast (a covariate silently ignored would pass the checks above). A row that declares no
// covariate must refuse them, naming the field.
TEST_P(Contract, CovariatesGradientsFloatDoubleAndEffect) {
  if (info().covariates.empty()) {
    for (const char* f : {"hist_exog", "futr_exog", "stat_exog"}) {
      json cfg = tiny();
      cfg[f] = 1;
      try {
        make_model<float>(cfg);
        ADD_FAILURE() << GetParam() << " accepted " << f;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
      }
    }
    GTEST_SKIP() << GetParam() << " takes no covariates";
  }
  const json cfg = tiny_cov();
  if (!fitted_directly(info(), cfg)) {
    test::check_model_gradients(cfg, 2);
    test::check_overwrite_equals_accumulate(cfg);
  }
  float_matches_double(cfg);
  auto m = make_model<double>(cfg);
  m->init(4);
  const Covariates c = m->covariates();
  const std::size_t B = 2, HQ = m->horizon() * m->outputs(), L = m->input_size(), H = m->horizon();
  test::RandBatch<double> in(*m, B, 11);
  auto ws = m->make_workspace(B);
  std::vector<double> base(B * HQ), moved(B * HQ);
  m->forward(*ws, in.batch, base.data(), {});
  // One element of each kind: the last historic step, the last future step (beyond the
  // history: only a model that reads the future part sees it), the last static value.
  struct Poke {
    const char* kind;
    std::vector<double>* v;
    std::size_t index;
  };
  std::vector<Poke> pokes;
  if (c.hist) pokes.push_back({"historic", &in.hist, (L - 1) * c.hist});
  if (c.futr) pokes.push_back({"future", &in.futr, (L + H - 1) * c.futr});
  if (c.stat) pokes.push_back({"static", &in.stat, c.stat - 1});
  ASSERT_EQ(pokes.size(), info().covariates.size());
  for (const Poke& p : pokes) {
    const double keep = (*p.v)[p.index];
    (*p.v)[p.index] += 1.5;
    m->forward(*ws, in.batch, moved.data(), {});
    (*p.v)[p.index] = keep;
    double diff = 0;
    for (std::size_t i = 0; i < HQ; ++i) diff += std::fabs(moved[i] - base[i]);  // row 0 only was poked
    EXPECT_GT(diff, 1e-9) << GetParam() << ": the " << p.kind << " covariate does not reach the forecast";
    for (std::size_t i = HQ; i < B * HQ; ++i) ASSERT_EQ(moved[i], base[i]) << "row 1 changed";
  }
}

// Save -> load gives the same forecasts; the loaded predictor (packed weights, from the file)
// equals the in-memory one and the training-time forward, bitwise; single == batch.
TEST_P(Contract, SaveLoadPredictorEqualsTrainingForwardBitwise) {
  Artifact a = artifact();
  const std::size_t L = a.model->input_size(), HQ = a.model->horizon() * a.model->outputs(), B = 5;
  const auto x = windows(B, L);
  // Training-time path: series-scale by hand, predict_windows, unscale.
  SeriesStore store;
  for (std::size_t b = 0; b < B; ++b) {
    std::vector<float> v(L);
    normalize(a.stats[0], x.data() + b * L, v.data(), L);
    store.add("w" + std::to_string(b), v.data(), L);
  }
  std::vector<WindowRef> refs;
  for (std::size_t b = 0; b < B; ++b) refs.push_back({std::uint32_t(b), 0});
  std::vector<float> want(B * HQ);
  predict_windows(*a.model, store, refs, a.window_scaling, want.data(), 1024, &a.output);
  if (a.output.kind == OutputKind::distribution)  // per parameter: a scale is never shifted
    unscale_outputs(a.output, std::vector<NormStats>(B, a.stats[0]).data(), want.data(), B, a.model->horizon());
  else
    denormalize(a.stats[0], want.data(), want.data(), B * HQ);

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ntn_contract_" + GetParam() + "_" + std::to_string(::getpid()) + ".ntn"))
                               .string();
  a.save(path);
  Predictor from_file(path);
  std::filesystem::remove(path);
  Predictor in_memory(std::move(a));
  std::vector<float> batch(B * HQ), memory(B * HQ), one(HQ);
  from_file.predict_batch(x.data(), B, batch.data());
  in_memory.predict_batch(x.data(), B, memory.data());
  ASSERT_EQ(std::memcmp(batch.data(), want.data(), want.size() * 4), 0)
      << "file predictor != training forward";
  ASSERT_EQ(std::memcmp(memory.data(), want.data(), want.size() * 4), 0)
      << "memory predictor != training forward";
  for (std::size_t b = 0; b < B; ++b) {
    from_file.predict(x.data() + b * L, one.data());
    ASSERT_EQ(std::memcmp(one.data(), want.data() + b * HQ, HQ * 4), 0) << "single != batch, row " << b;
  }
}

// A model served from a file never holds its packed matrices in params() (they stay zero; only
// the packed copy has them). Any product that bypassed the linear entry point would forecast from
// zeros: the forward without the packed runner must refuse instead, and the file predictor must
// still equal the in-memory one (above). This would have caught a layer calling Linear directly.
TEST_P(Contract, ServedMatricesLiveOnlyInThePackedCopy) {
  Artifact a = artifact();
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ntn_contract_served_" + GetParam() + "_" + std::to_string(::getpid()) + ".ntn"))
                               .string();
  a.save(path);
  Artifact served = Artifact::load(path, /*linear_weights=*/false);
  std::filesystem::remove(path);
  const auto& ps = served.model->params();
  ASSERT_TRUE(ps.matrices_elsewhere());
  std::size_t packed = 0;
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    if (!e.packed()) continue;
    ++packed;
    for (std::size_t j = 0; j < e.size; ++j) ASSERT_EQ(ps.value(i)[j], 0.0f) << e.name;
  }
  const std::size_t L = served.model->input_size();
  if (info().direct_fit) {  // nothing to pack: the served model forecasts from its configuration alone
    EXPECT_EQ(packed, 0u);
    GTEST_SKIP() << GetParam() << " has no weights";
  }
  EXPECT_GT(packed, 0u);
  auto ws = served.model->make_workspace(1);
  const auto x = windows(1, L);
  std::vector<float> y(served.model->horizon() * served.model->outputs());
  try {
    served.model->forward(*ws, x.data(), y.data(), 1, nn::RunCtx{});
    ADD_FAILURE() << "a forward without the packed weights ran on zero matrices";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("packed"), std::string::npos) << e.what();
  }
}

TEST_P(Contract, PredictAllocatesNothingAfterWarmUp) {
  Predictor p(artifact());
  const std::size_t L = p.input_size();
  const auto x = windows(8, L);
  std::vector<float> y(8 * p.output_size());
  p.predict(x.data(), y.data());
  p.predict_batch(x.data(), 8, y.data());
  const std::uint64_t before = allocations();
  for (std::size_t r = 0; r < 8; ++r) p.predict(x.data() + r * L, y.data());
  p.predict_batch(x.data(), 8, y.data());
  EXPECT_EQ(allocations() - before, 0u);
}

// Streaming (rows with streaming = true): a fresh state fed the L values of a window, tick by
// tick, forecasts what the batch forward gives for that window (double: the same maths, so to
// rounding). A row without streaming must have no state and refuse step().
TEST_P(Contract, StreamingEqualsBatch) {
  auto m = make_model<double>(tiny());
  m->init(6);
  if (!info().streaming) {
    EXPECT_EQ(m->make_state(), nullptr);
    struct NoState final : Model<double>::State {
      double* values() override { return nullptr; }
      std::size_t size() const override { return 0; }
    };
    NoState st;
    std::vector<double> tick(1, 0.0), y(m->horizon() * m->outputs());
    EXPECT_THROW(m->step(st, tick.data(), y.data()), Error);
    GTEST_SKIP() << GetParam() << " does not stream";
  }
  const std::size_t L = m->input_size(), HQ = m->horizon() * m->outputs();
  const auto x = test::rand_d(L, 21, -1, 1);
  std::vector<double> want(HQ), got(HQ);
  auto ws = m->make_workspace(1);
  m->forward(*ws, x.data(), want.data(), 1, {});
  auto state = m->make_state();
  ASSERT_NE(state, nullptr);
  for (std::size_t t = 0; t < L; ++t) m->step(*state, &x[t], got.data());
  for (std::size_t i = 0; i < HQ; ++i) EXPECT_NEAR(got[i], want[i], 1e-9 * (1 + std::fabs(want[i]))) << i;
}

// A live stream over thousands of ticks (rows with streaming = true): the carried state of a
// StreamingPredictor, after T ticks, forecasts bitwise what the batch predictor gives for the
// whole T-value history (the same weights in a model whose window is T), at fp32 and int8; a
// snapshot taken mid-stream and restored into a new stream continues bitwise the same; a tick
// allocates nothing.
TEST_P(Contract, CarriedStateOverThousandsOfTicksEqualsBatchOverTheHistory) {
  if (!info().streaming) GTEST_SKIP() << GetParam() << " does not stream";
  const std::size_t T = 3000;
  // The tiny model, and the same weights in a model whose window is T.
  auto pair = [&] {
    std::pair<Artifact, Artifact> p{artifact(), artifact()};
    json long_cfg = p.first.model->config();
    long_cfg["input_size"] = T;
    p.second.model = make_model<float>(long_cfg);
    const auto& ps = p.first.model->params();
    auto& pw = p.second.model->params();
    EXPECT_EQ(ps.entries().size(), pw.entries().size());
    for (std::size_t i = 0; i < ps.entries().size() && i < pw.entries().size(); ++i) {
      EXPECT_EQ(ps.entries()[i].shape, pw.entries()[i].shape) << "a streaming model's weights depend on the window";
      std::memcpy(pw.value(i), ps.value(i), std::min(ps.entries()[i].size, pw.entries()[i].size) * sizeof(float));
    }
    return p;
  };
  std::vector<float> series(T);
  float v = 100.0f;
  for (std::size_t t = 0; t < T; ++t) series[t] = v += 2.0f * std::sin(0.013f * float(t * t % 977)) - 0.01f;
  for (Precision prec : {Precision::fp32, Precision::int8}) {
    SCOPED_TRACE(precision_name(prec));
    auto [small, whole] = pair();
    Predictor ps_small(std::move(small), {.precision = prec});
    Predictor ps_whole(std::move(whole), {.precision = prec});
    const std::size_t L = ps_small.input_size(), HQ = ps_small.output_size();
    StreamingPredictor s(ps_small);
    ASSERT_TRUE(s.carries_state());
    std::vector<float> got(HQ), want(HQ), first(HQ), resumed(HQ);
    std::string snap;
    std::uint64_t allocs = 0;
    for (std::size_t t = 0; t < T; ++t) {
      if (t == T / 2) snap = s.snapshot();
      const std::uint64_t before = allocations();
      const bool full = s.push(series[t], got.data());
      allocs += allocations() - before;
      ASSERT_EQ(full, t + 1 >= L) << "tick " << t;
      if (t + 1 == L) {  // a fresh state over exactly one window: the window's batch forecast
        ps_small.predict(series.data(), first.data());
        ASSERT_EQ(std::memcmp(got.data(), first.data(), HQ * 4), 0) << "first full window";
      }
    }
    EXPECT_EQ(allocs, 0u) << "allocations while streaming";
    ps_whole.predict(series.data(), want.data());
    ASSERT_EQ(std::memcmp(got.data(), want.data(), HQ * 4), 0) << "stream after " << T << " ticks != batch over them";
    StreamingPredictor r(ps_small);
    r.restore(snap);
    EXPECT_EQ(r.ticks(), T / 2);
    for (std::size_t t = T / 2; t < T; ++t) r.push(series[t], resumed.data());
    EXPECT_EQ(std::memcmp(resumed.data(), want.data(), HQ * 4), 0) << "resumed stream";
    // A damaged or foreign snapshot is refused and leaves the stream as it was.
    std::string bad = snap;
    bad[bad.size() / 2] ^= 1;
    EXPECT_THROW(r.restore(bad), Error);
    EXPECT_THROW(r.restore(snap.substr(0, snap.size() - 9)), Error);
    StreamingPredictor other(ps_whole);
    EXPECT_THROW(other.restore(snap), Error);
    EXPECT_EQ(r.ticks(), T);
  }
}

// The served path with every covariate kind the row takes: a Predictor loaded from the file,
// given raw covariates, equals the training-time forward on the same (scaled) batch.
TEST_P(Contract, PredictorWithCovariatesEqualsTrainingForward) {
  if (info().covariates.empty()) GTEST_SKIP() << GetParam() << " takes no covariates";
  Artifact a = artifact();
  a.model = make_model<float>(tiny_cov());
  a.model->init(8);
  const Covariates c = a.model->covariates();
  for (std::size_t i = 0; i < c.hist; ++i) a.covariates.hist.push_back({cat("h", i), NormStats{10.0 * double(i), 3.0}});
  for (std::size_t i = 0; i < c.futr; ++i) a.covariates.futr.push_back({cat("f", i), NormStats{-1.0, 0.5}});
  for (std::size_t i = 0; i < c.stat; ++i) a.covariates.stat.push_back({cat("s", i), NormStats{}});
  const std::size_t L = a.model->input_size(), H = a.model->horizon(), HQ = H * a.model->outputs(), B = 3;
  // Scaled inputs (what training sees) and their raw counterparts (what a user gives).
  const test::RandBatch<float> in(*a.model, B, 31);
  std::vector<float> want(B * HQ);
  auto ws = a.model->make_workspace(B);
  a.model->forward(*ws, in.batch, want.data(), {});
  if (a.output.kind == OutputKind::distribution)  // per parameter: a scale is never shifted
    unscale_outputs(a.output, std::vector<NormStats>(B, a.stats[0]).data(), want.data(), B, H);
  else
    for (float& v : want) v = float(double(v) * a.stats[0].scale + a.stats[0].center);
  auto raw = [](const std::vector<float>& v, std::size_t C, const std::vector<CovariateColumn>& cols) {
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) r[i] = double(v[i]) * cols[i % C].stats.scale + cols[i % C].stats.center;
    return r;
  };
  std::vector<double> x(B * L), hist = c.hist ? raw(in.hist, c.hist, a.covariates.hist) : std::vector<double>{},
                                futr = c.futr ? raw(in.futr, c.futr, a.covariates.futr) : std::vector<double>{},
                                stat(in.stat.begin(), in.stat.end()), got(B * HQ);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = double(in.y[i]) * a.stats[0].scale + a.stats[0].center;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ntn_contract_cov_" + GetParam() + "_" + std::to_string(::getpid()) + ".ntn"))
                               .string();
  a.save(path);
  Predictor p(path);
  std::filesystem::remove(path);
  p.predict_batch(x.data(), B, got.data(), RawCovariates{hist.data(), futr.data(), stat.data()});
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 2e-5 * std::fabs(want[i])) << i;
}

INSTANTIATE_TEST_SUITE_P(Registry, Contract, testing::ValuesIn(model_types()),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace ntn
