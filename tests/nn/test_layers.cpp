#include <cmath>
#include <cstring>
#include <limits>

#include "grad_check.h"
#include "ntn/error.h"
#include "ntn/kernels.h"
#include "ntn/mlp.h"
#include "ntn/nn.h"
#include "ntn/rng.h"

namespace ntn::nn {
namespace {

using test::dot;
using test::expect_fd_match;
using test::rand_d;

TEST(Layers, ParamSetNamesAlignmentAndErrors) {
  ParamSet<float> ps;
  Linear<float> a, b;
  a.declare(ps, "mlp.0", 3, 5);
  b.declare(ps, "mlp.1", 5, 2, false);
  ps.finalize();
  EXPECT_EQ(ps.entries().size(), 3u);
  EXPECT_EQ(ps.entries()[0].name, "mlp.0.weight");
  EXPECT_EQ(ps.entries()[0].shape, (Shape{5, 3}));
  EXPECT_EQ(ps.entries()[0].role, Role::linear_weight);
  EXPECT_EQ(ps.entries()[1].role, Role::bias);
  EXPECT_EQ(ps.entries()[0].bias, 1u);           // the product's bias, declared by the layer
  EXPECT_EQ(ps.entries()[2].bias, ps.npos);      // mlp.1 has none
  EXPECT_EQ(ps.count(), 15u + 5u + 10u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ps.value(i)) % 64, 0u);
  EXPECT_EQ(ps.index_of("mlp.1.weight"), 2u);
  EXPECT_THROW(ps.index_of("mlp.2.weight"), Error);
  EXPECT_THROW(ps.add("late", Shape{1}, Role::other), Error);
  ParamSet<float> dup;
  dup.add("x", Shape{1}, Role::other);
  EXPECT_THROW(dup.add("x", Shape{2}, Role::other), Error);
  EXPECT_THROW(dup.add("m", Shape{2, 3, 4}, Role::linear_weight), Error);  // a packed matrix is 2-D
  const std::size_t m = dup.add("m", Shape{2, 3}, Role::linear_weight);
  const std::size_t wrong = dup.add("wrong", Shape{3}, Role::bias);       // 3 rows, not 2
  EXPECT_THROW(dup.set_bias(m, wrong), Error);
  a.init(ps, 1);
  const float bound = 1.0f / std::sqrt(3.0f);
  for (std::size_t i = 0; i < 15; ++i) {
    EXPECT_LE(std::fabs(ps.value(0)[i]), bound);
  }
  EXPECT_NE(ps.value(0)[0], ps.value(0)[1]);
}

TEST(Layers, LinearGradientsByFiniteDifferences) {
  const std::size_t B = 3, in = 4, out = 5;
  ParamSet<double> ps;
  Linear<double> fc;
  fc.declare(ps, "fc", in, out);
  ps.finalize();
  std::vector<double> W = rand_d(out * in, 1), bias = rand_d(out, 2), x = rand_d(B * in, 3), r = rand_d(B * out, 4);
  auto load = [&] {
    std::memcpy(ps.value(fc.w), W.data(), W.size() * sizeof(double));
    std::memcpy(ps.value(fc.b), bias.data(), bias.size() * sizeof(double));
  };
  auto loss = [&] {
    load();
    std::vector<double> y(B * out);
    fc.forward(ps, x.data(), y.data(), B);
    return dot(y, r);
  };
  load();
  ps.zero_grad();
  std::vector<double> dx(B * in);
  fc.backward(ps, ps.grads(), x.data(), r.data(), dx.data(), B);
  std::vector<double> dW(ps.grad(fc.w), ps.grad(fc.w) + W.size()), db(ps.grad(fc.b), ps.grad(fc.b) + out);
  expect_fd_match(W, dW, loss, "linear dW");
  expect_fd_match(bias, db, loss, "linear db");
  expect_fd_match(x, dx, loss, "linear dx");
  // Backward accumulates: a second call doubles the parameter gradients.
  fc.backward(ps, ps.grads(), x.data(), r.data(), nullptr, B);
  EXPECT_NEAR(ps.grad(fc.w)[3], 2 * dW[3], 1e-12);
}

TEST(Layers, FloatLinearMatchesDouble) {
  const std::size_t B = 7, in = 33, out = 17;
  ParamSet<float> pf;
  ParamSet<double> pd;
  Linear<float> lf;
  Linear<double> ld;
  lf.declare(pf, "fc", in, out);
  ld.declare(pd, "fc", in, out);
  pf.finalize();
  pd.finalize();
  lf.init(pf, 5);
  ld.init(pd, 5);  // same streams: same values
  for (std::size_t i = 0; i < in * out; ++i) ASSERT_EQ(double(pf.value(lf.w)[i]), pd.value(ld.w)[i]);
  auto xd = rand_d(B * in, 6);
  std::vector<float> xf(xd.begin(), xd.end()), yf(B * out);
  std::vector<double> yd(B * out);
  lf.forward(pf, xf.data(), yf.data(), B);
  ld.forward(pd, xd.data(), yd.data(), B);
  for (std::size_t i = 0; i < yf.size(); ++i) EXPECT_NEAR(yf[i], yd[i], 1e-5);
}

TEST(Layers, ActivationGradientsByFiniteDifferences) {
  for (Act a : {Act::identity, Act::relu, Act::gelu, Act::tanh, Act::sigmoid, Act::softplus, Act::silu}) {
    std::vector<double> x = rand_d(40, 7, -3, 3), r = rand_d(40, 8);
    for (double& v : x)
      if (std::fabs(v) < 1e-3) v = 0.5;  // away from relu's kink
    auto loss = [&] {
      std::vector<double> y(x.size());
      act_forward(a, x.data(), y.data(), x.size());
      return dot(y, r);
    };
    std::vector<double> y(x.size()), dx(x.size());
    act_forward(a, x.data(), y.data(), x.size());
    act_backward(a, x.data(), y.data(), r.data(), dx.data(), x.size());
    expect_fd_match(x, dx, loss, act_name(a));
    // The float path (SIMD kernels) agrees with the double one.
    std::vector<float> xf(x.begin(), x.end()), yf(x.size()), rf(r.begin(), r.end()), dxf(x.size());
    act_forward(a, xf.data(), yf.data(), xf.size());
    act_backward(a, xf.data(), yf.data(), rf.data(), dxf.data(), xf.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(yf[i], y[i], 2e-6 * (1 + std::fabs(y[i]))) << act_name(a);
      EXPECT_NEAR(dxf[i], dx[i], 2e-6 * (1 + std::fabs(dx[i]))) << act_name(a);
    }
  }
  EXPECT_EQ(parse_act("ReLU"), Act::relu);
  EXPECT_THROW(parse_act("leaky"), Error);
}

TEST(Layers, DropoutIsInvertedSeededAndItsOwnGradient) {
  const std::size_t n = 100000;
  std::vector<double> x(n, 1.0), y(n), g(n);
  dropout_forward(x.data(), y.data(), n, 0.25f, 3, 9, 1000);
  std::size_t kept = 0;
  for (double v : y) {
    ASSERT_TRUE(v == 0.0 || std::fabs(v - 1.0 / 0.75) < 1e-12);
    kept += v != 0.0;
  }
  EXPECT_NEAR(double(kept) / n, 0.75, 0.01);
  dropout_backward(x.data(), g.data(), n, 0.25f, 3, 9, 1000);  // same (seed, stream, counter): same mask
  EXPECT_EQ(g, y);
  std::vector<double> y2(n);
  dropout_forward(x.data(), y2.data(), n, 0.25f, 3, 9, 2000);  // next step: another mask
  EXPECT_NE(y, y2);
  dropout_forward(x.data(), y2.data(), n, 0.0f, 3, 9, 0);
  EXPECT_EQ(y2, x);
  EXPECT_THROW(dropout_forward(x.data(), y2.data(), n, 1.0f, 3, 9, 0), Error);
  // The mask is element i's own Philox word (counter + i): any start counter and length, in
  // pieces or at once, gives the same bits as one block per element.
  const Rng rng(3, 9);
  for (std::uint64_t c0 : {0ull, 1ull, 2ull, 3ull, 7ull, (1ull << 40) + 5}) {
    for (std::size_t len : {std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(13)}) {
      std::vector<double> got(len);
      dropout_forward(x.data(), got.data(), len, 0.4f, 3, 9, c0);
      for (std::size_t i = 0; i < len; ++i) {
        const std::uint64_t w = c0 + i;
        const bool keep = rng.block(w >> 2)[w & 3] >= std::uint32_t(0.4 * 4294967296.0);
        ASSERT_EQ(got[i], keep ? 1.0 / (1.0 - double(0.4f)) : 0.0) << c0 << " " << len << " " << i;
      }
    }
  }
}

// The dropout kernel of every ISA draws U32::W Philox blocks at once: each element's keep bit is
// still its own word (Rng::block), for any start counter (mid-block, at the 2^32-block boundary
// where the lanes fall back to one block), any length (tails), in place, and float == double.
TEST(Layers, DropoutKernelEqualsPhiloxWordsOnEveryIsa) {
  const std::uint32_t th = std::uint32_t(0.3 * 4294967296.0);
  const float scale = 1.0f / (1.0f - 0.3f);
  const std::uint64_t seed = 0x1234567890abcdefull, stream = stream_id("blocks.0.dropout1");
  const Rng rng(seed, stream);
  std::vector<float> x(301);
  fill_uniform(x.data(), x.size(), -3.0f, 3.0f, 1, 2);
  for (Isa isa : supported_isas()) {
    const KernelTable& k = kernels_for(isa);
    for (std::uint64_t c0 : {0ull, 1ull, 3ull, 6ull, (1ull << 40) + 5, (0xFFFFFFFFull << 2) - 9, ~0ull - 300}) {
      for (std::size_t len : {std::size_t(1), std::size_t(5), std::size_t(31), std::size_t(64), std::size_t(301)}) {
        std::vector<float> y(len), inplace(x.begin(), x.begin() + std::ptrdiff_t(len));
        k.f32_dropout(x.data(), y.data(), len, th, scale, seed, stream, c0);
        k.f32_dropout(inplace.data(), inplace.data(), len, th, scale, seed, stream, c0);
        for (std::size_t i = 0; i < len; ++i) {
          const std::uint64_t w = c0 + i;
          const float want = rng.block(w >> 2)[w & 3] >= th ? x[i] * scale : 0.0f;
          ASSERT_EQ(y[i], want) << isa_name(isa) << " counter " << c0 << " length " << len << " element " << i;
          ASSERT_EQ(inplace[i], want) << isa_name(isa) << " in place";
        }
      }
    }
  }
  std::vector<double> xd(x.begin(), x.end()), yd(x.size());
  std::vector<float> yf(x.size());
  dropout_forward(xd.data(), yd.data(), x.size(), 0.3f, seed, stream, 77);
  dropout_forward(x.data(), yf.data(), x.size(), 0.3f, seed, stream, 77);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(yf[i] == 0.0f, yd[i] == 0.0) << i;
}

TEST(Layers, PoolingValuesAndGradients) {
  // L = 5, k = 2, ceil mode: windows [0,1], [2,3], [4] (partial).
  const std::vector<double> x = {1, 3, -2, -5, 4};
  std::vector<double> y(3);
  pool1d_forward(Pool::max, x.data(), y.data(), 1, 5, 2);
  EXPECT_EQ(y, (std::vector<double>{3, -2, 4}));
  pool1d_forward(Pool::avg, x.data(), y.data(), 1, 5, 2);
  EXPECT_EQ(y, (std::vector<double>{2, -3.5, 4}));
  EXPECT_EQ(pooled_length(168, 2), 84u);
  EXPECT_EQ(pooled_length(168, 5), 34u);
  for (Pool mode : {Pool::max, Pool::avg})
    for (std::size_t k : {std::size_t(1), std::size_t(2), std::size_t(3), std::size_t(4)}) {
      const std::size_t B = 2, L = 11, P = pooled_length(L, k);
      std::vector<double> xx = rand_d(B * L, 10 + k), r = rand_d(B * P, 20 + k), dx(B * L);
      auto loss = [&] {
        std::vector<double> yy(B * P);
        pool1d_forward(mode, xx.data(), yy.data(), B, L, k);
        return dot(yy, r);
      };
      pool1d_backward(mode, xx.data(), r.data(), dx.data(), B, L, k);
      expect_fd_match(xx, dx, loss, "pool k=" + std::to_string(k));
    }
  EXPECT_EQ(parse_pool("MaxPool1d"), Pool::max);
  EXPECT_THROW(parse_pool("sum"), Error);
}

// Max pooling as PyTorch: a NaN anywhere in a window wins, wherever it sits (k = 2 has its own
// loop; k = 3 the general one), and the partial last window of an odd length is its one value.
TEST(Layers, MaxPoolingPropagatesNaNForEveryKernel) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::size_t k;
    std::vector<float> x, want;  // want: NaN where a NaN is expected
  };
  const Case cases[] = {
      {2, {1, nan, 3, 2, -1, -4, 7}, {nan, 3, -1, 7}},
      {2, {nan, 1, 2, nan, 5, 6}, {nan, nan, 6}},
      {3, {1, 2, nan, 4, 9, 5, 8}, {nan, 9, 8}},
      {3, {nan, -1, -2, -3, nan, -4}, {nan, nan}},
  };
  for (const Case& c : cases) {
    std::vector<float> y(pooled_length(c.x.size(), c.k));
    ASSERT_EQ(y.size(), c.want.size());
    pool1d_forward(Pool::max, c.x.data(), y.data(), 1, c.x.size(), c.k);
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (std::isnan(c.want[i]))
        EXPECT_TRUE(std::isnan(y[i])) << "k=" << c.k << " output " << i;
      else
        EXPECT_EQ(y[i], c.want[i]) << "k=" << c.k << " output " << i;
    }
  }
}

