// NHITS, N-BEATS (one doubly-residual stack implementation) and the plain MLP, plus the
// registry that builds them from JSON.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/models.h"

#include "core/det_math.h"

namespace ntn {
namespace {

using nlohmann::json;

// ---- config helpers: every bad field is an error that names it (ntn/fields.h) ------------------
using Units = std::vector<std::vector<std::size_t>>;

Units mlp_units(const json& cfg, const char* model, const Units& def) {
  if (!cfg.contains("mlp_units")) return def;
  const json& a = cfg.at("mlp_units");
  const std::string ctx = cat(model, " config");
  NTN_CHECK(a.is_array() && !a.empty() && a.size() <= limits::kLayers.hi, ctx, ": field 'mlp_units' must be a list of 1..",
            limits::kLayers.hi, " [in, out] width pairs (got ", a.dump().substr(0, 80), ")");
  Units u;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const json pair = json{{"mlp_units", a[i]}};
    const auto w = json_uint_list(pair, ctx, "mlp_units", {}, limits::kWidth);
    NTN_CHECK(w.size() == 2, ctx, ": field 'mlp_units'[", i, "] must be a pair of widths (got ", a[i].dump(), ")");
    NTN_CHECK(i == 0 || w[0] == u[i - 1][1], ctx, ": field 'mlp_units'[", i, "] starts at ", w[0],
              " but the previous layer ends at ", u[i - 1][1]);
    u.push_back({std::size_t(w[0]), std::size_t(w[1])});
  }
  return u;
}

// The authors' block MLP: Linear(in, u[0][0]) without activation, then (Linear + act) per pair,
// then Linear(u.back()[1], n_theta).
void block_mlp_shape(std::size_t in, const Units& u, std::size_t n_theta, std::vector<std::size_t>* widths,
                     std::vector<bool>* act) {
  widths->assign({in, u[0][0]});
  act->assign({false});
  for (const auto& p : u) {
    widths->push_back(p[1]);
    act->push_back(true);
  }
  widths->push_back(n_theta);
  act->push_back(false);
}

// ---- doubly-residual stacks (NHITS and N-BEATS) ---------------------------------------------
enum class Basis { identity, trend, seasonality };

struct BlockSpec {
  std::size_t pool_k = 1;    // 1 = no pooling
  Basis basis = Basis::identity;
  std::size_t knots = 0;     // identity: forecast knots per output (interpolated to H)
  bool q_major = true;       // identity knots laid out (Q, K) (NHITS) or (H, Q) (N-BEATS)
  std::size_t n_basis = 0;   // trend / seasonality: basis functions p
  std::size_t mlp = 0;       // index of the MLP (blocks of a shared stack point to one)
  std::size_t stack = 0;
};

template <class T>
class ResidualStacks final : public Model<T> {
 public:
  ResidualStacks(std::string type, json cfg, std::size_t L, std::size_t H, std::size_t Q, std::vector<BlockSpec> blocks,
                 const Units& units, nn::Act act, float dropout, nn::Pool pool, nn::Interp interp)
      : type_(std::move(type)), cfg_(std::move(cfg)), L_(L), H_(H), Q_(Q), blocks_(std::move(blocks)),
        pool_(pool), interp_(interp) {
    std::size_t n_mlp = 0;
    for (const auto& b : blocks_) n_mlp = std::max(n_mlp, b.mlp + 1);
    mlps_.resize(n_mlp);
    std::vector<bool> declared(n_mlp, false);
    for (std::size_t j = 0; j < blocks_.size(); ++j) {
      BlockSpec& b = blocks_[j];
      if (declared[b.mlp]) continue;
      declared[b.mlp] = true;
      std::vector<std::size_t> widths;
      std::vector<bool> acts;
      block_mlp_shape(nn::pooled_length(L_, b.pool_k), units, n_theta(b), &widths, &acts);
      mlps_[b.mlp].declare(this->ps_, cat("stacks.", b.stack, ".blocks.", j, ".mlp"), widths, acts, act, dropout);
    }
    this->ps_.finalize();
    // Fixed bases (the authors' definitions), computed in double.
    basis_bc_.resize(blocks_.size());
    basis_fc_.resize(blocks_.size());
    for (std::size_t j = 0; j < blocks_.size(); ++j) {
      const BlockSpec& b = blocks_[j];
      if (b.basis == Basis::identity) continue;
      std::vector<T>& bc = basis_bc_[j];  // (p, L)
      std::vector<T>& fc = basis_fc_[j];  // (p, H)
      bc.resize(b.n_basis * L_);
      fc.resize(b.n_basis * H_);
      if (b.basis == Basis::trend) {
        for (std::size_t p = 0; p < b.n_basis; ++p) {
          for (std::size_t t = 0; t < L_; ++t) bc[p * L_ + t] = T(det::pow_int(double(t) / double(L_), p));
          for (std::size_t t = 0; t < H_; ++t) fc[p * H_ + t] = T(det::pow_int(double(t) / double(H_), p));
        }
      } else {  // seasonality: frequencies 0, then harmonics/harmonics .. < H/2 in steps of 1/harmonics
        const std::vector<double> freq = fourier_frequencies();
        const std::size_t F = freq.size();
        for (std::size_t f = 0; f < F; ++f) {
          // cos / sin of -2 pi (t / H) f (backcast) and 2 pi (t / H) f (forecast), in turns
          // through det::sincos_turns: the same bits on every machine (core/det_math.h).
          double s, c;
          for (std::size_t t = 0; t < L_; ++t) {
            det::sincos_turns((double(t) / double(H_)) * freq[f], &s, &c);
            bc[f * L_ + t] = T(c);
            bc[(F + f) * L_ + t] = T(-s);
          }
          for (std::size_t t = 0; t < H_; ++t) {
            det::sincos_turns((double(t) / double(H_)) * freq[f], &s, &c);
            fc[f * H_ + t] = T(c);
            fc[(F + f) * H_ + t] = T(s);
          }
        }
      }
    }
  }

