// Recurrent layers (ntn/rnn.h): finite-difference gradients per cell, stacked, bidirectional and
// with dropout; the fused cell against the same cell composed from Linear + sigmoid + tanh (values
// and gradients through time); golden outputs, final states and every gradient against
// torch.nn.GRU / torch.nn.LSTM (tests/fixtures/golden_rnn.safetensors from dev/golden_rnn.py);
// streaming steps == the batch forward, bitwise in float.
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "grad_check.h"
#include "ntn/error.h"
#include "ntn/rnn.h"
#include "ntn/safetensors.h"

namespace ntn::nn {
namespace {

using test::dot;
using test::expect_fd_match;
using test::rand_d;

struct Spec {
  Cell cell;
  std::size_t input, hidden, layers;
  bool bi;
  float dropout;
  std::size_t T, B;
};

std::string label(const Spec& s) {
  return cat(cell_name(s.cell), " in ", s.input, " hidden ", s.hidden, " layers ", s.layers, s.bi ? " bi" : "",
             s.dropout > 0 ? cat(" dropout ", s.dropout) : "");
}

template <class T>
struct Net {
  ParamSet<T> ps;
  Recurrent<T> rnn;
  explicit Net(const Spec& s, std::uint64_t seed = 3) {
    rnn.declare(ps, "rnn", s.cell, s.input, s.hidden, s.layers, s.bi, s.dropout);
    ps.finalize();
    rnn.init(ps, seed);
  }
};

const Spec kSpecs[] = {
    {Cell::gru, 3, 4, 1, false, 0.0f, 5, 2},  {Cell::lstm, 3, 4, 1, false, 0.0f, 5, 2},
    {Cell::gru, 2, 3, 2, true, 0.0f, 4, 2},   {Cell::lstm, 2, 3, 2, true, 0.0f, 4, 2},
    {Cell::gru, 2, 3, 3, false, 0.4f, 4, 3},  {Cell::lstm, 2, 3, 3, true, 0.4f, 3, 2},
};

// loss = sum(y * r): every parameter gradient and dx against central differences.
TEST(Recurrent, GradientsByFiniteDifferences) {
  for (const Spec& s : kSpecs) {
    SCOPED_TRACE(label(s));
    Net<double> n(s);
    auto cache = n.rnn.make_cache(s.B, s.T);
    auto x = rand_d(s.T * s.B * s.input, 1);
    const auto r = rand_d(s.T * s.B * n.rnn.out(), 2);
    RunCtx ctx;
    ctx.training = s.dropout > 0;
    ctx.seed = 99;
    ctx.step = 4;
    auto loss = [&] {
      n.rnn.forward(n.ps, cache, x.data(), s.T, s.B, ctx);
      return dot(std::vector<double>(cache.output(), cache.output() + r.size()), r);
    };
    loss();
    n.ps.zero_grad();
    std::vector<double> dx(x.size());
    n.rnn.backward(n.ps, n.ps.grads(), cache, r.data(), dx.data(), s.T, s.B, ctx);
    test::expect_param_grads_fd_match(n.ps, loss, label(s) + " ", 1e-6);
    expect_fd_match(x, dx, loss, label(s) + " dx", 1e-6);
  }
}

// backward with accumulate = false overwrites what accumulate = true adds to a zeroed slab.
TEST(Recurrent, OverwriteEqualsZeroThenAccumulate) {
  const Spec s{Cell::lstm, 2, 3, 2, true, 0.0f, 4, 2};
  Net<double> n(s);
  auto cache = n.rnn.make_cache(s.B, s.T);
  const auto x = rand_d(s.T * s.B * s.input, 1);
  const auto r = rand_d(s.T * s.B * n.rnn.out(), 2);
  n.rnn.forward(n.ps, cache, x.data(), s.T, s.B, {});
  n.ps.zero_grad();
  n.rnn.backward(n.ps, n.ps.grads(), cache, r.data(), nullptr, s.T, s.B, {});
  std::vector<double> want(n.ps.grads(), n.ps.grads() + n.ps.slab_size());
  std::vector<double> got(n.ps.slab_size(), 7.0);
  RunCtx ctx;
  ctx.accumulate = false;
  n.rnn.backward(n.ps, got.data(), cache, r.data(), nullptr, s.T, s.B, ctx);
  for (std::size_t i = 0; i < n.ps.entries().size(); ++i) {
    const auto& e = n.ps.entries()[i];
    for (std::size_t j = 0; j < e.size; ++j) EXPECT_EQ(got[e.offset + j], want[e.offset + j]) << e.name;
  }
}

// The same cell composed from the generic pieces: Linear for each product, act_forward /
// act_backward for each nonlinearity, elementwise products, weight gradients accumulated step by
// step (the fused layer does them as one product over all steps).
template <class T>
struct Composed {
  const Recurrent<T>& r;
  const ParamSet<T>& ps;
  std::size_t T_, B;
  std::vector<std::vector<T>> h, c, a, b, act, tc;  // per step

