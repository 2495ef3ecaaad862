#include <gtest/gtest.h>

#include <cmath>

#include "ntn/error.h"
#include "ntn/loss.h"
#include "ntn/optim.h"

namespace ntn {
namespace {

// One parameter tensor of 3 values: p = (1, -2, 3), g = (0.5, 0.5, -1).
struct Fixture {
  nn::ParamSet<float> ps;
  std::vector<float> g;
  Fixture() {
    ps.add("w", Shape{3}, nn::Role::other);
    ps.finalize();
    ps.value(0)[0] = 1;
    ps.value(0)[1] = -2;
    ps.value(0)[2] = 3;
    g.assign(ps.slab_size(), 0.0f);
    g[0] = 0.5f;
    g[1] = 0.5f;
    g[2] = -1.0f;
  }
  float p(int i) { return ps.value(0)[i]; }
};

TEST(Optim, SgdPlainMomentumNesterovWeightDecay) {
  {
    Fixture f;
    OptimConfig c;
    c.name = "sgd";
    c.lr = 0.1f;
    Optimizer o(c, f.ps);
    o.step(f.ps, f.g.data(), 0.1f);
    EXPECT_FLOAT_EQ(f.p(0), 0.95f);
    EXPECT_FLOAT_EQ(f.p(2), 3.1f);
  }
  {
    Fixture f;
    OptimConfig c;
    c.name = "sgd";
    c.momentum = 0.9f;
    Optimizer o(c, f.ps);
    o.step(f.ps, f.g.data(), 0.1f);  // buf = g
    o.step(f.ps, f.g.data(), 0.1f);  // buf = 0.9 g + g = 1.9 g
    EXPECT_FLOAT_EQ(f.p(0), 1.0f - 0.1f * 0.5f - 0.1f * 0.95f);
  }
  {
    Fixture f;
    OptimConfig c;
    c.name = "sgd";
    c.momentum = 0.9f;
    c.nesterov = true;
    c.weight_decay = 0.1f;
    Optimizer o(c, f.ps);
    o.step(f.ps, f.g.data(), 0.1f);  // d = g + 0.1 p = 0.6; buf = 0.6; d = 0.6 + 0.9 * 0.6
    EXPECT_FLOAT_EQ(f.p(0), 1.0f - 0.1f * (0.6f + 0.54f));
  }
  Fixture f;
  OptimConfig bad;
  bad.name = "sgd";
  bad.nesterov = true;
  EXPECT_THROW(Optimizer(bad, f.ps), Error);
  bad.name = "lion";
  EXPECT_THROW(Optimizer(bad, f.ps), Error);
}

TEST(Optim, AdamAdamwRmspropFirstSteps) {
  {
    Fixture f;
    OptimConfig c;  // adam: the first step moves each weight by lr * sign(g)
    Optimizer o(c, f.ps);
    o.step(f.ps, f.g.data(), 0.01f);
    EXPECT_NEAR(f.p(0), 0.99f, 1e-6f);
    EXPECT_NEAR(f.p(2), 3.01f, 1e-6f);
    EXPECT_EQ(o.steps(), 1u);
    EXPECT_EQ(o.state().size(), 2u);
    EXPECT_FLOAT_EQ((*o.state()[0].second)[0], 0.05f);  // exp_avg = 0.1 g
  }
  {
    Fixture f;
    OptimConfig c;
    c.name = "adamw";
    c.weight_decay = 0.5f;
    Optimizer o(c, f.ps);
    o.step(f.ps, f.g.data(), 0.01f);  // p (1 - lr wd) - lr sign(g)
    EXPECT_NEAR(f.p(0), 1.0f * (1 - 0.005f) - 0.01f, 1e-6f);
  }
  {
    Fixture f;
    OptimConfig c;
    c.name = "rmsprop";
    Optimizer o(c, f.ps);
    o.step(f.ps, f.g.data(), 0.01f);  // sq = 0.01 g^2: step lr g / (0.1 |g|) = 10 lr sign(g)
    EXPECT_NEAR(f.p(0), 0.9f, 1e-5f);
  }
}

// Weight decay selects parameters by declared role: "all" decays every one (PyTorch), "weights"
// only matrices / kernels / embeddings. Parameters span several update blocks (4096 elements).
TEST(Optim, DecayOnSelectsByRole) {
  for (const char* on : {"all", "weights"}) {
    nn::ParamSet<float> ps;
    nn::Linear<float> big, small;
    big.declare(ps, "big", 100, 70);  // 7000-element matrix: crosses a block edge
    const std::size_t gain = ps.add("norm.scale", Shape{5000}, nn::Role::norm_scale);
    small.declare(ps, "small", 3, 4);
    ps.finalize();
    for (std::size_t i = 0; i < ps.slab_size(); ++i) ps.values()[i] = 1.0f;
    std::vector<float> g(ps.slab_size(), 0.0f);
    OptimConfig oc;
    oc.name = "sgd";
    oc.lr = 0.5f;
    oc.weight_decay = 0.25f;
    oc.decay_on = on;
    Optimizer opt(oc, ps);
    opt.step(ps, g.data(), oc.lr);
    const bool all = std::string(on) == "all";
    for (std::size_t i = 0; i < ps.entries().size(); ++i) {
      const auto& e = ps.entries()[i];
      const float want = all || nn::role_is_weight(e.role) ? 1.0f - 0.5f * 0.25f : 1.0f;
      for (std::size_t j = 0; j < e.size; ++j)
        ASSERT_EQ(ps.value(i)[j], want) << on << " " << e.name << "[" << j << "]";
    }
    EXPECT_EQ(ps.entries()[gain].role, nn::Role::norm_scale);
  }
  OptimConfig bad;
  bad.decay_on = "biases";
  nn::ParamSet<float> ps;
  ps.finalize();
  EXPECT_THROW(Optimizer(bad, ps), Error);
}

TEST(Optim, Schedules) {
  ScheduleConfig s;
  s.name = "step";
  s.step_size = 100;
  s.gamma = 0.5f;
  Schedule st(s, 1e-3f);
  EXPECT_FLOAT_EQ(st.lr(0), 1e-3f);
  EXPECT_FLOAT_EQ(st.lr(99), 1e-3f);
  EXPECT_FLOAT_EQ(st.lr(100), 5e-4f);
  EXPECT_FLOAT_EQ(st.lr(250), 2.5e-4f);
  ScheduleConfig c;
  c.name = "cosine";
  c.warmup = 10;
  c.total = 110;
  c.lr_min = 1e-5f;
  Schedule co(c, 1e-3f);
  EXPECT_FLOAT_EQ(co.lr(0), 1e-4f);
  EXPECT_FLOAT_EQ(co.lr(9), 1e-3f);
  EXPECT_FLOAT_EQ(co.lr(10), 1e-3f);
  EXPECT_NEAR(co.lr(60), 1e-5f + (1e-3f - 1e-5f) * 0.5f, 1e-9f);
  EXPECT_FLOAT_EQ(co.lr(110), 1e-5f);
  EXPECT_FLOAT_EQ(co.lr(500), 1e-5f);
  ScheduleConfig p;
  p.name = "plateau";
  p.patience = 2;
  p.factor = 0.5f;
  Schedule pl(p, 1.0f);
  for (double v : {1.0, 0.9, 0.95, 0.95}) pl.observe(v);
  EXPECT_FLOAT_EQ(pl.lr(0), 1.0f);  // 2 bad evaluations: not yet
  pl.observe(0.95);                 // third: decay
  EXPECT_FLOAT_EQ(pl.lr(0), 0.5f);
  s.name = "linear";
  EXPECT_THROW(Schedule(s, 1.0f), Error);
}

TEST(Optim, ClipGradNorm) {
  std::vector<float> g = {3, 4, 0, 0};
  EXPECT_FLOAT_EQ(clip_grad_norm(g.data(), 4, 10.0f), 5.0f);
  EXPECT_EQ(g[0], 3.0f);  // under the limit: untouched
  EXPECT_FLOAT_EQ(clip_grad_norm(g.data(), 4, 1.0f), 5.0f);
  EXPECT_NEAR(g[0], 0.6f, 1e-6f);
  EXPECT_NEAR(g[1], 0.8f, 1e-6f);
}

TEST(Loss, SumsGradientsAndPinball) {
  const float pred[4] = {1, 2, 3, 4}, y[4] = {1, 0, 5, 4.5f};
  float g[4];
  LossSpec mse = parse_loss("mse");
  EXPECT_DOUBLE_EQ(loss_sum_grad(mse, pred, y, g, 2, 2, 0.25f), 8.25);
  EXPECT_FLOAT_EQ(g[1], 4.0f * 0.25f);  // 2 d * scale
  EXPECT_FLOAT_EQ(g[2], -4.0f * 0.25f);
  LossSpec mae = parse_loss("mae");
  EXPECT_DOUBLE_EQ(loss_sum_grad(mae, pred, y, g, 1, 4, 1.0f), 4.5);
  EXPECT_FLOAT_EQ(g[2], -1.0f);
  // Pinball at q = 0.1 and 0.9 over one target y = 2: pred (1, 3) -> e = 1, -1.
  LossSpec mq = parse_loss("mq", {0.1f, 0.9f});
  EXPECT_EQ(mq.outputs(), 2u);
  const float qp[2] = {1, 3}, qy[1] = {2};
  float qg[2];
  EXPECT_NEAR(loss_sum_grad(mq, qp, qy, qg, 1, 1, 1.0f), 0.1 * 1 + 0.1 * 1, 1e-7);
  EXPECT_FLOAT_EQ(qg[0], -0.1f);  // e > 0: -q
  EXPECT_FLOAT_EQ(qg[1], 0.1f);   // e < 0: 1 - q
  const float tie[2] = {2, 2};
  loss_sum_grad(mq, tie, qy, qg, 1, 1, 1.0f);
  EXPECT_FLOAT_EQ(qg[0], 0.4f);  // (1 - 2q) / 2
  EXPECT_THROW(parse_loss("mq", {0.9f, 0.1f}), Error);
  EXPECT_THROW(parse_loss("mq", {1.5f}), Error);
  EXPECT_THROW(parse_loss("mse", {0.5f}), Error);
  EXPECT_THROW(parse_loss("logcosh"), Error);
}

// The nll loss: the sum of dist_nll over (row, step), the gradient its closed form times the
// scale, one term per step (terms() = 1 whatever Q); invalid parameters give NaN, not a throw
// (the loss runs inside the trainer's parallel region).
TEST(Loss, NegativeLogLikelihood) {
  const LossSpec t = parse_loss("nll", {}, 1.0f, "student_t");
  EXPECT_EQ(t.outputs(), 3u);
  EXPECT_EQ(t.terms(), 1u);
  EXPECT_EQ(output_spec(t), OutputSpec::distribution(DistKind::student_t));
  EXPECT_EQ(parse_loss("nll").dist, DistKind::student_t);  // DeepAR's default
  EXPECT_EQ(parse_loss("nll", {}, 1.0f, "negbin").outputs(), 2u);
  const float pred[6] = {0.5f, 1.5f, 4.0f, -1.0f, 0.25f, 3.2f}, y[2] = {1.0f, -0.7f};
  float g[6];
  const double sum = loss_sum_grad(t, pred, y, g, 1, 2, 0.5f);
  double want = 0;
  for (int i = 0; i < 2; ++i) {
    const double par[3] = {pred[3 * i], pred[3 * i + 1], pred[3 * i + 2]};
    double gd[3];
    want += dist_nll_grad(DistKind::student_t, par, y[i], gd);
    for (int q = 0; q < 3; ++q) EXPECT_FLOAT_EQ(g[3 * i + q], float(gd[q] * 0.5)) << i << " " << q;
  }
  EXPECT_NEAR(sum, want, 1e-12);
  EXPECT_NEAR(loss_sum_grad(t, pred, y, nullptr, 1, 2, 0.0f), want, 1e-12);
  const float bad[3] = {0.0f, -1.0f, 4.0f}, by[1] = {0.0f};
  float bg[3] = {9, 9, 9};
  EXPECT_TRUE(std::isnan(loss_sum_grad(t, bad, by, bg, 1, 1, 1.0f)));
  EXPECT_EQ(bg[1], 0.0f);
  const LossSpec nb = parse_loss("nll", {}, 1.0f, "negative_binomial");
  const float nbp[2] = {3.0f, 0.5f}, neg[1] = {-1.0f};
  EXPECT_TRUE(std::isnan(loss_sum_grad(nb, nbp, neg, nullptr, 1, 1, 0.0f)));  // a negative count
  EXPECT_THROW(parse_loss("nll", {}, 1.0f, "poisson"), Error);
  EXPECT_THROW(parse_loss("mae", {}, 1.0f, "gaussian"), Error);  // a distribution for a point loss
}

}  // namespace
}  // namespace ntn