  std::string type() const override { return type_; }
  json config() const override { return cfg_; }
  std::size_t input_size() const override { return L_; }
  std::size_t horizon() const override { return H_; }
  std::size_t outputs() const override { return Q_; }

  void init(std::uint64_t seed) override {
    for (const auto& m : mlps_) m.init(this->ps_, seed);
  }

  struct Ws final : Model<T>::Workspace {
    std::vector<std::vector<T>> resid;  // (blocks + 1) x (B, L): input of block j (flipped)
    std::vector<typename nn::Mlp<T>::Cache> caches;  // per block
    std::vector<T> pooled, theta, dtheta, dresid, dpool, tmp_bh, tmp_bk;
  };

  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    // Sizes are checked before anything is allocated (a huge batch or window is an error).
    const std::uint64_t BL = check_tensor_size(B, L_, "model workspace (batch x input_size)");
    check_tensor_size(blocks_.size() + 1, BL, "model workspace residuals (blocks + 1, batch x input_size)");
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    ws->resid.assign(blocks_.size() + 1, std::vector<T>(B * L_));
    std::size_t max_theta = 0;
    for (const auto& b : blocks_) {
      ws->caches.push_back(mlps_[b.mlp].make_cache(B, inference));
      max_theta = std::max(max_theta, n_theta(b));
    }
    check_tensor_size(B, std::max({H_ * Q_, L_, max_theta}), "model workspace (batch x widest block output)");
    ws->pooled.resize(B * L_);
    ws->theta.resize(B * max_theta);
    if (!inference) {
      ws->dtheta.resize(B * max_theta);
      ws->dresid.resize(B * L_);
      ws->dpool.resize(B * L_);
    }
    ws->tmp_bh.resize(B * std::max({H_, L_, max_theta}));  // also the (B, L) pooling gradient
    ws->tmp_bk.resize(B * std::max(H_, max_theta));
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const T* x, T* y, std::size_t B,
               const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    NTN_DASSERT(B <= ws.max_batch);
    T* r0 = ws.resid[0].data();
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < L_; ++t) r0[b * L_ + t] = x[b * L_ + (L_ - 1 - t)];
    for (std::size_t b = 0; b < B; ++b)  // level: the naive forecast (last input value)
      std::fill(y + b * H_ * Q_, y + (b + 1) * H_ * Q_, x[b * L_ + L_ - 1]);
    for (std::size_t j = 0; j < blocks_.size(); ++j) {
      const BlockSpec& bs = blocks_[j];
      const T* rin = ws.resid[j].data();
      const T* mlp_in = rin;
      if (bs.pool_k > 1) {
        nn::pool1d_forward(pool_, rin, ws.pooled.data(), B, L_, bs.pool_k);
        mlp_in = ws.pooled.data();
      }
      const std::size_t nt = n_theta(bs);
      T* theta = ws.theta.data();
      mlps_[bs.mlp].forward(this->ps_, ws.caches[j], mlp_in, theta, B, ctx);
      T* rout = ws.resid[j + 1].data();
      basis_forward(j, theta, nt, rin, rout, y, B, ws);
    }
  }

  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    T* dres = ws.dresid.data();  // gradient w.r.t. resid[j+1], then resid[j]
    std::fill(dres, dres + B * L_, T(0));
    std::vector<char> touched(mlps_.size(), 0);  // a shared MLP accumulates after its first block
    for (std::size_t j = blocks_.size(); j-- > 0;) {
      const BlockSpec& bs = blocks_[j];
      const std::size_t nt = n_theta(bs);
      T* dtheta = ws.dtheta.data();
      basis_backward(j, dres, dy, dtheta, nt, B, ws);
      // resid[j+1] = resid[j] - backcast: dres passes through unchanged, plus the MLP path.
      const std::size_t P = nn::pooled_length(L_, bs.pool_k);
      // The first block's input gradient only matters when the caller wants dx.
      const bool need_din = j > 0 || dx != nullptr;
      T* dmlp_in = need_din ? ws.dpool.data() : nullptr;
      nn::RunCtx c = ctx;
      c.accumulate = ctx.accumulate || touched[bs.mlp];
      touched[bs.mlp] = 1;
      mlps_[bs.mlp].backward(this->ps_, grads, ws.caches[j], dtheta, dmlp_in, B, c);
      if (!need_din) break;  // j == 0: nothing flows further back
      if (bs.pool_k > 1) {
        T* dr = ws.tmp_bh.data();
        nn::pool1d_backward(pool_, ws.resid[j].data(), dmlp_in, dr, B, L_, bs.pool_k);
        for (std::size_t i = 0; i < B * L_; ++i) dres[i] += dr[i];
      } else {
        for (std::size_t i = 0; i < B * P; ++i) dres[i] += dmlp_in[i];
      }
    }
    if (!dx) return;
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t t = 0; t < L_; ++t) dx[b * L_ + t] = dres[b * L_ + (L_ - 1 - t)];
      T level = 0;
      for (std::size_t i = 0; i < H_ * Q_; ++i) level += dy[b * H_ * Q_ + i];
      dx[b * L_ + L_ - 1] += level;
    }
  }

 private:
  std::size_t n_theta(const BlockSpec& b) const {
    if (b.basis == Basis::identity) return L_ + Q_ * b.knots;
    return b.n_basis * (1 + Q_);
  }

  std::vector<double> fourier_frequencies() const {
    const double h = double(cfg_.value("n_harmonics", 2));
    std::vector<double> f = {0.0};
    for (double v = h; v < h / 2.0 * double(H_); v += 1.0) f.push_back(v / h);
    return f;
  }

  // theta (B, nt) -> rout = rin - backcast; y += forecast.
  void basis_forward(std::size_t j, const T* theta, std::size_t nt, const T* rin, T* rout, T* y, std::size_t B,
                     Ws& ws) const {
    const BlockSpec& bs = blocks_[j];
    if (bs.basis == Basis::identity) {
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t t = 0; t < L_; ++t) rout[b * L_ + t] = rin[b * L_ + t] - theta[b * nt + t];
      const std::size_t K = bs.knots;
      if (!bs.q_major) {  // (H, Q) layout, K == H: the knots are the forecast
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t i = 0; i < H_ * Q_; ++i) y[b * H_ * Q_ + i] += theta[b * nt + L_ + i];
        return;
      }
      for (std::size_t q = 0; q < Q_; ++q) {
        T* knots = ws.tmp_bk.data();  // (B, K)
        T* f = ws.tmp_bh.data();      // (B, H)
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(knots + b * K, theta + b * nt + L_ + q * K, K * sizeof(T));
        nn::interp1d_forward(interp_, knots, f, B, K, H_);
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t h = 0; h < H_; ++h) y[(b * H_ + h) * Q_ + q] += f[b * H_ + h];
      }
      return;
    }
    // Polynomial / Fourier: backcast = theta_b (B, p) Bb (p, L); forecast[b,t,q] = sum_p theta_f[b, p, q] Bf[p, t].
    const std::size_t p = bs.n_basis;
    nn::matmul<T>(false, false, B, L_, p, theta, nt, basis_bc_[j].data(), L_, rout, L_);  // backcast
    for (std::size_t i = 0; i < B * L_; ++i) rout[i] = rin[i] - rout[i];
    for (std::size_t q = 0; q < Q_; ++q) {
      T* coef = ws.tmp_bk.data();  // (B, p)
      T* f = ws.tmp_bh.data();     // (B, H)
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t k = 0; k < p; ++k) coef[b * p + k] = theta[b * nt + p + k * Q_ + q];
      nn::matmul<T>(false, false, B, H_, p, coef, p, basis_fc_[j].data(), H_, f, H_);
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < H_; ++h) y[(b * H_ + h) * Q_ + q] += f[b * H_ + h];
    }
  }

  // dres = dL/d rout (B, L), dy = dL/d forecast (B, H, Q) -> dtheta (B, nt).
  void basis_backward(std::size_t j, const T* dres, const T* dy, T* dtheta, std::size_t nt, std::size_t B,
                      Ws& ws) const {
    const BlockSpec& bs = blocks_[j];
    if (bs.basis == Basis::identity) {
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t t = 0; t < L_; ++t) dtheta[b * nt + t] = -dres[b * L_ + t];
      const std::size_t K = bs.knots;
      if (!bs.q_major) {
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(dtheta + b * nt + L_, dy + b * H_ * Q_, H_ * Q_ * sizeof(T));
        return;
      }
      for (std::size_t q = 0; q < Q_; ++q) {
        T* df = ws.tmp_bh.data();     // (B, H)
        T* dknots = ws.tmp_bk.data(); // (B, K)
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t h = 0; h < H_; ++h) df[b * H_ + h] = dy[(b * H_ + h) * Q_ + q];
        nn::interp1d_backward(interp_, df, dknots, B, K, H_);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(dtheta + b * nt + L_ + q * K, dknots + b * K, K * sizeof(T));
      }
      return;
    }
    const std::size_t p = bs.n_basis;
    // d theta_b = -dres (B, L) Bb^T (L, p)
    nn::matmul<T>(false, true, B, p, L_, dres, L_, basis_bc_[j].data(), L_, dtheta, nt, false, /*neg=*/true);
    for (std::size_t q = 0; q < Q_; ++q) {
      T* df = ws.tmp_bh.data();   // (B, H)
      T* dc = ws.tmp_bk.data();   // (B, p)
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t h = 0; h < H_; ++h) df[b * H_ + h] = dy[(b * H_ + h) * Q_ + q];
      nn::matmul<T>(false, true, B, p, H_, df, H_, basis_fc_[j].data(), H_, dc, p);
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t k = 0; k < p; ++k) dtheta[b * nt + p + k * Q_ + q] = dc[b * p + k];
    }
  }

  std::string type_;
  json cfg_;
  std::size_t L_, H_, Q_;
  std::vector<BlockSpec> blocks_;
  std::vector<nn::Mlp<T>> mlps_;
  nn::Pool pool_;
  nn::Interp interp_;
  std::vector<std::vector<T>> basis_bc_, basis_fc_;
};

