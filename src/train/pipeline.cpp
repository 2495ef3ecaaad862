#include "ntn/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>

#include "ntn/dist.h"
#include "ntn/error.h"
#include "ntn/features.h"
#include "ntn/fields.h"
#include "ntn/kernels.h"
#include "ntn/metrics.h"
#include "ntn/parallel.h"
#include "ntn/safetensors.h"
#include "ntn/trainer.h"

namespace ntn {

using nlohmann::json;

Protocol parse_protocol(const std::string& name) {
  if (name == "none" || name.empty()) return Protocol::none;
  if (name == "ltsf") return Protocol::ltsf;
  if (name == "m4") return Protocol::m4;
  throw Error(cat("unknown protocol '", name, "': expected ltsf, m4 or none"));
}

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::none: return "none";
    case Protocol::ltsf: return "ltsf";
    case Protocol::m4: return "m4";
  }
  return "?";
}

SeriesScaling parse_series_scaling(const std::string& name) {
  if (name == "none" || name == "identity") return SeriesScaling::none;
  if (name == "standard" || name == "zscore") return SeriesScaling::standard;
  if (name == "robust") return SeriesScaling::robust;
  if (name == "minmax") return SeriesScaling::minmax;
  if (name == "mean") return SeriesScaling::mean;
  throw Error(cat("unknown scaler '", name, "': expected none, standard, robust, minmax or mean"));
}

const char* series_scaling_name(SeriesScaling s) {
  switch (s) {
    case SeriesScaling::none: return "none";
    case SeriesScaling::standard: return "standard";
    case SeriesScaling::robust: return "robust";
    case SeriesScaling::minmax: return "minmax";
    case SeriesScaling::mean: return "mean";
  }
  return "?";
}

namespace {

NormStats fit(SeriesScaling s, const double* x, std::size_t n) {
  switch (s) {
    case SeriesScaling::none: return {};
    case SeriesScaling::standard: return norm_stats(NormKind::zscore, x, n);
    case SeriesScaling::robust: return norm_stats(NormKind::robust, x, n);
    case SeriesScaling::minmax: return norm_stats(NormKind::minmax, x, n);
    case SeriesScaling::mean: {  // GluonTS's mean scaler: divide by mean |x|, never shift (counts stay >= 0)
      double m = 0;
      for (std::size_t i = 0; i < n; ++i) m += std::fabs(x[i]);
      m /= double(std::max<std::size_t>(n, 1));
      return {0.0, m > 0 && std::isfinite(m) ? m : 1.0};
    }
  }
  return {};
}

// Wide file: every target column one series of `rows` values, scaled by its train-part stats.
void add_wide(Prepared& p, const Frame& f, const std::vector<std::size_t>& targets, std::size_t rows,
              std::size_t train_rows) {
  for (std::size_t c : targets) {
    const std::vector<double>& col = f.cols[c];
    column_f32(f, c);  // every raw value fits float32 (what predict reads), else file:line: column
    const NormStats st = fit(p.scaling, col.data(), train_rows);
    std::vector<double> scaled(rows);
    normalize(st, col.data(), scaled.data(), rows);
    for (std::size_t r = 0; r < rows; ++r)  // a tiny scale can push a value past float32
      NTN_CHECK(fits_f32(scaled[r]), f.source, ":", f.lines[r], ": column '", f.names[c], "': value ", col[r],
                " scaled by the train-part ", series_scaling_name(p.scaling), " scaler (center ", st.center,
                ", scale ", st.scale, ") is ", scaled[r], ", beyond float32; use another --scaler or rescale it");
    p.store.add(f.names[c], scaled.data(), rows);
    p.stats.push_back(st);
    p.train_len.push_back(train_rows);
  }
}

// Index of column `name` in f (read_wide_csv already refused unknown columns).
std::size_t column_index(const Frame& f, const std::string& name) {
  return std::size_t(std::find(f.names.begin(), f.names.end(), name) - f.names.begin());
}

// The covariate channels of a wide file (shared by every target): hist / futr columns z-scored
// with their train-part statistics, calendar features from the time column, static columns
// checked constant. Fills p.covariates and returns the channel values, time-major: hist
// (rows, Ch), futr (rows, Cf), stat (S).
struct WideCovariates {
  std::vector<float> hist, futr, stat;
};
WideCovariates wide_covariates(Prepared& p, const Frame& f, const CovariateSpec& cs, std::size_t rows,
                               std::size_t train_rows) {
  WideCovariates w;
  auto scaled_column = [&](const std::string& name, CovariateColumn* info) {
    const std::size_t c = column_index(f, name);
    const std::vector<double>& col = f.cols[c];
    info->name = name;
    info->stats = fit(SeriesScaling::standard, col.data(), train_rows);
    std::vector<float> out(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const double v = info->stats.apply(col[r]);
      NTN_CHECK(fits_f32(v), f.source, ":", f.lines[r], ": covariate column '", name, "': value ", col[r],
                " scaled by its train-part statistics (center ", info->stats.center, ", scale ", info->stats.scale,
                ") is beyond float32");
      out[r] = float(v);
    }
    return out;
  };
  auto interleave = [&](const std::vector<std::vector<float>>& chans, std::vector<float>& dst) {
    const std::size_t C = chans.size();
    dst.resize(rows * C);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < C; ++c) dst[r * C + c] = chans[c][r];
  };
  std::vector<std::vector<float>> chans;
  for (const auto& name : cs.hist) {
    p.covariates.hist.emplace_back();
    chans.push_back(scaled_column(name, &p.covariates.hist.back()));
  }
  interleave(chans, w.hist);
  chans.clear();
  for (const auto& name : cs.futr) {
    p.covariates.futr.emplace_back();
    chans.push_back(scaled_column(name, &p.covariates.futr.back()));
  }
  if (!cs.calendar.empty()) {
    NTN_CHECK(time_is_dates(f), f.source,
              ": --calendar needs a time column of dates (YYYY-MM-DD[ HH:MM]), got '",
              f.time_text.empty() ? "" : f.time_text[0], "'");
    std::vector<std::string> names;  // "auto": the features of the dates' spacing, in place
    for (const auto& name : cs.calendar) {
      std::vector<std::string> add = {name};
      if (name == "auto") {
        add = auto_calendar(f.time);
        NTN_CHECK(!add.empty(), f.source,
                  ": --calendar auto: the dates are yearly or irregularly spaced, which no calendar feature "
                  "follows; name the features (",
                  join(calendar_feature_names(), ", "), ")");
      }
      for (auto& a : add)
        if (std::find(names.begin(), names.end(), a) == names.end()) names.push_back(std::move(a));
    }
    for (const auto& name : names) {
      calendar_feature(name, 0.0);  // an unknown name is an error listing the known ones
      p.covariates.futr.push_back({name, NormStats{}, true});
      std::vector<float> v(rows);
      for (std::size_t r = 0; r < rows; ++r) v[r] = float(calendar_feature(name, f.time[r]));
      chans.push_back(std::move(v));
    }
  }
  interleave(chans, w.futr);
  for (const auto& name : cs.stat) {
    const std::vector<double>& col = f.cols[column_index(f, name)];
    for (std::size_t r = 1; r < rows; ++r)
      NTN_CHECK(col[r] == col[0], f.source, ":", f.lines[r], ": static column '", name, "' changes from ", col[0],
                " (line ", f.lines[0], ") to ", col[r], "; a static covariate is constant over the rows");
    NTN_CHECK(fits_f32(col[0]), f.source, ":", f.lines[0], ": static column '", name, "': ", col[0],
              " is beyond float32");
    p.covariates.stat.push_back({name, NormStats{}, false});
    w.stat.push_back(float(col[0]));
  }
  return w;
}

}  // namespace

