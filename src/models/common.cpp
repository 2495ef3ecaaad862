#include "models/common.h"

namespace ntn::models {

void BaseConfig::read(const json& j, const std::string& ctx, const ModelInfo& info) {
  input_size = json_uint(j, ctx, "input_size", input_size, limits::kWindow);
  horizon = json_uint(j, ctx, "horizon", horizon, limits::kHorizon);
  outputs = json_uint(j, ctx, "outputs", outputs, limits::kOutputs);
  hist_exog = json_uint(j, ctx, "hist_exog", hist_exog, limits::kCovariates);
  futr_exog = json_uint(j, ctx, "futr_exog", futr_exog, limits::kCovariates);
  stat_exog = json_uint(j, ctx, "stat_exog", stat_exog, limits::kCovariates);
  activation = nn::parse_act(json_string(j, ctx, "activation", nn::act_name(activation)));
  dropout = float(json_real(j, ctx, "dropout", dropout, limits::kDropout));
  auto supports = [&](const char* kind) {
    return std::find(info.covariates.begin(), info.covariates.end(), kind) != info.covariates.end();
  };
  NTN_CHECK(hist_exog == 0 || supports("historic"), ctx, ": field 'hist_exog': ", info.name,
            " takes no historic covariates");
  NTN_CHECK(futr_exog == 0 || supports("future"), ctx, ": field 'futr_exog': ", info.name,
            " takes no future-known covariates");
  NTN_CHECK(stat_exog == 0 || supports("static"), ctx, ": field 'stat_exog': ", info.name,
            " takes no static covariates");
}

void BaseConfig::write(json& j) const {
  j["input_size"] = input_size;
  j["horizon"] = horizon;
  j["outputs"] = outputs;
  j["hist_exog"] = hist_exog;
  j["futr_exog"] = futr_exog;
  j["stat_exog"] = stat_exog;
  j["activation"] = nn::act_name(activation);
  j["dropout"] = dropout;
}

void RecurrentEncoderConfig::read(const json& j, const std::string& ctx, const ModelInfo& info) {
  BaseConfig::read(j, ctx, info);
  encoder_hidden_size = json_uint(j, ctx, "encoder_hidden_size", encoder_hidden_size, limits::kWidth);
  encoder_n_layers = json_uint(j, ctx, "encoder_n_layers", encoder_n_layers, limits::kLayers);
  encoder_dropout = float(json_real(j, ctx, "encoder_dropout", encoder_dropout, limits::kDropout));
}

void RecurrentEncoderConfig::write(json& j) const {
  BaseConfig::write(j);
  j["encoder_hidden_size"] = encoder_hidden_size;
  j["encoder_n_layers"] = encoder_n_layers;
  j["encoder_dropout"] = encoder_dropout;
}

Units read_units(const json& j, const std::string& ctx, const Units& def) {
  if (!j.contains("mlp_units")) return def;
  const json& a = j.at("mlp_units");
  NTN_CHECK(a.is_array() && !a.empty() && a.size() <= limits::kLayers.hi, ctx,
            ": field 'mlp_units' must be a list of 1..", limits::kLayers.hi, " [in, out] width pairs (got ",
            a.dump().substr(0, 80), ")");
  Units u;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const json pair = json{{"mlp_units", a[i]}};
    const auto w = json_uint_list(pair, ctx, "mlp_units", {}, limits::kWidth);
    NTN_CHECK(w.size() == 2, ctx, ": field 'mlp_units'[", i, "] must be a pair of widths (got ", a[i].dump(),
              ")");
    NTN_CHECK(i == 0 || w[0] == u[i - 1][1], ctx, ": field 'mlp_units'[", i, "] starts at ", w[0],
              " but the previous layer ends at ", u[i - 1][1]);
    u.push_back({std::size_t(w[0]), std::size_t(w[1])});
  }
  return u;
}

std::vector<std::size_t> read_sizes(const json& j, const std::string& ctx, const char* key,
                                    const std::vector<std::size_t>& def, UintRange r) {
  const auto v = json_uint_list(j, ctx, key, std::vector<std::uint64_t>(def.begin(), def.end()), r);
  return std::vector<std::size_t>(v.begin(), v.end());
}

std::vector<std::size_t> per_stack(const json& j, const std::string& ctx, const char* key,
                                   const std::vector<std::size_t>& def, std::size_t stacks, UintRange r) {
  const auto v = read_sizes(j, ctx, key, def, r);
  NTN_CHECK(v.size() == stacks, ctx, ": field '", key, "' has ", v.size(), " entries for ", stacks, " stacks");
  return v;
}

}  // namespace ntn::models
