#include <algorithm>
#include <cmath>
#include <cstring>

#include "../nn/grad_check.h"
#include "model_checks.h"
#include "expect_error.h"
#include "ntn/error.h"
#include "ntn/heads.h"
#include "ntn/models.h"

namespace ntn {
namespace {

using nlohmann::json;
using test::dot;
using test::check_model_gradients;
using test::rand_d;

TEST(Models, NhitsGradientsByFiniteDifferences) {
  json cfg = {{"type", "nhits"}, {"input_size", 12},        {"horizon", 6},
              {"mlp_units", {{8, 8}}}, {"pool_kernel", {2, 3, 1}}, {"freq_downsample", {3, 2, 1}}};
  check_model_gradients(cfg, 3);
  cfg["outputs"] = 3;  // multi-quantile head
  cfg["pooling"] = "avg";
  cfg["interpolation"] = "nearest";
  cfg["n_blocks"] = {2, 1, 1};
  check_model_gradients(cfg, 2);
}

TEST(Models, NbeatsGradientsByFiniteDifferences) {
  json cfg = {{"type", "nbeats"}, {"input_size", 10}, {"horizon", 5}, {"mlp_units", {{6, 6}, {6, 7}}},
              {"n_blocks", {1, 2, 2}}};
  check_model_gradients(cfg, 3);
  cfg["shared_weights"] = true;  // gradients of a shared MLP sum over its blocks
  cfg["outputs"] = 2;
  check_model_gradients(cfg, 2);
}

TEST(Models, MlpGradientsByFiniteDifferences) {
  check_model_gradients({{"type", "mlp"}, {"input_size", 9}, {"horizon", 4}, {"hidden_size", 7}, {"num_layers", 2},
                         {"outputs", 2}},
                        3);
  // Training with dropout: the mask is a function of (seed, step, row), so the loss is too.
  nn::RunCtx train;
  train.training = true;
  train.seed = 5;
  train.step = 17;
  check_model_gradients({{"type", "nhits"}, {"input_size", 12}, {"horizon", 6}, {"mlp_units", {{8, 8}, {8, 8}}},
                         {"dropout", 0.3}},
                        3, train);
}

// TCN: gradients in training with dropout (and every covariate kind); the forecast reads exactly
// the receptive field (1 + 2 (K - 1) sum of the dilations): a value before it changes nothing,
// bitwise, the first value inside it changes the forecast.
TEST(Models, TcnDropoutGradientsAndReceptiveField) {
  nn::RunCtx train;
  train.training = true;
  train.seed = 3;
  train.step = 9;
  json cfg = {{"type", "tcn"}, {"input_size", 16}, {"horizon", 3}, {"channels", {3, 3}}, {"kernel_size", 2},
              {"dilation_base", 3}, {"decoder_layers", 1}, {"decoder_hidden_size", 5}, {"dropout", 0.3},
              {"hist_exog", 1}, {"futr_exog", 2}, {"stat_exog", 1}};
  check_model_gradients(cfg, 3, train);
  for (std::size_t K : {2, 3}) {
    const json c = {{"type", "tcn"}, {"input_size", 40}, {"horizon", 3}, {"channels", {4, 5, 5}}, {"kernel_size", K},
                  {"activation", "tanh"}};  // no dead ReLU between the first column and the forecast
    const std::size_t field = 1 + 2 * (K - 1) * (1 + 2 + 4);  // 15 or 29 < 40
    auto m = make_model<float>(c);
    m->init(2);
    auto ws = m->make_workspace(1, true);
    std::vector<float> x(40), y0(3), y1(3);
    fill_uniform(x.data(), x.size(), -1.0f, 1.0f, 3, 1);
    m->forward(*ws, x.data(), y0.data(), 1, {});
    for (std::size_t t = 0; t < 40 - field; ++t) x[t] += 5.0f;
    m->forward(*ws, x.data(), y1.data(), 1, {});
    EXPECT_EQ(std::memcmp(y0.data(), y1.data(), sizeof(float) * 3), 0) << "K " << K << ": reads before its field";
    x[40 - field] += 5.0f;
    m->forward(*ws, x.data(), y1.data(), 1, {});
    EXPECT_NE(std::memcmp(y0.data(), y1.data(), sizeof(float) * 3), 0) << "K " << K << ": misses its first column";
  }
  // A stream state whose ring position is not a slot (a damaged or hand-made state) is an error,
  // never a read outside the state.
  auto m = make_model<float>({{"type", "tcn"}, {"input_size", 8}, {"horizon", 2}, {"channels", {3}}});
  auto st = m->make_state();
  std::vector<float> y(2);
  const float tick = 0.5f;
  m->step(*st, &tick, y.data());
  for (float bad : {2.5f, -1.0f, 5.0f, 1e30f, std::nanf("")}) {
    st->values()[st->size() - 1] = bad;
    test::expect_error([&] { m->step(*st, &tick, y.data()); }, {"tcn: stream state position", "is not a ring slot"});
  }
}

// Transformer in training: dropout after every sublayer and inside the FFN (masks per token row),
// pre-norm, label tokens and every covariate kind.
TEST(Models, TransformerDropoutGradients) {
  nn::RunCtx train;
  train.training = true;
  train.seed = 4;
  train.step = 2;
  train.row0 = 5;
  check_model_gradients({{"type", "transformer"}, {"input_size", 6}, {"horizon", 3}, {"hidden_size", 4},
                         {"n_head", 2}, {"encoder_layers", 1}, {"decoder_layers", 2}, {"ffn_hidden_size", 5},
                         {"label_len", 2}, {"dropout", 0.3}, {"norm_first", true}, {"hist_exog", 1},
                         {"futr_exog", 1}, {"stat_exog", 1}, {"outputs", 2}},
                        2, train);
}

TEST(Models, NhitsDefaultShapeHasTheExpectedParameters) {
  auto m = make_model<float>({{"type", "nhits"}, {"input_size", 168}, {"horizon", 24}, {"mlp_units", {{512, 512}}}});
  // Per stack: Linear(pooled, 512) + Linear(512, 512) + Linear(512, 168 + knots); pooled 84, 84, 168;
  // knots 24/4, 24/2, 24/1.
  const std::size_t want = (84 * 512 + 512) + (512 * 512 + 512) + (512 * 174 + 174) + (84 * 512 + 512) +
                           (512 * 512 + 512) + (512 * 180 + 180) + (168 * 512 + 512) + (512 * 512 + 512) +
                           (512 * 192 + 192);
  EXPECT_EQ(m->params().count(), want);
  EXPECT_EQ(want, 1241634u);
  EXPECT_EQ(m->params().entries()[0].name, "stacks.0.blocks.0.mlp.0.weight");
  const json c = m->config();
  EXPECT_EQ(c["pool_kernel"], json({2, 2, 1}));
  EXPECT_EQ(c["freq_downsample"], json({4, 2, 1}));
  EXPECT_EQ(c["activation"], "relu");
  // The config rebuilds the same model.
  EXPECT_EQ(make_model<float>(c)->params().count(), want);
}

TEST(Models, FloatForwardMatchesDouble) {
  const json cfg = {{"type", "nbeats"}, {"input_size", 24}, {"horizon", 8}, {"mlp_units", {{16, 16}}}};
  auto mf = make_model<float>(cfg);
  auto md = make_model<double>(cfg);
  mf->init(9);
  md->init(9);
  const std::size_t B = 4;
  auto xd = rand_d(B * 24, 5, -1, 1);
  std::vector<float> xf(xd.begin(), xd.end()), yf(B * 8);
  std::vector<double> yd(B * 8);
  auto wf = mf->make_workspace(B);
  auto wd = md->make_workspace(B);
  mf->forward(*wf, xf.data(), yf.data(), B, {});
  md->forward(*wd, xd.data(), yd.data(), B, {});
  for (std::size_t i = 0; i < yf.size(); ++i) EXPECT_NEAR(yf[i], yd[i], 1e-4 * (1 + std::fabs(yd[i])));
}

TEST(Models, ZeroWeightsGiveTheNaiveForecast) {
  // With every parameter 0 each block outputs 0: the forecast is the last input value.
  auto m = make_model<float>({{"type", "nhits"}, {"input_size", 8}, {"horizon", 3}, {"mlp_units", {{4, 4}}}});
  const float x[8] = {1, 2, 3, 4, 5, 6, 7, 42};
  float y[3];
  auto ws = m->make_workspace(1);
  m->forward(*ws, x, y, 1, {});
  EXPECT_EQ(y[0], 42.0f);
  EXPECT_EQ(y[2], 42.0f);
}

TEST(Models, BadConfigsNameTheField) {
  auto expect_msg = [](const json& cfg, const char* frag) {
    SCOPED_TRACE(cfg.dump());
    test::expect_error([&] { make_model<float>(cfg); }, {frag});
  };
  // Each class of bad field, one row each: the message names the model, the field and the range.
  const std::vector<std::pair<json, const char*>> cases = {
      {{{"type", "lstm9"}}, "unknown model type 'lstm9'"},
      {{{"type", "nhits"}, {"horizon", 0}}, "field 'horizon': 0 is out of range (expected an integer in 1..100000)"},
      {{{"type", "nhits"}, {"horizon", -1}}, "field 'horizon': -1 is out of range"},
      {{{"type", "nhits"}, {"input_size", 1e16}}, "field 'input_size': 1e+16 is not an integer"},
      {{{"type", "nhits"}, {"input_size", "long"}}, "field 'input_size': \"long\" is not an integer"},
      {{{"type", "nhits"}, {"input_size", true}}, "field 'input_size': true is not an integer"},
      {{{"type", "nhits"}, {"pool_kernel", {2, 2}}}, "'pool_kernel' has 2 entries for 3 stacks"},
      {{{"type", "nhits"}, {"pool_kernel", {-1, 1, 1}}}, "field 'pool_kernel'[0]: -1 is out of range"},
      {{{"type", "nhits"}, {"n_blocks", {-1, 1, 1}}}, "field 'n_blocks'[0]: -1 is out of range"},
      {{{"type", "nhits"}, {"n_blocks", json::array()}}, "'n_blocks' must list 1..64 stacks"},
      {{{"type", "nhits"}, {"n_blocks", {100, 1, 1}}}, "field 'n_blocks'[0]: 100 is out of range"},
      {{{"type", "nhits"}, {"mlp_units", {{8, 8}, {9, 4}}}}, "'mlp_units'[1] starts at 9"},
      {{{"type", "nhits"}, {"mlp_units", {{8, 8, 8}}}}, "'mlp_units'[0] must be a pair"},
      {{{"type", "nhits"}, {"mlp_units", {{100000, 8}}}}, "'mlp_units'[0]: 100000 is out of range"},
      {{{"type", "nhits"}, {"mlp_units", {{60000, 60000}}}}, "more than 268435456 parameters"},
      {{{"type", "nhits"}, {"n_blokcs", {1}}}, "nhits config: unknown field 'n_blokcs'"},
      {{{"type", "nbeats"}, {"stack_types", {"trend", "wavelet"}}, {"n_blocks", {1, 1}}}, "'wavelet'"},
      {{{"type", "nbeats"}, {"n_harmonics", 1e16}}, "field 'n_harmonics': 1e+16 is not an integer in 1..1024"},
      {{{"type", "nbeats"}, {"n_harmonics", 5000}}, "field 'n_harmonics': 5000 is out of range"},
      {{{"type", "nbeats"}, {"n_polynomials", -2}}, "field 'n_polynomials': -2 is out of range"},
      {{{"type", "nbeats"}, {"shared_weights", 1}}, "field 'shared_weights': 1 is not true or false"},
      {{{"type", "nbeats"}, {"horizon", 100000}, {"n_harmonics", 1000}}, "nbeats seasonality basis"},
      {{{"type", "mlp"}, {"activation", "leaky"}}, "unknown activation 'leaky'"},
      {{{"type", "mlp"}, {"dropout", 1.5}}, "field 'dropout': 1.5 is out of range (expected a number in [0, 1))"},
      {{{"type", "mlp"}, {"num_layers", 30000}}, "field 'num_layers': 30000 is out of range"},
      {{{"type", "mlp"}, {"hidden_size", -1}}, "field 'hidden_size': -1 is out of range"},
      {{{"type", "lstm"}, {"encoder_hidden_size", 0}}, "lstm config: field 'encoder_hidden_size': 0 is out of range"},
      {{{"type", "gru"}, {"encoder_n_layers", 1000000000}}, "gru config: field 'encoder_n_layers': 1000000000 is out of range"},
      {{{"type", "gru"}, {"encoder_dropout", -0.1}}, "field 'encoder_dropout': -0.1 is out of range"},
      {{{"type", "lstm"}, {"decoder_layers", -1}}, "field 'decoder_layers': -1 is out of range"},
      {{{"type", "lstm"}, {"bidirectional", true}}, "lstm config: unknown field 'bidirectional'"},
      {{{"type", "lstm_attention"}, {"decoder_hidden_size", 10}, {"attention_heads", 4}},
       "field 'attention_heads' (4) must divide field 'decoder_hidden_size' (10)"},
      {{{"type", "lstm_attention"}, {"attention_heads", 0}}, "field 'attention_heads': 0 is out of range"},
      {{{"type", "lstm_attention"}, {"teacher_forcing", 1.5}}, "field 'teacher_forcing': 1.5 is out of range"},
      {{{"type", "lstm_attention"}, {"teacher_forcing", "always"}}, "field 'teacher_forcing'"},
      {{{"type", "deepar"}, {"input_size", 24}, {"lags", {1, 24}}}, "field 'lags'[1] = 24 must be in [1, input_size 24)"},
      {{{"type", "deepar"}, {"lags", {0}}}, "field 'lags'[0]: 0 is out of range"},
      {{{"type", "deepar"}, {"lags", {2, 2}}}, "field 'lags' repeats 2"},
      {{{"type", "deepar"}, {"lags", json::array()}}, "field 'lags' needs 1..64 lags"},
      {{{"type", "deepar"}, {"lags", {-3}}}, "field 'lags'[0]: -3 is out of range"},
      {{{"type", "deepar"}, {"distribution", "poisson"}}, "deepar config: field 'distribution': unknown distribution 'poisson'"},
      {{{"type", "deepar"}, {"outputs", 1}}, "field 'outputs' (1) must be 3, the parameter count of the student_t"},
      {{{"type", "deepar"}, {"distribution", "gaussian"}}, "field 'outputs' (3) must be 2"},
      {{{"type", "deepar"}, {"hist_exog", 2}}, "field 'hist_exog': deepar takes no historic covariates"},
      {{{"type", "tcn"}, {"channels", json::array()}}, "tcn config: field 'channels' must list 1..256 block widths"},
      {{{"type", "tcn"}, {"channels", {64, 0}}}, "field 'channels'[1]: 0 is out of range"},
      {{{"type", "tcn"}, {"channels", {64, -5}}}, "field 'channels'[1]: -5 is out of range"},
      {{{"type", "tcn"}, {"kernel_size", 0}}, "tcn config: field 'kernel_size': 0 is out of range"},
      {{{"type", "tcn"}, {"kernel_size", 1000000000}}, "field 'kernel_size': 1000000000 is out of range"},
      {{{"type", "tcn"}, {"dilation_base", 0}}, "field 'dilation_base': 0 is out of range"},
      {{{"type", "tcn"}, {"dilation_base", 64}, {"channels", {8, 8, 8, 8, 8}}},
       "fields 'kernel_size' (3), 'dilation_base' (64) and 'channels' (5 blocks) give a receptive field over 1048576"},
      {{{"type", "tcn"}, {"decoder_layers", -1}}, "field 'decoder_layers': -1 is out of range"},
      {{{"type", "tcn"}, {"dilations", {1, 2}}}, "tcn config: unknown field 'dilations'"},
      {{{"type", "transformer"}, {"hidden_size", 10}, {"n_head", 4}},
       "transformer config: field 'n_head' (4) must divide field 'hidden_size' (10)"},
      {{{"type", "transformer"}, {"n_head", 0}}, "field 'n_head': 0 is out of range"},
      {{{"type", "transformer"}, {"input_size", 24}, {"label_len", 25}},
       "field 'label_len' (25) must not exceed field 'input_size' (24)"},
      {{{"type", "transformer"}, {"label_len", -1}}, "field 'label_len': -1 is out of range"},
      {{{"type", "transformer"}, {"norm_first", "yes"}}, "field 'norm_first': \"yes\" is not true or false"},
      {{{"type", "transformer"}, {"encoder_layers", 0}}, "field 'encoder_layers': 0 is out of range"},
      {{{"type", "transformer"}, {"ffn_hidden_size", 70000}}, "field 'ffn_hidden_size': 70000 is out of range"},
      {{{"type", "transformer"}, {"d_model", 64}}, "transformer config: unknown field 'd_model'"},
  };
  for (const auto& [cfg, frag] : cases) expect_msg(cfg, frag);
}

}  // namespace
}  // namespace ntn