CovariateSpec CovariateInfo::spec() const {
  CovariateSpec cs;
  for (const auto& c : hist) cs.hist.push_back(c.name);
  for (const auto& c : futr) (c.calendar ? cs.calendar : cs.futr).push_back(c.name);
  for (const auto& c : stat) cs.stat.push_back(c.name);
  return cs;
}

std::vector<std::string> CovariateInfo::columns() const {
  const CovariateSpec cs = spec();
  std::vector<std::string> v = cs.hist;
  v.insert(v.end(), cs.futr.begin(), cs.futr.end());
  v.insert(v.end(), cs.stat.begin(), cs.stat.end());
  return v;
}

RawCovariateTable raw_covariates(const CovariateInfo& info, const Frame& h, const Frame* future, std::size_t ahead) {
  RawCovariateTable t;
  t.rows = h.rows();
  t.ahead = ahead;
  const std::size_t R = t.rows, Ch = info.hist.size(), Cf = info.futr.size();
  t.hist.resize(R * Ch);
  for (std::size_t c = 0; c < Ch; ++c) {
    const std::vector<double>& col = h.col(info.hist[c].name);
    for (std::size_t r = 0; r < R; ++r) t.hist[r * Ch + c] = col[r];
  }
  bool needs_future_file = false;
  for (const auto& c : info.futr) needs_future_file = needs_future_file || !c.calendar;
  if (future) {
    NTN_CHECK(future->rows() >= ahead, future->source, ": ", future->rows(), " rows, but the model needs the ", ahead,
              " steps after the history (its horizon)");
    NTN_CHECK(h.time_text.empty() || future->time_text.empty() || future->time[0] > h.time.back(), future->source,
              ":", future->lines.empty() ? 0 : future->lines[0], ": the first future row ('",
              future->time_text.empty() ? "" : future->time_text[0], "') is not after the last row of ", h.source, " ('",
              h.time_text.empty() ? "" : h.time_text.back(), "')");
  } else {
    NTN_CHECK(!needs_future_file || ahead == 0, "the model needs future-known covariates for the ", ahead,
              " steps ahead (", [&] {
                std::string s;
                for (const auto& c : info.futr)
                  if (!c.calendar) s += (s.empty() ? "" : ", ") + c.name;
                return s;
              }(), "): give them in a file of the rows after the history (--future FILE)");
  }
  std::vector<double> ahead_times;
  bool calendar = false;
  for (const auto& c : info.futr) calendar = calendar || c.calendar;
  if (calendar && ahead > 0) {
    if (future && !future->time_text.empty())
      ahead_times.assign(future->time.begin(), future->time.begin() + std::ptrdiff_t(ahead));
    else
      ahead_times = future_times(h.time, ahead);
  }
  t.futr.resize((R + ahead) * Cf);
  for (std::size_t c = 0; c < Cf; ++c) {
    const CovariateColumn& cc = info.futr[c];
    if (cc.calendar) {
      NTN_CHECK(time_is_dates(h), h.source,
                ": the model's calendar feature '", cc.name, "' needs a time column of dates");
      for (std::size_t r = 0; r < R; ++r) t.futr[r * Cf + c] = calendar_feature(cc.name, h.time[r]);
      for (std::size_t r = 0; r < ahead; ++r) t.futr[(R + r) * Cf + c] = calendar_feature(cc.name, ahead_times[r]);
      continue;
    }
    const std::vector<double>& col = h.col(cc.name);
    for (std::size_t r = 0; r < R; ++r) t.futr[r * Cf + c] = col[r];
    if (ahead > 0) {
      const std::vector<double>& fc = future->col(cc.name);
      for (std::size_t r = 0; r < ahead; ++r) t.futr[(R + r) * Cf + c] = fc[r];
    }
  }
  for (const auto& c : info.stat) t.stat.push_back(h.col(c.name).back());
  return t;
}

json CovariateInfo::to_json() const {
  auto list = [](const std::vector<CovariateColumn>& v) {
    json a = json::array();
    for (const auto& c : v)
      a.push_back({{"name", c.name}, {"center", c.stats.center}, {"scale", c.stats.scale}, {"calendar", c.calendar}});
    return a;
  };
  return {{"hist", list(hist)}, {"futr", list(futr)}, {"stat", list(stat)}};
}