// ---- plain MLP ------------------------------------------------------------------------------
template <class T>
class MlpModel final : public Model<T> {
 public:
  MlpModel(json cfg, std::size_t L, std::size_t H, std::size_t Q, std::size_t hidden, std::size_t layers, nn::Act act,
           float dropout)
      : cfg_(std::move(cfg)), L_(L), H_(H), Q_(Q) {
    std::vector<std::size_t> widths = {L};
    std::vector<bool> acts;
    for (std::size_t i = 0; i < layers; ++i) {
      widths.push_back(hidden);
      acts.push_back(true);
    }
    widths.push_back(H * Q);
    acts.push_back(false);
    mlp_.declare(this->ps_, "mlp", widths, acts, act, dropout);
    this->ps_.finalize();
  }
  std::string type() const override { return "mlp"; }
  json config() const override { return cfg_; }
  std::size_t input_size() const override { return L_; }
  std::size_t horizon() const override { return H_; }
  std::size_t outputs() const override { return Q_; }
  void init(std::uint64_t seed) override { mlp_.init(this->ps_, seed); }

  struct Ws final : Model<T>::Workspace {
    typename nn::Mlp<T>::Cache cache;
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    ws->cache = mlp_.make_cache(B, inference);
    return ws;
  }
  void forward(typename Model<T>::Workspace& base, const T* x, T* y, std::size_t B,
               const nn::RunCtx& ctx) const override {
    mlp_.forward(this->ps_, static_cast<Ws&>(base).cache, x, y, B, ctx);
  }
  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    mlp_.backward(this->ps_, grads, static_cast<Ws&>(base).cache, dy, dx, B, ctx);
  }

 private:
  json cfg_;
  std::size_t L_, H_, Q_;
  nn::Mlp<T> mlp_;
};

