// Every kernel gives bitwise the same result on every ISA: each table (AVX2, AVX-512) against
// the scalar table, which runs the same kernel bodies lane by lane (kernels_impl.inl). This is
// what makes training reproducible across machines and NTN_ISA values (test_trainer.cpp checks
// that end to end). NaN is compared as "both NaN" (payloads are not promised).
#include <cstring>
#include <limits>

#include "kernel_test_util.h"

namespace ntn::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool same_bits(float a, float b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, 4) == 0; }
bool same_bits(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, 8) == 0; }

template <class T>
void expect_same(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(same_bits(got[i], want[i])) << what << " at " << i << " of " << got.size() << ": " << got[i]
                                            << " vs " << want[i];
}
template <class T>
void expect_same(T got, T want, const std::string& what) {
  ASSERT_TRUE(same_bits(got, want)) << what << ": " << got << " vs " << want;
}

// Sizes past the tiles and past the 64 canonical partials of a reduction, several times over.
std::vector<std::size_t> cross_sizes() {
  std::vector<std::size_t> s = sizes();
  for (std::size_t n : {63, 65, 127, 129, 4099, 100003}) s.push_back(n);
  return s;
}

// Wide random values with the special ones mixed in (zeros of both signs, infinities, values at
// the branch points of the polynomials), without NaN unless asked.
std::vector<float> mixed(std::size_t n, std::uint64_t stream, bool nan = false) {
  auto v = rand_vec(n, stream, -30.0f, 30.0f);
  const float special[] = {0.0f, -0.0f, kInf, -kInf, 20.0f, -20.0f, 0.625f, -0.625f, 88.5f, -88.0f, 1e-30f, -1e-8f};
  for (std::size_t i = 0; i < n; i += 7) v[i] = special[(i / 7) % 12];
  if (nan && n > 3) v[n / 2] = kNaN;
  return v;
}

class CrossIsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  const KernelTable& k() const { return kernels_for(GetParam()); }
  const KernelTable& s() const { return kernels_for(Isa::scalar); }
};
INSTANTIATE_TEST_SUITE_P(Isa, CrossIsaTest, ::testing::ValuesIn(all_isas()), isa_param_name);

TEST_P(CrossIsaTest, ElementwiseActivationsAndOptimizer) {
  using Fwd = void (*)(const float*, float*, std::size_t);
  using Bwd = void (*)(const float*, const float*, float*, std::size_t);
  const std::pair<Fwd KernelTable::*, Bwd KernelTable::*> acts[] = {
      {&KernelTable::f32_relu, &KernelTable::f32_relu_bwd},       {&KernelTable::f32_gelu, &KernelTable::f32_gelu_bwd},
      {&KernelTable::f32_tanh, &KernelTable::f32_tanh_bwd},       {&KernelTable::f32_sigmoid, &KernelTable::f32_sigmoid_bwd},
      {&KernelTable::f32_softplus, &KernelTable::f32_softplus_bwd}, {&KernelTable::f32_silu, &KernelTable::f32_silu_bwd}};
  for (std::size_t n : cross_sizes()) {
    const auto a = mixed(n, 1, true), b = mixed(n, 2), c = rand_vec(n, 3);
    const std::string N = " n=" + std::to_string(n);
    std::vector<float> y(n), ys(n);
    auto both2 = [&](void (*KernelTable::*op)(const float*, const float*, float*, std::size_t), const char* name) {
      (k().*op)(a.data(), b.data(), y.data(), n);
      (s().*op)(a.data(), b.data(), ys.data(), n);
      expect_same(y, ys, name + N);
    };
    both2(&KernelTable::f32_add, "add");
    both2(&KernelTable::f32_sub, "sub");
    both2(&KernelTable::f32_mul, "mul");
    y = b;
    ys = b;
    k().f32_axpy(0.37f, a.data(), y.data(), n);
    s().f32_axpy(0.37f, a.data(), ys.data(), n);
    expect_same(y, ys, "axpy" + N);
    k().f32_scale(-1.7f, a.data(), y.data(), n);
    s().f32_scale(-1.7f, a.data(), ys.data(), n);
    expect_same(y, ys, "scale" + N);
    k().f32_fma(a.data(), b.data(), c.data(), y.data(), n);
    s().f32_fma(a.data(), b.data(), c.data(), ys.data(), n);
    expect_same(y, ys, "fma" + N);
    for (auto [fwd, bwd] : acts) {
      (k().*fwd)(a.data(), y.data(), n);
      (s().*fwd)(a.data(), ys.data(), n);
      expect_same(y, ys, "activation forward" + N);
      std::vector<float> dx(n), dxs(n);
      (k().*bwd)(a.data(), c.data(), dx.data(), n);
      (s().*bwd)(a.data(), c.data(), dxs.data(), n);
      expect_same(dx, dxs, "activation backward" + N);
    }
    // Adam (+ L2 and decoupled decay), the update every training step applies.
    auto p = rand_vec(n, 4), m = rand_vec(n, 5, -0.1f, 0.1f), v = rand_vec(n, 6, 0.0f, 0.01f);
    auto ps = p, ms = m, vs = v;
    k().f32_adam(p.data(), c.data(), m.data(), v.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1.3f, 1e-4f, 1e-5f);
    s().f32_adam(ps.data(), c.data(), ms.data(), vs.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1.3f, 1e-4f, 1e-5f);
    expect_same(p, ps, "adam p" + N);
    expect_same(m, ms, "adam m" + N);
    expect_same(v, vs, "adam v" + N);
  }
}

