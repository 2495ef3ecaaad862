#include "ntn/predictor.h"
#include "infer/row_team.h"

#include "ntn/sampling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/parallel.h"
#include "ntn/safetensors.h"
#include "ntn/sampling.h"

namespace ntn {

// ---- packed weights ---------------------------------------------------------------------------
PackedWeights::PackedWeights(const Artifact& a, Precision precision) : precision_(precision) {
  NTN_CHECK(a.model != nullptr, "PackedWeights: artifact without a model");
  const auto& ps = a.model->params();
  const auto& entries = ps.entries();
  by_param_.resize(entries.size());
  // One slab for every packed layer (one populated mapping instead of a heap block per layer).
  const std::size_t elem = precision == Precision::fp32 ? 4 : precision == Precision::int8 ? 1 : 2;
  std::vector<std::size_t> offset(entries.size(), 0);
  std::size_t total = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (!e.packed()) continue;
    const std::size_t M = std::size_t(e.shape[0]), K = std::size_t(e.shape[1]);
    offset[i] = total;
    const std::size_t Kp = precision == Precision::int8 ? i8_padded_k(K) : precision == Precision::bf16 ? bf16_padded_k(K) : K;
    total += round_up(dense_packed_size(M, Kp) * elem, kAlign);
  }
  slab_ = AlignedBuffer(total);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (!e.packed()) continue;
    auto L = std::make_unique<Layer>();
    L->precision = precision;
    L->M = std::size_t(e.shape[0]);
    L->K = std::size_t(e.shape[1]);
    L->Kp = i8_padded_k(L->K);
    L->data = static_cast<char*>(slab_.data()) + offset[i];
    if (e.bias != ps.npos) L->bias = ps.value(e.bias);
    const auto low = a.low.find(e.name);
    const LowPrecisionWeight* lp = low == a.low.end() ? nullptr : &low->second;
    // fp32 values: in params() (widened / dequantised for a low-precision artifact), or - for
    // an artifact loaded without its Linear weights - in the file mapping (or rebuilt here).
    std::vector<float> tmp;
    const float* w = ps.value(i);
    if (!a.linear_weights_loaded) {
      if (!lp) {
        w = a.file->get_f32(e.name, e.shape, tmp);
      } else if (precision != lp->precision) {
        tmp.resize(e.size);
        lp->to_f32(tmp.data());
        w = tmp.data();
      }
    }
    switch (precision) {
      case Precision::fp32:
        f32_dense_pack(w, L->M, L->K, static_cast<float*>(L->data));
        break;
      case Precision::fp16:
      case Precision::bf16: {
        std::vector<std::uint16_t> h;
        if (!lp || lp->precision != precision) {
          h.resize(L->M * L->K);
          narrow_to_16(precision, w, h.size(), h.data());
        }
        (precision == Precision::fp16 ? f16_dense_pack : bf16_dense_pack)(h.empty() ? lp->half.data() : h.data(), L->M,
                                                                             L->K, static_cast<std::uint16_t*>(L->data));
        break;
      }
      case Precision::int8: {
        std::vector<std::int8_t> q;
        if (lp && lp->precision == Precision::int8) {
          L->scale = lp->scale;
        } else {
          q.resize(L->M * L->K);
          L->scale.resize(L->M);
          i8_quantize_rows(w, L->M, L->K, q.data(), L->scale.data());
        }
        L->w_sum.resize(dense_panels(L->M) * kDensePanel);
        i8_dense_pack(q.empty() ? lp->q.data() : q.data(), L->M, L->K, static_cast<std::int8_t*>(L->data),
                      L->w_sum.data());
        break;
      }
    }
    max_kp_ = std::max(max_kp_, L->Kp);
    by_param_[i] = std::move(L);
  }
}

const PackedWeights::Layer& PackedWeights::layer(std::size_t weight_param) const {
  NTN_DASSERT(weight_param < by_param_.size() && by_param_[weight_param]);
  return *by_param_[weight_param];
}

std::size_t PackedWeights::bytes() const {
  std::size_t s = slab_.bytes();
  for (const auto& l : by_param_)
    if (l) s += l->scale.size() * 4 + l->w_sum.size() * 4;
  return s;
}

