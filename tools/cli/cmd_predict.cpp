// ntneural predict: forecasts after the end of each series of a file, or a forecast per stdin line.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <fstream>
#include <iterator>
#include <optional>

#include "ntn/forecast_cache.h"
#include "ntn/pipeline.h"
#include "ntn/predictor.h"
#include "ntn/safetensors.h"
#include "ntn/sampling.h"
#include "ntn/timing.h"

#include "commands.h"
#include "common.h"
#include "ntn/error.h"
#include "ntn/parallel.h"
#include "report.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

struct PredictOpts {
  DataOpts data;
  std::string model, format = "wide", precision = "fp32", series, future, state;
  std::size_t batch = 32, cache = 0, state_every = 0;
  int threads = 0;
  bool json = false, stream = false;
  double aci = 0, aci_gamma = kAciGamma;  // --stream: adaptive conformal intervals at this level (0: none)
  // distribution models
  std::size_t paths = 100;
  std::uint64_t seed = 1;
  std::string quantiles = "0.1,0.9", paths_out;
  bool params = false;
  PlotRequest plot;  // --plot FILE (.svg: forecast fans; .html: the report)
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
  NTN_CHECK(!(o.cache && s.carries_state()), "--cache: this ", p.artifact().model->type(),
            " model carries its state from tick to tick, so its forecast depends on the whole stream, not only the "
            "window a cache would key on; drop --cache");
  if (o.aci > 0) {
    NTN_CHECK(!o.cache, "--aci scores every forecast the stream makes; drop --cache");
    s.enable_adaptive(o.aci, o.aci_gamma);
  }
  if (!o.state.empty()) {
    std::ifstream in(o.state, std::ios::binary);
    if (in) {  // resume
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      NTN_CHECK(!in.bad(), o.state, ": cannot read the stream state");
      try {
        s.restore(bytes);
      } catch (const Error& e) {
        throw Error(cat("--state ", o.state, ": ", e.what()));
      }
    }
  }
  auto save_state = [&] {
    if (!o.state.empty()) write_file_atomic(o.state, s.snapshot());
  };
  std::unique_ptr<ForecastCache> cache;
  if (o.cache) cache = std::make_unique<ForecastCache>(p.input_size(), p.output_size(), ForecastCache::Config{o.cache});
  std::vector<float> y(p.output_size());
  const double scale = p.artifact().scaling == SeriesScaling::none ? 0.0 : p.series_stats(series).scale;
  StreamLineParser parser([&](float value, std::size_t lineno) {
    const bool full = s.append(value);
    if (o.state_every && s.ticks() % o.state_every == 0) save_state();
    if (!full) return;
    if (!cache || !cache->get(p.model_key(), series, s.window(), y.data())) {
      s.forecast(y.data());
      if (cache) cache->put(p.model_key(), series, s.window(), y.data());
    }
    if (o.json) {
      json j = {{"t", lineno}, {"forecast", forecast_json(y.data(), H, Q)}};
      if (s.adaptive())
        j["interval"] = {{"level", o.aci}, {"lo", s.interval_lo()}, {"hi", s.interval_hi()},
                         {"coverage_level", 1 - s.adaptive_state()->alpha(0)}};
      std::printf("%s\n", j.dump().c_str());
    } else {  // the forecast's H x Q values, then (--aci) the H lower and the H upper bounds
      for (std::size_t i = 0; i < H * Q; ++i)
        std::printf("%s%s", i ? "," : "", fmt_value(double(y[i]), scale).c_str());
      if (s.adaptive())
        for (const auto* b : {&s.interval_lo(), &s.interval_hi()})
          for (double v : *b) std::printf(",%s", fmt_value(v, scale).c_str());
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
  save_state();
  if (cache) std::fprintf(stderr, "cache %s\n", cache_json(*cache).dump().c_str());
  return 0;
}

int run_predict(const PredictOpts& o) {
  set_num_threads(o.threads);
  // A stream forecasts one window per tick: --threads splits each tick's layers (the same bits).
  const std::string model = model_path(o.model);
  Predictor p(model, {.precision = parse_precision(o.precision),
                        .max_batch = o.batch,
                        .forecast_threads = o.stream ? std::size_t(num_threads()) : 1});
  const Artifact& a = p.artifact();
  const std::size_t L = p.input_size(), H = p.horizon(), Q = p.outputs();
  auto series_of = [&](const std::string& name, const std::string& src) {
    if (a.scaling == SeriesScaling::none) return Predictor::kNoSeries;
    NTN_CHECK(std::find(a.series.begin(), a.series.end(), name) != a.series.end(), src, ": series '", name,
              "' was not in the training data; its scaler is unknown (trained on ", a.series.size(), " series, e.g. '",
              a.series.front(), "')");
    return p.series_index(name);
  };
  NTN_CHECK(o.stream || (o.state.empty() && o.state_every == 0), "--state and --state-every go with --stream");
  NTN_CHECK(o.state_every == 0 || !o.state.empty(), "--state-every needs --state FILE");
  NTN_CHECK(o.stream || o.aci == 0, "--aci goes with --stream (adaptive intervals follow a stream of values)");
  if (o.stream) {
    NTN_CHECK(o.data.path.empty(), "--stream reads the values from stdin; drop --data");
    NTN_CHECK(o.plot.out.empty(), "--plot draws the forecasts of --data's series; not with --stream");
    if (!o.state.empty()) check_output_path("--state", o.state, {{"--model", model}});
    const std::size_t s = o.series.empty() ? (a.series.size() == 1 ? series_of(a.series[0], "--series")
                                                                     : series_of("", "--series"))
                                           : series_of(o.series, "--series");
    return run_stream(o, p, s);
  }
  NTN_CHECK(!o.data.path.empty(), "--data is required (or --stream to read values from stdin)");
  PlotRequest plot = o.plot;
  if (!plot.out.empty()) {
    plot.model = model;
    plot.data = o.data;
    plot.data.format = o.format;
    plot.command = "predict";
    plot.precision = o.precision;
    check_plot_request(plot, "--plot", {{"--model", model}, {"--data", o.data.path}, {"--future", o.future},
                                        {"--paths-out", o.paths_out}});
    // Drawn first (its own forecasts of the same windows): stdout stays the forecasts alone.
    std::fprintf(stderr, "plot: %s\n", write_plot(plot).c_str());
  }
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
  std::vector<double> hist, futr, stat;  // covariate models: every series shares the file's covariates
  if (cov.any()) {                       // the last L (+ H) rows, one copy per row
    const std::size_t R = table.rows;
    for (std::size_t i = 0; i < n; ++i) {
      hist.insert(hist.end(), table.hist.begin() + std::ptrdiff_t((R - L) * cov.hist), table.hist.end());
      futr.insert(futr.end(), table.futr.begin() + std::ptrdiff_t((R - L) * cov.futr), table.futr.end());
      stat.insert(stat.end(), table.stat.begin(), table.stat.end());
    }
  }
  const RawCovariates raw_cov{hist.data(), futr.data(), stat.data()};
  const bool sampled = a.output.kind == OutputKind::distribution && !o.params;
  NTN_CHECK(a.output.kind == OutputKind::distribution || (!o.params && o.paths_out.empty()),
            "--params and --paths-out apply to distribution models (this one outputs ",
            output_kind_name(a.output.kind), ")");
  if (!o.paths_out.empty()) check_output_path("--paths-out", o.paths_out, {{"--model", model_path(o.model)}, {"--data", o.data.path}});
  if (sampled) {  // forecasts from sample paths: mean, median, quantiles (and the paths themselves)
    NTN_CHECK(!o.cache, "--cache serves point forecasts; a distribution model's forecast is sampled (use --params)");
    const std::vector<float> qs = parse_floats(o.quantiles, "--quantiles", limits::kQuantile);
    const std::size_t P = o.paths, K = qs.size() + 1;
    NTN_CHECK(double(n) * double(P) * double(H) <= double(1 << 28), "--paths ", P, ": ", n, " series x ", P,
              " paths x horizon ", H, " values exceed 2^28; ask for fewer paths or series");
    std::vector<double> levels = {0.5};
    for (float q : qs) levels.push_back(double(q));
    std::vector<double> paths(n * P * H), mean(H), q(H * K);
    const double t0 = now_s();
    p.sample_batch(xd.data(), n, P, o.seed, paths.data(), series.data(), cov.any() ? &raw_cov : nullptr);
    const double secs = now_s() - t0;
    if (!o.paths_out.empty()) {
      std::string csv = "series,path";
      for (std::size_t h = 0; h < H; ++h) csv += cat(",h", h + 1);
      csv += "\n";
      for (std::size_t s = 0; s < n; ++s)
        for (std::size_t k = 0; k < P; ++k) {
          csv += cat(names[s], ",", k);
          for (std::size_t h = 0; h < H; ++h) csv += "," + fmt_value(paths[(s * P + k) * H + h], 0.0);
          csv += "\n";
        }
      write_file_atomic(o.paths_out, csv);
    }
    json fc = json::object();
    if (!o.json) {
      std::printf("series,step,mean,median");
      for (float v : qs) std::printf(",q%g", double(v));
      std::printf("\n");
    }
    for (std::size_t s = 0; s < n; ++s) {
      summarize_paths(paths.data() + s * P * H, P, H, levels.data(), K, mean.data(), q.data());
      const double scale = a.scaling == SeriesScaling::none ? 0.0 : p.series_stats(series[s]).scale;
      if (o.json) {
        json qj = json::object();
        for (std::size_t k = 1; k < K; ++k) {
          std::vector<double> v(H);
          for (std::size_t h = 0; h < H; ++h) v[h] = q[h * K + k];
          qj[fmt_value(levels[k], 0.0)] = v;
        }
        std::vector<double> med(H);
        for (std::size_t h = 0; h < H; ++h) med[h] = q[h * K];
        fc[names[s]] = {{"mean", mean}, {"median", med}, {"quantiles", qj}};
        continue;
      }
      for (std::size_t h = 0; h < H; ++h) {
        std::printf("%s,%zu,%s", names[s].c_str(), h + 1, fmt_value(mean[h], scale).c_str());
        for (std::size_t k = 0; k < K; ++k) std::printf(",%s", fmt_value(q[h * K + k], scale).c_str());
        std::printf("\n");
      }
    }
    if (o.json)
      std::printf("%s\n", json({{"model", o.model}, {"uuid", a.uuid}, {"horizon", H}, {"paths", P}, {"seed", o.seed},
                                 {"output", a.output.to_json()}, {"forecasts", fc}, {"seconds", secs},
                                 {"precision", precision_name(p.precision())}})
                               .dump()
                               .c_str());
    return 0;
  }
  if (cov.any()) {
    NTN_CHECK(!o.cache, "--cache serves models without covariates only");
    p.predict_batch(xd.data(), n, out.data(), raw_cov, series.data());
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
  // The model's conformal intervals around each point forecast: (series, levels, H) lo / hi.
  const Conformal& cf = a.conformal;
  const std::size_t K = cf.levels.size();
  std::vector<double> lo(n * K * H), hi(n * K * H), row(H * Q);
  for (std::size_t s = 0; s < n; ++s) {
    std::copy_n(out.data() + s * H * Q, H * Q, row.data());
    for (std::size_t k = 0; k < K; ++k)
      conformal_interval(cf, k, a.output, p.series_stats(series[s]), xd.data() + s * L, L, row.data(),
                         lo.data() + (s * K + k) * H, hi.data() + (s * K + k) * H);
  }
  auto level_name = [](double level) { return cat(level * 100); };
  if (o.json) {
    json fc = json::object();
    for (std::size_t s = 0; s < n; ++s) fc[names[s]] = forecast_json(out.data() + s * H * Q, H, Q);
    json j = {{"model", o.model}, {"uuid", a.uuid}, {"horizon", H},          {"forecasts", fc},
              {"seconds", secs},  {"precision", precision_name(p.precision())}};
    if (!a.output.levels.empty()) j["quantiles"] = a.output.levels;
    if (a.output.kind == OutputKind::distribution) j["output"] = a.output.to_json();
    if (cache) j["cache"] = cache_json(*cache);
    if (K) {
      json iv = json::object();
      for (std::size_t s = 0; s < n; ++s)
        for (std::size_t k = 0; k < K; ++k)
          iv[names[s]][level_name(cf.levels[k])] = {
              {"lo", std::vector<double>(lo.begin() + std::ptrdiff_t((s * K + k) * H),
                                         lo.begin() + std::ptrdiff_t((s * K + k + 1) * H))},
              {"hi", std::vector<double>(hi.begin() + std::ptrdiff_t((s * K + k) * H),
                                         hi.begin() + std::ptrdiff_t((s * K + k + 1) * H))}};
      j["intervals"] = {{"method", "split conformal"}, {"levels", cf.levels}, {"bounds", iv}};
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("series,step");
  // One column per output: a single-quantile model has one; a distribution its parameters.
  if (a.output.kind == OutputKind::point) std::printf(",forecast");
  for (float q : a.output.levels) std::printf(",q%g", double(q));
  if (a.output.kind == OutputKind::distribution)
    std::printf(a.output.dist == DistKind::gaussian   ? ",mu,sigma"
                : a.output.dist == DistKind::student_t ? ",mu,sigma,nu"
                                                        : ",mu,alpha");
  for (std::size_t k = 0; k < K; ++k)
    std::printf(",lo%s,hi%s", level_name(cf.levels[k]).c_str(), level_name(cf.levels[k]).c_str());
  std::printf("\n");
  for (std::size_t s = 0; s < n; ++s) {
    const double scale = a.scaling == SeriesScaling::none ? 0.0 : p.series_stats(series[s]).scale;
    for (std::size_t h = 0; h < H; ++h) {
      std::printf("%s,%zu", names[s].c_str(), h + 1);
      for (std::size_t q = 0; q < Q; ++q) std::printf(",%s", fmt_value(out[(s * H + h) * Q + q], scale).c_str());
      for (std::size_t k = 0; k < K; ++k)
        std::printf(",%s,%s", fmt_value(lo[(s * K + k) * H + h], scale).c_str(),
                    fmt_value(hi[(s * K + k) * H + h], scale).c_str());
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace

Run add_predict(CLI::App& app) {
  auto o = std::make_shared<PredictOpts>();
  app.add_option("--model", o->model, "Model artifact (or registry:DB:NAME[@VERSION|@best|@STAGE])")->required();
  add_data_options(app, o->data, false, /*data_required=*/false);
  app.add_option("--format", o->format, "wide (default) or m4");
  app.add_option("--precision", o->precision, "Serve the weights as fp32 (default), fp16, bf16 or int8");
  add_uint(app, "--batch", o->batch, limits::kBatch, "Rows per forward pass and thread (default 32)");
  add_uint(app, "--cache", o->cache, limits::kCache, "Serve through a forecast cache of this many entries (0: none)");
  app.add_flag("--stream", o->stream, "Read one value per line from stdin; print a forecast per line once the "
                                      "input window is full");
  app.add_option("--series", o->series, "--stream: the series the values belong to (its scaler)");
  add_real(app, "--aci", o->aci, {0, 1 - 1e-9},
           "--stream: adaptive conformal intervals (ACI) at this level, e.g. 0.8: each line then ends with the H "
           "lower and H upper bounds; they widen after misses and narrow after hits (0: none)");
  add_real(app, "--aci-gamma", o->aci_gamma, {1e-9, 1}, "--stream --aci: step of the miscoverage update (default 0.05: follows a crash within weeks)");
  app.add_option("--state", o->state,
                 "--stream: resume the stream saved in FILE if it exists (window, statistics, the model's carried "
                 "state), and save it there (atomically) at the end of the input");
  add_uint(app, "--state-every", o->state_every, limits::kEvery,
           "--stream with --state: also save the stream every N values (0: only at the end)");
  app.add_option("--future", o->future,
                 "Models with future-known covariates: a CSV of the rows after --data's last row (time column + "
                 "those columns, at least the horizon); calendar features need no file");
  add_uint(app, "--paths", o->paths, limits::kPaths,
           "Distribution models (deepar): sample paths per series; the forecast is their mean, median and "
           "--quantiles (default 100)");
  add_uint(app, "--seed", o->seed, limits::kSeed, "Distribution models: seed of the sample paths (default 1)");
  app.add_option("--quantiles", o->quantiles, "Distribution models: quantile levels to print (default 0.1,0.9)");
  app.add_option("--paths-out", o->paths_out, "Distribution models: write every sample path to this CSV");
  app.add_flag("--params", o->params,
               "Distribution models: print the distribution parameters per step instead (each step fed the "
               "previous step's location: one deterministic path)");
  add_uint(app, "--threads", o->threads, limits::kThreads, "Threads (0: all): batches split by rows of windows, --stream by rows of each layer");
  app.add_flag("--json", o->json, "Print JSON (one object; with --stream one object per line)");
  app.add_option("--plot", o->plot.out,
                 "Draw the forecasts: FILE.svg each series' history, forecast and interval fan; FILE.html the report "
                 "(with a backtest of the first series and the model card). Models without covariates, wide files");
  add_plot_options(app, o->plot);
  return [o] { return run_predict(*o); };
}

}  // namespace ntn::cli