TEST_P(CrossIsaTest, ReductionsNormalisationAndLosses) {
  for (std::size_t n : cross_sizes()) {
    const auto x = rand_vec(n, 10, -4.0f, 6.0f), y = rand_vec(n, 11);
    const std::string N = " n=" + std::to_string(n);
    expect_same(k().f32_sum(x.data(), n), s().f32_sum(x.data(), n), "sum" + N);
    expect_same(k().f32_mean(x.data(), n), s().f32_mean(x.data(), n), "mean" + N);
    expect_same(k().f32_variance(x.data(), n, 0), s().f32_variance(x.data(), n, 0), "variance" + N);
    expect_same(k().f32_variance(x.data(), n, 1), s().f32_variance(x.data(), n, 1), "sample variance" + N);
    expect_same(k().f32_var_around(x.data(), n, 0.3f), s().f32_var_around(x.data(), n, 0.3f), "var_around" + N);
    expect_same(k().f32_dot(x.data(), y.data(), n), s().f32_dot(x.data(), y.data(), n), "dot" + N);
    expect_same(k().f32_sqnorm(x.data(), n), s().f32_sqnorm(x.data(), n), "sqnorm" + N);
    // min / max: zeros of both signs must come out with the same sign everywhere.
    auto z = mixed(n, 12);
    for (std::size_t i = 0; i < n; i += 3) z[i] = i % 2 ? 0.0f : -0.0f;
    expect_same(k().f32_min(z.data(), n), s().f32_min(z.data(), n), "min" + N);
    expect_same(k().f32_max(z.data(), n), s().f32_max(z.data(), n), "max" + N);
    std::vector<double> xd(x.begin(), x.end());
    expect_same(k().f64_sum(xd.data(), n), s().f64_sum(xd.data(), n), "f64 sum" + N);
    expect_same(k().f64_var_around(xd.data(), n, 0.5), s().f64_var_around(xd.data(), n, 0.5), "f64 var" + N);
    double lo, hi, los, his;
    k().f64_minmax(xd.data(), n, &lo, &hi);
    s().f64_minmax(xd.data(), n, &los, &his);
    expect_same(lo, los, "f64 min" + N);
    expect_same(hi, his, "f64 max" + N);
    std::vector<float> o(n), os(n);
    k().f32_normalize(x.data(), o.data(), n, 1.25f, 3.5f);
    s().f32_normalize(x.data(), os.data(), n, 1.25f, 3.5f);
    expect_same(o, os, "normalize" + N);
    k().f32_denormalize(x.data(), o.data(), n, 1.25f, 3.5f);
    s().f32_denormalize(x.data(), os.data(), n, 1.25f, 3.5f);
    expect_same(o, os, "denormalize" + N);
    std::vector<double> od(n), ods(n);
    k().f64_normalize(xd.data(), od.data(), n, 1.25, 3.5);
    s().f64_normalize(xd.data(), ods.data(), n, 1.25, 3.5);
    expect_same(od, ods, "f64 normalize" + N);
    k().f64_denormalize(xd.data(), od.data(), n, 1.25, 3.5);
    s().f64_denormalize(xd.data(), ods.data(), n, 1.25, 3.5);
    expect_same(od, ods, "f64 denormalize" + N);
    std::vector<float> g(n), gs(n);
    expect_same(k().f32_mse(x.data(), y.data(), g.data(), n), s().f32_mse(x.data(), y.data(), gs.data(), n), "mse" + N);
    expect_same(g, gs, "mse grad" + N);
    expect_same(k().f32_mae(x.data(), y.data(), g.data(), n), s().f32_mae(x.data(), y.data(), gs.data(), n), "mae" + N);
    expect_same(g, gs, "mae grad" + N);
    expect_same(k().f32_huber(x.data(), y.data(), g.data(), n, 0.8f),
                s().f32_huber(x.data(), y.data(), gs.data(), n, 0.8f), "huber" + N);
    expect_same(g, gs, "huber grad" + N);
  }
}

