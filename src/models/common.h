// Internal to src/models: the config fields every model shares, the helpers every model file uses
// to read its Config, and the registry entry type each model file provides (registry.cpp declares
// and lists them; nothing else spells a model's name).
#pragma once

#include <nlohmann/json.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/models.h"

namespace ntn::models {

using nlohmann::json;

// One registry row: how to build the model in float and double, a tiny config for the contract
// tests, and what it supports.
struct Entry {
  ModelInfo info;
  std::unique_ptr<Model<float>> (*build_float)(const json& config);
  std::unique_ptr<Model<double>> (*build_double)(const json& config);
};

// The row of a model class template M<T> built from its Config (Config::from_json validates).
template <template <class> class M, class Config>
Entry make_entry(ModelInfo info) {
  return {std::move(info),
          [](const json& c) -> std::unique_ptr<Model<float>> { return std::make_unique<M<float>>(Config::from_json(c)); },
          [](const json& c) -> std::unique_ptr<Model<double>> {
            return std::make_unique<M<double>>(Config::from_json(c));
          }};
}

// "mlp_units": [in, out] width pairs, each starting where the previous ends.
using Units = std::vector<std::vector<std::size_t>>;

// The fields every model's Config starts with (a model's Config derives from it). Typical values
// shown; every field is validated by read() and named in its error.
struct BaseConfig {
  std::size_t input_size = 168;     // L: past steps per window (e.g. 7 days of hourly bars)
  std::size_t horizon = 24;         // H: steps forecast at once
  std::size_t outputs = 1;          // Q: 1 for a point forecast, else one per quantile level
  std::size_t hist_exog = 0;        // Ch: historic covariates (known up to the forecast origin)
  std::size_t futr_exog = 0;        // Cf: future-known covariates (known for the L + H steps)
  std::size_t stat_exog = 0;        // S: static covariates per series
  nn::Act activation = nn::Act::relu;  // after each hidden layer: relu | gelu | tanh | ...
  float dropout = 0.0f;             // [0, 1): after each hidden activation, training only

  // Reads the shared fields (absent ones keep their default) from j; ctx is "<model> config".
  // A covariate kind the model does not consume (info.covariates) must stay 0.
  void read(const json& j, const std::string& ctx, const ModelInfo& info);
  void write(json& j) const;
  Covariates covariates() const { return {hist_exog, futr_exog, stat_exog}; }
};

// The fields of every model with a recurrent encoder (gru, lstm, lstm_attention, deepar); a
// model's Config derives from it and may change a default in its constructor.
struct RecurrentEncoderConfig : BaseConfig {
  std::size_t encoder_hidden_size = 128;  // hidden units per recurrent layer (per direction if bidirectional)
  std::size_t encoder_n_layers = 2;       // stacked recurrent layers
  float encoder_dropout = 0.0f;           // [0, 1): between recurrent layers (not after the last), training only

  void read(const json& j, const std::string& ctx, const ModelInfo& info);
  void write(json& j) const;
};

// The generic reader behind each Config::from_json: unknown fields (anything Config{}.to_json()
// does not write) are errors, then Config::read parses and validates the rest (absent fields keep
// the struct's defaults). to_json() gives the full JSON back.
template <class Config>
Config read_config(const json& j, const ModelInfo& info) {
  const std::string ctx = cat(info.name, " config");
  NTN_CHECK(j.is_object(), ctx, ": expected a JSON object (got ", j.dump().substr(0, 80), ")");
  std::vector<std::string> known;
  const json defaults = Config{}.to_json();
  for (const auto& kv : defaults.items()) known.push_back(kv.key());
  json_known_fields(j, ctx, known);
  Config c;
  c.read(j, ctx, info);
  return c;
}

// Step t of window b as one input row of the models that read the window step by step (recurrent
// encoders, TCN, the Transformer's encoder): [y_t | hist_t (Ch) | futr_t (Cf) | static (S)].
// Returns the end of the row.
template <class T>
T* step_inputs(const Batch<T>& in, const Covariates& cov, std::size_t L, std::size_t H, std::size_t b, std::size_t t,
               T* row) {
  *row++ = in.y[b * L + t];
  for (std::size_t k = 0; k < cov.hist; ++k) *row++ = in.hist[(b * L + t) * cov.hist + k];
  for (std::size_t k = 0; k < cov.futr; ++k) *row++ = in.futr[(b * (L + H) + t) * cov.futr + k];
  for (std::size_t k = 0; k < cov.stat; ++k) *row++ = in.stat[b * cov.stat + k];
  return row;
}

// The input of a decoder that reads one vector per window (B, width) and the horizon's
// future-known covariates: rows [last_b (width) | futr_{L..L+H-1} (H Cf)] written into out, or
// `last` itself when there are none.
template <class T>
const T* with_future_covariates(const Batch<T>& in, std::size_t Cf, std::size_t L, std::size_t H, const T* last,
                                std::size_t width, T* out) {
  if (!Cf) return last;
  const std::size_t w = width + H * Cf;
  for (std::size_t b = 0; b < in.B; ++b) {
    std::memcpy(out + b * w, last + b * width, width * sizeof(T));
    std::memcpy(out + b * w + width, in.futr + (b * (L + H) + L) * Cf, H * Cf * sizeof(T));
  }
  return out;
}

// Config field helpers (each error names the field).
Units read_units(const json& j, const std::string& ctx, const Units& def);
// A per-stack list of `stacks` integers in r.
std::vector<std::size_t> per_stack(const json& j, const std::string& ctx, const char* key,
                                   const std::vector<std::size_t>& def, std::size_t stacks, UintRange r);
std::vector<std::size_t> read_sizes(const json& j, const std::string& ctx, const char* key,
                                    const std::vector<std::size_t>& def, UintRange r);

}  // namespace ntn::models
