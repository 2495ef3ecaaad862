// The plain MLP baseline: (Linear + activation) x num_layers, then Linear to H x Q. Covariates
// are appended to the input, flattened time-major (NeuralForecast's MLP):
// [y (L) | hist (L, Ch) | futr (L + H, Cf) | static (S)].

#include <cstring>

#include "ntn/mlp.h"
#include "models/common.h"

namespace ntn::models {
namespace {

ModelInfo mlp_info() {
  ModelInfo info{"mlp",
          "Plain MLP: (Linear + activation) x num_layers, then Linear to horizon x outputs",
          json{{"type", "mlp"}, {"input_size", 12}, {"horizon", 4}, {"hidden_size", 8}, {"num_layers", 2}},
          {"point", "quantiles"},
          {"historic", "future", "static"},
          false};
  info.auto_space = json::parse(R"({"hidden_size": {"choice": [256, 512, 1024]}, "num_layers": {"randint": [2, 6]}})");
  return info;
}

// NeuralForecast's MLP defaults, typical values shown.
struct MlpConfig : BaseConfig {
  std::size_t hidden_size = 1024;  // width of every hidden layer
  std::size_t num_layers = 2;      // hidden layers

  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    BaseConfig::read(j, ctx, info);
    hidden_size = json_uint(j, ctx, "hidden_size", hidden_size, limits::kWidth);
    num_layers = json_uint(j, ctx, "num_layers", num_layers, limits::kLayers);
  }
  static MlpConfig from_json(const json& j) { return read_config<MlpConfig>(j, mlp_info()); }
  json to_json() const {
    json j = {{"type", "mlp"}};
    write(j);
    j["hidden_size"] = hidden_size;
    j["num_layers"] = num_layers;
    return j;
  }
  std::size_t input_width() const {
    return input_size + hist_exog * input_size + futr_exog * (input_size + horizon) + stat_exog;
  }
};

template <class T>
class MlpModel final : public Model<T> {
 public:
  explicit MlpModel(const MlpConfig& c) : c_(c) {
    mlp_.declare_hidden(this->ps_, "mlp", c.input_width(), c.hidden_size, c.num_layers, c.horizon * c.outputs,
                        c.activation, c.dropout);
    this->ps_.finalize();
  }
  std::string type() const override { return "mlp"; }
  json config() const override { return c_.to_json(); }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return c_.covariates(); }
  void init(std::uint64_t seed) override { mlp_.init(this->ps_, seed); }

  struct Ws final : Model<T>::Workspace {
    typename nn::Mlp<T>::Cache cache;
    std::vector<T> in, din;  // with covariates: the concatenated input (B, width) and its gradient
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    ws->cache = mlp_.make_cache(B, inference);
    if (c_.covariates().any()) {
      ws->in.resize(check_tensor_size(B, c_.input_width(), "mlp workspace (batch x input with covariates)"));
      if (!inference) ws->din.resize(ws->in.size());
    }
    return ws;
  }
  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y, const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const Covariates cov = c_.covariates();
    if (!cov.any()) {
      mlp_.forward(this->ps_, ws.cache, in.y, y, in.B, ctx);
      return;
    }
    const std::size_t L = c_.input_size, W = c_.input_width();
    const std::size_t parts[4] = {L, L * cov.hist, (L + c_.horizon) * cov.futr, cov.stat};
    const T* src[4] = {in.y, in.hist, in.futr, in.stat};
    for (std::size_t b = 0; b < in.B; ++b) {
      T* row = ws.in.data() + b * W;
      for (int k = 0; k < 4; ++k) {
        if (parts[k]) std::memcpy(row, src[k] + b * parts[k], parts[k] * sizeof(T));
        row += parts[k];
      }
    }
    mlp_.forward(this->ps_, ws.cache, ws.in.data(), y, in.B, ctx);
  }
  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    if (!c_.covariates().any() || !dx) {
      mlp_.backward(this->ps_, grads, ws.cache, dy, dx, B, ctx);
      return;
    }
    mlp_.backward(this->ps_, grads, ws.cache, dy, ws.din.data(), B, ctx);
    const std::size_t L = c_.input_size, W = c_.input_width();
    for (std::size_t b = 0; b < B; ++b) std::memcpy(dx + b * L, ws.din.data() + b * W, L * sizeof(T));
  }

 private:
  MlpConfig c_;
  nn::Mlp<T> mlp_;
};

}  // namespace

Entry mlp_entry() { return make_entry<MlpModel, MlpConfig>(mlp_info()); }

}  // namespace ntn::models
