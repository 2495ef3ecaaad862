// Multi-head attention (ntn/attention.h): finite-difference gradients (causal self-attention with
// an additive mask, cross-attention with other key / value widths), golden outputs and every
// gradient against torch.nn.MultiheadAttention (tests/fixtures/golden_attention.safetensors from
// dev/golden_attention.py), a fully masked query row, and the config error.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "grad_check.h"
#include "ntn/attention.h"
#include "ntn/cpu.h"
#include "ntn/error.h"
#include "ntn/kernels.h"
#include "ntn/rng.h"
#include "ntn/safetensors.h"

namespace ntn::nn {
namespace {

using test::dot;
using test::expect_fd_match;
using test::rand_d;

struct Case {
  std::size_t E, heads, kdim, vdim, B, Lq, Lk;
  bool causal, additive;
};

TEST(Attention, GradientsByFiniteDifferences) {
  const Case cases[] = {{6, 2, 6, 6, 2, 4, 4, true, true}, {4, 2, 3, 5, 2, 3, 5, false, false},
                        {6, 3, 6, 6, 1, 3, 5, true, false}};
  for (const Case& k : cases) {
    SCOPED_TRACE(cat("E ", k.E, " heads ", k.heads, " Lq ", k.Lq, " Lk ", k.Lk, k.causal ? " causal" : "",
                     k.additive ? " additive" : ""));
    ParamSet<double> ps;
    MultiHeadAttention<double> att;
    att.declare(ps, "attn", k.E, k.heads, k.kdim, k.vdim);
    ps.finalize();
    auto init = rand_d(ps.slab_size(), 3, -0.8, 0.8);
    std::copy(init.begin(), init.end(), ps.values());
    auto c = att.make_cache(k.B, k.Lq, k.Lk);
    auto q = rand_d(k.B * k.Lq * k.E, 4), key = rand_d(k.B * k.Lk * k.kdim, 5), val = rand_d(k.B * k.Lk * k.vdim, 6);
    const auto r = rand_d(k.B * k.Lq * k.E, 7);
    std::vector<double> add(k.Lq * k.Lk, 0.0), out(r.size());
    if (k.additive)
      for (std::size_t i = 0; i < add.size(); ++i) add[i] = i % 3 == 1 ? -std::numeric_limits<double>::infinity()
                                                                       : 0.3 * double(i % 5);
    add[0] = 0.0;  // every row keeps a visible key
    AttentionMask<double> mask{k.causal, k.additive ? add.data() : nullptr};
    auto loss = [&] {
      att.forward(ps, c, q.data(), key.data(), val.data(), out.data(), k.B, k.Lq, k.Lk, mask, {});
      return dot(out, r);
    };
    loss();
    ps.zero_grad();
    std::vector<double> dq(q.size()), dk(key.size()), dv(val.size());
    att.backward(ps, ps.grads(), c, r.data(), dq.data(), dk.data(), dv.data(), k.B, k.Lq, k.Lk, {});
    test::expect_param_grads_fd_match(ps, loss, "", 1e-6);
    expect_fd_match(q, dq, loss, "dquery", 1e-6);
    expect_fd_match(key, dk, loss, "dkey", 1e-6);
    expect_fd_match(val, dv, loss, "dvalue", 1e-6);
  }
}

template <class T>
void golden_case(const SafeTensorsFile& f, const std::string& name, double tol) {
  const auto cfg = nlohmann::json::parse(f.meta(name));
  const std::size_t E = cfg["embed"], heads = cfg["heads"], kd = cfg["kdim"], vd = cfg["vdim"], B = cfg["batch"],
                    Lq = cfg["lq"], Lk = cfg["lk"];
  SCOPED_TRACE(name + (sizeof(T) == 4 ? " float" : " double"));
  std::vector<float> tmp;
  auto get = [&](const std::string& key) {
    const Shape sh = f.tensors().at(name + "/" + key).shape;
    const float* p = f.get_f32(name + "/" + key, sh, tmp);
    return std::vector<T>(p, p + sh.numel());
  };
  auto rel = [](const std::vector<T>& got, const std::vector<T>& want) {
    EXPECT_EQ(got.size(), want.size());
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < want.size() && i < got.size(); ++i) {
      diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
      scale = std::max(scale, std::fabs(double(want[i])));
    }
    // Relative to the largest value, absolute below a floor: the key bias's gradient is zero in
    // exact arithmetic (softmax ignores a shift of all of a query's scores), so both sides hold
    // only the rounding of a sum of O(1) terms (~1e-7 in float, ~1e-16 in double).
    return diff / std::max(scale, sizeof(T) == 4 ? 1.0 : 1e-2);
  };
  ParamSet<T> ps;
  MultiHeadAttention<T> att;
  att.declare(ps, "attn", E, heads, kd, vd);
  ps.finalize();
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto v = get("param/" + ps.entries()[i].name);
    ASSERT_EQ(v.size(), ps.entries()[i].size) << ps.entries()[i].name;
    std::copy(v.begin(), v.end(), ps.value(i));
  }
  const auto q = get("query"), k = get("key"), v = get("value"), r = get("r");
  auto c = att.make_cache(B, Lq, Lk);
  std::vector<T> out(B * Lq * E), dq(q.size()), dk(k.size()), dv(v.size());
  att.forward(ps, c, q.data(), k.data(), v.data(), out.data(), B, Lq, Lk, {bool(cfg["causal"]), nullptr}, {});
  EXPECT_LE(rel(out, get("out")), tol) << "output";
  ps.zero_grad();
  att.backward(ps, ps.grads(), c, r.data(), dq.data(), dk.data(), dv.data(), B, Lq, Lk, {});
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    EXPECT_LE(rel(std::vector<T>(ps.grad(i), ps.grad(i) + e.size), get("grad/" + e.name)), tol) << e.name;
  }
  EXPECT_LE(rel(dq, get("dquery")), tol) << "dquery";
  EXPECT_LE(rel(dk, get("dkey")), tol) << "dkey";
  EXPECT_LE(rel(dv, get("dvalue")), tol) << "dvalue";
}