// ---- builders -------------------------------------------------------------------------------
struct Common {
  std::size_t L, H, Q;
  nn::Act act;
  float dropout;
};

Common common(json& cfg, const char* model) {
  const std::string ctx = cat(model, " config");
  Common c;
  c.L = json_uint(cfg, ctx, "input_size", 168, limits::kWindow);
  c.H = json_uint(cfg, ctx, "horizon", 24, limits::kHorizon);
  c.Q = json_uint(cfg, ctx, "outputs", 1, limits::kOutputs);
  c.act = nn::parse_act(json_string(cfg, ctx, "activation", "relu"));
  c.dropout = float(json_real(cfg, ctx, "dropout", 0.0, limits::kDropout));
  cfg["input_size"] = c.L;
  cfg["horizon"] = c.H;
  cfg["outputs"] = c.Q;
  cfg["activation"] = nn::act_name(c.act);
  cfg["dropout"] = c.dropout;
  return c;
}

std::vector<std::size_t> per_stack(const json& cfg, const char* model, const char* key, std::vector<std::uint64_t> def,
                                   std::size_t stacks, UintRange r) {
  const auto v = json_uint_list(cfg, cat(model, " config"), key, def, r);
  NTN_CHECK(v.size() == stacks, model, " config: field '", key, "' has ", v.size(), " entries for ", stacks, " stacks");
  return std::vector<std::size_t>(v.begin(), v.end());
}

