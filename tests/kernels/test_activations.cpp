#include <limits>

#include "kernel_test_util.h"

namespace ntn::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using ActivationTest = IsaTest;
NTN_INSTANTIATE_ISA_TESTS(ActivationTest);

using Fwd = void (*)(const float*, float*, std::size_t);
using Bwd = void (*)(const float*, const float*, float*, std::size_t);
struct Act {
  const char* name;
  Fwd KernelTable::*fwd;
  Bwd KernelTable::*bwd;
  bool bwd_takes_y;  // tanh, sigmoid: backward reads the output
};
const Act kActs[] = {
    {"relu", &KernelTable::f32_relu, &KernelTable::f32_relu_bwd, false},
    {"gelu", &KernelTable::f32_gelu, &KernelTable::f32_gelu_bwd, false},
    {"tanh", &KernelTable::f32_tanh, &KernelTable::f32_tanh_bwd, true},
    {"sigmoid", &KernelTable::f32_sigmoid, &KernelTable::f32_sigmoid_bwd, true},
    {"softplus", &KernelTable::f32_softplus, &KernelTable::f32_softplus_bwd, false},
    {"silu", &KernelTable::f32_silu, &KernelTable::f32_silu_bwd, false},
};

TEST_P(ActivationTest, ForwardAndBackwardMatchReference) {
  for (const Act& a : kActs)
    for (std::size_t n : sizes()) {
      // Wide range: both polynomial branches, the tails, the softplus threshold.
      const auto x = rand_vec(n, 10, -25.0f, 25.0f), dy = rand_vec(n, 11);
      std::vector<float> y(n), yr(n), dx(n), dxr(n);
      (k().*a.fwd)(x.data(), y.data(), n);
      (ref().*a.fwd)(x.data(), yr.data(), n);
      expect_all_close(y, yr, 2e-7f, 4e-6f, std::string(a.name) + " forward");
      const auto& in = a.bwd_takes_y ? yr : x;
      (k().*a.bwd)(in.data(), dy.data(), dx.data(), n);
      (ref().*a.bwd)(in.data(), dy.data(), dxr.data(), n);
      expect_all_close(dx, dxr, 1e-6f, 1e-5f, std::string(a.name) + " backward");
      // In place: y over x, dx over dy.
      std::vector<float> ip = x;
      (k().*a.fwd)(ip.data(), ip.data(), n);
      expect_all_close(ip, y, 0, 0, std::string(a.name) + " forward in place");
      ip = dy;
      (k().*a.bwd)(in.data(), ip.data(), ip.data(), n);
      expect_all_close(ip, dx, 0, 0, std::string(a.name) + " backward in place");
    }
}

TEST_P(ActivationTest, SmallArgumentsKeepRelativeAccuracy) {
  // Near 0 tanh, sigmoid - 1/2, gelu and silu are where naive formulas cancel.
  for (const Act& a : kActs) {
    const auto x = rand_vec(1021, 12, -1e-3f, 1e-3f);
    std::vector<float> y(x.size()), yr(x.size());
    (k().*a.fwd)(x.data(), y.data(), x.size());
    (ref().*a.fwd)(x.data(), yr.data(), x.size());
    expect_all_close(y, yr, 1e-9f, 4e-6f, std::string(a.name) + " near zero");
  }
}