TEST(Attention, MatchesPyTorchMultiheadAttention) {
  const SafeTensorsFile f = SafeTensorsFile::read(std::string(NTN_FIXTURES) + "/golden_attention.safetensors");
  for (const std::string name : {"self_causal", "cross"}) {
    golden_case<double>(f, name, 1e-6);
    golden_case<float>(f, name, 2e-5);
  }
}

// A query that sees no key (every score -inf) gets a zero output row and passes no gradient.
TEST(Attention, FullyMaskedQueryRowIsZeroNotNaN) {
  ParamSet<float> ps;
  MultiHeadAttention<float> att;
  att.declare(ps, "attn", 4, 2);
  ps.finalize();
  att.init(ps, 1);
  const std::size_t L = 3;
  std::vector<float> x(L * 4), out(L * 4), dx(L * 4), dk(L * 4), dv(L * 4), r(L * 4, 1.0f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.1f * float(i);
  std::vector<float> add(L * L, 0.0f);
  for (std::size_t j = 0; j < L; ++j) add[1 * L + j] = -std::numeric_limits<float>::infinity();  // row 1 sees nothing
  auto c = att.make_cache(1, L, L, /*inference=*/false, /*keep_weights=*/true);  // an additive mask: composed
  att.forward(ps, c, x.data(), x.data(), x.data(), out.data(), 1, L, L, {false, add.data()}, {});
  for (float v : out) EXPECT_TRUE(std::isfinite(v));
  for (std::size_t j = 0; j < L; ++j) EXPECT_EQ(c.q.P[1 * L + j], 0.0f);  // head 0, row 1: no weights
  ps.zero_grad();
  att.backward(ps, ps.grads(), c, r.data(), dx.data(), dk.data(), dv.data(), 1, L, L, {});
  for (std::size_t i = 0; i < ps.slab_size(); ++i) EXPECT_TRUE(std::isfinite(ps.grads()[i]));
}

// A decoder's form: keys / values projected once, then one attend call per query (Lq = 1), the
// backward of each adding into the key / value gradients: the same outputs and gradients as one
// call over all the queries.
TEST(Attention, OneQueryAtATimeEqualsOneCall) {
  const std::size_t E = 6, heads = 3, kd = 5, B = 2, Lq = 4, Lk = 7;
  ParamSet<double> ps;
  MultiHeadAttention<double> att;
  att.declare(ps, "attn", E, heads, kd, kd);
  ps.finalize();
  att.init(ps, 9);
  const auto q = rand_d(B * Lq * E, 1), kv = rand_d(B * Lk * kd, 2), r = rand_d(B * Lq * E, 3);
  auto c = att.make_cache(B, Lq, Lk);
  std::vector<double> out(B * Lq * E), dq(q.size()), dk(kv.size()), dv(kv.size());
  att.forward(ps, c, q.data(), kv.data(), kv.data(), out.data(), B, Lq, Lk, {}, {});
  ps.zero_grad();
  att.backward(ps, ps.grads(), c, r.data(), dq.data(), dk.data(), dv.data(), B, Lq, Lk, {});
  const std::vector<double> want(ps.grads(), ps.grads() + ps.slab_size());
  // Query i of each row, one call each (inputs gathered as (B, 1, E)).
  auto kvc = att.make_kv(B, Lk);
  std::vector<MultiHeadAttention<double>::Query> qs;
  std::vector<std::vector<double>> qi(Lq, std::vector<double>(B * E)), oi(Lq, std::vector<double>(B * E));
  att.project_kv(ps, kvc, kv.data(), kv.data(), B, Lk, {});
  for (std::size_t i = 0; i < Lq; ++i) {
    qs.push_back(att.make_query(B, 1, Lk));
    for (std::size_t b = 0; b < B; ++b)
      std::copy(q.begin() + std::ptrdiff_t((b * Lq + i) * E), q.begin() + std::ptrdiff_t((b * Lq + i + 1) * E),
                qi[i].begin() + std::ptrdiff_t(b * E));
    att.attend(ps, kvc, qs[i], qi[i].data(), oi[i].data(), B, 1, Lk, {}, {});
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t e = 0; e < E; ++e) EXPECT_NEAR(oi[i][b * E + e], out[(b * Lq + i) * E + e], 1e-14);
  }
  ps.zero_grad();
  att.zero_kv_grads(kvc, B, Lk);
  for (std::size_t i = Lq; i-- > 0;) {
    std::vector<double> ri(B * E), dqi(B * E);
    for (std::size_t b = 0; b < B; ++b)
      std::copy(r.begin() + std::ptrdiff_t((b * Lq + i) * E), r.begin() + std::ptrdiff_t((b * Lq + i + 1) * E),
                ri.begin() + std::ptrdiff_t(b * E));
    att.attend_backward(ps, ps.grads(), kvc, qs[i], ri.data(), dqi.data(), B, 1, Lk, {});
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t e = 0; e < E; ++e) EXPECT_NEAR(dqi[b * E + e], dq[(b * Lq + i) * E + e], 1e-13);
  }
  std::vector<double> dk2(kv.size()), dv2(kv.size());
  att.kv_backward(ps, ps.grads(), kvc, dk2.data(), dv2.data(), B, Lk, {});
  for (std::size_t i = 0; i < kv.size(); ++i) {
    EXPECT_NEAR(dk2[i], dk[i], 1e-13);
    EXPECT_NEAR(dv2[i], dv[i], 1e-13);
  }
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(ps.grads()[i], want[i], 1e-12 * (1 + std::fabs(want[i])));
}

