// Forecast distributions from sample paths: models with a distribution head whose steps read
// their earlier draws (ModelInfo::ancestral: DeepAR) give P paths per window by true ancestral
// sampling (Model::sample), and the paths give the mean, the median and any quantile per step,
// scored by CRPS and interval coverage.
//
// Seeded: path p of window row r draws from path_rng(seed, r, p) (heads.h), so a window's paths
// are the same alone, in any batch, on any thread count.
//
// Intended usage:
//   std::vector<float> paths(B * 100 * H);
//   ntn::sample_paths(*model, spec, batch, 100, /*seed=*/1, /*row0=*/0, paths.data());
//   ntn::summarize_paths(paths_of_one_row_as_double, 100, H, levels, K, mean, q);
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ntn/dataset.h"
#include "ntn/heads.h"
#include "ntn/models.h"

namespace ntn {

struct Prepared;
struct Artifact;

// out (B, P, H): P paths per row of `in`, on the model's (scaled) space. spec must be a
// distribution and the model ancestral (an error names the model otherwise).
void sample_paths(const Model<float>& model, const OutputSpec& spec, const Batch<float>& in, std::size_t paths,
                  std::uint64_t seed, std::size_t row0, float* out, const nn::RunCtx& ctx = {});

// Per step of P paths (P, H): the mean, and the quantile at each of the K levels in (0, 1)
// (linear interpolation between order statistics: numpy's default) -> mean (H), q (H, K).
void summarize_paths(const double* paths, std::size_t P, std::size_t H, const double* levels, std::size_t K,
                     double* mean, double* q);

// What evaluate_test draws for a distribution model.
struct SampleOptions {
  std::size_t paths = 100;               // per window
  std::uint64_t seed = 1;
  std::vector<double> intervals = {0.8, 0.9};  // central intervals whose coverage is reported
};

// Paths of every window (N, P, H) on the scale of `store` (the window scaling inverted), chunked
// and run on the thread pool.
void sample_windows(const Model<float>& model, const OutputSpec& spec, const SeriesStore& store,
                    const std::vector<WindowRef>& windows, WindowScaling scaling, const SampleOptions& so,
                    std::size_t first, std::size_t count, float* out);

// The probabilistic scores of a distribution artifact on p's test windows, on the scale
// evaluate_test uses (ltsf: normalised, else original): CRPS (the samples' empirical CRPS), the
// MAE / MSE of the paths' median and mean, and per interval its coverage and mean width.
nlohmann::json score_paths(const Artifact& a, const Prepared& p, const SampleOptions& so = {});

}  // namespace ntn
