// DeepAR (Salinas et al. 2020; GluonTS / NeuralForecast): an autoregressive stacked LSTM whose
// input at step t is the target at lags 1.. (z_{t-lag}) with the step's future-known and static
// covariates, and whose state gives the parameters of a distribution for z_t through a linear
// head and the distribution's domain map (heads.h):
//   gaussian           mu, sigma = softplus(.) + eps
//   student_t          mu, sigma = softplus(.) + eps, nu = 3 + softplus(.)
//   negative_binomial  mu = softplus(.) + eps, alpha = softplus(.) + eps    (counts, mean-scaled)
// The LSTM runs from step max(lags) of the window to its last horizon step; the outputs (B, H, Q)
// are the parameters of the H horizon steps.
//   scaling "mean" (GluonTS's scaling; the default for the negative binomial, whose likelihood
//   must see the counts themselves): each window is divided by v = mean |window| (1 if 0) before
//   the LSTM, and the location and scale parameters are multiplied by v (alpha and nu are
//   shapes), so the likelihood and the draws are on the data's own scale. The gradient of the
//   window includes v's.
//   Training (targets given, ctx.training): the true previous values are fed (teacher forcing, as
//   DeepAR is trained), so every input is known and the LSTM runs once over the whole sequence
//   (input projections and weight gradients as single products; the same bits as step by step);
//   the nll loss scores the horizon steps.
//   forward otherwise: each horizon step is fed the location (mu) of the step before - one
//   deterministic path, the point forecast. Gradients flow through the fed-back locations.
//   sample(): true ancestral sampling - each path feeds its own draws back (the forecasts).
//   step(): a carried state over a live stream (without mean scaling): one LSTM step per tick,
//   then the H-step mean path decoded from a copy - the batch forward over the whole history.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "models/common.h"
#include "ntn/heads.h"
#include "ntn/rnn.h"

namespace ntn::models {
namespace {

ModelInfo deepar_info() {
  ModelInfo info{"deepar",
          "Autoregressive LSTM over lagged targets with a distribution head (gaussian, student_t, negative_binomial), "
          "trained by likelihood, forecasting by ancestral sampling",
          json{{"type", "deepar"}, {"input_size", 12}, {"horizon", 4}, {"outputs", 3}, {"encoder_hidden_size", 5},
               {"encoder_n_layers", 2}, {"lags", {1, 3}}},
          {"distribution"},
          {"future", "static"},
          true,
          true};
  info.auto_space = json::parse(R"({"window_scaling": null})");
  return info;
}

// Typical values shown.
struct DeepArConfig : RecurrentEncoderConfig {
  std::vector<std::size_t> lags = {1};         // targets fed per step, e.g. [1, 24, 168]; each < input_size
  DistKind distribution = DistKind::student_t;  // gaussian | student_t | negative_binomial
  std::string scaling = "auto";                // mean | none | auto (mean for negative_binomial)

