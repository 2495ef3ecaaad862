// From files to train / validation / test windows under a named evaluation protocol, and the
// model artifact that carries everything needed to forecast again (so nobody inverts a
// transform by hand).
//
// Protocols (flags, so that any file in the same format is evaluated the same way):
//   ltsf  ETT-style wide CSV, every numeric column a univariate series (channel-independent).
//         Split by rows: train = first 8640 (12*30*24), validation = next 2880, test = next 2880
//         when the file has >= 14400 rows; otherwise 70% / 10% / 20% (the Informer "custom" split).
//         Each series z-scored with statistics of its TRAIN part; test windows stride 1, inputs
//         may reach back before the test part, first target in it; MSE / MAE on the normalised
//         scale averaged over windows, steps and series.
//   m4    M4 train + test files (one row per series). Horizon = the test rows' length; the last
//         horizon of each train series is the validation part; the test forecast starts after
//         the train series. Metrics on the original scale: sMAPE (M4 convention), MASE (season
//         m), MAE.
//   none  any wide CSV: per series, the last test_ratio of the rows is the test part, the
//         val_ratio before it validation; the per-series scaler is fitted on the train part;
//         metrics on the original scale.
//
// Intended usage:
//   ntn::DataSpec d;  d.path = "ETTh1.csv";  d.protocol = ntn::Protocol::ltsf;
//   ntn::Prepared p = ntn::prepare(d, {168, 96});
//   ... train on p.store / p.train / p.val ...
//   ntn::Artifact a = ntn::Artifact::from_training(...);  a.save("model.ntn");
//   ntn::Metrics m = ntn::evaluate_test(a, p);
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ntn/conformal.h"
#include "ntn/csv.h"
#include "ntn/dataset.h"
#include "ntn/heads.h"
#include "ntn/models.h"
#include "ntn/sampling.h"

