// ntneural train / evaluate / predict.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "commands.h"
#include "common.h"
#include "ntn/error.h"
#include "ntn/forecast_cache.h"
#include "ntn/parallel.h"
#include "ntn/pipeline.h"
#include "ntn/predictor.h"
#include "ntn/quantize.h"
#include "ntn/safetensors.h"
#include "ntn/timing.h"
#include "ntn/trainer.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct TrainOpts {
  DataOpts data;
  std::string model = "nhits", config, out, mlp_units, activation, pooling, interpolation;
  std::size_t input_size = 0, horizon = 0, hidden = 0, layers = 0;
  float dropout = -1.0f;
  std::string loss = "mae", quantiles;
  float huber_delta = 1.0f;
  std::string optimizer = "adam", schedule = "step", window_scaler, decay_on = "all";
  float lr = 1e-3f, weight_decay = 0.0f, clip = 0.0f;
  std::size_t lr_decays = 3;
  std::uint64_t max_steps = 1000, epochs = 0, seed = 1, val_every = 100, patience = 0, checkpoint_every = 0;
  std::size_t batch = 32, micro = 4, val_batch = 1024;
  double min_delta = 0;
  int threads = 0;
  std::string checkpoint;
  bool resume = false, json = false, quiet = false;
};

json load_config(const std::string& s) {
  if (s.empty()) return json::object();
  std::string text = s;
  if (std::filesystem::exists(s)) text = read_file(s);
  try {
    json j = json::parse(text);
    NTN_CHECK(j.is_object(), "--config: expected a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(cat("--config: '", s, "' is neither a readable file nor valid JSON (", e.what(), ")"));
  }
}

json parse_mlp_units(const std::string& s) {
  json units = json::array();
  for (const auto& pair : split_list(s, "--mlp-units")) {
    const auto x = pair.find('x');
    NTN_CHECK(x != std::string::npos, "--mlp-units: '", pair, "' is not WIDTHxWIDTH (e.g. 512x512)");
    units.push_back({parse_uint("--mlp-units", pair.substr(0, x), limits::kWidth),
                     parse_uint("--mlp-units", pair.substr(x + 1), limits::kWidth)});
  }
  return units;
}

int run_train(const TrainOpts& o) {
  set_num_threads(o.threads);
  const std::string config_file = !o.config.empty() && std::filesystem::exists(o.config) ? o.config : "";
  check_output_path("--out", o.out, {{"--data", o.data.path}, {"--test-data", o.data.test_path},
                                      {"--config", config_file}, {"--checkpoint", o.checkpoint}});
  if (!o.checkpoint.empty())
    check_output_path("--checkpoint", o.checkpoint,
                      {{"--data", o.data.path}, {"--test-data", o.data.test_path}, {"--config", config_file}});
  const DataSpec spec = data_spec(o.data);
  std::size_t H = o.horizon;
  if (H == 0 && spec.protocol != Protocol::m4) H = 24;
  // Input length: the authors' choices per protocol unless given (m4: 2 H, ltsf: 5 H).
  std::size_t L = o.input_size;
  auto default_L = [&](std::size_t h) {
    return spec.protocol == Protocol::m4 ? 2 * h : spec.protocol == Protocol::ltsf ? 5 * h : 168;
  };
  if (L == 0 && H > 0) L = default_L(H);
  Prepared p;
  if (L == 0) {  // m4 with the horizon taken from the test file: read it first
    std::size_t h = 0;
    p = prepare(spec, 1, h);
    H = h;
    L = default_L(H);
  }
  p = prepare(spec, L, H);

  const std::vector<float> quantiles = parse_floats(o.quantiles, "--quantiles", limits::kQuantile);
  json cfg = load_config(o.config);
  cfg["type"] = o.model;
  cfg["input_size"] = L;
  cfg["horizon"] = H;
  cfg["outputs"] = std::max<std::size_t>(quantiles.size(), 1);
  const Covariates cov = p.covariates.counts();
  if (cov.any()) {
    cfg["hist_exog"] = cov.hist;
    cfg["futr_exog"] = cov.futr;
    cfg["stat_exog"] = cov.stat;
  }
  if (!o.mlp_units.empty()) cfg["mlp_units"] = parse_mlp_units(o.mlp_units);
  if (o.hidden) cfg["hidden_size"] = o.hidden;
  if (o.layers) cfg["num_layers"] = o.layers;
  if (!o.activation.empty()) cfg["activation"] = o.activation;
  if (!o.pooling.empty()) cfg["pooling"] = o.pooling;
  if (!o.interpolation.empty()) cfg["interpolation"] = o.interpolation;
  if (o.dropout >= 0) cfg["dropout"] = o.dropout;
  auto model = make_model<float>(cfg);
  model->init(o.seed);

  TrainConfig tc;
  tc.max_steps = o.max_steps;
  tc.epochs = o.epochs;
  tc.batch_size = o.batch;
  tc.micro_batches = o.micro;
  tc.val_batch = o.val_batch;
  tc.seed = o.seed;
  tc.loss = parse_loss(o.loss, quantiles, o.huber_delta);
  tc.optim.name = o.optimizer;
  tc.optim.lr = o.lr;
  tc.optim.weight_decay = o.weight_decay;
  tc.optim.decay_on = o.decay_on;
  tc.clip_norm = o.clip;
  tc.schedule.name = o.schedule;
  tc.window_scaling = parse_window_scaling(
      !o.window_scaler.empty() ? o.window_scaler : spec.protocol == Protocol::m4 ? "robust" : "none");
  tc.val_every = o.val_every;
  tc.patience = o.patience;
  tc.min_delta = o.min_delta;
  tc.checkpoint_path = o.checkpoint;
  tc.checkpoint_every = o.checkpoint_every;
  tc.log_every = o.quiet ? 0 : 50;
  tc.lr_decays = o.lr_decays;
  derive_schedule(tc, p.train.size());
  Trainer trainer(*model, p.store, p.train, p.val, tc);
  if (!o.quiet) trainer.on_log = report_progress;
  if (o.resume) {
    NTN_CHECK(!o.checkpoint.empty(), "--resume needs --checkpoint FILE");
    if (std::filesystem::exists(o.checkpoint)) trainer.resume(o.checkpoint);
  }
  const TrainSummary summary = trainer.run();

  Artifact a;
  a.model = std::move(model);
  a.scaling = p.scaling;
  for (std::size_t s = 0; s < p.store.size(); ++s) a.series.push_back(p.store.name(s));
  a.stats = p.stats;
  a.window_scaling = tc.window_scaling;
  a.output = quantiles.empty() ? OutputSpec::point() : OutputSpec::quantiles(quantiles);
  a.covariates = p.covariates;
  a.uuid = make_uuid();
  a.version = NTN_VERSION;
  a.created = utc_now_iso8601();
  a.training = {{"config", tc.to_json()}, {"summary", summary.to_json()}, {"data", p.describe()},
                {"threads", num_threads()}};
  json result = {{"model", o.out},
                 {"uuid", a.uuid},
                 {"model_type", a.model->type()},
                 {"parameters", a.model->params().count()},
                 {"input_size", L},
                 {"horizon", H},
                 {"train", summary.to_json()}};
  if (cov.any()) result["covariates"] = p.covariates.to_json();
  if (!p.test.empty()) result["test"] = evaluate_test(a, p).to_json();
  a.save(o.out);  // after the test scoring: a model whose forecasts cannot be scored is never written
  if (o.json) {
    std::printf("%s\n", result.dump().c_str());
  } else {
    std::printf("model saved to %s (%s, %zu parameters, uuid %s)\n", o.out.c_str(), a.model->type().c_str(),
                a.model->params().count(), a.uuid.c_str());
    std::printf("trained %llu steps in %.1f s, last train loss %.5f", (unsigned long long)summary.steps,
                summary.seconds, summary.last_train_loss);
    if (summary.best_val_loss >= 0)
      std::printf(", best validation loss %.5f at step %llu", summary.best_val_loss,
                  (unsigned long long)summary.best_step);
    std::printf("\n");
    if (result.contains("test")) {
      const json& t = result["test"];
      std::printf("test: %zu windows, %s scale\n", t["windows"].get<std::size_t>(),
                  t["scale"].get<std::string>().c_str());
      std::printf("  %-22s %12s %12s\n", "metric", "model", "naive");
      for (const char* k : {"mae", "mse", "smape", "mase"})
        if (t.contains(k))
          std::printf("  %-22s %12.5g %12.5g\n", k, t[k].get<double>(), t["naive"].value(k, -1.0));
      std::printf("  %-22s %12.3f\n", "directional_accuracy", t["directional_accuracy"].get<double>());
      if (t.contains("mae_over_naive"))
        std::printf("  %-22s %12.3f\n", "mae_over_naive", t["mae_over_naive"].get<double>());
    }
  }
  return 0;
}

struct EvalOpts {
  DataOpts data;
  std::string model;
  int threads = 0;
  bool json = false;
};

int run_evaluate(const EvalOpts& o) {
  set_num_threads(o.threads);
  const Artifact a = Artifact::load(o.model);
  std::size_t H = a.model->horizon();
  const Prepared p = prepare(data_spec_for(o.data, a), a.model->input_size(), H);
  const TestMetrics m = evaluate_test(a, p);
  json j = m.to_json();
  j["model"] = o.model;
  j["uuid"] = a.uuid;
  print_result(j, o.json);
  return 0;
}

struct PredictOpts {
  DataOpts data;
  std::string model, format = "wide", precision = "fp32", series, future;
  std::size_t batch = 32, cache = 0;
  int threads = 0;
  bool json = false, stream = false;
};

// Text of a forecast value: 6 significant digits of the series' variation (its scaler's scale),
// so a 1e13-level series prints its moves, and a 100-level one is not padded with noise; without
// a series scaler (scale 0), float32's 7 significant digits.
std::string fmt_value(double v, double scale) {
  int digits = scale > 0 ? 6 : 7;
  if (v != 0 && scale > 0) digits += std::max(0, int(std::ceil(std::log10(std::fabs(v) / scale))));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", std::min(digits, 17), v);
  return buf;
}

template <class T>
void print_forecast_row(const std::string& name, const T* f, std::size_t H, std::size_t Q, double scale) {
  for (std::size_t h = 0; h < H; ++h) {
    std::printf("%s,%zu", name.c_str(), h + 1);
    for (std::size_t q = 0; q < Q; ++q) std::printf(",%s", fmt_value(double(f[h * Q + q]), scale).c_str());
    std::printf("\n");
  }
}

template <class T>
json forecast_json(const T* f, std::size_t H, std::size_t Q) {
  json steps = json::array();
  for (std::size_t h = 0; h < H; ++h) {
    if (Q == 1)
      steps.push_back(f[h]);
    else
      steps.push_back(std::vector<T>(f + h * Q, f + (h + 1) * Q));
  }
  return steps;
}

json cache_json(const ForecastCache& c) {
  const auto m = c.metrics();
  return {{"hits", m.hits}, {"misses", m.misses}, {"hit_rate", m.hit_rate()}, {"evictions", m.evictions}};
}

// --stream: one observation per stdin line; once L have arrived, one forecast per line.
int run_stream(const PredictOpts& o, Predictor& p, std::size_t series) {
  const std::size_t H = p.horizon(), Q = p.outputs();
  StreamingPredictor s(p, series);
  std::unique_ptr<ForecastCache> cache;
  if (o.cache) cache = std::make_unique<ForecastCache>(p.input_size(), p.output_size(), ForecastCache::Config{o.cache});
  std::vector<float> y(p.output_size());
  const double scale = p.artifact().scaling == SeriesScaling::none ? 0.0 : p.series_stats(series).scale;
  StreamLineParser parser([&](float value, std::size_t lineno) {
    if (!s.append(value)) return;
    if (!cache || !cache->get(p.model_key(), series, s.window(), y.data())) {
      s.forecast(y.data());
      if (cache) cache->put(p.model_key(), series, s.window(), y.data());
    }
    if (o.json) {
      std::printf("%s\n", json({{"t", lineno}, {"forecast", forecast_json(y.data(), H, Q)}}).dump().c_str());
    } else {
      for (std::size_t i = 0; i < H * Q; ++i)
        std::printf("%s%s", i ? "," : "", fmt_value(double(y[i]), scale).c_str());
      std::printf("\n");
    }
    NTN_CHECK(std::fflush(stdout) == 0, "cannot write the forecast to stdout");
  });
  // read(2), not stdio: a forecast is printed as soon as its line arrives on a pipe.
  char buf[1 << 16];
  for (;;) {
    const ssize_t got = ::read(0, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    NTN_CHECK(got >= 0, "cannot read stdin: ", std::strerror(errno));
    if (got == 0) break;
    parser.feed(buf, std::size_t(got));
  }
  parser.finish();
  if (cache) std::fprintf(stderr, "cache %s\n", cache_json(*cache).dump().c_str());
  return 0;
}

int run_predict(const PredictOpts& o) {
  set_num_threads(o.threads);
  Predictor p(o.model, {.precision = parse_precision(o.precision), .max_batch = o.batch});
  const Artifact& a = p.artifact();
  const std::size_t L = p.input_size(), H = p.horizon(), Q = p.outputs();
  auto series_of = [&](const std::string& name, const std::string& src) {
    if (a.scaling == SeriesScaling::none) return Predictor::kNoSeries;
    NTN_CHECK(std::find(a.series.begin(), a.series.end(), name) != a.series.end(), src, ": series '", name,
              "' was not in the training data; its scaler is unknown (trained on ", a.series.size(), " series, e.g. '",
              a.series.front(), "')");
    return p.series_index(name);
  };
  if (o.stream) {
    NTN_CHECK(o.data.path.empty(), "--stream reads the values from stdin; drop --data");
    const std::size_t s = o.series.empty() ? (a.series.size() == 1 ? series_of(a.series[0], "--series")
                                                                     : series_of("", "--series"))
                                           : series_of(o.series, "--series");
    return run_stream(o, p, s);
  }
  NTN_CHECK(!o.data.path.empty(), "--data is required (or --stream to read values from stdin)");
  std::vector<std::string> names;
  // (series, L): the last L values of each, original scale, in double (the predictor scales
  // them in double: a series far from zero keeps its digits) and float (the cache's keys).
  std::vector<double> xd;
  std::vector<float> x;
  std::vector<std::size_t> series;
  // Each series' values are checked to fit float32 first (file:line: column otherwise).
  auto add = [&](const std::string& name, const std::vector<double>& v, const std::string& src, auto check_f32) {
    NTN_CHECK(v.size() >= L, src, ": series '", name, "' has ", v.size(), " values, the model needs the last ", L);
    series.push_back(series_of(name, src));
    names.push_back(name);
    const std::vector<float> f = check_f32(v.size() - L);
    x.insert(x.end(), f.begin(), f.end());
    xd.insert(xd.end(), v.end() - std::ptrdiff_t(L), v.end());
  };
  const Covariates cov = p.covariates();
  RawCovariateTable table;  // covariate models: the raw covariates of the history and the steps ahead
  if (o.format == "m4") {
    NTN_CHECK(!cov.any(), "--format m4 holds no covariates, but the model takes some");
    NTN_CHECK(o.future.empty(), "--future applies to wide files with covariates");
    const SeriesSet s = read_m4_csv(o.data.path);
    for (std::size_t i = 0; i < s.size(); ++i)
      add(s.ids[i], s.values[i], o.data.path, [&](std::size_t first) { return series_f32(s, i, first); });
  } else {
    NTN_CHECK(o.format == "wide", "--format must be wide or m4 (got '", o.format, "')");
    NTN_CHECK(cov.futr > 0 || o.future.empty(), "--future: the model takes no future-known covariates");
    CsvOptions c = data_spec(o.data).csv;
    if (c.columns.empty() && (a.scaling != SeriesScaling::none || cov.any())) c.columns = a.series;
    const std::size_t targets = c.columns.size();
    const std::vector<std::string> cov_cols = a.covariates.columns();
    c.columns.insert(c.columns.end(), cov_cols.begin(), cov_cols.end());
    const Frame f = read_wide_csv(o.data.path, c);
    const std::size_t n_targets = cov.any() ? targets : f.names.size();
    for (std::size_t i = 0; i < n_targets; ++i)
      add(f.names[i], f.cols[i], o.data.path, [&](std::size_t first) { return column_f32(f, i, first); });
    if (cov.any()) {
      std::optional<Frame> future;
      if (!o.future.empty()) {
        CsvOptions fc;
        fc.time_column = c.time_column;
        fc.fill = c.fill;
        for (const auto& col : a.covariates.futr)
          if (!col.calendar) fc.columns.push_back(col.name);
        future = read_wide_csv(o.future, fc);
      }
      table = raw_covariates(a.covariates, f, future ? &*future : nullptr, H);
    }
  }
  const std::size_t n = names.size();
  std::vector<double> out(n * H * Q);
  std::unique_ptr<ForecastCache> cache;
  const double t0 = now_s();
  if (cov.any()) {  // every series shares the file's covariates: the last L (+ H) rows, one copy per row
    NTN_CHECK(!o.cache, "--cache serves models without covariates only");
    const std::size_t R = table.rows;
    std::vector<double> hist, futr, stat;
    for (std::size_t i = 0; i < n; ++i) {
      hist.insert(hist.end(), table.hist.begin() + std::ptrdiff_t((R - L) * cov.hist), table.hist.end());
      futr.insert(futr.end(), table.futr.begin() + std::ptrdiff_t((R - L) * cov.futr), table.futr.end());
      stat.insert(stat.end(), table.stat.begin(), table.stat.end());
    }
    p.predict_batch(xd.data(), n, out.data(), RawCovariates{hist.data(), futr.data(), stat.data()}, series.data());
  } else if (o.cache) {  // the cache serves float32 windows and forecasts
    cache = std::make_unique<ForecastCache>(L, H * Q, ForecastCache::Config{o.cache});
    std::vector<float> y(H * Q);
    for (std::size_t i = 0; i < n; ++i) {
      predict_cached(p, *cache, x.data() + i * L, y.data(), series[i]);
      std::copy(y.begin(), y.end(), out.begin() + std::ptrdiff_t(i * H * Q));
    }
  } else {
    p.predict_batch(xd.data(), n, out.data(), series.data());
  }
  const double secs = now_s() - t0;
  if (o.json) {
    json fc = json::object();
    for (std::size_t s = 0; s < n; ++s) fc[names[s]] = forecast_json(out.data() + s * H * Q, H, Q);
    json j = {{"model", o.model}, {"uuid", a.uuid}, {"horizon", H},          {"forecasts", fc},
              {"seconds", secs},  {"precision", precision_name(p.precision())}};
    if (!a.output.levels.empty()) j["quantiles"] = a.output.levels;
    if (a.output.kind == OutputKind::distribution) j["output"] = a.output.to_json();
    if (cache) j["cache"] = cache_json(*cache);
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("series,step");
  // One column per output: a single-quantile model has one; a distribution its parameters.
  if (a.output.kind == OutputKind::point) std::printf(",forecast");
  for (float q : a.output.levels) std::printf(",q%g", double(q));
  if (a.output.kind == OutputKind::distribution)
    std::printf(a.output.dist == DistKind::gaussian ? ",mu,sigma" : ",mu,sigma,nu");
  std::printf("\n");
  for (std::size_t s = 0; s < n; ++s)
    print_forecast_row(names[s], out.data() + s * H * Q, H, Q,
                       a.scaling == SeriesScaling::none ? 0.0 : p.series_stats(series[s]).scale);
  return 0;
}

struct QuantizeOpts {
  DataOpts data;
  std::string model, out, to = "int8";
  int threads = 0;
  bool json = false;
};

// Writes the quantised artifact, then (with --data) scores fp32 and the quantised model on the
// protocol's test windows through the same Predictor path.
int run_quantize(const QuantizeOpts& o) {
  set_num_threads(o.threads);
  const Precision to = parse_precision(o.to);
  NTN_CHECK(to != Precision::fp32, "--to must be fp16 or int8");
  check_output_path("--out", o.out, {{"--model", o.model}, {"--data", o.data.path}, {"--test-data", o.data.test_path}});
  // Every input is read and validated before the output is created.
  const Artifact a = Artifact::load(o.model);
  std::optional<Prepared> p;
  if (!o.data.path.empty()) {
    std::size_t H = a.model->horizon();
    p = prepare(data_spec_for(o.data, a), a.model->input_size(), H);
  }
  quantize(a, to).save(o.out);
  json j = {{"model", o.model}, {"out", o.out}, {"precision", precision_name(to)}};
  {
    Predictor q(o.out, {.precision = to});
    Predictor f(o.model);
    j["packed_bytes"] = {{"fp32", f.packed_bytes()}, {precision_name(to), q.packed_bytes()}};
  }
  if (p) {
    Predictor pf(o.model, {.workspaces = 0});
    Predictor pq(o.out, {.precision = to, .workspaces = 0});
    const std::vector<float> ff = forecast_test(pf, *p), fq = forecast_test(pq, *p);
    const json mf = score_test(a, *p, ff.data()).to_json(), mq = score_test(a, *p, fq.data()).to_json();
    json rep = {{"windows", mf["windows"]}, {"scale", mf["scale"]}};
    for (const char* k : {"mae", "mse", "smape"}) {
      rep[k] = {{"fp32", mf[k]}, {precision_name(to), mq[k]}};
      const double ref = mf[k].get<double>();
      rep[k]["relative_change"] = ref != 0 ? (mq[k].get<double>() - ref) / ref : 0.0;
    }
    double diff = 0;
    for (std::size_t i = 0; i < ff.size(); ++i) diff += std::fabs(double(ff[i]) - fq[i]);
    rep["mean_abs_forecast_change"] = diff / double(ff.size());
    j["accuracy"] = rep;
  }
  print_result(j, o.json);
  return 0;
}

}  // namespace

Run add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOpts>();
  add_data_options(app, o->data, true);
  add_covariate_options(app, o->data);
  app.add_option("--model", o->model, "Model type (default nhits): " + model_names() + " (ntneural models)");
  app.add_option("--config", o->config, "Model config: a JSON file or inline JSON (flags below override it)");
  app.add_option("--out", o->out, "Artifact to write (safetensors + JSON metadata)")->required();
  add_uint(app, "--input-size", o->input_size, limits::kWindow, "Input window L (default: m4 2H, ltsf 5H, else 168)");
  add_uint(app, "--horizon", o->horizon, limits::kHorizon, "Forecast horizon H (default 24; m4: from the test file)");
  app.add_option("--mlp-units", o->mlp_units, "Block MLP pairs, e.g. 512x512,512x512 (nhits/nbeats)");
  add_uint(app, "--hidden", o->hidden, limits::kWidth, "Hidden width (mlp model)");
  add_uint(app, "--layers", o->layers, limits::kLayers, "Hidden layers (mlp model)");
  app.add_option("--activation", o->activation, "relu, gelu, tanh, sigmoid, softplus, silu");
  app.add_option("--pooling", o->pooling, "nhits pooling: max or avg");
  app.add_option("--interpolation", o->interpolation, "nhits interpolation: linear or nearest");
  add_real(app, "--dropout", o->dropout, limits::kDropout, "Dropout probability after each hidden activation");
  app.add_option("--loss", o->loss, "mae (default), mse, huber, mq (multi-quantile, needs --quantiles)");
  app.add_option("--quantiles", o->quantiles, "Quantile levels for --loss mq, e.g. 0.1,0.5,0.9");
  add_real(app, "--huber-delta", o->huber_delta, limits::kHuberDelta, "Huber delta");
  app.add_option("--optimizer", o->optimizer, "adam (default), adamw, sgd, rmsprop");
  add_real(app, "--lr", o->lr, limits::kLr, "Learning rate (default 1e-3)");
  add_real(app, "--weight-decay", o->weight_decay, limits::kWeightDecay, "Weight decay");
  app.add_option("--decay-on", o->decay_on,
                 "Parameters that decay: all (default, as PyTorch) or weights (matrices, kernels, embeddings; "
                 "not biases or norms)")
      ->check(CLI::IsMember({"all", "weights"}));
  app.add_option("--schedule", o->schedule, "step (default: halve --lr-decays times), cosine, constant, plateau");
  add_uint(app, "--lr-decays", o->lr_decays, limits::kLrDecays, "Number of halvings of the step schedule (default 3)");
  add_real(app, "--clip", o->clip, limits::kClip, "Global gradient-norm clip (0: off)");
  add_uint(app, "--max-steps", o->max_steps, limits::kSteps, "Optimizer steps (default 1000)");
  add_uint(app, "--epochs", o->epochs, limits::kEpochs, "Train for this many epochs instead of --max-steps");
  add_uint(app, "--batch", o->batch, limits::kBatch, "Windows per batch (default 32)");
  add_uint(app, "--micro-batches", o->micro, limits::kMicroBatches, "Fixed micro-batch split of each batch (default 4)");
  add_uint(app, "--val-batch", o->val_batch, limits::kBatch, "Windows per validation batch");
  app.add_option("--window-scaler", o->window_scaler, "Per-window scaling: none, standard, robust (m4 default robust)");
  add_uint(app, "--seed", o->seed, limits::kSeed, "Random seed (weights, data order, dropout)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  add_uint(app, "--val-every", o->val_every, limits::kEvery, "Validate every N steps (0: never)");
  add_uint(app, "--patience", o->patience, limits::kPatience,
           "Early stopping after N validations without improvement (0: off)");
  add_real(app, "--min-delta", o->min_delta, limits::kMinDelta, "Improvement that resets the patience");
  app.add_option("--checkpoint", o->checkpoint, "Checkpoint file (written atomically)");
  add_uint(app, "--checkpoint-every", o->checkpoint_every, limits::kEvery, "Steps between checkpoints");
  app.add_flag("--resume", o->resume, "Continue from --checkpoint if it exists");
  app.add_flag("--json", o->json, "Print the result as one JSON object");
  app.add_flag("--quiet", o->quiet, "No progress output");
  return [o] { return run_train(*o); };
}

Run add_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvalOpts>();
  app.add_option("--model", o->model, "Model artifact")->required();
  add_data_options(app, o->data, true);
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object (mse, mae, rmse, smape, mase, ...)");
  return [o] { return run_evaluate(*o); };
}

Run add_predict(CLI::App& app) {
  auto o = std::make_shared<PredictOpts>();
  app.add_option("--model", o->model, "Model artifact")->required();
  add_data_options(app, o->data, false, /*data_required=*/false);
  app.add_option("--format", o->format, "wide (default) or m4");
  app.add_option("--precision", o->precision, "Serve the weights as fp32 (default), fp16 or int8");
  add_uint(app, "--batch", o->batch, limits::kBatch, "Rows per forward pass and thread (default 32)");
  add_uint(app, "--cache", o->cache, limits::kCache, "Serve through a forecast cache of this many entries (0: none)");
  app.add_flag("--stream", o->stream, "Read one value per line from stdin; print a forecast per line once the "
                                      "input window is full");
  app.add_option("--series", o->series, "--stream: the series the values belong to (its scaler)");
  app.add_option("--future", o->future,
                 "Models with future-known covariates: a CSV of the rows after --data's last row (time column + "
                 "those columns, at least the horizon); calendar features need no file");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print JSON (one object; with --stream one object per line)");
  return [o] { return run_predict(*o); };
}

Run add_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOpts>();
  app.add_option("--model", o->model, "fp32 model artifact")->required();
  app.add_option("--to", o->to, "int8 (default) or fp16");
  app.add_option("--out", o->out, "Quantised artifact to write")->required();
  add_data_options(app, o->data, true, /*data_required=*/false);  // --data: the accuracy report's data set
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all)");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_quantize(*o); };
}

}  // namespace ntn::cli