TEST_P(ActivationTest, HandComputedValues) {
  const std::vector<float> x = {-2.0f, -0.5f, 0.0f, 0.5f, 2.0f};
  std::vector<float> y(5);
  k().f32_relu(x.data(), y.data(), 5);
  EXPECT_EQ(y, (std::vector<float>{0, 0, 0, 0.5f, 2.0f}));
  k().f32_sigmoid(x.data(), y.data(), 5);
  EXPECT_NEAR(y[0], 0.11920292f, 1e-7f);
  EXPECT_EQ(y[2], 0.5f);
  k().f32_tanh(x.data(), y.data(), 5);
  EXPECT_NEAR(y[1], -0.46211716f, 1e-7f);
  EXPECT_NEAR(y[4], 0.96402758f, 1e-7f);
  k().f32_gelu(x.data(), y.data(), 5);  // x * Phi(x)
  EXPECT_NEAR(y[0], -0.04550026f, 1e-7f);
  EXPECT_NEAR(y[3], 0.34573123f, 1e-7f);
  k().f32_softplus(x.data(), y.data(), 5);
  EXPECT_NEAR(y[2], 0.69314718f, 1e-7f);
  EXPECT_NEAR(y[4], 2.12692801f, 2e-7f);
  k().f32_silu(x.data(), y.data(), 5);
  EXPECT_NEAR(y[0], -0.23840584f, 1e-7f);
}

TEST_P(ActivationTest, NonFiniteInputsHaveDefinedResults) {
  const std::vector<float> x = {kNaN, kInf, -kInf, kNaN, kInf, -kInf, kNaN, 0.0f, 1.0f};
  std::vector<float> y(x.size());
  struct Want { Fwd KernelTable::*fwd; float at_pinf, at_ninf; };
  const Want wants[] = {{&KernelTable::f32_relu, kInf, 0.0f},   {&KernelTable::f32_gelu, kInf, 0.0f},
                        {&KernelTable::f32_tanh, 1.0f, -1.0f},  {&KernelTable::f32_sigmoid, 1.0f, 0.0f},
                        {&KernelTable::f32_softplus, kInf, 0.0f}, {&KernelTable::f32_silu, kInf, 0.0f}};
  for (const Want& w : wants) {
    for (const KernelTable* t : {&k(), &ref()}) {
      (t->*w.fwd)(x.data(), y.data(), x.size());
      EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[3]) && std::isnan(y[6])) << isa_name(t->isa);
      EXPECT_EQ(y[1], w.at_pinf) << isa_name(t->isa);
      EXPECT_EQ(y[4], w.at_pinf) << isa_name(t->isa);
      EXPECT_EQ(y[2], w.at_ninf) << isa_name(t->isa);
      EXPECT_EQ(y[5], w.at_ninf) << isa_name(t->isa);
    }
  }
}

TEST_P(ActivationTest, SoftmaxRowsSumToOneAndMatchReference) {
  for (std::size_t cols : sizes()) {
    const std::size_t rows = 3;
    const auto x = rand_vec(rows * cols, 13, -20.0f, 20.0f), dy = rand_vec(rows * cols, 14);
    std::vector<float> y(x.size()), yr(x.size()), dx(x.size()), dxr(x.size());
    k().f32_softmax(x.data(), y.data(), rows, cols);
    ref().f32_softmax(x.data(), yr.data(), rows, cols);
    expect_all_close(y, yr, 1e-7f, 1e-5f, "softmax");
    for (std::size_t r = 0; r < rows; ++r) EXPECT_NEAR(k().f32_sum(y.data() + r * cols, cols), 1.0f, 1e-5f);
    k().f32_softmax_bwd(yr.data(), dy.data(), dx.data(), rows, cols);
    ref().f32_softmax_bwd(yr.data(), dy.data(), dxr.data(), rows, cols);
    expect_all_close(dx, dxr, 1e-6f, 1e-5f, "softmax backward");
    std::vector<float> ip = x;
    k().f32_softmax(ip.data(), ip.data(), rows, cols);
    expect_all_close(ip, y, 0, 0, "softmax in place");
  }
  // Shift invariance and a huge logit (no overflow): softmax(x + 1000) == softmax(x).
  std::vector<float> a = {1, 2, 3}, b = {1001, 1002, 1003}, ya(3), yb(3);
  k().f32_softmax(a.data(), ya.data(), 1, 3);
  k().f32_softmax(b.data(), yb.data(), 1, 3);
  expect_all_close(yb, ya, 1e-7f, 1e-5f, "softmax shift");
  // -inf logits get probability 0; a NaN logit makes the row NaN.
  std::vector<float> c = {0.0f, -kInf, 0.0f, kNaN}, yc(4);
  k().f32_softmax(c.data(), yc.data(), 1, 3);
  EXPECT_EQ(yc[1], 0.0f);
  EXPECT_FLOAT_EQ(yc[0], 0.5f);
  k().f32_softmax(c.data(), yc.data(), 1, 4);
  EXPECT_TRUE(std::isnan(yc[0]));
}