template <class T>
std::unique_ptr<Model<T>> build_nhits(json cfg) {
  const char* M = "nhits";
  const Common c = common(cfg, M);
  const std::string ctx = cat(M, " config");
  const auto n_blocks_u = json_uint_list(cfg, ctx, "n_blocks", {1, 1, 1}, limits::kBlocks);
  const std::vector<std::size_t> n_blocks(n_blocks_u.begin(), n_blocks_u.end());
  const std::size_t S = n_blocks.size();
  NTN_CHECK(S >= limits::kStacks.lo && S <= limits::kStacks.hi, ctx, ": field 'n_blocks' must list 1..",
            limits::kStacks.hi, " stacks (got ", S, ")");
  const auto pool_k = per_stack(cfg, M, "pool_kernel", S == 3 ? std::vector<std::uint64_t>{2, 2, 1}
                                                              : std::vector<std::uint64_t>(S, 1), S, limits::kPoolKernel);
  const auto fd = per_stack(cfg, M, "freq_downsample", S == 3 ? std::vector<std::uint64_t>{4, 2, 1}
                                                              : std::vector<std::uint64_t>(S, 1), S, limits::kDownsample);
  const Units units = mlp_units(cfg, M, Units(3, {512, 512}));
  const nn::Pool pool = nn::parse_pool(json_string(cfg, ctx, "pooling", "max"));
  const nn::Interp interp = nn::parse_interp(json_string(cfg, ctx, "interpolation", "linear"));
  json_known_fields(cfg, ctx, {"type", "input_size", "horizon", "outputs", "activation", "dropout", "n_blocks",
                               "pool_kernel", "freq_downsample", "mlp_units", "pooling", "interpolation"});
  std::vector<BlockSpec> blocks;
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t b = 0; b < n_blocks[s]; ++b) {
      BlockSpec bs;
      bs.pool_k = pool_k[s];
      bs.basis = Basis::identity;
      bs.knots = std::max<std::size_t>(c.H / fd[s], 1);
      bs.q_major = true;
      bs.mlp = blocks.size();
      bs.stack = s;
      blocks.push_back(bs);
    }
  }
  cfg["type"] = M;
  cfg["n_blocks"] = n_blocks;
  cfg["pool_kernel"] = pool_k;
  cfg["freq_downsample"] = fd;
  cfg["mlp_units"] = units;
  cfg["pooling"] = pool == nn::Pool::max ? "max" : "avg";
  cfg["interpolation"] = interp == nn::Interp::linear ? "linear" : "nearest";
  return std::make_unique<ResidualStacks<T>>(M, cfg, c.L, c.H, c.Q, std::move(blocks), units, c.act, c.dropout, pool,
                                             interp);
}

