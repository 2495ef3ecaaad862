// Pictures of a model on a data file (report.h): the charts, the report's tables and model card.
#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "ntn/conformal.h"
#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/plot.h"
#include "ntn/predictor.h"
#include "ntn/registry.h"
#include "ntn/safetensors.h"

namespace ntn::cli {
namespace {

using nlohmann::json;
using plot::Chart;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_html(const std::string& path) { return path.ends_with(".html") || path.ends_with(".htm"); }

std::string fmt(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
std::string pct(double level) { return cat(level * 100, "%"); }

// A JSON object as (key, value) rows: nested keys joined by '.', arrays of numbers as a list.
void flatten(const json& j, const std::string& prefix, std::vector<std::vector<std::string>>& rows) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, rows);
  } else if (j.is_array()) {
    const bool scalars = std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_primitive(); });
    if (scalars) {
      std::string s;
      for (const json& e : j) s += (s.empty() ? "" : ", ") + (e.is_number() ? fmt(e.get<double>()) : e.dump());
      rows.push_back({prefix, s});
    } else {
      for (std::size_t i = 0; i < j.size(); ++i) flatten(j[i], cat(prefix, "[", i, "]"), rows);
    }
  } else if (j.is_number()) {
    rows.push_back({prefix, fmt(j.get<double>())});
  } else if (j.is_string()) {
    rows.push_back({prefix, j.get<std::string>()});
  } else if (!j.is_null()) {
    rows.push_back({prefix, j.dump()});
  }
}

plot::Table metrics_table(const json& j) {
  plot::Table t{{"metric", "value"}, {}};
  flatten(j, "", t.rows);
  return t;
}

// The series of the file the model draws: a model with a per-series scaler or covariates reads
// its own columns (by name), any other the file's (or --columns); covariate models also read
// their covariate columns, with calendar features from the dates (as predict and backtest do).
struct Series {
  Frame frame;                     // the target columns first, then the covariate columns
  std::size_t targets = 0;         // target columns drawn
  std::vector<std::size_t> index;  // (targets) the predictor's series index of each
  RawCovariateTable ahead, within;  // covariate models: with the horizon's rows after the data, and without
};

Series read_series(const PlotRequest& r, const Predictor& p) {
  const Artifact& a = p.artifact();
  const Covariates cov = p.covariates();
  CsvOptions c = data_spec(r.data).csv;
  if (c.columns.empty() && (a.scaling != SeriesScaling::none || cov.any())) c.columns = a.series;
  const std::size_t targets = c.columns.size();
  for (const std::string& col : a.covariates.columns()) c.columns.push_back(col);
  Series s{read_wide_csv(r.data.path, c), 0, {}, {}, {}};
  s.targets = cov.any() ? targets : s.frame.names.size();
  for (std::size_t i = 0; i < s.targets; ++i) {
    column_f32(s.frame, i);  // every value fits float32 (file:line: column otherwise)
    const std::string& name = s.frame.names[i];
    if (a.scaling == SeriesScaling::none) {
      s.index.push_back(Predictor::kNoSeries);
      continue;
    }
    NTN_CHECK(std::find(a.series.begin(), a.series.end(), name) != a.series.end(), r.data.path, ": series '", name,
              "' was not in the training data; its scaler is unknown");
    s.index.push_back(p.series_index(name));
  }
  if (cov.any()) {
    s.ahead = raw_covariates(a.covariates, s.frame, nullptr, p.horizon());
    s.within = raw_covariates(a.covariates, s.frame, nullptr, 0);
  }
  return s;
}

// The interval bands of a forecast: the model's conformal levels (widest first), else the outer
// pairs of its quantile outputs.
struct Fan {
  std::vector<std::string> labels;
  std::vector<std::vector<double>> lo, hi;  // (bands, H)
};

