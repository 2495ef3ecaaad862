// libFuzzer target: the model-artifact loader on arbitrary bytes, then one forecast. Built with
// FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION so the checksum does not stop the exploration of
// what lies behind it (shapes, offsets, metadata, configs, scalers, weights). Every outcome is
// a loaded model whose forecast is finite, or an ntn::Error.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ntn/error.h"
#include "ntn/parallel.h"
#include "ntn/predictor.h"
#include "ntn/safetensors.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ntn::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto file = std::make_shared<const ntn::SafeTensorsFile>(
        ntn::SafeTensorsFile::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.ntn"));
    ntn::Artifact a = ntn::Artifact::from_file(file, /*linear_weights=*/false);
    // Keep each run small: the loader's limits allow models far larger than a fuzz run wants.
    if (a.model->params().count() > (1u << 20) || a.model->input_size() > 4096) return 0;
    ntn::Predictor p(std::move(a), {.max_batch = 2, .warm_up = false, .workspaces = 1});
    std::vector<float> x(p.input_size()), y(p.output_size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 100.0f + float(i % 7);
    const std::size_t series = p.artifact().stats.size() > 0 ? 0 : ntn::Predictor::kNoSeries;
    const ntn::Covariates c = p.covariates();
    if (!c.any()) {
      p.predict(x.data(), y.data(), series);
      for (float v : y)
        if (!std::isfinite(v)) __builtin_trap();  // a returned forecast is always finite
      if (p.artifact().output.kind == ntn::OutputKind::distribution) {  // and so is every sampled path
        const std::size_t P = 3;
        std::vector<double> xd(x.begin(), x.end()), paths(P * p.horizon());
        p.sample_batch(xd.data(), 1, P, 1, paths.data(), &series);
        for (double v : paths)
          if (!std::isfinite(v)) __builtin_trap();
      }
      return 0;
    }
    // A covariate model: raw covariates at a plausible level (each column's stored center).
    const std::size_t L = p.input_size(), H = p.horizon();
    std::vector<double> xd(x.begin(), x.end()), yd(p.output_size()), hist(L * c.hist), futr((L + H) * c.futr),
        stat(c.stat, 1.0);
    for (std::size_t i = 0; i < hist.size(); ++i) hist[i] = p.artifact().covariates.hist[i % c.hist].stats.center + 1;
    for (std::size_t i = 0; i < futr.size(); ++i) futr[i] = p.artifact().covariates.futr[i % c.futr].stats.center;
    p.predict_batch(xd.data(), 1, yd.data(), ntn::RawCovariates{hist.data(), futr.data(), stat.data()}, &series);
    for (double v : yd)
      if (!std::isfinite(v)) __builtin_trap();
  } catch (const ntn::Error&) {
  }
  return 0;
}