// Fused (float: one pass over blocks of 64 keys, online softmax, and a backward that recomputes
// the weights from each row's max and sum - no (Lq, Lk) buffer) == composed (the weights kept:
// scores, softmax, weighted sum) to float rounding, outputs and every gradient, over shapes with
// several key blocks, causal rows that see no key, head widths that are not a multiple of the
// vector width and every query-row remainder; both kernels give the same bits on every ISA; an
// inference workspace refuses a training forward and a backward; an additive mask needs the
// composed form.
TEST(Attention, FusedEqualsComposedAndIsTheSameOnEveryIsa) {
  struct Shape3 {
    std::size_t E, heads, B, Lq, Lk;
    bool causal;
  };
  auto rel = [](const std::vector<float>& got, const std::vector<float>& want) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
      scale = std::max(scale, std::fabs(double(want[i])));
    }
    return diff / std::max(scale, 1e-30);
  };
  for (const Shape3& k : {Shape3{8, 2, 2, 5, 150, false}, Shape3{12, 3, 1, 9, 130, true}, Shape3{10, 2, 2, 70, 66, true},
                          Shape3{16, 1, 1, 4, 3, true}, Shape3{48, 2, 1, 33, 200, false},
                          Shape3{80, 2, 1, 7, 100, true}, Shape3{24, 1, 2, 11, 65, false},
                          Shape3{32, 2, 1, 6, 9, true}}) {
    SCOPED_TRACE(testing::Message() << "E " << k.E << " heads " << k.heads << " Lq " << k.Lq << " Lk " << k.Lk);
    ParamSet<float> ps;
    MultiHeadAttention<float> att;
    att.declare(ps, "attn", k.E, k.heads);
    ps.finalize();
    att.init(ps, 2);
    std::vector<float> q(k.B * k.Lq * k.E), kv(k.B * k.Lk * k.E), r(q.size()), fused(q.size()), composed(q.size());
    fill_uniform(q.data(), q.size(), -2.0f, 2.0f, 1, 1);
    fill_uniform(kv.data(), kv.size(), -2.0f, 2.0f, 1, 2);
    fill_uniform(r.data(), r.size(), -1.0f, 1.0f, 1, 3);
    auto ci = att.make_cache(k.B, k.Lq, k.Lk, /*inference=*/true);
    EXPECT_TRUE(ci.q.P.empty() && ci.q.stats.empty()) << "an inference workspace holds no weights or statistics";
    att.forward(ps, ci, q.data(), kv.data(), kv.data(), fused.data(), k.B, k.Lq, k.Lk, {k.causal, nullptr}, {});
    RunCtx train;
    train.training = true;
    auto ct = att.make_cache(k.B, k.Lq, k.Lk, /*inference=*/false, /*keep_weights=*/true);
    att.forward(ps, ct, q.data(), kv.data(), kv.data(), composed.data(), k.B, k.Lq, k.Lk, {k.causal, nullptr}, train);
    EXPECT_LE(rel(fused, composed), 2e-6) << "fused vs composed forward";
    EXPECT_THROW(att.forward(ps, ci, q.data(), kv.data(), kv.data(), fused.data(), k.B, k.Lq, k.Lk,
                             {k.causal, nullptr}, train),
                 Error);
    // Training: the fused workspace holds statistics, no weights; its gradients match.
    auto cf = att.make_cache(k.B, k.Lq, k.Lk);
    EXPECT_TRUE(cf.q.P.empty() && cf.q.dP.empty()) << "a fused training workspace holds no (Lq, Lk) buffer";
    EXPECT_EQ(cf.q.stats.size(), k.B * k.heads * k.Lq * 2);
    std::vector<float> trained(q.size());
    att.forward(ps, cf, q.data(), kv.data(), kv.data(), trained.data(), k.B, k.Lq, k.Lk, {k.causal, nullptr}, train);
    EXPECT_EQ(std::memcmp(trained.data(), fused.data(), q.size() * 4), 0) << "training forward == serving forward";
    std::vector<float> dq(q.size()), dk(kv.size()), dv(kv.size()), dq2(q.size()), dk2(kv.size()), dv2(kv.size());
    ps.zero_grad();
    att.backward(ps, ps.grads(), ct, r.data(), dq.data(), dk.data(), dv.data(), k.B, k.Lq, k.Lk, train);
    const std::vector<float> g_composed(ps.grads(), ps.grads() + ps.slab_size());
    ps.zero_grad();
    att.backward(ps, ps.grads(), cf, r.data(), dq2.data(), dk2.data(), dv2.data(), k.B, k.Lq, k.Lk, train);
    const std::vector<float> g_fused(ps.grads(), ps.grads() + ps.slab_size());
    EXPECT_LE(rel(dq2, dq), 2e-5) << "dquery";
    EXPECT_LE(rel(dk2, dk), 2e-5) << "dkey";
    EXPECT_LE(rel(dv2, dv), 2e-5) << "dvalue";
    EXPECT_LE(rel(g_fused, g_composed), 2e-5) << "parameter gradients";
    EXPECT_THROW(att.backward(ps, ps.grads(), ci, r.data(), dq2.data(), dk2.data(), dv2.data(), k.B, k.Lq, k.Lk, train),
                 Error);
    // An additive mask needs the weights kept.
    std::vector<float> add(k.Lq * k.Lk, 0.0f);
    EXPECT_THROW(att.forward(ps, cf, q.data(), kv.data(), kv.data(), trained.data(), k.B, k.Lq, k.Lk,
                             {k.causal, add.data()}, train),
                 Error);
    // The kernels alone on every ISA: bitwise the same (forward, statistics, backward).
    const std::size_t dh = k.E / k.heads, Lq = k.Lq, Lk = k.Lk, E = k.E;
    std::vector<float> scratch(2 * dh * Lk), first, got;
    std::vector<float> dout(Lq * E);
    fill_uniform(dout.data(), dout.size(), -1.0f, 1.0f, 1, 4);
    for (Isa isa : supported_isas()) {
      std::vector<float> o(Lq * E, 0.0f), st(k.heads * Lq * 2), gq(Lq * E, 0.0f), gk(Lk * E, 0.5f), gv(Lk * E, 0.5f);
      const KernelTable& t = kernels_for(isa);
      for (std::size_t h = 0; h < k.heads; ++h) {
        const float *qh = ct.q.Q.data() + h * dh, *kh = ct.kv.K.data() + h * dh, *vh = ct.kv.V.data() + h * dh;
        t.f32_attention(qh, E, kh, E, vh, E, o.data() + h * dh, E, Lq, Lk, dh, k.causal, scratch.data(),
                        st.data() + h * Lq * 2);
        t.f32_attention_bwd(qh, E, kh, E, vh, E, o.data() + h * dh, E, dout.data() + h * dh, E, st.data() + h * Lq * 2,
                            gq.data() + h * dh, E, gk.data() + h * dh, E, gv.data() + h * dh, E, Lq, Lk, dh, k.causal,
                            scratch.data());
      }
      got = o;
      for (const auto* part : {&st, &gq, &gk, &gv}) got.insert(got.end(), part->begin(), part->end());
      if (first.empty())
        first = got;
      else
        EXPECT_EQ(std::memcmp(first.data(), got.data(), got.size() * 4), 0) << isa_name(isa);
    }
  }
}

TEST(Attention, HeadsMustDivideTheEmbedding) {
  ParamSet<float> ps;
  MultiHeadAttention<float> att;
  try {
    att.declare(ps, "decoder.attn", 10, 4);
    ADD_FAILURE() << "10 / 4 heads accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("heads (4)"), std::string::npos) << m;
    EXPECT_NE(m.find("(10)"), std::string::npos) << m;
  }
  EXPECT_THROW(att.declare(ps, "a", 8, 0), Error);
}

}  // namespace
}  // namespace ntn::nn
