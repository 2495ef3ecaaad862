#include "ntn/quantize.h"

#include <cstring>

#include "ntn/error.h"
#include "ntn/kernels.h"

namespace ntn {

Artifact quantize(const Artifact& a, Precision to) {
  NTN_CHECK(a.model != nullptr, "quantize: artifact without a model");
  NTN_CHECK(a.linear_weights_loaded, "quantize: the artifact was loaded without its Linear weights (serving only)");
  NTN_CHECK(a.precision == Precision::fp32, "quantize: the artifact is already ", precision_name(a.precision),
            "; quantise its fp32 original instead");
  Artifact q;
  q.model = make_model<float>(a.model->config());
  auto& ps = q.model->params();
  std::memcpy(ps.values(), a.model->params().values(), ps.slab_size() * sizeof(float));
  q.precision = to;
  if (to != Precision::fp32) {
    for (std::size_t i = 0; i < ps.entries().size(); ++i) {
      const auto& e = ps.entries()[i];
      if (!e.packed()) continue;
      LowPrecisionWeight lp;
      lp.precision = to;
      lp.rows = std::size_t(e.shape[0]);
      lp.cols = std::size_t(e.shape[1]);
      float* w = ps.value(i);
      if (to == Precision::fp16) {
        lp.half.resize(e.size);
        for (std::size_t j = 0; j < e.size; ++j) lp.half[j] = f32_to_f16(w[j]);
      } else {
        lp.q.resize(e.size);
        lp.scale.resize(lp.rows);
        i8_quantize_rows(w, lp.rows, lp.cols, lp.q.data(), lp.scale.data());
      }
      lp.to_f32(w);  // the fp32 view holds what is stored
      q.low.emplace(e.name, std::move(lp));
    }
  }
  q.scaling = a.scaling;
  q.series = a.series;
  q.stats = a.stats;
  q.window_scaling = a.window_scaling;
  q.output = a.output;
  q.training = a.training;
  q.training["quantized_from"] = a.uuid;
  q.uuid = make_uuid();
  q.version = a.version;
  q.created = utc_now_iso8601();
  return q;
}

std::vector<float> forecast_test(Predictor& pred, const Prepared& p) {
  const std::size_t L = pred.input_size(), HQ = pred.output_size();
  NTN_CHECK(!p.test.empty(), "no test windows");
  std::vector<std::size_t> series(p.store.size());
  for (std::size_t s = 0; s < p.store.size(); ++s)
    series[s] = pred.artifact().scaling == SeriesScaling::none ? Predictor::kNoSeries
                                                                : pred.series_index(p.store.name(s));
  const std::size_t chunk = 4096;
  std::vector<float> x(chunk * L), out(p.test.size() * HQ);
  std::vector<std::size_t> rows(chunk);
  for (std::size_t r0 = 0; r0 < p.test.size(); r0 += chunk) {
    const std::size_t n = std::min(chunk, p.test.size() - r0);
    for (std::size_t i = 0; i < n; ++i) {
      const WindowRef w = p.test[r0 + i];
      denormalize(p.stats[w.series], p.store.data(w.series) + w.start, x.data() + i * L, L);
      rows[i] = series[w.series];
    }
    pred.predict_batch(x.data(), n, out.data() + r0 * HQ, rows.data());
  }
  for (std::size_t i = 0; i < p.test.size(); ++i)  // back to the store's scale for score_test
    normalize(p.stats[p.test[i].series], out.data() + i * HQ, out.data() + i * HQ, HQ);
  return out;
}

}  // namespace ntn