CovariateInfo CovariateInfo::from_json(const json& j, const std::string& ctx) {
  NTN_CHECK(j.is_object(), ctx, ": covariates must be a JSON object");
  json_known_fields(j, ctx + ": covariates", {"hist", "futr", "stat"});
  CovariateInfo info;
  auto list = [&](const char* key, std::vector<CovariateColumn>& out) {
    if (!j.contains(key)) return;
    const json& a = j.at(key);
    NTN_CHECK(a.is_array() && a.size() <= limits::kCovariates.hi, ctx, ": covariates '", key,
              "' must be a list of at most ", limits::kCovariates.hi, " columns");
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string where = cat(ctx, ": covariates '", key, "'[", i, "]");
      NTN_CHECK(a[i].is_object(), where, " is not an object");
      json_known_fields(a[i], where, {"name", "center", "scale", "calendar"});
      CovariateColumn c;
      c.name = json_string(a[i], where, "name", "");
      NTN_CHECK(!c.name.empty(), where, ": empty name");
      c.stats.center = json_real(a[i], where, "center", 0.0, {-3.4e38, 3.4e38});
      c.stats.scale = json_real(a[i], where, "scale", 1.0, {1.1754943508222875e-38, 3.4e38});
      c.calendar = json_bool(a[i], where, "calendar", false);
      if (c.calendar) calendar_feature(c.name, 0.0);  // a known feature
      out.push_back(std::move(c));
    }
  };
  list("hist", info.hist);
  list("futr", info.futr);
  list("stat", info.stat);
  return info;
}

namespace {
// The median spacing of timestamps (0 with fewer than 3) and the season it implies (infer_season).
struct Spacing {
  double step = 0;
  std::size_t season = 0;
};
Spacing spacing_of(const std::vector<double>& t) {
  Spacing sp;
  if (t.size() < 3) return sp;
  std::vector<double> d(t.size() - 1);
  for (std::size_t i = 1; i < t.size(); ++i) d[i - 1] = t[i] - t[i - 1];
  std::vector<double> sorted = d;
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() / 2), sorted.end());
  const double step = sorted[sorted.size() / 2], day = 86400;
  sp.step = step;
  sp.season = [&]() -> std::size_t {
    if (step <= 0) return 0;
    if (step < day) {  // a daily cycle of steps (30 min: 48, hourly: 24)
      const double per_day = day / step;
      return std::fabs(per_day - std::round(per_day)) < 1e-9 && per_day <= 1440 ? std::size_t(std::round(per_day)) : 0;
    }
    const double days = step / day;
    if (std::fabs(days - 1) < 1e-9) {  // daily: a week of 5 when the weekends are missing (Friday -> Monday)
      std::size_t weekend = 0;
      for (double x : d) weekend += std::fabs(x - 3 * day) < 1;
      return weekend * 10 >= d.size() ? 5 : 7;
    }
    if (days >= 6.5 && days <= 7.5) return 52;   // weekly: a year
    if (days >= 27.5 && days <= 31.5) return 12;  // monthly
    if (days >= 89 && days <= 92.5) return 4;     // quarterly
    return 0;                                     // yearly or irregular: no season
  }();
  return sp;
}
}  // namespace

std::size_t infer_season(const std::vector<double>& t) { return spacing_of(t).season; }

std::size_t input_cycle(const std::vector<double>& t) {
  const Spacing sp = spacing_of(t);
  const std::size_t s = sp.season;
  if (s == 0 || sp.step >= 86400) return 0;
  return 7 * s <= 1008 ? 7 * s : s;  // a week of steps (hourly 168, 30 min 336), else a day
}

SplitRows split_rows(const DataSpec& spec, std::size_t R) {
  SplitRows r;
  if (spec.protocol == Protocol::ltsf) {
    if (R >= 14400) {
      r.train = 12 * 30 * 24;
      r.val = 4 * 30 * 24;
      r.test = 4 * 30 * 24;
    } else {
      r.train = std::size_t(double(R) * 0.7);
      r.test = std::size_t(double(R) * 0.2);
      r.val = R - r.train - r.test;
    }
    return r;
  }
  NTN_CHECK(spec.val_ratio >= 0 && spec.test_ratio > 0 && spec.val_ratio + spec.test_ratio < 1,
            "validation and test ratios must be >= 0, > 0 and sum below 1 (got ", spec.val_ratio, ", ",
            spec.test_ratio, ")");
  r.test = std::size_t(std::llround(double(R) * spec.test_ratio));
  r.val = std::size_t(std::llround(double(R) * spec.val_ratio));
  r.train = R - r.test - r.val;
  return r;
}

std::vector<std::string> auto_calendar(const std::vector<double>& t) {
  const Spacing sp = spacing_of(t);
  const std::size_t s = sp.season;
  if (s == 0) return {};
  if (sp.step < 86400) return {"hour", "dow"};
  if (s == 7 || s == 5) return {"dow", "doy"};
  if (s == 52) return {"doy"};
  return {"month"};
}

Frame read_wide(const DataSpec& spec, const CsvOptions& opt) {
  return spec.frame ? select_columns(*spec.frame, opt) : read_wide_csv(spec.path, opt);
}

std::size_t default_input_size(const DataSpec& spec, std::size_t H) {
  return default_input_size(spec, spec.protocol == Protocol::none ? read_wide(spec, spec.csv) : Frame{}, H);
}

std::size_t default_input_size(const DataSpec& spec, const Frame& f, std::size_t H) {
  if (spec.protocol == Protocol::m4) return 2 * H;
  if (spec.protocol == Protocol::ltsf) return 5 * H;
  const std::size_t cycle = time_is_dates(f) ? input_cycle(f.time) : 0;
  std::size_t L = std::max({2 * H, std::size_t(168), cycle});
  // Short data: at least a quarter of the training rows start a window (prepare() names the
  // problem when even one input step does not fit).
  const std::size_t tr = split_rows(spec, f.rows()).train;
  if (tr > H) L = std::min(L, std::max<std::size_t>(1, (tr - H) * 3 / 4));
  return L;
}

