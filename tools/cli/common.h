// Options and helpers shared by the subcommands that read data and train / use models.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "ntn/fields.h"
#include "ntn/pipeline.h"
#include "ntn/registry.h"
#include "ntn/trainer.h"

namespace ntn::cli {

// String forms of the data options, parsed into a DataSpec by data_spec().
struct DataOpts {
  std::string path, test_path, format = "wide", protocol = "none", columns, time_column, fill = "error",
                                   scaler;  // "": standard for train, the model's own for evaluate / quantize
  double val_ratio = 0.1, test_ratio = 0.2;
  std::size_t season = 0;
  std::string target, hist_exog, futr_exog, static_cols, calendar;  // train: covariates
};
void add_data_options(CLI::App& app, DataOpts& o, bool with_protocol, bool data_required = true);
// --target, --hist-exog, --futr-exog, --static, --calendar (train).
void add_covariate_options(CLI::App& app, DataOpts& o);
DataSpec data_spec(const DataOpts& o);
// The data spec of a command that reads data for an existing model (evaluate, quantize): the
// covariates (and, when the model has covariates, its target columns) come from the artifact.
DataSpec data_spec_for(const DataOpts& o, const Artifact& a);

// --model of predict / evaluate / backtest / quantize / bench predict: an artifact file, or
// registry:DB:REF - a model of the registry file DB (REF: NAME, NAME@VERSION, NAME@best, ...; see
// ntn/registry.h). Returns the artifact's path; an unknown reference or a missing artifact is an
// error naming it.
std::string model_path(const std::string& model);

// The signature and description of the training data an artifact records (its file, columns and
// training rows; M4 row files by the series it names), or nothing when that file is not readable.
// season 0: from the dates' spacing (M4: from the ids).
std::optional<DataDescription> describe_artifact_data(const Artifact& a, std::size_t season);

// Comma-separated lists: an empty item (",," or a trailing comma) is an error naming the option.
std::vector<std::string> split_list(const std::string& s, const char* what);
std::vector<float> parse_floats(const std::string& s, const char* what, RealRange r);

// Numeric options. Every integer, size and real option is registered through these: the text is
// parsed by ntn::parse_uint / parse_real (whole text, no sign on a count, finite, in range), so
// "-1", "1e3", "nan" or "16abc" is an error naming the option and its accepted range; --help
// shows the range.
template <class T>
CLI::Option* add_uint(CLI::App& app, const std::string& name, T& v, UintRange r, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name, [&v, name, r](const std::string& s) { v = T(parse_uint(name, s, r)); }, help)
      ->type_name(r.hi == UINT64_MAX ? cat("UINT>=", r.lo) : cat("UINT:", r.lo, "..", r.hi));
}
template <class T>
CLI::Option* add_real(CLI::App& app, const std::string& name, T& v, RealRange r, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name, [&v, name, r](const std::string& s) { v = T(parse_real(name, s, r)); }, help)
      ->type_name(cat("NUM:", r.lo_open ? "(" : "[", r.lo, ",", r.hi, r.hi_open ? ")" : "]"));
}

// Peak resident memory of this process in MB: VmHWM of /proc/self/status (getrusage's
// ru_maxrss also counts the parent's memory at fork time, so a process started from a large
// Python benchmark driver would report the driver's size).
double peak_rss_mb();

// A command's result: one JSON object with --json, else "key  value" lines (strings unquoted).
void print_result(const nlohmann::json& j, bool as_json);

// Progress: a one-line bar on a terminal (stderr), JSON lines otherwise.
void report_progress(const TrainLog& log);

}  // namespace ntn::cli
