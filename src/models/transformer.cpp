// The Transformer forecaster (Vaswani et al. 2017 as a forecaster: NeuralForecast's
// VanillaTransformer / Informer's decoder input): an encoder over the window and a decoder over
// label_len known steps plus the H steps to forecast, which attends to the encoder's output.
//
// Encoder token t < L: Linear([y_t | hist_t (Ch) | futr_t (Cf) | static (S)]) + PE(t).
// Decoder token i < label_len + H (time t = L - label_len + i): Linear([v | futr_t | static]) + PE(t),
//   v = y_t for the label_len known steps, 0 for the horizon.
// encoder_layers x TransformerLayer (self-attention, FFN), LayerNorm -> memory;
// decoder_layers x TransformerLayer (causal self-attention, cross-attention to the memory, FFN),
// LayerNorm; Linear(d_model -> Q) on the last H tokens -> y (B, H, Q).
// Post-norm (torch's default) or pre-norm layers (norm_first); the final norms apply in both.
#include <algorithm>
#include <cstring>

#include "models/common.h"
#include "ntn/transformer.h"

namespace ntn::models {
namespace {

ModelInfo transformer_info() {
  ModelInfo info{
      "transformer",
      "Encoder-decoder Transformer: sinusoidal positions, multi-head self- and cross-attention, GELU / ReLU "
      "feed-forward, post- or pre-norm, projection of the horizon tokens",
      json{{"type", "transformer"},
           {"input_size", 8},
           {"horizon", 3},
           {"hidden_size", 8},
           {"n_head", 2},
           {"encoder_layers", 1},
           {"decoder_layers", 1},
           {"ffn_hidden_size", 12},
           {"label_len", 2}},
      {"point", "quantiles"},
      {"historic", "future", "static"},
      false};
  info.auto_space = json::parse(R"({"hidden_size": {"choice": [64, 128, 256]}, "n_head": {"choice": [4, 8]}})");
  return info;
}

// Typical values shown (the issue's benchmark shape; NeuralForecast's VanillaTransformer uses 128
// wide layers, 1 decoder layer and label_len = input_size / 2).
struct TransformerConfig : BaseConfig {
  std::size_t hidden_size = 64;  // d_model E
  std::size_t n_head = 4;        // attention heads (must divide hidden_size)
  std::size_t encoder_layers = 2;
  std::size_t decoder_layers = 2;
  std::size_t ffn_hidden_size = 256;  // the feed-forward network's width
  std::size_t label_len = 0;          // known steps the decoder reads before the horizon (0..input_size)
  bool norm_first = false;            // pre-norm layers
  bool causal_decoder = true;         // decoder self-attention sees only earlier tokens

  TransformerConfig() {
    activation = nn::Act::gelu;
    dropout = 0.05f;
  }
  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    BaseConfig::read(j, ctx, info);
    hidden_size = json_uint(j, ctx, "hidden_size", hidden_size, limits::kWidth);
    n_head = json_uint(j, ctx, "n_head", n_head, {1, 1024});
    encoder_layers = json_uint(j, ctx, "encoder_layers", encoder_layers, limits::kLayers);
    decoder_layers = json_uint(j, ctx, "decoder_layers", decoder_layers, limits::kLayers);
    ffn_hidden_size = json_uint(j, ctx, "ffn_hidden_size", ffn_hidden_size, limits::kWidth);
    label_len = json_uint(j, ctx, "label_len", label_len, {0, limits::kWindow.hi});
    norm_first = json_bool(j, ctx, "norm_first", norm_first);
    causal_decoder = json_bool(j, ctx, "causal_decoder", causal_decoder);
    NTN_CHECK(hidden_size % n_head == 0, ctx, ": field 'n_head' (", n_head,
              ") must divide field 'hidden_size' (", hidden_size, ")");
    NTN_CHECK(label_len <= input_size, ctx, ": field 'label_len' (", label_len,
              ") must not exceed field 'input_size' (", input_size, ")");
  }
  static TransformerConfig from_json(const json& j) {
    return read_config<TransformerConfig>(j, transformer_info());
  }
  json to_json() const {
    json j = {{"type", "transformer"}};
    write(j);
    j["hidden_size"] = hidden_size;
    j["n_head"] = n_head;
    j["encoder_layers"] = encoder_layers;
    j["decoder_layers"] = decoder_layers;
    j["ffn_hidden_size"] = ffn_hidden_size;
    j["label_len"] = label_len;
    j["norm_first"] = norm_first;
    j["causal_decoder"] = causal_decoder;
    return j;
  }
  std::size_t enc_width() const { return 1 + hist_exog + futr_exog + stat_exog; }
  std::size_t dec_width() const { return 1 + futr_exog + stat_exog; }
  std::size_t dec_len() const { return label_len + horizon; }
  nn::TransformerLayerConfig layer(bool decoder) const {
    return {.d_model = hidden_size,
            .heads = n_head,
            .ffn = ffn_hidden_size,
            .activation = activation,
            .norm_first = norm_first,
            .dropout = dropout,
            .decoder = decoder,
            .causal = decoder && causal_decoder};
  }
};

template <class T>
class Transformer final : public Model<T> {
 public:
  explicit Transformer(const TransformerConfig& c) : c_(c) {
    auto& ps = this->ps_;
    enc_embed_.declare(ps, "encoder_embedding", c.enc_width(), c.hidden_size);
    dec_embed_.declare(ps, "decoder_embedding", c.dec_width(), c.hidden_size);
    enc_.resize(c.encoder_layers);
    dec_.resize(c.decoder_layers);
    for (std::size_t i = 0; i < enc_.size(); ++i)
      enc_[i].declare(ps, cat("encoder.layers.", i), c.layer(false));
    enc_norm_.declare(ps, "encoder.norm", c.hidden_size);
    for (std::size_t i = 0; i < dec_.size(); ++i)
      dec_[i].declare(ps, cat("decoder.layers.", i), c.layer(true));
    dec_norm_.declare(ps, "decoder.norm", c.hidden_size);
    proj_.declare(ps, "projection", c.hidden_size, c.outputs);
    ps.finalize();
    pe_.resize(
        check_tensor_size(c.input_size + c.horizon, c.hidden_size, "positional encoding (steps x d_model)"));
    nn::sinusoidal_positions(pe_.data(), 0, c.input_size + c.horizon, c.hidden_size);
  }
  std::string type() const override { return "transformer"; }
  json config() const override { return c_.to_json(); }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return c_.covariates(); }
  void init(std::uint64_t seed) override {
    enc_embed_.init(this->ps_, seed);
    dec_embed_.init(this->ps_, seed);
    for (const auto& l : enc_) l.init(this->ps_, seed);
    for (const auto& l : dec_) l.init(this->ps_, seed);
    enc_norm_.init(this->ps_);
    dec_norm_.init(this->ps_);
    proj_.init(this->ps_, seed);
  }