template <class T>
std::unique_ptr<Model<T>> build_nbeats(json cfg) {
  const char* M = "nbeats";
  const Common c = common(cfg, M);
  const std::string ctx = cat(M, " config");
  std::vector<std::string> types = {"identity", "trend", "seasonality"};
  if (cfg.contains("stack_types")) {
    const json& t = cfg.at("stack_types");
    NTN_CHECK(t.is_array(), ctx, ": field 'stack_types' must be a list of names (got ", t.dump().substr(0, 80), ")");
    types.clear();
    for (std::size_t i = 0; i < t.size(); ++i) {
      NTN_CHECK(t[i].is_string(), ctx, ": field 'stack_types'[", i, "]: ", t[i].dump().substr(0, 80),
                " is not a name");
      types.push_back(t[i].get<std::string>());
    }
  }
  const std::size_t S = types.size();
  NTN_CHECK(S >= limits::kStacks.lo && S <= limits::kStacks.hi, ctx, ": field 'stack_types' must list 1..",
            limits::kStacks.hi, " stacks (got ", S, ")");
  const auto n_blocks = per_stack(cfg, M, "n_blocks", std::vector<std::uint64_t>(S, 1), S, limits::kBlocks);
  const Units units = mlp_units(cfg, M, Units(3, {512, 512}));
  const std::size_t harmonics = json_uint(cfg, ctx, "n_harmonics", 2, limits::kHarmonics);
  const std::size_t poly = json_uint(cfg, ctx, "n_polynomials", 2, limits::kPolynomials);
  const bool shared = json_bool(cfg, ctx, "shared_weights", false);
  json_known_fields(cfg, ctx, {"type", "input_size", "horizon", "outputs", "activation", "dropout", "stack_types",
                               "n_blocks", "mlp_units", "n_harmonics", "n_polynomials", "shared_weights"});
  cfg["n_harmonics"] = harmonics;
  // Frequencies 0, then harmonics/harmonics .. < H/2 in steps of 1/harmonics (ResidualStacks);
  // at most harmonics x H / 2 of them, and each basis row spans L + H values.
  std::size_t n_freq = 1;
  for (double v = double(harmonics); v < double(harmonics) / 2.0 * double(c.H); v += 1.0) ++n_freq;
  check_tensor_size(2 * n_freq, c.L + c.H, "nbeats seasonality basis (2 x frequencies, input_size + horizon)");
  std::vector<BlockSpec> blocks;
  std::size_t n_mlp = 0;
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t b = 0; b < n_blocks[s]; ++b) {
      BlockSpec bs;
      bs.stack = s;
      if (types[s] == "identity" || types[s] == "generic") {
        bs.basis = Basis::identity;
        bs.knots = c.H;
        bs.q_major = false;
      } else if (types[s] == "trend") {
        bs.basis = Basis::trend;
        bs.n_basis = poly + 1;
      } else if (types[s] == "seasonality") {
        bs.basis = Basis::seasonality;
        bs.n_basis = 2 * n_freq;
      } else {
        throw Error(cat(M, " config: 'stack_types'[", s, "] = '", types[s],
                        "' is not identity, generic, trend or seasonality"));
      }
      bs.mlp = (shared && b > 0) ? n_mlp - 1 : n_mlp++;
      blocks.push_back(bs);
    }
  }
  cfg["type"] = M;
  cfg["stack_types"] = types;
  cfg["n_blocks"] = n_blocks;
  cfg["mlp_units"] = units;
  cfg["n_polynomials"] = poly;
  cfg["shared_weights"] = shared;
  return std::make_unique<ResidualStacks<T>>(M, cfg, c.L, c.H, c.Q, std::move(blocks), units, c.act, c.dropout,
                                             nn::Pool::max, nn::Interp::linear);
}