Artifact Artifact::from_training(std::unique_ptr<Model<float>> model, const Prepared& p, const TrainConfig& tc,
                                 const TrainSummary& summary) {
  Artifact a;
  a.model = std::move(model);
  a.model->set_bf16_products(false);  // bf16 training (TrainConfig::precision): the artifact runs fp32 products
  a.scaling = p.scaling;
  for (std::size_t s = 0; s < p.store.size(); ++s) a.series.push_back(p.store.name(s));
  a.stats = p.stats;
  a.window_scaling = tc.window_scaling;
  a.output = output_spec(tc.loss);
  a.covariates = p.covariates;
  a.uuid = make_uuid();
  a.version = NTN_VERSION;
  a.created = utc_now_iso8601();
  a.training = {{"config", tc.to_json()}, {"summary", summary.to_json()}, {"data", p.describe()},
                {"threads", num_threads()}, {"ranks", dist::world().size()}};
  return a;
}

Prepared select_series(const Prepared& p, std::size_t s) {
  NTN_CHECK(s < p.store.size(), "select_series: series ", s, " of ", p.store.size());
  Prepared q;
  q.protocol = p.protocol;
  q.scaling = p.scaling;
  q.covariates = p.covariates;
  q.season = p.season;
  q.source = p.source;
  const Covariates cov = p.store.covariates();
  q.store.set_covariates(cov);
  q.store.add(p.store.name(s), p.store.data(s), p.store.length(s));
  if (cov.hist || cov.futr || cov.stat)
    q.store.set_series_covariates(0, p.store.hist(s), p.store.futr(s), p.store.futr_length(s),
                                  p.store.stat(s));
  q.stats = {p.stats[s]};
  if (s < p.train_len.size()) q.train_len = {p.train_len[s]};
  auto only = [&](const std::vector<WindowRef>& from, std::vector<WindowRef>& to) {
    for (const WindowRef& w : from)
      if (w.series == s) to.push_back({0, w.start});
  };
  only(p.train, q.train);
  only(p.val, q.val);
  only(p.test, q.test);
  return q;
}

json Prepared::describe() const {
  return {{"protocol", protocol_name(protocol)},
          {"series", store.size()},
          {"series_scaling", series_scaling_name(scaling)},
          {"train_windows", train.size()},
          {"val_windows", val.size()},
          {"test_windows", test.size()},
          {"source", source}};
}

std::size_t m4_season(const std::string& id) {
  switch (id.empty() ? ' ' : id[0]) {
    case 'H': return 24;
    case 'D': return 7;
    case 'W': return 52;
    case 'M': return 12;
    case 'Q': return 4;
    case 'Y': return 1;
    default: return 0;
  }
}

Prepared prepare(const DataSpec& spec, std::size_t L, std::size_t& H) {
  Prepared p;
  p.protocol = spec.protocol;
  p.source = {{"path", spec.path}, {"protocol", protocol_name(spec.protocol)}};
  if (spec.protocol == Protocol::m4) {
    NTN_CHECK(!spec.covariates.any(), "the m4 protocol takes no covariates (its files hold only the target)");
    NTN_CHECK(!spec.test_path.empty(), "the m4 protocol needs the test file too (--test-data)");
    const SeriesSet tr = read_m4_csv(spec.path), te = read_m4_csv(spec.test_path);
    NTN_CHECK(tr.size() == te.size(), spec.test_path, ": ", te.size(), " series, but ", spec.path, " has ", tr.size());
    const std::size_t h = te.values[0].size();
    for (std::size_t s = 0; s < te.size(); ++s) {
      NTN_CHECK(te.ids[s] == tr.ids[s], spec.test_path, ": series ", s + 1, " is '", te.ids[s], "' but ", spec.path,
                " has '", tr.ids[s], "' there");
      NTN_CHECK(te.values[s].size() == h, spec.test_path, ": series '", te.ids[s], "' has ", te.values[s].size(),
                " test values, the first has ", h, " (all must equal the horizon)");
    }
    if (H == 0) H = h;
    NTN_CHECK(H == h, "horizon ", H, " does not match the ", h, " test values per series of ", spec.test_path);
    p.scaling = SeriesScaling::none;
    p.season = spec.season;
    if (p.season == 0) {  // the M4 frequency letter of the ids: H1, D12, W3, M5, Q7, Y9
      p.season = m4_season(tr.ids[0]);
      NTN_CHECK(p.season != 0, spec.path, ": cannot infer the season from series id '", tr.ids[0],
                "' (M4 ids start with H, D, W, M, Q or Y); give --season");
    }
    for (std::size_t s = 0; s < tr.size(); ++s) {
      series_f32(tr, s);  // float32 range, else file:line: column
      series_f32(te, s);
      std::vector<double> v = tr.values[s];
      v.insert(v.end(), te.values[s].begin(), te.values[s].end());
      p.store.add(tr.ids[s], v.data(), v.size());
      p.stats.push_back({});
      p.train_len.push_back(tr.values[s].size());
    }
    const auto h2 = std::int64_t(2 * H), h1 = std::int64_t(H);
    p.train = make_windows(p.store, {L, H}, Split{0, 0, -h2});
    p.val = make_windows(p.store, {L, H}, Split{0, -h2, -h1});
    p.test = make_windows(p.store, {L, H}, Split{0, -h1, 0});
    p.source["test_path"] = spec.test_path;
    return p;
  }
  NTN_CHECK(H > 0, "the horizon must be positive (--horizon)");
  const CovariateSpec& cs = spec.covariates;
  CsvOptions opt = spec.csv;
  std::vector<std::string> cov_cols;  // every column the covariates read
  for (const auto* v : {&cs.hist, &cs.futr, &cs.stat}) cov_cols.insert(cov_cols.end(), v->begin(), v->end());
  for (std::size_t i = 0; i < cov_cols.size(); ++i)
    for (std::size_t k = 0; k < i; ++k)
      NTN_CHECK(cov_cols[i] != cov_cols[k], spec.path, ": column '", cov_cols[i], "' is given as two covariates");
  const std::vector<std::string> given_targets = opt.columns;
  for (const auto& t : given_targets)
    NTN_CHECK(std::find(cov_cols.begin(), cov_cols.end(), t) == cov_cols.end(), spec.path, ": column '", t,
              "' is both a target and a covariate");
  if (!given_targets.empty()) opt.columns.insert(opt.columns.end(), cov_cols.begin(), cov_cols.end());
  const Frame f = read_wide(spec, opt);
  const std::size_t R = f.rows();
  std::vector<std::size_t> targets;
  for (std::size_t c = 0; c < f.names.size(); ++c)
    if (std::find(cov_cols.begin(), cov_cols.end(), f.names[c]) == cov_cols.end()) targets.push_back(c);
  NTN_CHECK(!targets.empty(), spec.path, ": no target column is left once the covariate columns are taken");
  if (given_targets.empty())  // an unknown covariate column would otherwise pass unnoticed
    for (const auto& c : cov_cols) f.col(c);
  std::vector<std::string> target_names;
  for (std::size_t c : targets) target_names.push_back(f.names[c]);
  p.source["columns"] = target_names;
  if (cs.any()) p.source["covariates"] = {{"hist", cs.hist}, {"futr", cs.futr}, {"stat", cs.stat}, {"calendar", cs.calendar}};
  const SplitRows rows = split_rows(spec, R);
  const std::size_t tr = rows.train, va = rows.val, te = rows.test;
  if (spec.protocol == Protocol::ltsf) {
    p.scaling = SeriesScaling::standard;
  } else {
    p.scaling = spec.scaling;
    p.season = spec.season;
  }
  // The season from the spacing of the dates (hourly 24, daily 7, weekly 52, ...) unless given.
  if (spec.season == 0 && time_is_dates(f)) p.season = infer_season(f.time);
  NTN_CHECK(tr >= L + H, spec.path, ": the training part has ", tr, " rows, fewer than input ", L, " + horizon ", H);
  WideCovariates wc;
  if (cs.any()) {
    wc = wide_covariates(p, f, cs, tr + va + te, tr);
    p.store.set_covariates(p.covariates.counts());
  }
  add_wide(p, f, targets, tr + va + te, tr);
  if (cs.any())
    for (std::size_t s = 0; s < p.store.size(); ++s)
      p.store.set_series_covariates(s, wc.hist.data(), wc.futr.data(), tr + va + te, wc.stat.data());
  const auto a = std::int64_t(tr), b = std::int64_t(tr + va), c = std::int64_t(tr + va + te);
  p.train = make_windows(p.store, {L, H}, Split{0, 0, a});
  if (va >= H) p.val = make_windows(p.store, {L, H}, Split{0, a, b});
  p.test = make_windows(p.store, {L, H}, Split{0, b, c});
  p.source["rows"] = {{"train", tr}, {"val", va}, {"test", te}};
  return p;
}