Fan forecast_fan(const Predictor& p, const NormStats& st, const double* x, const double* out) {
  const Artifact& a = p.artifact();
  const std::size_t L = p.input_size(), H = p.horizon(), Q = p.outputs();
  Fan fan;
  const Conformal& cf = a.conformal;
  for (std::size_t k = cf.levels.size(); k-- > 0;) {
    fan.lo.emplace_back(H);
    fan.hi.emplace_back(H);
    conformal_interval(cf, k, a.output, st, x, L, out, fan.lo.back().data(), fan.hi.back().data());
    fan.labels.push_back(pct(cf.levels[k]) + " interval");
  }
  if (cf.empty() && a.output.kind == OutputKind::quantiles)
    for (std::size_t k = 0; k < Q / 2; ++k) {
      fan.lo.emplace_back(H);
      fan.hi.emplace_back(H);
      for (std::size_t h = 0; h < H; ++h) {
        fan.lo.back()[h] = out[h * Q + k];
        fan.hi.back()[h] = out[h * Q + Q - 1 - k];
      }
      fan.labels.push_back(cat("q", a.output.levels[k], " - q", a.output.levels[Q - 1 - k]));
    }
  return fan;
}

std::vector<double> iota(std::size_t from, std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = double(from + i);
  return v;
}

std::string x_title(const Frame& f) { return f.time_name.empty() ? std::string("row") : f.time_name; }

std::vector<Chart> forecast_charts(const PlotRequest& r, Predictor& p, const Series& s, std::string& note) {
  const std::size_t L = p.input_size(), H = p.horizon(), Q = p.outputs();
  const Frame& f = s.frame;
  const std::size_t n = f.rows(), S = std::min(s.targets, r.series);
  if (S < s.targets) note = cat("The first ", S, " of the file's ", s.targets, " series.");
  NTN_CHECK(n >= L, r.data.path, ": ", n, " rows; the model forecasts from the last ", L);
  std::vector<double> xd(S * L), out(S * H * Q);
  for (std::size_t i = 0; i < S; ++i) std::copy(f.cols[i].end() - std::ptrdiff_t(L), f.cols[i].end(), xd.begin() + std::ptrdiff_t(i * L));
  const Covariates cov = p.covariates();
  if (cov.any()) {  // every series reads the file's covariates: the last L rows (and H ahead) once per row
    const RawCovariateTable& t = s.ahead;
    std::vector<double> hist, futr, stat;
    for (std::size_t i = 0; i < S; ++i) {
      hist.insert(hist.end(), t.hist.begin() + std::ptrdiff_t((t.rows - L) * cov.hist), t.hist.end());
      futr.insert(futr.end(), t.futr.begin() + std::ptrdiff_t((t.rows - L) * cov.futr), t.futr.end());
      stat.insert(stat.end(), t.stat.begin(), t.stat.end());
    }
    p.predict_batch(xd.data(), S, out.data(), RawCovariates{hist.data(), futr.data(), stat.data()}, s.index.data());
  } else {
    p.predict_batch(xd.data(), S, out.data(), s.index.data());
  }
  const std::size_t shown = std::min(n, r.history ? r.history : std::max(L, 3 * H));
  std::vector<Chart> charts;
  for (std::size_t i = 0; i < S; ++i) {
    Chart c{.title = cat(f.names[i], ": forecast of the next ", H, " steps"), .x_label = x_title(f),
            .y_label = f.names[i]};
    c.x_names = f.time_text;
    const Fan fan = forecast_fan(p, p.series_stats(s.index[i]), xd.data() + i * L, out.data() + i * H * Q);
    const std::vector<double> fx = iota(n, H);
    for (std::size_t b = 0; b < fan.lo.size(); ++b)
      c.bands.push_back({fan.labels[b], fx, fan.lo[b], fan.hi[b], plot::color(0),
                         0.14 + 0.16 * double(b) / double(std::max<std::size_t>(fan.lo.size() - 1, 1))});
    c.lines.push_back({"history", iota(n - shown, shown),
                       std::vector<double>(f.cols[i].end() - std::ptrdiff_t(shown), f.cols[i].end()), "#333333"});
    std::vector<double> point(H);
    for (std::size_t h = 0; h < H; ++h) point[h] = out[(i * H + h) * Q + p.artifact().point_output()];
    // A distribution model's point forecast is its location parameter (mu).
    c.lines.push_back({p.artifact().output.kind == OutputKind::distribution ? "forecast (location)" : "forecast", fx,
                       point, plot::color(0), false, H <= 48});
    charts.push_back(std::move(c));
  }
  return charts;
}