namespace ntn {

enum class Protocol { none, ltsf, m4 };
Protocol parse_protocol(const std::string& name);  // "none" | "ltsf" | "m4"
const char* protocol_name(Protocol p);

// Per-series scaler fitted on the training part (none = identity). mean: divided by the mean
// absolute value, never shifted (GluonTS's mean scaler: what a count distribution needs).
enum class SeriesScaling { none, standard, robust, minmax, mean };
SeriesScaling parse_series_scaling(const std::string& name);
const char* series_scaling_name(SeriesScaling s);

// Covariate columns of a wide file (every target series gets the same covariate columns).
struct CovariateSpec {
  std::vector<std::string> hist;      // historic: known up to the forecast origin (e.g. volume)
  std::vector<std::string> futr;      // future-known: known for the steps ahead too (e.g. a holiday flag)
  std::vector<std::string> stat;      // static: constant over the rows (an error names the row where one changes)
  std::vector<std::string> calendar;  // future-known features generated from the time column:
                                      // hour, dow, dom, doy, month (features.h)
  bool any() const { return !hist.empty() || !futr.empty() || !stat.empty() || !calendar.empty(); }
};

// One covariate channel as stored in an artifact: its column (or calendar feature) and the
// train-part scaler applied to it (identity for calendar features and static values).
struct CovariateColumn {
  std::string name;
  NormStats stats;
  bool calendar = false;
};
struct CovariateInfo {
  std::vector<CovariateColumn> hist, futr, stat;  // futr: the columns first, then the calendar features
  Covariates counts() const { return {hist.size(), futr.size(), stat.size()}; }
  CovariateSpec spec() const;                     // the columns and calendar features to read again
  std::vector<std::string> columns() const;       // every file column it reads (not calendar features)
  nlohmann::json to_json() const;
  // Validated (names, finite scalers with positive scale); ctx names the file in errors.
  static CovariateInfo from_json(const nlohmann::json& j, const std::string& ctx);
};

struct DataSpec {
  std::string path;                  // wide CSV, or the M4 train file
  std::string test_path;             // m4: the test file
  Protocol protocol = Protocol::none;
  CsvOptions csv;                    // wide files: columns, time column, fill policy
  SeriesScaling scaling = SeriesScaling::standard;  // none protocol (ltsf forces standard, m4 none)
  double val_ratio = 0.1, test_ratio = 0.2;          // none protocol
  std::size_t season = 0;            // MASE / seasonal-naive season; 0 = m4: from the series ids (H 24,
                                     // D 7, W 52, M 12, Q 4, Y 1); wide files: from the dates' spacing
                                     // (infer_season), none without dates
  CovariateSpec covariates;          // wide files: csv.columns are then the targets (empty: every
                                     // numeric column that is not a covariate)
  // In-memory wide data instead of the file at path (the Python package passes numpy / pandas
  // columns): read through select_columns with csv; path then only names the data in messages.
  std::shared_ptr<const Frame> frame;
};

// The wide data of spec: its in-memory frame, or its file (read_wide_csv), with the options opt.
Frame read_wide(const DataSpec& spec, const CsvOptions& opt);

struct Prepared {
  Protocol protocol = Protocol::none;
  SeriesStore store;                 // scaled series (train + validation + test parts)
  std::vector<NormStats> stats;      // per series scaler (identity if none)
  SeriesScaling scaling = SeriesScaling::none;
  std::vector<std::size_t> train_len;  // per series: length of its training part (MASE scale, predict)
  CovariateInfo covariates;          // the covariate channels in the store and their scalers
  std::vector<WindowRef> train, val, test;
  std::size_t season = 0;
  nlohmann::json describe() const;   // protocol, files, split sizes (stored in the artifact)
  nlohmann::json source;             // the DataSpec, for the artifact
};

// The season of regularly spaced timestamps (seconds), from the median spacing: a day of steps
// below a day (30 min 48, hourly 24), 7 for daily (5 when weekends are missing), 52 weekly, 12
// monthly, 4 quarterly; 0 for yearly, irregular or too few rows. prepare() uses it for MASE and
// the seasonal-naive baseline when DataSpec::season is 0 and the time column holds dates.
std::size_t infer_season(const std::vector<double>& time);
// The season of an M4 series from its id's frequency letter: H 24, D 7, W 52, M 12, Q 4, Y 1;
// 0 for any other id.
std::size_t m4_season(const std::string& id);

// The rows of each part of a wide file of R rows (ltsf: 12 / 4 / 4 months of hours when R >= 14400,
// else 70 / 10 / 20 %; none: the spec's ratios, checked).
struct SplitRows {
  std::size_t train = 0, val = 0, test = 0;
};
SplitRows split_rows(const DataSpec& spec, std::size_t R);

// The calendar cycle an input window should span when the dates are less than a day apart: a
// week of steps (hourly 168, 30 min 336, 10 min 1008), a day of steps when a week would exceed 1008
// (5 min 288, 1 min 1440); 0 otherwise (daily or longer, irregular, too few rows).
std::size_t input_cycle(const std::vector<double>& time);

// The default input length L: m4 2 H and ltsf 5 H (the authors'); otherwise frequency-aware, from
// the file: max(2 H, 168, the input_cycle of its dates), then shortened so that at least a quarter
// of the training rows start a window (a short series still trains). Reads the file (protocol
// none), or takes it read.
std::size_t default_input_size(const DataSpec& spec, std::size_t H);
std::size_t default_input_size(const DataSpec& spec, const Frame& f, std::size_t H);

// The calendar features that follow the dates' spacing (--calendar auto): below a day hour and
// dow, daily dow and doy, weekly doy, monthly and quarterly month; none for yearly or irregular
// dates (infer_season finds no season).
std::vector<std::string> auto_calendar(const std::vector<double>& time);

// Reads the files and builds the windows of the protocol for input L and horizon H. For m4,
// H may be 0: it is then taken from the test file.
Prepared prepare(const DataSpec& spec, std::size_t L, std::size_t& H);
// Series s of p alone (its values, covariates, scaler, training length and windows, as series 0):
// the data of one model per series (train --per-series), equal to preparing a file of that one
// column with the same split.
Prepared select_series(const Prepared& p, std::size_t s);

// Weight storage of an artifact. fp16: every Linear weight as IEEE binary16; bf16: as bfloat16
// (fp32's exponent range, 8 significant bits); int8: as int8 with one fp32 scale per output channel
// ("<name>.scale"). Biases and all other parameters stay fp32. The model's fp32 parameters then
// hold the widened / dequantised values.
enum class Precision { fp32, fp16, int8, bf16 };
Precision parse_precision(const std::string& name);  // "fp32" | "fp16" | "bf16" | "int8"
const char* precision_name(Precision p);
// out[i] = x[i] in p's 16-bit format (fp16 or bf16; round to nearest even, NaN stays NaN).
void narrow_to_16(Precision p, const float* x, std::size_t n, std::uint16_t* out);

// A Linear weight (M, K) in low precision, row-major: the exact stored values.
struct LowPrecisionWeight {
  Precision precision = Precision::fp32;
  std::size_t rows = 0, cols = 0;
  std::vector<std::uint16_t> half;  // fp16 / bf16: (rows, cols)
  std::vector<std::int8_t> q;       // int8: (rows, cols)
  std::vector<float> scale;         // int8: (rows)
  // The fp32 values these stand for (fp16 / bf16 widened exactly; int8 q * scale of its row).
  void to_f32(float* out) const;
};

// The raw (unscaled) covariates of a wide file for CovariateInfo's channels, time-major:
// hist (rows, Ch); futr (rows + ahead, Cf) - the history's rows, then `ahead` steps taken from
// `future` (a file of the same columns whose rows follow the history), with calendar features from
// the timestamps (the future file's, else future_times of the history's); stat (S) from the last
// row. Every missing column, short or non-increasing future file is an error naming the file.
struct RawCovariateTable {
  std::size_t rows = 0, ahead = 0;
  std::vector<double> hist, futr, stat;
};
RawCovariateTable raw_covariates(const CovariateInfo& info, const Frame& history, const Frame* future,
                                 std::size_t ahead);

class SafeTensorsFile;
struct TrainConfig;
struct TrainSummary;

struct Artifact {
  std::unique_ptr<Model<float>> model;
  Precision precision = Precision::fp32;
  std::map<std::string, LowPrecisionWeight> low;  // by parameter name, when precision != fp32
  // false after load(path, /*linear_weights=*/false): the Linear weights were left in `file`
  // (a read-only mapping) and model->params() holds zeros for them - the Predictor packs them
  // straight from the file. Such an artifact serves forecasts only through a Predictor.
  bool linear_weights_loaded = true;
  std::shared_ptr<const SafeTensorsFile> file;
  SeriesScaling scaling = SeriesScaling::none;
  std::vector<std::string> series;   // names the scaler statistics belong to
  std::vector<NormStats> stats;
  WindowScaling window_scaling = WindowScaling::none;
  OutputSpec output;                 // what the model's Q outputs per step are (point, quantiles, distribution)
  CovariateInfo covariates;          // the model's covariate channels (counts == model->covariates())
  Conformal conformal;               // split-conformal intervals of the point forecast (empty: none)
  nlohmann::json training;           // train config, summary, data description
  std::string uuid, version, created;
  std::string source;                // the file it was loaded from ("" if built in memory), for messages