PackedRunner::PackedRunner(const PackedWeights& w, std::size_t max_batch, std::size_t forecast_threads)
    : w_(w), max_batch_(max_batch) {
  if (w.precision() == Precision::int8) {
    xq_.resize(max_batch * w.max_kp());
    xs_.resize(max_batch);
  }
  if (forecast_threads > 1) team_ = std::make_unique<RowTeam>(forecast_threads - 1);
}

PackedRunner::~PackedRunner() = default;

std::uint64_t PackedRunner::split_jobs() const { return team_ ? team_->jobs() : 0; }

// Output rows [16 p0, 16 p1) of a batch-1 layer (int8: x already quantised into xq_[0], xs_[0]).
void PackedRunner::run_panels(const PackedWeights::Layer& L, const float* x, float* y, std::size_t p0,
                              std::size_t p1) const {
  const KernelTable& k = kernels();
  const std::size_t o0 = p0 * kDensePanel, M = std::min(L.M, p1 * kDensePanel) - o0;
  const float* bias = L.bias ? L.bias + o0 : nullptr;
  switch (L.precision) {
    case Precision::fp32:
      k.f32_dense(static_cast<const float*>(L.data) + o0 * L.K, M, L.K, x, L.K, 1, bias, y + o0, M);
      return;
    case Precision::fp16:
      k.f16_dense(static_cast<const std::uint16_t*>(L.data) + o0 * L.K, M, L.K, x, L.K, 1, bias, y + o0, M);
      return;
    case Precision::bf16:
      k.bf16_dense(static_cast<const std::uint16_t*>(L.data) + o0 * bf16_padded_k(L.K), M, L.K, x, L.K, 1, bias,
                   y + o0, M);
      return;
    case Precision::int8:
      k.i8_dense(static_cast<const std::int8_t*>(L.data) + o0 * L.Kp, L.scale.data() + o0, L.w_sum.data() + o0, M,
                 L.Kp, xq_.data(), L.Kp, xs_.data(), 1, bias, y + o0, M);
      return;
  }
}

void PackedRunner::run(const nn::Linear<float>& l, const float* x, float* y, std::size_t B) {
  const PackedWeights::Layer& L = w_.layer(l.w);
  const KernelTable& k = kernels();
  const std::size_t elem = L.precision == Precision::fp32 ? 4 : L.precision == Precision::int8 ? 1 : 2;
  if (team_ && B == 1 && L.M >= kSplitRows && L.M * L.K * elem > kSplitBytes) {
    // One forecast on several cores: one part per thread, whole batch-1 tiles (4 panels) each.
    // (A longer first part for the caller, to cover the helper's cross-core latency, measured
    // slower: bf16 28.7-29.1 us against 25.6-25.8 on NHITS-default.)
    if (L.precision == Precision::int8) xs_[0] = k.f32_quantize_i8(x, L.K, xq_.data(), L.Kp);
    const std::size_t P = dense_panels(L.M), T = team_->threads();
    static_assert(kSplitPanels % kI8Group == 0, "a part starts at an int8 panel group (i8_dense_pack)");
    const std::size_t chunk = (P + T * kSplitPanels - 1) / (T * kSplitPanels) * kSplitPanels;
    team_->run((P + chunk - 1) / chunk,
               [&](std::size_t part) { run_panels(L, x, y, part * chunk, std::min(P, (part + 1) * chunk)); });
    return;
  }
  switch (L.precision) {
    case Precision::fp32: k.f32_dense(static_cast<const float*>(L.data), L.M, L.K, x, L.K, B, L.bias, y, L.M); return;
    case Precision::fp16:
      k.f16_dense(static_cast<const std::uint16_t*>(L.data), L.M, L.K, x, L.K, B, L.bias, y, L.M);
      return;
    case Precision::bf16:
      k.bf16_dense(static_cast<const std::uint16_t*>(L.data), L.M, L.K, x, L.K, B, L.bias, y, L.M);
      return;
    case Precision::int8:
      // Rows in chunks of max_batch (the quantised-row scratch): a recurrent layer projects the
      // inputs of every step (steps x batch rows) at once. Rows are independent: no bit changes.
      for (std::size_t r0 = 0; r0 < B; r0 += max_batch_) {
        const std::size_t n = std::min(max_batch_, B - r0);
        const float* xr = x + r0 * L.K;
        for (std::size_t b = 0; b < n; ++b) xs_[b] = k.f32_quantize_i8(xr + b * L.K, L.K, xq_.data() + b * L.Kp, L.Kp);
        k.i8_dense(static_cast<const std::int8_t*>(L.data), L.scale.data(), L.w_sum.data(), L.M, L.Kp, xq_.data(), L.Kp,
                   xs_.data(), n, L.bias, y + r0 * L.M, L.M);
      }
      return;
  }
}