// The backtest's charts and its table: forecast vs actual, error by step, rolling coverage of
// split conformal and (origins one step apart) of adaptive conformal over the same origins.
struct BacktestView {
  std::vector<Chart> charts;
  json metrics;
  std::string note;
};

BacktestView backtest_view(const PlotRequest& r, Predictor& p, const Series& s) {
  BacktestView v;
  const Frame& f = s.frame;
  std::size_t col = 0;
  if (!r.backtest_series.empty())
    col = std::size_t(std::find(f.names.begin(), f.names.begin() + std::ptrdiff_t(s.targets), r.backtest_series) -
                      f.names.begin());
  NTN_CHECK(col < s.targets, r.data.path, ": no column '", r.backtest_series, "' among the series drawn");
  const std::vector<double>& x = f.cols[col];
  const std::size_t L = p.input_size(), H = p.horizon(), n = x.size();
  BacktestResult own;
  const BacktestResult* bt = r.backtest;
  std::size_t step = r.step;
  if (!bt) {
    NTN_CHECK(n >= L + H, r.data.path, ": series '", f.names[col], "' has ", n, " values; a backtest needs at least ",
              L + H, " (input ", L, " + horizon ", H, ")");
    BacktestSpec spec;
    spec.step = step;
    spec.origins = std::min(r.origins, (n - L - H) / step + 1);
    if (p.covariates().any()) spec.covariates = &s.within;
    Predictor* ps[] = {&p};
    own = backtest({ps[0]}, f.names[col], x.data(), n, spec);
    bt = &own;
  }
  v.metrics = bt->aggregate;
  const std::size_t O = bt->per_origin.size();
  NTN_CHECK(O > 0 && bt->forecasts.size() == O * H, "backtest: ", O, " origins and ", bt->forecasts.size(),
            " forecast values for horizon ", H);
  if (O > 1) step = bt->per_origin[1].origin - bt->per_origin[0].origin;
  const std::size_t t0 = bt->per_origin.front().origin, t1 = bt->per_origin.back().origin;
  v.note = cat("Series '", f.names[col], "', ", O, " origins ", step, " apart (rows ", t0 + 1, " to ", t1 + 1, ").");
  // Forecast vs actual: the actual values over the origins' targets, step 1 and step H forecasts.
  Chart a{.title = cat(f.names[col], ": backtest forecasts vs actual"), .x_label = x_title(f), .y_label = f.names[col]};
  a.x_names = f.time_text;
  const std::size_t from = t0 + 1, to = std::min(n, t1 + H + 1);
  a.lines.push_back({"actual", iota(from, to - from), std::vector<double>(x.begin() + std::ptrdiff_t(from), x.begin() + std::ptrdiff_t(to)),
                     "#333333"});
  std::vector<double> ox(O), f1(O), xh(O), fh(O);
  for (std::size_t k = 0; k < O; ++k) {
    ox[k] = double(bt->per_origin[k].origin + 1);
    f1[k] = bt->forecasts[k * H];
    xh[k] = double(bt->per_origin[k].origin + H);
    fh[k] = bt->forecasts[k * H + H - 1];
  }
  // Intervals: the backtest's (one model, no refits): split conformal, and adaptive when the
  // origins are one step apart. Per origin, the share of its H steps each covered.
  const std::size_t K = bt->levels.size();
  const bool aci = !bt->aci_lo.empty();
  auto covered = [&](const std::vector<double>& lo, const std::vector<double>& hi, std::size_t k) {
    std::vector<double> c(O);
    for (std::size_t o = 0; o < O; ++o) {
      const std::size_t t = bt->per_origin[o].origin, at = (o * K + k) * H;
      double hit = 0;
      for (std::size_t h = 0; h < H; ++h) hit += x[t + 1 + h] >= lo[at + h] && x[t + 1 + h] <= hi[at + h];
      c[o] = hit / double(H);
    }
    return c;
  };
  std::vector<std::vector<double>> lo1(K, std::vector<double>(O)), hi1(K, std::vector<double>(O));
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t o = 0; o < O; ++o) {
      lo1[k][o] = bt->lo[(o * K + k) * H];
      hi1[k][o] = bt->hi[(o * K + k) * H];
    }
  for (std::size_t k = K; k-- > 0;)
    a.bands.push_back({cat(pct(bt->levels[k]), " interval (step 1)"), ox, lo1[k], hi1[k], plot::color(0),
                       0.14 + 0.16 * double(K - 1 - k) / double(std::max<std::size_t>(K - 1, 1))});
  a.lines.push_back({"forecast, step 1", ox, f1, plot::color(0)});
  if (H > 1) a.lines.push_back({cat("forecast, step ", H), xh, fh, plot::color(1), true});
  v.charts.push_back(std::move(a));
  // Error by step: the model's and the random walk's MAE at each horizon step.
  Chart e{.title = "Mean absolute error by horizon step", .x_label = "horizon step", .y_label = "MAE"};
  std::vector<double> mae(H, 0.0), naive(H, 0.0);
  for (std::size_t o = 0; o < O; ++o) {
    const std::size_t t = bt->per_origin[o].origin;
    for (std::size_t h = 0; h < H; ++h) {
      mae[h] += std::fabs(x[t + 1 + h] - bt->forecasts[o * H + h]) / double(O);
      naive[h] += std::fabs(x[t + 1 + h] - x[t]) / double(O);
    }
  }
  e.lines.push_back({"model", iota(1, H), mae, plot::color(0), false, H <= 48});
  e.lines.push_back({"random walk", iota(1, H), naive, plot::color(7), true, H <= 48});
  v.charts.push_back(std::move(e));
  if (K == 0) {
    v.note += " No interval coverage: the model has no conformal intervals, or the backtest refitted it.";
    return v;
  }
  // Rolling coverage over W origins: split conformal vs adaptive, the nominal level dashed.
  const std::size_t W = std::clamp<std::size_t>(O / 10, 1, 100);
  Chart c{.title = cat("Interval coverage, rolling over ", W, " origins"), .x_label = x_title(f),
          .y_label = "coverage of the H steps"};
  c.x_names = f.time_text;
  c.fixed_y = true;
  c.y_min = 0;
  c.y_max = 1;
  auto rolling = [&](const std::vector<double>& v) {
    std::vector<double> r(O, kNaN);
    double sum = 0;
    for (std::size_t o = 0; o < O; ++o) {
      sum += v[o];
      if (o >= W) sum -= v[o - W];
      if (o + 1 >= W) r[o] = sum / double(W);
    }
    return r;
  };
  for (std::size_t k = 0; k < K; ++k) {
    const double level = bt->levels[k];
    c.lines.push_back({cat("split ", pct(level)), ox, rolling(covered(bt->lo, bt->hi, k)), plot::color(2 * k)});
    if (aci)
      c.lines.push_back({cat("adaptive ", pct(level)), ox, rolling(covered(bt->aci_lo, bt->aci_hi, k)),
                         plot::color(2 * k + 1)});
    c.lines.push_back({cat("nominal ", pct(level)), {ox.front(), ox.back()}, {level, level}, "#888888", true});
  }
  v.charts.push_back(std::move(c));
  return v;
}

