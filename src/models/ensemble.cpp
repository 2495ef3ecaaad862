// An ensemble as one model (the N-BEATS recipe: members that differ in input size, loss and seed,
// combined by the median): K member models of any gradient-trained type, each reading the last
// L_k values of the ensemble's window (L = the longest), their forecasts combined per step and
// output by the median (or the mean). One artifact, one batched forward; the members' parameters
// are the ensemble's, named "members.<k>.<name>", so saving, quantising and packed serving treat
// it as any other model. `ntneural train --ensemble K` trains the members one by one (each with
// its own loss and seed, as a one-member ensemble on the same windows and window scaler) and
// joins them (ntn/auto.h, ensemble_train); trained as a whole, the gradient reaches the members
// the median selects (half each to the two middle ones of an even count; 1/K each for the mean).
// No golden fixture of its own: each member type has one, and tests/train/test_auto.cpp checks the
// ensemble's forecast bitwise against its members run alone.
//
// Config: {"type": "ensemble", "members": [{"type": "nbeats", "input_size": 96}, ...],
//          "combine": "median", "input_size": 336, "horizon": 48, "outputs": 1}
// A member's horizon and outputs are the ensemble's (absent: filled in); its input_size is at most
// the ensemble's (absent: the ensemble's); input_size absent: the longest member's.

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "models/common.h"

namespace ntn::models {
namespace {

constexpr UintRange kMembers{1, 256};

ModelInfo ensemble_info() {
  ModelInfo info{"ensemble",
                 "Ensemble: member models (any gradient-trained type, each its own input size) combined by the "
                 "median or the mean per step; --ensemble K trains the N-BEATS recipe",
                 json{{"type", "ensemble"},
                      {"horizon", 4},
                      {"members",
                       {{{"type", "mlp"}, {"input_size", 12}, {"hidden_size", 8}, {"num_layers", 1}},
                        {{"type", "nbeats"}, {"input_size", 8}, {"mlp_units", {{8, 8}}}},
                        {{"type", "mlp"}, {"input_size", 6}, {"hidden_size", 8}, {"num_layers", 2}}}}},
                 {"point", "quantiles"},
                 {},
                 false};
  info.composite = true;
  return info;
}

enum class Combine { median, mean };

struct EnsembleConfig {
  std::size_t input_size = 0, horizon = 24, outputs = 1;
  Combine combine = Combine::median;
  std::vector<json> members;  // each complete (its model's config())

