// Rolling-origin evaluation (backtesting) and validation splits.
//
// backtest(): forecasts from many origins of one series and scores each. Origin t means the
// model sees x[t-L+1 .. t] and forecasts x[t+1 .. t+H]. The origins are the last `origins`
// positions whose targets exist, `step` apart. Every window is a view into the series (the
// predictor reads overlapping rows in place: no re-materialised data set), forecast in batches
// on the thread pool. Per origin: MAE, MSE, sMAPE, MASE (scale from the history up to the
// origin, season m; prefix sums keep it O(1) per origin) and directional accuracy; aggregates
// pool all origins, with the random-walk (last value) baseline beside them.
// Several predictors can be evaluated at once and combined (ensemble mean / median /
// weighted mean of the point forecasts), each origin batch forecast once per model.
//
// Splits (indices of a series of length n, chronological):
//   expanding_splits  k folds: train [0, end_i), test [end_i, end_i + test) (train grows)
//   rolling_splits    the same with a fixed train length (the window rolls)
//   purged_kfold      k contiguous test folds; train = everything else minus the `purge`
//                     points before each test fold whose labels (horizon `purge`) would overlap
//                     it, and minus an `embargo` after it (Lopez de Prado)
//
// Intended usage:
//   ntn::Predictor p("model.ntn");
//   ntn::BacktestResult r = ntn::backtest({&p}, "close", close.data(), n, {.origins = 1000});
//   r.aggregate["mae"], r.per_origin[i].smape
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ntn/conformal.h"
#include "ntn/dist.h"
#include "ntn/pipeline.h"
#include "ntn/predictor.h"

namespace ntn {

enum class Ensemble { mean, median, weighted };
Ensemble parse_ensemble(const std::string& name);  // "mean" | "median" | "weighted"

struct BacktestSpec {
  std::size_t origins = 1000;  // number of forecast origins (the last ones with full targets)
  std::size_t step = 1;        // distance between origins
  std::size_t season = 0;      // MASE season (0: no MASE)
  Ensemble ensemble = Ensemble::mean;
  std::vector<double> weights;  // Ensemble::weighted: one per predictor, summing to 1
  // Refit: every refit_every origins (0: never) the model is retrained on x[0, t + 1), t the
  // first origin of the block (its targets and everything after stay unseen), and that block is
  // forecast with the new model. refit returns the predictor trained on x[0, n). One model only.
  std::size_t refit_every = 0;
  std::function<std::unique_ptr<Predictor>(const double* x, std::size_t n)> refit;
  // Refit blocks spread over these ranks (block j, the j-th refit, on rank j % N, each trained by
  // that rank alone); every rank then gets every forecast and the same result. nullptr: this
  // process alone.
  dist::Comm* comm = nullptr;
  // Covariates of the series for models that take them, raw and time-major over the same n
  // steps (raw_covariates gives them): hist (n, Ch), futr (n, Cf), stat (S).
  const RawCovariateTable* covariates = nullptr;
  // One model without refits, origins one step apart: also adaptive conformal intervals (ACI,
  // conformal.h) with this step size over the origins, each value observed before the next
  // origin's forecast - what a stream would have shown (0: none).
  double aci_gamma = kAciGamma;
};

struct OriginResult {
  std::size_t origin;  // index of the last input value
  double mae, mse, smape, mase, directional_accuracy;  // mase -1 without a season
};

struct BacktestResult {
  std::vector<OriginResult> per_origin;
  std::vector<double> forecasts;  // (origins, H): the (combined) point forecast
  // One model without refits, with conformal intervals (empty otherwise): the levels, and each
  // origin's interval of every level and step (origins, levels, H), split conformal in lo / hi
  // and (spec.aci_gamma > 0, step 1) adaptive in aci_lo / aci_hi. aggregate "intervals" and
  // "adaptive_intervals" hold their coverage, mean width and MSIS.
  std::vector<double> levels;
  std::vector<double> lo, hi, aci_lo, aci_hi;
  nlohmann::json aggregate;      // mae, mse, rmse, smape, mase, directional_accuracy, naive {...}
  double forecast_seconds = 0;   // time spent forecasting (all models, all origins)
  double refit_seconds = 0;      // time spent retraining
  std::size_t refits = 0;
};

// All predictors must share input size and horizon. series names the series for a per-series
// scaler (ignored by models without one). Throws naming the problem if the series is too short.
// x is the series in double: models read it scaled in double (Predictor::predict_batch) and the
// metrics compare forecasts with it in double. The float overload converts.
BacktestResult backtest(const std::vector<Predictor*>& models, const std::string& series, const double* x,
                        std::size_t n, const BacktestSpec& spec);
BacktestResult backtest(const std::vector<Predictor*>& models, const std::string& series, const float* x,
                        std::size_t n, const BacktestSpec& spec);

// ---- grid / random search over configurations, scored by the backtest -----------------------
// A grid is "key=v1|v2|...;key2=..." with JSON values (bare words are strings), e.g.
//   "mlp_units=[[64,64]]|[[256,256]]; lr=0.001|0.0003; loss=mae|mse"
// Keys of the training configuration (TrainConfig::to_json: lr, max_steps, batch_size, loss,
// optimizer, schedule, window_scaling, ...) go to training, every other key to the model.
struct SearchCandidate {
  nlohmann::json model, train;  // complete configurations
};
// The cartesian product of the grid over the bases, in grid order; random > 0 keeps that many
// distinct candidates drawn with a seeded shuffle (all of them if the grid is smaller).
std::vector<SearchCandidate> expand_grid(const nlohmann::json& base_model, const nlohmann::json& base_train,
                                         const std::string& grid, std::size_t random = 0, std::uint64_t seed = 1);
struct SearchResult {
  SearchCandidate candidate;
  nlohmann::json aggregate;  // the backtest's
  double train_seconds = 0;
};
// Trains every candidate on x[0, first origin + 1) (the backtest's origins and targets stay
// unseen), backtests it over spec's origins and returns the results sorted by MAE (best first;
// ties in candidate order). With comm, candidate i runs on rank i % N (trained and scored by that
// rank alone) and every rank gets every result: the same list as one process, train_seconds aside.
std::vector<SearchResult> search(const std::vector<SearchCandidate>& candidates, const std::string& series,
                                 const double* x, std::size_t n, const BacktestSpec& spec, SeriesScaling scaling,
                                 dist::Comm* comm = nullptr);

struct SplitRange {
  std::size_t begin, end;
};
struct Fold {
  std::vector<SplitRange> train;  // disjoint ranges, ascending
  SplitRange test;
};
std::vector<Fold> expanding_splits(std::size_t n, std::size_t folds, std::size_t test, std::size_t min_train);
std::vector<Fold> rolling_splits(std::size_t n, std::size_t folds, std::size_t test, std::size_t train);
std::vector<Fold> purged_kfold(std::size_t n, std::size_t k, std::size_t purge, std::size_t embargo);

}  // namespace ntn