  void forward(const T* x) {
    const std::size_t Hd = r.hidden, G = r.gates();
    const auto& d = r.dirs[0];
    h.assign(T_ + 1, std::vector<T>(B * Hd, 0));
    c.assign(T_ + 1, std::vector<T>(B * Hd, 0));
    a.assign(T_, std::vector<T>(B * G));
    b = a;
    act = a;
    tc.assign(T_, std::vector<T>(B * Hd));
    for (std::size_t t = 0; t < T_; ++t) {
      d.ih.forward(ps, x + t * B * r.input, a[t].data(), B);
      d.hh.forward(ps, h[t].data(), b[t].data(), B);
      for (std::size_t k = 0; k < B; ++k) {
        const T* ak = a[t].data() + k * G;
        const T* bk = b[t].data() + k * G;
        T* g = act[t].data() + k * G;
        const T* hp = h[t].data() + k * Hd;
        T* hn = h[t + 1].data() + k * Hd;
        if (r.cell == Cell::lstm) {
          for (std::size_t j = 0; j < G; ++j) g[j] = ak[j] + bk[j];
          act_forward(Act::sigmoid, g, g, Hd);
          act_forward(Act::sigmoid, g + Hd, g + Hd, Hd);
          act_forward(Act::tanh, g + 2 * Hd, g + 2 * Hd, Hd);
          act_forward(Act::sigmoid, g + 3 * Hd, g + 3 * Hd, Hd);
          T* cn = c[t + 1].data() + k * Hd;
          for (std::size_t j = 0; j < Hd; ++j) cn[j] = g[Hd + j] * c[t][k * Hd + j] + g[j] * g[2 * Hd + j];
          act_forward(Act::tanh, cn, tc[t].data() + k * Hd, Hd);
          for (std::size_t j = 0; j < Hd; ++j) hn[j] = g[3 * Hd + j] * tc[t][k * Hd + j];
        } else {
          for (std::size_t j = 0; j < 2 * Hd; ++j) g[j] = ak[j] + bk[j];
          act_forward(Act::sigmoid, g, g, 2 * Hd);
          for (std::size_t j = 0; j < Hd; ++j) g[2 * Hd + j] = ak[2 * Hd + j] + g[j] * bk[2 * Hd + j];
          act_forward(Act::tanh, g + 2 * Hd, g + 2 * Hd, Hd);
          for (std::size_t j = 0; j < Hd; ++j)
            hn[j] = (T(1) - g[Hd + j]) * g[2 * Hd + j] + g[Hd + j] * hp[j];
        }
      }
    }
  }
  // dy (T, B, Hd): gradient of every output; grads accumulated, dx (T, B, in) written.
  void backward(T* grads, const T* dy, T* dx) {
    const std::size_t Hd = r.hidden, G = r.gates();
    const auto& d = r.dirs[0];
    std::vector<T> dh(B * Hd, 0), dc(B * Hd, 0), da(B * G), db(B * G), dhp(B * Hd), pre(B * G), tmp(Hd);
    for (std::size_t t = T_; t-- > 0;) {
      for (std::size_t i = 0; i < B * Hd; ++i) dh[i] += dy[t * B * Hd + i];
      std::vector<T> direct(B * Hd, 0);
      for (std::size_t k = 0; k < B; ++k) {
        const T* g = act[t].data() + k * G;
        T* dak = da.data() + k * G;
        T* dbk = db.data() + k * G;
        const T* dhk = dh.data() + k * Hd;
        if (r.cell == Cell::lstm) {
          const T* tck = tc[t].data() + k * Hd;
          std::vector<T> dtc(Hd), dcv(Hd), dgate(G);
          for (std::size_t j = 0; j < Hd; ++j) dtc[j] = dhk[j] * g[3 * Hd + j];
          act_backward(Act::tanh, c[t + 1].data() + k * Hd, tck, dtc.data(), dcv.data(), Hd);
          for (std::size_t j = 0; j < Hd; ++j) {
            dcv[j] += dc[k * Hd + j];
            dgate[j] = dcv[j] * g[2 * Hd + j];
            dgate[Hd + j] = dcv[j] * c[t][k * Hd + j];
            dgate[2 * Hd + j] = dcv[j] * g[j];
            dgate[3 * Hd + j] = dhk[j] * tck[j];
            dc[k * Hd + j] = dcv[j] * g[Hd + j];
          }
          for (std::size_t q : {0, 1, 3}) act_backward(Act::sigmoid, g + q * Hd, g + q * Hd, dgate.data() + q * Hd,
                                                        dak + q * Hd, Hd);
          act_backward(Act::tanh, g + 2 * Hd, g + 2 * Hd, dgate.data() + 2 * Hd, dak + 2 * Hd, Hd);
          std::memcpy(dbk, dak, G * sizeof(T));
        } else {
          const T* hp = h[t].data() + k * Hd;
          const T* bk = b[t].data() + k * G;
          std::vector<T> dn(Hd), dz(Hd), dr(Hd);
          for (std::size_t j = 0; j < Hd; ++j) {
            dn[j] = dhk[j] * (T(1) - g[Hd + j]);
            dz[j] = dhk[j] * (hp[j] - g[2 * Hd + j]);
            direct[k * Hd + j] = dhk[j] * g[Hd + j];
          }
          act_backward(Act::tanh, g + 2 * Hd, g + 2 * Hd, dn.data(), dak + 2 * Hd, Hd);
          for (std::size_t j = 0; j < Hd; ++j) {
            dbk[2 * Hd + j] = dak[2 * Hd + j] * g[j];
            dr[j] = dak[2 * Hd + j] * bk[2 * Hd + j];
          }
          act_backward(Act::sigmoid, g, g, dr.data(), dak, Hd);
          act_backward(Act::sigmoid, g + Hd, g + Hd, dz.data(), dak + Hd, Hd);
          std::memcpy(dbk, dak, 2 * Hd * sizeof(T));
        }
      }
      d.ih.backward(ps, grads, xs + t * B * r.input, da.data(), dx + t * B * r.input, B);
      d.hh.backward(ps, grads, h[t].data(), db.data(), dhp.data(), B);
      for (std::size_t i = 0; i < B * Hd; ++i) dh[i] = dhp[i] + direct[i];
    }
  }
  const T* xs = nullptr;
};

template <class T>
void fused_vs_composed(Cell cell, double tol_value, double tol_grad) {
  const Spec s{cell, 3, 5, 1, false, 0.0f, 6, 2};
  Net<T> n(s, 5);
  const auto xd = rand_d(s.T * s.B * s.input, 8, -2, 2);
  const auto rd = rand_d(s.T * s.B * s.hidden, 9);
  const std::vector<T> x(xd.begin(), xd.end()), r(rd.begin(), rd.end());
  auto cache = n.rnn.make_cache(s.B, s.T);
  n.rnn.forward(n.ps, cache, x.data(), s.T, s.B, {});
  Composed<T> comp{n.rnn, n.ps, s.T, s.B, {}, {}, {}, {}, {}, {}};
  comp.xs = x.data();
  comp.forward(x.data());
  for (std::size_t t = 0; t < s.T; ++t)
    for (std::size_t i = 0; i < s.B * s.hidden; ++i)
      EXPECT_NEAR(cache.output()[t * s.B * s.hidden + i], comp.h[t + 1][i], tol_value) << "step " << t;
  n.ps.zero_grad();
  std::vector<T> dx(x.size()), dx2(x.size());
  n.rnn.backward(n.ps, n.ps.grads(), cache, r.data(), dx.data(), s.T, s.B, {});
  std::vector<T> grads(n.ps.slab_size(), T(0));
  comp.backward(grads.data(), r.data(), dx2.data());
  for (std::size_t i = 0; i < n.ps.entries().size(); ++i) {
    const auto& e = n.ps.entries()[i];
    for (std::size_t j = 0; j < e.size; ++j)
      EXPECT_NEAR(n.ps.grad(i)[j], grads[e.offset + j], tol_grad * (1 + std::fabs(double(grads[e.offset + j]))))
          << e.name << " " << j;
  }
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(dx[i], dx2[i], tol_grad * (1 + std::fabs(double(dx2[i]))));
}

TEST(Recurrent, FusedCellEqualsComposedCell) {
  for (Cell cell : {Cell::gru, Cell::lstm}) {
    SCOPED_TRACE(cell_name(cell));
    fused_vs_composed<double>(cell, 1e-14, 1e-12);
    fused_vs_composed<float>(cell, 1e-6, 2e-5);
  }
}

// torch.nn.GRU / nn.LSTM with the same weights: outputs, final states and every gradient.
template <class T>
void golden_case(const SafeTensorsFile& f, const std::string& name, double tol) {
  const auto cfg = nlohmann::json::parse(f.meta(name));
  const Spec s{parse_cell(cfg["cell"]), cfg["input"], cfg["hidden"], cfg["layers"], cfg["bidirectional"], 0.0f,
               cfg["steps"], cfg["batch"]};
  SCOPED_TRACE(name + (sizeof(T) == 4 ? " float" : " double"));
  Net<T> n(s);
  std::vector<float> tmp;
  auto get = [&](const std::string& key) {
    const Shape sh = f.tensors().at(name + "/" + key).shape;
    const float* p = f.get_f32(name + "/" + key, sh, tmp);
    return std::vector<T>(p, p + sh.numel());
  };
  auto rel = [](const T* got, const std::vector<T>& want) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
      scale = std::max(scale, std::fabs(double(want[i])));
    }
    return diff / scale;
  };
  for (std::size_t i = 0; i < n.ps.entries().size(); ++i) {
    const auto v = get("param/" + n.ps.entries()[i].name);
    ASSERT_EQ(v.size(), n.ps.entries()[i].size) << n.ps.entries()[i].name;
    std::copy(v.begin(), v.end(), n.ps.value(i));
  }
  const auto x = get("x");
  auto cache = n.rnn.make_cache(s.B, s.T);
  n.rnn.forward(n.ps, cache, x.data(), s.T, s.B, {});
  EXPECT_LE(rel(cache.output(), get("y")), tol) << "output";
  // Final states (layers * dirs, B, hidden): the forward direction ends at row T, the reverse at 0.
  const std::size_t BH = s.B * s.hidden;
  const bool lstm = s.cell == Cell::lstm;
  std::vector<T> hn, cn;
  for (std::size_t k = 0; k < n.rnn.dirs.size(); ++k) {
    const std::size_t row = k % n.rnn.ndirs() ? 0 : s.T;
    hn.insert(hn.end(), cache.h[k].begin() + row * BH, cache.h[k].begin() + (row + 1) * BH);
    if (lstm) cn.insert(cn.end(), cache.c[k].begin() + row * BH, cache.c[k].begin() + (row + 1) * BH);
  }
  EXPECT_LE(rel(hn.data(), get("h_n")), tol) << "h_n";
  if (lstm) {
    EXPECT_LE(rel(cn.data(), get("c_n")), tol) << "c_n";
  }
  const auto r = get("r");
  std::vector<T> dx(x.size());
  n.ps.zero_grad();
  n.rnn.backward(n.ps, n.ps.grads(), cache, r.data(), dx.data(), s.T, s.B, {});
  for (std::size_t i = 0; i < n.ps.entries().size(); ++i)
    EXPECT_LE(rel(n.ps.grad(i), get("grad/" + n.ps.entries()[i].name)), tol) << "gradient of " << n.ps.entries()[i].name;
  EXPECT_LE(rel(dx.data(), get("dx")), tol) << "dx";
}