  // Everything a trained model needs to forecast again: p's scalers, series and covariates, the
  // window scaling and output kind of tc, a fresh UUID, the version, and the training record
  // (tc, summary, p.describe(), threads).
  static Artifact from_training(std::unique_ptr<Model<float>> model, const Prepared& p, const TrainConfig& tc,
                                const TrainSummary& summary);
  void save(const std::string& path) const;
  std::string bytes() const;  // the file save() writes
  static Artifact load(const std::string& path, bool linear_weights = true);
  // The same from a file already read or parsed (SafeTensorsFile::parse: bytes from memory).
  static Artifact from_file(std::shared_ptr<const SafeTensorsFile> file, bool linear_weights = true);
  // Index of the output used as the point forecast: the 0.5 quantile, else the middle one; the
  // location (mu) of a distribution.
  std::size_t point_output() const;
};

struct TestMetrics {
  nlohmann::json to_json() const { return json; }
  nlohmann::json json;  // mse, mae, rmse (+ smape, mase, owa-ready fields for m4), windows, scale
};

// Forecasts every test window of p with the artifact's model and scores them per protocol. A
// distribution model is also scored from so.paths sample paths per window ("probabilistic":
// CRPS, the median's and the mean's errors, interval coverage and width; score_paths).
TestMetrics evaluate_test(const Artifact& a, const Prepared& p, const SampleOptions& so = {});
// Scores given forecasts out (test windows, H, Q) of p's test windows, on the scale of p.store
// (series-scaled), exactly as evaluate_test does.
TestMetrics score_test(const Artifact& a, const Prepared& p, const float* out);


// Trains a model (model_cfg) with tc on every window of one series x[0, n) - no validation
// split - with the per-series scaler fitted on those values (a backtest refit, a search
// candidate), by this process alone (dist::self(): under mpirun each rank trains its own).
// Deterministic for a given seed, like the trainer. A model with covariates takes
// them from `raw` (rows >= n: the table of the whole series) with the channels of `columns`
// (names and calendar flags; each column's scaler is fitted again on the first n rows).
Artifact train_on_series(const nlohmann::json& model_cfg, TrainConfig tc, const std::string& name, const double* x,
                         std::size_t n, SeriesScaling scaling, const CovariateInfo* columns = nullptr,
                         const RawCovariateTable* raw = nullptr);

// A fresh random UUID (version 4) and the current time as ISO 8601 UTC.
std::string make_uuid();
std::string utc_now_iso8601();

}  // namespace ntn