template <class T>
std::unique_ptr<Model<T>> build_mlp(json cfg) {
  const char* M = "mlp";
  const Common c = common(cfg, M);
  const std::string ctx = cat(M, " config");
  const std::size_t hidden = json_uint(cfg, ctx, "hidden_size", 1024, limits::kWidth);
  const std::size_t layers = json_uint(cfg, ctx, "num_layers", 2, limits::kLayers);
  json_known_fields(cfg, ctx, {"type", "input_size", "horizon", "outputs", "activation", "dropout", "hidden_size",
                               "num_layers"});
  cfg["type"] = M;
  cfg["hidden_size"] = hidden;
  cfg["num_layers"] = layers;
  return std::make_unique<MlpModel<T>>(cfg, c.L, c.H, c.Q, hidden, layers, c.act, c.dropout);
}

}  // namespace

template <class T>
std::unique_ptr<Model<T>> make_model(const json& config) {
  NTN_CHECK(config.is_object(), "model config must be a JSON object (got ", config.dump(), ")");
  const std::string type = json_string(config, "model config", "type", "");
  if (type == "nhits") return build_nhits<T>(config);
  if (type == "nbeats") return build_nbeats<T>(config);
  if (type == "mlp") return build_mlp<T>(config);
  throw Error(cat("unknown model type '", type, "': expected one of nhits, nbeats, mlp"));
}

std::vector<std::string> model_types() { return {"nhits", "nbeats", "mlp"}; }

template std::unique_ptr<Model<float>> make_model<float>(const json&);
template std::unique_ptr<Model<double>> make_model<double>(const json&);

}  // namespace ntn