TEST_P(CrossIsaTest, RowWiseOps) {
  for (std::size_t cols : {1, 7, 16, 33, 64, 100, 513})
    for (std::size_t rows : {1, 3}) {
      const std::size_t n = rows * cols;
      const auto x = rand_vec(n, 20, -8.0f, 8.0f), dy = rand_vec(n, 21), gamma = rand_vec(cols, 22),
                 beta = rand_vec(cols, 23);
      const std::string N = " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
      std::vector<float> y(n), ys(n), dx(n), dxs(n);
      k().f32_softmax(x.data(), y.data(), rows, cols);
      s().f32_softmax(x.data(), ys.data(), rows, cols);
      expect_same(y, ys, "softmax" + N);
      k().f32_softmax_bwd(ys.data(), dy.data(), dx.data(), rows, cols);
      s().f32_softmax_bwd(ys.data(), dy.data(), dxs.data(), rows, cols);
      expect_same(dx, dxs, "softmax backward" + N);
      std::vector<float> mu(rows), rs(rows), mus(rows), rss(rows);
      k().f32_layernorm(x.data(), gamma.data(), beta.data(), y.data(), mu.data(), rs.data(), rows, cols, 1e-5f);
      s().f32_layernorm(x.data(), gamma.data(), beta.data(), ys.data(), mus.data(), rss.data(), rows, cols, 1e-5f);
      expect_same(y, ys, "layernorm" + N);
      expect_same(rs, rss, "layernorm rstd" + N);
      std::vector<float> dg(cols, 0.5f), db(cols, -0.5f), dgs = dg, dbs = db;
      k().f32_layernorm_bwd(x.data(), dy.data(), gamma.data(), mus.data(), rss.data(), dx.data(), dg.data(), db.data(),
                            rows, cols);
      s().f32_layernorm_bwd(x.data(), dy.data(), gamma.data(), mus.data(), rss.data(), dxs.data(), dgs.data(),
                            dbs.data(), rows, cols);
      expect_same(dx, dxs, "layernorm dx" + N);
      expect_same(dg, dgs, "layernorm dgamma" + N);
      expect_same(db, dbs, "layernorm dbeta" + N);
    }
}

