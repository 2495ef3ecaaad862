// NHITS (Challu et al. 2023) as in the authors' library: stacks of blocks, each max/avg-pooling
// its input, an MLP producing backcast + forecast knots, knots interpolated (linear / nearest)
// to the horizon; doubly residual.

#include "models/common.h"
#include "models/residual_stacks.h"

namespace ntn::models {
namespace {

template <class T>
std::unique_ptr<Model<T>> build_nhits(json cfg) {
  const char* M = "nhits";
  const Common c = common(cfg, M);
  const std::string ctx = cat(M, " config");
  const auto n_blocks_u = json_uint_list(cfg, ctx, "n_blocks", {1, 1, 1}, limits::kBlocks);
  const std::vector<std::size_t> n_blocks(n_blocks_u.begin(), n_blocks_u.end());
  const std::size_t S = n_blocks.size();
  NTN_CHECK(S >= limits::kStacks.lo && S <= limits::kStacks.hi, ctx, ": field 'n_blocks' must list 1..",
            limits::kStacks.hi, " stacks (got ", S, ")");
  const auto pool_k = per_stack(
      cfg, M, "pool_kernel", S == 3 ? std::vector<std::uint64_t>{2, 2, 1} : std::vector<std::uint64_t>(S, 1),
      S, limits::kPoolKernel);
  const auto fd = per_stack(cfg, M, "freq_downsample",
                            S == 3 ? std::vector<std::uint64_t>{4, 2, 1} : std::vector<std::uint64_t>(S, 1),
                            S, limits::kDownsample);
  const Units units = mlp_units(cfg, M, Units(3, {512, 512}));
  const nn::Pool pool = nn::parse_pool(json_string(cfg, ctx, "pooling", "max"));
  const nn::Interp interp = nn::parse_interp(json_string(cfg, ctx, "interpolation", "linear"));
  json_known_fields(cfg, ctx,
                    {"type", "input_size", "horizon", "outputs", "activation", "dropout", "n_blocks",
                     "pool_kernel", "freq_downsample", "mlp_units", "pooling", "interpolation"});
  std::vector<BlockSpec> blocks;
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t b = 0; b < n_blocks[s]; ++b) {
      BlockSpec bs;
      bs.pool_k = pool_k[s];
      bs.basis = Basis::identity;
      bs.knots = std::max<std::size_t>(c.H / fd[s], 1);
      bs.q_major = true;
      bs.mlp = blocks.size();
      bs.stack = s;
      blocks.push_back(bs);
    }
  }
  cfg["type"] = M;
  cfg["n_blocks"] = n_blocks;
  cfg["pool_kernel"] = pool_k;
  cfg["freq_downsample"] = fd;
  cfg["mlp_units"] = units;
  cfg["pooling"] = pool == nn::Pool::max ? "max" : "avg";
  cfg["interpolation"] = interp == nn::Interp::linear ? "linear" : "nearest";
  return make_residual_stacks<T>(M, cfg, c.L, c.H, c.Q, std::move(blocks), units, c.act, c.dropout, pool,
                                 interp);
}

}  // namespace

Entry nhits_entry() {
  return {{"nhits",
           "NHITS (Challu et al. 2023): multi-rate pooling, MLP blocks, interpolated forecast knots",
           json{{"type", "nhits"},
                {"input_size", 12},
                {"horizon", 4},
                {"mlp_units", {{8, 8}}},
                {"n_blocks", {1, 1}},
                {"pool_kernel", {2, 1}},
                {"freq_downsample", {2, 1}}},
           {"point", "quantiles"},
           {},
           false},
          [](const json& c) { return build_nhits<float>(c); },
          [](const json& c) { return build_nhits<double>(c); }};
}

}  // namespace ntn::models
