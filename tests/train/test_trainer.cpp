#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ntn/cpu.h"
#include "ntn/error.h"
#include "ntn/kernels.h"
#include "ntn/parallel.h"
#include "ntn/rng.h"
#include "ntn/trainer.h"
#include "train_util.h"

namespace ntn {
namespace {

using nlohmann::json;

using test::sine_store;

const json kSmall = {{"type", "nhits"}, {"input_size", 24}, {"horizon", 6}, {"mlp_units", {{32, 32}}},
                     {"dropout", 0.1}};

TrainConfig small_cfg() {
  TrainConfig c;
  c.max_steps = 30;
  c.batch_size = 16;
  c.micro_batches = 3;
  c.seed = 7;
  c.loss = parse_loss("mae");
  c.optim.lr = 1e-3f;
  c.val_every = 10;
  c.log_every = 0;
  return c;
}

std::vector<float> train_weights(int threads, const TrainConfig& cfg, const SeriesStore& store) {
  set_num_threads(threads);
  auto m = make_model<float>(kSmall);
  m->init(1);
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  Trainer tr(*m, store, train, val, cfg);
  tr.run();
  set_num_threads(0);
  return std::vector<float>(m->params().values(), m->params().values() + m->params().slab_size());
}

TEST(Trainer, BitwiseIdenticalWeightsOnOneAndTwoThreads) {
  const SeriesStore store = sine_store();
  const auto w1 = train_weights(1, small_cfg(), store);
  const auto w2 = train_weights(2, small_cfg(), store);
  ASSERT_EQ(w1.size(), w2.size());
  EXPECT_EQ(std::memcmp(w1.data(), w2.data(), w1.size() * sizeof(float)), 0);
  // One micro-batch: the second thread splits the matrix products inside it by rows; still
  // bitwise the same. Wide layers, so that the products really are split.
  TrainConfig one = small_cfg();
  one.micro_batches = 1;
  one.batch_size = 64;
  one.max_steps = 10;
  set_num_threads(1);
  auto big = [&](int threads) {
    set_num_threads(threads);
    auto m = make_model<float>({{"type", "nhits"}, {"input_size", 24}, {"horizon", 6}, {"mlp_units", {{256, 256}}}});
    m->init(1);
    Trainer tr(*m, store, make_windows(store, {24, 6}, Split{0, 0, 400}), {}, one);
    tr.run();
    set_num_threads(0);
    return std::vector<float>(m->params().values(), m->params().values() + m->params().slab_size());
  };
  const auto b1 = big(1), b2 = big(2);
  EXPECT_EQ(std::memcmp(b1.data(), b2.data(), b1.size() * sizeof(float)), 0);
  // and the weights moved
  auto m = make_model<float>(kSmall);
  m->init(1);
  EXPECT_NE(std::memcmp(w1.data(), m->params().values(), w1.size() * sizeof(float)), 0);
}

// Two small trainings that go through every path whose bits we promise: NHITS (max pooling,
// interpolation, dropout, MAE, standard window scaling, gradient clipping, cosine schedule, 3
// micro-batches, validation) and an interpretable N-BEATS (polynomial and Fourier bases, Huber
// loss, AdamW, step schedule, one micro-batch). Returns both weight slabs, concatenated.
std::vector<float> isa_probe_weights() {
  const SeriesStore store = sine_store();
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  std::vector<float> out;
  {
    auto m = make_model<float>(kSmall);
    m->init(1);
    TrainConfig c = small_cfg();
    c.window_scaling = WindowScaling::standard;
    c.clip_norm = 0.5f;
    c.schedule.name = "cosine";
    derive_schedule(c, train.size());
    Trainer tr(*m, store, train, val, c);
    tr.run();
    out.insert(out.end(), m->params().values(), m->params().values() + m->params().slab_size());
  }
  {
    auto m = make_model<float>({{"type", "nbeats"}, {"input_size", 24}, {"horizon", 6}, {"mlp_units", {{32, 32}}},
                                {"stack_types", {"trend", "seasonality"}}});
    m->init(2);
    TrainConfig c = small_cfg();
    c.micro_batches = 1;
    c.loss = parse_loss("huber", {}, 0.5f);
    c.optim.name = "adamw";
    c.optim.weight_decay = 1e-2f;
    c.schedule.name = "step";
    derive_schedule(c, train.size());
    Trainer tr(*m, store, train, val, c);
    tr.run();
    out.insert(out.end(), m->params().values(), m->params().values() + m->params().slab_size());
  }
  return out;
}

// Run as a child process by Trainer.BitwiseIdenticalWeightsOnEveryIsa (with NTN_ISA set), it
// writes the probe weights to the file NTN_TEST_WEIGHTS_OUT names; skipped otherwise.
TEST(TrainerIsaWorker, WriteWeights) {
  const char* path = std::getenv("NTN_TEST_WEIGHTS_OUT");
  if (!path) GTEST_SKIP() << "a child process of Trainer.BitwiseIdenticalWeightsOnEveryIsa";
  const auto w = isa_probe_weights();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(w.data()), std::streamsize(w.size() * sizeof(float)));
  ASSERT_TRUE(f.good());
}

// The same seed gives the same weights, bit for bit, whatever instruction set the kernels use
// (NTN_ISA=scalar, avx2, avx512: each supported one runs in its own process).
TEST(Trainer, BitwiseIdenticalWeightsOnEveryIsa) {
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  self[len] = 0;
  const auto mine = isa_probe_weights();  // this process: the best ISA (or the NTN_ISA cap)
  for (Isa isa : supported_isas()) {
    const std::string out = (std::filesystem::temp_directory_path() /
                             ("ntn_isa_" + std::to_string(::getpid()) + "_" + isa_name(isa)))
                                .string();
    const std::string cmd = std::string("NTN_ISA=") + isa_name(isa) + " NTN_TEST_WEIGHTS_OUT='" + out + "' '" + self +
                            "' --gtest_filter=TrainerIsaWorker.WriteWeights > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream f(out, std::ios::binary);
    std::vector<float> w(mine.size());
    f.read(reinterpret_cast<char*>(w.data()), std::streamsize(w.size() * sizeof(float)));
    ASSERT_EQ(std::size_t(f.gcount()), w.size() * sizeof(float)) << isa_name(isa);
    std::remove(out.c_str());
    for (std::size_t i = 0; i < w.size(); ++i)
      ASSERT_EQ(std::memcmp(&w[i], &mine[i], 4), 0)
          << "NTN_ISA=" << isa_name(isa) << " vs " << isa_name(active_isa()) << " at " << i << ": " << w[i]
          << " vs " << mine[i];
  }
}

TEST(Trainer, ResumeGivesBitwiseTheSameWeights) {
  const SeriesStore store = sine_store();
  const std::string ck = (std::filesystem::temp_directory_path() / ("ntn_ck_" + std::to_string(::getpid()))).string();
  TrainConfig full = small_cfg();
  full.max_steps = 40;
  full.batch_size = 64;  // 4 batches per epoch: the resume point falls inside an epoch
  full.schedule.name = "step";
  full.schedule.step_size = 15;
  const auto uninterrupted = train_weights(2, full, store);

  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  TrainConfig first = full;
  first.max_steps = 17;
  first.checkpoint_path = ck;
  first.checkpoint_every = 17;
  {
    auto m = make_model<float>(kSmall);
    m->init(1);
    Trainer tr(*m, store, train, val, first);
    tr.run();
  }
  auto m = make_model<float>(kSmall);
  m->init(99);  // different init: everything must come from the checkpoint
  Trainer tr(*m, store, train, val, full);
  tr.resume(ck);
  tr.run();
  EXPECT_EQ(std::memcmp(uninterrupted.data(), m->params().values(), uninterrupted.size() * sizeof(float)), 0);
  std::remove(ck.c_str());
}

TEST(Trainer, LearnsAndEarlyStoppingRestoresTheBest) {
  const SeriesStore store = sine_store();
  auto m = make_model<float>(kSmall);
  m->init(1);
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
  TrainConfig c = small_cfg();
  c.max_steps = 300;
  c.val_every = 20;
  c.patience = 3;
  Trainer tr(*m, store, train, val, c);
  const double before = tr.evaluate(val);
  std::vector<TrainLog> logs;
  tr.on_log = [&](const TrainLog& l) { logs.push_back(l); };
  TrainSummary s = tr.run();
  EXPECT_LT(s.best_val_loss, 0.5 * before);
  EXPECT_TRUE(s.restored_best);
  EXPECT_NEAR(tr.evaluate(val), s.best_val_loss, 1e-12);  // the weights are the best ones
  ASSERT_FALSE(logs.empty());
  EXPECT_TRUE(logs.back().final);
  EXPECT_GE(logs.front().val_loss, 0.0);
}

TEST(Trainer, MicroBatchesAccumulateTheBatchGradient) {
  // One SGD step with 1 and with 4 micro-batches (no dropout) moves the weights the same.
  const SeriesStore store = sine_store();
  json cfg = kSmall;
  cfg["dropout"] = 0.0;
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  std::vector<std::vector<float>> w;
  for (std::size_t C : {std::size_t(1), std::size_t(4)}) {
    auto m = make_model<float>(cfg);
    m->init(1);
    TrainConfig c = small_cfg();
    c.micro_batches = C;
    c.optim.name = "sgd";
    c.optim.lr = 0.1f;
    Trainer tr(*m, store, train, {}, c);
    tr.train_step(train.data(), 32);
    w.emplace_back(m->params().values(), m->params().values() + m->params().slab_size());
  }
  for (std::size_t i = 0; i < w[0].size(); ++i) ASSERT_NEAR(w[0][i], w[1][i], 1e-6f) << i;
}

TEST(Trainer, ErrorsAreClear) {
  const SeriesStore store = sine_store();
  auto m = make_model<float>(kSmall);
  TrainConfig c = small_cfg();
  EXPECT_THROW(Trainer(*m, store, {}, {}, c), Error);
  c.loss = parse_loss("mq", {0.1f, 0.9f});  // 2 outputs, the model has 1
  auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
  EXPECT_THROW(Trainer(*m, store, train, {}, c), Error);
  Trainer tr(*m, store, train, {}, small_cfg());
  EXPECT_THROW(tr.resume("/nonexistent/ck"), Error);
  // A checkpoint of another model is refused.
  const std::string ck = (std::filesystem::temp_directory_path() / ("ntn_ck2_" + std::to_string(::getpid()))).string();
  json other = kSmall;
  other["mlp_units"] = {{16, 16}};
  auto m2 = make_model<float>(other);
  Trainer t2(*m2, store, train, {}, small_cfg());
  t2.save_checkpoint(ck);
  try {
    tr.resume(ck);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
  std::remove(ck.c_str());
}

TEST(Trainer, PredictWindowsInvertsWindowScaling) {
  const SeriesStore store = sine_store();
  auto m = make_model<float>(kSmall);  // zero weights: the naive forecast, whatever the scaling
  auto w = make_windows(store, {24, 6}, Split{0, 500, 0});
  std::vector<float> out(w.size() * 6);
  predict_windows(*m, store, w, WindowScaling::standard, out.data(), 7);
  for (std::size_t i = 0; i < w.size(); ++i) {
    const float last = store.data(w[i].series)[w[i].start + 23];
    ASSERT_NEAR(out[i * 6], last, 1e-5f) << i;
    ASSERT_NEAR(out[i * 6 + 5], last, 1e-5f) << i;
  }
}

}  // namespace
}  // namespace ntn

