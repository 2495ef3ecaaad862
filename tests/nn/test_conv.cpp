// Causal dilated convolution (ntn/conv.h): finite-difference gradients over a table of shapes
// (every column, the last few columns of a longer sequence, columns that read the zero padding,
// 1x1), outputs and every gradient against torch's conv1d over a left-padded input
// (tests/fixtures/golden_conv.safetensors from dev/golden_conv.py), streaming one column at a time
// == the batch forward bitwise, and the declaration errors.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "expect_error.h"
#include "grad_check.h"
#include "ntn/conv.h"
#include "ntn/error.h"
#include "ntn/rng.h"
#include "ntn/safetensors.h"

namespace ntn::nn {
namespace {

using test::dot;
using test::expect_fd_match;
using test::rand_d;

struct Case {
  std::size_t in, out, kernel, dilation, B, T, Tin, Tout;
};

TEST(Conv, GradientsByFiniteDifferences) {
  const Case cases[] = {
      {2, 3, 3, 2, 2, 7, 7, 7},   // every column; the first 4 read padding
      {3, 2, 2, 3, 2, 9, 9, 2},   // the last 2 columns; Tin = T (reads from the start)
      {2, 2, 3, 1, 3, 20, 5, 3},  // a window inside a long sequence: Tin = Tout + span
      {3, 4, 1, 1, 2, 5, 5, 5},   // 1x1, read in place
      {3, 4, 1, 1, 2, 6, 6, 2},   // 1x1 over the last columns: gathered
      {2, 2, 4, 3, 1, 4, 4, 4},   // span 9 > T
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(testing::Message() << "in " << k.in << " out " << k.out << " K " << k.kernel << " d "
                                    << k.dilation << " Tin " << k.Tin << " Tout " << k.Tout);
    ParamSet<double> ps;
    CausalConv1d<double> conv;
    conv.declare(ps, "c", k.in, k.out, k.kernel, k.dilation);
    ps.finalize();
    conv.init(ps, 3);
    EXPECT_EQ(conv.input_columns(k.Tout, k.T), std::min(k.T, k.Tout + (k.kernel - 1) * k.dilation));
    auto x = rand_d(k.B * k.Tin * k.in, 1);
    const auto r = rand_d(k.B * k.Tout * k.out, 2);
    auto c = conv.make_cache(k.B, k.Tin, k.Tout);
    std::vector<double> y(r.size()), dx(x.size());
    auto loss = [&] {
      conv.forward(ps, c, x.data(), y.data(), k.B, k.Tin, k.Tout, {});
      return dot(y, r);
    };
    loss();
    ps.zero_grad();
    conv.backward(ps, ps.grads(), c, r.data(), dx.data(), k.B, k.Tin, k.Tout, {});
    test::expect_param_grads_fd_match(ps, loss, "conv ", 1e-6);
    expect_fd_match(x, dx, loss, "dx");
    // Overwrite (ctx.accumulate = false) == zero then accumulate.
    std::vector<double> want(ps.grads(), ps.grads() + ps.slab_size());
    std::fill(ps.grads(), ps.grads() + ps.slab_size(), 7.0);
    RunCtx over;
    over.accumulate = false;
    loss();
    conv.backward(ps, ps.grads(), c, r.data(), nullptr, k.B, k.Tin, k.Tout, over);
    for (std::size_t i = 0; i < ps.entries().size(); ++i)
      for (std::size_t j = 0; j < ps.entries()[i].size; ++j)
        EXPECT_EQ(ps.grad(i)[j], want[ps.offset(i) + j]) << ps.entries()[i].name;
  }
}

template <class T>
void golden_case(const SafeTensorsFile& f, const std::string& name, double tol) {
  const auto cfg = nlohmann::json::parse(f.meta(name));
  const std::size_t in = cfg["in"], out = cfg["out"], K = cfg["kernel"], d = cfg["dilation"],
                    B = cfg["batch"], L = cfg["T"];
  SCOPED_TRACE(name + (sizeof(T) == 4 ? " float" : " double"));
  std::vector<float> tmp;
  auto get = [&](const std::string& key) {
    const Shape sh = f.tensors().at(name + "/" + key).shape;
    const float* p = f.get_f32(name + "/" + key, sh, tmp);
    return std::vector<T>(p, p + sh.numel());
  };
  auto rel = [](const T* got, const std::vector<T>& want) {
    double diff = 0, scale = 1e-3;
    for (std::size_t i = 0; i < want.size(); ++i) {
      diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
      scale = std::max(scale, std::fabs(double(want[i])));
    }
    return diff / scale;
  };
  ParamSet<T> ps;
  CausalConv1d<T> conv;
  conv.declare(ps, "conv", in, out, K, d);
  ps.finalize();
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto v = get("param/" + ps.entries()[i].name);
    ASSERT_EQ(v.size(), ps.entries()[i].size) << ps.entries()[i].name;
    std::copy(v.begin(), v.end(), ps.value(i));
  }
  const auto x = get("x"), r = get("r"), want = get("y");
  auto c = conv.make_cache(B, L, L);
  std::vector<T> y(B * L * out), dx(x.size());
  conv.forward(ps, c, x.data(), y.data(), B, L, L, {});
  EXPECT_LE(rel(y.data(), want), tol) << "output";
  ps.zero_grad();
  conv.backward(ps, ps.grads(), c, r.data(), dx.data(), B, L, L, {});
  for (std::size_t i = 0; i < ps.entries().size(); ++i)
    EXPECT_LE(rel(ps.grad(i), get("grad/" + ps.entries()[i].name)), tol) << ps.entries()[i].name;
  EXPECT_LE(rel(dx.data(), get("dx")), tol) << "dx";
  // The last 2 columns from only the input columns they read: torch's last 2 columns.
  const std::size_t n = 2, tin = conv.input_columns(n, L);
  std::vector<T> xs(B * tin * in), ys(B * n * out), ws(B * n * out);
  for (std::size_t b = 0; b < B; ++b) {
    std::copy_n(x.begin() + std::ptrdiff_t((b * L + L - tin) * in), tin * in,
                xs.begin() + std::ptrdiff_t(b * tin * in));
    std::copy_n(want.begin() + std::ptrdiff_t((b * L + L - n) * out), n * out,
                ws.begin() + std::ptrdiff_t(b * n * out));
  }
  auto cs = conv.make_cache(B, tin, n);
  conv.forward(ps, cs, xs.data(), ys.data(), B, tin, n, {});
  EXPECT_LE(rel(ys.data(), ws), tol) << "last columns";
}

TEST(Conv, MatchesPyTorchConv1dWithLeftPadding) {
  const SafeTensorsFile f = SafeTensorsFile::read(std::string(NTN_FIXTURES) + "/golden_conv.safetensors");
  EXPECT_EQ(f.meta("cases"), "k3_d2,k2_d5,k4_d1,k1,span_over_t");
  for (const std::string name : {"k3_d2", "k2_d5", "k4_d1", "k1", "span_over_t"}) {
    golden_case<double>(f, name, 1e-6);
    golden_case<float>(f, name, 2e-6);
  }
}

// One column at a time through a ring of span + 1 columns == the batch forward, bitwise (the
// same gathered row through the same product).
TEST(Conv, StreamingOneColumnEqualsBatchBitwise) {
  for (std::size_t K : {1, 2, 3}) {
    const std::size_t in = 5, out = 7, d = 3, L = 40;
    ParamSet<float> ps;
    CausalConv1d<float> conv;
    conv.declare(ps, "c", in, out, K, d);
    ps.finalize();
    conv.init(ps, 4);
    std::vector<float> x(L * in), y(L * out);
    fill_uniform(x.data(), x.size(), -2.0f, 2.0f, 1, 9);
    auto c = conv.make_cache(1, L, L, true);
    conv.forward(ps, c, x.data(), y.data(), 1, L, L, {});
    std::vector<float> ring(conv.ring_columns() * in, 0.0f), col(K * in), yt(out);
    for (std::size_t t = 0; t < L; ++t) {
      conv.step(ps, ring.data(), t % conv.ring_columns(), x.data() + t * in, yt.data(), col.data(), {});
      ASSERT_EQ(std::memcmp(yt.data(), y.data() + t * out, out * sizeof(float)), 0)
          << "K " << K << " column " << t;
    }
  }
}

TEST(Conv, DeclarationErrorsNameTheLayer) {
  ParamSet<float> ps;
  CausalConv1d<float> conv;
  test::expect_error([&] { conv.declare(ps, "blocks.0.conv1", 3, 4, 0, 1); },
                     {"conv 'blocks.0.conv1'", "kernel (0)"});
  test::expect_error([&] { conv.declare(ps, "blocks.0.conv2", 3, 4, 2, 0); },
                     {"dilation (0)", "must be positive"});
  conv.declare(ps, "ok", 3, 4, 2, 5);
  EXPECT_EQ(ps.entries()[0].role, Role::conv_kernel);
  EXPECT_EQ(ps.entries()[0].shape, (Shape{4, 6}));  // (out, kernel * in)
  EXPECT_TRUE(ps.entries()[0].packed());
}

}  // namespace
}  // namespace ntn::nn