  // The encoder is an LSTM (NeuralForecast's lstm_hidden_size 128; GluonTS's 2 layers, dropout 0.1).
  DeepArConfig() {
    outputs = 3;
    encoder_dropout = 0.1f;
  }
  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    RecurrentEncoderConfig::read(j, ctx, info);
    lags = read_sizes(j, ctx, "lags", lags, limits::kWindow);
    NTN_CHECK(!lags.empty() && lags.size() <= 64, ctx, ": field 'lags' needs 1..64 lags (got ", lags.size(), ")");
    for (std::size_t i = 0; i < lags.size(); ++i) {
      NTN_CHECK(lags[i] >= 1 && lags[i] < input_size, ctx, ": field 'lags'[", i, "] = ", lags[i],
                " must be in [1, input_size ", input_size, ")");
      for (std::size_t k = 0; k < i; ++k)
        NTN_CHECK(lags[k] != lags[i], ctx, ": field 'lags' repeats ", lags[i]);
    }
    const std::string d = json_string(j, ctx, "distribution", dist_name(distribution));
    try {
      distribution = parse_dist(d);
    } catch (const Error& e) {
      throw Error(cat(ctx, ": field 'distribution': ", e.what()));
    }
    scaling = json_string(j, ctx, "scaling", scaling);
    NTN_CHECK(scaling == "auto" || scaling == "mean" || scaling == "none", ctx, ": field 'scaling' is '", scaling,
              "' (expected auto, mean or none)");
    NTN_CHECK(outputs == dist_params(distribution), ctx, ": field 'outputs' (", outputs, ") must be ",
              dist_params(distribution), ", the parameter count of the ", dist_name(distribution),
              " distribution (train deepar with --loss nll --distribution ", dist_name(distribution), ")");
  }
  static DeepArConfig from_json(const json& j) { return read_config<DeepArConfig>(j, deepar_info()); }
  json to_json() const {
    json j = {{"type", "deepar"}};
    write(j);
    j["lags"] = lags;
    j["distribution"] = dist_name(distribution);
    j["scaling"] = scaling;
    return j;
  }
  bool mean_scaling() const {
    return scaling == "mean" || (scaling == "auto" && distribution == DistKind::negative_binomial);
  }
  std::size_t max_lag() const { return *std::max_element(lags.begin(), lags.end()); }
  std::size_t width() const { return lags.size() + futr_exog + stat_exog; }
  std::size_t steps() const { return input_size + horizon - max_lag(); }  // LSTM steps per window
};

// softplus and its derivative (the logistic), overflow-safe.
template <class T>
T softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}
template <class T>
T logistic(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
constexpr double kEps = 1e-6;  // floor of the positive parameters (a softplus can round to 0)

template <class T>
class DeepAr final : public Model<T> {
 public:
  explicit DeepAr(const DeepArConfig& c) : c_(c) {
    rnn_.declare(this->ps_, "encoder", nn::Cell::lstm, c.width(), c.encoder_hidden_size, c.encoder_n_layers, false,
                 c.encoder_dropout);
    head_.declare(this->ps_, "head", c.encoder_hidden_size, c.outputs);
    this->ps_.finalize();
  }
  std::string type() const override { return "deepar"; }
  json config() const override { return c_.to_json(); }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return c_.covariates(); }
  void init(std::uint64_t seed) override {
    rnn_.init(this->ps_, seed);
    head_.init(this->ps_, seed);
  }

  struct Ws final : Model<T>::Workspace {
    typename nn::Recurrent<T>::Cache rnn;
    std::vector<T> z;               // (B, L + H) the window, then the values fed at the horizon steps (scaled by v)
    std::vector<T> v;               // (B) each window's scale (1 without mean scaling)
    std::vector<unsigned char> own;  // (H, B): step h + 1 was fed step h's location (not a target)
    std::vector<T> x;               // (B, width) one step's input
    std::vector<const T*> hs;       // (H) the top layer's state at each horizon step (in the cache)
    std::vector<T> raw;             // (H, B, Q) the head's outputs before the domain map
    bool sequence = false;          // the last forward was teacher-forced: one pass over the sequence
    std::vector<T> xseq;            // (T, B, width) teacher forcing: every step's input at once
    // backward
    std::vector<T> dz, dv, dx, dh, draw, dseq, dxseq;
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    const std::size_t L = c_.input_size, H = c_.horizon, Q = c_.outputs;
    ws->rnn = rnn_.make_cache(B, c_.steps(), inference);
    ws->z.resize(check_tensor_size(B, L + H, "deepar workspace (batch x window)"));
    ws->v.resize(B);
    ws->own.resize(H * B);
    ws->x.resize(B * c_.width());
    ws->hs.resize(H);
    ws->raw.resize(check_tensor_size(H * B, Q, "deepar workspace (horizon x batch x outputs)"));
    if (!inference) {
      const std::size_t T_ = c_.steps();
      ws->xseq.resize(check_tensor_size(T_ * B, c_.width(), "deepar workspace (steps x batch x inputs)"));
      ws->dz.resize(ws->z.size());
      ws->dv.resize(B);
      ws->dx.resize(ws->x.size());
      ws->dh.resize(B * c_.encoder_hidden_size);
      ws->draw.resize(H * B * Q);
      ws->dseq.resize(check_tensor_size(T_ * B, c_.encoder_hidden_size, "deepar workspace (steps x batch x hidden)"));
      ws->dxseq.resize(ws->xseq.size());
    }
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y, const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, Q = c_.outputs, B = in.B, W = L + H;
    const std::size_t s0 = c_.max_lag(), T_ = c_.steps(), Hd = c_.encoder_hidden_size;
    for (std::size_t b = 0; b < B; ++b) scale_window(in.y + b * L, ws.v[b], ws.z.data() + b * W);
    ws.sequence = ctx.training && in.y_futr != nullptr;
    if (ws.sequence) {  // teacher forcing: every input is known, one pass over the whole sequence
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t k = 0; k < H; ++k) ws.z[b * W + L + k] = in.y_futr[b * H + k] / ws.v[b];
      for (std::size_t i = 0; i < T_; ++i) input_rows(in, ws.z.data(), ws.xseq.data() + i * B * c_.width(), s0 + i, B, 1, 1);
      rnn_.forward(this->ps_, ws.rnn, ws.xseq.data(), T_, B, ctx);
      const T* top = ws.rnn.output() + (T_ - H) * B * Hd;  // (H, B, hidden): the horizon steps
      head_.forward(this->ps_, top, ws.raw.data(), H * B, ctx);
      for (std::size_t k = 0; k < H; ++k)
        for (std::size_t b = 0; b < B; ++b) {
          T* par = y + (b * H + k) * Q;
          domain_map(ws.raw.data() + (k * B + b) * Q, par);
          unscale(par, ws.v[b]);
          ws.own[k * B + b] = 0;
        }
      return;
    }
    for (std::size_t i = 0; i < T_; ++i) {  // each horizon step is fed the location of the one before
      const std::size_t t = s0 + i;
      input_rows(in, ws.z.data(), ws.x.data(), t, B, 1, 1);
      const T* h = rnn_.step_forward(this->ps_, ws.rnn, i, ws.x.data(), T_, B, ctx);
      if (t < L) continue;
      const std::size_t k = t - L;
      ws.hs[k] = h;
      T* raw = ws.raw.data() + k * B * Q;
      head_.forward(this->ps_, h, raw, B, ctx);
      for (std::size_t b = 0; b < B; ++b) {
        T* par = y + (b * H + k) * Q;
        domain_map(raw + b * Q, par);  // scaled by v
        ws.own[k * B + b] = 1;
        ws.z[b * W + t] = par[0];  // the location feeds the next step
        unscale(par, ws.v[b]);
      }
    }
  }

  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, Q = c_.outputs, W = L + H, Hd = c_.encoder_hidden_size;
    const std::size_t s0 = c_.max_lag(), T_ = c_.steps(), nl = c_.lags.size(), Wd = c_.width();
    // The head runs at every horizon step on shared weights: overwrite = zero first, then add.
    if (!ctx.accumulate) std::fill(grads, grads + this->ps_.slab_size(), T(0));
    nn::RunCtx acc = ctx;
    acc.accumulate = true;
    std::fill(ws.dz.begin(), ws.dz.begin() + std::ptrdiff_t(B * W), T(0));
    std::fill(ws.dv.begin(), ws.dv.begin() + std::ptrdiff_t(B), T(0));
    if (ws.sequence) {
      for (std::size_t k = 0; k < H; ++k)
        for (std::size_t b = 0; b < B; ++b)
          head_input_grad(ws, dy, k, b, B, ws.raw.data() + (k * B + b) * Q, ws.draw.data() + (k * B + b) * Q);
      std::fill(ws.dseq.begin(), ws.dseq.begin() + std::ptrdiff_t((T_ - H) * B * Hd), T(0));
      const T* top = ws.rnn.output() + (T_ - H) * B * Hd;
      head_.backward(this->ps_, grads, top, ws.draw.data(), ws.dseq.data() + (T_ - H) * B * Hd, H * B, true);
      rnn_.backward(this->ps_, grads, ws.rnn, ws.dseq.data(), ws.dxseq.data(), T_, B, acc);
      for (std::size_t i = 0; i < T_; ++i)
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t l = 0; l < nl; ++l) ws.dz[b * W + s0 + i - c_.lags[l]] += ws.dxseq[(i * B + b) * Wd + l];
      for (std::size_t b = 0; b < B; ++b)  // the targets, fed as y / v
        for (std::size_t t = L; t < W; ++t) ws.dv[b] -= ws.dz[b * W + t] * ws.z[b * W + t] / ws.v[b];
    } else {
      for (std::size_t i = T_; i-- > 0;) {
        const std::size_t t = s0 + i;
        if (t >= L) {
          const std::size_t k = t - L;
          for (std::size_t b = 0; b < B; ++b)  // dz of step t is final: the later steps ran first
            head_input_grad(ws, dy, k, b, B, ws.raw.data() + (k * B + b) * Q, ws.draw.data() + b * Q);
          head_.backward(this->ps_, grads, ws.hs[k], ws.draw.data(), ws.dh.data(), B, true);
        } else {
          std::fill(ws.dh.begin(), ws.dh.begin() + std::ptrdiff_t(B * Hd), T(0));
        }
        rnn_.step_backward(this->ps_, ws.rnn, i, T_, ws.dh.data(), ws.dx.data(), B, acc);
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t l = 0; l < nl; ++l) ws.dz[b * W + t - c_.lags[l]] += ws.dx[b * Wd + l];
      }
      rnn_.step_backward_end(this->ps_, grads, ws.rnn, T_, B, acc);
    }
    if (!dx) return;
    for (std::size_t b = 0; b < B; ++b) {
      const T v = ws.v[b], *dz = ws.dz.data() + b * W, *z = ws.z.data() + b * W;
      T dv = ws.dv[b];
      for (std::size_t t = 0; t < L; ++t) dv -= dz[t] * z[t] / v;  // the window, fed as x / v
      const bool through_v = c_.mean_scaling() && mean_abs(z) > 0;  // else v = 1, a constant
      for (std::size_t t = 0; t < L; ++t) {
        const T x = z[t] * v;  // v = mean |x|: dv / dx_t = sign(x_t) / L
        dx[b * L + t] = dz[t] / v + (through_v ? dv * T(x > 0 ? 1 : x < 0 ? -1 : 0) / T(L) : T(0));
      }
    }
  }

  // ---- streaming: the LSTM's state over every tick so far -----------------------------------
  // After tick n the carried state has run step n + 1 (its inputs are z_{n+1-lag}, all known):
  // the state of the first horizon step. The forecast decodes H - 1 more steps from a copy, each
  // fed the location of the step before, as forward does. Without mean scaling only (v = 1; a
  // per-window scale has no meaning for an unbounded history).
  struct St final : Model<T>::State {
    std::vector<T> vals;  // the recurrent state | the last max_lag ticks, oldest first | ticks seen (capped)
    std::vector<T> dec;   // the decoding copy of the recurrent state
    std::vector<T> x, raw, loc;
    typename nn::Recurrent<T>::StepScratch scratch;
    T* values() override { return vals.data(); }
    std::size_t size() const override { return vals.size(); }
  };
  bool can_stream() const override { return !c_.mean_scaling() && !c_.covariates().any(); }
  std::unique_ptr<typename Model<T>::State> make_state() const override {
    if (!can_stream()) return nullptr;
    auto s = std::make_unique<St>();
    const std::size_t S = rnn_.state_size(1);
    s->vals.assign(S + c_.max_lag() + 1, T(0));
    s->dec.resize(S);
    s->x.resize(c_.width());
    s->raw.resize(c_.outputs);
    s->loc.resize(c_.horizon);
    s->scratch = rnn_.make_step_scratch(1);
    return s;
  }
  void step(typename Model<T>::State& base, const T* tick, T* y, const nn::RunCtx& ctx) const override {
    NTN_CHECK(can_stream(), "deepar: ",
              c_.covariates().any() ? "a model with covariates does not stream (its ticks would need them)"
                                    : "a mean-scaled model does not carry a state (its scale is the window's)");
    St& s = static_cast<St&>(base);
    const std::size_t S = rnn_.state_size(1), m = c_.max_lag(), H = c_.horizon, Q = c_.outputs, Hd = c_.encoder_hidden_size;
    T* hist = s.vals.data() + S;  // hist[m - 1] is the newest tick
    T& seen = s.vals[S + m];
    std::memmove(hist, hist + 1, (m - 1) * sizeof(T));
    hist[m - 1] = *tick;
    if (seen < T(m)) seen += T(1);
    // the input of the step k horizon steps past the next one: z at lag l is a tick or a location
    auto input = [&](std::size_t k) {
      for (std::size_t i = 0; i < c_.lags.size(); ++i) {
        const std::size_t l = c_.lags[i];
        s.x[i] = k < l ? hist[m - l + k] : s.loc[k - l];
      }
    };
    const T* h = s.vals.data() + (c_.encoder_n_layers - 1) * 2 * Hd;  // the top layer's h in the state
    if (seen >= T(m)) {  // enough ticks for every lag: the state takes the step
      input(0);
      h = rnn_.step(this->ps_, s.vals.data(), s.scratch, s.x.data(), 1, ctx);
    }
    std::memcpy(s.dec.data(), s.vals.data(), S * sizeof(T));
    for (std::size_t k = 0; k < H; ++k) {
      if (k > 0) {
        input(k);
        h = rnn_.step(this->ps_, s.dec.data(), s.scratch, s.x.data(), 1, ctx);
      }
      head_.forward(this->ps_, h, s.raw.data(), 1, ctx);
      T* par = y + k * Q;
      domain_map(s.raw.data(), par);
      s.loc[k] = par[0];
      unscale(par, T(1));
    }
  }

  void sample(const Batch<T>& in, std::size_t P, std::uint64_t seed, std::size_t row0, T* out,
              const nn::RunCtx& ctx) const override {
    const std::size_t L = c_.input_size, H = c_.horizon, Q = c_.outputs, B = in.B, W = L + H, Hd = c_.encoder_hidden_size;
    const std::size_t s0 = c_.max_lag(), R = B * P, nl = c_.encoder_n_layers;
    NTN_CHECK(P >= 1, "deepar: sampling needs at least one path");
    // The window's steps and the first horizon step are the same for every path: run them on the
    // B rows, then copy each row's state to its P paths, which draw and feed their own values.
    std::vector<T> state(rnn_.state_size(B)), rstate(rnn_.state_size(R)), z(R * W), x(R * c_.width()), raw(R * Q),
        v(B);
    auto scratch = rnn_.make_step_scratch(R);
    for (std::size_t b = 0; b < B; ++b) {
      scale_window(in.y + b * L, v[b], z.data() + b * P * W);
      for (std::size_t p = 1; p < P; ++p) std::memcpy(z.data() + (b * P + p) * W, z.data() + b * P * W, L * sizeof(T));
    }
    const T* h = nullptr;
    for (std::size_t t = s0; t <= L; ++t) {
      input_rows(in, z.data(), x.data(), t, B, P, /*zstride=*/P);
      h = rnn_.step(this->ps_, state.data(), scratch, x.data(), B, ctx);
    }
    // replicate the state: per layer h (B, Hd) then c (B, Hd) -> (R, Hd) each
    for (std::size_t blk = 0; blk < 2 * nl; ++blk)
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t p = 0; p < P; ++p)
          std::memcpy(rstate.data() + blk * R * Hd + (b * P + p) * Hd, state.data() + blk * B * Hd + b * Hd,
                      Hd * sizeof(T));
    std::vector<Rng> rngs;
    rngs.reserve(R);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t p = 0; p < P; ++p) rngs.push_back(path_rng(seed, row0 + b, p));
    for (std::size_t k = 0; k < H; ++k) {
      const std::size_t t = L + k;
      std::size_t rows = R;
      if (k == 0) {  // from the B rows' state, one head per row, drawn P times
        head_.forward(this->ps_, h, raw.data(), B, ctx);
        rows = B;
      } else {
        input_rows(in, z.data(), x.data(), t, R, P, 1);
        h = rnn_.step(this->ps_, rstate.data(), scratch, x.data(), R, ctx);
        head_.forward(this->ps_, h, raw.data(), R, ctx);
      }
      for (std::size_t r = 0; r < R; ++r) {
        const T vb = v[r / P];
        T par[3] = {0, 0, 0};
        domain_map(raw.data() + (rows == B ? r / P : r) * Q, par);
        unscale(par, vb);
        const double pd[3] = {double(par[0]), double(par[1]), double(par[2])};
        const T draw = T(dist_sample(c_.distribution, pd, rngs[r]));  // on the data's scale
        z[r * W + t] = draw / vb;
        out[r * H + k] = draw;
      }
    }
  }

 private:
  // The gradient of horizon step k's head outputs (raw) of row b from dy (the unscaled
  // parameters'), the scale v's share (into ws.dv) and, when the step's location was fed to later
  // steps (the mean path), the gradient that came back through it (ws.dz, final by then).
  void head_input_grad(Ws& ws, const T* dy, std::size_t k, std::size_t b, std::size_t B, const T* raw,
                       T* draw) const {
    const std::size_t H = c_.horizon, Q = c_.outputs, W = c_.input_size + H;
    T ps[3], dps[3];
    domain_map(raw, ps);  // the scaled parameters: par = ps v for a location / scale
    for (std::size_t q = 0; q < Q; ++q) {
      const T d = dy[(b * H + k) * Q + q];
      dps[q] = scaled(q) ? d * ws.v[b] : d;
      if (scaled(q)) ws.dv[b] += d * ps[q];
    }
    if (ws.own[k * B + b]) dps[0] += ws.dz[b * W + c_.input_size + k];
    domain_map_backward(raw, dps, draw);
  }
  // Parameters 0 and (but for the negative binomial's alpha) 1 are a location and a scale: they
  // carry the window's scale v; nu and alpha are shapes.
  bool scaled(std::size_t q) const { return q == 0 || (q == 1 && c_.distribution != DistKind::negative_binomial); }
  void unscale(T* par, T v) const {
    for (std::size_t q = 0; q < c_.outputs; ++q)
      if (scaled(q)) par[q] *= v;
  }
  static T mean_abs(const T* x, std::size_t n) {
    T s = 0;
    for (std::size_t i = 0; i < n; ++i) s += std::fabs(x[i]);
    return s / T(n);
  }
  T mean_abs(const T* x) const { return mean_abs(x, c_.input_size); }
  // v of a window (mean |x|, or 1: no mean scaling, or an all-zero window) and z = x / v.
  void scale_window(const T* x, T& v, T* z) const {
    const std::size_t L = c_.input_size;
    v = T(1);
    if (c_.mean_scaling()) {
      const T m = mean_abs(x);
      if (m > T(0) && std::isfinite(double(m))) v = m;
    }
    for (std::size_t t = 0; t < L; ++t) z[t] = x[t] / v;
  }
  // rows of z (row r's covariates are those of batch row r / per), z row stride (L + H) * zstride
  // per row step: the sampling path rows are P apart when only one per batch row runs.
  void input_rows(const Batch<T>& in, const T* z, T* x, std::size_t t, std::size_t rows, std::size_t per,
                  std::size_t zstride) const {
    const std::size_t L = c_.input_size, H = c_.horizon, W = L + H;
    const Covariates cov = c_.covariates();
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t b = (r * zstride) / per;  // the batch row
      const T* zr = z + r * zstride * W;
      T* row = x + r * c_.width();
      for (std::size_t l : c_.lags) *row++ = zr[t - l];
      for (std::size_t k = 0; k < cov.futr; ++k) *row++ = in.futr[(b * W + t) * cov.futr + k];
      for (std::size_t k = 0; k < cov.stat; ++k) *row++ = in.stat[b * cov.stat + k];
    }
  }
  void domain_map(const T* raw, T* par) const {
    switch (c_.distribution) {
      case DistKind::gaussian:
        par[0] = raw[0];
        par[1] = softplus(raw[1]) + T(kEps);
        break;
      case DistKind::student_t:
        par[0] = raw[0];
        par[1] = softplus(raw[1]) + T(kEps);
        par[2] = T(3) + softplus(raw[2]);
        break;
      case DistKind::negative_binomial:
        par[0] = softplus(raw[0]) + T(kEps);
        par[1] = softplus(raw[1]) + T(kEps);
        break;
    }
  }
  void domain_map_backward(const T* raw, const T* dpar, T* draw) const {
    const bool shift = c_.distribution != DistKind::negative_binomial;  // mu is raw itself
    for (std::size_t q = 0; q < c_.outputs; ++q) draw[q] = (q == 0 && shift) ? dpar[0] : dpar[q] * logistic(raw[q]);
  }

  DeepArConfig c_;
  nn::Recurrent<T> rnn_;
  nn::Linear<T> head_;
};

}  // namespace

Entry deepar_entry() { return make_entry<DeepAr, DeepArConfig>(deepar_info()); }

}  // namespace ntn::models