// ---- artifact -------------------------------------------------------------------------------
std::string make_uuid() {
  std::random_device rd;
  std::uint8_t b[16];
  for (auto& v : b) v = std::uint8_t(rd());
  b[6] = std::uint8_t((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = std::uint8_t((b[8] & 0x3f) | 0x80);  // variant 10
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

std::string utc_now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Artifact::save(const std::string& path) const { write_file_atomic(path, bytes()); }

std::string Artifact::bytes() const {
  NTN_CHECK(model != nullptr, "artifact without a model");
  const auto& ps = model->params();
  SafeTensorsWriter w;
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    const auto lp = low.find(e.name);
    if (lp == low.end()) {
      w.add(e.name, DType::f32, e.shape, ps.value(i));
    } else if (lp->second.precision == Precision::fp16 || lp->second.precision == Precision::bf16) {
      w.add(e.name, lp->second.precision == Precision::fp16 ? DType::f16 : DType::bf16, e.shape,
            lp->second.half.data());
    } else {
      w.add(e.name, DType::i8, e.shape, lp->second.q.data());
      w.add(e.name + ".scale", DType::f32, {std::int64_t(lp->second.rows)}, lp->second.scale.data());
    }
  }
  std::vector<double> center, scale;
  for (const auto& s : stats) {
    center.push_back(s.center);
    scale.push_back(s.scale);
  }
  const json scaler = {{"series_scaling", series_scaling_name(scaling)},
                       {"series", series},
                       {"center", center},
                       {"scale", scale},
                       {"window_scaling", window_scaling_name(window_scaling)}};
  w.metadata["format"] = "ntneural-model";
  w.metadata["version"] = version;
  w.metadata["uuid"] = uuid;
  w.metadata["created"] = created;
  w.metadata["model_type"] = model->type();
  w.metadata["precision"] = precision_name(precision);
  w.metadata["model_config"] = model->config().dump();
  w.metadata["scaler"] = scaler.dump();
  w.metadata["quantiles"] = json(output.levels).dump();  // older readers
  w.metadata["output"] = output.to_json().dump();
  w.metadata["covariates"] = covariates.to_json().dump();
  w.metadata["training"] = training.dump();
  if (!conformal.empty()) w.metadata["conformal"] = conformal.to_json().dump();
  return w.bytes();
}

namespace {
// Weights of a model file are finite (a NaN / inf weight would make every forecast NaN).
void check_finite_weights(const std::string& path, const std::string& name, const float* w, std::size_t n) {
  if (std::isfinite(kernels().f32_sum(w, n))) return;  // one vectorised pass; a finite sum has no NaN / inf
  for (std::size_t j = 0; j < n; ++j)
    NTN_CHECK(std::isfinite(w[j]), path, ": tensor '", name, "' holds ", w[j], " at element ", j,
              " (corrupted file; weights must be finite)");
  // Only finite values whose sum overflows: legal, if extreme (the forecast check catches the rest).
}
}  // namespace

Artifact Artifact::load(const std::string& path, bool linear_weights) {
  return from_file(std::make_shared<const SafeTensorsFile>(SafeTensorsFile::read(path)), linear_weights);
}

Artifact Artifact::from_file(std::shared_ptr<const SafeTensorsFile> file, bool linear_weights) {
  const SafeTensorsFile& f = *file;
  const std::string& path = f.source();
  NTN_CHECK(f.metadata().count("format") && f.meta("format") == "ntneural-model", path,
            ": not an ntneural model artifact (metadata 'format' missing or different)");
  NTN_CHECK(f.checksummed(), path, ": the artifact has no ntn_checksum (written by an older ntneural, or edited); "
            "train it again");
  // An optional metadata entry as JSON (null when absent); ill-formed text names the entry.
  auto meta_json = [&](const char* key) -> json {
    if (!f.metadata().count(key)) return nullptr;
    try {
      return json::parse(f.meta(key));
    } catch (const json::exception&) {
      throw Error(cat(path, ": artifact ", key, " metadata is not valid JSON (corrupted file)"));
    }
  };
  Artifact a;
  json cfg, scaler, q;
  try {
    cfg = json::parse(f.meta("model_config"));
    scaler = json::parse(f.meta("scaler"));
    q = json::parse(f.meta("quantiles"));
    a.training = json::parse(f.meta("training"));
  } catch (const json::exception&) {
    throw Error(cat(path, ": artifact metadata is not valid JSON (corrupted file)"));
  }
  a.version = f.meta("version");
  a.uuid = f.meta("uuid");
  a.created = f.meta("created");
  a.source = path;
  try {  // every message names the artifact
    a.model = make_model<float>(cfg);
    a.precision = f.metadata().count("precision") ? parse_precision(f.meta("precision")) : Precision::fp32;
  } catch (const Error& e) {
    throw Error(cat(path, ": ", e.what()));
  }
  a.linear_weights_loaded = linear_weights;
  if (!linear_weights) a.file = file;
  auto& ps = a.model->params();
  ps.set_matrices_elsewhere(!linear_weights);
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    const auto info = f.tensors().find(e.name);
    const DType dt = info == f.tensors().end() ? DType::f32 : info->second.dtype;
    if (dt == DType::f32 || !e.packed()) {  // only packed matrices may be stored in fp16 / bf16 / int8
      std::vector<float> tmp;
      const float* src = f.get_f32(e.name, e.shape, tmp);  // validates dtype and shape in both modes
      check_finite_weights(path, e.name, src, e.size);
      if (linear_weights || !e.packed()) std::memcpy(ps.value(i), src, e.size * sizeof(float));
      continue;
    }
    LowPrecisionWeight lp;
    lp.rows = std::size_t(e.shape[0]);
    lp.cols = std::size_t(e.shape[1]);
    float* v = ps.value(i);
    if (dt == DType::f16 || dt == DType::bf16) {
      const bool bf = dt == DType::bf16;
      lp.precision = bf ? Precision::bf16 : Precision::fp16;
      lp.half.resize(e.size);
      std::memcpy(lp.half.data(), f.get(e.name, dt, e.shape), e.size * 2);
      const std::uint16_t exp_mask = bf ? 0x7F80 : 0x7C00;
      for (std::size_t j = 0; j < e.size; ++j)  // exponent all ones: inf or NaN
        NTN_CHECK((lp.half[j] & exp_mask) != exp_mask, path, ": tensor '", e.name, "' holds a non-finite ",
                  precision_name(lp.precision), " value at element ", j, " (corrupted file)");
    } else {
      lp.precision = Precision::int8;
      lp.q.resize(e.size);
      lp.scale.resize(lp.rows);
      std::memcpy(lp.q.data(), f.get(e.name, DType::i8, e.shape), e.size);
      std::memcpy(lp.scale.data(), f.get(e.name + ".scale", DType::f32, {e.shape[0]}), lp.rows * sizeof(float));
      for (std::size_t r = 0; r < lp.rows; ++r)
        NTN_CHECK(std::isfinite(lp.scale[r]) && lp.scale[r] >= 0.0f, path, ": tensor '", e.name, ".scale' row ", r,
                  " is not a finite non-negative scale");
    }
    if (linear_weights) lp.to_f32(v);
    NTN_CHECK(lp.precision == a.precision, path, ": tensor '", e.name, "' is ", precision_name(lp.precision),
              " but the artifact says ", precision_name(a.precision));
    a.low.emplace(e.name, std::move(lp));
  }
  try {
    a.scaling = parse_series_scaling(scaler.at("series_scaling").get<std::string>());
    a.series = scaler.at("series").get<std::vector<std::string>>();
    const auto center = json_real_list(scaler, cat(path, ": scaler"), "center", {}, {-1e308, 1e308});
    const auto scale = json_real_list(scaler, cat(path, ": scaler"), "scale", {}, {-1e308, 1e308});
    NTN_CHECK(center.size() == a.series.size() && scale.size() == a.series.size(), path,
              ": scaler statistics do not match its series list");
    for (std::size_t i = 0; i < center.size(); ++i) {
      // The predictor scales in float32: the center must fit it and the scale be a normal
      // positive float32 (1e-300 would divide by zero, 1e39 would be inf).
      NTN_CHECK(fits_f32(center[i]) && scale[i] >= 1.1754943508222875e-38 && scale[i] <= 3.4028234663852886e38, path,
                ": scaler of series '", a.series[i], "' (center ", center[i], ", scale ", scale[i],
                ") is outside float32 (scale must lie in [1.2e-38, 3.4e38]; corrupted file?)");
      a.stats.push_back({center[i], scale[i]});
    }
    a.window_scaling = parse_window_scaling(scaler.at("window_scaling").get<std::string>());
    NTN_CHECK(q.is_array(), path, ": quantile levels are not a list (corrupted file)");
    std::vector<float> levels;
    for (double level : json_real_list(json{{"quantiles", q}}, path, "quantiles", {}, limits::kQuantile))
      levels.push_back(float(level));
    if (const json oj = meta_json("output"); !oj.is_null()) {
      a.output = OutputSpec::from_json(oj, path);
      NTN_CHECK(a.output.levels == levels, path, ": quantile levels differ between 'quantiles' and 'output' (corrupted file?)");
    } else if (!levels.empty()) {
      a.output = OutputSpec::quantiles(levels);
    }
  } catch (const json::exception&) {
    throw Error(cat(path, ": artifact scaler metadata is incomplete (corrupted file)"));
  } catch (const Error& e) {
    if (std::string_view(e.what()).substr(0, path.size()) == path) throw;
    throw Error(cat(path, ": ", e.what()));
  }
  NTN_CHECK(a.output.outputs() == a.model->outputs(), path, ": a ", output_kind_name(a.output.kind), " output with ",
            a.output.outputs(), " values per step for a model with ", a.model->outputs(), " outputs");
  if (const json cj = meta_json("covariates"); !cj.is_null()) a.covariates = CovariateInfo::from_json(cj, path);
  if (const json cj = meta_json("conformal"); !cj.is_null()) {
    a.conformal = Conformal::from_json(cj, a.model->horizon(), path);
    if (a.conformal.score == ConformalScore::head) check_conformal_head(a.output, path);
  }
  const Covariates mc = a.model->covariates(), ac = a.covariates.counts();
  NTN_CHECK(mc == ac, path, ": the model takes ", mc.hist, "/", mc.futr, "/", mc.stat,
            " historic/future/static covariates but the artifact describes ", ac.hist, "/", ac.futr, "/", ac.stat,
            " (corrupted file?)");
  return a;
}

void LowPrecisionWeight::to_f32(float* out) const {
  if (precision == Precision::fp16 || precision == Precision::bf16) {
    float (*widen)(std::uint16_t) = precision == Precision::fp16 ? f16_to_f32 : bf16_to_f32;
    for (std::size_t j = 0; j < rows * cols; ++j) out[j] = widen(half[j]);
    return;
  }
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = float(q[r * cols + c]) * scale[r];
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "fp16") return Precision::fp16;
  if (name == "bf16") return Precision::bf16;
  if (name == "int8") return Precision::int8;
  throw Error(cat("unknown precision '", name, "': expected fp32, fp16, bf16 or int8"));
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::fp16: return "fp16";
    case Precision::bf16: return "bf16";
    case Precision::int8: return "int8";
  }
  return "?";
}

