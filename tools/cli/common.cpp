#include "common.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "ntn/error.h"
#include "ntn/models.h"
#include "ntn/registry.h"

namespace ntn::cli {

std::vector<std::string> split_list(const std::string& s, const char* what) { return split_items(what, s); }

std::vector<float> parse_floats(const std::string& s, const char* what, RealRange r) {
  std::vector<float> v;
  for (double x : parse_real_list(what, s, r)) v.push_back(float(x));
  return v;
}

void add_data_options(CLI::App& app, DataOpts& o, bool with_protocol, bool data_required) {
  app.add_option("--data", o.path, "Data file: wide CSV (time column + one column per series) or M4 train rows")
      ->required(data_required);
  app.add_option("--columns", o.columns, "Comma-separated series columns of a wide CSV (default: all numeric)");
  app.add_option("--time-column", o.time_column, "Time column of a wide CSV (default: the first column)");
  app.add_option("--fill", o.fill, "Missing / NaN / inf cells: error (default), ffill or linear");
  if (!with_protocol) return;
  app.add_option("--protocol", o.protocol,
                 "Evaluation protocol: ltsf (ETT-style split, train-part z-score, normalised MSE/MAE), m4 (M4 "
                 "train/test files, sMAPE/MASE) or none (ratio split, --scaler)");
  app.add_option("--test-data", o.test_path, "M4 test file (protocol m4)");
  app.add_option("--scaler", o.scaler, "Per-series scaler fitted on the train part (protocol none): none, standard "
                                       "(train's default), robust, minmax, mean (divide by mean |y|, never shift: "
                                       "counts); evaluate / quantize use the model's own");
  add_real(app, "--val-ratio", o.val_ratio, limits::kRatio, "Validation share of each series (protocol none)");
  add_real(app, "--test-ratio", o.test_ratio, limits::kRatio, "Test share of each series (protocol none)");
  add_uint(app, "--season", o.season, limits::kSeason,
           "Season of the MASE scale (default: m4 from the ids, e.g. H -> 24; else none)");
}

void add_covariate_options(CLI::App& app, DataOpts& o) {
  app.add_option("--target", o.target, "Target column(s) of a wide CSV (the series to forecast; same as --columns)");
  std::string takers;  // the models that take historic covariates, from the registry
  for (const ModelInfo& m : model_registry())
    if (std::find(m.covariates.begin(), m.covariates.end(), "historic") != m.covariates.end())
      takers += (takers.empty() ? "" : ", ") + m.name;
  app.add_option("--hist-exog", o.hist_exog,
                 "Historic covariate columns, known up to the forecast origin (e.g. volume); " + takers);
  app.add_option("--futr-exog", o.futr_exog,
                 "Future-known covariate columns (predict then needs them for the horizon: --future FILE)");
  app.add_option("--static", o.static_cols, "Static covariate columns (constant over the rows)");
  app.add_option("--calendar", o.calendar,
                 "Calendar features from the time column as future-known covariates: hour, dow, dom, doy, month, "
                 "epoch_day, day_fraction (the time itself; prophet gets these two by itself), or auto: those of "
                 "the dates' spacing (below a day hour,dow; daily dow,doy; weekly doy; monthly / quarterly month)");
}

DataSpec data_spec_for(const DataOpts& o, const Artifact& a) {
  DataSpec d = data_spec(o);
  // The model sees series scaled as in training: its own scaler (a different one would feed it
  // values on another scale and silently score nonsense).
  if (o.scaler.empty())
    d.scaling = a.scaling;
  else
    NTN_CHECK(d.protocol != Protocol::none || d.scaling == a.scaling, "--scaler ", o.scaler, ": the model was trained on series scaled by '",
              series_scaling_name(a.scaling), "'; drop --scaler (its own is used) or give that one");
  d.covariates = a.covariates.spec();
  if (d.covariates.any() && d.csv.columns.empty() && d.protocol != Protocol::m4) d.csv.columns = a.series;
  return d;
}

DataSpec data_spec(const DataOpts& o) {
  DataSpec d;
  d.path = o.path;
  d.test_path = o.test_path;
  d.protocol = parse_protocol(o.protocol);
  d.csv.columns = split_list(o.columns, "--columns");
  if (!o.target.empty()) {
    NTN_CHECK(o.columns.empty(), "--target and --columns name the same thing (the series to forecast): give one");
    d.csv.columns = split_list(o.target, "--target");
  }
  d.covariates.hist = split_list(o.hist_exog, "--hist-exog");
  d.covariates.futr = split_list(o.futr_exog, "--futr-exog");
  d.covariates.stat = split_list(o.static_cols, "--static");
  d.covariates.calendar = split_list(o.calendar, "--calendar");
  d.csv.time_column = o.time_column;
  d.csv.fill = parse_fill_policy(o.fill);
  d.scaling = parse_series_scaling(o.scaler.empty() ? "standard" : o.scaler);
  d.val_ratio = o.val_ratio;
  d.test_ratio = o.test_ratio;
  d.season = o.season;
  return d;
}

double peak_rss_mb() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    double kb = -1;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
    std::fclose(f);
    if (kb >= 0) return kb / 1024.0;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::string model_path(const std::string& model) {
  try {
    return resolve_model_file(model);
  } catch (const Error& e) {
    throw Error(cat("--model: ", e.what()));
  }
}

void print_result(const nlohmann::json& j, bool as_json) {
  if (as_json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::size_t width = 0;
  for (auto& [k, v] : j.items()) width = std::max(width, k.size());
  for (auto& [k, v] : j.items())
    std::printf("%-*s  %s\n", int(width), k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
}

void report_progress(const TrainLog& log) {
  static const bool tty = ::isatty(2);
  if (tty) {
    const double rate = log.elapsed_s > 0 ? double(log.step) / log.elapsed_s : 0;
    const double eta = rate > 0 ? double(log.total_steps - log.step) / rate : 0;
    std::fprintf(stderr, "\rstep %6llu/%llu  loss %.5f", (unsigned long long)log.step,
                 (unsigned long long)log.total_steps, log.train_loss);
    if (log.val_loss >= 0) std::fprintf(stderr, "  val %.5f", log.val_loss);
    std::fprintf(stderr, "  lr %.2e  %.0f steps/s  ETA %.0fs   ", log.lr, rate, eta);
    if (log.final) std::fprintf(stderr, "\n");
    std::fflush(stderr);
    return;
  }
  nlohmann::json j = {{"step", log.step}, {"total_steps", log.total_steps}, {"loss", log.train_loss},
                      {"lr", log.lr},     {"elapsed_s", log.elapsed_s}};
  if (log.val_loss >= 0) j["val_loss"] = log.val_loss;
  std::fprintf(stderr, "%s\n", j.dump().c_str());
}

}  // namespace ntn::cli