  struct Ws final : Model<T>::Workspace {
    std::vector<typename nn::TransformerLayer<T>::Cache> enc, dec;
    std::vector<T> enc_in, dec_in;  // token inputs (B, L, enc width), (B, D, dec width)
    std::vector<std::vector<T>> e;  // encoder activations: e[0] embedded, e[i + 1] after layer i (B, L, E)
    std::vector<std::vector<T>> d;  // decoder activations (B, D, E)
    std::vector<T> mem, z, zh;  // memory (B, L, E), decoder output (B, D, E), its horizon tokens (B, H, E)
    std::vector<T> enc_mean, enc_rstd, dec_mean, dec_rstd;
    std::vector<T> ge0, ge1, gd0, gd1, gmem, gzh, genc_in, gdec_in;  // gradients
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    const std::size_t L = c_.input_size, D = c_.dec_len(), H = c_.horizon, E = c_.hidden_size;
    const std::size_t ne = check_tensor_size(B * L, E, "transformer encoder (batch x input x d_model)");
    const std::size_t nd = check_tensor_size(B * D, E, "transformer decoder (batch x tokens x d_model)");
    for (const auto& l : enc_) ws->enc.push_back(l.make_cache(B, L, 0, inference));
    for (const auto& l : dec_) ws->dec.push_back(l.make_cache(B, D, L, inference));
    ws->enc_in.resize(B * L * c_.enc_width());
    ws->dec_in.resize(B * D * c_.dec_width());
    ws->e.assign(enc_.size() + 1, std::vector<T>(ne));
    ws->d.assign(dec_.size() + 1, std::vector<T>(nd));
    ws->mem.resize(ne);
    ws->z.resize(nd);
    if (c_.label_len) ws->zh.resize(B * H * E);
    ws->enc_mean.resize(B * L);
    ws->enc_rstd.resize(B * L);
    ws->dec_mean.resize(B * D);
    ws->dec_rstd.resize(B * D);
    if (!inference) {
      for (auto* g : {&ws->ge0, &ws->ge1, &ws->gmem}) g->resize(ne);
      for (auto* g : {&ws->gd0, &ws->gd1}) g->resize(nd);
      ws->gzh.resize(B * H * E);
      ws->genc_in.resize(ws->enc_in.size());
      ws->gdec_in.resize(ws->dec_in.size());
    }
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y,
               const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, D = c_.dec_len(), B = in.B, E = c_.hidden_size;
    const std::size_t lab = c_.label_len, We = c_.enc_width(), Wd = c_.dec_width();
    const Covariates cov = c_.covariates();
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t t = 0; t < L; ++t) step_inputs(in, cov, L, H, b, t, ws.enc_in.data() + (b * L + t) * We);
      for (std::size_t i = 0; i < D; ++i) {
        const std::size_t t = L - lab + i;
        T* row = ws.dec_in.data() + (b * D + i) * Wd;
        *row++ = t < L ? in.y[b * L + t] : T(0);
        for (std::size_t k = 0; k < cov.futr; ++k) *row++ = in.futr[(b * (L + H) + t) * cov.futr + k];
        for (std::size_t k = 0; k < cov.stat; ++k) *row++ = in.stat[b * cov.stat + k];
      }
    }
    embed(enc_embed_, ws.enc_in.data(), ws.e[0].data(), B, L, 0, ctx);
    for (std::size_t i = 0; i < enc_.size(); ++i)
      enc_[i].forward(this->ps_, ws.enc[i], ws.e[i].data(), nullptr, ws.e[i + 1].data(), B, L, 0, ctx);
    enc_norm_.forward(this->ps_, ws.e.back().data(), ws.mem.data(), B * L, ws.enc_mean.data(),
                      ws.enc_rstd.data());
    embed(dec_embed_, ws.dec_in.data(), ws.d[0].data(), B, D, L - lab, ctx);
    for (std::size_t i = 0; i < dec_.size(); ++i)
      dec_[i].forward(this->ps_, ws.dec[i], ws.d[i].data(), ws.mem.data(), ws.d[i + 1].data(), B, D, L, ctx);
    dec_norm_.forward(this->ps_, ws.d.back().data(), ws.z.data(), B * D, ws.dec_mean.data(),
                      ws.dec_rstd.data());
    const T* zh = ws.z.data();
    if (lab) {  // the horizon tokens of each row
      for (std::size_t b = 0; b < B; ++b)
        std::memcpy(ws.zh.data() + b * H * E, ws.z.data() + (b * D + lab) * E, H * E * sizeof(T));
      zh = ws.zh.data();
    }
    proj_.forward(this->ps_, zh, y, B * H, ctx);
  }

  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, D = c_.dec_len(), E = c_.hidden_size,
                      lab = c_.label_len;
    const T* zh = lab ? ws.zh.data() : ws.z.data();
    // d z: the horizon tokens' gradient, zero on the label tokens.
    T* gz = ws.gd1.data();
    if (lab) {
      proj_.backward(this->ps_, grads, zh, dy, ws.gzh.data(), B * H, ctx.accumulate);
      std::fill(gz, gz + B * D * E, T(0));
      for (std::size_t b = 0; b < B; ++b)
        std::memcpy(gz + (b * D + lab) * E, ws.gzh.data() + b * H * E, H * E * sizeof(T));
    } else {
      proj_.backward(this->ps_, grads, zh, dy, gz, B * H, ctx.accumulate);
    }
    dec_norm_.backward(this->ps_, grads, ws.d.back().data(), gz, ws.gd0.data(), B * D, ws.dec_mean.data(),
                       ws.dec_rstd.data(), ctx.accumulate);
    std::fill(ws.gmem.begin(), ws.gmem.end(), T(0));
    for (std::size_t i = dec_.size(); i-- > 0;) {
      dec_[i].backward(this->ps_, grads, ws.dec[i], ws.gd0.data(), ws.gd1.data(), ws.gmem.data(), B, D, L,
                       ctx);
      std::swap(ws.gd0, ws.gd1);
    }
    dec_embed_.backward(this->ps_, grads, ws.dec_in.data(), ws.gd0.data(), dx ? ws.gdec_in.data() : nullptr,
                        B * D, ctx.accumulate);
    enc_norm_.backward(this->ps_, grads, ws.e.back().data(), ws.gmem.data(), ws.ge0.data(), B * L,
                       ws.enc_mean.data(), ws.enc_rstd.data(), ctx.accumulate);
    for (std::size_t i = enc_.size(); i-- > 0;) {
      enc_[i].backward(this->ps_, grads, ws.enc[i], ws.ge0.data(), ws.ge1.data(), nullptr, B, L, 0, ctx);
      std::swap(ws.ge0, ws.ge1);
    }
    enc_embed_.backward(this->ps_, grads, ws.enc_in.data(), ws.ge0.data(), dx ? ws.genc_in.data() : nullptr,
                        B * L, ctx.accumulate);
    if (!dx) return;
    const std::size_t We = c_.enc_width(), Wd = c_.dec_width();
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < L; ++t) {
        T g = ws.genc_in[(b * L + t) * We];
        if (t >= L - lab) g += ws.gdec_in[(b * D + t - (L - lab)) * Wd];
        dx[b * L + t] = g;
      }
  }

 private:
  // x (B, n, width) -> out (B, n, E) = Linear(x) + PE(first + token)
  void embed(const nn::Linear<T>& lin, const T* x, T* out, std::size_t B, std::size_t n, std::size_t first,
             const nn::RunCtx& ctx) const {
    const std::size_t E = c_.hidden_size;
    lin.forward(this->ps_, x, out, B * n, ctx);
    for (std::size_t b = 0; b < B; ++b) {
      T* o = out + b * n * E;
      const T* pe = pe_.data() + first * E;
      for (std::size_t k = 0; k < n * E; ++k) o[k] += pe[k];
    }
  }

  TransformerConfig c_;
  nn::Linear<T> enc_embed_, dec_embed_, proj_;
  std::vector<nn::TransformerLayer<T>> enc_, dec_;
  nn::LayerNorm<T> enc_norm_, dec_norm_;
  std::vector<T> pe_;  // (L + H, E) sinusoidal positions
};

}  // namespace

Entry transformer_entry() { return make_entry<Transformer, TransformerConfig>(transformer_info()); }

}  // namespace ntn::models
