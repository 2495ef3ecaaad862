#include "models/residual_stacks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/det_math.h"
#include "ntn/kernels.h"

namespace ntn::models {
namespace {

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

// out = a - b and y += x over n elements: the float kernels (the same IEEE operations, vectorised)
// or a plain loop for double.
template <class T>
void sub_n(const T* a, const T* b, T* out, std::size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    kernels().f32_sub(a, b, out, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = a[i] - b[i];
  }
}
template <class T>
void add_n(const T* x, T* y, std::size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    kernels().f32_add(y, x, y, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
  }
}

template <class T>
class ResidualStacks final : public Model<T> {
 public:
  explicit ResidualStacks(StacksSpec spec)
      : type_(std::move(spec.type)),
        cfg_(std::move(spec.config)),
        L_(spec.base.input_size),
        H_(spec.base.horizon),
        Q_(spec.base.outputs),
        cov_(spec.base.covariates()),
        blocks_(std::move(spec.blocks)),
        pool_(spec.pool),
        interp_(spec.interp),
        harmonics_(spec.harmonics) {
    const Units& units = spec.units;
    std::size_t n_mlp = 0;
    for (const auto& b : blocks_) n_mlp = std::max(n_mlp, b.mlp + 1);
    mlps_.resize(n_mlp);
    std::vector<bool> declared(n_mlp, false);
    for (std::size_t j = 0; j < blocks_.size(); ++j) {
      BlockSpec& b = blocks_[j];
      if (declared[b.mlp]) continue;
      declared[b.mlp] = true;
      mlp_entries_.push_back({b.mlp, this->ps_.entries().size()});
      std::vector<std::size_t> widths;
      std::vector<bool> acts;
      block_mlp_shape(mlp_width(b), units, n_theta(b), &widths, &acts);
      mlps_[b.mlp].declare(this->ps_, cat("stacks.", b.stack, ".blocks.", j, ".mlp"), widths, acts,
                           spec.base.activation, spec.base.dropout);
    }
    this->ps_.finalize();
    // Each MLP's slab range (its entries, declared together) and the first block that uses it:
    // the backward has finished its gradients after that block.
    mlp_range_.assign(n_mlp, {0, 0});
    const std::size_t E = this->ps_.entries().size();
    for (std::size_t i = 0; i < mlp_entries_.size(); ++i) {
      const std::size_t e0 = mlp_entries_[i].second;
      const std::size_t e1 = i + 1 < mlp_entries_.size() ? mlp_entries_[i + 1].second : E;
      mlp_range_[mlp_entries_[i].first] = {this->ps_.offset(e0),
                                           e1 < E ? this->ps_.offset(e1) : this->ps_.slab_size()};
    }
    mlp_first_block_.assign(n_mlp, blocks_.size());
    for (std::size_t j = blocks_.size(); j-- > 0;) mlp_first_block_[blocks_[j].mlp] = j;
    // Interpolation taps of the identity blocks whose knots are interpolated to the horizon.
    taps_.resize(blocks_.size());
    for (std::size_t j = 0; j < blocks_.size(); ++j)
      if (blocks_[j].basis == Basis::identity && blocks_[j].q_major)
        taps_[j] = nn::interp_taps(interp_, blocks_[j].knots, H_);
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
  Covariates covariates() const override { return cov_; }

  void init(std::uint64_t seed) override {
    for (const auto& m : mlps_) m.init(this->ps_, seed);
  }

  struct Ws final : Model<T>::Workspace {
    std::vector<std::vector<T>> resid;               // (blocks + 1) x (B, L): input of block j (flipped)
    std::vector<typename nn::Mlp<T>::Cache> caches;  // per block
    std::vector<T> pooled, theta, dtheta, dresid, dpool, tmp_bh, tmp_bk;
    // With covariates: the block's MLP input (B, width; in backward its gradient), and
    // channel-major scratch for pooling the covariates.
    std::vector<T> mlp_in, cov_t, cov_p;
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
    if (cov_.any()) {
      std::size_t widest = 0;
      for (const auto& b : blocks_) widest = std::max(widest, mlp_width(b));
      ws->mlp_in.resize(check_tensor_size(B, widest, "model workspace (batch x block input with covariates)"));
      const std::size_t C = std::max(cov_.hist, cov_.futr);
      ws->cov_t.resize(check_tensor_size(B * C, L_ + H_, "model workspace (covariates)"));
      ws->cov_p.resize(B * C * (L_ + H_));
    }
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y, const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t B = in.B;
    const T* x = in.y;
    NTN_DASSERT(B <= ws.max_batch);
    NTN_DASSERT((cov_.hist == 0 || in.hist) && (cov_.futr == 0 || in.futr) && (cov_.stat == 0 || in.stat));
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
      if (cov_.any()) mlp_in = with_covariates(bs, mlp_in, in, ws);
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
      T* dmlp_in = need_din ? (cov_.any() ? ws.mlp_in.data() : ws.dpool.data()) : nullptr;
      nn::RunCtx c = ctx;
      c.accumulate = ctx.accumulate || touched[bs.mlp];
      touched[bs.mlp] = 1;
      mlps_[bs.mlp].backward(this->ps_, grads, ws.caches[j], dtheta, dmlp_in, B, c);
      if (ctx.grads_final && mlp_first_block_[bs.mlp] == j)
        (*ctx.grads_final)(mlp_range_[bs.mlp].first, mlp_range_[bs.mlp].second);
      if (!need_din) break;  // j == 0: nothing flows further back
      if (cov_.any()) {  // only the residual part of the block input flows back (covariates are data)
        const std::size_t W = mlp_width(bs);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(ws.dpool.data() + b * P, dmlp_in + b * W, P * sizeof(T));
        dmlp_in = ws.dpool.data();
      }
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

  // A block's MLP input width: pooled residual, then the pooled covariates and the static ones.
  std::size_t mlp_width(const BlockSpec& b) const {
    const std::size_t P = nn::pooled_length(L_, b.pool_k), Pf = nn::pooled_length(L_ + H_, b.pool_k);
    return P + cov_.hist * P + cov_.futr * Pf + cov_.stat;
  }

  // Pools a (B, n, C) channels-last block over time with kernel k into out rows of stride W at
  // column col0, as (B, ceil(n / k), C).
  void pool_channels(const T* x, std::size_t B, std::size_t n, std::size_t C, std::size_t k, T* out,
                     std::size_t W, std::size_t col0, Ws& ws) const {
    const std::size_t P = nn::pooled_length(n, k);
    if (k == 1) {
      for (std::size_t b = 0; b < B; ++b) std::memcpy(out + b * W + col0, x + b * n * C, n * C * sizeof(T));
      return;
    }
    T* xt = ws.cov_t.data();  // (B * C, n)
    T* pt = ws.cov_p.data();  // (B * C, P)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t c = 0; c < C; ++c) xt[(b * C + c) * n + t] = x[(b * n + t) * C + c];
    nn::pool1d_forward(pool_, xt, pt, B * C, n, k);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t p = 0; p < P; ++p)
        for (std::size_t c = 0; c < C; ++c) out[b * W + col0 + p * C + c] = pt[(b * C + c) * P + p];
  }

  // The block's MLP input with the covariates appended (ws.mlp_in, rows of mlp_width(bs)).
  const T* with_covariates(const BlockSpec& bs, const T* resid_part, const Batch<T>& in, Ws& ws) const {
    const std::size_t B = in.B, W = mlp_width(bs), P = nn::pooled_length(L_, bs.pool_k);
    T* m = ws.mlp_in.data();
    for (std::size_t b = 0; b < B; ++b) std::memcpy(m + b * W, resid_part + b * P, P * sizeof(T));
    std::size_t col = P;
    if (cov_.hist) {
      pool_channels(in.hist, B, L_, cov_.hist, bs.pool_k, m, W, col, ws);
      col += cov_.hist * P;
    }
    if (cov_.futr) {
      pool_channels(in.futr, B, L_ + H_, cov_.futr, bs.pool_k, m, W, col, ws);
      col += cov_.futr * nn::pooled_length(L_ + H_, bs.pool_k);
    }
    for (std::size_t b = 0; b < B && cov_.stat; ++b)
      std::memcpy(m + b * W + col, in.stat + b * cov_.stat, cov_.stat * sizeof(T));
    return m;
  }

  std::vector<double> fourier_frequencies() const {
    const double h = double(harmonics_);
    std::vector<double> f = {0.0};
    for (double v = h; v < h / 2.0 * double(H_); v += 1.0) f.push_back(v / h);
    return f;
  }

  // theta (B, nt) -> rout = rin - backcast; y += forecast.
  void basis_forward(std::size_t j, const T* theta, std::size_t nt, const T* rin, T* rout, T* y,
                     std::size_t B, Ws& ws) const {
    const BlockSpec& bs = blocks_[j];
    if (bs.basis == Basis::identity) {
      for (std::size_t b = 0; b < B; ++b) sub_n(rin + b * L_, theta + b * nt, rout + b * L_, L_);
      const std::size_t K = bs.knots;
      if (!bs.q_major) {  // (H, Q) layout, K == H: the knots are the forecast
        for (std::size_t b = 0; b < B; ++b) add_n(theta + b * nt + L_, y + b * H_ * Q_, H_ * Q_);
        return;
      }
      for (std::size_t q = 0; q < Q_; ++q) {
        T* knots = ws.tmp_bk.data();  // (B, K)
        T* f = ws.tmp_bh.data();      // (B, H)
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(knots + b * K, theta + b * nt + L_ + q * K, K * sizeof(T));
        nn::interp1d_forward(taps_[j], knots, f, B);
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t h = 0; h < H_; ++h) y[(b * H_ + h) * Q_ + q] += f[b * H_ + h];
      }
      return;
    }
    // Polynomial / Fourier: backcast = theta_b (B, p) Bb (p, L); forecast[b,t,q] = sum_p theta_f[b, p, q]
    // Bf[p, t].
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
        T* df = ws.tmp_bh.data();      // (B, H)
        T* dknots = ws.tmp_bk.data();  // (B, K)
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t h = 0; h < H_; ++h) df[b * H_ + h] = dy[(b * H_ + h) * Q_ + q];
        nn::interp1d_backward(taps_[j], df, dknots, B);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(dtheta + b * nt + L_ + q * K, dknots + b * K, K * sizeof(T));
      }
      return;
    }
    const std::size_t p = bs.n_basis;
    // d theta_b = -dres (B, L) Bb^T (L, p)
    nn::matmul<T>(false, true, B, p, L_, dres, L_, basis_bc_[j].data(), L_, dtheta, nt, false, /*neg=*/true);
    for (std::size_t q = 0; q < Q_; ++q) {
      T* df = ws.tmp_bh.data();  // (B, H)
      T* dc = ws.tmp_bk.data();  // (B, p)
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
  Covariates cov_;
  std::vector<BlockSpec> blocks_;
  std::vector<nn::Mlp<T>> mlps_;
  std::vector<std::pair<std::size_t, std::size_t>> mlp_entries_;  // (mlp, its first entry), in declaration order
  std::vector<std::pair<std::size_t, std::size_t>> mlp_range_;    // each MLP's slab range
  std::vector<std::size_t> mlp_first_block_;                      // the first block using each MLP
  nn::Pool pool_;
  nn::Interp interp_;
  std::vector<nn::InterpTaps> taps_;  // per block (identity blocks with interpolated knots)
  std::size_t harmonics_;
  std::vector<std::vector<T>> basis_bc_, basis_fc_;
};

}  // namespace

template <class T>
std::unique_ptr<Model<T>> make_residual_stacks(StacksSpec spec) {
  return std::make_unique<ResidualStacks<T>>(std::move(spec));
}

template std::unique_ptr<Model<float>> make_residual_stacks<float>(StacksSpec);
template std::unique_ptr<Model<double>> make_residual_stacks<double>(StacksSpec);

}  // namespace ntn::models