TEST_P(ActivationTest, LayerNormMatchesReference) {
  for (std::size_t cols : sizes()) {
    const std::size_t rows = 4;
    const auto x = rand_vec(rows * cols, 15, -5.0f, 7.0f), dy = rand_vec(rows * cols, 16);
    const auto gamma = rand_vec(cols, 17, 0.5f, 1.5f), beta = rand_vec(cols, 18);
    std::vector<float> y(x.size()), yr(x.size()), mean(rows), rstd(rows), meanr(rows), rstdr(rows);
    k().f32_layernorm(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(), rows, cols, 1e-5f);
    ref().f32_layernorm(x.data(), gamma.data(), beta.data(), yr.data(), meanr.data(), rstdr.data(), rows, cols, 1e-5f);
    expect_all_close(y, yr, 2e-5f, 2e-5f, "layernorm");
    expect_all_close(mean, meanr, 1e-6f, 1e-5f, "layernorm mean");
    expect_all_close(rstd, rstdr, 1e-6f, 1e-4f, "layernorm rstd");
    std::vector<float> dx(x.size()), dxr(x.size()), dg(cols, 0.5f), dgr(cols, 0.5f), db(cols, 0.25f), dbr(cols, 0.25f);
    k().f32_layernorm_bwd(x.data(), dy.data(), gamma.data(), meanr.data(), rstdr.data(), dx.data(), dg.data(),
                          db.data(), rows, cols);
    ref().f32_layernorm_bwd(x.data(), dy.data(), gamma.data(), meanr.data(), rstdr.data(), dxr.data(), dgr.data(),
                            dbr.data(), rows, cols);
    // dx is a difference of terms of size rstd |dy gamma|: the tolerance scales with it (cols = 1
    // gives rstd = 1/sqrt(eps) = 316, where one rounding of the FMA-contracted sum shows).
    float big = 0;
    for (std::size_t r = 0; r < rows; ++r) big = std::max(big, rstdr[r]);
    expect_all_close(dx, dxr, 3e-6f * big, 1e-4f, "layernorm dx");
    expect_all_close(dg, dgr, 2e-5f, 1e-5f, "layernorm dgamma (accumulated)");
    expect_all_close(db, dbr, 1e-6f, 1e-6f, "layernorm dbeta (accumulated)");
  }
}

// The reference backward is the derivative of the reference forward: check by central
// differences in double precision around points away from kinks.
TEST(ActivationReference, BackwardIsDerivativeOfForward) {
  const KernelTable& r = kernels_for(Isa::scalar);
  const std::vector<float> xs = {-3.1f, -1.2f, -0.3f, 0.4f, 1.7f, 2.9f};
  for (const Act& a : kActs) {
    for (float x0 : xs) {
      const float h = 1e-2f;
      float xp = x0 + h, xm = x0 - h, yp, ym, y0, one = 1.0f, dx;
      (r.*a.fwd)(&xp, &yp, 1);
      (r.*a.fwd)(&xm, &ym, 1);
      (r.*a.fwd)(&x0, &y0, 1);
      const double fd = (double(yp) - double(ym)) / (double(xp) - double(xm));
      (r.*a.bwd)(a.bwd_takes_y ? &y0 : &x0, &one, &dx, 1);
      EXPECT_NEAR(dx, fd, 2e-3) << a.name << " at " << x0;
    }
  }
}

}  // namespace
}  // namespace ntn::test