TEST(Layers, InterpolationValuesAndGradients) {
  const std::vector<double> x = {1, 2};
  std::vector<double> y(4);
  interp1d_forward(interp_taps(Interp::linear, 2, 4), x.data(), y.data(), 1);  // torch: [1, 1.25, 1.75, 2]
  EXPECT_EQ(y, (std::vector<double>{1, 1.25, 1.75, 2}));
  interp1d_forward(interp_taps(Interp::nearest, 2, 4), x.data(), y.data(), 1);  // torch: [1, 1, 2, 2]
  EXPECT_EQ(y, (std::vector<double>{1, 1, 2, 2}));
  const std::vector<double> z = {1, 5, 3};
  std::vector<double> same(3);
  interp1d_forward(interp_taps(Interp::linear, 3, 3), z.data(), same.data(), 1);  // n == m: identity
  EXPECT_EQ(same, z);
  for (Interp mode : {Interp::linear, Interp::nearest})
    for (auto [n, m] : {std::pair<std::size_t, std::size_t>{6, 24}, {4, 96}, {24, 24}, {1, 5}, {5, 3}}) {
      const std::size_t B = 2;
      const InterpTaps taps = interp_taps(mode, n, m);
      std::vector<double> xx = rand_d(B * n, 30 + n), r = rand_d(B * m, 40 + m), dx(B * n);
      auto loss = [&] {
        std::vector<double> yy(B * taps.m);
        interp1d_forward(taps, xx.data(), yy.data(), B);
        return dot(yy, r);
      };
      interp1d_backward(taps, r.data(), dx.data(), B);
      expect_fd_match(xx, dx, loss, "interp " + std::to_string(n) + "->" + std::to_string(m));
    }
}

}  // namespace
}  // namespace ntn::nn