// ---- predictor --------------------------------------------------------------------------------
struct Predictor::Workspace {
  Workspace(const Predictor& p, std::size_t max_batch)
      : model(p.a_.model->make_workspace(max_batch, /*inference=*/true)),
        runner(p.packed_, max_batch, p.opt_.forecast_threads),
        x(max_batch * p.L_),
        series_st(max_batch),
        window_st(max_batch),
        scratch(p.L_),
        y(max_batch * p.H_ * p.Q_),
        hist(max_batch * p.L_ * p.cov_.hist),
        futr(max_batch * (p.L_ + p.H_) * p.cov_.futr),
        stat(max_batch * p.cov_.stat) {}
  std::unique_ptr<Model<float>::Workspace> model;
  PackedRunner runner;
  std::vector<float> x;                 // (max_batch, L) scaled inputs
  std::vector<NormStats> series_st;     // (max_batch)
  std::vector<NormStats> window_st;     // (max_batch)
  std::vector<double> scratch;          // (L) robust window statistics
  std::vector<float> y;                 // (max_batch, H, Q) model outputs of a double-output call
  std::vector<float> hist, futr, stat;  // scaled covariates (max_batch, L, Ch), (.., L + H, Cf), (.., S)
};

namespace {
std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

// Every error of a predictor built from a file names the file (workspace sizes, packing, the
// warm-up forecast), unless the message already does.
Predictor::Predictor(const std::string& artifact_path, PredictorOptions o) try
    : Predictor(Artifact::load(artifact_path, /*linear_weights=*/false), o) {
} catch (const Error& e) {
  if (std::string_view(e.what()).find(artifact_path) != std::string_view::npos) throw;
  throw Error(cat(artifact_path, ": ", e.what()));
}

Predictor::Predictor(Artifact a, PredictorOptions o)
    : a_(std::move(a)),
      opt_(o),
      L_(a_.model->input_size()),
      H_(a_.model->horizon()),
      Q_(a_.model->outputs()),
      cov_(a_.model->covariates()),
      packed_(a_, o.precision),
      model_key_(fnv1a(precision_name(o.precision), fnv1a(a_.uuid))),
      latency_(o.latency_target_us) {
  NTN_CHECK(opt_.max_batch > 0, "predictor: max_batch must be positive");
  NTN_CHECK(opt_.forecast_threads >= 1 && opt_.forecast_threads <= 256,
            "predictor: forecast_threads must be 1..256 (got ", opt_.forecast_threads, ")");
  const std::size_t n = opt_.workspaces ? opt_.workspaces : std::size_t(std::max(1, hardware_threads()));  // 0: all
  all_.reserve(std::max<std::size_t>(256, n));
  free_.reserve(std::max<std::size_t>(256, n));
  for (std::size_t i = 0; i < n; ++i) {
    all_.push_back(std::make_unique<Workspace>(*this, opt_.max_batch));
    free_.push_back(all_.back().get());
  }
  if (!opt_.warm_up) return;
  // Warm-up: every workspace runs one synthetic forecast (its buffers were zero-filled, so
  // their pages are already mapped): weights, caches and branch predictors are warm before the
  // first real forecast.
  // The synthetic window sits at the scaler's center, so its scaled values are O(1) whatever
  // the series' level (a 1e30 price series warms up as well as a 100 one).
  std::vector<float> x(L_), y(H_ * Q_);
  std::vector<std::size_t> series(1, a_.stats.size() > 1 ? 0 : kNoSeries);
  const NormStats st = series_stats(series[0]);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(st.center + st.scale * (1.0 + std::sin(0.1 * double(i))));
  // Covariates at their centers (scaled: 0).
  std::vector<double> hist(L_ * cov_.hist), futr((L_ + H_) * cov_.futr), stat(cov_.stat);
  for (std::size_t t = 0; t < L_; ++t)
    for (std::size_t c = 0; c < cov_.hist; ++c) hist[t * cov_.hist + c] = a_.covariates.hist[c].stats.center;
  for (std::size_t t = 0; t < L_ + H_; ++t)
    for (std::size_t c = 0; c < cov_.futr; ++c) futr[t * cov_.futr + c] = a_.covariates.futr[c].stats.center;
  const RawCovariates rc{hist.data(), futr.data(), stat.data()};
  for (auto& w : all_) run_rows(*w, x.data(), 1, y.data(), series.data(), nullptr, 0, 0, cov_.any() ? &rc : nullptr);
}

Predictor::~Predictor() = default;

std::size_t Predictor::series_index(const std::string& name) const {
  const auto it = std::find(a_.series.begin(), a_.series.end(), name);
  NTN_CHECK(it != a_.series.end(), "series '", name, "' was not in the training data of this model (",
            a_.series.size(), " series", a_.series.empty() ? "" : cat(", e.g. '", a_.series.front(), "'"), ")");
  return std::size_t(it - a_.series.begin());
}

NormStats Predictor::series_stats(std::size_t series) const {
  if (a_.scaling == SeriesScaling::none) return {};
  if (series == kNoSeries) {
    NTN_CHECK(a_.stats.size() == 1, "this model scales each of its ", a_.stats.size(),
              " training series differently: name the series of the input (Predictor::series_index)");
    return a_.stats[0];
  }
  NTN_CHECK(series < a_.stats.size(), "series index ", series, " is out of range (the model knows ", a_.stats.size(),
            " series)");
  return a_.stats[series];
}

template <class In>
void Predictor::check_rows(const In* x, std::size_t B, std::size_t ldx, const std::size_t* series,
                           const RawCovariates* cov) const {
  check_covariates(cov, B);
  for (std::size_t b = 0; b < B; ++b) {
    check_row(x + b * ldx, b);
    if (series) series_stats(series[b]);
  }
  if (!series) series_stats(kNoSeries);
}

template <class In>
void Predictor::check_row(const In* x, std::size_t row) const {
  if constexpr (std::is_same_v<In, float>) {
    if (std::isfinite(kernels().f32_sum(x, L_))) return;
  } else {
    double s = 0;
    for (std::size_t i = 0; i < L_; ++i) s += x[i] - x[0];  // differences: no overflow for a 1e300 level
    if (std::isfinite(s) && std::isfinite(x[0])) return;
  }
  for (std::size_t i = 0; i < L_; ++i)
    NTN_CHECK(std::isfinite(x[i]), "input row ", row, ": value ", x[i], " at position ", i, " of ", L_,
              " is not finite; repair missing values before forecasting");
  throw Error(cat("input row ", row, ": the values are too large to sum in ", sizeof(In) == 4 ? "f32" : "f64"));
}

Predictor::Workspace* Predictor::acquire() {
  {
    std::lock_guard<SpinLock> g(mu_);
    if (!free_.empty()) {
      Workspace* w = free_.back();
      free_.pop_back();
      return w;
    }
  }
  auto w = std::make_unique<Workspace>(*this, opt_.max_batch);  // more concurrent callers than ever before
  std::lock_guard<SpinLock> g(mu_);
  all_.push_back(std::move(w));
  return all_.back().get();
}

std::uint64_t Predictor::split_jobs() const {
  std::uint64_t n = 0;
  for (const auto& w : all_) n += w->runner.split_jobs();
  return n;
}

void Predictor::reserve_workspaces(std::size_t n) {
  std::lock_guard<SpinLock> g(mu_);
  while (all_.size() < n) {  // rare (first batch of this parallelism): allocation under the lock is fine
    all_.push_back(std::make_unique<Workspace>(*this, opt_.max_batch));
    free_.push_back(all_.back().get());
  }
}

void Predictor::release(Workspace* w) {
  std::lock_guard<SpinLock> g(mu_);
  free_.push_back(w);
}

void Predictor::check_covariates(const RawCovariates* cov, std::size_t B) const {
  if (!cov_.any()) return;
  auto names = [](const std::vector<CovariateColumn>& v) {
    std::string s;
    for (const auto& c : v) s += (s.empty() ? "" : ",") + c.name;
    return s.empty() ? std::string("-") : s;
  };
  NTN_CHECK(cov != nullptr, "this model takes covariates (historic: ", names(a_.covariates.hist), "; future-known: ",
            names(a_.covariates.futr), "; static: ", names(a_.covariates.stat),
            "): give them with the input (Predictor::predict_batch with RawCovariates)");
  struct Kind {
    const char* what;
    const double* v;
    std::size_t ld, steps, C;
    const std::vector<CovariateColumn>* cols;
  };
  const Kind kinds[3] = {{"historic", cov->hist, cov->ld_hist ? cov->ld_hist : L_ * cov_.hist, L_, cov_.hist, &a_.covariates.hist},
                         {"future-known", cov->futr, cov->ld_futr ? cov->ld_futr : (L_ + H_) * cov_.futr, L_ + H_,
                          cov_.futr, &a_.covariates.futr},
                         {"static", cov->stat, cov->ld_stat ? cov->ld_stat : cov_.stat, 1, cov_.stat, &a_.covariates.stat}};
  for (const Kind& k : kinds) {
    if (k.C == 0) continue;
    NTN_CHECK(k.v != nullptr, "this model takes ", k.C, " ", k.what, " covariates (", names(*k.cols), ") but none were given");
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < k.steps; ++t)
        for (std::size_t c = 0; c < k.C; ++c) {
          const double v = k.v[b * k.ld + t * k.C + c];
          const CovariateColumn& col = (*k.cols)[c];
          NTN_CHECK(std::isfinite(v) && fits_f32(col.stats.apply(v)), "input row ", b, ": ",
                    k.what, " covariate '", col.name, "' at step ", t, " of ", k.steps, " is ", v,
                    std::isfinite(v) ? " (beyond float32 once scaled)" : " (not finite)");
        }
  }
}

