#include "models/common.h"

namespace ntn::models {

Units mlp_units(const json& cfg, const char* model, const Units& def) {
  if (!cfg.contains("mlp_units")) return def;
  const json& a = cfg.at("mlp_units");
  const std::string ctx = cat(model, " config");
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

Common common(json& cfg, const char* model) {
  const std::string ctx = cat(model, " config");
  Common c;
  c.L = json_uint(cfg, ctx, "input_size", 168, limits::kWindow);
  c.H = json_uint(cfg, ctx, "horizon", 24, limits::kHorizon);
  c.Q = json_uint(cfg, ctx, "outputs", 1, limits::kOutputs);
  c.act = nn::parse_act(json_string(cfg, ctx, "activation", "relu"));
  c.dropout = float(json_real(cfg, ctx, "dropout", 0.0, limits::kDropout));
  cfg["input_size"] = c.L;
  cfg["horizon"] = c.H;
  cfg["outputs"] = c.Q;
  cfg["activation"] = nn::act_name(c.act);
  cfg["dropout"] = c.dropout;
  return c;
}

std::vector<std::size_t> per_stack(const json& cfg, const char* model, const char* key,
                                   std::vector<std::uint64_t> def, std::size_t stacks, UintRange r) {
  const auto v = json_uint_list(cfg, cat(model, " config"), key, def, r);
  NTN_CHECK(v.size() == stacks, model, " config: field '", key, "' has ", v.size(), " entries for ", stacks,
            " stacks");
  return std::vector<std::size_t>(v.begin(), v.end());
}

}  // namespace ntn::models