TEST(Recurrent, MatchesPyTorchGruAndLstm) {
  const SafeTensorsFile f = SafeTensorsFile::read(std::string(NTN_FIXTURES) + "/golden_rnn.safetensors");
  const std::string cases = f.meta("cases");
  std::size_t n = 0;
  for (std::size_t at = 0; at <= cases.size();) {
    const std::size_t end = std::min(cases.find(',', at), cases.size());
    const std::string name = cases.substr(at, end - at);
    golden_case<double>(f, name, 1e-6);  // torch's float64 result, stored in float32
    golden_case<float>(f, name, 1e-5);
    ++n;
    at = end + 1;
  }
  EXPECT_EQ(n, 4u);
}

// A carried state fed one tick at a time gives every output of the batch forward: bitwise in
// float (the same product chains and gate pass), the training and the inference workspace alike.
template <class T>
void step_equals_forward(Cell cell) {
  const Spec s{cell, 2, 6, 2, false, 0.0f, 40, 3};
  Net<T> n(s, 12);
  const auto xd = rand_d(s.T * s.B * s.input, 13, -3, 3);
  const std::vector<T> x(xd.begin(), xd.end());
  auto train = n.rnn.make_cache(s.B, s.T);
  auto serve = n.rnn.make_cache(s.B, s.T, /*inference=*/true);
  n.rnn.forward(n.ps, train, x.data(), s.T, s.B, {});
  n.rnn.forward(n.ps, serve, x.data(), s.T, s.B, {});
  std::vector<T> state(n.rnn.state_size(s.B), T(0));
  auto scratch = n.rnn.make_step_scratch(s.B);
  const std::size_t BH = s.B * s.hidden;
  for (std::size_t t = 0; t < s.T; ++t) {
    const T* h = n.rnn.step(n.ps, state.data(), scratch, x.data() + t * s.B * s.input, s.B, {});
    for (std::size_t i = 0; i < BH; ++i) {
      ASSERT_EQ(h[i], train.output()[t * BH + i]) << "step " << t << " element " << i;
      ASSERT_EQ(h[i], serve.output()[t * BH + i]) << "step " << t << " element " << i;
    }
  }
}