// The learning curve the artifact records (training.summary.curve), checked like every file
// field: a corrupted one is an error naming the file and the field.
std::optional<Chart> loss_chart(const Artifact& a) {
  const json& t = a.training;
  if (!t.is_object() || !t.contains("summary") || !t["summary"].is_object() || !t["summary"].contains("curve"))
    return std::nullopt;
  const json& cv = t["summary"]["curve"];
  const std::string ctx = cat(a.source, ": training.summary.curve");
  NTN_CHECK(cv.is_object() && cv.contains("step") && cv.contains("train") && cv.contains("val") && cv["step"].is_array() &&
                cv["train"].is_array() && cv["val"].is_array() && cv["train"].size() == cv["step"].size() &&
                cv["val"].size() == cv["step"].size(),
            ctx, " must hold lists step, train and val of one length (corrupted file)");
  std::vector<double> sx, ty, vx, vy;
  for (std::size_t i = 0; i < cv["step"].size(); ++i) {
    const json &st = cv["step"][i], &tr = cv["train"][i], &va = cv["val"][i];
    NTN_CHECK(st.is_number() && tr.is_number() && (va.is_null() || va.is_number()), ctx, ": point ", i, " is ",
              st.dump(), ", ", tr.dump(), ", ", va.dump(), " (numbers; val may be null) (corrupted file)");
    sx.push_back(st.get<double>());
    ty.push_back(tr.get<double>());
    if (!va.is_null()) {
      vx.push_back(sx.back());
      vy.push_back(va.get<double>());
    }
  }
  if (sx.empty()) return std::nullopt;
  const json& cfg = t.contains("config") && t["config"].is_object() ? t["config"] : json::object();
  Chart c{.title = "Learning curve", .x_label = "step",
          .y_label = cat(cfg.contains("loss") && cfg["loss"].is_string() ? cfg["loss"].get<std::string>() : "loss",
                         " (scaled)")};
  c.lines.push_back({"training loss", sx, ty, plot::color(0), false, sx.size() <= 2});
  if (!vx.empty()) c.lines.push_back({"validation loss", vx, vy, plot::color(1), false, vx.size() <= 40});
  return c;
}