TEST_P(CrossIsaTest, DenseAndGemm) {
  for (std::size_t M : {1, 16, 17, 100})
    for (std::size_t K : {1, 9, 130}) {
      const auto W = rand_vec(M * K, 30), bias = rand_vec(M, 31);
      std::vector<float> packed(dense_packed_size(M, K));
      f32_dense_pack(W.data(), M, K, packed.data());
      std::vector<std::uint16_t> h(M * K), hp(dense_packed_size(M, K)), bp(dense_packed_size(M, bf16_padded_k(K)));
      for (std::size_t i = 0; i < M * K; ++i) h[i] = f32_to_f16(W[i]);
      f16_dense_pack(h.data(), M, K, hp.data());
      for (std::size_t i = 0; i < M * K; ++i) h[i] = f32_to_bf16(W[i]);
      bf16_dense_pack(h.data(), M, K, bp.data());
      const std::size_t Kp = i8_padded_k(K);
      std::vector<std::int8_t> q(M * K), qp(dense_packed_size(M, Kp));
      std::vector<float> wscale(M);
      std::vector<std::int32_t> wsum(dense_panels(M) * kDensePanel);
      i8_quantize_rows(W.data(), M, K, q.data(), wscale.data());
      i8_dense_pack(q.data(), M, K, qp.data(), wsum.data());
      for (std::size_t B : {1, 7, 32}) {
        const auto x = rand_vec(B * K, 32);
        const std::string N = " M=" + std::to_string(M) + " K=" + std::to_string(K) + " B=" + std::to_string(B);
        std::vector<float> y(B * M), ys(B * M);
        k().f32_dense(packed.data(), M, K, x.data(), K, B, bias.data(), y.data(), M);
        s().f32_dense(packed.data(), M, K, x.data(), K, B, bias.data(), ys.data(), M);
        expect_same(y, ys, "f32_dense" + N);
        k().f16_dense(hp.data(), M, K, x.data(), K, B, bias.data(), y.data(), M);
        s().f16_dense(hp.data(), M, K, x.data(), K, B, bias.data(), ys.data(), M);
        expect_same(y, ys, "f16_dense" + N);
        k().bf16_dense(bp.data(), M, K, x.data(), K, B, bias.data(), y.data(), M);
        s().bf16_dense(bp.data(), M, K, x.data(), K, B, bias.data(), ys.data(), M);
        expect_same(y, ys, "bf16_dense" + N);
        std::vector<std::int8_t> xq(B * Kp), xqs(B * Kp);
        std::vector<float> xs(B), xss(B);
        for (std::size_t b = 0; b < B; ++b) {
          xs[b] = k().f32_quantize_i8(x.data() + b * K, K, xq.data() + b * Kp, Kp);
          xss[b] = s().f32_quantize_i8(x.data() + b * K, K, xqs.data() + b * Kp, Kp);
        }
        expect_same(xs, xss, "quantize scale" + N);
        ASSERT_EQ(xq, xqs) << "quantize" << N;
        k().i8_dense(qp.data(), wscale.data(), wsum.data(), M, Kp, xq.data(), Kp, xs.data(), B, bias.data(), y.data(), M);
        s().i8_dense(qp.data(), wscale.data(), wsum.data(), M, Kp, xq.data(), Kp, xs.data(), B, bias.data(), ys.data(), M);
        expect_same(y, ys, "i8_dense" + N);
        // The GEMM, as the training forward uses it (y^T = W x^T + b) and as a weight gradient
        // (dW = dy^T x, accumulated).
        GemmArgs g = linear_forward_gemm(W.data(), x.data(), bias.data(), nullptr, B, K, M);
        g.C = y.data();
        k().f32_gemm(g);
        g.C = ys.data();
        s().f32_gemm(g);
        expect_same(y, ys, "gemm forward" + N);
        std::vector<float> dw(M * K, 0.25f), dws = dw;
        const auto dy = rand_vec(B * M, 33);
        GemmArgs w = linear_weight_grad_gemm(dy.data(), x.data(), nullptr, B, K, M, true);
        w.C = dw.data();
        k().f32_gemm(w);
        w.C = dws.data();
        s().f32_gemm(w);
        expect_same(dw, dws, "gemm weight gradient" + N);
      }
    }
}