template <class In>
Batch<float> Predictor::scale_rows(Workspace& ws, const In* x, std::size_t B, const std::size_t* series,
                                   const NormStats* window_stats, std::size_t ldx, const RawCovariates* cov) {
  if (ldx == 0) ldx = L_;
  Batch<float> in;
  in.B = B;
  in.y = ws.x.data();
  if (cov_.any()) {  // scaled with the stored train-part statistics (checked by check_covariates)
    NTN_CHECK(cov != nullptr, "this model takes covariates: give them with the input (RawCovariates)");
    auto scale = [&](const double* src, std::size_t ld, std::size_t steps, std::size_t C,
                     const std::vector<CovariateColumn>& cols, std::vector<float>& dst) {
      if (ld == 0) ld = steps * C;
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t t = 0; t < steps; ++t)
          for (std::size_t c = 0; c < C; ++c)
            dst[(b * steps + t) * C + c] =
                float(cols[c].stats.apply(src[b * ld + t * C + c]));
    };
    if (cov_.hist) scale(cov->hist, cov->ld_hist, L_, cov_.hist, a_.covariates.hist, ws.hist);
    if (cov_.futr) scale(cov->futr, cov->ld_futr, L_ + H_, cov_.futr, a_.covariates.futr, ws.futr);
    if (cov_.stat) scale(cov->stat, cov->ld_stat, 1, cov_.stat, a_.covariates.stat, ws.stat);
    in.hist = ws.hist.data();
    in.futr = ws.futr.data();
    in.stat = ws.stat.data();
  }
  const KernelTable& k = kernels();
  const bool window = a_.window_scaling != WindowScaling::none;
  const NormKind wkind = a_.window_scaling == WindowScaling::robust ? NormKind::robust : NormKind::zscore;
  for (std::size_t b = 0; b < B; ++b) {
    const NormStats ss = series_stats(series ? series[b] : kNoSeries);
    float* xr = ws.x.data() + b * L_;
    if constexpr (std::is_same_v<In, float>) {
      k.f32_normalize(x + b * ldx, xr, L_, float(ss.center), float(ss.scale));
    } else {  // scaled in double: the level's digits cancel before the float32 rounding
      const double* xb = x + b * ldx;
      for (std::size_t i = 0; i < L_; ++i) xr[i] = float(ss.apply(xb[i]));
    }
    NormStats wst;
    if (window) {
      wst = window_stats ? *window_stats : norm_stats(wkind, xr, L_, ws.scratch.data(), k);
      k.f32_normalize(xr, xr, L_, float(wst.center), float(wst.scale));
    }
    ws.series_st[b] = ss;
    ws.window_st[b] = wst;
  }
  return in;
}