namespace ntn {
namespace {

TEST(Models, OverwriteModeEqualsZeroThenAccumulate) {
  for (const nlohmann::json& cfg :
       {nlohmann::json{{"type", "nhits"}, {"input_size", 12}, {"horizon", 6}, {"mlp_units", {{8, 8}}}},
        nlohmann::json{{"type", "nbeats"}, {"input_size", 10}, {"horizon", 5}, {"mlp_units", {{6, 6}}},
                       {"n_blocks", {2, 2, 1}}, {"shared_weights", true}},
        nlohmann::json{{"type", "mlp"}, {"input_size", 9}, {"horizon", 4}, {"hidden_size", 7}}}) {
    test::check_overwrite_equals_accumulate(cfg);
  }
}

}  // namespace
}  // namespace ntn

namespace ntn {
namespace {

// LSTM-Attention in training: with teacher_forcing 1 every decoder step after the first reads the
// true previous value (y_futr), so the forecast differs from the autoregressive one and its
// gradient (y_futr held fixed) matches finite differences; the draws of a ratio in (0, 1) depend
// on the global row, not on how the batch is split.
TEST(Models, LstmAttentionTeacherForcing) {
  json cfg = {{"type", "lstm_attention"}, {"input_size", 10}, {"horizon", 5}, {"encoder_hidden_size", 4},
              {"encoder_n_layers", 1}, {"decoder_hidden_size", 4}, {"attention_heads", 2}, {"teacher_forcing", 1.0}};
  auto m = make_model<double>(cfg);
  m->init(4);
  const std::size_t B = 4, L = 10, H = 5;
  test::RandBatch<double> in(*m, B, 3);
  auto yf = test::rand_d(B * H, 9, -2, 2);
  nn::RunCtx train;
  train.training = true;
  train.seed = 11;
  std::vector<double> auto_y(B * H), tf_y(B * H);
  auto ws = m->make_workspace(B);
  m->forward(*ws, in.batch, auto_y.data(), {});
  Batch<double> tb = in.batch;
  tb.y_futr = yf.data();
  m->forward(*ws, tb, tf_y.data(), train);
  double diff = 0;
  for (std::size_t i = 0; i < B * H; ++i) diff += std::fabs(tf_y[i] - auto_y[i]);
  EXPECT_GT(diff, 1e-6) << "teacher forcing changed nothing";
  for (std::size_t b = 0; b < B; ++b) EXPECT_EQ(tf_y[b * H], auto_y[b * H]) << "step 0 reads the last value either way";
  // Gradients with teacher forcing: every parameter and the input window by finite differences.
  const auto r = test::rand_d(B * H, 10);
  auto loss = [&] {
    std::vector<double> y(B * H);
    m->forward(*ws, tb, y.data(), train);
    return test::dot(y, r);
  };
  loss();
  std::vector<double> dx(B * L);
  m->params().zero_grad();
  m->backward(*ws, r.data(), m->params().grads(), dx.data(), B, train);
  test::expect_fd_match(in.y, dx, loss, "dx", 1e-5);
  test::expect_param_grads_fd_match(m->params(), loss, "", 1e-5);
  // A ratio of 0.5: rows forecast alone (row0 = their global index) == rows in one call.
  cfg["teacher_forcing"] = 0.5;
  auto half = make_model<double>(cfg);
  half->init(4);
  auto ws1 = half->make_workspace(B);
  std::vector<double> all(B * H), part(B * H);
  half->forward(*ws1, tb, all.data(), train);
  for (std::size_t r0 = 0; r0 < B; r0 += 2) {
    nn::RunCtx c = train;
    c.row0 = r0;
    half->forward(*ws1, tb.rows(r0, 2, L, H, half->covariates()), part.data() + r0 * H, c);
  }
  for (std::size_t i = 0; i < B * H; ++i) EXPECT_EQ(all[i], part[i]) << i;
}

}  // namespace
}  // namespace ntn