namespace ntn::nn {
namespace {

// An Mlp with an activation after every layer, the last one included, with and without
// dropout: every place the activation output is kept (in the next layer's input, a buffer of its
// own before dropout, the last layer's own buffer) feeds the backward of tanh / sigmoid, which
// read it.
TEST(Layers, MlpGradientsWithActivationEverywhere) {
  for (Act a : {Act::tanh, Act::sigmoid, Act::relu})
    for (float p : {0.0f, 0.25f}) {
      ParamSet<double> ps;
      Mlp<double> mlp;
      mlp.declare(ps, "m", {5, 7, 6, 4}, {true, true, true}, a, p);
      ps.finalize();
      mlp.init(ps, 3);
      const std::size_t B = 3;
      auto c = mlp.make_cache(B);
      RunCtx ctx;
      ctx.training = true;
      ctx.seed = 11;
      std::vector<double> x = rand_d(B * 5, 7), r = rand_d(B * 4, 8), y(B * 4), dx(B * 5);
      auto loss = [&] {
        std::vector<double> out(B * 4);
        mlp.forward(ps, c, x.data(), out.data(), B, ctx);
        return dot(out, r);
      };
      mlp.forward(ps, c, x.data(), y.data(), B, ctx);
      ps.zero_grad();
      mlp.backward(ps, ps.grads(), c, r.data(), dx.data(), B, ctx);
      const std::string what = std::string(act_name(a)) + " dropout " + std::to_string(p);
      expect_fd_match(x, dx, loss, what + " dx", 1e-5);
      test::expect_param_grads_fd_match(ps, loss, what + " ", 1e-5);
    }
}

}  // namespace
}  // namespace ntn::nn