template <class In, class Out>
void Predictor::run_rows(Workspace& ws, const In* x, std::size_t B, Out* y_out, const std::size_t* series,
                         const NormStats* window_stats, std::size_t ldx, std::size_t row0, const RawCovariates* cov) {
  const Batch<float> in = scale_rows(ws, x, B, series, window_stats, ldx, cov);
  const bool window = a_.window_scaling != WindowScaling::none;
  nn::RunCtx ctx;
  ctx.packed = &ws.runner;
  float* y = nullptr;  // the model's outputs: the caller's buffer, or the workspace's for double
  if constexpr (std::is_same_v<Out, float>)
    y = y_out;
  else
    y = ws.y.data();
  a_.model->forward(*ws.model, in, y, ctx);
  const std::size_t HQ = H_ * Q_;
  for (std::size_t b = 0; b < B; ++b)
    finish_row(y + b * HQ, y_out + b * HQ, window ? &ws.window_st[b] : nullptr, ws.series_st[b], row0 + b);
}

template <class Out>
void Predictor::finish_row(float* yb, Out* ob, const NormStats* w, const NormStats& s, std::size_t row) const {
  const KernelTable& k = kernels();
  const std::size_t HQ = H_ * Q_;
  const OutputSpec& spec = a_.output;
  if (spec.kind == OutputKind::distribution) {  // per parameter: a sigma is scaled, never shifted
    if constexpr (std::is_same_v<Out, float>) {
      if (yb != ob) std::memcpy(ob, yb, HQ * sizeof(float));  // a stream's tick: from the state's buffer
    } else {
      for (std::size_t i = 0; i < HQ; ++i) ob[i] = double(yb[i]);
    }
    if (w) unscale_outputs(spec, *w, ob, H_);
    unscale_outputs(spec, s, ob, H_);
    bool finite = true;
    for (std::size_t i = 0; i < HQ; ++i) finite = finite && fits_f32(double(ob[i]));
    if (!finite) check_forecast(ob, row);
    return;
  }
  if (Q_ > 1)  // monotone quantiles, as in training-time prediction
    for (std::size_t h = 0; h < H_; ++h) std::sort(yb + h * Q_, yb + (h + 1) * Q_);
  if constexpr (std::is_same_v<Out, float>) {
    if (yb != ob) std::memcpy(ob, yb, HQ * sizeof(float));
    if (w) k.f32_denormalize(ob, ob, HQ, float(w->center), float(w->scale));
    k.f32_denormalize(ob, ob, HQ, float(s.center), float(s.scale));
    // No NaN / inf forecast ever leaves: one vectorised sum per row decides (~10 ns for H*Q =
    // 24). A finite row whose sum overflows is reported too: it is at the edge of float32.
    if (!std::isfinite(k.f32_sum(ob, HQ))) check_forecast(ob, row);
  } else {
    bool finite = true;
    for (std::size_t i = 0; i < HQ; ++i) {
      const double v = w ? w->invert(double(yb[i])) : double(yb[i]);
      ob[i] = s.invert(v);
      finite = finite && std::isfinite(yb[i]) && fits_f32(ob[i]);
    }
    if (!finite) check_forecast(ob, row);
  }
}

