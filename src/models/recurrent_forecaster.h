// Internal to src/models: the GRU and LSTM forecasters (NeuralForecast's RNN family): a stacked
// recurrent encoder over the window, then an MLP decoder from its last hidden state (and the
// future-known covariates of the horizon) to horizon x outputs. gru.cpp and lstm.cpp each give
// the defaults and the registry row.
//
// Encoder input per step t < L: [y_t | hist_t (Ch) | futr_t (Cf) | static (S)].
// Decoder input: [h_L (hidden) | futr_{L..L+H-1} (H * Cf)].
// Streaming: the encoder's state carries from tick to tick (one cell step per layer, then the
// decoder), so after T ticks the forecast is the batch forward over those T values.
#pragma once

#include <cstring>

#include "models/common.h"
#include "ntn/mlp.h"
#include "ntn/rnn.h"

namespace ntn::models {

// Typical values shown (NeuralForecast's LSTM; its GRU differs in encoder_hidden_size, 200).
struct RecurrentConfig : RecurrentEncoderConfig {
  std::string type;                      // "gru" | "lstm" (set by the model file)
  nn::Cell cell = nn::Cell::lstm;
  std::size_t decoder_hidden_size = 128;  // width of the decoder MLP's hidden layers
  std::size_t decoder_layers = 2;         // hidden layers of the decoder (0: one Linear to the horizon)

  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    RecurrentEncoderConfig::read(j, ctx, info);
    decoder_hidden_size = json_uint(j, ctx, "decoder_hidden_size", decoder_hidden_size, limits::kWidth);
    decoder_layers = json_uint(j, ctx, "decoder_layers", decoder_layers, {0, limits::kLayers.hi});
  }
  json to_json() const {
    json j = {{"type", type}};
    write(j);
    j["decoder_hidden_size"] = decoder_hidden_size;
    j["decoder_layers"] = decoder_layers;
    return j;
  }
  std::size_t step_width() const { return 1 + hist_exog + futr_exog + stat_exog; }
  std::size_t decoder_width() const { return encoder_hidden_size + horizon * futr_exog; }
};

template <class T>
class RecurrentForecaster final : public Model<T> {
 public:
  explicit RecurrentForecaster(const RecurrentConfig& c) : c_(c) {
    rnn_.declare(this->ps_, "encoder", c.cell, c.step_width(), c.encoder_hidden_size, c.encoder_n_layers, false,
                 c.encoder_dropout);
    decoder_.declare_hidden(this->ps_, "decoder", c.decoder_width(), c.decoder_hidden_size, c.decoder_layers,
                            c.horizon * c.outputs, c.activation, c.dropout);
    this->ps_.finalize();
  }
  std::string type() const override { return c_.type; }
  json config() const override { return c_.to_json(); }
  std::size_t input_size() const override { return c_.input_size; }
  std::size_t horizon() const override { return c_.horizon; }
  std::size_t outputs() const override { return c_.outputs; }
  Covariates covariates() const override { return c_.covariates(); }
  void init(std::uint64_t seed) override {
    rnn_.init(this->ps_, seed);
    decoder_.init(this->ps_, seed);
  }

  struct Ws final : Model<T>::Workspace {
    typename nn::Recurrent<T>::Cache enc;
    typename nn::Mlp<T>::Cache dec;
    std::vector<T> x;     // (L, B, step width) encoder input, time-major
    std::vector<T> din;   // (B, decoder width) decoder input (with future covariates)
    std::vector<T> ddin;  // its gradient
    std::vector<T> dseq;  // (L, B, hidden) gradient of the encoder outputs (the last step only)
    std::vector<T> dx;    // (L, B, step width)
  };
  std::unique_ptr<typename Model<T>::Workspace> make_workspace(std::size_t B, bool inference) const override {
    auto ws = std::make_unique<Ws>();
    ws->max_batch = B;
    const std::size_t L = c_.input_size, Hd = c_.encoder_hidden_size;
    ws->enc = rnn_.make_cache(B, L, inference);
    ws->dec = decoder_.make_cache(B, inference);
    ws->x.resize(check_tensor_size(L * B, c_.step_width(), "recurrent model workspace (window x batch x inputs)"));
    if (c_.futr_exog) ws->din.resize(check_tensor_size(B, c_.decoder_width(), "decoder input (batch x width)"));
    if (!inference) {
      ws->ddin.resize(B * c_.decoder_width());
      ws->dseq.resize(L * B * Hd);
      ws->dx.resize(ws->x.size());
    }
    return ws;
  }

