#include "ntn/quantize.h"

#include <cmath>
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
      if (to == Precision::fp16 || to == Precision::bf16) {
        lp.half.resize(e.size);
        narrow_to_16(to, w, e.size, lp.half.data());
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
  q.covariates = a.covariates;
  q.training = a.training;
  q.training["quantized_from"] = a.uuid;
  q.uuid = make_uuid();
  q.version = a.version;
  q.created = utc_now_iso8601();
  return q;
}

nlohmann::json quantization_report(const std::string& fp32_path, const std::string& quantized_path,
                                   const Prepared* p) {
  Predictor f(fp32_path, {.workspaces = 0});
  const Artifact& a = f.artifact();
  NTN_CHECK(a.precision == Precision::fp32, fp32_path, ": not an fp32 artifact");
  const Precision to = Artifact::load(quantized_path, false).precision;
  Predictor q(quantized_path, {.precision = to, .workspaces = 0});
  NTN_CHECK(q.artifact().training.value("quantized_from", "") == a.uuid, quantized_path,
            ": not a quantised copy of ", fp32_path, " (its quantized_from is not that model's uuid)");
  nlohmann::json j = {{"model", fp32_path},
                      {"out", quantized_path},
                      {"precision", precision_name(to)},
                      {"packed_bytes", {{"fp32", f.packed_bytes()}, {precision_name(to), q.packed_bytes()}}}};
  if (!p) return j;
  const std::vector<float> ff = forecast_test(f, *p), fq = forecast_test(q, *p);
  const nlohmann::json mf = score_test(a, *p, ff.data()).to_json(), mq = score_test(a, *p, fq.data()).to_json();
  nlohmann::json rep = {{"windows", mf["windows"]}, {"scale", mf["scale"]}};
  for (const char* k : {"mae", "mse", "smape"}) {
    rep[k] = {{"fp32", mf[k]}, {precision_name(to), mq[k]}};
    const double ref = mf[k].get<double>();
    rep[k]["relative_change"] = ref != 0 ? (mq[k].get<double>() - ref) / ref : 0.0;
  }
  double diff = 0;
  for (std::size_t i = 0; i < ff.size(); ++i) diff += std::fabs(double(ff[i]) - fq[i]);
  rep["mean_abs_forecast_change"] = diff / double(ff.size());
  j["accuracy"] = rep;
  return j;
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
  const Covariates c = pred.covariates();
  NTN_CHECK(c == p.store.covariates(), "forecast_test: the data's covariates differ from the model's");
  // Covariate models: the windows and their covariates go back to the data's own scale (the
  // predictor applies its stored scalers), in double.
  std::vector<double> xd, hist, futr, stat, yd;
  auto raw = [](const float* v, std::size_t steps, const std::vector<CovariateColumn>& cols, double* dst) {
    const std::size_t C = cols.size();
    for (std::size_t t = 0; t < steps; ++t)
      for (std::size_t k = 0; k < C; ++k)
        dst[t * C + k] = cols[k].stats.invert(double(v[t * C + k]));
  };
  for (std::size_t r0 = 0; r0 < p.test.size(); r0 += chunk) {
    const std::size_t n = std::min(chunk, p.test.size() - r0);
    if (c.any()) {
      const std::size_t H = pred.horizon();
      xd.resize(n * L);
      hist.resize(n * L * c.hist);
      futr.resize(n * (L + H) * c.futr);
      stat.resize(n * c.stat);
      yd.resize(n * HQ);
      for (std::size_t i = 0; i < n; ++i) {
        const WindowRef w = p.test[r0 + i];
        const NormStats st = p.stats[w.series];
        for (std::size_t t = 0; t < L; ++t) xd[i * L + t] = st.invert(double(p.store.data(w.series)[w.start + t]));
        raw(p.store.hist(w.series) + w.start * c.hist, L, p.covariates.hist, hist.data() + i * L * c.hist);
        raw(p.store.futr(w.series) + w.start * c.futr, L + H, p.covariates.futr, futr.data() + i * (L + H) * c.futr);
        raw(p.store.stat(w.series), 1, p.covariates.stat, stat.data() + i * c.stat);
        rows[i] = series[w.series];
      }
      pred.predict_batch(xd.data(), n, yd.data(), RawCovariates{hist.data(), futr.data(), stat.data()}, rows.data());
      for (std::size_t i = 0; i < n * HQ; ++i) out[r0 * HQ + i] = float(yd[i]);
      continue;
    }
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
