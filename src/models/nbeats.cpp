// N-BEATS (Oreshkin et al. 2020): identity (generic), trend (polynomial basis) and seasonality
// (Fourier basis) stacks, optional weight sharing within a stack; doubly residual.

#include "models/common.h"
#include "models/residual_stacks.h"

namespace ntn::models {
namespace {

ModelInfo nbeats_info() {
  return {"nbeats",
          "N-BEATS (Oreshkin et al. 2020): generic, trend and seasonality stacks, optional shared weights",
          json{{"type", "nbeats"},
               {"input_size", 10},
               {"horizon", 4},
               {"mlp_units", {{8, 8}}},
               {"stack_types", {"identity", "trend", "seasonality"}},
               {"n_blocks", {1, 1, 1}}},
          {"point", "quantiles"},
          {},
          false};
}

// The authors' defaults (NeuralForecast NBEATS), typical values shown.
struct NbeatsConfig : BaseConfig {
  std::vector<std::string> stack_types = {"identity", "trend", "seasonality"};  // | generic (= identity)
  std::vector<std::size_t> n_blocks = {1, 1, 1};  // blocks per stack (absent: 1 per stack)
  Units mlp_units = Units(3, {512, 512});         // [in, out] hidden widths of each block's MLP
  std::size_t n_harmonics = 2;                    // seasonality: frequencies per unit
  std::size_t n_polynomials = 2;                  // trend: polynomial degree
  bool shared_weights = false;                    // the blocks of a stack share one MLP

  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    BaseConfig::read(j, ctx, info);
    if (j.contains("stack_types")) {
      const json& t = j.at("stack_types");
      NTN_CHECK(t.is_array(), ctx, ": field 'stack_types' must be a list of names (got ", t.dump().substr(0, 80),
                ")");
      stack_types.clear();
      for (std::size_t i = 0; i < t.size(); ++i) {
        NTN_CHECK(t[i].is_string(), ctx, ": field 'stack_types'[", i, "]: ", t[i].dump().substr(0, 80),
                  " is not a name");
        const std::string name = t[i].get<std::string>();
        NTN_CHECK(name == "identity" || name == "generic" || name == "trend" || name == "seasonality", ctx,
                  ": field 'stack_types'[", i, "] = '", name, "' is not identity, generic, trend or seasonality");
        stack_types.push_back(name);
      }
    }
    const std::size_t S = stack_types.size();
    NTN_CHECK(S >= limits::kStacks.lo && S <= limits::kStacks.hi, ctx, ": field 'stack_types' must list 1..",
              limits::kStacks.hi, " stacks (got ", S, ")");
    n_blocks = per_stack(j, ctx, "n_blocks", std::vector<std::size_t>(S, 1), S, limits::kBlocks);
    mlp_units = read_units(j, ctx, mlp_units);
    n_harmonics = json_uint(j, ctx, "n_harmonics", n_harmonics, limits::kHarmonics);
    n_polynomials = json_uint(j, ctx, "n_polynomials", n_polynomials, limits::kPolynomials);
    shared_weights = json_bool(j, ctx, "shared_weights", shared_weights);
  }
  static NbeatsConfig from_json(const json& j) { return read_config<NbeatsConfig>(j, nbeats_info()); }
  json to_json() const {
    json j = {{"type", "nbeats"}};
    write(j);
    j["stack_types"] = stack_types;
    j["n_blocks"] = n_blocks;
    j["mlp_units"] = mlp_units;
    j["n_harmonics"] = n_harmonics;
    j["n_polynomials"] = n_polynomials;
    j["shared_weights"] = shared_weights;
    return j;
  }
};

template <class T>
std::unique_ptr<Model<T>> build_nbeats(const json& j) {
  const NbeatsConfig c = NbeatsConfig::from_json(j);
  // Frequencies 0, then harmonics/harmonics .. < H/2 in steps of 1/harmonics (ResidualStacks);
  // at most harmonics x H / 2 of them, and each basis row spans L + H values.
  std::size_t n_freq = 1;
  for (double v = double(c.n_harmonics); v < double(c.n_harmonics) / 2.0 * double(c.horizon); v += 1.0) ++n_freq;
  check_tensor_size(2 * n_freq, c.input_size + c.horizon,
                    "nbeats seasonality basis (2 x frequencies, input_size + horizon)");
  StacksSpec spec;
  std::size_t n_mlp = 0;
  for (std::size_t s = 0; s < c.stack_types.size(); ++s) {
    const std::string& type = c.stack_types[s];
    for (std::size_t b = 0; b < c.n_blocks[s]; ++b) {
      BlockSpec bs;
      bs.stack = s;
      if (type == "identity" || type == "generic") {
        bs.basis = Basis::identity;
        bs.knots = c.horizon;
        bs.q_major = false;
      } else if (type == "trend") {
        bs.basis = Basis::trend;
        bs.n_basis = c.n_polynomials + 1;
      } else {
        bs.basis = Basis::seasonality;
        bs.n_basis = 2 * n_freq;
      }
      bs.mlp = (c.shared_weights && b > 0) ? n_mlp - 1 : n_mlp++;
      spec.blocks.push_back(bs);
    }
  }
  spec.type = "nbeats";
  spec.config = c.to_json();
  spec.base = c;
  spec.units = c.mlp_units;
  spec.harmonics = c.n_harmonics;
  return make_residual_stacks<T>(std::move(spec));
}

}  // namespace

Entry nbeats_entry() {
  return {nbeats_info(), [](const json& c) { return build_nbeats<float>(c); },
          [](const json& c) { return build_nbeats<double>(c); }};
}

}  // namespace ntn::models