  void forward(typename Model<T>::Workspace& base, const Batch<T>& in, T* y, const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, H = c_.horizon, B = in.B, W = c_.step_width(), Hd = c_.encoder_hidden_size;
    const Covariates cov = c_.covariates();
    for (std::size_t t = 0; t < L; ++t)
      for (std::size_t b = 0; b < B; ++b) step_inputs(in, cov, L, H, b, t, ws.x.data() + (t * B + b) * W);
    rnn_.forward(this->ps_, ws.enc, ws.x.data(), L, B, ctx);
    const T* last = ws.enc.output() + (L - 1) * B * Hd;  // (B, hidden)
    decoder_.forward(this->ps_, ws.dec, with_future_covariates(in, c_.futr_exog, L, H, last, Hd, ws.din.data()), y, B,
                     ctx);
  }

  void backward(typename Model<T>::Workspace& base, const T* dy, T* grads, T* dx, std::size_t B,
                const nn::RunCtx& ctx) const override {
    Ws& ws = static_cast<Ws&>(base);
    const std::size_t L = c_.input_size, Hd = c_.encoder_hidden_size, DW = c_.decoder_width(), W = c_.step_width();
    decoder_.backward(this->ps_, grads, ws.dec, dy, ws.ddin.data(), B, ctx);
    std::fill(ws.dseq.begin(), ws.dseq.begin() + std::ptrdiff_t((L - 1) * B * Hd), T(0));
    for (std::size_t b = 0; b < B; ++b)
      std::memcpy(ws.dseq.data() + ((L - 1) * B + b) * Hd, ws.ddin.data() + b * DW, Hd * sizeof(T));
    rnn_.backward(this->ps_, grads, ws.enc, ws.dseq.data(), dx ? ws.dx.data() : nullptr, L, B, ctx);
    if (dx)
      for (std::size_t t = 0; t < L; ++t)
        for (std::size_t b = 0; b < B; ++b) dx[b * L + t] = ws.dx[(t * B + b) * W];
  }

  // ---- streaming: the encoder's state -------------------------------------------------------
  struct St final : Model<T>::State {
    std::vector<T> h;  // the encoder's carried state
    typename nn::Recurrent<T>::StepScratch scratch;
    typename nn::Mlp<T>::Cache dec;
    T* values() override { return h.data(); }
    std::size_t size() const override { return h.size(); }
  };
  std::unique_ptr<typename Model<T>::State> make_state() const override {
    auto s = std::make_unique<St>();
    s->h.assign(rnn_.state_size(1), T(0));
    s->scratch = rnn_.make_step_scratch(1);
    s->dec = decoder_.make_cache(1);
    return s;
  }
  void step(typename Model<T>::State& base, const T* tick, T* y, const nn::RunCtx& ctx) const override {
    NTN_CHECK(!c_.covariates().any(), c_.type, ": a model with covariates does not stream (its ticks would need them)");
    St& s = static_cast<St&>(base);
    const T* h = rnn_.step(this->ps_, s.h.data(), s.scratch, tick, 1, ctx);
    decoder_.forward(this->ps_, s.dec, h, y, 1, ctx);
  }

 private:
  RecurrentConfig c_;
  nn::Recurrent<T> rnn_;
  nn::Mlp<T> decoder_;
};

}  // namespace ntn::models