  static EnsembleConfig from_json(const json& j) {
    const std::string ctx = "ensemble config";
    NTN_CHECK(j.is_object(), ctx, ": expected a JSON object (got ", j.dump().substr(0, 80), ")");
    json_known_fields(j, ctx, {"type", "input_size", "horizon", "outputs", "combine", "members"});
    EnsembleConfig c;
    c.input_size = json_uint(j, ctx, "input_size", 0, {0, limits::kWindow.hi});
    c.horizon = json_uint(j, ctx, "horizon", c.horizon, limits::kHorizon);
    c.outputs = json_uint(j, ctx, "outputs", c.outputs, limits::kOutputs);
    const std::string comb = json_string(j, ctx, "combine", "median");
    NTN_CHECK(comb == "median" || comb == "mean", ctx, ": field 'combine' = '", comb, "' is not median or mean");
    c.combine = comb == "median" ? Combine::median : Combine::mean;
    NTN_CHECK(j.contains("members") && j.at("members").is_array() && j.at("members").size() >= kMembers.lo &&
                  j.at("members").size() <= kMembers.hi,
              ctx, ": field 'members' must be a list of ", kMembers.lo, "..", kMembers.hi, " model configs (got ",
              j.value("members", json()).dump().substr(0, 80), ")");
    std::size_t longest = 0;
    const json& ms = j.at("members");
    for (std::size_t k = 0; k < ms.size(); ++k) {
      const std::string mctx = cat(ctx, ": members[", k, "]");
      json m = ms[k];
      NTN_CHECK(m.is_object(), mctx, ": expected a model config object (got ", m.dump().substr(0, 80), ")");
      const std::string type = json_string(m, mctx, "type", "");
      NTN_CHECK(type != "ensemble", mctx, ": an ensemble cannot be a member (list its members instead)");
      const ModelInfo& info = model_info(type);
      NTN_CHECK(!info.direct_fit && !info.ancestral && !info.distribution_only(), mctx, ": ", type,
                info.direct_fit ? " is fitted per window" : " outputs a distribution",
                "; members are gradient-trained point or quantile models");
      for (const char* f : {"horizon", "outputs"}) {
        const std::size_t want = std::string(f) == "horizon" ? c.horizon : c.outputs;
        if (!m.contains(f)) m[f] = want;
        NTN_CHECK(m.at(f) == json(want), mctx, ": field '", f, "' = ", m.at(f).dump().substr(0, 40),
                  " differs from the ensemble's ", want);
      }
      for (const char* f : {"hist_exog", "futr_exog", "stat_exog"})
        NTN_CHECK(!m.contains(f) || m.at(f) == json(0), mctx, ": field '", f,
                  "': ensemble members take no covariates");
      if (!m.contains("input_size")) {
        NTN_CHECK(c.input_size > 0, mctx, ": no input_size, and the ensemble gives none");
        m["input_size"] = c.input_size;
      }
      const std::size_t Lk = json_uint(m, mctx, "input_size", 0, limits::kWindow);
      NTN_CHECK(c.input_size == 0 || Lk <= c.input_size, mctx, ": input_size ", Lk, " is longer than the ensemble's ",
                c.input_size);
      longest = std::max(longest, Lk);
      c.members.push_back(std::move(m));
    }
    if (c.input_size == 0) c.input_size = longest;
    return c;
  }
  json to_json(const std::vector<json>& built) const {
    return json{{"type", "ensemble"},
                {"input_size", input_size},
                {"horizon", horizon},
                {"outputs", outputs},
                {"combine", combine == Combine::median ? "median" : "mean"},
                {"members", built}};
  }
};

// Serves member k's products from the ensemble's packed weights: its parameter indices are the
// ensemble's less the entries before it.
class ShiftedPack final : public nn::PackedLinears {
 public:
  nn::PackedLinears* inner = nullptr;
  std::size_t shift = 0;
  void run(const nn::Linear<float>& l, const float* x, float* y, std::size_t B) override {
    nn::Linear<float> s = l;
    s.w += shift;
    if (s.has_bias) s.b += shift;
    inner->run(s, x, y, B);
  }
};

template <class T>
class EnsembleModel final : public Model<T> {
 public:
  explicit EnsembleModel(const EnsembleConfig& c) : c_(c) {
    std::vector<json> built;
    for (std::size_t k = 0; k < c.members.size(); ++k) {
      auto m = make_model<T>(c.members[k]);
      const std::string prefix = cat("members.", k, ".");
      const auto& es = m->params().entries();
      first_.push_back(this->ps_.entries().size());
      for (const auto& e : es) this->ps_.add(prefix + e.name, e.shape, e.role);
      for (std::size_t i = 0; i < es.size(); ++i)
        if (es[i].bias != nn::ParamSet<T>::npos) this->ps_.set_bias(first_[k] + i, first_[k] + es[i].bias);
      built.push_back(m->config());
      members_.push_back(std::move(m));
    }
    this->ps_.finalize();
    for (std::size_t k = 0; k < members_.size(); ++k) {
      auto& mp = members_[k]->params();
      if (mp.entries().empty()) {
        base_.push_back(0);
        continue;
      }
      base_.push_back(this->ps_.offset(first_[k]));
      for (std::size_t i = 0; i < mp.entries().size(); ++i)
        NTN_CHECK(this->ps_.offset(first_[k] + i) == base_[k] + mp.offset(i), "ensemble: member ", k,
                  " parameter layout differs at ", mp.entries()[i].name);
      mp.share_values(this->ps_.values() + base_[k]);
    }
    config_ = c.to_json(built);
  }
  std::string type() const override { return "ensemble"; }
  json config() const override { return config_; }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return {}; }
  std::size_t members() const { return members_.size(); }
  void set_bf16_products(bool on) override {
    this->ps_.set_bf16_products(on);
    for (auto& m : members_) m->set_bf16_products(on);
  }
  // Member k from seed + k (member 0 as the same model trained alone from `seed`).
  void init(std::uint64_t seed) override {
    for (std::size_t k = 0; k < members_.size(); ++k) members_[k]->init(seed + k);
  }