TEST(Recurrent, StepsEqualTheBatchForwardBitwise) {
  step_equals_forward<float>(Cell::gru);
  step_equals_forward<float>(Cell::lstm);
  step_equals_forward<double>(Cell::gru);
  step_equals_forward<double>(Cell::lstm);
}

// The step-wise API (autoregressive decoders) runs the same maths as the whole-sequence calls:
// every output bitwise in float, the gradients (state, input, every weight) to rounding, with
// dropout between the layers.
template <class T>
void stepwise_equals_sequence(Cell cell, double tol) {
  const Spec s{cell, 2, 5, 3, false, 0.3f, 7, 3};
  Net<T> n(s, 21);
  const auto xd = rand_d(s.T * s.B * s.input, 22, -2, 2), rd = rand_d(s.T * s.B * s.hidden, 23);
  const std::vector<T> x(xd.begin(), xd.end()), r(rd.begin(), rd.end());
  RunCtx ctx;
  ctx.training = true;
  ctx.seed = 5;
  ctx.step = 2;
  auto seq = n.rnn.make_cache(s.B, s.T), stp = n.rnn.make_cache(s.B, s.T);
  n.rnn.forward(n.ps, seq, x.data(), s.T, s.B, ctx);
  const std::size_t BH = s.B * s.hidden, BI = s.B * s.input;
  for (std::size_t t = 0; t < s.T; ++t) {
    const T* h = n.rnn.step_forward(n.ps, stp, t, x.data() + t * BI, s.T, s.B, ctx);
    for (std::size_t i = 0; i < BH; ++i) ASSERT_EQ(h[i], seq.output()[t * BH + i]) << "step " << t;
  }
  std::vector<T> want(n.ps.slab_size(), T(0)), got(n.ps.slab_size(), T(7)), dxw(x.size()), dxg(x.size());
  n.rnn.backward(n.ps, want.data(), seq, r.data(), dxw.data(), s.T, s.B, ctx);
  for (std::size_t t = s.T; t-- > 0;)
    n.rnn.step_backward(n.ps, stp, t, s.T, r.data() + t * BH, dxg.data() + t * BI, s.B, ctx);
  RunCtx over = ctx;
  over.accumulate = false;
  n.rnn.step_backward_end(n.ps, got.data(), stp, s.T, s.B, over);
  for (std::size_t i = 0; i < n.ps.entries().size(); ++i) {
    const auto& e = n.ps.entries()[i];
    for (std::size_t j = 0; j < e.size; ++j)
      ASSERT_NEAR(got[e.offset + j], want[e.offset + j], tol * (1 + std::fabs(double(want[e.offset + j])))) << e.name;
  }
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(dxg[i], dxw[i], tol * (1 + std::fabs(double(dxw[i])))) << i;
}

