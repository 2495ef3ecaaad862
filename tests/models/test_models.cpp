#include <cstring>

#include "../nn/grad_check.h"
#include "model_checks.h"
#include "expect_error.h"
#include "ntn/error.h"
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