namespace ntn {
namespace {

// Evaluation batches are bounded by window steps, not only by windows: a recurrent model keeps
// every step of each window, so 1024 windows of a long input would pass the tensor limit (a
// trained GRU on ETTh1 at --threads 1 once failed at its test scoring: 1024 x 480 x 600 gates).
TEST(Trainer, PredictWindowsBoundsTheStepsOfABatch) {
  const std::size_t L = 200000;  // 1024 x L x 3 gates > 2^28, also as 512 windows on each of 2 threads
  auto m = make_model<float>({{"type", "gru"}, {"input_size", L}, {"horizon", 1}, {"encoder_hidden_size", 1},
                              {"encoder_n_layers", 1}, {"decoder_layers", 0}});
  m->init(2);
  SeriesStore store;
  std::vector<float> v(L + 1);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.01f * float(i));
  store.add("s", v.data(), v.size());
  const std::vector<WindowRef> w = {{0, 0}};
  float y = 0;
  predict_windows(*m, store, w, WindowScaling::none, &y, 1024);
  EXPECT_TRUE(std::isfinite(y));
  // The limit still names the tensor where a batch would really need it (training keeps every
  // step's gates).
  EXPECT_THROW(m->make_workspace(1024, /*inference=*/false), Error);
}

TEST(Trainer, QuantileForecastsNeverCross) {
  const SeriesStore store = sine_store();
  auto m = make_model<float>({{"type", "nhits"}, {"input_size", 24}, {"horizon", 6}, {"mlp_units", {{16, 16}}},
                              {"outputs", 3}});
  m->init(4);  // random weights: raw outputs cross freely
  auto w = make_windows(store, {24, 6}, Split{0, 500, 0});
  std::vector<float> out(w.size() * 6 * 3);
  predict_windows(*m, store, w, WindowScaling::standard, out.data());
  for (std::size_t i = 0; i < w.size() * 6; ++i) {
    ASSERT_LE(out[i * 3], out[i * 3 + 1]) << i;
    ASSERT_LE(out[i * 3 + 1], out[i * 3 + 2]) << i;
  }
}

// bf16 mixed precision (TrainConfig::precision): on a CPU without AVX512_BF16 the Trainer refuses
// naming it; where it runs, training learns, is bitwise the same on 1 and 2 threads, really
// differs from fp32 (the products are bf16), and scores about as well (evaluated in fp32).
TEST(Trainer, Bf16PrecisionLearnsDeterministicallyOrRefusesClearly) {
  const SeriesStore store = sine_store();
  TrainConfig c = small_cfg();
  c.precision = "bf16";
  if (!bf16_gemm_available()) {
    auto m = make_model<float>(kSmall);
    m->init(1);
    auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
    try {
      Trainer tr(*m, store, train, {}, c);
      FAIL() << "bf16 training started on a CPU without AVX512_BF16";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("AVX512_BF16"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(m->params().bf16_products());
    return;
  }
  c.max_steps = 200;
  const auto b1 = train_weights(1, c, store), b2 = train_weights(2, c, store);
  ASSERT_EQ(b1.size(), b2.size());
  EXPECT_EQ(std::memcmp(b1.data(), b2.data(), b1.size() * sizeof(float)), 0);
  TrainConfig f = c;
  f.precision = "fp32";
  const auto f1 = train_weights(1, f, store);
  EXPECT_NE(std::memcmp(b1.data(), f1.data(), b1.size() * sizeof(float)), 0) << "bf16 trained the fp32 weights";
  // It learns about as well as fp32: validation loss after 200 steps within 20% of fp32's.
  auto score = [&](const TrainConfig& cfg) {
    auto m = make_model<float>(kSmall);
    m->init(1);
    auto train = make_windows(store, {24, 6}, Split{0, 0, 400});
    auto val = make_windows(store, {24, 6}, Split{0, 400, 0});
    double before = 0, after = 0;
    {
      Trainer tr(*m, store, train, val, cfg);
      EXPECT_TRUE(m->params().bf16_products() == (cfg.precision == "bf16"));
      before = tr.evaluate(val);
      tr.run();
    }
    TrainConfig fp = cfg;
    fp.precision = "fp32";
    Trainer ev(*m, store, train, val, fp);
    after = ev.evaluate(val);
    EXPECT_LT(after, 0.5 * before) << cfg.precision;
    return after;
  };
  const double lb = score(c), lf = score(f);
  EXPECT_LT(lb, 1.2 * lf) << "bf16 " << lb << " vs fp32 " << lf;
}

TEST(Trainer, PrecisionFieldIsCheckedByName) {
  for (const char* bad : {"fp16", "int8", "", "BF16"}) {
    try {
      (void)TrainConfig::from_json(json{{"precision", bad}});
      FAIL() << "precision '" << bad << "' accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'precision'"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(TrainConfig::from_json(json{{"precision", "bf16"}}).precision, "bf16");
  EXPECT_EQ(TrainConfig::from_json(TrainConfig{}.to_json()).precision, "fp32");
}

}  // namespace
}  // namespace ntn