bool Predictor::carries_state() const {
  return model_info(a_.model->type()).streaming && a_.model->can_stream() && a_.window_scaling == WindowScaling::none &&
         !cov_.any();
}

Predictor::StreamState Predictor::make_stream_state() const {
  NTN_CHECK(carries_state(), "model '", a_.model->type(), "' does not carry a state from tick to tick",
            a_.window_scaling != WindowScaling::none ? " (it was trained with a window scaler)"
            : !a_.model->can_stream()
                ? " (its configuration rules it out: a per-window scale, such as DeepAR's mean scaling, has no "
                  "meaning over an unbounded stream)"
                : "");
  StreamState st;
  st.model = a_.model->make_state();
  st.runner = std::make_unique<PackedRunner>(packed_, 1, opt_.forecast_threads);
  st.y.resize(H_ * Q_);
  st.backup.resize(st.model->size());
  return st;
}

void Predictor::step(StreamState& st, float value, float* y, std::size_t series) {
  const auto t0 = std::chrono::steady_clock::now();
  NTN_CHECK(std::isfinite(value), "stream value ", value, " is not finite");
  const NormStats ss = series_stats(series);
  float x;
  kernels().f32_normalize(&value, &x, 1, float(ss.center), float(ss.scale));  // as predict scales a window
  NTN_CHECK(std::isfinite(x), "stream value ", value, " is beyond float32 once scaled by the series scaler (",
            ss.center, ", ", ss.scale, ")");
  nn::RunCtx ctx;
  ctx.packed = st.runner.get();
  float* state = st.model->values();
  std::memcpy(st.backup.data(), state, st.backup.size() * sizeof(float));
  try {
    a_.model->step(*st.model, &x, st.y.data(), ctx);
    finish_row(st.y.data(), y, nullptr, ss, 0);
  } catch (...) {  // a failed tick leaves no trace in the state
    std::memcpy(state, st.backup.data(), st.backup.size() * sizeof(float));
    throw;
  }
  latency_.record(std::uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
}

template <class Out>
void Predictor::check_forecast(const Out* y, std::size_t row) const {
  std::size_t i = 0;
  while (i + 1 < H_ * Q_ && fits_f32(y[i])) ++i;
  NTN_CHECK(fits_f32(y[i]), "model ", a_.source.empty() ? cat("uuid ", a_.uuid) : cat("'", a_.source, "'"),
              ": the forecast of input row ", row, " is not finite (step ", i / Q_ + 1, ": ", y[i],
              "): the input, once scaled, or the model's weights overflow float32");
  throw Error(cat("model '", a_.source, "': the forecast of input row ", row, " overflows float32"));
}

void Predictor::predict(const float* x, float* y, std::size_t series) { predict_one(x, y, series, nullptr); }

void Predictor::predict(const float* x, float* y, std::size_t series, const NormStats& window_stats) {
  NTN_CHECK(std::isfinite(window_stats.center) && std::isfinite(window_stats.scale) && window_stats.scale > 0,
            "window statistics (", window_stats.center, ", ", window_stats.scale, ") are not a valid scaler");
  predict_one(x, y, series, &window_stats);
}

void Predictor::predict_one(const float* x, float* y, std::size_t series, const NormStats* window_stats) {
  const auto t0 = std::chrono::steady_clock::now();
  check_covariates(nullptr, 1);  // a model with covariates is refused, naming them
  check_row(x, 0);
  series_stats(series);  // throws on a bad series before a workspace is taken
  Workspace* w = acquire();
  try {
    run_rows(*w, x, 1, y, &series, window_stats);
  } catch (...) {
    release(w);
    throw;
  }
  release(w);
  latency_.record(std::uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
}

void Predictor::predict_batch(const float* x, std::size_t B, float* y, const std::size_t* series, std::size_t ldx) {
  predict_batch_impl(x, B, y, series, ldx, nullptr);
}

void Predictor::predict_batch(const double* x, std::size_t B, double* y, const std::size_t* series, std::size_t ldx) {
  predict_batch_impl(x, B, y, series, ldx, nullptr);
}

void Predictor::predict_batch(const double* x, std::size_t B, double* y, const RawCovariates& cov,
                              const std::size_t* series, std::size_t ldx) {
  predict_batch_impl(x, B, y, series, ldx, &cov);
}

RawCovariates Predictor::cov_rows(const RawCovariates* cov, std::size_t r0) const {
  RawCovariates part;
  if (!cov || !cov_.any()) return part;
  part = *cov;
  part.ld_hist = cov->ld_hist ? cov->ld_hist : L_ * cov_.hist;
  part.ld_futr = cov->ld_futr ? cov->ld_futr : (L_ + H_) * cov_.futr;
  part.ld_stat = cov->ld_stat ? cov->ld_stat : cov_.stat;
  if (part.hist) part.hist += r0 * part.ld_hist;
  if (part.futr) part.futr += r0 * part.ld_futr;
  if (part.stat) part.stat += r0 * part.ld_stat;
  return part;
}

template <class In, class Out>
void Predictor::predict_batch_impl(const In* x, std::size_t B, Out* y, const std::size_t* series, std::size_t ldx,
                                   const RawCovariates* cov) {
  if (ldx == 0) ldx = L_;
  check_rows(x, B, ldx, series, cov);
  if (B == 0) return;
  const std::size_t chunk = opt_.max_batch, chunks = (B + chunk - 1) / chunk;
  // One workspace per thread that can run a chunk, created here (not racing inside the region),
  // so only the first batch of a given parallelism allocates.
  reserve_workspaces(std::min<std::size_t>(chunks, std::size_t(std::max(1, num_threads()))));
  std::exception_ptr err;
  SpinLock err_mu;
  auto body = [&](std::size_t c) {
    const std::size_t r0 = c * chunk, n = std::min(chunk, B - r0);
    Workspace* w = acquire();
    try {
      const RawCovariates part = cov_rows(cov, r0);
      const RawCovariates* pc = cov && cov_.any() ? &part : nullptr;
      run_rows(*w, x + r0 * ldx, n, y + r0 * H_ * Q_, series ? series + r0 : nullptr, nullptr, ldx, r0, pc);
    } catch (...) {  // never let an exception cross the OpenMP region
      std::lock_guard<SpinLock> g(err_mu);
      if (!err) err = std::current_exception();
    }
    release(w);
  };
  if (chunks == 1)
    body(0);
  else
    parallel_chunks(chunks, body);
  if (err) std::rethrow_exception(err);
}

void Predictor::sample_batch(const double* x, std::size_t B, std::size_t P, std::uint64_t seed, double* out,
                             const std::size_t* series, const RawCovariates* cov) {
  NTN_CHECK(a_.output.kind == OutputKind::distribution, "sample paths need a distribution model (this ",
            a_.model->type(), " model outputs ", output_kind_name(a_.output.kind), ")");
  NTN_CHECK(P >= 1 && P <= 100000, "sample paths: ", P, " paths per row (1..100000)");
  check_rows(x, B, L_, series, cov);
  const bool window = a_.window_scaling != WindowScaling::none;
  // Rows per model call: their P paths each carry a state, so at most 65536 path rows at once.
  const std::size_t chunk = std::max<std::size_t>(1, std::min(opt_.max_batch, std::size_t(65536) / P));
  std::vector<float> scaled(chunk * P * H_);
  Workspace* w = acquire();
  try {
    for (std::size_t r0 = 0; r0 < B; r0 += chunk) {
      const std::size_t n = std::min(chunk, B - r0);
      const RawCovariates part = cov_rows(cov, r0);
      const Batch<float> in = scale_rows(*w, x + r0 * L_, n, series ? series + r0 : nullptr, nullptr, L_,
                                         cov && cov_.any() ? &part : nullptr);
      nn::RunCtx ctx;
      ctx.packed = &w->runner;
      sample_paths(*a_.model, a_.output, in, P, seed, r0, scaled.data(), ctx);
      for (std::size_t b = 0; b < n; ++b) {  // each draw is a value: window, then series scaling inverted
        const NormStats& ws = w->window_st[b];
        const NormStats& ss = w->series_st[b];
        NTN_CHECK(a_.output.dist != DistKind::negative_binomial || ((!window || ws.center == 0) && ss.center == 0),
                  "negative_binomial: a count distribution cannot be shifted by a centred scaler");
        for (std::size_t i = 0; i < P * H_; ++i) {
          const double v = window ? ws.invert(double(scaled[b * P * H_ + i])) : double(scaled[b * P * H_ + i]);
          const double o = ss.invert(v);
          NTN_CHECK(std::isfinite(o) && fits_f32(o), "input row ", r0 + b, ": sample path ", i / H_, " step ",
                    i % H_ + 1, " is ", o, " (not finite in float32)");
          out[(r0 + b) * P * H_ + i] = o;
        }
      }
    }
  } catch (...) {
    release(w);
    throw;
  }
  release(w);
}

PooledTensor Predictor::predict_batch(const float* x, std::size_t B, TensorPool& pool, const std::size_t* series) {
  PooledTensor out = pool.acquire({std::int64_t(B), std::int64_t(H_), std::int64_t(Q_)});
  predict_batch(x, B, out.tensor().f32(), series);
  return out;
}

}  // namespace ntn