void narrow_to_16(Precision p, const float* x, std::size_t n, std::uint16_t* out) {
  NTN_CHECK(p == Precision::fp16 || p == Precision::bf16, "narrow_to_16: ", precision_name(p), " is not a 16-bit format");
  std::uint16_t (*narrow)(float) = p == Precision::fp16 ? f32_to_f16 : f32_to_bf16;
  for (std::size_t i = 0; i < n; ++i) out[i] = narrow(x[i]);
}

Artifact train_on_series(const nlohmann::json& model_cfg, TrainConfig tc, const std::string& name, const double* x,
                         std::size_t n, SeriesScaling scaling, const CovariateInfo* columns,
                         const RawCovariateTable* raw) {
  std::vector<double> v(x, x + n);
  const NormStats st = fit(scaling, v.data(), n);
  normalize(st, v.data(), v.data(), n);
  SeriesStore store;
  CovariateInfo info;
  std::vector<float> hist, futr, stat;
  if (columns && columns->counts().any()) {
    // Each channel's scaler fitted again on rows [0, n) (calendar and static channels: none).
    info = *columns;
    const Covariates c = info.counts();
    NTN_CHECK(raw && raw->rows >= n && raw->hist.size() >= n * c.hist && raw->futr.size() >= n * c.futr &&
                  raw->stat.size() == c.stat,
              "training on series '", name, "': the covariates do not cover its ", n, " values");
    auto scale = [&](const std::vector<double>& src, std::vector<CovariateColumn>& cols, std::vector<float>& dst) {
      const std::size_t C = cols.size();
      dst.resize(n * C);
      std::vector<double> col(n);
      for (std::size_t k = 0; k < C; ++k) {
        for (std::size_t r = 0; r < n; ++r) col[r] = src[r * C + k];
        cols[k].stats = cols[k].calendar ? NormStats{} : fit(SeriesScaling::standard, col.data(), n);
        for (std::size_t r = 0; r < n; ++r) {
          const double s = cols[k].stats.apply(col[r]);
          NTN_CHECK(fits_f32(s), "training on series '", name, "': covariate '", cols[k].name, "' row ", r, " (", col[r],
                    ") is beyond float32 once scaled");
          dst[r * C + k] = float(s);
        }
      }
    };
    scale(raw->hist, info.hist, hist);
    scale(raw->futr, info.futr, futr);
    for (double s : raw->stat) {
      NTN_CHECK(fits_f32(s), "training on series '", name, "': static covariate ", s, " is beyond float32");
      stat.push_back(float(s));
    }
    store.set_covariates(c);
  }
  store.add(name, v.data(), n);
  if (info.counts().any()) store.set_series_covariates(0, hist.data(), futr.data(), n, stat.data());
  auto model = make_model<float>(model_cfg);
  const std::size_t L = model->input_size(), H = model->horizon();
  NTN_CHECK(n >= L + H, "training on series '", name, "': ", n, " values, fewer than input ", L, " + horizon ", H);
  const std::vector<WindowRef> train = make_windows(store, {L, H}, Split{0, 0, 0});
  model->init(tc.seed);
  tc.val_every = 0;
  tc.log_every = 0;
  tc.checkpoint_path.clear();
  derive_schedule(tc, train.size());
  Trainer trainer(*model, store, train, {}, tc, &dist::self());  // this process alone, also under mpirun
  const TrainSummary summary = trainer.run();
  Artifact a;
  a.model = std::move(model);
  a.scaling = scaling;
  a.series = {name};
  a.stats = {st};
  a.window_scaling = tc.window_scaling;
  a.output = output_spec(tc.loss);
  a.covariates = info;
  a.uuid = make_uuid();
  a.version = "refit";
  a.created = utc_now_iso8601();
  a.training = {{"config", tc.to_json()}, {"summary", summary.to_json()}, {"data", {{"series", name}, {"values", n}}}};
  return a;
}

