// NHITS (Challu et al. 2023) as in the authors' library: stacks of blocks, each max/avg-pooling
// its input, an MLP producing backcast + forecast knots, knots interpolated (linear / nearest)
// to the horizon; doubly residual. Historic, future-known and static covariates enter every
// block's MLP input, pooled like the target (NeuralForecast's NHITS).

#include "models/common.h"
#include "models/residual_stacks.h"

namespace ntn::models {
namespace {

ModelInfo nhits_info() {
  ModelInfo info{"nhits",
          "NHITS (Challu et al. 2023): multi-rate pooling, MLP blocks, interpolated forecast knots",
          json{{"type", "nhits"},
               {"input_size", 12},
               {"horizon", 4},
               {"mlp_units", {{8, 8}}},
               {"n_blocks", {1, 1}},
               {"pool_kernel", {2, 1}},
               {"freq_downsample", {2, 1}}},
          {"point", "quantiles"},
          {"historic", "future", "static"},
          false};
  info.auto_space = json::parse(R"({"pool_kernel": {"choice": [[2, 2, 1], [1, 1, 1], [2, 2, 2], [4, 4, 4], [8, 4, 1], [16, 8, 1]]},
                                    "freq_downsample": {"choice": [[168, 24, 1], [24, 12, 1], [180, 60, 1], [60, 8, 1], [40, 20, 1], [1, 1, 1]]}})");
  return info;
}

// The authors' defaults (NeuralForecast NHITS), typical values shown.
struct NhitsConfig : BaseConfig {
  std::vector<std::size_t> n_blocks = {1, 1, 1};         // blocks per stack (3 stacks)
  std::vector<std::size_t> pool_kernel = {2, 2, 1};      // input pooling per stack (absent: 2,2,1 for 3 stacks, else 1s)
  std::vector<std::size_t> freq_downsample = {4, 2, 1};  // forecast knots = H / this (absent: 4,2,1 for 3 stacks, else 1s)
  Units mlp_units = Units(3, {512, 512});                // [in, out] hidden widths of each block's MLP
  nn::Pool pooling = nn::Pool::max;                      // max | avg
  nn::Interp interpolation = nn::Interp::linear;         // linear | nearest

  void read(const json& j, const std::string& ctx, const ModelInfo& info) {
    BaseConfig::read(j, ctx, info);
    n_blocks = read_sizes(j, ctx, "n_blocks", n_blocks, limits::kBlocks);
    const std::size_t S = n_blocks.size();
    NTN_CHECK(S >= limits::kStacks.lo && S <= limits::kStacks.hi, ctx, ": field 'n_blocks' must list 1..",
              limits::kStacks.hi, " stacks (got ", S, ")");
    pool_kernel = per_stack(j, ctx, "pool_kernel", S == 3 ? pool_kernel : std::vector<std::size_t>(S, 1), S,
                            limits::kPoolKernel);
    freq_downsample = per_stack(j, ctx, "freq_downsample",
                                S == 3 ? freq_downsample : std::vector<std::size_t>(S, 1), S, limits::kDownsample);
    mlp_units = read_units(j, ctx, mlp_units);
    pooling = nn::parse_pool(json_string(j, ctx, "pooling", pooling == nn::Pool::max ? "max" : "avg"));
    interpolation = nn::parse_interp(
        json_string(j, ctx, "interpolation", interpolation == nn::Interp::linear ? "linear" : "nearest"));
  }
  static NhitsConfig from_json(const json& j) { return read_config<NhitsConfig>(j, nhits_info()); }
  json to_json() const {
    json j = {{"type", "nhits"}};
    write(j);
    j["n_blocks"] = n_blocks;
    j["pool_kernel"] = pool_kernel;
    j["freq_downsample"] = freq_downsample;
    j["mlp_units"] = mlp_units;
    j["pooling"] = pooling == nn::Pool::max ? "max" : "avg";
    j["interpolation"] = interpolation == nn::Interp::linear ? "linear" : "nearest";
    return j;
  }
};

template <class T>
std::unique_ptr<Model<T>> build_nhits(const json& j) {
  const NhitsConfig c = NhitsConfig::from_json(j);
  StacksSpec spec;
  for (std::size_t s = 0; s < c.n_blocks.size(); ++s) {
    for (std::size_t b = 0; b < c.n_blocks[s]; ++b) {
      BlockSpec bs;
      bs.pool_k = c.pool_kernel[s];
      bs.basis = Basis::identity;
      bs.knots = std::max<std::size_t>(c.horizon / c.freq_downsample[s], 1);
      bs.q_major = true;
      bs.mlp = spec.blocks.size();
      bs.stack = s;
      spec.blocks.push_back(bs);
    }
  }
  spec.type = "nhits";
  spec.config = c.to_json();
  spec.base = c;
  spec.units = c.mlp_units;
  spec.pool = c.pooling;
  spec.interp = c.interpolation;
  return make_residual_stacks<T>(std::move(spec));
}

}  // namespace

Entry nhits_entry() {
  return {nhits_info(), [](const json& c) { return build_nhits<float>(c); },
          [](const json& c) { return build_nhits<double>(c); }};
}

}  // namespace ntn::models