  struct Ws final : Model<T>::Workspace {
    std::vector<std::unique_ptr<typename Model<T>::Workspace>> m;
    std::vector<std::vector<T>> x, out, dy, dx;  // per member: its window, forecast, and their gradients
    std::vector<std::uint32_t> pick;             // median: the member(s) chosen per output (2 per output)
    std::vector<T> vals;
    std::vector<std::uint32_t> idx;
    std::vector<ShiftedPack> pack;
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    const std::size_t K = members_.size(), HQ = c_.horizon * c_.outputs;
    const std::size_t n = check_tensor_size(B, HQ, "ensemble workspace (batch x horizon x outputs)");
    ws->pack.resize(K);
    for (std::size_t k = 0; k < K; ++k) {
      const Model<T>& m = *members_[k];
      ws->m.push_back(m.make_workspace(B, inference));
      ws->pack[k].shift = first_[k];
      const std::size_t Lk = m.input_size();
      ws->x.emplace_back(Lk < c_.input_size ? check_tensor_size(B, Lk, "ensemble member window") : 0);
      ws->out.emplace_back(K > 1 ? n : 0);
      if (!inference) {
        ws->dy.emplace_back(K > 1 ? n : 0);
        ws->dx.emplace_back(B * Lk);
      }
    }
    if (!inference && K > 1 && c_.combine == Combine::median) ws->pick.resize(2 * n);
    ws->vals.resize(K);
    ws->idx.resize(K);
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y, const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    NTN_CHECK(ctx.packed || !this->ps_.matrices_elsewhere(),
              "ensemble: the model is served from packed weights but this forward was called without them "
              "(RunCtx::packed)");
    const std::size_t K = members_.size(), L = c_.input_size, n = in.B * c_.horizon * c_.outputs;
    for (std::size_t k = 0; k < K; ++k) {
      const Model<T>& m = *members_[k];
      const std::size_t Lk = m.input_size();
      Batch<T> bk;
      bk.B = in.B;
      bk.y_futr = in.y_futr;
      if (Lk == L) {
        bk.y = in.y;
      } else {
        T* x = ws.x[k].data();
        for (std::size_t b = 0; b < in.B; ++b) std::memcpy(x + b * Lk, in.y + b * L + (L - Lk), Lk * sizeof(T));
        bk.y = x;
      }
      nn::RunCtx ck = ctx;
      ck.seed = ctx.seed + k;
      if constexpr (std::is_same_v<T, float>) {
        if (ctx.packed) {
          ws.pack[k].inner = ctx.packed;
          ck.packed = &ws.pack[k];
        }
      }
      m.forward(*ws.m[k], bk, K > 1 ? ws.out[k].data() : y, ck);
    }
    if (K == 1) return;
    if (c_.combine == Combine::mean) {
      const T inv = T(1) / T(K);
      for (std::size_t i = 0; i < n; ++i) {
        T s = 0;
        for (std::size_t k = 0; k < K; ++k) s += ws.out[k][i];
        y[i] = s * inv;
      }
      return;
    }
    T* vals = ws.vals.data();
    std::uint32_t* idx = ws.idx.data();
    for (std::size_t i = 0; i < n; ++i) {
      // Insertion sort of (value, member): K is small, and ties go to the lower member.
      for (std::size_t k = 0; k < K; ++k) {
        const T v = ws.out[k][i];
        std::size_t j = k;
        for (; j > 0 && vals[j - 1] > v; --j) {
          vals[j] = vals[j - 1];
          idx[j] = idx[j - 1];
        }
        vals[j] = v;
        idx[j] = std::uint32_t(k);
      }
      const std::size_t lo = (K - 1) / 2, hi = K / 2;
      y[i] = lo == hi ? vals[lo] : T(0.5) * (vals[lo] + vals[hi]);
      if (!ws.pick.empty()) {
        ws.pick[2 * i] = idx[lo];
        ws.pick[2 * i + 1] = idx[hi];
      }
    }
  }

  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    NTN_CHECK(!ws.dx.empty(), "ensemble: backward needs a training workspace");
    const std::size_t K = members_.size(), L = c_.input_size, n = B * c_.horizon * c_.outputs;
    if (K > 1) {
      for (std::size_t k = 0; k < K; ++k) std::fill(ws.dy[k].begin(), ws.dy[k].begin() + std::ptrdiff_t(n), T(0));
      if (c_.combine == Combine::mean) {
        const T inv = T(1) / T(K);
        for (std::size_t k = 0; k < K; ++k)
          for (std::size_t i = 0; i < n; ++i) ws.dy[k][i] = dy[i] * inv;
      } else {
        const bool odd = K % 2 == 1;
        for (std::size_t i = 0; i < n; ++i) {
          if (odd) {
            ws.dy[ws.pick[2 * i]][i] = dy[i];
          } else {
            ws.dy[ws.pick[2 * i]][i] += T(0.5) * dy[i];
            ws.dy[ws.pick[2 * i + 1]][i] += T(0.5) * dy[i];
          }
        }
      }
    }
    if (dx) std::fill(dx, dx + B * L, T(0));
    for (std::size_t k = 0; k < K; ++k) {
      const Model<T>& m = *members_[k];
      const std::size_t Lk = m.input_size();
      nn::RunCtx ck = ctx;
      ck.seed = ctx.seed + k;
      // A member reports ranges of its own slab: shifted to where it sits in the ensemble's.
      const std::size_t at = base_[k];
      auto shift = [&ctx, at](std::size_t lo, std::size_t hi) { (*ctx.grads_final)(at + lo, at + hi); };
      FunctionRef<void(std::size_t, std::size_t)> shifted(shift);
      ck.grads_final = ctx.grads_final ? &shifted : nullptr;
      T* dxk = dx ? ws.dx[k].data() : nullptr;
      m.backward(*ws.m[k], K > 1 ? ws.dy[k].data() : dy, grads + base_[k], dxk, B, ck);
      if (!dx) continue;
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t t = 0; t < Lk; ++t) dx[b * L + (L - Lk) + t] += dxk[b * Lk + t];
    }
  }

 private:
  EnsembleConfig c_;
  json config_;
  std::vector<std::unique_ptr<Model<T>>> members_;
  std::vector<std::size_t> first_;  // per member: the ensemble index of its first parameter
  std::vector<std::size_t> base_;   // per member: the offset of its slab in the ensemble's
};

}  // namespace

Entry ensemble_entry() { return make_entry<EnsembleModel, EnsembleConfig>(ensemble_info()); }

}  // namespace ntn::models