// The recurrent cells' fused gate passes (nn::Recurrent): every ISA gives the scalar table's bits,
// for widths inside, at and past the vector width, with large pre-activations (saturated gates).
TEST_P(CrossIsaTest, RecurrentCellGatePasses) {
  for (std::size_t H : {1, 7, 8, 13, 16, 33}) {
    const std::size_t B = 3, G4 = 4 * H, G3 = 3 * H;
    const std::string N = " H=" + std::to_string(H);
    const auto xp = mixed(B * G4, 41), hp = rand_vec(B * G4, 42, -4.0f, 4.0f);
    const auto st = rand_vec(B * H, 43, -2.0f, 2.0f), dh = rand_vec(B * H, 44), dc0 = rand_vec(B * H, 45);
    std::vector<float> g(B * G4), gs(B * G4), c(B * H), cs(B * H), tc(B * H), tcs(B * H), h(B * H), hs(B * H);
    k().f32_lstm_cell(xp.data(), hp.data(), st.data(), g.data(), c.data(), tc.data(), h.data(), B, H);
    s().f32_lstm_cell(xp.data(), hp.data(), st.data(), gs.data(), cs.data(), tcs.data(), hs.data(), B, H);
    expect_same(g, gs, "lstm gates" + N);
    expect_same(c, cs, "lstm c" + N);
    expect_same(h, hs, "lstm h" + N);
    {  // gates written over xp itself (the training forward's in-place pass): the same bits
      std::vector<float> io = xp, c2(B * H), tc2(B * H), h2(B * H);
      k().f32_lstm_cell(io.data(), hp.data(), st.data(), io.data(), c2.data(), tc2.data(), h2.data(), B, H);
      expect_same(io, gs, "lstm gates in place" + N);
      expect_same(h2, hs, "lstm h, gates in place" + N);
    }
    std::vector<float> dc = dc0, dcs = dc0, dg(B * G4), dgs(B * G4);
    k().f32_lstm_cell_bwd(g.data(), st.data(), tc.data(), dh.data(), dc.data(), dg.data(), B, H);
    s().f32_lstm_cell_bwd(g.data(), st.data(), tc.data(), dh.data(), dcs.data(), dgs.data(), B, H);
    expect_same(dg, dgs, "lstm gate gradients" + N);
    expect_same(dc, dcs, "lstm dc" + N);
    std::vector<float> hn(B * H), hns(B * H);
    k().f32_gru_cell(xp.data(), hp.data(), st.data(), g.data(), hn.data(), h.data(), B, H);
    s().f32_gru_cell(xp.data(), hp.data(), st.data(), gs.data(), hns.data(), hs.data(), B, H);
    g.resize(B * G3);
    gs.resize(B * G3);
    expect_same(g, gs, "gru gates" + N);
    expect_same(h, hs, "gru h" + N);
    {
      std::vector<float> io(xp.begin(), xp.begin() + B * G3), hn2(B * H), h2(B * H);
      k().f32_gru_cell(io.data(), hp.data(), st.data(), io.data(), hn2.data(), h2.data(), B, H);
      expect_same(io, gs, "gru gates in place" + N);
      expect_same(h2, hs, "gru h, gates in place" + N);
    }
    std::vector<float> di(B * G3), dis(B * G3), dq(B * G3), dqs(B * G3), dz(B * H), dzs(B * H);
    k().f32_gru_cell_bwd(g.data(), st.data(), hn.data(), dh.data(), di.data(), dq.data(), dz.data(), B, H);
    s().f32_gru_cell_bwd(g.data(), st.data(), hn.data(), dh.data(), dis.data(), dqs.data(), dzs.data(), B, H);
    expect_same(di, dis, "gru input gate gradients" + N);
    expect_same(dq, dqs, "gru recurrent gate gradients" + N);
    expect_same(dz, dzs, "gru dz" + N);
  }
}

}  // namespace
}  // namespace ntn::test