std::size_t Artifact::point_output() const {
  return output.point_index();  // output.outputs() == model->outputs(): checked at load and training
}

TestMetrics evaluate_test(const Artifact& a, const Prepared& p, const SampleOptions& so) {
  NTN_CHECK(!p.test.empty(), "no test windows");
  std::vector<float> out(p.test.size() * a.model->horizon() * a.model->outputs());
  predict_windows(*a.model, p.store, p.test, a.window_scaling, out.data(), 1024, &a.output);
  TestMetrics t = score_test(a, p, out.data());
  if (a.output.kind == OutputKind::distribution) t.json["probabilistic"] = score_paths(a, p, so);
  return t;
}

TestMetrics score_test(const Artifact& a, const Prepared& p, const float* out) {
  const Model<float>& m = *a.model;
  const std::size_t H = m.horizon(), Q = m.outputs(), L = m.input_size();
  NTN_CHECK(!p.test.empty(), "no test windows");
  const std::size_t qo = a.point_output();
  // Scored in double: the store and the forecasts are float in the scaled space, and their
  // original scale is restored in double, so a series far from zero (a 1e13 offset) keeps its
  // errors (float would round them to 0).
  MetricSums sums, naive;  // naive: the random-walk forecast (last input value repeated)
  MetricSums snaive;       // seasonal naive: the last season before the origin repeated
  const Conformal& cf = a.conformal;
  IntervalSums cover(cf.levels);  // the conformal intervals' coverage, width and MSIS
  std::vector<double> lo(cf.levels.size() * H), hi(lo.size());  // (levels, H)
  const std::size_t M = p.season;
  bool seasonal = M > 1;
  for (const WindowRef& w : p.test) seasonal = seasonal && w.start + L >= M;  // a season of history everywhere
  std::vector<double> y(H), f(H), hist, last_season(seasonal ? M : 0), row(H * Q), slo(H), shi(H);
  const NormStats identity{0.0, 1.0};  // conformal bounds are made in the series-scaled space
  for (std::size_t i = 0; i < p.test.size(); ++i) {
    const WindowRef w = p.test[i];
    const float* s = p.store.data(w.series);
    const NormStats& st = p.stats[w.series];
    const bool original = p.protocol != Protocol::ltsf;  // ltsf scores on the normalised scale
    for (std::size_t h = 0; h < H; ++h) {
      y[h] = s[w.start + L + h];
      f[h] = out[(i * H + h) * Q + qo];
    }
    double last = s[w.start + L - 1];
    for (std::size_t k = 0; k < last_season.size(); ++k) last_season[k] = s[w.start + L - M + k];
    // Conformal bounds in the series-scaled space (f - r s_lo, f + r s_hi); mapped back with y and f below.
    if (!cf.empty()) {
      std::copy_n(out + i * H * Q, H * Q, row.data());
      conformal_scales(cf, a.output, identity, s + w.start, L, row.data(), f.data(), slo.data(), shi.data());
    }
    for (std::size_t k = 0; k < cf.levels.size(); ++k) {
      double *l = lo.data() + k * H, *u = hi.data() + k * H;
      conformal_interval(cf, k, f.data(), slo.data(), shi.data(), l, u);
      if (original) denormalize(st, l, l, H), denormalize(st, u, u, H);
    }
    if (original) {
      denormalize(st, y.data(), y.data(), H);
      denormalize(st, f.data(), f.data(), H);
      denormalize(st, &last, &last, 1);
      denormalize(st, last_season.data(), last_season.data(), last_season.size());
    }
    double scale = 0;
    if (p.season > 0 && p.train_len[w.series] > p.season) {
      hist.assign(s, s + p.train_len[w.series]);
      if (original) denormalize(st, hist.data(), hist.data(), hist.size());
      scale = mase_scale(hist.data(), hist.size(), p.season);
    }
    sums.add(y.data(), f.data(), H, scale, &last);
    for (std::size_t k = 0; k < cf.levels.size(); ++k)
      cover.add(k, y.data(), lo.data() + k * H, hi.data() + k * H, H, scale);
    std::fill(f.begin(), f.end(), last);
    naive.add(y.data(), f.data(), H, scale, nullptr);
    if (seasonal) {
      for (std::size_t h = 0; h < H; ++h) f[h] = last_season[h % M];
      snaive.add(y.data(), f.data(), H, scale, nullptr);
    }
  }
  TestMetrics t;
  t.json = {{"protocol", protocol_name(p.protocol)},
            {"windows", p.test.size()},
            {"series", p.store.size()},
            {"horizon", H},
            {"scale", p.protocol == Protocol::ltsf ? "normalised" : "original"},
            {"mse", sums.mse()},
            {"mae", sums.mae()},
            {"rmse", sums.rmse()},
            {"smape", sums.smape()},
            {"directional_accuracy", sums.directional_accuracy()}};
  if (sums.mase() >= 0) t.json["mase"] = sums.mase();
  t.json["naive"] = {{"mse", naive.mse()}, {"mae", naive.mae()}, {"smape", naive.smape()}};
  if (naive.mase() >= 0) t.json["naive"]["mase"] = naive.mase();
  if (naive.mae() > 0) t.json["mae_over_naive"] = sums.mae() / naive.mae();  // undefined vs a perfect random walk
  if (M > 0) t.json["season"] = M;
  if (!cf.empty()) {
    t.json["intervals"] = {{"method", "split conformal"},
                           {"score", conformal_score_name(cf.score)},
                           {"calibration_windows", cf.windows},
                           {"levels", cover.to_json()}};
    if (cf.half_life > 0) t.json["intervals"]["half_life"] = cf.half_life;
  }
  if (seasonal) {
    t.json["seasonal_naive"] = {{"mse", snaive.mse()}, {"mae", snaive.mae()}, {"smape", snaive.smape()}};
    if (snaive.mase() >= 0) t.json["seasonal_naive"]["mase"] = snaive.mase();
    if (snaive.mae() > 0) t.json["mae_over_seasonal_naive"] = sums.mae() / snaive.mae();
  }
  return t;
}

}  // namespace ntn