plot::Table model_card(const PlotRequest& r, const Predictor& p, const Series& s) {
  const Artifact& a = p.artifact();
  const json& t = a.training;
  plot::Table card{{"field", "value"}, {}};
  auto row = [&](const std::string& k, const std::string& v) { card.rows.push_back({k, v}); };
  row("model", a.model->type());
  row("file", r.model);
  row("config", a.model->config().dump());
  row("input size / horizon", cat(p.input_size(), " / ", p.horizon()));
  row("output", output_kind_name(a.output.kind));
  row("uuid", a.uuid);
  row("created", a.created);
  row("ntneural version", a.version);
  // The training record as written by ntneural; a field of another type (a corrupted or
  // hand-edited file) shows as unreadable instead of failing the picture.
  try {
    if (t.contains("summary")) {
      const json& su = t["summary"];
      row("training time", cat(fmt(su.value("seconds", 0.0)), " s, ", su.value("steps", 0), " steps"));
      if (su.contains("best_val_loss"))
        row("best validation loss", cat(fmt(su["best_val_loss"].get<double>()), " at step ", su.value("best_step", 0)));
    }
    if (t.contains("config")) {
      const json& tc = t["config"];
      row("training", cat("loss ", tc.value("loss", std::string("?")), ", optimizer ", tc.value("optimizer", std::string("?")),
                          ", lr ", fmt(tc.value("lr", 0.0)), ", batch ", tc.value("batch_size", 0), ", seed ",
                          tc.value("seed", 0)));
    }
    if (t.contains("data") && t["data"].contains("source"))
      row("training data", t["data"]["source"].value("path", std::string("")));
  } catch (const json::exception&) {
    row("training record", "unreadable (a field of another type: corrupted file)");
  }
  try {
    if (auto d = describe_artifact_data(a, 0)) row("training data fingerprint (sha256)", d->data["fingerprint"]);
  } catch (const Error&) {
    row("training data fingerprint (sha256)", "unavailable (the training file is not readable as recorded)");
  }
  const DataDescription here = describe_training_data(s.frame.names, s.frame.cols, 0);  // targets and covariates
  row("plotted data", r.data.path);
  row("plotted data fingerprint (sha256)", here.data["fingerprint"]);
  if (!a.conformal.empty()) {
    std::string lv;
    for (double l : a.conformal.levels) lv += (lv.empty() ? "" : ", ") + pct(l);
    row("intervals", cat("split conformal (", conformal_score_name(a.conformal.score), " score) at ", lv, ", ",
                         a.conformal.windows, " calibration windows"));
  } else {
    row("intervals", "none calibrated");
  }
  return card;
}

}  // namespace

