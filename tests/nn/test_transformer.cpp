// Transformer layers (ntn/transformer.h) and LayerNorm (ntn/nn.h): finite-difference gradients in
// double (encoder and decoder, post- and pre-norm, causal, with dropout in training), every output
// and gradient against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer
// (tests/fixtures/golden_transformer_layers.safetensors from dev/golden_transformer.py), the sinusoidal
// positions, and the configuration errors.
#include <nlohmann/json.hpp>

#include <cmath>

#include "expect_error.h"
#include "grad_check.h"
#include "ntn/error.h"
#include "ntn/safetensors.h"
#include "ntn/transformer.h"

namespace ntn::nn {
namespace {

using test::dot;
using test::expect_fd_match;
using test::rand_d;

TEST(LayerNorm, GradientsByFiniteDifferencesAndFloatMatchesDouble) {
  const std::size_t rows = 3, dim = 7;
  ParamSet<double> ps;
  LayerNorm<double> ln;
  ln.declare(ps, "n", dim);
  ps.finalize();
  const auto gamma = rand_d(dim, 4, 0.5, 1.5), beta = rand_d(dim, 5, -0.5, 0.5);  // away from 1 / 0
  std::copy(gamma.begin(), gamma.end(), ps.value(ln.g));
  std::copy(beta.begin(), beta.end(), ps.value(ln.b));
  auto x = rand_d(rows * dim, 1, -2, 2);
  const auto r = rand_d(rows * dim, 2);
  std::vector<double> y(x.size()), dx(x.size()), mean(rows), rstd(rows);
  auto loss = [&] {
    ln.forward(ps, x.data(), y.data(), rows, mean.data(), rstd.data());
    return dot(y, r);
  };
  loss();
  ps.zero_grad();
  ln.backward(ps, ps.grads(), x.data(), r.data(), dx.data(), rows, mean.data(), rstd.data());
  test::expect_param_grads_fd_match(ps, loss, "layernorm ", 1e-6);
  expect_fd_match(x, dx, loss, "dx");
  ParamSet<float> pf;
  LayerNorm<float> lf;
  lf.declare(pf, "n", dim);
  pf.finalize();
  for (std::size_t i = 0; i < dim; ++i) {
    pf.value(lf.g)[i] = float(gamma[i]);
    pf.value(lf.b)[i] = float(beta[i]);
  }
  std::vector<float> xf(x.begin(), x.end()), yf(x.size()), mf(rows), rf(rows);
  lf.forward(pf, xf.data(), yf.data(), rows, mf.data(), rf.data());
  loss();
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(yf[i], y[i], 1e-5) << i;
}

struct Case {
  bool decoder, norm_first, causal;
  Act act;
  float dropout;
};

TEST(Transformer, LayerGradientsByFiniteDifferences) {
  const Case cases[] = {
      {false, false, false, Act::relu, 0.0f}, {false, true, false, Act::gelu, 0.0f},
      {true, false, true, Act::gelu, 0.0f},   {true, true, false, Act::relu, 0.0f},
      {true, true, true, Act::gelu, 0.3f},    {false, false, false, Act::tanh, 0.3f},
  };
  const std::size_t B = 2, L = 4, Lm = 5, E = 6;
  for (const Case& k : cases) {
    SCOPED_TRACE(testing::Message() << "decoder " << k.decoder << " norm_first " << k.norm_first << " causal "
                                    << k.causal << " dropout " << k.dropout);
    ParamSet<double> ps;
    TransformerLayer<double> layer;
    layer.declare(ps, "l",
                  {.d_model = E,
                   .heads = 2,
                   .ffn = 5,
                   .activation = k.act,
                   .norm_first = k.norm_first,
                   .dropout = k.dropout,
                   .decoder = k.decoder,
                   .causal = k.causal});
    ps.finalize();
    layer.init(ps, 3);
    for (std::size_t i = 0; i < ps.entries().size(); ++i)  // biases and norms away from 0 / 1
      if (ps.entries()[i].shape.rank() == 1) {
        const auto v = rand_d(ps.entries()[i].size, 40 + i, -0.5, 0.5);
        for (std::size_t j = 0; j < v.size(); ++j) ps.value(i)[j] += v[j];
      }
    auto x = rand_d(B * L * E, 1, -1, 1);
    auto mem = rand_d(B * Lm * E, 5, -1, 1);
    const auto r = rand_d(B * L * E, 2);
    RunCtx ctx;
    ctx.training = k.dropout > 0;
    ctx.seed = 7;
    ctx.step = 3;
    ctx.row0 = 4;
    auto c = layer.make_cache(B, L, Lm);
    std::vector<double> y(x.size()), dx(x.size()), dmem(mem.size(), 0.0);
    auto loss = [&] {
      layer.forward(ps, c, x.data(), k.decoder ? mem.data() : nullptr, y.data(), B, L, Lm, ctx);
      return dot(y, r);
    };
    loss();
    ps.zero_grad();
    layer.backward(ps, ps.grads(), c, r.data(), dx.data(), k.decoder ? dmem.data() : nullptr, B, L, Lm, ctx);
    test::expect_param_grads_fd_match(ps, loss, "layer ", 1e-6);
    expect_fd_match(x, dx, loss, "dx");
    if (k.decoder) expect_fd_match(mem, dmem, loss, "dmemory");
  }
}

template <class T>
void golden_case(const SafeTensorsFile& f, const std::string& name, double tol) {
  const auto cfg = nlohmann::json::parse(f.meta(name));
  const std::size_t E = cfg["d_model"], B = cfg["batch"], L = cfg["len"], Lm = cfg["mem"];
  const bool dec = cfg["decoder"];
  SCOPED_TRACE(name + (sizeof(T) == 4 ? " float" : " double"));
  std::vector<float> tmp;
  auto get = [&](const std::string& key) {
    const Shape sh = f.tensors().at(name + "/" + key).shape;
    const float* p = f.get_f32(name + "/" + key, sh, tmp);
    return std::vector<T>(p, p + sh.numel());
  };
  // Relative to the largest value, absolute below a floor: the key bias's gradient is zero in
  // exact arithmetic (softmax ignores a shift of all of a query's scores), so both sides hold
  // only rounding (~1e-6 in float, ~1e-16 in double).
  auto rel = [](const T* got, const std::vector<T>& want) {
    double diff = 0, scale = sizeof(T) == 4 ? 1.0 : 1e-2;
    for (std::size_t i = 0; i < want.size(); ++i) {
      diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
      scale = std::max(scale, std::fabs(double(want[i])));
    }
    return diff / scale;
  };
  ParamSet<T> ps;
  TransformerLayer<T> layer;
  layer.declare(ps, "layer",
                {.d_model = E,
                 .heads = cfg["heads"],
                 .ffn = cfg["ffn"],
                 .activation = parse_act(cfg["activation"].get<std::string>()),
                 .norm_first = cfg["norm_first"],
                 .decoder = dec,
                 .causal = cfg["causal"]});
  ps.finalize();
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto v = get("param/" + ps.entries()[i].name);
    ASSERT_EQ(v.size(), ps.entries()[i].size) << ps.entries()[i].name;
    std::copy(v.begin(), v.end(), ps.value(i));
  }
  const auto x = get("x"), r = get("r");
  const auto mem = dec ? get("memory") : std::vector<T>{};
  auto c = layer.make_cache(B, L, Lm);
  std::vector<T> y(B * L * E), dx(x.size()), dmem(mem.size(), T(0));
  layer.forward(ps, c, x.data(), dec ? mem.data() : nullptr, y.data(), B, L, Lm, {});
  EXPECT_LE(rel(y.data(), get("y")), tol) << "output";
  ps.zero_grad();
  layer.backward(ps, ps.grads(), c, r.data(), dx.data(), dec ? dmem.data() : nullptr, B, L, Lm, {});
  for (std::size_t i = 0; i < ps.entries().size(); ++i)
    EXPECT_LE(rel(ps.grad(i), get("grad/" + ps.entries()[i].name)), tol) << ps.entries()[i].name;
  EXPECT_LE(rel(dx.data(), get("dx")), tol) << "dx";
  if (dec) {
    EXPECT_LE(rel(dmem.data(), get("dmemory")), tol) << "dmemory";
  }
}

TEST(Transformer, LayersMatchPyTorch) {
  const SafeTensorsFile f =
      SafeTensorsFile::read(std::string(NTN_FIXTURES) + "/golden_transformer_layers.safetensors");
  EXPECT_EQ(f.meta("cases"), "enc_post_relu,enc_pre_gelu,dec_post_causal,dec_pre_gelu");
  for (const std::string name : {"enc_post_relu", "enc_pre_gelu", "dec_post_causal", "dec_pre_gelu"}) {
    golden_case<double>(f, name, 1e-6);
    golden_case<float>(f, name, 2e-5);
  }
}

TEST(Transformer, SinusoidalPositions) {
  std::vector<double> pe(3 * 6);
  sinusoidal_positions(pe.data(), 10, 3, 6);
  for (std::size_t p = 0; p < 3; ++p)
    for (std::size_t i = 0; i < 6; i += 2) {
      const double a = double(10 + p) / std::pow(10000.0, double(i) / 6.0);
      EXPECT_DOUBLE_EQ(pe[p * 6 + i], std::sin(a));
      EXPECT_DOUBLE_EQ(pe[p * 6 + i + 1], std::cos(a));
    }
}

TEST(Transformer, ConfigErrorsNameTheLayer) {
  ParamSet<float> ps;
  TransformerLayer<float> layer;
  test::expect_error(
      [&] { layer.declare(ps, "encoder.layers.0", {.d_model = 10, .heads = 4}); },
      {"attention 'encoder.layers.0.self_attn'", "heads (4) must divide the embedding size (10)"});
  test::expect_error([&] { layer.declare(ps, "encoder.layers.1", {.d_model = 8, .heads = 2, .ffn = 0}); },
                     {"transformer layer 'encoder.layers.1'", "ffn (0)"});
  test::expect_error([&] { layer.declare(ps, "encoder.layers.2", {.dropout = 1.0f}); },
                     {"dropout 1 is outside"});
}

}  // namespace
}  // namespace ntn::nn
