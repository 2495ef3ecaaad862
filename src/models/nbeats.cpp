// N-BEATS (Oreshkin et al. 2020): identity (generic), trend (polynomial basis) and seasonality
// (Fourier basis) stacks, optional weight sharing within a stack; doubly residual.

#include "models/common.h"
#include "models/residual_stacks.h"

namespace ntn::models {
namespace {

template <class T>
std::unique_ptr<Model<T>> build_nbeats(json cfg) {
  const char* M = "nbeats";
  const Common c = common(cfg, M);
  const std::string ctx = cat(M, " config");
  std::vector<std::string> types = {"identity", "trend", "seasonality"};
  if (cfg.contains("stack_types")) {
    const json& t = cfg.at("stack_types");
    NTN_CHECK(t.is_array(), ctx, ": field 'stack_types' must be a list of names (got ",
              t.dump().substr(0, 80), ")");
    types.clear();
    for (std::size_t i = 0; i < t.size(); ++i) {
      NTN_CHECK(t[i].is_string(), ctx, ": field 'stack_types'[", i, "]: ", t[i].dump().substr(0, 80),
                " is not a name");
      types.push_back(t[i].get<std::string>());
    }
  }
  const std::size_t S = types.size();
  NTN_CHECK(S >= limits::kStacks.lo && S <= limits::kStacks.hi, ctx, ": field 'stack_types' must list 1..",
            limits::kStacks.hi, " stacks (got ", S, ")");
  const auto n_blocks = per_stack(cfg, M, "n_blocks", std::vector<std::uint64_t>(S, 1), S, limits::kBlocks);
  const Units units = mlp_units(cfg, M, Units(3, {512, 512}));
  const std::size_t harmonics = json_uint(cfg, ctx, "n_harmonics", 2, limits::kHarmonics);
  const std::size_t poly = json_uint(cfg, ctx, "n_polynomials", 2, limits::kPolynomials);
  const bool shared = json_bool(cfg, ctx, "shared_weights", false);
  json_known_fields(cfg, ctx,
                    {"type", "input_size", "horizon", "outputs", "activation", "dropout", "stack_types",
                     "n_blocks", "mlp_units", "n_harmonics", "n_polynomials", "shared_weights"});
  cfg["n_harmonics"] = harmonics;
  // Frequencies 0, then harmonics/harmonics .. < H/2 in steps of 1/harmonics (ResidualStacks);
  // at most harmonics x H / 2 of them, and each basis row spans L + H values.
  std::size_t n_freq = 1;
  for (double v = double(harmonics); v < double(harmonics) / 2.0 * double(c.H); v += 1.0) ++n_freq;
  check_tensor_size(2 * n_freq, c.L + c.H,
                    "nbeats seasonality basis (2 x frequencies, input_size + horizon)");
  std::vector<BlockSpec> blocks;
  std::size_t n_mlp = 0;
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t b = 0; b < n_blocks[s]; ++b) {
      BlockSpec bs;
      bs.stack = s;
      if (types[s] == "identity" || types[s] == "generic") {
        bs.basis = Basis::identity;
        bs.knots = c.H;
        bs.q_major = false;
      } else if (types[s] == "trend") {
        bs.basis = Basis::trend;
        bs.n_basis = poly + 1;
      } else if (types[s] == "seasonality") {
        bs.basis = Basis::seasonality;
        bs.n_basis = 2 * n_freq;
      } else {
        throw Error(cat(M, " config: 'stack_types'[", s, "] = '", types[s],
                        "' is not identity, generic, trend or seasonality"));
      }
      bs.mlp = (shared && b > 0) ? n_mlp - 1 : n_mlp++;
      blocks.push_back(bs);
    }
  }
  cfg["type"] = M;
  cfg["stack_types"] = types;
  cfg["n_blocks"] = n_blocks;
  cfg["mlp_units"] = units;
  cfg["n_polynomials"] = poly;
  cfg["shared_weights"] = shared;
  return make_residual_stacks<T>(M, cfg, c.L, c.H, c.Q, std::move(blocks), units, c.act, c.dropout,
                                 nn::Pool::max, nn::Interp::linear);
}

}  // namespace

Entry nbeats_entry() {
  return {{"nbeats",
           "N-BEATS (Oreshkin et al. 2020): generic, trend and seasonality stacks, optional shared weights",
           json{{"type", "nbeats"},
                {"input_size", 10},
                {"horizon", 4},
                {"mlp_units", {{8, 8}}},
                {"stack_types", {"identity", "trend", "seasonality"}},
                {"n_blocks", {1, 1, 1}}},
           {"point", "quantiles"},
           {},
           false},
          [](const json& c) { return build_nbeats<float>(c); },
          [](const json& c) { return build_nbeats<double>(c); }};
}

}  // namespace ntn::models
