// The plain MLP baseline: (Linear + activation) x num_layers, then Linear to H x Q.

#include "ntn/mlp.h"
#include "models/common.h"

namespace ntn::models {
namespace {

template <class T>
class MlpModel final : public Model<T> {
 public:
  MlpModel(json cfg, std::size_t L, std::size_t H, std::size_t Q, std::size_t hidden, std::size_t layers,
           nn::Act act, float dropout)
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

template <class T>
std::unique_ptr<Model<T>> build_mlp(json cfg) {
  const char* M = "mlp";
  const Common c = common(cfg, M);
  const std::string ctx = cat(M, " config");
  const std::size_t hidden = json_uint(cfg, ctx, "hidden_size", 1024, limits::kWidth);
  const std::size_t layers = json_uint(cfg, ctx, "num_layers", 2, limits::kLayers);
  json_known_fields(
      cfg, ctx,
      {"type", "input_size", "horizon", "outputs", "activation", "dropout", "hidden_size", "num_layers"});
  cfg["type"] = M;
  cfg["hidden_size"] = hidden;
  cfg["num_layers"] = layers;
  return std::make_unique<MlpModel<T>>(cfg, c.L, c.H, c.Q, hidden, layers, c.act, c.dropout);
}

}  // namespace

Entry mlp_entry() {
  return {{"mlp",
           "Plain MLP: (Linear + activation) x num_layers, then Linear to horizon x outputs",
           json{{"type", "mlp"}, {"input_size", 12}, {"horizon", 4}, {"hidden_size", 8}, {"num_layers", 2}},
           {"point", "quantiles"},
           {},
           false},
          [](const json& c) { return build_mlp<float>(c); },
          [](const json& c) { return build_mlp<double>(c); }};
}

}  // namespace ntn::models
