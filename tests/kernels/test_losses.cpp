#include <limits>

#include "kernel_test_util.h"

namespace ntn::test {
namespace {

using LossTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(LossTest);

TEST_P(LossTest, FusedLossAndGradientMatchReference) {
  for (std::size_t n : sizes()) {
    const auto p = rand_vec(n, 30), t = rand_vec(n, 31);
    std::vector<float> g(n), gr(n);
    EXPECT_TRUE(close(k().f32_mse(p.data(), t.data(), g.data(), n), ref().f32_mse(p.data(), t.data(), gr.data(), n),
                      1e-6f, 1e-5f));
    expect_all_close(g, gr, 1e-7f, 1e-6f, "mse grad");
    EXPECT_TRUE(close(k().f32_mae(p.data(), t.data(), g.data(), n), ref().f32_mae(p.data(), t.data(), gr.data(), n),
                      1e-6f, 1e-5f));
    expect_all_close(g, gr, 0, 0, "mae grad");
    for (float delta : {0.5f, 1.0f, 2.0f}) {
      EXPECT_TRUE(close(k().f32_huber(p.data(), t.data(), g.data(), n, delta),
                        ref().f32_huber(p.data(), t.data(), gr.data(), n, delta), 1e-6f, 1e-5f));
      expect_all_close(g, gr, 1e-7f, 1e-6f, "huber grad");
    }
    // No gradient requested, and gradient written over the prediction (in place).
    EXPECT_TRUE(close(k().f32_mse(p.data(), t.data(), nullptr, n), ref().f32_mse(p.data(), t.data(), nullptr, n),
                      1e-6f, 1e-5f));
    std::vector<float> ip = p;
    ref().f32_mse(p.data(), t.data(), gr.data(), n);
    k().f32_mse(ip.data(), t.data(), ip.data(), n);
    expect_all_close(ip, gr, 1e-7f, 1e-6f, "mse grad in place");
  }
}

TEST_P(LossTest, HandComputedValues) {
  const std::vector<float> p = {1, 2, 3, 4}, t = {1, 0, 5, 4.5f};  // d = 0, 2, -2, -0.5
  std::vector<float> g(4);
  EXPECT_FLOAT_EQ(k().f32_mse(p.data(), t.data(), g.data(), 4), (0 + 4 + 4 + 0.25f) / 4);
  EXPECT_EQ(g, (std::vector<float>{0, 1.0f, -1.0f, -0.25f}));  // 2 d / n
  EXPECT_FLOAT_EQ(k().f32_mae(p.data(), t.data(), g.data(), 4), (0 + 2 + 2 + 0.5f) / 4);
  EXPECT_EQ(g, (std::vector<float>{0, 0.25f, -0.25f, -0.25f}));  // sign(d) / n, sign(0) = 0
  // Huber, delta 1: 0, 1*(2 - 0.5), 1.5, 0.5*0.25
  EXPECT_FLOAT_EQ(k().f32_huber(p.data(), t.data(), g.data(), 4, 1.0f), (0 + 1.5f + 1.5f + 0.125f) / 4);
  EXPECT_EQ(g, (std::vector<float>{0, 0.25f, -0.25f, -0.125f}));  // clamp(d, -1, 1) / n
}

TEST_P(LossTest, NanPropagatesToLossAndGradient) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> p = rand_vec(19, 32), t = rand_vec(19, 33), g(19);
  p[17] = nan;
  for (const KernelTable* kt : {&k(), &ref()}) {
    EXPECT_TRUE(std::isnan(kt->f32_mse(p.data(), t.data(), g.data(), 19)));
    EXPECT_TRUE(std::isnan(g[17]));
    EXPECT_FALSE(std::isnan(g[16]));
    EXPECT_TRUE(std::isnan(kt->f32_mae(p.data(), t.data(), g.data(), 19)));
    EXPECT_TRUE(std::isnan(g[17]));
    EXPECT_TRUE(std::isnan(kt->f32_huber(p.data(), t.data(), g.data(), 19, 1.0f)));
    EXPECT_TRUE(std::isnan(g[17]));
    EXPECT_TRUE(std::isnan(kt->f32_mse(p.data(), t.data(), nullptr, 0)));  // empty: mean undefined
  }
}

}  // namespace
}  // namespace ntn::test

namespace ntn::test {
namespace {

using AdamKernelTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(AdamKernelTest);

TEST_P(AdamKernelTest, MatchesReferenceOverSteps) {
  for (std::size_t n : sizes()) {
    auto p = rand_vec(n, 60), pr = p;
    std::vector<float> m(n, 0.0f), v(n, 0.0f), mr(n, 0.0f), vr(n, 0.0f);
    for (int t = 1; t <= 5; ++t) {
      const auto g = rand_vec(n, 60 + std::uint64_t(t));
      const float bc1 = 1.0f - std::pow(0.9f, float(t)), bc2 = 1.0f - std::pow(0.999f, float(t));
      for (float decoupled : {0.0f, 1e-4f}) {
        k().f32_adam(p.data(), g.data(), m.data(), v.data(), n, 1e-3f / bc1, 0.9f, 0.999f, 1e-8f,
                     1.0f / std::sqrt(bc2), 0.01f, decoupled);
        ref().f32_adam(pr.data(), g.data(), mr.data(), vr.data(), n, 1e-3f / bc1, 0.9f, 0.999f, 1e-8f,
                       1.0f / std::sqrt(bc2), 0.01f, decoupled);
      }
    }
    expect_all_close(p, pr, 1e-6f, 1e-6f, "adam params");
    expect_all_close(m, mr, 1e-7f, 1e-5f, "adam m");
    expect_all_close(v, vr, 1e-9f, 1e-5f, "adam v");
  }
}

}  // namespace
}  // namespace ntn::test
