#include "ntn/sampling.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>

#include "ntn/error.h"
#include "ntn/metrics.h"
#include "ntn/parallel.h"
#include "ntn/pipeline.h"
#include "ntn/pool.h"

namespace ntn {

using nlohmann::json;

void sample_paths(const Model<float>& model, const OutputSpec& spec, const Batch<float>& in, std::size_t P, std::uint64_t seed, std::size_t row0, float* out,
                  const nn::RunCtx& ctx) {
  NTN_CHECK(spec.kind == OutputKind::distribution, "sample paths need a distribution head (this model outputs ",
            output_kind_name(spec.kind), ")");
  NTN_CHECK(P >= 1, "sample paths: at least one path");
  NTN_CHECK(model_info(model.type()).ancestral, "model '", model.type(),
            "' draws no sample paths (only models whose steps read their earlier draws do: deepar)");
  model.sample(in, P, seed, row0, out, ctx);
}

namespace {
// Quantiles at levels (K, each in (0, 1)) of P values sorted ascending, linearly interpolated
// between order statistics (numpy's default): q[k].
void sorted_quantiles(const double* v, std::size_t P, const double* levels, std::size_t K, double* q) {
  for (std::size_t k = 0; k < K; ++k) {
    NTN_CHECK(levels[k] > 0 && levels[k] < 1, "quantile level ", levels[k], " is outside (0, 1)");
    const double pos = levels[k] * double(P - 1);
    const std::size_t i = std::size_t(pos);
    const double f = pos - double(i);
    q[k] = i + 1 < P ? v[i] + f * (v[i + 1] - v[i]) : v[i];
  }
}
}  // namespace

void summarize_paths(const double* paths, std::size_t P, std::size_t H, const double* levels, std::size_t K,
                     double* mean, double* q) {
  NTN_CHECK(P >= 1, "summarize_paths: no paths");
  std::vector<double> v(P);
  for (std::size_t h = 0; h < H; ++h) {
    double s = 0;
    for (std::size_t p = 0; p < P; ++p) s += v[p] = paths[p * H + h];
    if (mean) mean[h] = s / double(P);
    std::sort(v.begin(), v.end());
    sorted_quantiles(v.data(), P, levels, K, q + h * K);
  }
}

void sample_windows(const Model<float>& model, const OutputSpec& spec, const SeriesStore& store,
                    const std::vector<WindowRef>& windows, WindowScaling scaling, const SampleOptions& so,
                    std::size_t first, std::size_t count, float* out) {
  NTN_CHECK(first + count <= windows.size(), "sample_windows: windows [", first, ", ", first + count, ") of ",
            windows.size());
  const std::size_t L = model.input_size(), H = model.horizon(), P = so.paths;
  // Rows per call: their paths share the model's buffers (B * P rows of states).
  const std::size_t per = std::max<std::size_t>(1, std::min<std::size_t>(64, 4096 / std::max<std::size_t>(P, 1)));
  const std::size_t chunks = (count + per - 1) / per;
  const BatchAssembler assembler(store, {L, H}, scaling);
  std::exception_ptr err;
  SpinLock mu;
  parallel_chunks(chunks, [&](std::size_t c) {
    try {
      const std::size_t r0 = first + c * per, nb = std::min(per, first + count - r0);
      WindowBatch wb;
      wb.fill(assembler, windows.data() + r0, nb, /*with_target=*/false);
      float* o = out + (r0 - first) * P * H;
      sample_paths(model, spec, wb.view(), P, so.seed, r0, o, {});
      for (std::size_t b = 0; b < nb; ++b) {  // invert the window scaling (a location: v s + c)
        const NormStats& st = wb.stats[b];
        NTN_CHECK(st.center == 0 || spec.dist != DistKind::negative_binomial,
                  "negative_binomial: a count distribution cannot be shifted (the window scaler has center ",
                  st.center, "); use --window-scaler none");
        for (std::size_t i = 0; i < P * H; ++i) o[b * P * H + i] = float(st.invert(o[b * P * H + i]));
      }
    } catch (...) {  // never let an exception cross the parallel region
      std::lock_guard<SpinLock> g(mu);
      if (!err) err = std::current_exception();
    }
  });
  if (err) std::rethrow_exception(err);
}

json score_paths(const Artifact& a, const Prepared& p, const SampleOptions& so) {
  const Model<float>& m = *a.model;
  const std::size_t L = m.input_size(), H = m.horizon(), P = so.paths, N = p.test.size();
  NTN_CHECK(N > 0, "no test windows");
  std::vector<double> levels;  // per interval: its lower and upper quantile; then the median
  for (double c : so.intervals) {
    NTN_CHECK(c > 0 && c < 1, "interval ", c, " is outside (0, 1)");
    levels.push_back(0.5 - c / 2);
    levels.push_back(0.5 + c / 2);
  }
  levels.push_back(0.5);
  const std::size_t K = levels.size(), I = so.intervals.size();
  const bool original = p.protocol != Protocol::ltsf;
  double crps = 0, med_ae = 0, med_se = 0, mean_ae = 0, mean_se = 0;
  std::vector<double> covered(I, 0), width(I, 0);
  const std::size_t block = std::max<std::size_t>(1, std::min<std::size_t>(512, (std::size_t(1) << 24) / (P * H)));
  std::vector<float> paths(std::min(block, N) * P * H);
  std::vector<double> v(P), q(K), y(H);
  for (std::size_t s = 0; s < N; s += block) {
    const std::size_t n = std::min(block, N - s);
    sample_windows(m, a.output, p.store, p.test, a.window_scaling, so, s, n, paths.data());
    for (std::size_t i = 0; i < n; ++i) {
      const WindowRef w = p.test[s + i];
      const NormStats& st = p.stats[w.series];
      const float* sv = p.store.data(w.series);
      const float* pi = paths.data() + i * P * H;
      for (std::size_t h = 0; h < H; ++h) y[h] = sv[w.start + L + h];
      if (original) denormalize(st, y.data(), y.data(), H);
      for (std::size_t h = 0; h < H; ++h) {  // one sort per step serves the quantiles and the CRPS
        for (std::size_t k = 0; k < P; ++k) v[k] = pi[k * H + h];
        if (original) denormalize(st, v.data(), v.data(), P);
        double sum = 0;
        for (std::size_t k = 0; k < P; ++k) sum += v[k];
        std::sort(v.begin(), v.end());
        sorted_quantiles(v.data(), P, levels.data(), K, q.data());
        crps += crps_sorted(y[h], v.data(), P);
        const double med = q[K - 1], em = med - y[h], en = sum / double(P) - y[h];
        med_ae += std::fabs(em);
        med_se += em * em;
        mean_ae += std::fabs(en);
        mean_se += en * en;
        for (std::size_t c = 0; c < I; ++c) {
          const double lo = q[2 * c], hi = q[2 * c + 1];
          covered[c] += (y[h] >= lo && y[h] <= hi) ? 1 : 0;
          width[c] += hi - lo;
        }
      }
    }
  }
  const double cnt = double(N * H);
  json j = {{"paths", P},
            {"seed", so.seed},
            {"distribution", dist_name(a.output.dist)},
            {"crps", crps / cnt},
            {"median", {{"mae", med_ae / cnt}, {"mse", med_se / cnt}}},
            {"mean", {{"mae", mean_ae / cnt}, {"mse", mean_se / cnt}}}};
  json iv = json::array();
  for (std::size_t c = 0; c < I; ++c)
    iv.push_back({{"level", so.intervals[c]}, {"coverage", covered[c] / cnt}, {"mean_width", width[c] / cnt}});
  j["intervals"] = iv;
  return j;
}

}  // namespace ntn