TEST(Recurrent, StepwiseTrainingEqualsTheSequenceCalls) {
  for (Cell cell : {Cell::gru, Cell::lstm}) {
    SCOPED_TRACE(cell_name(cell));
    stepwise_equals_sequence<double>(cell, 1e-12);
    stepwise_equals_sequence<float>(cell, 2e-6);
  }
}

// A large batch of long sequences projects its inputs in blocks of steps (the buffer would pass
// 16 MB): every row is bitwise what the same row gives alone (one product over all its steps),
// in both directions and both layers.
TEST(Recurrent, BlockedInputProjectionChangesNoBit) {
  const Spec s{Cell::lstm, 2, 64, 2, true, 0.0f, 150, 128};
  Net<float> n(s, 31);
  const auto xd = rand_d(s.T * s.B * s.input, 32, -2, 2);
  const std::vector<float> x(xd.begin(), xd.end());
  auto big = n.rnn.make_cache(s.B, s.T, /*inference=*/true);
  ASSERT_LT(big.proj_steps, s.T) << "the test must exercise the blocked projection";
  n.rnn.forward(n.ps, big, x.data(), s.T, s.B, {});
  auto one = n.rnn.make_cache(1, s.T, true);
  ASSERT_EQ(one.proj_steps, s.T);
  const std::size_t O = n.rnn.out();
  std::vector<float> xr(s.T * s.input);
  for (std::size_t b = 0; b < s.B; b += 9) {
    for (std::size_t t = 0; t < s.T; ++t)
      std::copy_n(x.data() + (t * s.B + b) * s.input, s.input, xr.data() + t * s.input);
    n.rnn.forward(n.ps, one, xr.data(), s.T, 1, {});
    for (std::size_t t = 0; t < s.T; ++t)
      ASSERT_EQ(std::memcmp(one.output() + t * O, big.output() + (t * s.B + b) * O, O * sizeof(float)), 0)
          << "row " << b << " step " << t;
  }
}

TEST(Recurrent, BadDeclarationsAndBidirectionalStepAreErrors) {
  ParamSet<float> ps;
  Recurrent<float> r;
  EXPECT_THROW(r.declare(ps, "a", Cell::lstm, 0, 4), Error);
  EXPECT_THROW(r.declare(ps, "b", Cell::lstm, 1, 0), Error);
  EXPECT_THROW(r.declare(ps, "c", Cell::gru, 1, 4, 0), Error);
  EXPECT_THROW(r.declare(ps, "d", Cell::gru, 1, 4, 2, false, 1.0f), Error);
  EXPECT_THROW(parse_cell("rnn"), Error);
  r.declare(ps, "e", Cell::gru, 1, 4, 1, true);
  ps.finalize();
  std::vector<float> state(r.state_size(1)), x(1, 0.0f);
  auto s = r.make_step_scratch(1);
  EXPECT_THROW(r.step(ps, state.data(), s, x.data(), 1, {}), Error);
}

}  // namespace
}  // namespace ntn::nn