void check_plot_request(const PlotRequest& r, const char* option,
                        const std::vector<std::pair<const char*, std::string>>& inputs) {
  NTN_CHECK(r.out.ends_with(".svg") || is_html(r.out), option, " ", r.out,
            ": the file name must end in .svg (a chart) or .html (the report)");
  NTN_CHECK(r.kind.empty() || r.kind == "forecast" || r.kind == "backtest" || r.kind == "loss", "--kind must be "
            "forecast, backtest or loss (got '", r.kind, "')");
  NTN_CHECK(r.kind.empty() || !is_html(r.out), "--kind chooses the chart of an .svg file; ", r.out,
            " is the report, which has them all");
  NTN_CHECK(!r.data.path.empty(), option, " needs --data (the series to draw)");
  NTN_CHECK(r.data.format == "wide" && r.data.protocol != "m4", option, ": pictures draw the series of a wide file "
            "(not --format m4 / --protocol m4)");
  check_output_path(option, r.out, inputs);
}

std::string write_plot(const PlotRequest& r) {
  Predictor p(r.model, {.precision = parse_precision(r.precision), .max_batch = 64, .workspaces = 0});
  const Artifact& a = p.artifact();
  const Series s = read_series(r, p);
  std::string kind = r.kind;
  if (kind.empty()) kind = r.command == "backtest" ? "backtest" : r.command == "train" ? "loss" : "forecast";
  if (!is_html(r.out)) {
    std::string note;
    std::vector<Chart> charts;
    if (kind == "forecast") charts = forecast_charts(r, p, s, note);
    if (kind == "backtest") charts = backtest_view(r, p, s).charts;
    if (kind == "loss") {
      std::optional<Chart> c = loss_chart(a);
      NTN_CHECK(c, r.model, ": the artifact records no learning curve (a model fitted on each window, or one trained "
                "before ntneural recorded curves); draw --kind forecast or backtest");
      charts.push_back(*c);
    }
    write_file_atomic(r.out, plot::svg_stack(charts));
    return cat(kind, " chart", charts.size() > 1 ? "s" : "", " (", charts.size(), ") in ", r.out);
  }
  plot::Report rep;
  rep.title = cat(a.model->type(), " on ", s.targets == 1 ? s.frame.names[0] : cat(s.targets, " series"));
  rep.subtitle = cat("ntneural ", r.command, " - model ", r.model, " (", r.precision, " weights) - data ", r.data.path,
                     " - drawn ", utc_now_iso8601());
  std::string note;
  rep.sections.push_back({"Forecast", "", forecast_charts(r, p, s, note), {}});
  rep.sections.back().text = cat(note.empty() ? "" : note + " ", a.conformal.empty() && a.output.kind != OutputKind::quantiles
                                                        ? "The model has no calibrated intervals (ntneural calibrate adds them)."
                                                        : "Shaded: the forecast's intervals.");
  plot::Section bsec{"Backtest", "", {}, {}};
  try {
    BacktestView bv = backtest_view(r, p, s);
    bsec.text = bv.note;
    bsec.charts = std::move(bv.charts);
    bsec.tables.push_back(metrics_table(bv.metrics));
  } catch (const Error& e) {
    bsec.text = cat("No backtest: ", e.what());
  }
  rep.sections.push_back(std::move(bsec));
  plot::Section lsec{"Training", "", {}, {}};
  if (std::optional<Chart> c = loss_chart(a))
    lsec.charts.push_back(*c);
  else
    lsec.text = "No learning curve recorded (a model fitted on each window, or an artifact from before curves were kept).";
  if (!r.metrics.is_null() && !r.metrics.empty()) lsec.tables.push_back(metrics_table(r.metrics));
  rep.sections.push_back(std::move(lsec));
  rep.sections.push_back({"Model card", "", {}, {model_card(r, p, s)}});
  write_file_atomic(r.out, plot::html(rep));
  return cat("report in ", r.out);
}

}  // namespace ntn::cli