namespace ntn {
namespace {

json deepar_cfg(const char* dist) {
  return {{"type", "deepar"},       {"input_size", 10}, {"horizon", 5},          {"encoder_hidden_size", 4},
          {"encoder_n_layers", 2},  {"lags", {1, 3}},   {"encoder_dropout", 0.0}, {"distribution", dist},
          {"outputs", dist_params(parse_dist(dist))}};
}

// DeepAR's two forwards: teacher forcing feeds the targets, inference feeds each step the location
// (mu) of the step before. Given the mean path's own locations as targets, the teacher-forced
// forward equals the autoregressive one bitwise; other targets change every step but the first.
// Gradients of the teacher-forced path (the training one) by finite differences.
TEST(Models, DeepArTeacherForcingAndMeanPath) {
  for (const auto& [dist, scaling] : std::vector<std::pair<const char*, const char*>>{
           {"student_t", "none"}, {"student_t", "mean"}, {"gaussian", "none"}, {"negative_binomial", "auto"}}) {
    SCOPED_TRACE(testing::Message() << dist << " scaling " << scaling);
    json cfg = deepar_cfg(dist);
    cfg["scaling"] = scaling;
    auto m = make_model<double>(cfg);
    m->init(4);
    const std::size_t B = 3, L = 10, H = 5, Q = m->outputs();
    const bool exact = std::string(scaling) == "none";  // mean scaling feeds y / v: rounding
    test::RandBatch<double> in(*m, B, 3);
    if (std::string(dist) == "negative_binomial")
      for (double& v : in.y) v = std::fabs(v) * 3 + 0.1;
    auto ws = m->make_workspace(B);
    std::vector<double> mean_path(B * H * Q), tf(B * H * Q), yf(B * H);
    m->forward(*ws, in.batch, mean_path.data(), {});
    for (std::size_t i = 0; i < B * H; ++i) yf[i] = mean_path[i * Q];
    nn::RunCtx train;
    train.training = true;
    train.seed = 11;
    Batch<double> tb = in.batch;
    tb.y_futr = yf.data();
    m->forward(*ws, tb, tf.data(), train);
    for (std::size_t i = 0; i < tf.size(); ++i) {
      if (exact)
        ASSERT_EQ(tf[i], mean_path[i]) << i;
      else
        ASSERT_NEAR(tf[i], mean_path[i], 1e-12 * std::max(1.0, std::fabs(mean_path[i]))) << i;
    }
    for (std::size_t i = 0; i < B * H; ++i) {
      EXPECT_GT(mean_path[i * Q + 1], 0.0) << "sigma / alpha";
      if (Q == 3) {
        EXPECT_GT(mean_path[i * Q + 2], 3.0) << "nu = 3 + softplus";
      }
    }
    auto other = rand_d(B * H, 9, 0.5, 2);
    tb.y_futr = other.data();
    m->forward(*ws, tb, tf.data(), train);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t q = 0; q < Q; ++q) {
          const std::size_t i = (b * H + h) * Q + q;
          if (h == 0)
            EXPECT_EQ(tf[i], mean_path[i]) << "step 0 reads the window only";
          else
            EXPECT_NE(tf[i], mean_path[i]) << "step " << h << " reads the target before it";
        }
    // Gradients of both paths (teacher-forced, and the mean path through its fed-back
    // locations), parameters and the window (through the window's scale too), by finite differences.
    for (const bool teacher : {true, false}) {
      SCOPED_TRACE(teacher ? "teacher forcing" : "mean path");
      const nn::RunCtx ctx = teacher ? train : nn::RunCtx{};
      const Batch<double>& bb = teacher ? tb : in.batch;
      const auto r = rand_d(B * H * Q, 10);
      auto loss = [&] {
        std::vector<double> y(B * H * Q);
        m->forward(*ws, bb, y.data(), ctx);
        return dot(y, r);
      };
      loss();
      std::vector<double> dx(B * L);
      m->params().zero_grad();
      m->backward(*ws, r.data(), m->params().grads(), dx.data(), B, ctx);
      test::expect_fd_match(in.y, dx, loss, "dx", 1e-5);
      test::expect_param_grads_fd_match(m->params(), loss, "", 1e-5);
    }
  }
}

// Sampling is ancestral: each path's step h + 1 is drawn from the parameters the model gives when
// fed that path's own draw at step h (recomputed here through the teacher-forced forward and the
// path's stream). Seeded and batch invariant: a row sampled alone (row0 = its index) gives the
// same paths bitwise. Step 0's draws follow its distribution (quantiles of 4000 draws). Negative
// binomial draws are non-negative integers.
TEST(Models, DeepArSamplesAreAncestralSeededAndBatchInvariant) {
  for (const char* dist : {"student_t", "gaussian", "negative_binomial"}) {
    SCOPED_TRACE(dist);
    const DistKind d = parse_dist(dist);
    auto m = make_model<float>(deepar_cfg(dist));
    m->init(6);
    const std::size_t B = 3, L = 10, H = 5, Q = dist_params(d), P = 4000;
    test::RandBatch<float> in(*m, B, 5);
    if (d == DistKind::negative_binomial)
      for (float& v : in.y) v = std::fabs(v) * 3;  // counts (scaled)
    std::vector<float> all(B * P * H), one(P * H);
    m->sample(in.batch, P, 7, 0, all.data());
    for (std::size_t b = 0; b < B; ++b) {
      m->sample(in.batch.rows(b, 1, L, H, m->covariates()), P, 7, b, one.data());
      ASSERT_EQ(std::memcmp(one.data(), all.data() + b * P * H, one.size() * sizeof(float)), 0) << "row " << b;
    }
    std::vector<float> again(B * P * H), other(B * P * H);
    m->sample(in.batch, P, 7, 0, again.data());
    m->sample(in.batch, P, 8, 0, other.data());
    EXPECT_EQ(std::memcmp(again.data(), all.data(), all.size() * sizeof(float)), 0);
    EXPECT_NE(std::memcmp(other.data(), all.data(), all.size() * sizeof(float)), 0);
    // Step 0 against its distribution.
    auto ws = m->make_workspace(B);
    std::vector<float> par(B * H * Q);
    m->forward(*ws, in.batch, par.data(), {});
    for (std::size_t b = 0; b < B; ++b) {
      double p0[3];
      for (std::size_t q = 0; q < Q; ++q) p0[q] = par[b * H * Q + q];
      std::vector<double> s0(P);
      for (std::size_t k = 0; k < P; ++k) s0[k] = all[(b * P + k) * H];
      std::sort(s0.begin(), s0.end());
      const double spread = dist_quantile(d, p0, 0.9) - dist_quantile(d, p0, 0.1) + 1;
      for (double lvl : {0.1, 0.5, 0.9})
        EXPECT_NEAR(s0[std::size_t(lvl * double(P))], dist_quantile(d, p0, lvl), 0.1 * spread) << b << " " << lvl;
    }
    // Ancestral: path k of row b, step by step, recomputed from the teacher-forced forward.
    nn::RunCtx train;
    train.training = true;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t k : {std::size_t(0), std::size_t(17), P - 1}) {
        const float* path = all.data() + (b * P + k) * H;
        Batch<float> tb = in.batch.rows(b, 1, L, H, m->covariates());
        tb.y_futr = path;
        std::vector<float> tp(H * Q);
        m->forward(*ws, tb, tp.data(), train);
        Rng rng = path_rng(7, b, k);
        for (std::size_t h = 0; h < H; ++h) {
          double ph[3];
          for (std::size_t q = 0; q < Q; ++q) ph[q] = tp[h * Q + q];
          const double v = dist_sample(d, ph, rng);
          EXPECT_NEAR(path[h], v, 1e-4 * std::max(1.0, std::fabs(v))) << "row " << b << " path " << k << " step " << h;
          if (d == DistKind::negative_binomial) {
            EXPECT_TRUE(path[h] >= 0 && path[h] == std::floor(path[h])) << path[h];
          }
        }
      }
  }
}

}  // namespace
}  // namespace ntn
